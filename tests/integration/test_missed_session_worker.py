"""The after-miss pipeline through a real Celery worker and the real broker.

Each test commits rows, lets the worker (see conftest.py) do the work, and
reads the result back from the database and the worker's log.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftercare.services import attendance_record, attendance_undo
from aftercare.tasks import process_missed_session, sweep_missed_sessions
from appointments.models import NoShowEvent
from appointments.services import Outcome, appointment_record_outcome
from tests.factories import AppointmentFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROCESS = "aftercare.tasks.process_missed_session"


def _processed_at(event_id: int):
    return NoShowEvent.objects.values_list("processed_at", flat=True).get(pk=event_id)


def _record_no_show(appointment, actor, **kwargs) -> NoShowEvent:
    """Record a no-show the way the services below the pipeline do: nothing is enqueued."""
    result = appointment_record_outcome(appointment_id=appointment.pk, outcome=Outcome.NO_SHOW, actor=actor, **kwargs)
    return result.event


def test_recorded_no_show_is_processed_by_the_worker(worker, client_of_therapist, therapist):
    appointment = AppointmentFactory(client=client_of_therapist)

    result = attendance_record(appointment_id=appointment.pk, outcome=Outcome.NO_SHOW, actor=therapist)

    event_id = result.event.pk
    worker.wait_until(lambda: _processed_at(event_id) is not None, f"event {event_id} processed")
    # One task, enqueued on commit, and it did the work.
    assert [name for name, _id in worker.published] == [PROCESS]
    assert worker.wait_for_published() == ["True"]
    assert worker.count(f"missed session processed event_id={event_id}") == 1


def test_sweep_processes_a_miss_whose_enqueue_was_lost(worker, client_of_therapist, therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    # Recorded five minutes ago and never enqueued: older than the sweep's grace.
    event = _record_no_show(appointment, therapist, now=timezone.now() - timedelta(minutes=5))
    assert worker.published == []

    sweep_missed_sessions.delay()

    assert worker.wait_for_published() == ["1"]
    assert _processed_at(event.pk) is not None
    assert worker.count(f"missed session processed event_id={event.pk}") == 1


def test_redelivered_task_processes_the_event_once(worker, client_of_therapist, therapist):
    event = _record_no_show(AppointmentFactory(client=client_of_therapist), therapist)

    process_missed_session.delay(event.pk)
    assert worker.wait_for_published() == ["True"]
    processed_at = _processed_at(event.pk)
    # The same message again, twice: a redelivery after a lost ack, and the
    # sweep or a second enqueue racing it.
    process_missed_session.delay(event.pk)
    process_missed_session.delay(event.pk)

    assert worker.wait_for_published() == ["True", "False", "False"]
    assert processed_at is not None
    assert _processed_at(event.pk) == processed_at
    assert worker.count(f"missed session processed event_id={event.pk}") == 1


def test_undone_miss_is_never_processed(worker, client_of_therapist, therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    event = _record_no_show(appointment, therapist)
    attendance_undo(appointment_id=appointment.pk, actor=therapist)

    # The task arrives after the undo (an enqueue that lost the race).
    process_missed_session.delay(event.pk)

    assert worker.wait_for_published() == ["False"]
    event.refresh_from_db()
    assert event.undone_at is not None
    assert event.processed_at is None
    assert worker.count(f"missed session processed event_id={event.pk}") == 0
