"""Adding clients, booking them, and finding them again."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from appointments.models import Appointment, AppointmentSeries, Client
from tests.browser_fixtures import page_check
from tests.factories import ClientFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser


def _book(page: Page, *, client: str, clinician: str, day, start: str, weeks: int) -> None:
    page.get_by_role("link", name="Book", exact=True).click()
    expect(page.get_by_role("heading", name="Book a session")).to_be_visible()
    page.get_by_label("Client").select_option(label=client)
    page.get_by_label("Clinician").select_option(label=clinician)
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Starts at").fill(start)
    page.get_by_label("Length (minutes)").fill("50")
    page.get_by_label("Session type").select_option(label="Individual")
    page.get_by_label("Where").select_option(label="Telehealth")
    page.get_by_label("Repeat weekly for (weeks)").fill(str(weeks))
    page.get_by_role("button", name="Book", exact=True).click()


def test_front_desk_adds_a_client_and_books_a_weekly_series(page, practice, front_desk, therapist):
    log_in(page, front_desk)
    page.get_by_role("link", name="Clients").click()
    page.get_by_role("link", name="Add a client").click()
    expect(page.get_by_role("heading", name="Add a client")).to_be_visible()

    page.get_by_label("First name").fill("Dana")
    page.get_by_label("Last name").fill("Fields")
    page.get_by_label("Preferred channel").select_option(label="Email")
    page.get_by_label("Clinician").select_option(label=therapist.get_full_name())
    page.get_by_role("button", name="Save client").click()

    # Email is preferred but there is no address: the message sits by the field.
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#div_id_email")).to_contain_text("Email is the preferred channel, so an address is needed.")
    # What was typed is kept.
    expect(page.get_by_label("First name")).to_have_value("Dana")
    assert not Client.objects.filter(last_name="Fields").exists()

    email.fill("dana@example.com")
    page.get_by_role("button", name="Save client").click()

    expect(page.get_by_role("heading", name="Dana Fields")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Client added.")
    client = Client.objects.get(last_name="Fields")
    assert (client.practice, client.clinician, client.email) == (practice, therapist, "dana@example.com")

    first_day = local_today(practice) + timedelta(days=8)
    _book(page, client="Dana Fields", clinician=therapist.get_full_name(), day=first_day, start="10:00", weeks=4)

    expect(page.get_by_role("heading", name="Dana Fields")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Booked 4 sessions.")
    expect(page.locator("#attendance-summary")).to_contain_text("Upcoming 4")
    sessions = page.get_by_role("row").filter(has_text="Telehealth")
    expect(sessions).to_have_count(4)
    for i in range(4):
        expect(sessions.nth(i)).to_contain_text("Scheduled")
    zone = practice_zone(practice)
    booked = list(Appointment.objects.filter(client=client).order_by("start"))
    assert [a.start for a in booked] == [
        datetime.combine(first_day + timedelta(weeks=week), time(10), zone) for week in range(4)
    ]
    assert {(a.clinician, a.modality, a.duration) for a in booked} == {
        (therapist, Appointment.Modality.TELEHEALTH, timedelta(minutes=50))
    }
    assert AppointmentSeries.objects.get(client=client).weeks == 4

    # Two weeks from the week before: the first is free, the second overlaps
    # the first booked session. Nothing is booked until staff choose; the clash is listed.
    _book(
        page,
        client="Dana Fields",
        clinician=therapist.get_full_name(),
        day=first_day - timedelta(weeks=1),
        start="10:30",
        weeks=2,
    )

    expect(page.get_by_role("heading", name="Book a session")).to_be_visible()
    expect(page.get_by_text("1 of the 2 weeks clash with sessions already booked.")).to_be_visible()
    expect(page.locator("#series-clashes tbody tr td")).to_have_text(
        [f"{first_day:%a} {first_day.day} {first_day:%b %Y}", "10:30–11:20", "Dana Fields, 10:00–10:50"]
    )
    assert Appointment.objects.filter(client=client).count() == 4
    assert AppointmentSeries.objects.filter(client=client).count() == 1


def test_client_search_updates_results_as_you_type(
    page, practice, front_desk, client_of_therapist, therapist2, other_client
):
    ClientFactory(practice=practice, clinician=therapist2, first_name="Alex", last_name="Morgan")
    log_in(page, front_desk)
    page.get_by_role("link", name="Clients").click()
    results = page.locator("#client-results")
    expect(results).to_contain_text("Reed, Robin")
    expect(results).to_contain_text("Morgan, Alex")
    url = page.url
    page.evaluate("window.__noReload = true")
    search = page.get_by_role("searchbox", name="Search clients")

    search.press_sequentially("obi")

    expect(results.get_by_role("link")).to_have_text(["Reed, Robin"])
    page_check(page, "/clients/ (results swapped in by htmx)")

    # The other practice's Sky Stone is never found.
    search.fill("sto")

    expect(results).to_contain_text("No clients match.")
    expect(results.get_by_role("link")).to_have_count(0)
    assert page.url == url
    assert page.evaluate("window.__noReload === true"), "the page was loaded again"
