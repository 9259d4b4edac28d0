"""Correcting an outcome after the undo window: who may, and what follows for fee and messages."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Appointment, NoShowEvent
from followups.models import OutboxMessage
from policies import services as policies
from policies.models import FeeAssessment
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, make_policy

pytestmark = pytest.mark.django_db

# 2 p.m. in New York on a Wednesday: clear of quiet hours.
MARKED = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def charged_client(practice, client_of_therapist, front_desk):
    with time_machine.travel(MARKED - timedelta(days=400), tick=False):
        version = make_policy(practice)
    # Acknowledged well before the misses below: only terms accepted by then are charged.
    policies.acknowledgement_record(
        client=client_of_therapist, version=version, method="paper", actor=front_desk, at=MARKED - timedelta(days=300)
    )
    return client_of_therapist


def no_show(client, actor, started=MARKED - timedelta(minutes=30)):
    appointment = AppointmentFactory(client=client, start=started, end=started + timedelta(minutes=50))
    with time_machine.travel(MARKED, tick=False):
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event
        tasks.process_missed_session(event.pk)
    return appointment, event


def correct(appointment, actor, to="attended", reason="Client was in the waiting room", at=MARKED + timedelta(days=1)):
    with time_machine.travel(at, tick=False):
        return aftercare.attendance_correct(appointment_id=appointment.pk, new_outcome=to, actor=actor, reason=reason)


def test_a_no_show_corrected_to_attended_voids_the_fee_and_cancels_pending_followups(
    practice_admin, therapist, charged_client
):
    appointment, event = no_show(charged_client, therapist)
    fee = FeeAssessment.objects.get(missed_session=event)
    assert fee.state in FeeAssessment.OPEN_STATES
    assert OutboxMessage.objects.filter(missed_session=event, status="pending").count() == 2

    result = correct(appointment, practice_admin)

    appointment.refresh_from_db()
    fee.refresh_from_db()
    event.refresh_from_db()
    assert appointment.status == Appointment.Status.ATTENDED
    assert fee.state == FeeAssessment.State.VOID
    assert event.undone_at is not None and event.undone_by == practice_admin
    assert not OutboxMessage.objects.filter(missed_session=event, status="pending").exists()
    assert "2 follow-ups not yet sent were cancelled." in result.notes
    assert any(note.startswith("The fee of 60.00 USD") and "voided" in note for note in result.notes)
    audit = AuditEvent.objects.get(action="appointment.outcome_corrected")
    assert audit.actor == practice_admin
    assert audit.changes == {"status": ["no_show", "attended"], "reason": "Client was in the waiting room"}


def test_a_paid_fee_is_not_silently_voided_and_a_sent_followup_is_named(practice_admin, therapist, charged_client):
    appointment, event = no_show(charged_client, therapist)
    fee = FeeAssessment.objects.get(missed_session=event)
    policies.fee_mark_paid(fee=fee, actor=practice_admin)
    with time_machine.travel(MARKED + timedelta(hours=2), tick=False):
        assert aftercare.followups_send_due() == 1  # the first follow-up reaches the client

    result = correct(appointment, practice_admin, at=MARKED + timedelta(days=30))

    fee.refresh_from_db()
    assert fee.state == FeeAssessment.State.PAID
    assert any("already paid" in note and "refund it by hand" in note for note in result.notes)
    assert "The client was already sent a follow-up on Wed 10 Jun 2026 at 16:00 (email). It cannot be taken back." in (
        result.notes
    )
    assert "1 follow-up not yet sent was cancelled." in result.notes


def test_attended_corrected_to_no_show_starts_the_after_miss_work_as_a_fresh_mark(practice_admin, charged_client):
    start = MARKED - timedelta(days=2)
    appointment = AppointmentFactory(client=charged_client, start=start, end=start + timedelta(minutes=50))
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        aftercare.attendance_record(appointment_id=appointment.pk, outcome="attended", actor=practice_admin)

    result = correct(appointment, practice_admin, to="no_show", reason="Marked the wrong row", at=MARKED)

    event = NoShowEvent.objects.get(appointment=appointment, undone_at=None)
    assert event.kind == "no_show"
    assert OutboxMessage.objects.filter(missed_session=event, status="pending").count() == 2
    assert "Follow-ups are planned as for a fresh mark." in result.notes
    with time_machine.travel(MARKED, tick=False):
        assert tasks.process_missed_session(event.pk) is True
    assert FeeAssessment.objects.get(missed_session=event).amount == 60


def test_an_old_session_corrected_to_no_show_gets_its_fee_but_no_followup(practice_admin, charged_client):
    start = MARKED - timedelta(days=20)
    appointment = AppointmentFactory(client=charged_client, start=start, end=start + timedelta(minutes=50))
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        aftercare.attendance_record(appointment_id=appointment.pk, outcome="attended", actor=practice_admin)

    result = correct(appointment, practice_admin, to="no_show", at=MARKED)

    event = NoShowEvent.objects.get(appointment=appointment, undone_at=None)
    assert not OutboxMessage.objects.filter(missed_session=event).exists()
    assert "No follow-up is sent: the session was more than 7 days ago." in result.notes


def test_the_sessions_clinician_may_correct_within_the_practice_window_only(practice, therapist, charged_client):
    appointment, _ = no_show(charged_client, therapist)
    with pytest.raises(PermissionDenied, match="within 7 days"):
        correct(appointment, therapist, at=appointment.start + timedelta(days=7, minutes=1))
    correct(appointment, therapist, at=appointment.start + timedelta(days=6))
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.ATTENDED


def test_front_desk_a_colleague_and_another_practice_may_not_correct(
    therapist, therapist2, front_desk, other_practice_therapist, charged_client
):
    appointment, _ = no_show(charged_client, therapist)
    for user in (front_desk, therapist2, other_practice_therapist):
        with pytest.raises(PermissionDenied):
            correct(appointment, user)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.NO_SHOW
    assert not AuditEvent.objects.filter(action="appointment.outcome_corrected").exists()


@pytest.mark.parametrize(
    ("to", "reason", "message"),
    [
        ("attended", "   ", "Say why"),
        ("cancelled", "x", "attended, no-show or late cancel"),
        ("no_show", "x", "already marked no-show"),
    ],
)
def test_a_correction_without_reason_to_the_same_or_an_unknown_outcome_is_refused(
    practice_admin, therapist, charged_client, to, reason, message
):
    appointment, event = no_show(charged_client, therapist)
    with pytest.raises(ValidationError, match=message):
        correct(appointment, practice_admin, to=to, reason=reason)
    event.refresh_from_db()
    assert event.undone_at is None


def test_a_scheduled_session_has_nothing_to_correct(practice_admin, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    with pytest.raises(ValidationError, match="Only an attended"):
        aftercare.attendance_correct(
            appointment_id=appointment.pk, new_outcome="attended", actor=practice_admin, reason="x"
        )
