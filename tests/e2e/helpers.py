"""What a person does in the browser, shared by the browser tests."""

import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from time import time as wall_clock

from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

PASSWORD = "pw"  # tests/conftest.py gives every persona this password


def log_in(page: Page, user, *, landing: str = r"^Today") -> None:
    """Log in through the real forms, as a person would (password, then the app's code if they have one).

    The one way every browser test signs in.
    """
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
        page.get_by_label("Code").fill(current_code(user))
        page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name=re.compile(landing))).to_be_visible()


def current_code(user) -> str:
    """The code the person's authenticator app shows now.

    A code is accepted once: a second sign-in within the same 30 seconds takes
    the next step's code, which the device accepts (tolerance 1).
    """
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    now = int((wall_clock() - device.t0) // device.step)
    wanted = max(now, (device.last_t if device.last_t is not None else -1) + 1)
    code = totp(device.bin_key, device.step, device.t0, device.digits, drift=wanted - now)
    return f"{code:0{device.digits}d}"


def started_minutes_ago(practice, minutes: int) -> datetime:
    """A start `minutes` ago, but never before midnight in the practice's zone.

    Today's page shows the practice's local day; just after midnight a
    plain `now - 30 minutes` would fall on yesterday and the test would flake.
    """
    now = timezone.now()
    midnight = datetime.combine(local_today(practice), time.min, practice_zone(practice))
    return max(now - timedelta(minutes=minutes), midnight)


def practice_zone(practice) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(str(practice.time_zone))


def local_today(practice) -> date:
    return timezone.now().astimezone(practice_zone(practice)).date()
