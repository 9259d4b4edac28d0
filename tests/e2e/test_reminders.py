"""Reminders: an admin sets a 24-hour reminder, the sweep sends it, the client confirms from the email,
and the therapist's Week shows the tick."""

import re
from datetime import time, timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import tasks as aftercare_tasks
from followups import tasks as followup_tasks
from followups.models import FollowUpPlan, ReminderPlan
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory, ClientFactory

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_admin_sets_a_reminder_the_client_confirms_and_the_week_shows_the_tick(
    new_page, page_errors, practice, practice_admin, therapist, client_of_therapist
):
    # No quiet hours, so the test does not depend on the time of day it runs.
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})
    start = (timezone.now() + timedelta(hours=23, minutes=30)).replace(second=0, microsecond=0)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))

    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    section = admin.locator("#reminders")
    section.get_by_label("First reminder, hours before").fill("24")
    section.get_by_role("button", name="Save the reminders").click()
    expect(admin.get_by_role("alert")).to_have_text("Reminder plan saved.")
    assert ReminderPlan.objects.get(practice=practice).reminders() == [(1, 24, "email")]

    # The minute sweeps, as the worker runs them: one writes the reminder, the other sends it.
    assert followup_tasks.sweep_reminders() == 1
    assert aftercare_tasks.sweep_followups() == 1
    assert followup_tasks.sweep_reminders() == 0
    [message] = mail.outbox
    assert message.to == [client_of_therapist.email]
    assert "Hi Robin," in message.body and "Confirm" in message.alternatives[0][0]

    # Robin opens the link from the email at home: no login. Opening it changes nothing.
    home = new_page()
    home.goto(urlsplit(re.search(r"https?://\S+/c/\S+/", message.body).group(0)).path)
    expect(home.get_by_role("heading", name="Hi Robin, will you be there?")).to_be_visible()
    session.refresh_from_db()
    assert session.confirmed_at is None
    # Checked here: after the test the link is used, and a GET gets the kind page instead.
    page_check(home, "/c/{token}/ (open)")
    home.get_by_role("button", name="Confirm").click()
    expect(home.get_by_role("status")).to_have_text("Your session is confirmed. We look forward to seeing you.")
    page_check(home, "/c/{token}/ (confirmed)")
    session.refresh_from_db()
    assert session.confirmed_at is not None

    # Opening the email's link again says so again, and changes nothing.
    home.reload()
    expect(home.get_by_role("status")).to_have_text("Your session is confirmed. We look forward to seeing you.")

    clinician = new_page()
    log_in(clinician, therapist)
    clinician.get_by_role("navigation").get_by_role("link", name="Week", exact=True).click()
    row = clinician.locator(f"#appt-{session.pk}")
    expect(row.locator(".confirmed-tick")).to_be_visible()
    expect(row.locator(".confirmed-tick .visually-hidden")).to_have_text("confirmed")

    # Everyone on staff reads the plan; only admins change it.
    clinician.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    expect(clinician.locator("#reminder-plan-summary")).to_have_text("A reminder 24 hours before, by email.")
    expect(clinician.locator("#reminders").get_by_role("button")).to_have_count(0)


def test_admin_edits_the_reminder_wording_with_the_live_preview(page, practice, practice_admin):
    log_in(page, practice_admin)
    page.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    card = page.locator("#template-reminder")
    expect(card).to_contain_text("Reminder before a session")
    card.get_by_role("link", name="Edit").click()

    expect(page.get_by_role("heading", level=1, name="Reminder before a session")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview.locator("#preview-body")).to_contain_text("Moving or cancelling is free until Monday 10:00.")
    expect(preview.locator("#preview-body")).to_contain_text("https://…/c/example-link")
    body = page.get_by_label("Message")
    body.fill("Hi {first_name}, don't be irresponsible: {session_time}. {terms} Cancelling after that costs $40.")

    alerts = preview.get_by_role("alert")
    expect(alerts).to_have_count(2)
    expect(alerts.first).to_contain_text("{confirm_link}")
    expect(alerts.last).to_contain_text("Blame: “irresponsible”.")
    page_check(page, "/policies/followups/templates/{kind}/ (reminder preview with problems)")

    wording = (
        "Hi {first_name}, see you on {session_time}. {terms} Cancelling after that costs $40.\nConfirm: {confirm_link}"
    )
    body.fill(wording)
    expect(preview.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Save wording").click()

    expect(page.get_by_role("alert")).to_have_text("Wording saved.")
    expect(page).to_have_url(re.compile(r"/policies/#reminders$"))
    expect(card.locator(".badge")).to_have_text("edited")
    expect(card).to_contain_text("Cancelling after that costs $40.")


def test_after_the_minute_sweep_the_messages_page_lists_the_sent_reminders(page, practice, practice_admin, therapist):
    """`make run`'s demo: sessions tomorrow whose reminder time has come; the sweep (the task functions,
    as a worker runs them) writes and sends the reminders, and staff see them on the Messages page."""
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})
    ReminderPlan.objects.update_or_create(practice=practice, defaults={"first_hours": 24, "first_channel": "email"})
    start = (timezone.now() + timedelta(hours=24) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    names = ["Ada", "Bo", "Cy"]
    for offset, name in enumerate(names):
        client = ClientFactory(practice=practice, clinician=therapist, first_name=name, email=f"{name.lower()}@x.org")
        AppointmentFactory(client=client, start=start - timedelta(minutes=offset), end=start + timedelta(minutes=50))

    assert followup_tasks.sweep_reminders() == 3
    assert followup_tasks.send_due() == 3
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@x.org", "bo@x.org", "cy@x.org"]

    log_in(page, practice_admin)
    page.get_by_role("navigation").get_by_role("link", name="Messages", exact=True).click()
    rows = page.locator("#message-log tbody tr")
    expect(rows).to_have_count(3)
    for name in names:
        row = rows.filter(has_text=name)
        expect(row).to_contain_text("Reminder before a session")
        expect(row.get_by_text("Sent", exact=True)).to_be_visible()
    page_check(page, "/messages/ (reminders sent by the sweep)")
