"""A client's "I can't make it" inside the notice window, through a real Celery worker and broker:
the worker assesses the fee under the acknowledged terms, writes no follow-up, and mails the clinician once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from aftercare import responses
from appointments.models import NoShowEvent
from followups import reminders
from followups.models import ClientLink, OutboxMessage
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from tests.factories import AppointmentFactory, make_policy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_late_cant_make_it_is_charged_by_the_worker_with_no_follow_up(
    worker, practice, client_of_therapist, therapist
):
    version = make_policy(practice, notice_hours=24, late_cancel_fee=Decimal("40.00"), hold_hours=0)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    start = timezone.now() + timedelta(hours=20)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    token = reminders.session_link_create(purpose=ClientLink.Purpose.CANT_MAKE_IT, appointment=session)

    responses.client_cant_make_it(token=token, late_seen=True)

    event = NoShowEvent.objects.get(appointment=session)
    worker.wait_until(lambda: FeeAssessment.objects.filter(missed_session=event).exists(), "fee assessed")
    # Three tasks on commit: the after-miss work, the clinician's notice, and the waitlist's look at the
    # freed time (nobody waits, so it offers it to no one); each ran once and did its work.
    assert sorted(name for name, _id in worker.published) == [
        "aftercare.tasks.notify_clinician_response",
        "aftercare.tasks.process_missed_session",
        "waitlist.tasks.advance_slot",
    ]
    assert sorted(worker.wait_for_published()) == ["0", "True", "True"]
    fee = FeeAssessment.objects.get(missed_session=event)
    assert (fee.amount, fee.state) == (Decimal("40.00"), FeeAssessment.State.DUE)
    assert not OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.FOLLOWUP).exists()
    assert worker.count(f"missed session processed event_id={event.pk}") == 1
