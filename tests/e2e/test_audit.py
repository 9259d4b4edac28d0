"""The Audit page as a practice admin uses it: who opened a client record, filtered, exported."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .helpers import log_in

pytestmark = pytest.mark.browser


def test_admin_sees_who_opened_a_client_record_and_filters_by_that_client(
    new_page, practice_admin, therapist, client_of_therapist
):
    mine = new_page()
    log_in(mine, therapist)
    mine.goto(client_of_therapist.get_absolute_url())
    expect(mine.get_by_role("heading", name="Robin Reed")).to_be_visible()
    mine.goto("/clients/?q=Reed")

    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Audit").click()
    expect(admin.get_by_role("heading", name="Audit", exact=True)).to_be_visible()
    rows = admin.locator("table tbody tr")
    expect(rows.filter(has_text="client.viewed").first).to_be_visible()
    searched = rows.filter(has_text="clients.searched").first
    expect(searched).to_contain_text("results: 1")
    expect(searched).not_to_contain_text("Reed")

    admin.locator("table tbody tr", has_text="client.viewed").first.get_by_role(
        "link", name=re.compile("client #")
    ).click()
    expect(admin.get_by_text("Showing events about")).to_contain_text("Robin Reed")
    expect(rows.filter(has_text="clients.searched")).to_have_count(0)

    admin.get_by_label("Person").select_option(label=therapist.get_full_name())
    admin.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text(therapist.get_full_name())
    with admin.expect_download() as download:
        admin.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("at,person,action") and "client.viewed" in text


def test_only_admins_see_the_audit_link(page, therapist):
    log_in(page, therapist)
    expect(page.get_by_role("navigation").get_by_role("link", name="Audit")).to_have_count(0)
