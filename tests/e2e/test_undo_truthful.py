"""Undo tells the therapist truthfully what happened to the follow-up (issue 8, item 4)."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from appointments.models import NoShowEvent
from followups.models import OutboxMessage
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import log_in, started_minutes_ago

pytestmark = pytest.mark.browser


@pytest.fixture
def started(practice, client_of_therapist):
    return AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))


def test_undo_says_nothing_had_been_sent(page, therapist, started):
    log_in(page, therapist)
    row = page.locator(f"tr#appt-{started.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.get_by_role("button", name="Undo")).to_be_visible()

    row.get_by_role("button", name="Undo").click()

    # The plan's two messages, both still waiting.
    expect(row.get_by_role("status")).to_have_text("Nothing had been sent to the client: the follow-ups were stopped.")
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"cancelled"}
    page_check(page, "/ (undo, follow-up stopped)")


def test_undo_says_the_follow_up_was_already_on_its_way(page, therapist, started):
    log_in(page, therapist)
    row = page.locator(f"tr#appt-{started.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    # A worker has passed the point of no return: the message is with the mail server.
    event = NoShowEvent.objects.get(appointment=started)
    OutboxMessage.objects.filter(missed_session=event, step="first").update(
        status="sending", claim_token="t" * 32, handed_over_at=timezone.now(), lease_until=timezone.now()
    )

    row.get_by_role("button", name="Undo").click()

    expect(row.get_by_role("status")).to_have_text(
        "The follow-up was already on its way to the client and could not be stopped. The later one will not be sent."
    )
    expect(row.locator(".status-badge")).to_have_text("Scheduled")
    page_check(page, "/ (undo, follow-up on its way)")
