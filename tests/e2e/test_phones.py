"""Staff see a client number that could not be read, and correct it."""

import pytest
from playwright.sync_api import Page, expect

from appointments.models import Client
from tests.factories import ClientFactory

from .helpers import log_in

pytestmark = pytest.mark.browser


def _open_clients(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Clients", exact=True).click()


def test_front_desk_corrects_a_number_flagged_for_checking(page, practice, therapist, front_desk):
    casey = ClientFactory(
        practice=practice,
        clinician=therapist,
        first_name="Casey",
        last_name="Cole",
        phone="call mum",
        phone_needs_review=True,
    )
    log_in(page, front_desk)
    _open_clients(page)
    row = page.get_by_role("row").filter(has_text="Cole, Casey")
    expect(row).to_contain_text("check this number")

    page.get_by_role("link", name="Cole, Casey").click()
    expect(page.locator("#phone-check")).to_have_text("check this number")
    page.get_by_role("link", name="Correct it").click()
    page.get_by_label("Phone", exact=True).fill("555-0100")
    page.get_by_role("button", name="Save client").click()

    expect(page.locator("#div_id_phone")).to_contain_text("Enter a phone number we can call or text")
    page.get_by_label("Phone", exact=True).fill("(212) 555-0142")
    page.get_by_role("button", name="Save client").click()

    expect(page.get_by_role("alert")).to_have_text("Client saved.")
    expect(page.get_by_role("link", name="(212) 555-0142")).to_have_attribute("href", "tel:+12125550142")
    expect(page.locator("#phone-check")).to_have_count(0)
    casey.refresh_from_db()
    assert (casey.phone, casey.phone_needs_review) == ("+12125550142", False)
    assert Client.objects.filter(phone_needs_review=True).count() == 0
