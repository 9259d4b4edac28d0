from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from aftercare import services, tasks
from appointments.models import NoShowEvent
from appointments.services import appointment_record_outcome
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_recording_a_miss_enqueues_the_work_after_commit(
    therapist, client_of_therapist, django_capture_on_commit_callbacks
):
    appointment = AppointmentFactory(client=client_of_therapist)
    with django_capture_on_commit_callbacks() as callbacks:
        result = services.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    # Nothing is enqueued until the transaction commits, and then exactly once.
    assert len(callbacks) == 1
    assert result.event.processed_at is None


def test_attended_and_double_clicks_enqueue_nothing(therapist, client_of_therapist, django_capture_on_commit_callbacks):
    attended = AppointmentFactory(client=client_of_therapist)
    missed = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=3))
    services.attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist)
    with django_capture_on_commit_callbacks() as callbacks:
        services.attendance_record(appointment_id=attended.pk, outcome="attended", actor=therapist)
        services.attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist)
    assert callbacks == []


def test_processing_twice_does_the_work_once(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    event = services.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    assert tasks.process_missed_session(event.pk) is True
    event.refresh_from_db()
    first_stamp = event.processed_at
    assert tasks.process_missed_session(event.pk) is False
    event.refresh_from_db()
    assert event.processed_at == first_stamp


def test_an_undone_miss_is_never_processed(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    event = services.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    services.attendance_undo(appointment_id=appointment.pk, actor=therapist)
    assert tasks.process_missed_session(event.pk) is False
    event.refresh_from_db()
    assert event.processed_at is None and event.undone_at is not None


def test_a_task_for_a_missing_event_does_nothing():
    assert tasks.process_missed_session(987654) is False


def test_undo_outside_the_window_keeps_the_mark(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    services.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=30)), pytest.raises(ValidationError):
        services.attendance_undo(appointment_id=appointment.pk, actor=therapist)
    assert NoShowEvent.objects.get().undone_at is None


def test_sweep_picks_up_events_whose_enqueue_was_lost(therapist, client_of_therapist):
    old = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=3))
    fresh = AppointmentFactory(client=client_of_therapist)
    lost = appointment_record_outcome(
        appointment_id=old.pk, outcome="no_show", actor=therapist, now=timezone.now() - timedelta(minutes=5)
    ).event
    just_now = appointment_record_outcome(appointment_id=fresh.pk, outcome="no_show", actor=therapist).event
    assert tasks.sweep_missed_sessions() == 1
    lost.refresh_from_db()
    just_now.refresh_from_db()
    assert lost.processed_at is not None
    # A fresh event is left to its own on-commit enqueue for a minute.
    assert just_now.processed_at is None
    assert tasks.sweep_missed_sessions() == 0


def test_sweep_takes_bounded_batches_oldest_first(therapist, client_of_therapist):
    events = []
    for minutes in (50, 40, 30, 20, 10):
        appointment = AppointmentFactory(
            client=client_of_therapist, start=timezone.now() - timedelta(hours=1, minutes=minutes)
        )
        recorded = timezone.now() - timedelta(minutes=minutes)
        events.append(
            appointment_record_outcome(
                appointment_id=appointment.pk, outcome="no_show", actor=therapist, now=recorded
            ).event.pk
        )
    assert services.missed_sessions_unprocessed(limit=2) == events[:2]
