"""The client's answers to a reminder: "I can't make it" and "Move it" (aftercare.responses), as services.

Policy cases: outside the notice window a free cancellation; inside it a late
cancel with the fee under the lesser terms, or a free move within the make-up
window; a flagged client still gets the safety path. And the links: single use,
a session since moved or cancelled, a double click, Confirm then "can't make it".
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from aftercare import responses
from aftercare import services as aftercare
from aftercare import tasks as aftercare_tasks
from appointments.models import Appointment, NoShowEvent
from appointments.services import appointment_move
from followups import reminders, services
from followups.models import ClientLink, MissReason, OutboxMessage
from policies import services as policies
from policies.models import FeeAssessment, SafetyCheck
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, give_availability, make_policy
from waitlist.models import FreedSlot

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 14:00 in New York.
MONDAY = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)
# Tuesday 9 June 10:00 in New York: 20 hours away, inside a 24-hour notice window.
TUESDAY_10AM = datetime(2026, 6, 9, 14, 0, tzinfo=UTC)
# Thursday 11 June 10:00 in New York: 68 hours away, outside it.
THURSDAY_10AM = datetime(2026, 6, 11, 14, 0, tzinfo=UTC)
CANT, MOVE = ClientLink.Purpose.CANT_MAKE_IT, ClientLink.Purpose.MOVE


@pytest.fixture(autouse=True)
def _fixed_time_and_fresh_cache():
    cache.clear()
    with time_machine.travel(MONDAY, tick=False):
        yield
    cache.clear()


@pytest.fixture
def hours(practice, therapist):
    # 09:00, 10:00 and 11:00 every day of the week.
    give_availability(practice, therapist, start_hour=9, end_hour=12)


def session_at(client, start):
    return AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))


def link(appointment, purpose=CANT):
    return reminders.session_link_create(purpose=purpose, appointment=appointment)


def acknowledged(practice, client, **terms):
    version = make_policy(practice, **terms)
    policies.acknowledgement_record(client=client, version=version, method="paper")
    return version


# ------------------------------------------------------------- outside the window


def test_outside_the_window_it_is_a_cancellation_with_no_fee(
    practice, client_of_therapist, django_capture_on_commit_callbacks
):
    acknowledged(practice, client_of_therapist, notice_hours=24)
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session)
    offer = responses.response_offer(token=token, purpose=CANT)
    assert (offer.terms.late, offer.terms.fee, offer.slots_limited) == (False, Decimal("0.00"), False)
    with django_capture_on_commit_callbacks() as callbacks:
        responses.client_cant_make_it(token=token, late_seen=False, reason="work_childcare", text="Shift changed")
    session.refresh_from_db()
    assert session.status == Appointment.Status.CANCELLED_IN_TIME
    assert (session.initiated_by, session.client_response) == ("client", "cant_make_it")
    assert not NoShowEvent.objects.exists() and not FeeAssessment.objects.exists()
    reason = MissReason.objects.get()
    assert (reason.appointment_id, reason.missed_session_id, reason.reason) == (session.pk, None, "work_childcare")
    assert ClientLink.objects.get(purpose=CANT).used_at == MONDAY
    audit = AuditEvent.objects.get(action="appointment.client_cant_make_it")
    assert audit.changes["late"] is False and audit.actor is None and audit.client_ref == client_of_therapist.pk
    # After commit: the clinician's notice and the waitlist's offer of the freed time (no miss, nothing to assess).
    assert sorted(c.__name__ for c in callbacks) == ["_enqueue_advance", "_enqueue_response_notice"]
    assert FreedSlot.objects.get().start == THURSDAY_10AM


# -------------------------------------------------------------- inside the window


def test_inside_the_window_a_late_cancel_is_charged_under_the_lesser_terms_and_has_no_follow_up(
    practice, client_of_therapist
):
    # The client acknowledged v1 ($40); v2 ($90) took effect since and was never acknowledged.
    acknowledged(practice, client_of_therapist, late_cancel_fee=Decimal("40.00"), hold_hours=0)
    make_policy(practice, effective_at=MONDAY - timedelta(days=1), late_cancel_fee=Decimal("90.00"), hold_hours=0)
    session = session_at(client_of_therapist, TUESDAY_10AM)
    token = link(session)
    offer = responses.response_offer(token=token, purpose=CANT)
    # The page tells the client before they confirm: late, and $40.00, never the $90 they did not accept.
    assert offer.terms.late and offer.terms.fee == Decimal("40.00") and offer.terms.fee_text == "$40.00"
    assert any("$40.00 fee" in line for line in offer.terms.lines)
    responses.client_cant_make_it(token=token, late_seen=True)
    session.refresh_from_db()
    assert session.status == Appointment.Status.LATE_CANCEL
    event = NoShowEvent.objects.get(appointment=session)
    assert event.told_by_client and event.kind == "late_cancel"
    # The pipeline assesses the fee; no follow-up is written for a client who told us.
    assert aftercare.missed_session_process(event_id=event.pk)
    fee = FeeAssessment.objects.get(missed_session=event)
    assert (fee.amount, fee.state, fee.charged_under.number) == (Decimal("40.00"), FeeAssessment.State.DUE, 1)
    assert not OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.FOLLOWUP).exists()
    assert services.followups_plan(event=event) == []


def test_inside_the_window_only_times_within_the_make_up_window_are_offered(practice, client_of_therapist, hours):
    acknowledged(practice, client_of_therapist, makeup_days=2)
    session = session_at(client_of_therapist, TUESDAY_10AM)
    offer = responses.response_offer(token=link(session, MOVE), purpose=MOVE)
    assert offer.slots_limited and offer.terms.makeup_until.isoformat() == "2026-06-11"
    local_days = {start.astimezone(practice.time_zone).date().isoformat() for start, _ in offer.slots}
    assert local_days == {"2026-06-09", "2026-06-10", "2026-06-11"}
    assert TUESDAY_10AM not in dict(offer.slots)  # not its own time


def test_inside_the_window_a_move_within_the_make_up_window_is_a_move_with_no_fee(
    practice, client_of_therapist, hours, django_capture_on_commit_callbacks
):
    acknowledged(practice, client_of_therapist, makeup_days=7)
    session = session_at(client_of_therapist, TUESDAY_10AM)
    session.confirmed_at = MONDAY - timedelta(hours=1)
    session.save()
    token = link(session, MOVE)
    new_start = TUESDAY_10AM + timedelta(days=2)
    with django_capture_on_commit_callbacks() as callbacks:
        moved = responses.client_move(token=token, purpose=MOVE, start=new_start)
    # The clinician's notice (below, run as the worker would) and the waitlist's offer of the time it left.
    assert sorted(c.__name__ for c in callbacks) == ["_enqueue_advance", "_enqueue_response_notice"]
    assert FreedSlot.objects.get().start == TUESDAY_10AM
    assert moved.pk == session.pk
    session.refresh_from_db()
    assert (session.status, session.start, session.end) == ("scheduled", new_start, new_start + timedelta(minutes=50))
    assert session.confirmed_at is None and session.client_response == "moved"
    assert not NoShowEvent.objects.exists() and not FeeAssessment.objects.exists()
    assert AuditEvent.objects.get(action="appointment.moved").changes["by"] == "client"
    # The clinician's short notice: times, no client name.
    assert aftercare_tasks.notify_clinician_response(session.pk, TUESDAY_10AM.isoformat())
    [notice] = mail.outbox
    assert "Thursday 11 June at 10:00" in notice.body and "Tuesday 9 June at 10:00" in notice.body
    assert "Robin" not in notice.body and "Reed" not in notice.body


def test_a_time_outside_the_make_up_window_is_refused_inside_the_notice_window(practice, client_of_therapist, hours):
    acknowledged(practice, client_of_therapist, makeup_days=2)
    session = session_at(client_of_therapist, TUESDAY_10AM)
    token = link(session, MOVE)
    with pytest.raises(aftercare.SlotTaken):
        responses.client_move(token=token, purpose=MOVE, start=TUESDAY_10AM + timedelta(days=5))
    session.refresh_from_db()
    assert session.start == TUESDAY_10AM and ClientLink.objects.get().used_at is None


def test_a_time_another_session_took_is_refused_no_double_booking(practice, client_of_therapist, therapist, hours):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session, MOVE)
    wanted = THURSDAY_10AM + timedelta(days=1)
    other = ClientFactory(practice=practice, clinician=therapist)
    session_at(other, wanted)
    with pytest.raises(aftercare.SlotTaken):
        responses.client_move(token=token, purpose=MOVE, start=wanted)
    session.refresh_from_db()
    assert session.start == THURSDAY_10AM


def test_the_cant_make_it_link_can_also_move_the_session(practice, client_of_therapist, hours):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session, CANT)
    new_start = THURSDAY_10AM + timedelta(hours=1)
    responses.client_move(token=token, purpose=CANT, start=new_start)
    session.refresh_from_db()
    assert session.start == new_start and session.status == "scheduled"
    # Used up: "cancel" from a second tab now changes nothing; the move stands.
    responses.client_cant_make_it(token=token, late_seen=False)
    session.refresh_from_db()
    assert session.start == new_start and session.status == "scheduled" and session.client_response == "moved"
    assert not AuditEvent.objects.filter(action="appointment.client_cant_make_it").exists()


def test_a_flagged_client_gets_the_safety_path_first_and_still_no_follow_up(
    practice, therapist, client_of_therapist, django_capture_on_commit_callbacks
):
    client_of_therapist.needs_safety_check = True
    client_of_therapist.save()
    acknowledged(practice, client_of_therapist, hold_hours=0)
    session = session_at(client_of_therapist, TUESDAY_10AM)
    responses.client_cant_make_it(token=link(session), late_seen=True)
    event = NoShowEvent.objects.get(appointment=session)
    assert aftercare.missed_session_process(event_id=event.pk)
    check = SafetyCheck.objects.get(missed_session=event)
    assert not FeeAssessment.objects.exists()
    # The clinician records the check: the fee follows; still no follow-up to someone who told us.
    aftercare.safety_check_done(check=check, actor=therapist)
    assert FeeAssessment.objects.get(missed_session=event).amount == Decimal("40.00")
    assert not OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.FOLLOWUP).exists()


def test_when_the_window_closes_between_page_and_post_nothing_changes(practice, client_of_therapist):
    acknowledged(practice, client_of_therapist, notice_hours=24)
    start = MONDAY + timedelta(hours=24, minutes=1)
    session = session_at(client_of_therapist, start)
    token = link(session)
    assert not responses.response_offer(token=token, purpose=CANT).terms.late
    with time_machine.travel(MONDAY + timedelta(minutes=2), tick=False), pytest.raises(responses.TermsChanged):
        responses.client_cant_make_it(token=token, late_seen=False)
    session.refresh_from_db()
    assert session.status == "scheduled" and ClientLink.objects.get().used_at is None


# ------------------------------------------------------------------- the links


def test_a_second_post_changes_nothing_and_returns_the_same_outcome(practice, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session)
    responses.client_cant_make_it(token=token, late_seen=False)
    again = responses.client_cant_make_it(token=token, late_seen=False)
    assert again.pk == session.pk and again.status == Appointment.Status.CANCELLED_IN_TIME
    assert AuditEvent.objects.filter(action="appointment.client_cant_make_it").count() == 1
    assert responses.response_offer(token=token, purpose=CANT).done == responses.DONE_CANCELLED


def test_a_second_move_post_changes_nothing(practice, client_of_therapist, hours):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session, MOVE)
    first = THURSDAY_10AM + timedelta(hours=1)
    responses.client_move(token=token, purpose=MOVE, start=first)
    responses.client_move(token=token, purpose=MOVE, start=first + timedelta(hours=1))
    session.refresh_from_db()
    assert session.start == first
    assert AuditEvent.objects.filter(action="appointment.moved").count() == 1
    assert responses.response_offer(token=token, purpose=MOVE).done == responses.DONE_MOVED


def test_links_of_a_session_moved_cancelled_or_marked_can_not_be_used(practice, client_of_therapist, therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    token = link(session)
    new_start = THURSDAY_10AM + timedelta(days=1)
    appointment_move(appointment=session, start=new_start, end=new_start + timedelta(minutes=50), actor=therapist)
    with pytest.raises(services.LinkUnusable):
        responses.response_offer(token=token, purpose=CANT)
    with pytest.raises(services.LinkUnusable):
        responses.client_cant_make_it(token=token, late_seen=False)
    other = session_at(client_of_therapist, THURSDAY_10AM + timedelta(days=3))
    other_token = link(other)
    Appointment.objects.filter(pk=other.pk).update(status=Appointment.Status.CANCELLED_BY_CLINICIAN)
    with pytest.raises(services.LinkUnusable):
        responses.client_cant_make_it(token=other_token, late_seen=False)
    assert not AuditEvent.objects.filter(action="appointment.client_cant_make_it").exists()


def test_after_the_session_started_cant_make_it_does_nothing(practice, client_of_therapist):
    session = session_at(client_of_therapist, MONDAY + timedelta(hours=1))
    token = link(session)
    with time_machine.travel(session.start + timedelta(minutes=5), tick=False), pytest.raises(services.LinkUnusable):
        responses.client_cant_make_it(token=token, late_seen=True)
    session.refresh_from_db()
    assert session.status == "scheduled" and not NoShowEvent.objects.exists()


def test_confirm_then_cant_make_it_both_work(practice, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    confirm_token = reminders.confirm_link_create(appointment=session)
    cant_token = link(session)
    reminders.session_confirm(token=confirm_token)
    responses.client_cant_make_it(token=cant_token, late_seen=False)
    session.refresh_from_db()
    assert session.status == Appointment.Status.CANCELLED_IN_TIME and session.client_response == "cant_make_it"


def test_a_link_of_one_purpose_is_no_link_of_another(practice, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    move_token = link(session, MOVE)
    with pytest.raises(services.LinkUnusable):
        responses.client_cant_make_it(token=move_token, late_seen=False)
    with pytest.raises(services.LinkUnusable):
        responses.response_offer(token=link(session, ClientLink.Purpose.CONFIRM), purpose=MOVE)


# ----------------------------------------------------------- the reminder itself


@pytest.mark.parametrize(("channel", "links"), [("email", ["/c/", "/cancel/", "/move/"]), ("sms", ["/c/", "/cancel/"])])
def test_the_reminder_carries_its_links_and_a_text_stays_short(practice, therapist, channel, links, mailoutbox):
    client = ClientFactory(
        practice=practice,
        clinician=therapist,
        email="robin@example.com",
        phone="+12125550100",
        consent_email=True,
        consent_sms=True,
    )
    session = session_at(client, THURSDAY_10AM)
    plan = reminders.plan_for(practice)
    plan.first_hours, plan.first_channel = 72, channel
    plan.save()
    assert reminders.reminders_write_due() == 1
    row = OutboxMessage.objects.get(purpose=OutboxMessage.Purpose.REMINDER)
    outgoing = (
        __import__("followups.purposes", fromlist=["get"])
        .get("reminder")
        .compose(row, services.plan_for(practice), MONDAY)
    )
    for path in links:
        assert path in outgoing.text
    if channel == "sms":
        assert "/move/" not in outgoing.text and "To move it" not in outgoing.text, outgoing.text
    purposes = sorted(ClientLink.objects.filter(appointment=session).values_list("purpose", flat=True))
    assert purposes == sorted({"/c/": "confirm", "/cancel/": "cant_make_it", "/move/": "move"}[p] for p in links)


def test_the_clinician_notice_task_says_can_t_make_it_without_a_name(practice, client_of_therapist, mailoutbox):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    responses.client_cant_make_it(token=link(session), late_seen=False)
    assert aftercare_tasks.notify_clinician_response(session.pk, "")
    [notice] = mailoutbox
    assert "can't make their session on Thursday 11 June at 10:00" in notice.body
    assert "cancelled in time, with no fee" in notice.body
    assert "Robin" not in notice.body and "Reed" not in notice.body


def test_staff_undoing_a_client_s_cancellation_clears_the_answer(practice, therapist, client_of_therapist):
    session = session_at(client_of_therapist, TUESDAY_10AM)
    acknowledged(practice, client_of_therapist)
    responses.client_cant_make_it(token=link(session), late_seen=True)
    aftercare.attendance_undo(appointment_id=session.pk, actor=therapist)
    session.refresh_from_db()
    assert (session.status, session.client_response) == ("scheduled", "")
    assert NoShowEvent.objects.get(appointment=session).undone_at is not None
