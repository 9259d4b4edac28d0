"""Providers switched on without their keys fail at start-up; provider errors on email map onto the outbox's retry
rules; a practice's own Twilio number is the operators' to set."""

import pytest
from django.core import checks

from followups.channels import ChannelAway, Outgoing, PermanentError, TransientError, get_channel
from followups.checks import providers_configured
from practice.models import Practice

OUTGOING = Outgoing(
    to="robin@example.com", subject="Hi", text="Hi", html="<p>Hi</p>", from_name="Office", message_id="<r.1@x>"
)


def ids(settings) -> list[str]:
    return [message.id for message in providers_configured(None)]


def test_the_defaults_need_no_provider(settings):
    assert ids(settings) == []


def test_twilio_without_its_keys_or_a_sender_stops_start_up(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = settings.TWILIO_FROM_NUMBER = ""
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    [error] = providers_configured(None)
    assert error.id == "followups.E003" and error.level == checks.ERROR
    assert "TWILIO_AUTH_TOKEN" in error.msg and "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID" in error.msg
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "1" * 32, "token"
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "1" * 32
    assert ids(settings) == []
    settings.TWILIO_TIMEOUT = 60  # longer than half the 90-second lease
    assert ids(settings) == ["followups.E004"]


def test_mailgun_without_its_signing_key_stops_start_up(settings):
    settings.EMAIL_PROVIDER = "mailgun"
    settings.ANYMAIL = {"MAILGUN_API_KEY": "k", "MAILGUN_SENDER_DOMAIN": "mg.example.com"}
    [error] = providers_configured(None)
    assert error.id == "followups.E006" and "MAILGUN_WEBHOOK_SIGNING_KEY" in error.msg
    settings.EMAIL_PROVIDER = "postmark"
    assert ids(settings) == ["followups.E005"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, PermanentError), (404, PermanentError), (429, TransientError), (500, ChannelAway), (401, ChannelAway)],
)
def test_the_providers_refusals_map_like_smtps(mailgun, status, error):
    mailgun.then(status)
    with pytest.raises(error) as raised:
        get_channel("email").send(OUTGOING)
    assert "robin@example.com" not in str(raised.value)


def test_an_email_provider_out_of_reach_is_the_channel_away(mailgun, settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_API_URL": "http://127.0.0.1:9/v3"}
    with pytest.raises(ChannelAway):
        get_channel("email").send(OUTGOING)


@pytest.mark.django_db
def test_only_operators_set_a_practices_own_number(practice, practice_admin, django_user_model):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    operator = django_user_model.objects.create_superuser("operator", "operator@example.com", "pw")
    model_admin = site._registry[Practice]
    request = RequestFactory().get("/")
    request.user = practice_admin
    assert "sms_from_number" in model_admin.get_readonly_fields(request, practice)
    request.user = operator
    assert "sms_from_number" not in model_admin.get_readonly_fields(request, practice)
    practice.sms_from_number = "12125550100"
    with pytest.raises(Exception, match="E.164"):
        practice.full_clean()
