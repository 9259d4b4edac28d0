"""The ladder for repeated misses: an admin sets a step, a miss reaches it, the clinician records what they did."""

import pytest
from playwright.sync_api import expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from engagement.models import CheckInTask
from followups.models import OutboxMessage
from policies.models import EscalationStep
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import log_in, started_minutes_ago

pytestmark = pytest.mark.browser


def test_the_ladder_creates_shows_and_closes_its_check_in(
    new_page, practice, practice_admin, therapist, client_of_therapist
):
    # An admin adds a step on Policies → Repeated misses.
    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    admin.get_by_role("link", name="Repeated misses").click()
    expect(admin.get_by_role("heading", level=1, name="Repeated misses")).to_be_visible()
    expect(admin.locator("#ladder-limits")).to_contain_text(
        "Steps never charge more, never block booking and never discharge anyone."
    )
    page_check(admin, "/policies/repeated-misses/ (empty)")
    admin.get_by_label("Misses").fill("1")
    admin.get_by_label("Within (days)").fill("30")
    admin.get_by_label("Ask the clinician to").fill("Check in personally")
    admin.get_by_label("Suggested script").fill("Hi {first_name}, I wanted to see how you are doing.")
    admin.get_by_role("button", name="Add the step").click()
    expect(admin.locator("#div_id_count")).to_contain_text("Use at least 2 misses")
    assert not EscalationStep.objects.exists()
    page_check(admin, "/policies/repeated-misses/ (error)")
    admin.get_by_label("Misses").fill("2")
    admin.get_by_role("button", name="Add the step").click()
    expect(admin.get_by_role("alert")).to_have_text("Step added.")
    expect(admin.locator("#ladder-steps")).to_contain_text("2 misses in 30 days")
    page_check(admin, "/policies/repeated-misses/ (one step)")
    admin.get_by_role("link", name="Edit the step 2 misses in 30 days").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Edit the step: 2 misses in 30 days")
    page_check(admin, "/policies/repeated-misses/<id>/")
    admin.get_by_label("Ask the clinician to").fill("Check in personally, by phone if you can")
    admin.get_by_role("button", name="Save the step").click()
    expect(admin.get_by_role("alert")).to_have_text("Step saved.")
    expect(admin.locator("#ladder-steps")).to_contain_text("Check in personally, by phone if you can")

    # Robin missed a session last week; today's no-show reaches the step.
    earlier = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60 * 24 * 7))
    aftercare.attendance_record(appointment_id=earlier.pk, outcome="no_show", actor=therapist)
    today = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    clinician = new_page()
    log_in(clinician, therapist)
    row = clinician.locator(f"tr#appt-{today.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    event = NoShowEvent.objects.get(appointment=today)
    # The repeat-miss wording follows the ladder.
    assert OutboxMessage.objects.get(missed_session=event, step="first").kind == "first_repeat"
    tasks.process_missed_session(event.pk)  # what the worker does on commit
    tasks.process_missed_session(event.pk)  # and a redelivery adds nothing
    assert CheckInTask.objects.count() == 1

    clinician.reload()
    checkins = clinician.locator("#checkins")
    expect(checkins).to_contain_text(
        "Robin Reed: Check in personally, by phone if you can (step 1 of the ladder: 2 misses in 30 days)"
    )
    page_check(clinician, "/ (a check-in to do)")
    checkins.get_by_role("link", name="Record what I did for Robin Reed").click()
    expect(clinician.get_by_role("heading", level=1, name="Check in with Robin Reed")).to_be_visible()
    script = clinician.get_by_label("Suggested script (edit it to your own words)")
    expect(script).to_have_value("Hi Robin, I wanted to see how you are doing.")
    page_check(clinician, "/check-ins/<id>/")
    clinician.get_by_label("What I did").fill("   ")  # spaces pass the browser's check, not ours
    clinician.get_by_role("button", name="Record what I did").click()
    expect(clinician.locator("#div_id_what_was_done")).to_contain_text("Write what you did first.")
    page_check(clinician, "/check-ins/<id>/ (error)")
    script.fill("Hi Robin, it's been a couple of hard weeks; would evenings suit you better?")
    clinician.get_by_label("What I did").fill("Called; we moved to Thursday evenings.")
    clinician.get_by_role("button", name="Record what I did").click()

    expect(clinician.get_by_role("alert")).to_have_text("Recorded. The check-in with Robin Reed is done.")
    expect(clinician.locator("#checkins")).to_have_count(0)
    task = CheckInTask.objects.get()
    assert task.done_by == therapist and task.what_was_done == "Called; we moved to Thursday evenings."
    assert task.script.startswith("Hi Robin, it's been")
    page_check(clinician, "/ (check-in done)")

    # The client page shows the step as done.
    clinician.goto(client_of_therapist.get_absolute_url())
    expect(clinician.locator("#client-checkins")).to_contain_text("Check in personally")
    expect(clinician.locator("#client-checkins")).to_contain_text("done")


def test_undo_takes_the_check_in_off_today(page, practice, therapist, client_of_therapist):
    from tests.factories import make_ladder

    make_ladder(practice, (2, 30))
    earlier = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60 * 24 * 3))
    aftercare.attendance_record(appointment_id=earlier.pk, outcome="no_show", actor=therapist)
    today = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    log_in(page, therapist)
    row = page.locator(f"tr#appt-{today.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    tasks.process_missed_session(NoShowEvent.objects.get(appointment=today).pk)
    page.reload()
    expect(page.locator("#checkins")).to_be_visible()
    row = page.locator(f"tr#appt-{today.pk}")
    row.get_by_role("button", name="Undo").click()
    expect(row.get_by_role("status")).to_be_visible()
    page.reload()
    expect(page.locator("#checkins")).to_have_count(0)
    assert CheckInTask.objects.get().cancelled_at is not None
    page_check(page, "/ (check-in cancelled by undo)")
