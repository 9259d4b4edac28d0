"""Weekly availability: adding and removing windows, the open-slot preview, and who may change what."""

import re
from datetime import date, time, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect

from appointments.models import Availability
from appointments.services import availability_add

from .helpers import local_today, log_in

pytestmark = pytest.mark.browser

NO_WINDOWS = "No windows yet: clients cannot book any time."
READ_ONLY = "Only the clinician or a practice admin can change these windows."


def _name(user, first: str, last: str) -> None:
    """A fixed name: the factories' random ones could clash in the clinician select."""
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])


def _windows(**filters) -> list[tuple]:
    return list(
        Availability.objects.filter(**filters)
        .order_by("pk")
        .values_list("practice_id", "clinician_id", "weekday", "start_time", "end_time", "session_minutes")
    )


def _open_availability(page: Page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Availability", exact=True).click()
    expect(page).to_have_url(re.compile(r"/availability/"))


def _field(page: Page, label: str) -> Locator:
    # Crispy adds a "*" to required fields' labels.
    return page.get_by_label(re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$"))


def _add_window(page: Page, *, day: str, start: str, end: str, slot: int, buffer: int = 0, grid: str = "hour") -> None:
    _field(page, "Day").select_option(label=day)
    _field(page, "From").fill(start)
    _field(page, "To").fill(end)
    _field(page, "Session (minutes)").fill(str(slot))
    _field(page, "Buffer (minutes)").fill(str(buffer))
    _field(page, "Start times every").select_option(label=grid)
    page.get_by_role("button", name="Add window").click()


def _window_rows(page: Page) -> Locator:
    return page.locator("table tbody tr")


def _preview_day(page: Page, day: date) -> Locator:
    """The open slots the preview lists for one local date."""
    label = f"{day:%a} {day.day} {day:%b}"
    term = page.locator("dl dt").filter(has_text=re.compile(rf"^\s*{label}\s*$"))
    expect(term).to_have_count(1)
    return term.locator("xpath=following-sibling::dd[1]")


def _badges(page: Page) -> Locator:
    return page.locator("dl .badge")


def _csrf_token(page: Page) -> str:
    # Every page has one, in the log-out form, even where there is nothing else to post.
    return page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")


def test_therapist_adds_window_sees_open_slots_then_removes_it(page, practice, therapist):
    _name(therapist, "Tess", "Thorne")
    # Three days ahead, well past the 12-hour booking lead; a week later is still in the 14 days.
    day = local_today(practice) + timedelta(days=3)
    weekday = Availability.Weekday(day.weekday())
    log_in(page, therapist)

    _open_availability(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Tess Thorne")
    expect(_window_rows(page)).to_have_text([NO_WINDOWS])
    expect(page.locator("dl dt")).to_have_count(14)
    expect(_badges(page)).to_have_count(0)
    expect(_preview_day(page, day)).to_have_text("—")

    _add_window(page, day=weekday.label, start="09:00", end="11:00", slot=60)

    expect(page.get_by_role("alert")).to_have_text("Window added.")
    rows = _window_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(
        [weekday.label, "09:00", "11:00", "60 min", "0 min", "60 min", "Remove"]
    )
    for slot_day in (day, day + timedelta(days=7)):
        expect(_preview_day(page, slot_day).locator(".badge")).to_have_text(["09:00–10:00", "10:00–11:00"])
    expect(_preview_day(page, day + timedelta(days=1))).to_have_text("—")
    expect(_badges(page)).to_have_count(4)
    window = Availability.objects.get()
    assert (window.practice, window.clinician) == (practice, therapist)
    assert (window.weekday, window.start_time, window.end_time, window.session_minutes) == (
        weekday,
        time(9),
        time(11),
        60,
    )

    rows.first.get_by_role("button", name="Remove").click()

    expect(page.get_by_role("alert")).to_have_text("Window removed.")
    expect(_window_rows(page)).to_have_text([NO_WINDOWS])
    expect(_badges(page)).to_have_count(0)
    expect(_preview_day(page, day)).to_have_text("—")
    assert not Availability.objects.filter(pk=window.pk).exists()


def test_bad_windows_are_refused_with_message_beside_the_field(page, practice, therapist):
    availability_add(
        practice=practice,
        clinician=therapist,
        weekday=Availability.Weekday.TUESDAY,
        start_time=time(9),
        end_time=time(12),
        session_minutes=60,
        buffer_minutes=0,
        grid_minutes=60,
        actor=None,
    )
    before = _windows()
    log_in(page, therapist)
    _open_availability(page)

    _add_window(page, day="Wednesday", start="14:00", end="13:00", slot=50)

    end_field = _field(page, "To")
    expect(end_field).to_have_attribute("aria-invalid", "true")
    expect(end_field).to_have_accessible_description("The window must end after it starts (and by midnight).")
    expect(page.locator("#div_id_end_time")).to_contain_text("The window must end after it starts")
    expect(_field(page, "From")).not_to_have_attribute("aria-invalid", "true")
    expect(end_field).to_have_value("13:00")  # what was typed stays, to be corrected
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(_window_rows(page)).to_have_count(1)
    assert _windows() == before

    _add_window(page, day="Tuesday", start="11:00", end="13:00", slot=60)

    overlap = "This overlaps the Tuesday window 09:00-12:00. Remove that one first, or pick other times."
    start_field = _field(page, "From")
    expect(start_field).to_have_attribute("aria-invalid", "true")
    expect(start_field).to_have_accessible_description(overlap)
    expect(page.locator("#div_id_start_time")).to_contain_text("This overlaps the Tuesday window 09:00-12:00")
    expect(_field(page, "To")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_have_count(0)
    rows = _window_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").first).to_have_text("Tuesday")
    assert _windows() == before


def test_admin_adds_window_for_the_clinician_picked(page, practice, practice_admin, therapist, therapist2):
    _name(therapist, "Ada", "Abbott")
    _name(therapist2, "Theo", "Yates")
    log_in(page, practice_admin)
    _open_availability(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Ada Abbott")

    page.get_by_label("Clinician").select_option(label="Theo Yates")
    page.get_by_role("button", name="Show").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Theo Yates")
    expect(page).to_have_url(re.compile(rf"\?clinician={therapist2.pk}$"))
    expect(page.get_by_label("Clinician")).to_have_value(str(therapist2.pk))
    expect(_window_rows(page)).to_have_text([NO_WINDOWS])

    _add_window(page, day="Thursday", start="13:00", end="16:00", slot=90)

    expect(page.get_by_role("alert")).to_have_text("Window added.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Theo Yates")
    rows = _window_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(["Thursday", "13:00", "16:00", "90 min", "0 min", "60 min", "Remove"])
    assert _windows() == [(practice.pk, therapist2.pk, Availability.Weekday.THURSDAY, time(13), time(16), 90)]
    assert not Availability.objects.filter(clinician__in=[practice_admin, therapist]).exists()


def test_front_desk_sees_windows_but_cannot_change_them(page, practice, front_desk, therapist):
    _name(therapist, "Tess", "Thorne")
    window = availability_add(
        practice=practice,
        clinician=therapist,
        weekday=Availability.Weekday.MONDAY,
        start_time=time(9),
        end_time=time(12),
        session_minutes=60,
        buffer_minutes=0,
        grid_minutes=60,
        actor=None,
    )
    before = _windows()
    log_in(page, front_desk)
    _open_availability(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Tess Thorne")
    rows = _window_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(["Monday", "09:00", "12:00", "60 min", "0 min", "60 min"])
    expect(page.get_by_text(READ_ONLY)).to_be_visible()
    expect(page.get_by_role("button", name="Remove")).to_have_count(0)
    expect(page.get_by_role("button", name="Add window")).to_have_count(0)
    expect(page.get_by_label(re.compile(r"^Session \(minutes\)"))).to_have_count(0)
    expect(_badges(page).first).to_be_visible()  # the preview is there to read

    # Posting by hand, with a good CSRF token, is refused too.
    token = _csrf_token(page)
    added = page.request.post(
        f"/availability/?clinician={therapist.pk}",
        form={
            "csrfmiddlewaretoken": token,
            "weekday": "2",
            "start_time": "09:00",
            "end_time": "12:00",
            "session_minutes": "60",
        },
    )
    removed = page.request.post(f"/availability/{window.pk}/remove/", form={"csrfmiddlewaretoken": token})

    assert added.status == 403
    assert removed.status == 403
    assert _windows() == before
    page.reload()
    expect(_window_rows(page)).to_have_count(1)


def test_other_practice_therapist_cannot_see_or_change_this_practices_windows(
    page, practice, therapist, other_practice_therapist
):
    _name(therapist, "Tess", "Thorne")
    _name(other_practice_therapist, "Eli", "Elsewhere")
    window = availability_add(
        practice=practice,
        clinician=therapist,
        weekday=Availability.Weekday.FRIDAY,
        start_time=time(7, 15),
        end_time=time(8, 45),
        session_minutes=45,
        actor=None,
    )
    before = _windows()
    log_in(page, other_practice_therapist)

    page.goto(f"/availability/?clinician={therapist.pk}")

    expect(page.get_by_role("alert")).to_have_text("That clinician is not one whose availability you can see here.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Availability of Eli Elsewhere")
    expect(page.get_by_label("Clinician")).to_have_count(0)
    expect(_window_rows(page)).to_have_text([NO_WINDOWS])
    expect(_badges(page)).to_have_count(0)
    expect(page.get_by_role("main")).not_to_contain_text("07:15")
    expect(page.get_by_role("main")).not_to_contain_text("Tess Thorne")

    # A change aimed at the other practice's clinician or window is not found.
    token = _csrf_token(page)
    added = page.request.post(
        f"/availability/?clinician={therapist.pk}",
        form={
            "csrfmiddlewaretoken": token,
            "weekday": "4",
            "start_time": "10:00",
            "end_time": "12:00",
            "session_minutes": "60",
        },
    )
    removed = page.request.post(f"/availability/{window.pk}/remove/", form={"csrfmiddlewaretoken": token})

    assert added.status == 404
    assert removed.status == 404
    assert _windows() == before
    assert not Availability.objects.filter(clinician=other_practice_therapist).exists()
