"""Delivery status in the message log: Mailgun reports a bounce through its signed webhook, and staff read
"Could not reach the client" on the Messages page and on Today, with a way to send it again."""

import json
from datetime import time, timedelta

import pytest
import requests
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import tasks as aftercare_tasks
from followups import reminders
from followups import tasks as followup_tasks
from followups.models import FollowUpPlan, OutboxMessage
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory
from tests.fakes.mailgun_api import tracking_payload

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_a_bounce_reported_by_the_provider_shows_as_could_not_reach_the_client(
    new_page, page_errors, live_server, mailgun, practice, therapist, client_of_therapist
):
    # No quiet hours, so the test does not depend on the time of day it runs.
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})
    plan = reminders.plan_for(practice)
    plan.first_hours = 24
    plan.save()
    start = (timezone.now() + timedelta(hours=23, minutes=30)).replace(second=0, microsecond=0)
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    assert followup_tasks.sweep_reminders() == 1
    assert aftercare_tasks.sweep_followups() == 1
    row = OutboxMessage.objects.get(appointment=session)
    assert row.provider_message_id == mailgun.ids[0]

    page = new_page()
    log_in(page, therapist)
    page.goto("/messages/")
    expect(page.locator(f"#message-{row.pk}").get_by_text("Sent", exact=True)).to_be_visible()

    # Mailgun posts the bounce to our public webhook, signed with the practice's signing key.
    bounce = tracking_payload("failed", row.provider_message_id, severity="permanent", reason="bounce")
    answer = requests.post(
        f"{live_server.url}/hooks/mailgun/tracking/",
        data=json.dumps(bounce),
        timeout=10,
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    # A forged report is refused.
    forged = tracking_payload("delivered", row.provider_message_id, key="guess")
    assert requests.post(f"{live_server.url}/hooks/mailgun/tracking/", json=forged, timeout=10).status_code == 403

    page.reload()
    line = page.locator(f"#message-{row.pk}")
    expect(line.get_by_text("Could not reach the client")).to_be_visible()
    expect(line.get_by_role("button", name="Send again")).to_be_visible()
    page_check(page, "message log, a bounced email")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(f"#message-{row.pk}")).to_be_visible()

    page.goto("/")
    expect(page.locator("#unreached")).to_contain_text("could not be delivered by email")
    page_check(page, "today, a bounced reminder")
