"""Texts through Twilio's Messages API (a fake of it on 127.0.0.1): what is sent, what is recorded, how errors map
onto the outbox's retry rules, and why a lost answer does not text the client twice."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from aftercare import tasks as aftercare_tasks
from followups import reminders
from followups.channels import ChannelAway, Outgoing, get_channel
from followups.models import OutboxMessage
from tests.factories import AppointmentFactory, ClientFactory
from tests.fakes.twilio_api import FROM_NUMBER, signed_post

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
# 14:00 in New York on a Wednesday: clear of quiet hours; the session is the next afternoon.
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)
NUMBER = "+12125550123"


@pytest.fixture
def afternoon():
    with time_machine.travel(AFTERNOON, tick=True) as traveller:
        yield traveller


@pytest.fixture
def texting_client(practice, therapist):
    return ClientFactory(
        practice=practice,
        clinician=therapist,
        first_name="Robin",
        phone=NUMBER,
        consent_sms=True,
        preferred_channel="sms",
    )


def sms_reminder(client, start=None) -> OutboxMessage:
    """A session tomorrow and its 24-hour text reminder (due ten minutes ago), written by the reminder sweep."""
    appointment = AppointmentFactory(client=client, start=start or AFTERNOON + timedelta(hours=23, minutes=50))
    plan = reminders.plan_for(client.practice)
    plan.first_hours, plan.first_channel = 24, "sms"
    plan.save()
    assert reminders.reminders_write_due() >= 1
    return OutboxMessage.objects.get(appointment=appointment)


def sweep() -> int:
    return aftercare_tasks.sweep_followups()


def test_a_text_reminder_goes_to_twilio_and_the_sid_is_recorded(afternoon, twilio_api, texting_client, settings):
    row = sms_reminder(texting_client)
    assert sweep() == 1
    [sent] = twilio_api.accepted()
    assert (sent.to, sent.fields["From"]) == (NUMBER, FROM_NUMBER)
    assert "Robin" in sent.body and "/c/" in sent.body
    # The callback URL names the row and generation, so a lost answer can still be matched.
    assert sent.fields["StatusCallback"] == f"{settings.SITE_URL}/hooks/twilio/status/?ref={row.pk}.0"
    row.refresh_from_db()
    assert (row.status, row.provider_message_id, row.attempts) == (Status.SENT, sent.sid, 1)
    assert twilio_api.bad_auth == 0


def test_a_practice_with_its_own_number_texts_from_it(afternoon, twilio_api, texting_client, practice):
    practice.sms_from_number = "+12125559999"
    practice.save()
    sms_reminder(texting_client)
    sweep()
    assert twilio_api.accepted()[0].fields["From"] == "+12125559999"


def test_a_messaging_service_is_used_when_there_is_no_number(afternoon, twilio_api, texting_client, settings):
    settings.TWILIO_FROM_NUMBER = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "2" * 32
    sms_reminder(texting_client)
    sweep()
    fields = twilio_api.accepted()[0].fields
    assert fields["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in fields


def test_a_number_twilio_refuses_fails_for_good_without_the_number_in_the_error(afternoon, twilio_api, texting_client):
    row = sms_reminder(texting_client)
    twilio_api.then(400, code=21211)
    sweep()
    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.FAILED, "Twilio 400 21211")
    assert NUMBER not in row.last_error and row.status_label == "Could not reach the client"


def test_too_many_requests_is_tried_again_later(afternoon, twilio_api, texting_client):
    row = sms_reminder(texting_client)
    twilio_api.then(429)
    sweep()
    row.refresh_from_db()
    assert (row.status, row.attempts, row.waiting_for_channel) == (Status.PENDING, 1, False)
    assert row.last_error == "Twilio 429 429"
    afternoon.shift(timedelta(minutes=2))
    sweep()
    row.refresh_from_db()
    assert row.status == Status.SENT and len(twilio_api.accepted()) == 1


def test_twilio_failing_makes_texts_wait_for_it_and_they_go_once_it_answers(afternoon, twilio_api, texting_client):
    row = sms_reminder(texting_client)
    twilio_api.then(500)
    sweep()
    row.refresh_from_db()
    assert (row.status, row.waiting_for_channel) == (Status.PENDING, True)
    # The next sweep asks Twilio whether it is back (a fetch of our account, nothing sent) and sends at once.
    sweep()
    row.refresh_from_db()
    assert row.status == Status.SENT and len(twilio_api.accepted()) == 1


def test_an_unreachable_api_is_the_channel_away(twilio_api, settings):
    twilio_api_port = twilio_api.port
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    channel = get_channel("sms")
    outgoing = Outgoing(to=NUMBER, subject="", text="Hi", html="", from_name="", message_id="<x@y>", ref="1.0")
    with pytest.raises(ChannelAway):
        channel.send(outgoing)
    assert channel.reachable() is False
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{twilio_api_port}"
    assert channel.reachable() is True


def test_an_answer_lost_after_twilio_took_the_text_does_not_text_twice(
    afternoon, twilio_api, texting_client, settings, client
):
    """The request times out after Twilio took it. Its status callback names the row (`ref`): the row adopts the
    SID, and the retry records the row as sent instead of texting again."""
    settings.TWILIO_TIMEOUT = 1
    row = sms_reminder(texting_client)
    twilio_api.then(201, hold=2.5)
    sweep()
    row.refresh_from_db()
    assert (row.status, row.provider_message_id) == (Status.PENDING, "")
    assert row.last_error == "Twilio ReadTimeout, outcome unknown"
    [taken] = twilio_api.requests
    response = signed_post(
        client,
        "/hooks/twilio/status/",
        {"MessageSid": taken.sid, "MessageStatus": "sent", "To": NUMBER},
        query=f"ref={row.pk}.0",
    )
    assert response.status_code == 204
    row.refresh_from_db()
    assert row.provider_message_id == taken.sid
    afternoon.shift(timedelta(minutes=2))
    sweep()
    row.refresh_from_db()
    assert row.status == Status.SENT
    assert len(twilio_api.requests) == 1


def test_send_again_is_a_new_text_with_its_own_sid(afternoon, twilio_api, texting_client, practice_admin):
    from followups.services import outbox_send_again

    row = sms_reminder(texting_client)
    sweep()
    row.refresh_from_db()
    first_sid = row.provider_message_id
    outbox_send_again(message=row, actor=practice_admin)
    sweep()
    row.refresh_from_db()
    second = twilio_api.accepted()[1]
    assert row.status == Status.SENT and row.provider_message_id == second.sid != first_sid
    assert second.fields["StatusCallback"].endswith(f"?ref={row.pk}.1")
