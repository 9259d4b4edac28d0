"""A no-show marked in the browser, to the client rebooking from the email, end to end.

Real Chromium, the live server, a real Celery worker on the real broker, and
a real SMTP server on 127.0.0.1. Nothing of ours is mocked or called directly
to move the story on: the worker does the work, as in production.
"""

import re

import pytest
from playwright.sync_api import expect

from appointments.models import Appointment
from followups.models import OutboxMessage
from followups.services import plan_for
from tests.e2e.helpers import log_in, started_minutes_ago
from tests.factories import AppointmentFactory, give_availability

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LINK = re.compile(r"(https?://\S+/r/[A-Za-z0-9_-]+/)")


@pytest.fixture
def ready(practice, therapist, client_of_therapist):
    plan = plan_for(practice)
    plan.first_delay_minutes = 0
    plan.second_after_days = 0
    plan.quiet_start = plan.quiet_end  # no quiet hours, whatever the hour of the run
    plan.save()
    give_availability(practice, therapist, start_hour=8, end_hour=20)
    return AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))


def test_no_show_to_email_to_rebooked_in_the_browser(
    journey_worker, journey_smtp, new_page, page_errors, ready, therapist, client_of_therapist, live_server
):
    # 1. The therapist marks the no-show in the browser.
    staff = new_page()
    log_in(staff, therapist)
    row = staff.locator(f"#appt-{ready.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.locator(".status-badge")).to_have_text("No-show")

    # 2. The worker sends the email; it reaches the SMTP server with a link.
    [received] = journey_smtp.wait_for(1, timeout=60)
    assert received.envelope_to == [client_of_therapist.email]
    text = received.message.get_body(("plain",)).get_content()
    link = LINK.search(text).group(1)
    assert link.startswith(live_server.url)
    journey_worker.wait_until(
        lambda: OutboxMessage.objects.get(missed_session__appointment=ready, step="first").status == "sent",
        "the outbox row marked sent",
    )

    # 3. The client opens it in a fresh browser (no login) and books a slot.
    client_page = new_page()
    client_page.goto(link)
    expect(client_page.get_by_role("heading", level=1)).to_contain_text(ready.practice.sender_name)
    first_slot = client_page.locator("label.btn").first
    chosen = first_slot.inner_text()
    first_slot.click()
    client_page.get_by_role("button", name="Book this time").click()
    expect(client_page.get_by_role("status")).to_contain_text("You're booked for")
    expect(client_page.get_by_role("status")).to_contain_text(chosen)

    # 4. The clinician's schedule shows the new session.
    makeup = Appointment.objects.get(rescheduled_from=ready)
    local = makeup.start.astimezone(ready.practice.time_zone)
    staff.goto(f"/week/?start={local.date().isoformat()}")
    new_row = staff.locator(f"#appt-{makeup.pk}")
    expect(new_row).to_contain_text(client_of_therapist.full_name)
    expect(new_row).to_contain_text(f"{local:%H:%M}")

    # 5. Opening the link again books nothing (the kind page is a 404).
    page_errors.allow(r"status of 404 .*/r/")
    again = new_page()
    again.goto(link)
    expect(again.get_by_role("heading", level=1)).to_have_text("This link can't be used any more")
    assert Appointment.objects.filter(rescheduled_from=ready).count() == 1
