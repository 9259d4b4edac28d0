"""The ladder's check-in through a real Celery worker: written once, whatever is delivered again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftercare.services import attendance_record
from aftercare.tasks import process_missed_session
from appointments.services import Outcome, appointment_record_outcome
from engagement.models import CheckInTask
from tests.factories import AppointmentFactory, make_ladder

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_miss_that_reaches_a_step_gives_one_check_in_under_redelivery(
    worker, practice, client_of_therapist, therapist
):
    make_ladder(practice, (2, 30))
    earlier = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=6))
    appointment_record_outcome(appointment_id=earlier.pk, outcome=Outcome.NO_SHOW, actor=therapist)
    appointment = AppointmentFactory(client=client_of_therapist)

    event = attendance_record(appointment_id=appointment.pk, outcome=Outcome.NO_SHOW, actor=therapist).event
    worker.wait_until(lambda: CheckInTask.objects.exists(), "the check-in task written")
    # The same message again, twice: a lost ack's redelivery and a racing sweep.
    process_missed_session.delay(event.pk)
    process_missed_session.delay(event.pk)

    assert worker.wait_for_published() == ["True", "False", "False"]
    [task] = CheckInTask.objects.all()
    assert (task.missed_session_id, task.clinician_id, task.misses) == (event.pk, therapist.pk, 2)
    assert worker.count(f"check-in tasks written event_id={event.pk} tasks=[{task.pk}]") == 1


def test_a_miss_that_reaches_two_steps_gives_one_check_in_for_the_higher_under_redelivery(
    worker, practice, client_of_therapist, therapist
):
    _, higher = make_ladder(practice, (2, 30), (3, 60))
    for days in (40, 6):  # 34 days apart: "2 in 30" not reached by these two
        earlier = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=days))
        appointment_record_outcome(appointment_id=earlier.pk, outcome=Outcome.NO_SHOW, actor=therapist)
    appointment = AppointmentFactory(client=client_of_therapist)

    event = attendance_record(appointment_id=appointment.pk, outcome=Outcome.NO_SHOW, actor=therapist).event
    worker.wait_until(lambda: CheckInTask.objects.exists(), "the check-in task written")
    process_missed_session.delay(event.pk)
    process_missed_session.delay(event.pk)

    assert worker.wait_for_published() == ["True", "False", "False"]
    [task] = CheckInTask.objects.all()
    assert (task.step, task.step_number, task.misses) == (higher, 2, 3)
    assert worker.count(f"check-in tasks written event_id={event.pk} tasks=[{task.pk}]") == 1
