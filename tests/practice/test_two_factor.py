"""Two-factor sign-in for staff, and the idle timeout. Through the real forms, not force_login."""

import base64
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from practice.models import AuditEvent
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _password(client, username):
    response = client.post(reverse("login"), {"username": username, "password": "pw"})
    assert response.status_code == 302, response.content
    return response


def _code(device, drift=0):
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, drift=drift):06d}"


@pytest.fixture
def new_admin(practice):
    """A practice admin who has not set up two factors yet."""
    return MembershipFactory(practice=practice, role="admin", user__username="newadmin", user__is_staff=True).user


def test_an_admin_without_an_app_is_sent_to_set_one_up_from_every_page(client, new_admin):
    _password(client, "newadmin")
    for url in ("/", "/clients/", "/fees/", "/admin/", "/policies/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("two_factor_setup")), url


def test_setting_up_the_app_shows_recovery_codes_once_and_lets_the_admin_in(client, practice, new_admin):
    _password(client, "newadmin")
    page = client.get(reverse("two_factor_setup"))
    assert page.status_code == 200
    assert b"data:image/svg+xml;base64," in page.content
    device = TOTPDevice.objects.get(user=new_admin, confirmed=False)
    assert base64.b32encode(device.bin_key).decode().rstrip("=")[:4].encode() in page.content

    wrong = client.post(reverse("two_factor_setup"), {"code": "000000" if _code(device) != "000000" else "111111"})
    assert b"did not match" in wrong.content
    assert client.get("/").status_code == 302

    # A wrong code makes the next try wait a moment (django-otp's throttling); people take that long anyway.
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        done = client.post(reverse("two_factor_setup"), {"code": _code(device), "next": "/clients/"})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert b'href="/clients/"' in done.content
    assert client.get("/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(practice=practice, action="account.two_factor_enrolled", actor=new_admin).exists()


def test_an_enrolled_admin_passes_the_second_step_with_a_fresh_code_only(client, practice, practice_admin):
    device = TOTPDevice.objects.get(user=practice_admin)
    _password(client, "admin")
    response = client.get("/clients/")
    assert response["Location"] == reverse("two_factor_verify") + "?next=%2Fclients%2F"

    bad = client.post(reverse("two_factor_verify"), {"code": "12345x", "next": "/clients/"})
    assert b"did not work" in bad.content
    assert AuditEvent.objects.filter(action="account.second_factor_failed", actor=practice_admin).count() == 1

    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        good = client.post(reverse("two_factor_verify"), {"code": _code(device), "next": "/clients/"})
    assert good["Location"] == "/clients/"
    assert client.get("/clients/").status_code == 200
    assert AuditEvent.objects.filter(action="account.second_factor_passed", actor=practice_admin).exists()

    # The same code cannot be used again in a new session.
    other = type(client)()
    _password(other, "admin")
    again = other.post(reverse("two_factor_verify"), {"code": _code(device)})
    assert again.status_code == 200 and b"did not work" in again.content


def test_a_recovery_code_signs_in_once(client, practice_admin):
    from practice.two_factor import recovery_codes_replace

    codes = recovery_codes_replace(user=practice_admin)
    _password(client, "admin")
    assert client.post(reverse("two_factor_verify"), {"code": codes[0]})["Location"] == "/"
    assert StaticToken.objects.filter(device__user=practice_admin).count() == 9

    other = type(client)()
    _password(other, "admin")
    assert other.post(reverse("two_factor_verify"), {"code": codes[0]}).status_code == 200  # used up


def test_the_next_after_the_second_step_never_leaves_the_site(client, practice_admin):
    device = TOTPDevice.objects.get(user=practice_admin)
    _password(client, "admin")
    response = client.post(reverse("two_factor_verify"), {"code": _code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_django_admins_own_login_does_not_skip_the_second_step(client, practice_admin):
    response = client.post("/admin/login/", {"username": "admin", "password": "pw", "next": "/admin/"})
    assert response.status_code == 302
    page = client.get("/admin/")
    assert page.status_code == 302 and page["Location"].startswith(reverse("two_factor_verify"))


def test_clinicians_sign_in_with_a_password_unless_the_practice_asks_for_two_factors(client, practice, therapist):
    _password(client, "therapist")
    assert client.get("/").status_code == 200
    practice.require_two_factor = True
    practice.save(update_fields=["require_two_factor"])
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("two_factor_setup"))


def test_htmx_requests_are_sent_to_the_second_step_as_a_whole_page(client, practice_admin):
    _password(client, "admin")
    response = client.post("/appointments/1/outcome/", {"outcome": "attended"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("two_factor_verify")


def test_an_idle_session_is_signed_out_after_the_practices_timeout(client, practice, therapist):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _password(client, "therapist")
        assert client.get("/").status_code == 200
    with time_machine.travel(start + timedelta(minutes=29), tick=False):
        assert client.get("/").status_code == 200  # activity restarts the clock
    with time_machine.travel(start + timedelta(minutes=29 + 31), tick=False):
        response = client.get("/clients/")
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        assert client.get("/clients/")["Location"].startswith(reverse("login"))  # really signed out
    practice.idle_timeout_minutes = 90
    practice.save(update_fields=["idle_timeout_minutes"])
    with time_machine.travel(start + timedelta(hours=2), tick=False):
        _password(client, "therapist")
    with time_machine.travel(start + timedelta(hours=2, minutes=60), tick=False):
        assert client.get("/").status_code == 200
