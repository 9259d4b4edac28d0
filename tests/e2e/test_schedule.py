"""Marking outcomes on the schedule: rows change in place through htmx."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from aftercare.tasks import process_missed_session
from appointments.models import Appointment, NoShowEvent
from tests.factories import AppointmentFactory, ClientFactory

from .helpers import log_in, practice_zone, started_minutes_ago

pytestmark = pytest.mark.browser


def _row(page: Page, appointment: Appointment):
    return page.locator(f"tr#appt-{appointment.pk}")


def _mark_page_loaded(page: Page) -> None:
    """Leave a mark in the window that a full page load would wipe out."""
    page.evaluate("window.__noReload = true")


def _assert_not_reloaded(page: Page, url: str) -> None:
    assert page.url == url
    assert page.evaluate("window.__noReload === true"), "the page was loaded again"


@pytest.fixture
def started_appointment(practice, client_of_therapist):
    return AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))


def test_marking_no_show_updates_row_in_place_and_undo_restores_it(page, therapist, started_appointment):
    log_in(page, therapist)
    row = _row(page, started_appointment)
    expect(row).to_contain_text("Robin Reed")
    expect(row).to_contain_text("Scheduled")
    url = page.url
    _mark_page_loaded(page)

    row.get_by_role("button", name="No-show").click()

    expect(row.locator(".status-badge")).to_have_text("No-show")
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    expect(row.get_by_role("button", name="Attended")).to_have_count(0)
    _assert_not_reloaded(page, url)
    started_appointment.refresh_from_db()
    assert started_appointment.status == Appointment.Status.NO_SHOW
    assert started_appointment.status_changed_by == therapist
    event = NoShowEvent.objects.get(appointment=started_appointment)
    assert event.kind == NoShowEvent.Kind.NO_SHOW
    assert event.undone_at is None

    row.get_by_role("button", name="Undo").click()

    expect(row.locator(".status-badge")).to_have_text("Scheduled")
    expect(row.get_by_role("button", name="No-show")).to_be_visible()
    _assert_not_reloaded(page, url)
    started_appointment.refresh_from_db()
    assert started_appointment.status == Appointment.Status.SCHEDULED
    event.refresh_from_db()
    assert event.undone_at is not None
    assert event.undone_by == therapist
    assert NoShowEvent.objects.filter(appointment=started_appointment).count() == 1


def test_double_click_on_no_show_records_one_missed_session(page, therapist, started_appointment):
    log_in(page, therapist)
    row = _row(page, started_appointment)

    row.get_by_role("button", name="No-show").dblclick()

    expect(row.locator(".status-badge")).to_have_text("No-show")
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    # A second request, if htmx sent one, has answered by now: the row is
    # swapped once per answer, and whatever it says, it must not be an error.
    expect(row.get_by_role("alert")).to_have_count(0)
    assert NoShowEvent.objects.filter(appointment=started_appointment).count() == 1
    started_appointment.refresh_from_db()
    assert started_appointment.status == Appointment.Status.NO_SHOW


def test_no_show_marked_by_two_people_at_once_records_one_missed_session(
    new_page, therapist, front_desk, started_appointment
):
    mine, desk = new_page(), new_page()
    log_in(mine, therapist)
    log_in(desk, front_desk)

    # Both still see "Scheduled"; the second click goes out before the first answer is in.
    _row(mine, started_appointment).get_by_role("button", name="No-show").click()
    _row(desk, started_appointment).get_by_role("button", name="No-show").click()

    for page in (mine, desk):
        row = _row(page, started_appointment)
        expect(row.locator(".status-badge")).to_have_text("No-show")
        expect(row.get_by_role("alert")).to_have_count(0)
    assert NoShowEvent.objects.filter(appointment=started_appointment).count() == 1


def test_no_show_is_kept_when_the_task_queue_is_down(page, monkeypatch, therapist, started_appointment):
    def broker_down(*args, **kwargs):
        raise OSError("Connection refused")

    monkeypatch.setattr(process_missed_session, "delay", broker_down)
    log_in(page, therapist)
    row = _row(page, started_appointment)

    row.get_by_role("button", name="No-show").click()

    expect(row.locator(".status-badge")).to_have_text("No-show")
    started_appointment.refresh_from_db()
    assert started_appointment.status == Appointment.Status.NO_SHOW
    # Left for the beat sweep, which finds unprocessed events.
    event = NoShowEvent.objects.get(appointment=started_appointment)
    assert event.processed_at is None


def test_cancel_asks_who_cancelled_and_records_clinician(page, therapist, started_appointment):
    log_in(page, therapist)
    row = _row(page, started_appointment)
    url = page.url
    _mark_page_loaded(page)

    row.get_by_role("link", name="Cancel").click()

    expect(row).to_contain_text("Who cancelled?")
    for who in ("Client", "Clinician", "Practice"):
        expect(row.get_by_role("radio", name=who)).to_be_visible()
    row.get_by_role("radio", name="Clinician").check()
    row.get_by_role("button", name="Confirm cancel").click()

    expect(row.locator(".status-badge")).to_have_text("Cancelled by clinician")
    expect(row.get_by_role("button", name="Undo")).to_be_visible()
    _assert_not_reloaded(page, url)
    started_appointment.refresh_from_db()
    assert started_appointment.status == Appointment.Status.CANCELLED_BY_CLINICIAN
    assert started_appointment.initiated_by == Appointment.Initiator.CLINICIAN
    # A cancellation is not a missed session.
    assert not NoShowEvent.objects.filter(appointment=started_appointment).exists()


def test_front_desk_sees_every_clinician_and_can_filter_but_therapist_sees_own(
    new_page, practice, therapist, therapist2, front_desk, client_of_therapist
):
    own = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    client2 = ClientFactory(practice=practice, clinician=therapist2, first_name="Casey", last_name="Cole")
    others = AppointmentFactory(client=client2, start=started_minutes_ago(practice, 20))

    desk = new_page()
    log_in(desk, front_desk)
    expect(_row(desk, own)).to_contain_text("Robin Reed")
    expect(_row(desk, others)).to_contain_text("Casey Cole")
    expect(_row(desk, others)).to_contain_text(therapist2.get_full_name())

    desk.get_by_label("Clinician").select_option(label=therapist2.get_full_name())
    desk.get_by_role("button", name="Show", exact=True).click()

    expect(desk).to_have_url(re.compile(rf"\?clinician={therapist2.pk}$"))
    expect(_row(desk, others)).to_be_visible()
    expect(_row(desk, own)).to_have_count(0)
    expect(desk.get_by_label("Clinician")).to_have_value(str(therapist2.pk))

    mine = new_page()
    log_in(mine, therapist)
    expect(_row(mine, own)).to_contain_text("Robin Reed")
    expect(mine.get_by_text("Casey Cole")).to_have_count(0)
    # A clinician has no filter: their own schedule is all they see.
    expect(mine.get_by_label("Clinician")).to_have_count(0)


def test_needs_outcome_lists_past_unmarked_session_and_marks_it_attended(
    page, practice, therapist, client_of_therapist
):
    past = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=2))
    log_in(page, therapist)

    page.get_by_role("link", name="Needs outcome").click()

    expect(page.get_by_role("heading", name="Needs outcome")).to_be_visible()
    row = _row(page, past)
    expect(row).to_contain_text("Robin Reed")
    url = page.url
    _mark_page_loaded(page)

    row.get_by_role("button", name="Attended").click()

    expect(row.locator(".status-badge")).to_have_text("Attended")
    # The row keeps its date column: the swapped row is the same shape.
    local = past.start.astimezone(practice_zone(practice))
    expect(row.locator("td").first).to_contain_text(f"{local:%a} {local.day} {local:%b}")
    _assert_not_reloaded(page, url)
    past.refresh_from_db()
    assert past.status == Appointment.Status.ATTENDED
    assert not NoShowEvent.objects.filter(appointment=past).exists()
