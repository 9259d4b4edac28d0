"""Every page a member reaches loads under the strict CSP, with nothing in the console."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import AppointmentFactory

from .helpers import log_in

pytestmark = pytest.mark.browser


def test_every_page_in_the_menu_loads_without_browser_errors(page, practice_admin, client_of_therapist):
    upcoming = AppointmentFactory(client=client_of_therapist, start=timezone.now() + timedelta(days=1))
    log_in(page, practice_admin)
    menu = page.get_by_role("navigation")
    for link, heading in [
        ("Week", r"^Week of"),
        ("Needs outcome", r"^Needs outcome$"),
        ("Clients", r"^Clients$"),
        ("Book", r"^Book a session$"),
        ("Policies", r"^Cancellation policy$"),
        ("Fees", r"^Fees$"),
        ("Waitlist", r"^Waitlist$"),
        ("Today", r"^Today"),
    ]:
        menu.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1, name=re.compile(heading))).to_be_visible()

    menu.get_by_role("link", name="Clients", exact=True).click()
    page.get_by_role("link", name="Reed, Robin").click()
    expect(page.get_by_role("heading", name="Robin Reed")).to_be_visible()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit Robin Reed")).to_be_visible()
    page.goto(upcoming.get_absolute_url())
    expect(page.get_by_role("heading", name="Move Robin Reed's session")).to_be_visible()


def test_csp_violation_is_reported(page, therapist, page_errors):
    """The alarm the other tests rely on: the CSP is served and a breach is caught."""
    log_in(page, therapist)

    page_errors.allow(r"style-src|inline style")

    # An inline style attribute, as a template with style="..." would have.
    with page.expect_console_message(lambda m: m.text.startswith("CSP violation: style-src")):
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">x</p>')")

    assert any("CSP violation: style-src" in m for m in page_errors.messages)
