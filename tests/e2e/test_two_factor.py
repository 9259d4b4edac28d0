"""Two-factor sign-in in the browser: an admin sets up an authenticator app, then signs in with a recovery code."""

import base64
import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.factories import MembershipFactory

from .helpers import PASSWORD, log_in

pytestmark = pytest.mark.browser


def test_new_admin_sets_up_an_app_then_signs_in_again_with_a_recovery_code(page, new_page, practice):
    admin = MembershipFactory(practice=practice, role="admin", user__username="newadmin", user__is_staff=True).user
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("newadmin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    # What a person types into their app when they cannot scan: the key under the code.
    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    assert base64.b32encode(device.bin_key).decode().rstrip("=") == key
    page.get_by_label("Code").fill(f"{totp(base64.b32decode(key + '=' * (-len(key) % 8))):06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"\d{5}-\d{5}", c) for c in codes)
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()

    # Another day, phone lost: a recovery code signs in once.
    other = new_page()
    other.goto("/accounts/login/")
    other.get_by_label("Username").fill("newadmin")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Log in").click()
    expect(other.get_by_role("heading", name="Enter your code")).to_be_visible()
    other.get_by_label("Code").fill("00000-00000" if codes[0] != "00000-00000" else "11111-11111")
    other.get_by_role("button", name="Continue").click()
    expect(other.get_by_text("That code did not work")).to_be_visible()
    # After a wrong code the next try waits a second (django-otp's throttling), as a person typing does.
    other.wait_for_timeout(1500)
    other.get_by_label("Code").fill(codes[0])
    other.get_by_role("button", name="Continue").click()
    expect(other.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()


def test_an_enrolled_admin_signs_in_with_the_apps_code(page, practice_admin):
    log_in(page, practice_admin)
    page.goto("/admin/")
    expect(page.get_by_role("heading", name=re.compile("administration", re.I))).to_be_visible()
