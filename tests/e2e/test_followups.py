"""Follow-ups: message wording with a live preview, the message log, and the client's no-login page."""

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import Page, expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Appointment, NoShowEvent
from followups.models import ClientLink, ContactNote, MessageTemplate, MissReason, OutboxMessage
from followups.services import reschedule_link_create
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory, ClientFactory, give_availability

from .helpers import log_in, practice_zone, started_minutes_ago

pytestmark = pytest.mark.browser

NOT_USABLE = "This link can't be used any more"


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The client's page counts bad links per address in the cache.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def missed(practice, therapist, client_of_therapist) -> NoShowEvent:
    """Robin's no-show of half an hour ago; the follow-ups are planned with it."""
    appointment = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event


@pytest.fixture
def link_path(practice, therapist, missed) -> str:
    """The path of a fresh link to rebook the miss; the therapist is open every day 09:00-17:00."""
    give_availability(practice, therapist, start_hour=9, end_hour=17)
    return urlsplit(reschedule_link_create(event=missed, days=14)).path


def _first_slot(page: Page) -> tuple[datetime, str]:
    """The first time offered, as the instant it stands for and the button's id."""
    slot = page.get_by_role("radio").and_(page.locator("[name=slot]")).first
    return datetime.fromisoformat(slot.get_attribute("value")), slot.get_attribute("id")


def _booked_text(start: datetime, practice) -> str:
    local = start.astimezone(practice_zone(practice))
    # The practice fixture is in New York: the page names the zone.
    return f"You're booked for {local:%A} {local.day} {local:%B} at {local:%H:%M} (Eastern Time)."


def test_admin_edits_first_message_with_live_preview(page, practice, practice_admin):
    log_in(page, practice_admin)
    page.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    card = page.locator("#template-first")
    expect(card).to_contain_text("First message, no-show")
    expect(card.locator(".badge")).to_have_count(0)

    card.get_by_role("link", name="Edit").click()

    expect(page.get_by_role("heading", level=1, name="First message, no-show")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview.locator("#preview-body")).to_contain_text("Hi Sam,")
    expect(preview.get_by_role("alert")).to_have_count(0)
    url = page.url
    page.evaluate("window.__noReload = true")
    subject, body = page.get_by_label("Subject"), page.get_by_label("Message")

    subject.fill("A note from us")
    body.fill("Dear {first_name}, we missed you on {session_time}. Call {practice_phone}.")

    expect(preview.get_by_role("alert")).to_have_text(
        "The message must include {reschedule_link}, so the client can pick a new time."
    )
    expect(preview.locator("#preview-subject")).to_have_text("A note from us")
    expect(preview.locator("#preview-body")).to_have_text(
        "Dear Sam, we missed you on Tuesday 3 March at 10:00. Call +1 555 0100."
    )
    assert page.url == url
    assert page.evaluate("window.__noReload === true"), "the page was loaded again"
    page_check(page, "/policies/followups/templates/{kind}/ (preview with a problem)")

    # Saving it as it is refuses, with the reason under the message.
    page.get_by_role("button", name="Save wording").click()
    expect(page.locator("#id_body ~ .invalid-feedback")).to_have_text(
        "The message must include {reschedule_link}, so the client can pick a new time."
    )
    expect(body).to_have_value("Dear {first_name}, we missed you on {session_time}. Call {practice_phone}.")
    page_check(page, "/policies/followups/templates/{kind}/ (form with errors)")
    assert not MessageTemplate.objects.filter(practice=practice).exists()

    wording = "Dear {first_name}, we missed you on {session_time}.\nPick a new time: {reschedule_link}"
    body.fill(wording)

    expect(preview.get_by_role("alert")).to_have_count(0)
    expect(preview.locator("#preview-body")).to_contain_text("Pick a new time: https://…/r/example-link")

    page.get_by_role("button", name="Save wording").click()

    expect(page.get_by_role("alert")).to_have_text("Wording saved.")
    expect(page).to_have_url(re.compile(r"/policies/#followups$"))
    expect(card.locator(".badge")).to_have_text("edited")
    expect(card).to_contain_text("Subject: A note from us")
    expect(card).to_contain_text("Pick a new time: {reschedule_link}")
    # The other kinds keep the default wording.
    expect(page.locator("#template-second .badge")).to_have_count(0)
    template = MessageTemplate.objects.get(practice=practice)
    # A textarea posts its line breaks as CRLF.
    assert (template.kind, template.subject, template.body.replace("\r\n", "\n")) == (
        "first",
        "A note from us",
        wording,
    )


def test_message_log_cancels_a_planned_follow_up_and_contacted_stops_the_rest(
    page, practice, therapist, client_of_therapist, missed
):
    first = OutboxMessage.objects.get(missed_session=missed, step="first")
    second = OutboxMessage.objects.get(missed_session=missed, step="second")
    assert first.status == second.status == OutboxMessage.Status.PENDING
    log_in(page, therapist)

    page.get_by_role("navigation").get_by_role("link", name="Messages").click()

    expect(page.get_by_role("heading", level=1, name="Message log")).to_be_visible()
    first_row, second_row = page.locator(f"#message-{first.pk}"), page.locator(f"#message-{second.pk}")
    for row, step in ((first_row, "First message"), (second_row, "Second message")):
        expect(row).to_contain_text("Robin Reed")
        expect(row).to_contain_text(step)
        expect(row).to_contain_text("Email")
        expect(row.locator(".badge")).to_have_text("Pending")

    first_row.get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("alert")).to_have_text("Message cancelled.")
    expect(first_row.locator(".badge")).to_have_text("Cancelled")
    expect(first_row).to_contain_text("Cancelled by staff")
    expect(first_row.get_by_role("button", name="Send again")).to_be_visible()
    expect(second_row.locator(".badge")).to_have_text("Pending")
    first.refresh_from_db()
    assert (first.status, first.cancel_reason) == ("cancelled", "Cancelled by staff")

    first_row.get_by_role("link", name="Robin Reed").click()
    expect(page.get_by_role("heading", name="Robin Reed")).to_be_visible()
    followups = page.locator("#client-followups")
    pending = followups.locator(f"#followup-{second.pk}")
    expect(pending).to_contain_text("Pending")

    pending.get_by_role("button", name="I've contacted them").click()

    expect(page.get_by_role("alert")).to_have_text(
        "Marked as contacted: no more automated follow-ups for this session."
    )
    expect(pending).to_contain_text("Cancelled (Staff contacted the client)")
    expect(followups.get_by_role("button", name="I've contacted them")).to_have_count(0)
    note = ContactNote.objects.get(missed_session=missed)
    assert note.contacted_by == therapist
    second.refresh_from_db()
    assert (second.status, second.cancel_reason) == ("cancelled", "Staff contacted the client")

    # Even once their time has come, the sweep sends neither.
    OutboxMessage.objects.filter(missed_session=missed).update(due_at=timezone.now() - timedelta(minutes=1))
    assert tasks.sweep_followups() == 0
    assert mail.outbox == []


def test_client_rebooks_from_the_link_without_logging_in(new_page, page_errors, practice, therapist, missed, link_path):
    page = new_page()  # a context of its own, with no one logged in
    page.goto(link_path)

    expect(page.get_by_role("heading", level=1, name="Riverside Office")).to_be_visible()
    expect(page.get_by_text("Hi Robin, here are the times")).to_be_visible()
    # First name only: nothing else about the client or the session.
    expect(page.locator("body")).not_to_contain_text("Reed")
    start, slot_id = _first_slot(page)
    page.locator(f"label[for={slot_id}]").click()
    expect(page.locator(f"#{slot_id}")).to_be_checked()
    page.get_by_text("Would you like to tell us what got in the way?").click()
    page.get_by_label("I forgot").check()
    page.get_by_role("button", name="Book this time").click()

    expect(page.get_by_role("status")).to_have_text(_booked_text(start, practice))
    expect(page.get_by_role("heading", name="Thank you, Robin")).to_be_visible()
    makeup = Appointment.objects.get(rescheduled_from=missed.appointment)
    assert (makeup.start, makeup.end - makeup.start) == (start, timedelta(minutes=60))
    assert (makeup.clinician, makeup.client, makeup.status) == (therapist, missed.appointment.client, "scheduled")
    link = ClientLink.objects.get(missed_session=missed)
    assert link.used_at is not None and link.new_appointment == makeup
    assert MissReason.objects.get(missed_session=missed).reason == "forgot"
    assert set(OutboxMessage.objects.filter(missed_session=missed).values_list("status", "cancel_reason")) == {
        ("cancelled", "The client rescheduled")
    }

    # The kind page is a 404, which Chromium logs.
    page_errors.allow(r"status of 404")
    page.goto(link_path)

    expect(page.get_by_role("heading", name=NOT_USABLE)).to_be_visible()
    expect(page.get_by_text("Call us on +1 555 0100.")).to_be_visible()
    assert Appointment.objects.filter(rescheduled_from=missed.appointment).count() == 1


def test_forged_link_shows_the_kind_page(new_page, page_errors, missed, link_path):
    page_errors.allow(r"status of 404")
    page = new_page()

    response = page.goto(link_path[:-5] + "xxxx/")

    assert response.status == 404
    expect(page.get_by_role("heading", name=NOT_USABLE)).to_be_visible()
    expect(page.get_by_text("please call the practice")).to_be_visible()
    # A forged link says nothing about which practice, if any, it was meant for.
    expect(page.locator("body")).not_to_contain_text("Riverside")
    assert not ClientLink.objects.filter(used_at__isnull=False).exists()


def test_time_taken_before_confirming_asks_for_another(new_page, practice, therapist, missed, link_path):
    page = new_page()
    page.goto(link_path)
    start, slot_id = _first_slot(page)
    # Someone else takes that time while the client is deciding.
    someone = ClientFactory(practice=practice, clinician=therapist, first_name="Alex", last_name="Moss")
    AppointmentFactory(client=someone, clinician=therapist, start=start, end=start + timedelta(minutes=60))

    page.locator(f"label[for={slot_id}]").click()
    page.get_by_role("button", name="Book this time").click()

    expect(page.get_by_role("alert")).to_have_text("That time was just taken, please pick another.")
    page_check(page, "/r/{token}/ (time just taken)")
    expect(page.locator(f"input[name=slot][value='{start.isoformat()}']")).to_have_count(0)
    assert not Appointment.objects.filter(rescheduled_from=missed.appointment).exists()
    assert ClientLink.objects.get(missed_session=missed).used_at is None

    # The link still works for another time.
    start, slot_id = _first_slot(page)
    page.locator(f"label[for={slot_id}]").click()
    page.get_by_role("button", name="Book this time").click()

    expect(page.get_by_role("status")).to_have_text(_booked_text(start, practice))
    assert Appointment.objects.get(rescheduled_from=missed.appointment).start == start
