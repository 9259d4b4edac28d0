"""A text reminder through a real Celery worker to the fake Twilio Messages API, and Twilio's signed report back."""

from datetime import time, timedelta

import pytest
from django.utils import timezone

from aftercare.tasks import sweep_followups
from followups import reminders, services
from followups.models import OutboxMessage
from followups.tasks import sweep_reminders
from tests.factories import AppointmentFactory, ClientFactory
from tests.fakes.twilio_api import FROM_NUMBER, signed_post

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NUMBER = "+12125550123"


def test_the_worker_texts_a_reminder_through_twilio_and_the_report_marks_it_delivered(
    worker, texts, practice, therapist, client
):
    # No quiet hours, so the test reads the same at any time of day.
    plan = services.plan_for(practice)
    plan.quiet_start = plan.quiet_end = time(0, 0)
    plan.save()
    reminder_plan = reminders.plan_for(practice)
    reminder_plan.first_hours, reminder_plan.first_channel = 24, "sms"
    reminder_plan.save()
    person = ClientFactory(practice=practice, clinician=therapist, first_name="Robin", phone=NUMBER, consent_sms=True)
    appointment = AppointmentFactory(client=person, start=timezone.now() + timedelta(hours=23, minutes=50))
    rows = OutboxMessage.objects.filter(appointment=appointment)

    sweep_reminders.delay()
    worker.wait_until(rows.exists, "the reminder row written")
    sweep_followups.delay()
    worker.wait_until(lambda: rows.get().status == OutboxMessage.Status.SENT, "the reminder sent")

    [sent] = texts.wait_for(1)
    row = rows.get()
    assert (sent.to, sent.fields["From"], row.provider_message_id) == (NUMBER, FROM_NUMBER, sent.sid)
    assert "Robin" in sent.body and "/c/" in sent.body
    assert sent.fields["StatusCallback"].endswith(f"/hooks/twilio/status/?ref={row.pk}.0")
    # Ids only in the worker's log: never the number or the text.
    assert NUMBER not in worker.log() and "Robin" not in worker.log()

    fields = {"MessageSid": sent.sid, "MessageStatus": "delivered", "To": NUMBER}
    assert signed_post(client, "/hooks/twilio/status/", fields, query=f"ref={row.pk}.0").status_code == 204
    row.refresh_from_db()
    assert (row.delivery_status, row.status_label) == ("delivered", "Delivered")
    # A second sweep finds nothing to text again.
    sweep_followups.delay()
    worker.wait_for_published()
    assert len(texts.requests) == 1
