"""A text planned for a number that staff must now check is not sent to it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Client
from followups import services
from followups.models import OutboxMessage
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db


def test_a_text_for_a_number_flagged_after_planning_is_cancelled_with_the_reason(practice, therapist, settings):
    settings.SMS_BACKEND = "console"
    services.plan_for(practice)
    robin = ClientFactory(
        practice=practice,
        clinician=therapist,
        preferred_channel="sms",
        phone="+12125550199",
        consent_sms=True,
        email="",
        consent_email=False,
    )
    appointment = AppointmentFactory(client=robin, start=timezone.now() - timedelta(minutes=30))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    first = OutboxMessage.objects.filter(missed_session=event).order_by("due_at").first()
    assert first.channel == OutboxMessage.Channel.SMS
    Client.objects.filter(pk=robin.pk).update(phone="call mum", phone_needs_review=True)
    OutboxMessage.objects.filter(pk=first.pk).update(due_at=timezone.now() - timedelta(minutes=1))

    tasks.send_followup(first.pk)

    first.refresh_from_db()
    assert first.status == OutboxMessage.Status.CANCELLED
    assert first.cancel_reason == "The phone number needs checking"
    assert first.sent_at is None
