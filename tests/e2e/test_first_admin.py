"""A practice from nothing: the operator runs `practice_create`, the first admin follows the printed link."""

import base64
import io
import re

import pytest
from django.core.management import call_command
from django_otp.oath import totp
from playwright.sync_api import expect

from practice.models import Membership
from tests.browser_fixtures import page_check

pytestmark = pytest.mark.browser

STRONG = "violet-harbour-1957"


def test_the_first_admin_follows_the_printed_link_and_must_set_up_two_factors(page, page_errors):
    page_errors.allow(r"status of 404")  # the used link, at the end
    out = io.StringIO()
    call_command(
        "practice_create",
        "--name=Maple Street Practice",
        "--time-zone=Europe/London",
        "--country=GB",
        "--admin-email=alex@example.org",
        "--admin-first-name=Alex",
        stdout=out,
    )
    path = re.search(r"https?://\S+?(/accounts/invitation/\S+/)", out.getvalue()).group(1)

    page.goto(path)
    expect(page.get_by_role("heading", name="Join Maple Street Practice")).to_be_visible()
    expect(page.get_by_label("Username")).to_have_value("alex@example.org")
    page_check(page, "first admin's invitation")

    page.get_by_label("Username").fill("alex")
    page.get_by_label(re.compile(r"^\s*Password\W*$")).fill("short")
    page.get_by_label("Password again").fill("short")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("This password is too short")).to_be_visible()
    page_check(page, "first admin's invitation with errors")

    page.get_by_label(re.compile(r"^\s*Password\W*$")).fill(STRONG)
    page.get_by_label("Password again").fill(STRONG)
    page.get_by_role("button", name="Create my account").click()

    # An admin signs in with two factors: setting them up comes before anything else.
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    page_check(page, "first admin sets up two factors")
    membership = Membership.objects.select_related("practice").get(user__username="alex")
    assert (membership.practice.name, membership.role) == ("Maple Street Practice", Membership.Role.ADMIN)
    page.goto("/staff/")  # nothing else opens yet
    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()

    key = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Code").fill(f"{totp(base64.b32decode(key + '=' * (-len(key) % 8))):06d}")
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in is on")).to_be_visible()
    page.get_by_role("link", name="I have saved them, continue").click()
    # On to the page they asked for: Staff, where they invite the rest of the practice.
    expect(page.get_by_role("heading", level=1, name="Staff")).to_be_visible()
    page_check(page, "the new practice's Staff page")
    page.get_by_role("navigation").get_by_role("link", name="Today", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()
    page_check(page, "the new practice's first Today")

    # The practice starts with the default ladder, no admin needed to add it.
    page.goto("/policies/")
    page.get_by_role("link", name="Repeated misses").click()
    expect(page.get_by_role("heading", level=1, name="Repeated misses")).to_be_visible()
    expect(page.get_by_text("Check in personally")).to_be_visible()
    expect(page.get_by_text("Suggest a conversation about what would help")).to_be_visible()
    page_check(page, "the new practice's default ladder")

    # The link is used up.
    page.goto(path)
    expect(page.get_by_role("heading", name="This invitation can't be used")).to_be_visible()
