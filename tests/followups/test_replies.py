"""Replies reach a person: Reply-To on every email to a client, and a contact line that never reads "call us on ."."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from followups import services, templating
from followups.channels import Outgoing
from followups.channels.sms import SmsChannel
from practice.emails import contact_line
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(practice):
    plan = services.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 0
    plan.save()
    return plan


def send_first_message(client, therapist):
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(minutes=30))
    aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    # Clear of quiet hours whatever the hour the tests run at.
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        tasks.sweep_followups()


def test_a_follow_up_carries_the_practices_reply_to(plan, practice, therapist, client_of_therapist):
    practice.reply_to_email = "frontdesk@riverside.example"
    practice.save()
    send_first_message(client_of_therapist, therapist)
    [sent] = mail.outbox
    assert sent.reply_to == ["frontdesk@riverside.example"]
    assert sent.message()["Reply-To"] == "frontdesk@riverside.example"
    assert "You can reply to this email or call us on +1 555 0100." in sent.body


def test_without_a_reply_to_there_is_no_header_and_no_promise_of_one(plan, practice, therapist, client_of_therapist):
    send_first_message(client_of_therapist, therapist)
    [sent] = mail.outbox
    assert sent.reply_to == [] and sent.message()["Reply-To"] is None
    assert "reply to this email" not in sent.body
    assert "You can call us on +1 555 0100." in sent.body


def test_a_practice_without_phone_or_reply_to_never_says_call_us_on_nothing(
    plan, practice, therapist, client_of_therapist
):
    practice.phone = ""
    practice.save()
    services.template_save(
        practice=practice,
        kind="second",
        subject="Still here",
        body="Hi {first_name},\n{reschedule_link}\nOr call us on {practice_phone}.\nTake care",
        actor=None,
    )
    plan.second_after_days = 1
    plan.save()
    send_first_message(client_of_therapist, therapist)
    with time_machine.travel(timezone.now() + timedelta(days=3)):
        tasks.sweep_followups()
    first, second = mail.outbox
    for sent in (first, second):
        assert "call us" not in sent.body and " on ." not in sent.body
        assert "\n\n\n" not in sent.body
    assert "Or call" not in second.body and second.body.endswith("\nTake care\n")


def test_the_contact_line_says_what_the_practice_has():
    line = contact_line
    assert line(phone="1", reply_to="a@b.example", by_email=True) == "You can reply to this email or call us on 1."
    assert line(phone="", reply_to="a@b.example", by_email=True) == "You can reply to this email."
    assert line(phone="1", reply_to="", by_email=True) == "You can call us on 1."
    # A text message has no Reply-To.
    assert line(phone="1", reply_to="a@b.example", by_email=False) == "You can call us on 1."
    assert line(phone="", reply_to="a@b.example", by_email=False) == ""


def test_a_line_with_an_empty_contact_is_left_out_and_the_rest_kept():
    rendered = templating.render(
        subject="Hi",
        body="Hello\n\n{contact_line} No need to explain.\n\nCall {practice_phone} today.\n\nBye",
        values={"contact_line": "", "practice_phone": ""},
    )
    assert rendered.body == "Hello\n\nBye\n"


def test_a_text_message_ignores_reply_to(settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path)
    SmsChannel().send(
        Outgoing(
            to="+15550199",
            subject="s",
            text="Hello",
            html="",
            from_name="Office",
            message_id="<m.1@x>",
            reply_to="a@b.example",
        )
    )
    [written] = tmp_path.iterdir()
    assert "a@b.example" not in written.read_text()


@pytest.mark.parametrize("subject", ["Hello\r\nBcc: victim@example.com", "Hello\nthere"])
def test_a_subject_with_a_line_break_is_refused(practice, subject):
    with pytest.raises(ValidationError, match="one line"):
        services.template_save(practice=practice, kind="second", subject=subject, body="{reschedule_link}", actor=None)


def test_a_filled_in_subject_stays_one_line():
    rendered = templating.render(subject="From {practice_name}", body="x", values={"practice_name": "A\r\nBcc: x"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


def test_a_reply_to_with_a_line_break_is_never_sent_as_a_header(plan, practice, therapist, client_of_therapist):
    # Forms refuse it; a row written some other way must still be harmless.
    type(practice).objects.filter(pk=practice.pk).update(reply_to_email="a@b.example\r\nBcc: x@y.example")
    send_first_message(client_of_therapist, therapist)
    [sent] = mail.outbox
    assert sent.reply_to == [] and "Bcc" not in str(sent.message())


def test_an_sms_follow_up_offers_the_phone_not_a_reply(plan, practice, therapist, settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path)
    practice.reply_to_email = "frontdesk@riverside.example"
    practice.save()
    client = ClientFactory(practice=practice, clinician=therapist, preferred_channel="sms", phone="+1 555 0199")
    client.consent_sms = True
    client.save()
    send_first_message(client, therapist)
    [written] = tmp_path.iterdir()
    text = written.read_text()
    assert "You can call us on +1 555 0100." in text and "reply" not in text


@pytest.mark.parametrize(
    "phone, reply_to, line",
    [
        (
            "+1 555 0100",
            "frontdesk@riverside.example",
            "Any questions? You can reply to this email or call us on +1 555 0100.",
        ),
        ("", "", None),
    ],
)
@time_machine.travel(datetime(2026, 6, 10, 18, 0, tzinfo=UTC), tick=True)  # a New York afternoon: not quiet hours
def test_the_acknowledgement_email_reaches_a_person_too(
    client, front_desk, practice, client_of_therapist, phone, reply_to, line
):
    from django.urls import reverse

    from followups.models import OutboxMessage
    from followups.tasks import send_message
    from tests.factories import make_policy

    practice.phone, practice.reply_to_email = phone, reply_to
    practice.save()
    make_policy(practice)
    client.force_login(front_desk)
    client.post(reverse("policies:ack_send_link", args=[client_of_therapist.pk]))
    # The request queues it; a worker sends it.
    [row] = OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.ACK_REQUEST)
    send_message(row.pk)
    [sent] = mail.outbox
    assert sent.reply_to == ([reply_to] if reply_to else [])
    html = sent.alternatives[0][0]
    if line:
        assert line in sent.body and line in html
    else:
        assert "call us" not in sent.body and "call us" not in html and "Any questions" not in sent.body
