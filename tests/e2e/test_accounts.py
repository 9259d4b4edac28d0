"""Logging in, resetting a password, and the practice boundary."""

import re

import pytest
from playwright.sync_api import expect

from .helpers import log_in

pytestmark = pytest.mark.browser


def test_forgotten_password_sends_one_reset_email(page, therapist, mailoutbox):
    page.goto("/accounts/login/")

    page.get_by_role("link", name="Forgotten your password?").click()

    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill(therapist.email)
    page.get_by_role("button", name="Send the link").click()

    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [therapist.email]
    assert message.subject == "Reset your Reconnect password"
    assert re.search(r"/accounts/reset/[^/]+/[^/]+/", message.body)


def test_reset_link_from_the_email_sets_a_new_password(page, therapist, mailoutbox):
    page.goto("/accounts/password_reset/")
    page.get_by_label("Email").fill(therapist.email)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mailoutbox[0].body).group(0)
    path = re.sub(r"^https?://[^/]+", "", link)

    page.goto(path)

    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    new_password = "quiet-harbour-lantern-47"
    page.get_by_label("New password*", exact=True).fill(new_password)
    page.get_by_label("New password confirmation").fill(new_password)
    page.get_by_role("button", name="Set password").click()

    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    therapist.refresh_from_db()
    assert therapist.check_password(new_password)


def test_other_practice_cannot_open_a_client_page(page, other_practice_therapist, client_of_therapist, page_errors):
    page_errors.allow(r"status of 404")
    log_in(page, other_practice_therapist)

    response = page.goto(f"/clients/{client_of_therapist.pk}/")

    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Robin Reed")).to_have_count(0)
