"""A front desk pages through a long Today and a long Week (issue 11: every list is bounded)."""

from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from appointments import selectors
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory, ClientFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser


def _day_of_sessions(practice, clinician, n, day):
    client = ClientFactory(practice=practice, clinician=clinician)
    start = datetime.combine(day, time(8), tzinfo=practice_zone(practice))
    return [
        AppointmentFactory(
            client=client, start=start + timedelta(minutes=20 * i), end=start + timedelta(minutes=20 * i + 15)
        )
        for i in range(n)
    ]


def test_front_desk_pages_through_today_and_picks_a_clinician(
    page, front_desk, therapist, therapist2, practice, monkeypatch
):
    monkeypatch.setattr(selectors, "TODAY_PAGE_SIZE", 4)
    day = local_today(practice)
    _day_of_sessions(practice, therapist, 3, day)
    _day_of_sessions(practice, therapist2, 3, day)
    log_in(page, front_desk)
    expect(page.locator("tr[id^=appt-]")).to_have_count(4)
    expect(page.locator("#today-paging")).to_contain_text("Sessions 1–4 of 6")
    page_check(page, "/ (Today, first page of a long day)")
    page.get_by_role("link", name="Next", exact=True).click()
    expect(page.locator("tr[id^=appt-]")).to_have_count(2)
    page_check(page, "/?page=2 (Today, last page)")
    page.get_by_label("Clinician").select_option(label=therapist.get_full_name())
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.locator("tr[id^=appt-]")).to_have_count(3)
    expect(page.get_by_role("link", name="Next", exact=True)).to_have_count(0)


def test_front_desk_pages_through_a_week_by_clinician(page, front_desk, therapist, therapist2, practice, monkeypatch):
    monkeypatch.setattr(selectors, "WEEK_PAGE_ROWS", 4)
    day = local_today(practice)
    _day_of_sessions(practice, therapist, 3, day)
    _day_of_sessions(practice, therapist2, 3, day)
    log_in(page, front_desk)
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page.locator("tr[id^=appt-]")).to_have_count(3)
    expect(page.locator("#week-paging")).to_contain_text("More clinicians on the next page")
    page_check(page, "/week/ (first group of clinicians)")
    page.get_by_role("link", name="Next", exact=True).click()
    expect(page.locator("tr[id^=appt-]")).to_have_count(3)
    expect(page.locator("#week-paging")).not_to_contain_text("next page")
    page_check(page, "/week/?page=2 (second group of clinicians)")
