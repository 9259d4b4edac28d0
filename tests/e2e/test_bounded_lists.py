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


def test_a_page_number_that_is_not_one_shows_the_nearest_page(page, therapist, practice, monkeypatch):
    """?page= as a person might type or keep it: not a number, zero, negative, past the end.
    Each shows a page of the list (the first for text, the last for a number out of range), never an error."""
    from appointments import views

    monkeypatch.setattr(views, "CLIENT_HISTORY_PAGE", 4)
    client = ClientFactory(practice=practice, clinician=therapist, first_name="Noor", last_name="Haddad")
    now = datetime.now(practice_zone(practice))
    for days in range(1, 7):
        AppointmentFactory(client=client, start=now - timedelta(days=days), status="attended")
    log_in(page, therapist)
    for raw, shown in [("abc", 1), ("0", 2), ("-1", 2), ("999", 2), ("2", 2), ("1", 1)]:
        response = page.goto(f"{client.get_absolute_url()}?page={raw}")
        assert response is not None and response.status == 200, raw
        expect(page.get_by_role("heading", level=1)).to_contain_text("Noor Haddad")
        expect(page.get_by_role("navigation", name="Pages")).to_contain_text(f"Page {shown} of 2")
    page_check(page, "client page, ?page=1 after bad page numbers")


def test_bad_page_numbers_on_the_fees_and_message_log(page, front_desk, practice):
    log_in(page, front_desk)
    for path, heading in [("/fees/", "Fees"), ("/messages/", "Message log")]:
        for raw in ("abc", "0", "-1", "999", "1e9", "%00"):
            response = page.goto(f"{path}?page={raw}")
            assert response is not None and response.status == 200, (path, raw)
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        page_check(page, f"{path} after bad page numbers")
