"""Email through an email service provider (Mailgun via django-anymail, against a fake of its API on 127.0.0.1), and
its signed tracking webhook marking rows delivered, bounced or complained."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from followups import reminders
from followups.models import OutboxMessage
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory
from tests.fakes.mailgun_api import tracking_payload
from tests.followups.test_sms_twilio import sweep

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
HOOK = "/hooks/mailgun/tracking/"
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def emailed(mailgun, practice, therapist):
    """An email reminder sent through the fake Mailgun: the row is sent, with Mailgun's id."""
    with time_machine.travel(AFTERNOON, tick=True):
        person = ClientFactory(practice=practice, clinician=therapist, first_name="Robin", email="robin@example.com")
        appointment = AppointmentFactory(client=person, start=AFTERNOON + timedelta(hours=23, minutes=50))
        plan = reminders.plan_for(practice)
        plan.first_hours, plan.first_channel = 24, "email"
        plan.save()
        reminders.reminders_write_due()
        assert sweep() == 1
    row = OutboxMessage.objects.get(appointment=appointment)
    assert row.status == Status.SENT
    return row


def post(client, payload):
    return client.post(HOOK, json.dumps(payload), content_type="application/json")


def test_the_providers_message_id_is_recorded_at_send_time(emailed, mailgun):
    assert emailed.provider_message_id == mailgun.ids[0]
    assert emailed.provider_message_id.startswith("<") and emailed.provider_message_id.endswith("@mg.example.com>")


def test_a_bounce_marks_the_row_could_not_reach_the_client(client, emailed):
    payload = tracking_payload("failed", emailed.provider_message_id, severity="permanent", reason="bounce")
    assert post(client, payload).status_code == 200
    emailed.refresh_from_db()
    assert (emailed.status, emailed.delivery_status) == (Status.SENT, "bounced")
    assert emailed.status_label == "Could not reach the client" and emailed.delivery_detail == "bounced"
    event = AuditEvent.objects.get(action="followups.delivery_failed")
    assert "robin@example.com" not in str(event.changes)


def test_a_temporary_failure_is_not_a_bounce(client, emailed):
    payload = tracking_payload("failed", emailed.provider_message_id, severity="temporary", reason="generic")
    assert post(client, payload).status_code == 200
    emailed.refresh_from_db()
    assert emailed.delivery_status == ""


def test_delivered_then_a_late_bounce_then_a_late_delivered(client, emailed):
    post(client, tracking_payload("delivered", emailed.provider_message_id))
    emailed.refresh_from_db()
    assert emailed.status_label == "Delivered"
    post(client, tracking_payload("failed", emailed.provider_message_id, severity="permanent", reason="bounce"))
    post(client, tracking_payload("delivered", emailed.provider_message_id))
    emailed.refresh_from_db()
    assert emailed.delivery_status == "bounced"


def test_a_complaint_outranks_delivered(client, emailed):
    post(client, tracking_payload("delivered", emailed.provider_message_id))
    post(client, tracking_payload("complained", emailed.provider_message_id))
    post(client, tracking_payload("delivered", emailed.provider_message_id))
    emailed.refresh_from_db()
    assert emailed.delivery_status == "complained"


def test_opens_and_clicks_are_not_recorded(client, emailed):
    for event in ("opened", "clicked"):
        assert post(client, tracking_payload(event, emailed.provider_message_id)).status_code == 200
    emailed.refresh_from_db()
    assert (emailed.delivery_status, emailed.delivery_status_at) == ("", None)


def test_a_bad_signature_is_refused_and_changes_nothing(client, emailed):
    forged = tracking_payload("failed", emailed.provider_message_id, key="guess", severity="permanent")
    assert post(client, forged).status_code == 403
    unsigned = tracking_payload("failed", emailed.provider_message_id, severity="permanent")
    del unsigned["signature"]
    assert post(client, unsigned).status_code == 403
    emailed.refresh_from_db()
    assert emailed.delivery_status == ""


def test_a_signed_event_we_cannot_read_is_a_400(client, emailed):
    payload = tracking_payload("delivered", emailed.provider_message_id)
    del payload["event-data"]["event"]
    assert post(client, payload).status_code == 400


def test_an_event_for_mail_we_did_not_send_changes_nothing(client, emailed):
    payload = tracking_payload("failed", "<someone-else@mg.example.com>", severity="permanent")
    assert post(client, payload).status_code == 200
    emailed.refresh_from_db()
    assert emailed.delivery_status == ""


def test_without_a_provider_the_webhook_is_not_there(client, settings):
    settings.EMAIL_PROVIDER = ""
    assert post(client, tracking_payload("delivered", "<x@y>")).status_code == 404
    settings.EMAIL_PROVIDER = "mailgun"
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": ""}
    assert post(client, tracking_payload("delivered", "<x@y>", key="")).status_code == 404


def test_the_webhook_takes_post_only(client, mailgun):
    assert client.get(HOOK).status_code == 405
