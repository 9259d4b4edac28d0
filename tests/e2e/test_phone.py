"""Every screen on a 390 px phone: rows become cards, the action buttons stay on the screen.

`page_check` (tests/browser_fixtures.py) runs axe-core at 1280 and 390 px and
fails if anything is wider than the phone. Here it is called explicitly on
pages full of rows, and on states a plain GET cannot reach (the safety banner,
a row swapped by htmx, a form with errors, the client's pages after booking).
"""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from followups.models import OutboxMessage
from followups.services import reschedule_link_create
from policies.services import acknowledgement_record
from tests.browser_fixtures import PHONE, page_check
from tests.factories import AppointmentFactory, ClientFactory, give_availability, make_policy

from .helpers import log_in, started_minutes_ago

pytestmark = pytest.mark.browser

ROW_ACTIONS = ["Attended", "No-show", "Late cancel", "Cancel", "Move"]

# Every page in the menu, and who sees it.
MENU = [
    ("Today", r"^Today", False),
    ("Week", r"^Week of", False),
    ("Needs outcome", r"^Needs outcome$", False),
    ("Clients", r"^Clients$", False),
    ("Book", r"^Book a session$", False),
    ("Availability", r"^Availability", False),
    ("Messages", r"^Message log$", False),
    ("Policies", r"^Cancellation policy$", False),
    ("Fees", r"^Fees$", True),
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The client's page counts bad links per address in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def busy_day(practice, therapist, front_desk, client_of_therapist):
    """A day with something in every list: a session to mark, a miss with a fee and
    follow-ups, yesterday's unmarked session, and a client awaiting a safety check."""
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    to_mark = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 20))
    missed = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 90))
    event = aftercare.attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist).event
    assert tasks.process_missed_session(event.pk)
    # An unmarked session from yesterday, for Needs outcome.
    AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=1))

    fragile = ClientFactory(
        practice=practice, clinician=therapist, first_name="Alexandria", last_name="Featherstonehaugh-Whitfield"
    )
    fragile.needs_safety_check = True
    fragile.save(update_fields=["needs_safety_check"])
    held = AppointmentFactory(client=fragile, start=started_minutes_ago(practice, 60))
    held_event = aftercare.attendance_record(appointment_id=held.pk, outcome="no_show", actor=therapist).event
    assert tasks.process_missed_session(held_event.pk)
    give_availability(practice, therapist, start_hour=9, end_hour=17)
    return to_mark


def _inside_phone(locator: Locator) -> None:
    """Visible, and its box lies wholly within 0..390 px."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{locator} is at {box}"


def _action(row: Locator, name: str) -> Locator:
    """A row's action: a button, or a link styled as one (Cancel, Move)."""
    return row.get_by_role("button", name=name, exact=True).or_(row.get_by_role("link", name=name, exact=True))


def _open_menu(page: Page, link: str) -> None:
    page.get_by_role("button", name="Menu").click()
    # Wait for Bootstrap's collapse to finish opening: a click on a link still sliding in can be lost.
    expect(page.locator("#nav.collapse.show")).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()


@pytest.mark.parametrize("persona", ["therapist", "front_desk", "practice_admin"])
def test_every_menu_page_fits_a_phone_with_the_row_buttons_on_screen(
    request, page, smtp_settings, persona, busy_day, client_of_therapist
):
    user = request.getfixturevalue(persona)
    member = user.membership
    # One follow-up could not be delivered: "Could not reach the client" on Today.
    smtp_settings.refuse_with = (550, "No such mailbox")
    OutboxMessage.objects.filter(step="first").update(due_at=busy_day.start)
    assert tasks.sweep_followups() >= 1
    page.set_viewport_size(PHONE)
    log_in(page, user)

    row = page.locator(f"#appt-{busy_day.pk}")
    for name in ROW_ACTIONS:
        _inside_phone(_action(row, name))
    if member.is_admin or member.is_clinician:  # front desk sees no safety checks: clinical
        expect(page.locator("#safety-checks")).to_contain_text("Featherstonehaugh-Whitfield")
        _inside_phone(page.locator("#safety-checks").get_by_role("button", name="Check done"))
    expect(page.locator("#unreached")).to_contain_text("Robin Reed")
    page_check(page, "/ (safety banner, could not reach)")

    for link, heading, whole_practice_only in MENU:
        if whole_practice_only and not member.sees_whole_practice:
            expect(page.get_by_role("navigation").get_by_role("link", name=link, exact=True)).to_have_count(0)
            continue
        _open_menu(page, link)
        expect(page.get_by_role("heading", level=1, name=re.compile(heading))).to_be_visible()
        if link == "Week":
            for name in ROW_ACTIONS:
                _inside_phone(_action(row, name))
        if link == "Needs outcome":  # yesterday's session, never marked
            for name in ROW_ACTIONS:
                _inside_phone(_action(page.locator("table.schedule tbody tr").first, name))
        page_check(page)

    # The client page: fees and follow-ups as cards, their buttons on screen.
    _open_menu(page, "Clients")
    page.get_by_role("link", name="Reed, Robin").click()
    expect(page.get_by_role("heading", level=1, name="Robin Reed")).to_be_visible()
    if member.sees_whole_practice:
        _inside_phone(page.locator("#client-fees").get_by_role("button", name="Waive"))
    _inside_phone(page.locator("#client-followups").get_by_role("button", name="I've contacted them").first)
    page_check(page)


def test_other_practice_sees_none_of_the_rows_on_a_phone(page, busy_day, other_practice_therapist, page_errors):
    page.set_viewport_size(PHONE)
    log_in(page, other_practice_therapist)

    expect(page.locator(f"#appt-{busy_day.pk}")).to_have_count(0)
    expect(page.locator("#safety-checks")).to_have_count(0)
    page_errors.allow(r"status of 404")
    response = page.goto(busy_day.client.get_absolute_url())
    assert response.status == 404
    expect(page.get_by_role("heading", level=1, name="Not found")).to_be_visible()
    page_check(page, "404 page")


def test_states_a_get_cannot_reach_pass_axe_and_fit_a_phone(page, busy_day, front_desk):
    page.set_viewport_size(PHONE)
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(front_desk.get_username())
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(re.compile("enter a correct username and password"))).to_be_visible()
    page_check(page, "/accounts/login/ (wrong password)")

    log_in(page, front_desk)
    row = page.locator(f"#appt-{busy_day.pk}")
    row.get_by_role("link", name="Cancel", exact=True).click()
    expect(row.get_by_role("button", name="Confirm cancel")).to_be_visible()
    _inside_phone(row.get_by_role("button", name="Confirm cancel"))
    page_check(page, "/ (cancel form in a row)")
    row.get_by_role("button", name="Back").click()
    expect(row.get_by_role("button", name="Late cancel")).to_be_visible()

    _open_menu(page, "Clients")
    page.get_by_role("link", name="Add a client").click()
    page.get_by_label("First name").fill("Dana")
    page.get_by_label("Last name").fill("Fields")
    page.get_by_label("Preferred channel").select_option(label="Email")
    page.get_by_label("Clinician").select_option(label=busy_day.clinician.get_full_name())
    page.get_by_role("button", name="Save client").click()
    expect(page.get_by_label("Email", exact=True)).to_have_class(re.compile(r"\bis-invalid\b"))
    page_check(page, "/clients/new/ (form with errors)")

    # Without htmx (a link opened in a new tab): the cancel page of its own.
    page.goto(f"/appointments/{busy_day.pk}/cancel/")
    expect(page.get_by_role("button", name="Confirm cancel")).to_be_visible()

    page.get_by_role("button", name="Menu").click()
    expect(page.locator("#nav.collapse.show")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1, name="Log in")).to_be_visible()
    page_check(page, "/accounts/login/ (after logging out)")


def test_locked_out_page_fits_a_phone(page, page_errors, settings, front_desk):
    settings.AXES_ENABLED = True
    page_errors.allow(r"status of 429")
    page.set_viewport_size(PHONE)
    page.goto("/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill(front_desk.get_username())
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()

    expect(page.get_by_role("heading", level=1)).to_have_text("Too many attempts")
    page_check(page, "/accounts/login/ (locked out)")


def test_client_pages_fit_a_phone(new_page, page_errors, practice, therapist, client_of_therapist, busy_day):
    event = NoShowEvent.objects.get(appointment__client=client_of_therapist)
    path = urlsplit(reschedule_link_create(event=event, days=14)).path
    page = new_page()
    page.set_viewport_size(PHONE)

    page.goto(path)
    _inside_phone(page.get_by_role("button", name="Book this time"))
    page_check(page, "/r/{token}/ (times offered)")
    page.locator("label.btn").first.click()
    page.get_by_role("button", name="Book this time").click()
    expect(page.get_by_role("status")).to_contain_text("You're booked for")
    page_check(page, "/r/{token}/ (booked)")

    page_errors.allow(r"status of 404")
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link can't be used any more")
    page_check(page, "/r/{token}/ (link used)")

    page_errors.allow(r"status of 4\d\d")
    page.goto("/policy/ack/" + signing.dumps({"nonsense": 1}) + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired or is not valid")
    page_check(page, "/policy/ack/{token}/ (not valid)")


@pytest.mark.parametrize("width", [576, 800, 992, 1024])
def test_list_pages_do_not_scroll_sideways_between_phone_and_desktop(page, width, busy_day, practice_admin, therapist):
    # Long names, as real ones can be: a page must fit whatever names the factories happen to draw.
    therapist.first_name, therapist.last_name = "Bartholomew", "Featherstonehaugh-Whitfield"
    therapist.save(update_fields=["first_name", "last_name"])
    log_in(page, practice_admin)
    page.set_viewport_size({"width": width, "height": 900})
    for path in [
        "/",
        "/week/",
        "/needs-outcome/",
        "/clients/",
        busy_day.client.get_absolute_url(),
        "/availability/",
        "/messages/",
        "/policies/",
        "/fees/",
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{path} scrolls sideways at {width} px"
