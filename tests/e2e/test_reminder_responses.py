"""The client's answers to a reminder, in the browser: "I can't make it" outside and inside the notice
window (where moving is offered, and free), "Move it", the done pages, and Today's unconfirmed list."""

import re
from datetime import time, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import tasks as aftercare_tasks
from appointments.models import Appointment, NoShowEvent
from followups import reminders
from followups import tasks as followup_tasks
from followups.models import ClientLink, FollowUpPlan, MissReason, OutboxMessage
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory, give_availability, make_policy

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def agreed(practice, therapist, client_of_therapist):
    """A $40 late-cancel fee with 24 hours' notice and a 7-day make-up window, which Robin acknowledged;
    the clinician is free from 06:00 to 22:00 every day."""
    give_availability(practice, therapist, start_hour=6, end_hour=22)
    version = make_policy(practice, notice_hours=24, late_cancel_fee=Decimal("40.00"), makeup_days=7, hold_hours=0)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    # No quiet hours, so the test does not depend on the time of day it runs.
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})


def session_in(client, delta):
    start = (timezone.now() + delta).replace(second=0, microsecond=0)
    return AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))


def path_of(purpose, appointment):
    token = reminders.session_link_create(purpose=purpose, appointment=appointment)
    return ("/cancel/" if purpose == ClientLink.Purpose.CANT_MAKE_IT else "/move/") + token + "/"


def test_cant_make_it_from_the_reminder_email_outside_the_window_cancels_with_no_fee(
    new_page, page_errors, practice, therapist, client_of_therapist, agreed
):
    # Its 72-hour reminder fell due half an hour ago.
    session = session_in(client_of_therapist, timedelta(hours=71, minutes=30))
    plan = reminders.plan_for(practice)
    plan.first_hours = 72
    plan.save()
    assert followup_tasks.sweep_reminders() == 1
    assert aftercare_tasks.sweep_followups() == 1
    [message] = mail.outbox
    assert "/move/" in message.body
    cancel_path = urlsplit(re.search(r"https?://\S+/cancel/\S+/", message.body).group(0)).path

    home = new_page()
    home.goto(cancel_path)
    expect(home.get_by_role("heading", name="Hi Robin, can't make it?")).to_be_visible()
    expect(home.locator("#what-applies")).to_contain_text("You're letting us know in good time: there is no fee")
    page_check(home, "/cancel/{token}/ (outside the window)")
    session.refresh_from_db()
    assert session.status == "scheduled"  # opening it changed nothing

    home.get_by_text("Would you like to tell us what got in the way?").click()
    home.get_by_label("Work or childcare").check()
    home.get_by_role("button", name="Cancel my session").click()
    expect(home.get_by_role("status")).to_contain_text("We've cancelled your session")
    expect(home.get_by_text("There is no fee.")).to_be_visible()
    page_check(home, "/cancel/{token}/ (cancelled)")
    session.refresh_from_db()
    assert (session.status, session.client_response) == (Appointment.Status.CANCELLED_IN_TIME, "cant_make_it")
    assert MissReason.objects.get(appointment=session).reason == "work_childcare"

    # The same link again (a second tab): the same outcome, nothing more.
    home.reload()
    expect(home.get_by_role("status")).to_contain_text("We've cancelled your session")
    assert not NoShowEvent.objects.exists()


def test_cant_make_it_inside_the_window_names_the_fee_and_a_move_instead_is_free(
    new_page, page_errors, practice, therapist, client_of_therapist, agreed
):
    session = session_in(client_of_therapist, timedelta(hours=20))
    home = new_page()
    home.goto(path_of(ClientLink.Purpose.CANT_MAKE_IT, session))
    applies = home.locator("#what-applies")
    expect(applies).to_contain_text("cancelling now has a fee of $40.00")
    expect(applies).to_contain_text("Moving it instead has no fee")
    expect(home.get_by_role("button", name="Cancel, with the $40.00 fee")).to_be_visible()
    page_check(home, "/cancel/{token}/ (inside the window)")

    home.locator("#move label.btn").first.click()
    home.get_by_role("button", name="Move to this time").click()
    expect(home.get_by_role("status")).to_have_text("Your session is moved. There is no fee for moving it.")
    page_check(home, "/cancel/{token}/ (moved)")
    session.refresh_from_db()
    assert session.status == "scheduled" and session.client_response == "moved"
    assert Appointment.objects.count() == 1
    assert not NoShowEvent.objects.exists() and not FeeAssessment.objects.exists()


def test_cant_make_it_inside_the_window_is_a_late_cancel_with_no_follow_up(
    new_page, page_errors, practice, therapist, client_of_therapist, agreed
):
    session = session_in(client_of_therapist, timedelta(hours=20))
    home = new_page()
    home.goto(path_of(ClientLink.Purpose.CANT_MAKE_IT, session))
    home.get_by_role("button", name="Cancel, with the $40.00 fee").click()
    expect(home.get_by_role("status")).to_contain_text("We've cancelled your session")
    expect(home.get_by_text("the late cancellation fee of $40.00 applies")).to_be_visible()
    page_check(home, "/cancel/{token}/ (late cancel)")
    event = NoShowEvent.objects.get(appointment=session)
    assert event.told_by_client
    assert not OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.FOLLOWUP).exists()


def test_move_it_picks_a_new_time_and_the_week_says_moved_by_client(
    new_page, page_errors, practice, therapist, front_desk, client_of_therapist, agreed
):
    session = session_in(client_of_therapist, timedelta(days=3))
    home = new_page()
    home.goto(path_of(ClientLink.Purpose.MOVE, session))
    expect(home.get_by_role("heading", name="Hi Robin, pick another time")).to_be_visible()
    expect(home.get_by_role("button", name="Cancel my session")).to_have_count(0)
    page_check(home, "/move/{token}/ (open)")
    home.locator("#move label.btn").first.click()
    home.get_by_role("button", name="Move to this time").click()
    expect(home.get_by_role("status")).to_have_text("Your session is moved. There is no fee for moving it.")
    page_check(home, "/move/{token}/ (moved)")
    session.refresh_from_db()
    assert session.client_response == "moved"

    desk = new_page()
    log_in(desk, front_desk)
    desk.get_by_role("navigation").get_by_role("link", name="Week", exact=True).click()
    if not desk.locator(f"#appt-{session.pk}").count():
        desk.get_by_role("link", name=re.compile("Next")).first.click()
    expect(desk.locator(f"#appt-{session.pk} .client-response")).to_have_text("moved by client")


def test_today_lists_sessions_not_confirmed_within_24_hours(
    new_page, page_errors, practice, front_desk, client_of_therapist
):
    session = session_in(client_of_therapist, timedelta(hours=5))
    OutboxMessage.objects.create(
        purpose=OutboxMessage.Purpose.REMINDER,
        idempotency_key=reminders.reminder_key(appointment_id=session.pk, start=session.start, number=1),
        practice_id=practice.pk,
        client_id=client_of_therapist.pk,
        appointment=session,
        appointment_start=session.start,
        reminder_number=1,
        kind="reminder",
        channel="email",
        due_at=timezone.now() - timedelta(hours=1),
        status=OutboxMessage.Status.SENT,
    )
    desk = new_page()
    log_in(desk, front_desk)
    listed = desk.locator("#unconfirmed")
    expect(listed.get_by_role("heading", name="Not confirmed yet, starting within 24 hours")).to_be_visible()
    expect(listed.locator(f"#unconfirmed-{session.pk}")).to_contain_text("Robin Reed")
    page_check(desk, "Today (not confirmed yet)")
