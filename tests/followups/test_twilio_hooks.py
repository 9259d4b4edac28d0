"""Twilio's callbacks to us, signed as Twilio signs them: delivery reports (/hooks/twilio/status/) and the client's
replies (/hooks/twilio/inbound/): C/YES confirms the next reminded session, STOP turns texts off for good."""

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from appointments.models import Appointment
from followups.models import OutboxMessage
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, PracticeFactory
from tests.fakes.twilio_api import AUTH_TOKEN, FROM_NUMBER, signed_post
from tests.followups.test_sms_twilio import NUMBER, sms_reminder, sweep

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status
STATUS = "/hooks/twilio/status/"
INBOUND = "/hooks/twilio/inbound/"


@pytest.fixture
def afternoon():
    import time_machine

    from tests.followups.test_sms_twilio import AFTERNOON

    with time_machine.travel(AFTERNOON, tick=True) as traveller:
        yield traveller


@pytest.fixture
def texting_client(practice, therapist):
    return ClientFactory(practice=practice, clinician=therapist, first_name="Robin", phone=NUMBER, consent_sms=True)


@pytest.fixture
def sent_text(afternoon, twilio_api, texting_client):
    """A reminder texted through the fake: the row is sent, with Twilio's SID."""
    row = sms_reminder(texting_client)
    assert sweep() == 1
    row.refresh_from_db()
    assert row.status == Status.SENT
    return row


def report(client, row, status, **extra):
    fields = {"MessageSid": row.provider_message_id, "MessageStatus": status, "To": NUMBER, **extra}
    return signed_post(client, STATUS, fields, query=f"ref={row.pk}.{row.generation}")


def reply(client, body, *, to=FROM_NUMBER, sender=NUMBER):
    return signed_post(client, INBOUND, {"From": sender, "To": to, "Body": body, "MessageSid": "SM" + "3" * 32})


# ------------------------------------------------------------ status callbacks


def test_a_delivered_report_marks_the_text_delivered(client, sent_text):
    assert report(client, sent_text, "delivered").status_code == 204
    sent_text.refresh_from_db()
    assert (sent_text.delivery_status, sent_text.status_label) == ("delivered", "Delivered")
    assert sent_text.delivery_status_at is not None


def test_an_undelivered_text_shows_as_could_not_reach_with_the_error_code_only(client, sent_text):
    assert report(client, sent_text, "undelivered", ErrorCode="30003").status_code == 204
    sent_text.refresh_from_db()
    assert sent_text.status == Status.SENT and sent_text.could_not_reach
    assert (sent_text.status_label, sent_text.delivery_detail) == ("Could not reach the client", "Twilio error 30003")
    event = AuditEvent.objects.get(action="followups.delivery_failed")
    assert event.object_id == sent_text.pk and NUMBER not in str(event.changes)


def test_reports_out_of_order_or_twice_never_move_the_status_back(client, sent_text):
    report(client, sent_text, "undelivered")
    sent_text.refresh_from_db()
    first_at = sent_text.delivery_status_at
    for late in ("sent", "delivered", "undelivered", "queued"):
        assert report(client, sent_text, late).status_code == 204
    sent_text.refresh_from_db()
    assert (sent_text.delivery_status, sent_text.delivery_status_at) == ("undelivered", first_at)
    assert AuditEvent.objects.filter(action="followups.delivery_failed").count() == 1


def test_a_report_for_a_text_we_do_not_know_changes_nothing(client, sent_text):
    fields = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    assert signed_post(client, STATUS, fields, query="ref=999999.0").status_code == 204
    sent_text.refresh_from_db()
    assert sent_text.delivery_status == ""
    assert not OutboxMessage.objects.filter(provider_message_id="SM" + "9" * 32).exists()


def test_a_bad_signature_is_refused_and_changes_nothing(client, sent_text):
    fields = {"MessageSid": sent_text.provider_message_id, "MessageStatus": "undelivered"}
    forged = signed_post(client, STATUS, fields, token="not-the-token")  # noqa: S106
    unsigned = client.post(STATUS, urlencode(fields), content_type="application/x-www-form-urlencoded")
    # Signed for another URL (a ref of another row), posted to ours.
    elsewhere = RequestValidator(AUTH_TOKEN).compute_signature(f"{settings.SITE_URL}{STATUS}?ref=1.0", fields)
    replayed = client.post(
        f"{STATUS}?ref=2.0",
        urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=elsewhere,
    )
    assert (forged.status_code, unsigned.status_code, replayed.status_code) == (403, 403, 403)
    sent_text.refresh_from_db()
    assert sent_text.delivery_status == ""


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"MessageStatus": "delivered"},
        {"MessageSid": "not-a-sid", "MessageStatus": "delivered"},
        {"MessageSid": "SM" + "1" * 32, "MessageStatus": "x" * 100},
    ],
)
def test_bad_fields_with_a_good_signature_are_a_400_not_a_500(client, twilio_api, fields):
    assert signed_post(client, STATUS, fields).status_code == 400


def test_the_hooks_take_post_only(client, twilio_api):
    assert client.get(STATUS).status_code == 405
    assert client.get(INBOUND).status_code == 405


# ------------------------------------------------------------------ replies


def test_c_confirms_the_next_reminded_session_and_thanks_the_client(client, sent_text):
    response = reply(client, " c ")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    body = response.content.decode()
    assert "<Message>" in body and "is confirmed" in body and "Robin" not in body
    appointment = Appointment.objects.get(pk=sent_text.appointment_id)
    assert appointment.confirmed_at is not None
    event = AuditEvent.objects.get(action="appointment.confirmed")
    assert event.changes["via"] == "text reply" and event.object_id == appointment.pk


def test_yes_confirms_too_and_a_second_reply_changes_nothing(client, sent_text):
    assert "is confirmed" in reply(client, "Yes").content.decode()
    confirmed_at = Appointment.objects.get(pk=sent_text.appointment_id).confirmed_at
    again = reply(client, "YES")
    assert again.status_code == 200 and "<Message>" not in again.content.decode()
    assert Appointment.objects.get(pk=sent_text.appointment_id).confirmed_at == confirmed_at
    assert AuditEvent.objects.filter(action="appointment.confirmed").count() == 1


def test_c_confirms_nothing_without_a_reminder_sent_for_the_session(client, afternoon, twilio_api, texting_client):
    from tests.followups.test_sms_twilio import AFTERNOON

    appointment = AppointmentFactory(client=texting_client, start=AFTERNOON + timedelta(days=3))
    response = reply(client, "C")
    assert "<Message>" not in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.confirmed_at is None


def test_a_moved_session_is_not_confirmed_by_a_reply_to_the_old_reminder(client, sent_text):
    Appointment.objects.filter(pk=sent_text.appointment_id).update(
        start=sent_text.appointment_start + timedelta(days=1),
        end=sent_text.appointment_start + timedelta(days=1, minutes=50),
    )
    assert "<Message>" not in reply(client, "C").content.decode()
    assert Appointment.objects.get(pk=sent_text.appointment_id).confirmed_at is None


def test_other_words_get_no_reply_and_change_nothing(client, sent_text):
    response = reply(client, "Can we talk about my last session?")
    assert response.content.decode().endswith("<Response/>")
    assert Appointment.objects.get(pk=sent_text.appointment_id).confirmed_at is None
    assert not AuditEvent.objects.filter(action__startswith="client.sms").exists()


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "CANCEL", "end", "QUIT", "stopall"])
def test_stop_turns_texts_off_audited_and_every_later_text_is_cancelled(client, sent_text, twilio_api, word):
    response = reply(client, word)
    assert response.status_code == 200 and "<Message>" not in response.content.decode()
    texting_client = sent_text.client
    texting_client.refresh_from_db()
    assert texting_client.consent_sms is False
    event = AuditEvent.objects.get(action="client.sms_opted_out")
    assert event.client_ref == texting_client.pk
    # The next reminder, due now, is stopped by the outbox's consent check: nothing more reaches Twilio.
    later = sms_reminder(texting_client, start=sent_text.appointment_start + timedelta(minutes=5))
    sweep()
    later.refresh_from_db()
    assert (later.status, later.cancel_code) == (Status.CANCELLED, "no_consent_sms")
    assert len(twilio_api.accepted()) == 1
    # A second STOP changes and audits nothing more.
    reply(client, "STOP")
    assert AuditEvent.objects.filter(action="client.sms_opted_out").count() == 1


def test_start_does_not_consent_again_but_is_recorded_for_staff(client, sent_text):
    reply(client, "STOP")
    reply(client, "START")
    texting_client = sent_text.client
    texting_client.refresh_from_db()
    assert texting_client.consent_sms is False
    assert AuditEvent.objects.filter(action="client.sms_start_received", client_ref=texting_client.pk).exists()


def test_a_reply_belongs_to_the_practice_whose_number_received_it(client, afternoon, twilio_api, therapist):
    from tests.followups.test_sms_twilio import AFTERNOON

    ours = PracticeFactory(sms_from_number="+12125550001")
    theirs = PracticeFactory(sms_from_number="+12125550002")
    sessions = {}
    for practice in (ours, theirs):
        person = ClientFactory(practice=practice, phone=NUMBER, consent_sms=True)
        # Theirs is sooner, but the reply went to our number.
        start = AFTERNOON + (timedelta(hours=23, minutes=50) if practice == ours else timedelta(hours=23, minutes=55))
        sessions[practice.pk] = sms_reminder(person, start=start).appointment
    sweep()
    assert len(twilio_api.accepted()) == 2
    assert "is confirmed" in reply(client, "C", to="+12125550001").content.decode()
    assert Appointment.objects.get(pk=sessions[ours.pk].pk).confirmed_at is not None
    assert Appointment.objects.get(pk=sessions[theirs.pk].pk).confirmed_at is None
    # STOP to our number stops our client only.
    reply(client, "STOP", to="+12125550001")
    assert list(AuditEvent.objects.filter(action="client.sms_opted_out").values_list("practice_id", flat=True)) == [
        ours.pk
    ]


def test_on_a_shared_number_the_soonest_reminded_session_is_confirmed(client, afternoon, twilio_api, practice):
    from tests.followups.test_sms_twilio import AFTERNOON

    other = PracticeFactory()
    here = ClientFactory(practice=practice, phone=NUMBER, consent_sms=True)
    there = ClientFactory(practice=other, phone=NUMBER, consent_sms=True)
    later = sms_reminder(here, start=AFTERNOON + timedelta(hours=23, minutes=55)).appointment
    sooner = sms_reminder(there, start=AFTERNOON + timedelta(hours=23, minutes=50)).appointment
    sweep()
    reply(client, "C")
    assert Appointment.objects.get(pk=sooner.pk).confirmed_at is not None
    assert Appointment.objects.get(pk=later.pk).confirmed_at is None


def test_a_forged_reply_is_refused_and_stops_nothing(client, sent_text):
    fields = {"From": NUMBER, "To": FROM_NUMBER, "Body": "STOP"}
    assert signed_post(client, INBOUND, fields, token="guess").status_code == 403  # noqa: S106
    sent_text.client.refresh_from_db()
    assert sent_text.client.consent_sms is True


@pytest.mark.parametrize("fields", [{}, {"From": NUMBER}, {"From": NUMBER, "To": FROM_NUMBER, "Body": "x" * 2000}])
def test_a_reply_missing_fields_is_a_400(client, twilio_api, fields):
    assert signed_post(client, INBOUND, fields).status_code == 400


@pytest.mark.parametrize("path", [STATUS, INBOUND])
def test_a_body_that_is_not_a_form_is_refused_never_a_500(client, twilio_api, path):
    broken = client.post(
        path, b"--x\r\nbroken", content_type="multipart/form-data; boundary=\x00bad", HTTP_X_TWILIO_SIGNATURE="a"
    )
    garbled = client.post(
        path, b"\xff\xfe=\xff", content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE="abc"
    )
    json_body = client.post(path, b'{"MessageSid": 1}', content_type="application/json", HTTP_X_TWILIO_SIGNATURE="a")
    assert (broken.status_code, garbled.status_code, json_body.status_code) == (400, 403, 403)


def test_a_report_costs_a_few_queries(client, sent_text, django_assert_max_num_queries):
    # Find the row by SID, one conditional UPDATE, and the savepoint pair around it.
    for _ in range(2):
        with django_assert_max_num_queries(4):
            assert report(client, sent_text, "delivered").status_code == 204
