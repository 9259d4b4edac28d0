"""Insights as staff use it: the figures for the practice, one clinician, a bad date, the CSV."""

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser_fixtures import page_check
from tests.insights.history import make_history

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def history(practice, therapist, therapist2):
    make_history(practice, seed=4, sessions=160, around=timezone.now(), days=80, clinicians=[therapist, therapist2])


def _open(page):
    page.get_by_role("navigation").get_by_role("link", name="Insights").click()
    expect(page.get_by_role("heading", level=1, name="Insights")).to_be_visible()


def test_front_desk_reads_the_practice_figures_filters_by_clinician_and_downloads_csv(
    new_page, front_desk, therapist2, history
):
    page = new_page()
    log_in(page, front_desk)
    _open(page)
    expect(page.get_by_role("heading", name="Attendance by week")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Attendance by week: weekly rates"))).to_be_visible()
    overall = page.locator("section", has=page.get_by_role("heading", name="Attendance over the period"))
    expect(overall.locator("tbody td").first).to_contain_text(re.compile(r"% \(\d+ of \d+ sessions\)"))
    page_check(page, "insights, practice")

    page.get_by_label("Clinician", exact=True).select_option(label=therapist2.get_full_name())
    page.get_by_label("Compare with the previous period").check()
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("(previous period)")).to_be_visible()
    by_clinician = page.locator("section", has=page.get_by_role("heading", name="By clinician"))
    expect(by_clinician.locator("tbody tr")).to_have_count(1)
    expect(by_clinician.locator("tbody th")).to_have_text(therapist2.get_full_name())
    page_check(page, "insights, one clinician compared")

    # Every figure has the previous period beside each row; the chart says it is this period only.
    weekday = page.locator("section", has=page.get_by_role("heading", name="By weekday"))
    expect(weekday.get_by_role("columnheader", name="Attended, previous period")).to_have_count(1)
    expect(weekday.locator('td[data-label="Attended, previous period"]').first).to_contain_text(
        re.compile(r"\d+ of \d+ sessions")
    )
    expect(weekday.get_by_text("the table has the previous period")).to_be_visible()
    reminders = page.locator("section", has=page.get_by_role("heading", name="Reminders"))
    expect(reminders.locator('td[data-label="Share, previous period"]')).to_have_count(4)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(weekday.locator('td[data-label="Attended, previous period"]').first).to_be_visible()
    page_check(page, "insights, compared at 390 px")
    page.set_viewport_size({"width": 1280, "height": 800})

    with page.expect_download() as download:
        page.get_by_role("link", name="Export all as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("figure,group,measure,count,of,percent,note")
    assert therapist2.get_full_name() in text


def test_a_clinician_sees_their_caseload_and_a_bad_date_gets_a_message(page, therapist, history):
    log_in(page, therapist)
    _open(page)
    expect(page.get_by_text("Your caseload")).to_be_visible()
    expect(page.get_by_label("Clinician", exact=True)).to_have_count(0)
    page.get_by_label("From", exact=True).fill("2026-05-01")
    page.get_by_label("To", exact=True).fill("2026-04-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_contain_text("The first day must be on or before the last day.")
    page_check(page, "insights, bad period")
