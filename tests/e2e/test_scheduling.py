"""Scheduling that fits a practice: open times on the grid, series with clashing weeks,
the client's confirmation with its calendar file, and correcting an old outcome."""

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.utils import timezone
from icalendar import Calendar
from playwright.sync_api import Page, expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Appointment, AppointmentSeries
from appointments.services import appointment_book, availability_add
from followups.models import OutboxMessage
from followups.services import reschedule_link_create
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory, ClientFactory, make_policy

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _open_every_day(practice, clinician, start=time(9), end=time(17)):
    """Windows that follow the practice defaults: 50-minute sessions, 10-minute buffer, half-hour grid."""
    for weekday in range(7):
        availability_add(
            practice=practice, clinician=clinician, weekday=weekday, start_time=start, end_time=end, actor=None
        )


def _name(user, first: str, last: str) -> None:
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])


def _day_times(page: Page, day) -> list[str]:
    item = page.locator("#open-times li").filter(has_text=re.compile(rf"^\s*{day:%a} {day.day} {day:%b}\b"))
    return item.get_by_role("link").all_inner_texts()


def test_booking_offers_times_on_the_grid_and_a_picked_time_fills_the_form(
    page, practice, therapist, client_of_therapist
):
    _name(therapist, "Tess", "Thorne")
    _open_every_day(practice, therapist)
    tomorrow = local_today(practice) + timedelta(days=1)
    log_in(page, therapist)
    page.goto(f"/clients/{client_of_therapist.pk}/")
    page.get_by_role("link", name="Book a session").click()

    expect(page.get_by_role("heading", name=re.compile("^Open times this week"))).to_be_visible()
    hours = [f"{h:02d}:00" for h in range(9, 17)]
    assert _day_times(page, tomorrow) == hours  # 09:00, 10:00, ...: never 09:50 or 10:40
    for text in page.locator("#open-times a").all_inner_texts():
        assert text.endswith((":00", ":30")), text

    page.get_by_role("link", name=f"{tomorrow:%A} {tomorrow.day} {tomorrow:%B} at 10:00").click()

    expect(page.get_by_label("Date")).to_have_value(tomorrow.isoformat())
    expect(page.get_by_label("Starts at")).to_have_value("10:00")
    expect(page.get_by_label("Length (minutes)")).to_have_value("50")
    expect(page.get_by_label("Client")).to_have_value(str(client_of_therapist.pk))
    page.get_by_role("button", name="Book", exact=True).click()

    expect(page.get_by_role("alert")).to_have_text("Booked 1 session.")
    booked = Appointment.objects.get(client=client_of_therapist)
    local = booked.start.astimezone(practice_zone(practice))
    assert (local.date(), local.time(), booked.duration) == (tomorrow, time(10), timedelta(minutes=50))

    # The booked hour and its buffer are no longer offered; 09:00 still fits before it.
    page.goto(f"/appointments/new/?client={client_of_therapist.pk}")
    assert _day_times(page, tomorrow) == ["09:00"] + hours[2:]


def test_a_series_with_clashing_weeks_lists_each_clash_and_books_the_rest(
    page, practice, front_desk, therapist, client_of_therapist
):
    _name(therapist, "Tess", "Thorne")
    other = ClientFactory(practice=practice, clinician=therapist, first_name="Alex", last_name="Ash")
    first_day = local_today(practice) + timedelta(days=2)
    zone = practice_zone(practice)
    for week in (1, 3):
        at = datetime.combine(first_day + timedelta(weeks=week), time(15, 30), tzinfo=zone)
        appointment_book(practice=practice, client=other, clinician=therapist, start=at, end=at + timedelta(minutes=50))
    log_in(page, front_desk)
    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_label("Client").select_option(label=client_of_therapist.full_name)
    page.get_by_label("Clinician").select_option(label="Tess Thorne")
    page.get_by_label("Date").fill(first_day.isoformat())
    page.get_by_label("Starts at").fill("15:00")
    page.get_by_label("Length (minutes)").fill("50")
    page.get_by_label("Repeat weekly for (weeks)").fill("5")
    page.get_by_role("button", name="Book", exact=True).click()

    clashes = page.locator("#series-clashes tbody tr")
    expect(clashes).to_have_count(2)
    for row, week in zip(clashes.all(), (1, 3), strict=True):
        day = first_day + timedelta(weeks=week)
        expect(row.locator("td")).to_have_text(
            [f"{day:%a} {day.day} {day:%b %Y}", "15:00–15:50", "Alex Ash, 15:30–16:20"]
        )
    expect(page.get_by_text("2 of the 5 weeks clash")).to_be_visible()
    assert not Appointment.objects.filter(client=client_of_therapist).exists()
    page_check(page, "/appointments/new/ (series clashes)")

    page.get_by_role("button", name="Book the 3 weeks that are free").click()

    expect(page.get_by_role("alert")).to_have_text("Booked 3 of 5 weekly sessions; 2 skipped.")
    series = AppointmentSeries.objects.get()
    expect(page).to_have_url(re.compile(rf"/series/{series.pk}/$"))
    booked_days = sorted(a.start.astimezone(zone).date() for a in series.appointments.all())
    assert booked_days == [first_day + timedelta(weeks=w) for w in (0, 2, 4)]
    skipped = page.locator("#skipped-weeks li")
    expect(skipped).to_have_count(2)

    week_one = first_day + timedelta(weeks=1)
    page.get_by_role("link", name=f"Book {week_one.day} {week_one:%b} at another time").click()

    expect(page.get_by_role("heading", name="Book a session")).to_be_visible()
    expect(page.get_by_label("Date")).to_have_value(week_one.isoformat())
    expect(page.get_by_label("Client")).to_have_value(str(client_of_therapist.pk))
    expect(page.get_by_label("Clinician")).to_have_value(str(therapist.pk))


def test_client_rebooks_from_the_link_sees_the_details_and_downloads_the_calendar_file(
    page, practice, therapist, client_of_therapist
):
    _name(therapist, "Dana", "Whitfield")
    practice.address = "12 Maple Street\nSpringfield"
    practice.phone = "(555) 010-0123"
    practice.save()
    _open_every_day(practice, therapist)
    missed = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=1))
    event = aftercare.attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist).event
    page.goto(urlsplit(reschedule_link_create(event=event, days=14)).path)

    slot = page.locator("[name=slot]").first
    start = datetime.fromisoformat(slot.get_attribute("value"))
    page.locator(f"label[for='{slot.get_attribute('id')}']").click()
    page.get_by_role("button", name="Book this time").click()

    local = start.astimezone(practice_zone(practice))
    expect(page.get_by_role("status")).to_have_text(
        f"You're booked for {local:%A} {local.day} {local:%B} at {local:%H:%M} (Eastern Time)."
    )
    details = page.locator("#booked-details")
    expect(details).to_contain_text("Eastern Time")
    expect(details).to_contain_text("50 minutes")
    expect(details).to_contain_text("Dana")
    expect(details).not_to_contain_text("Whitfield")
    expect(details).to_contain_text("12 Maple Street")
    expect(page.get_by_role("link", name="(555) 010-0123")).to_have_attribute("href", "tel:+15550100123")
    page_check(page, "/r/{token}/ (booked)")

    with page.expect_download() as info:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    download = info.value
    assert download.suggested_filename == "appointment.ics"
    [calendar_event] = Calendar.from_ical(Path(download.path()).read_bytes()).walk("VEVENT")
    assert calendar_event.decoded("dtstart") == start
    assert calendar_event.decoded("dtend") == start + timedelta(minutes=50)
    assert str(calendar_event["summary"]) == "Appointment with Dana"
    assert str(calendar_event["location"]) == "12 Maple Street Springfield"


def test_admin_corrects_an_old_no_show_to_attended_and_sees_what_happened_to_fee_and_messages(
    page, practice, practice_admin, therapist, front_desk, client_of_therapist
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    start = timezone.now() - timedelta(days=10)
    appointment = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(event.pk)
    # Marked ten days ago: well past the undo window. The first follow-up went out.
    Appointment.objects.filter(pk=appointment.pk).update(status_changed_at=start + timedelta(hours=1))
    first = OutboxMessage.objects.get(missed_session=event, step="first")
    OutboxMessage.objects.filter(pk=first.pk).update(status="sent", sent_at=start + timedelta(hours=2))
    fee = FeeAssessment.objects.get(missed_session=event)
    assert fee.state in FeeAssessment.OPEN_STATES

    log_in(page, practice_admin)
    page.goto(f"/clients/{client_of_therapist.pk}/")
    page.get_by_role("link", name=re.compile("^Correct the outcome of")).click()
    expect(page.get_by_role("heading", name=re.compile("outcome$"))).to_be_visible()

    page.get_by_label("Attended").check()
    page.get_by_label(re.compile(r"^\s*Why is it being corrected")).fill("   ")  # only spaces: no reason
    page.get_by_role("button", name="Correct outcome").click()
    expect(page.get_by_label(re.compile(r"^\s*Why is it being corrected"))).to_have_attribute("aria-invalid", "true")
    page_check(page, "/appointments/{n}/correct/ (errors)")
    page.get_by_label("Attended").check()
    page.get_by_label(re.compile(r"^\s*Why is it being corrected")).fill(
        "Robin was in the waiting room; wrong row marked"
    )
    page.get_by_role("button", name="Correct outcome").click()

    alerts = page.get_by_role("alert")
    expect(alerts.filter(has_text="Corrected to attended.")).to_have_count(1)
    sent = timezone.localtime(start + timedelta(hours=2), practice_zone(practice))
    expect(
        alerts.filter(has_text=f"The client was already sent a follow-up on {sent:%a %d %b %Y at %H:%M}")
    ).to_have_count(1)
    expect(alerts.filter(has_text="1 follow-up not yet sent was cancelled.")).to_have_count(1)
    expect(alerts.filter(has_text="The fee of 60.00 USD")).to_contain_text("voided")
    appointment.refresh_from_db()
    fee.refresh_from_db()
    assert appointment.status == "attended" and fee.state == "void"
