"""Logging in, resetting a password, and the practice boundary."""

import pytest
from playwright.sync_api import expect

from .helpers import log_in

pytestmark = pytest.mark.browser


def test_other_practice_cannot_open_a_client_page(page, other_practice_therapist, client_of_therapist, page_errors):
    page_errors.allow(r"status of 404")
    log_in(page, other_practice_therapist)

    response = page.goto(f"/clients/{client_of_therapist.pk}/")

    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Robin Reed")).to_have_count(0)
