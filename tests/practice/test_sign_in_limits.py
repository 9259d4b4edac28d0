"""Password spraying is limited per address; resets reveal nothing and are throttled; signing in is audited."""

import pytest
from django.urls import reverse

from practice import signin
from practice.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_one_address_trying_many_usernames_is_stopped(client, settings, therapist):
    settings.AXES_ENABLED = True
    for n in range(signin.ADDRESS_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": f"guess{n}", "password": "Summer2026!"})
        assert response.status_code == 200, n  # each username is new: axes alone never locks
    blocked = client.post(reverse("login"), {"username": "therapist", "password": "pw"})
    assert blocked.status_code == 429
    assert b"from this address" in blocked.content
    other = client.post(reverse("login"), {"username": "therapist", "password": "pw"}, REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 302


def test_failed_sign_ins_are_audited_with_and_without_a_known_username(client, practice, therapist):
    client.post(reverse("login"), {"username": "therapist", "password": "wrong"})
    client.post(reverse("login"), {"username": "hunter2", "password": "wrong"})
    known = AuditEvent.objects.get(action="account.sign_in_failed", object_id=therapist.pk)
    assert known.practice == practice and known.changes["known_username"] is True
    unknown = AuditEvent.objects.get(action="account.sign_in_failed", object_id=0)
    assert unknown.practice is None and "hunter2" not in str(unknown.changes)


def test_signing_in_and_out_is_audited(client, practice, therapist):
    client.post(reverse("login"), {"username": "therapist", "password": "pw"})
    client.post(reverse("logout"))
    actions = list(AuditEvent.objects.filter(actor=therapist).values_list("action", flat=True))
    assert "account.signed_in" in actions and "account.signed_out" in actions


def test_reset_requests_send_nothing_in_the_request_and_are_throttled(client, therapist, mailoutbox):
    for _ in range(signin.RESET_PER_EMAIL + 2):
        response = client.post(reverse("password_reset"), {"email": therapist.email})
        assert response.status_code == 302
    assert mailoutbox == []  # the worker sends it, not the request
    requested = AuditEvent.objects.filter(action="account.password_reset_requested", actor=therapist).count()
    assert requested == signin.RESET_PER_EMAIL


def test_the_reset_task_sends_one_mail_per_account_and_none_for_nobody(therapist, mailoutbox):
    from practice.tasks import send_password_reset

    assert send_password_reset([], False) == 0
    assert send_password_reset([therapist.pk], False) == 1
    assert mailoutbox[0].to == [therapist.email]
    assert "/accounts/reset/" in mailoutbox[0].body
