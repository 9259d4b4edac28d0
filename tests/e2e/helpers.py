"""What a person does in the browser, shared by the browser tests."""

import re
import zoneinfo
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

PASSWORD = "pw"  # tests/conftest.py gives every persona this password


def log_in(page: Page, user) -> None:
    """Log in through the real form, as a person would, and land on Today."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()


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
