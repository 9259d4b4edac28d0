"""Changing what is booked or on file: moving a session, a make-up, archiving a client,
sending a failed follow-up again, and the fees export."""

import csv
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Appointment, Client, NoShowEvent
from followups.models import OutboxMessage
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, make_policy

from .helpers import local_today, log_in, practice_zone, started_minutes_ago

pytestmark = pytest.mark.browser


def _no_show(appointment: Appointment, actor) -> NoShowEvent:
    """Marked as the therapist would; the follow-ups are planned with the mark."""
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


def _shown(moment: datetime, practice) -> str:
    """A time as the client page shows it ("D j M Y H:i"), in the practice's zone."""
    local = moment.astimezone(practice_zone(practice))
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


def _open_client(page: Page, listed_as: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Clients", exact=True).click()
    page.get_by_role("link", name=listed_as).click()


def _make_due(*messages: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk__in=[m.pk for m in messages]).update(due_at=timezone.now() - timedelta(minutes=1))


@pytest.fixture
def missed(practice, therapist, client_of_therapist) -> NoShowEvent:
    """Robin's no-show of half an hour ago, with its two follow-ups pending."""
    appointment = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    return _no_show(appointment, therapist)


def test_front_desk_moves_a_session_and_a_clash_changes_nothing(
    page, practice, therapist, front_desk, client_of_therapist
):
    zone = practice_zone(practice)
    first_day = local_today(practice) + timedelta(days=5)
    new_day = first_day + timedelta(days=1)
    appointment = AppointmentFactory(
        client=client_of_therapist,
        start=datetime.combine(first_day, time(10), zone),
        end=datetime.combine(first_day, time(10, 50), zone),
    )
    someone = ClientFactory(practice=practice, clinician=therapist, first_name="Alex", last_name="Moss")
    held = AppointmentFactory(
        client=someone,
        start=datetime.combine(new_day, time(14), zone),
        end=datetime.combine(new_day, time(14, 50), zone),
    )
    log_in(page, front_desk)
    _open_client(page, "Reed, Robin")
    sessions = page.get_by_role("row").filter(has_text="Scheduled")
    expect(sessions).to_have_count(1)
    expect(sessions).to_contain_text(_shown(appointment.start, practice))

    sessions.get_by_role("link", name="Move").click()

    expect(page.get_by_role("heading", name="Move Robin Reed's session")).to_be_visible()
    # The form starts from the session's own time, in the practice's zone.
    expect(page.get_by_label("Date")).to_have_value(first_day.isoformat())
    expect(page.get_by_label("Starts at")).to_have_value(re.compile(r"^10:00(:00)?$"))
    expect(page.get_by_label("Length (minutes)")).to_have_value("50")
    page.get_by_label("Date").fill(new_day.isoformat())
    page.get_by_label("Starts at").fill("11:00")
    page.get_by_role("button", name="Move session").click()

    expect(page.get_by_role("heading", name="Robin Reed")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Session moved.")
    new_start = datetime.combine(new_day, time(11), zone)
    expect(sessions).to_have_count(1)
    expect(sessions).to_contain_text(_shown(new_start, practice))
    expect(page.get_by_text(_shown(appointment.start, practice))).to_have_count(0)
    appointment.refresh_from_db()
    assert (appointment.start, appointment.end) == (new_start, new_start + timedelta(minutes=50))
    assert appointment.status == Appointment.Status.SCHEDULED
    moved = AuditEvent.objects.get(action="appointment.moved")
    assert (moved.object_type, moved.object_id, moved.actor) == ("appointments.appointment", appointment.pk, front_desk)
    assert [datetime.fromisoformat(value) for value in moved.changes["to"]] == [appointment.start, appointment.end]
    assert datetime.fromisoformat(moved.changes["from"][0]) == datetime.combine(first_day, time(10), zone)

    # Onto half an hour into a session the therapist already holds with Alex.
    sessions.get_by_role("link", name="Move").click()
    expect(page.get_by_label("Date")).to_have_value(new_day.isoformat())
    page.get_by_label("Starts at").fill("14:30")
    page.get_by_role("button", name="Move session").click()

    expect(page.get_by_role("heading", name="Move Robin Reed's session")).to_be_visible()
    expect(
        page.get_by_text(f"The clinician already has a session at {new_day:%a %d %b %Y} 14:00. Pick another time.")
    ).to_be_visible()
    # What was typed is kept.
    expect(page.get_by_label("Starts at")).to_have_value(re.compile(r"^14:30(:00)?$"))
    appointment.refresh_from_db()
    assert (appointment.start, appointment.end) == (new_start, new_start + timedelta(minutes=50))
    held.refresh_from_db()
    assert held.start == datetime.combine(new_day, time(14), zone)
    assert AuditEvent.objects.filter(action="appointment.moved").count() == 1


def test_make_up_from_the_client_page_waives_the_fee_and_stops_the_follow_ups(
    page, practice, therapist, front_desk, client_of_therapist
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    appointment = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60))
    event = _no_show(appointment, therapist)
    assert tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get(missed_session=event)
    assert (fee.state, fee.amount) == (FeeAssessment.State.PROPOSED, Decimal("60.00"))
    planned = OutboxMessage.objects.filter(missed_session=event)
    assert sorted(planned.values_list("step", "status")) == [("first", "pending"), ("second", "pending")]
    log_in(page, therapist)
    _open_client(page, "Reed, Robin")
    fees = page.locator("#client-fees tbody tr")
    expect(fees.locator(".badge")).to_have_text("Proposed (in review)")
    missed_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Book make-up"))
    expect(missed_row).to_contain_text(_shown(appointment.start, practice))
    expect(missed_row).to_contain_text("No-show")

    missed_row.get_by_role("link", name="Book make-up").click()

    expect(page.get_by_role("heading", name="Make-up for Robin Reed")).to_be_visible()
    day = local_today(practice) + timedelta(days=2)
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Starts at").fill("10:00")
    expect(page.get_by_label("Length (minutes)")).to_have_value("50")
    page.get_by_role("button", name="Book make-up").click()

    expect(page.get_by_role("heading", name="Robin Reed")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Make-up session booked.")
    expect(fees).to_have_count(1)
    expect(fees.locator(".badge")).to_have_text("Waived")
    start = datetime.combine(day, time(10), practice_zone(practice))
    makeup_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Move"))
    expect(makeup_row).to_contain_text(_shown(start, practice))
    expect(makeup_row).to_contain_text("Scheduled")
    followups = page.locator("#client-followups tbody tr")
    expect(followups).to_have_count(2)
    for i in range(2):
        expect(followups.nth(i)).to_contain_text("Cancelled (The client rescheduled)")
    expect(page.get_by_role("button", name="I've contacted them")).to_have_count(0)

    makeup = Appointment.objects.get(rescheduled_from=appointment)
    assert (makeup.start, makeup.end) == (start, start + timedelta(minutes=50))
    assert (makeup.client, makeup.clinician, makeup.status) == (client_of_therapist, therapist, "scheduled")
    assert (makeup.session_type, makeup.modality) == (appointment.session_type, appointment.modality)
    fee.refresh_from_db()
    assert fee.state == FeeAssessment.State.WAIVED
    change = fee.changes.last()
    assert (change.from_state, change.to_state, change.reason_code, change.actor) == (
        "proposed",
        "waived",
        FeeAssessment.WaiverReason.MAKEUP,
        therapist,
    )
    assert set(planned.values_list("status", "cancel_reason")) == {("cancelled", "The client rescheduled")}


def test_archived_client_leaves_the_list_and_gets_no_follow_up(
    page, smtp_settings, practice, therapist, front_desk, client_of_therapist, missed
):
    ClientFactory(practice=practice, clinician=therapist, first_name="Casey", last_name="Cole")
    log_in(page, front_desk)
    _open_client(page, "Reed, Robin")
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.get_by_role("heading", name="Edit Robin Reed")).to_be_visible()

    page.get_by_label("Phone", exact=True).fill("(212) 555-0199")
    page.get_by_label("Archived").check()
    page.get_by_role("button", name="Save client").click()

    expect(page.get_by_role("alert")).to_have_text("Client saved.")
    expect(page.get_by_role("heading", name="Robin Reed")).to_contain_text("archived")
    expect(page.get_by_text("(212) 555-0199")).to_be_visible()
    expect(page.get_by_role("link", name="Book a session")).to_have_count(0)
    robin = Client.objects.get(pk=client_of_therapist.pk)
    assert (robin.phone, robin.is_archived) == ("+12125550199", True)
    updated = AuditEvent.objects.get(action="client.updated", object_id=robin.pk)
    assert updated.changes == {"fields": ["is_archived", "phone"]}
    assert updated.actor == front_desk

    page.get_by_role("navigation").get_by_role("link", name="Clients", exact=True).click()
    expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    expect(page.get_by_role("link", name="Cole, Casey")).to_be_visible()
    expect(page.get_by_role("link", name="Reed, Robin")).to_have_count(0)
    page.get_by_label("Include archived").check()
    page.get_by_role("button", name="Search").click()

    expect(page).to_have_url(re.compile(r"[?&]archived=1\b"))
    robin_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Reed, Robin"))
    expect(robin_row.locator(".badge")).to_have_text("archived")
    expect(page.get_by_role("link", name="Cole, Casey")).to_be_visible()
    expect(page.get_by_label("Include archived")).to_be_checked()

    # The follow-ups planned before the archiving: their time comes, the sweep stops them.
    pending = OutboxMessage.objects.filter(missed_session=missed)
    assert set(pending.values_list("status", flat=True)) == {"pending"}
    _make_due(*pending)
    assert tasks.sweep_followups() == 2

    assert set(pending.values_list("status", "cancel_reason")) == {("cancelled", "The client was archived")}
    assert smtp_settings.messages == []
    robin_row.get_by_role("link", name="Reed, Robin").click()
    followups = page.locator("#client-followups tbody tr")
    expect(followups).to_have_count(2)
    for i in range(2):
        expect(followups.nth(i)).to_contain_text("Cancelled (The client was archived)")
    assert smtp_settings.messages == []


def test_failed_follow_up_is_shown_and_sent_again_once_the_address_works(
    page, smtp_settings, practice, front_desk, client_of_therapist, missed
):
    first = OutboxMessage.objects.get(missed_session=missed, step="first")
    second = OutboxMessage.objects.get(missed_session=missed, step="second")
    smtp_settings.refuse_with = (550, "No such mailbox")
    _make_due(first)

    assert tasks.sweep_followups() == 1

    first.refresh_from_db()
    assert (first.status, first.attempts, first.last_error) == ("failed", 1, "SMTP 550")
    assert smtp_settings.messages == []
    log_in(page, front_desk)
    unreached = page.locator("#unreached")
    expect(unreached.get_by_role("heading", name="Could not reach the client")).to_be_visible()
    expect(unreached).to_contain_text("Robin Reed: the first message after the session on")
    expect(unreached).to_contain_text("could not be delivered by email. Please call them.")

    unreached.get_by_role("link", name="Message log").click()

    expect(page.get_by_role("heading", level=1, name="Message log")).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]status=failed\b"))
    rows = page.locator("#message-log tbody tr")
    expect(rows).to_have_count(1)
    row = page.locator(f"#message-{first.pk}")
    expect(row.locator(".badge")).to_have_text("Could not reach the client")
    expect(row).to_contain_text("SMTP 550")
    expect(row).to_contain_text("First message")

    smtp_settings.refuse_with = None
    row.get_by_role("button", name="Send again").click()

    expect(page.get_by_role("alert")).to_have_text("The message will go out within a minute.")
    expect(rows).to_have_count(2)
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(row).not_to_contain_text("SMTP 550")
    expect(row.get_by_role("button", name="Cancel")).to_be_visible()
    first.refresh_from_db()
    assert (first.status, first.attempts, first.last_error) == ("pending", 0, "")
    assert AuditEvent.objects.filter(action="followups.send_again", object_id=first.pk, actor=front_desk).exists()

    assert tasks.sweep_followups() == 1
    page.reload()

    expect(row.locator(".badge")).to_have_text("Sent")
    expect(row.get_by_role("button", name="Send again")).to_be_visible()
    expect(page.locator(f"#message-{second.pk} .badge")).to_have_text("Pending")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts, first.sent_at is not None) == ("sent", 1, True)
    assert second.status == "pending"
    [received] = smtp_settings.messages
    assert received.envelope_to == ["robin@example.com"]
    # Sent again: a new send generation, so a new Message-ID mail systems will not drop as a duplicate.
    assert received.message["Message-ID"] == f"<followup.{first.pk}.first.1@{_site_host()}>"
    # Nobody is left unreached on Today.
    page.get_by_role("navigation").get_by_role("link", name="Today", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()
    expect(page.locator("#unreached")).to_have_count(0)


def _site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "reconnect.invalid"


def test_admin_exports_the_fees_as_csv(page, practice, therapist, practice_admin, client_of_therapist):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=practice_admin)
    appointment = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60))
    event = _no_show(appointment, therapist)
    assert tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get(missed_session=event)
    log_in(page, practice_admin)
    page.get_by_role("navigation").get_by_role("link", name="Fees", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Fees")).to_be_visible()
    expect(page.locator("table.fees tbody tr")).to_have_count(1)

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()

    download = info.value
    assert re.fullmatch(r"fees-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    with open(download.path(), newline="", encoding="utf-8") as file:
        header, *rows = list(csv.reader(file))
    assert header[0] == "fee_id"
    assert header == [
        "fee_id",
        "session_start",
        "client_id",
        "client_name",
        "clinician",
        "kind",
        "state",
        "amount",
        "currency",
        "rule",
        "policy_version",
        "due_at",
        "charged_under_version",
        "waiver_reason",
        "waiver_note",
    ]
    [row] = rows
    record = dict(zip(header, row, strict=True))
    local_start = appointment.start.astimezone(practice_zone(practice))
    assert record["fee_id"] == str(fee.pk)
    assert record["session_start"] == f"{local_start:%Y-%m-%d %H:%M}"
    assert (record["client_id"], record["client_name"]) == (str(client_of_therapist.pk), "Robin Reed")
    assert record["clinician"] == (therapist.get_full_name() or therapist.username)
    assert (record["kind"], record["state"], record["amount"], record["currency"]) == (
        "no_show",
        "proposed",
        "60.00",
        "USD",
    )
    assert (record["rule"], record["policy_version"], record["charged_under_version"]) == (fee.rule_detail, "1", "1")
    # The page is still there: a download does not navigate away.
    expect(page.get_by_role("heading", level=1, name="Fees")).to_be_visible()
