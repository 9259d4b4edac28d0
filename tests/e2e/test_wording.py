"""The late-cancel wording: the checker blocks a fee with the reason, the fix saves, and a late
cancel's message says what happened (thanks for letting us know), never "we missed you"."""

import re
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.core import mail
from playwright.sync_api import expect

from aftercare import tasks
from followups.models import MessageTemplate, OutboxMessage
from followups.services import plan_for
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser

FIXED = (
    "Hi {first_name},\n\nThank you for letting us know about {session_time}. "
    "Pick a new time whenever it suits you:\n{reschedule_link}\n\n{contact_line}\n\nTake care,\n{practice_name}"
)


def test_admin_fixes_a_blocked_late_cancel_wording_and_the_late_cancel_message_fits(
    new_page, practice, practice_admin, therapist, client_of_therapist
):
    practice.reply_to_email = "frontdesk@riverside.example"
    practice.save()
    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    admin.locator("#template-first_late_cancel").get_by_role("link", name="Edit").click()
    expect(admin.get_by_role("heading", level=1, name="First message, late cancel")).to_be_visible()
    preview = admin.locator("#preview")
    expect(preview.locator("#preview-body")).to_contain_text("Thank you for letting us know about your session on")
    expect(preview.locator("#preview-body")).to_contain_text("You can reply to this email or call us on +1 555 0100.")

    body = admin.get_by_label("Message")
    body.fill(FIXED.replace("Pick a new time", "There is a fee, but pick a new time"))

    # The live preview names the word and says why, next to the message.
    expect(preview.get_by_role("alert")).to_have_text(re.compile(r"^Money in a first message: “fee”\. "))
    expect(preview.locator("#preview-body")).to_contain_text("There is a fee")
    page_check(admin, "template editor, preview with a block")

    admin.get_by_role("button", name="Save wording").click()
    feedback = admin.locator("#id_body ~ .invalid-feedback")
    expect(feedback).to_contain_text("Money in a first message: “fee”.")
    expect(feedback).to_contain_text("never a fee, charge, amount or the policy")
    assert not MessageTemplate.objects.filter(practice=practice).exists()
    page_check(admin, "template editor, save refused")

    # A doubtful word only warns.
    body.fill(FIXED.replace("Thank you", "Thank you again"))
    expect(admin.locator("#preview-warnings")).to_contain_text("Check “again”")
    expect(preview.get_by_role("alert")).to_have_count(0)
    page_check(admin, "template editor, preview with a warning")

    body.fill(FIXED)
    expect(admin.locator("#preview-warnings")).to_have_count(0)
    admin.get_by_role("button", name="Save wording").click()
    expect(admin.get_by_role("alert")).to_have_text("Wording saved.")
    expect(admin.locator("#template-first_late_cancel .badge")).to_have_text("edited")

    # The client calls the front desk this morning: they can't come tomorrow at 10:00.
    plan = plan_for(practice)
    plan.first_delay_minutes = 0
    plan.save()
    tomorrow = local_today(practice) + timedelta(days=1)
    start = datetime.combine(tomorrow, time(10, 0), practice_zone(practice))
    appointment = AppointmentFactory(client=client_of_therapist, clinician=therapist, start=start)
    clinician = new_page()
    log_in(clinician, therapist)
    clinician.goto(f"/week/?start={tomorrow.isoformat()}")
    row = clinician.locator(f"#appt-{appointment.pk}")
    row.get_by_role("button", name="Late cancel").click()
    expect(row.locator(".status-badge")).to_have_text("Late cancel")

    first = OutboxMessage.objects.get(missed_session__appointment=appointment, step="first")
    assert first.kind == "first_late_cancel"
    with time_machine.travel(first.due_at + timedelta(minutes=1)):
        tasks.sweep_followups()
    [sent] = [m for m in mail.outbox if m.to == [client_of_therapist.email]]
    assert sent.reply_to == ["frontdesk@riverside.example"]
    assert sent.body.startswith(f"Hi {client_of_therapist.first_name},\n\nThank you for letting us know about")
    assert "You can reply to this email or call us on +1 555 0100." in sent.body
    for untrue in ("missed", "not to see you", "fee", "$"):
        assert untrue not in sent.body.lower()
