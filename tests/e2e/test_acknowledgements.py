"""A new policy version: the admin emails the clients who have not acknowledged it, watches the
progress, and a client accepts through the link in the email."""

import re
from datetime import time, timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import tasks
from followups.models import FollowUpPlan, OutboxMessage
from policies.models import Acknowledgement, PolicyVersion
from policies.services import acknowledgement_record
from practice.models import AuditEvent
from tests.browser_fixtures import AXE_SOURCE, DESKTOP, PHONE, page_check
from tests.factories import AppointmentFactory, ClientFactory, make_policy

from .helpers import log_in

pytestmark = pytest.mark.browser

_AXE_IN = """
async (selector) => {
  const result = await axe.run(selector, {resultTypes: ["violations"]});
  return result.violations.filter(v => v.impact === "critical" || v.impact === "serious").map(v => v.id);
}
"""


def _section_passes_axe_and_fits_a_phone(page, selector: str) -> None:
    """axe-core on the new markup only, at both widths, after an htmx swap a GET cannot reach.

    The whole page is checked at teardown too (tests/browser_fixtures.py).
    """
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    try:
        for size in (DESKTOP, PHONE):
            page.set_viewport_size(size)
            assert page.evaluate(_AXE_IN, selector) == [], size
        box = page.locator(selector).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    finally:
        page.set_viewport_size(DESKTOP)


def test_admin_emails_the_new_version_to_those_who_have_not_acknowledged_and_a_client_accepts(
    new_page, page_errors, smtp_settings, practice, practice_admin, therapist, client_of_therapist
):
    first = make_policy(practice)
    # No quiet hours, so the test does not depend on the time of day it runs.
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})
    casey = ClientFactory(practice=practice, clinician=therapist, first_name="Casey", last_name="Cole")
    sam = ClientFactory(practice=practice, clinician=therapist, first_name="Sam", consent_email=False)
    for client in (client_of_therapist, casey, sam):
        AppointmentFactory(client=client, clinician=therapist, start=timezone.now() + timedelta(days=3))
        acknowledgement_record(client=client, version=first, method="paper")

    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    panel = admin.locator("#ack-requests")
    expect(panel).to_contain_text("Every active client has acknowledged v1.")
    admin.get_by_label("Notice window (hours)").fill("48")
    admin.get_by_role("button", name="Save as a new version").click()

    expect(admin.get_by_role("alert")).to_have_text("Saved as version 2.")
    expect(panel).to_contain_text("3 active clients have not acknowledged v2.")
    panel.get_by_role("button", name="Email the acknowledgement link to the 2 who consent to email").click()

    expect(admin.get_by_role("alert")).to_have_text("Emailing the link to 2 clients: progress below.")
    progress = admin.locator("#ack-progress")
    expect(progress).to_contain_text("2 queued · 0 sent · 0 could not reach · 0 acknowledged so far")
    expect(panel.get_by_role("button")).to_have_count(0)
    version = PolicyVersion.objects.get(practice=practice, number=2)
    assert AuditEvent.objects.get(action="policy.ack_requests_queued").changes == {"count": 2, "version": 2}

    # The minute sweep sends them; the panel follows by itself (htmx polling).
    assert tasks.sweep_followups() == 2
    expect(progress).to_contain_text("0 queued · 2 sent · 0 could not reach · 0 acknowledged so far")
    expect(progress).not_to_have_attribute("hx-trigger", re.compile("every"))
    _section_passes_axe_and_fits_a_phone(admin, "#ack-requests")
    assert sorted(r.envelope_to[0] for r in smtp_settings.messages) == ["casey@example.com", "robin@example.com"]

    # Casey opens the link from the email at home: no login.
    mail = next(r.message for r in smtp_settings.messages if r.envelope_to == ["casey@example.com"])
    assert mail["Subject"] == "Please review our cancellation policy"
    assert practice.sender_name in mail["From"]
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Hello Casey,") and "Cole" not in text
    home = new_page()
    home.goto(urlsplit(re.search(r"https?://\S+/policy/ack/\S+/", text).group(0)).path)
    expect(home.locator("#policy-terms")).to_contain_text("(version 2)")
    assert not Acknowledgement.objects.filter(client=casey, version=version).exists()
    # Checked here: after the test the link is used, and a GET gets the kind page instead.
    page_check(home, "/policy/ack/{token}/ (open)")
    home.get_by_role("button", name="I have read and accept this policy").click()

    expect(home.get_by_role("status")).to_have_text("Thank you, Casey. We have a record that you've read this policy.")
    ack = Acknowledgement.objects.get(client=casey, version=version)
    assert (ack.method, ack.recorded_by) == ("link", None)
    # The link was single use: the kind page answers 404.
    page_errors.allow(r"status of 404")
    home.reload()
    expect(home.get_by_role("heading", name="This link has expired or is not valid")).to_be_visible()

    admin.reload()
    expect(progress).to_contain_text("0 queued · 2 sent · 0 could not reach · 1 acknowledged so far")
    expect(panel).to_contain_text("2 active clients have not acknowledged v2.")

    # The message log says which wording each request used and offers no "send again" to an acknowledged one.
    admin.get_by_role("navigation").get_by_role("link", name="Messages", exact=True).click()
    casey_row = admin.locator(f"#message-{OutboxMessage.objects.get(client=casey).pk}")
    expect(casey_row).to_contain_text("Policy acknowledgement request (policy v2)")
    expect(casey_row).to_contain_text("wording: default")
