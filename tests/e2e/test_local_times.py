"""A client of a practice on the west coast sees the practice's local times, and the zone named."""

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.factories import ack_token, make_policy

pytestmark = pytest.mark.browser


def test_the_acknowledgement_page_shows_pacific_time_and_says_so(page, practice, client_of_therapist):
    practice.time_zone = "America/Los_Angeles"
    practice.phone = "+12125550100"
    practice.save(update_fields=["time_zone", "phone"])
    # 17:30 UTC is 09:30 in Los Angeles.
    version = make_policy(practice, effective_at=datetime(2025, 12, 2, 17, 30, tzinfo=UTC))
    token = ack_token(client_of_therapist, version)

    page.goto(f"/policy/ack/{token}/")

    expect(page.locator("#policy-terms")).to_contain_text("2 Dec 2025 09:30")
    expect(page.get_by_text("Times are Pacific Time.")).to_be_visible()
    expect(page.get_by_text("Call us on (212) 555-0100")).to_be_visible()
