"""A forgotten password, end to end: the browser asks, a real worker sends, a real SMTP server receives.

The request itself sends nothing (so it answers alike for known and unknown
addresses): the worker does, as in production.
"""

import re

import pytest
from playwright.sync_api import expect

from practice.models import AuditEvent

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _ask_for_a_reset(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgotten your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def test_reset_link_from_the_email_sets_a_new_password(journey_worker, journey_smtp, page, therapist, live_server):
    _ask_for_a_reset(page, therapist.email)
    [received] = journey_smtp.wait_for(1, timeout=60)
    assert received.envelope_to == [therapist.email]
    assert received.message["Subject"] == "Reset your Reconnect password"
    text = received.message.get_body(("plain",)).get_content()
    link = re.search(r"https?://\S+/accounts/reset/\S+/", text).group(0)
    assert link.startswith(live_server.url)
    assert AuditEvent.objects.filter(action="account.password_reset_requested", actor=therapist).count() == 1

    page.goto(re.sub(r"^https?://[^/]+", "", link))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    new_password = "quiet-harbour-lantern-47"
    page.get_by_label("New password*", exact=True).fill(new_password)
    page.get_by_label("New password confirmation").fill(new_password)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    therapist.refresh_from_db()
    assert therapist.check_password(new_password)


def test_an_unknown_address_gets_the_same_page_and_no_mail(journey_worker, journey_smtp, page, therapist):
    _ask_for_a_reset(page, "nobody@example.org")
    _ask_for_a_reset(page, therapist.email)
    # The one mail that arrives is the known address's; the unknown one sent nothing.
    [received] = journey_smtp.wait_for(1, timeout=60)
    assert received.envelope_to == [therapist.email]
