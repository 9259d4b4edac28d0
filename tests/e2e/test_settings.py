"""A practice admin sets the practice up in the browser."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from practice.models import AuditEvent
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser


def _open_settings(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Practice settings")).to_be_visible()


def test_admin_changes_the_time_zone_after_seeing_how_many_sessions_move(
    page, practice, practice_admin, client_of_therapist
):
    practice.phone = "+12125550100"
    practice.save(update_fields=["phone"])
    zone = practice_zone(practice)
    for days in (1, 2):
        start = datetime.combine(local_today(practice) + timedelta(days=days), time(10), zone)
        AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    log_in(page, practice_admin)
    _open_settings(page)

    page.get_by_label("Time zone").select_option("America/Los_Angeles")
    page.get_by_label("Reply-to email").fill("desk@example.org")
    page.get_by_role("button", name="Save settings").click()

    confirm = page.locator("#zone-confirm")
    expect(confirm).to_contain_text("2 booked sessions will show at a different local time")
    expect(confirm).to_contain_text(re.compile(r"10:00 → \w+ \d+ \w+ 07:00"))
    page_check(page, "time zone confirm step")
    practice.refresh_from_db()
    assert str(practice.time_zone) == "America/New_York"

    page.get_by_role("button", name="Save anyway").click()

    expect(page.get_by_role("alert")).to_have_text("Settings saved.")
    expect(page.get_by_label("Time zone")).to_have_value("America/Los_Angeles")
    expect(page.get_by_label("Reply-to email")).to_have_value("desk@example.org")
    practice.refresh_from_db()
    assert str(practice.time_zone) == "America/Los_Angeles"
    event = AuditEvent.objects.get(action="practice.updated")
    assert event.actor == practice_admin
    assert event.changes["values"]["time_zone"] == ["America/New_York", "America/Los_Angeles"]
    assert event.changes["values"]["reply_to_email"] == ["", "desk@example.org"]


def test_admin_sees_what_is_wrong_and_nothing_is_saved(page, practice, practice_admin):
    log_in(page, practice_admin)
    _open_settings(page)

    page.get_by_label("Phone").fill("call reception")
    page.get_by_label("Undo window (minutes)").fill("0")
    page.get_by_role("button", name="Save settings").click()

    expect(page.locator("#div_id_phone")).to_contain_text("Enter a phone number we can call or text")
    expect(page.locator("#div_id_undo_window_minutes")).to_contain_text("greater than or equal to 1")
    page_check(page, "settings with errors")
    practice.refresh_from_db()
    assert practice.undo_window_minutes == 10
    assert not AuditEvent.objects.filter(action="practice.updated").exists()


def test_a_clinician_has_no_settings_link(page, therapist):
    log_in(page, therapist)
    expect(page.get_by_role("navigation").get_by_role("link", name="Settings")).to_have_count(0)
