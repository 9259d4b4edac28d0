"""The "I can't make it" and "Move it" pages, what staff see of the answers, and the reminder wording."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from appointments.models import Appointment, NoShowEvent
from followups import reminders
from followups.models import ClientLink, MessageTemplate, OutboxMessage
from followups.selectors import UNCONFIRMED_LIMIT
from policies import services as policies
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory, give_availability, make_policy

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 14:00 in New York.
MONDAY = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)
TUESDAY_10AM = datetime(2026, 6, 9, 14, 0, tzinfo=UTC)  # 20 hours away: inside a 24-hour notice window
THURSDAY_10AM = datetime(2026, 6, 11, 14, 0, tzinfo=UTC)  # outside it
CANT, MOVE = ClientLink.Purpose.CANT_MAKE_IT, ClientLink.Purpose.MOVE


@pytest.fixture(autouse=True)
def _fixed_time():
    with time_machine.travel(MONDAY, tick=False):
        yield


@pytest.fixture
def terms(practice, therapist, client_of_therapist):
    give_availability(practice, therapist, start_hour=9, end_hour=12)
    version = make_policy(practice, notice_hours=24, late_cancel_fee=Decimal("40.00"), makeup_days=7)
    policies.acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    return version


def session_at(client, start):
    return AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))


def url(purpose, token):
    return reverse("followups:cant_make_it" if purpose == CANT else "followups:move", args=[token])


def page_of(purpose, session):
    return url(purpose, reminders.session_link_create(purpose=purpose, appointment=session))


def test_get_outside_the_window_says_no_fee_offers_times_and_changes_nothing(client, terms, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    page = client.get(page_of(CANT, session))
    body = page.content.decode()
    assert page.status_code == 200
    assert "there is no fee" in body and "Cancel my session" in body and "Move to this time" in body
    assert "Robin" in body and "Reed" not in body and "Thursday 11 June 2026, 10:00" in body
    session.refresh_from_db()
    assert session.status == "scheduled" and ClientLink.objects.get().used_at is None
    assert not AuditEvent.objects.filter(action__startswith="appointment.").exists()


def test_get_inside_the_window_names_the_fee_and_the_free_move_before_the_client_confirms(
    client, terms, client_of_therapist
):
    body = client.get(page_of(CANT, session_at(client_of_therapist, TUESDAY_10AM))).content.decode()
    assert "less than 24 hours away" in body and "cancelling now has a fee of <strong>$40.00</strong>" in body
    assert "Moving it instead has no fee" in body and "up to Tuesday 16 June" in body
    assert "Cancel, with the $40.00 fee" in body
    assert 'name="late" value="1"' in body


def test_post_cancel_shows_the_done_page_and_a_second_post_the_same(client, terms, client_of_therapist):
    session = session_at(client_of_therapist, TUESDAY_10AM)
    address = page_of(CANT, session)
    first = client.post(address, {"action": "cancel", "late": "1", "reason": "unwell"})
    assert first.status_code == 200
    body = first.content.decode()
    assert 'data-done="cancelled"' in body and "late cancellation fee of $40.00" in body
    second = client.post(address, {"action": "cancel", "late": "1"})
    assert second.status_code == 200 and 'data-done="cancelled"' in second.content.decode()
    assert client.get(address).status_code == 200
    assert NoShowEvent.objects.filter(appointment=session).count() == 1
    assert AuditEvent.objects.filter(action="appointment.client_cant_make_it").count() == 1


def test_post_move_moves_the_same_row_and_shows_it(client, terms, client_of_therapist):
    session = session_at(client_of_therapist, TUESDAY_10AM)
    new_start = TUESDAY_10AM + timedelta(days=1)
    page = client.post(page_of(MOVE, session), {"action": "move", "slot": new_start.isoformat()})
    body = page.content.decode()
    assert page.status_code == 200 and 'data-done="moved"' in body and "Wednesday 10 June 2026, 10:00" in body
    session.refresh_from_db()
    assert session.start == new_start and Appointment.objects.count() == 1


def test_two_tabs_move_then_cancel_shows_the_move(client, terms, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    address = page_of(CANT, session)
    new_start = THURSDAY_10AM + timedelta(hours=1)
    assert (
        'data-done="moved"' in client.post(address, {"action": "move", "slot": new_start.isoformat()}).content.decode()
    )
    # The other tab still shows the old page and its cancel button.
    page = client.post(address, {"action": "cancel", "late": "0"})
    assert page.status_code == 200 and 'data-done="moved"' in page.content.decode()
    session.refresh_from_db()
    assert (session.status, session.start) == ("scheduled", new_start)


def test_the_move_page_has_no_cancel_button(client, terms, client_of_therapist):
    address = page_of(MOVE, session_at(client_of_therapist, THURSDAY_10AM))
    assert "Cancel my session" not in client.get(address).content.decode()
    # Asking it to cancel anyway changes nothing.
    page = client.post(address, {"action": "cancel", "late": "0"})
    assert page.status_code == 200 and Appointment.objects.get().status == "scheduled"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"action": "nonsense"},
        {"action": "cancel"},
        {"action": "cancel", "late": "maybe"},
        {"action": "cancel", "late": "0", "reason": "not-a-reason"},
        {"action": "move"},
        {"action": "move", "slot": "tomorrow"},
        {"action": "move", "slot": "2026-06-10T10:00:00"},
        {"action": "move", "slot": "2030-01-01T10:00:00+00:00"},
    ],
)
def test_bad_post_fields_get_a_clear_message_and_change_nothing(client, terms, client_of_therapist, data):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    page = client.post(page_of(CANT, session), data)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'role="alert"' in body
    session.refresh_from_db()
    assert (session.status, session.start) == ("scheduled", THURSDAY_10AM)
    assert ClientLink.objects.get().used_at is None


@pytest.mark.parametrize("bad", ["nope", "x" * 101, "%20"])
@pytest.mark.parametrize("purpose", [CANT, MOVE])
def test_unknown_tokens_get_the_kind_page_never_a_500(client, bad, purpose):
    assert client.get(url(purpose, bad)).status_code == 404
    assert client.post(url(purpose, bad), {"action": "cancel", "late": "0"}).status_code == 404


def test_a_link_for_a_session_since_cancelled_gets_the_kind_page(client, terms, client_of_therapist):
    session = session_at(client_of_therapist, THURSDAY_10AM)
    address = page_of(CANT, session)
    Appointment.objects.filter(pk=session.pk).update(status=Appointment.Status.CANCELLED_BY_CLINICIAN)
    page = client.post(address, {"action": "cancel", "late": "0"})
    assert page.status_code == 404 and "can't be used any more" in page.content.decode()


# ------------------------------------------------------------------ staff


def _sent_reminder(appointment):
    return OutboxMessage.objects.create(
        purpose=OutboxMessage.Purpose.REMINDER,
        idempotency_key=reminders.reminder_key(appointment_id=appointment.pk, start=appointment.start, number=1),
        practice_id=appointment.practice_id,
        client_id=appointment.client_id,
        appointment=appointment,
        appointment_start=appointment.start,
        reminder_number=1,
        kind=MessageTemplate.Kind.REMINDER,
        channel="email",
        due_at=MONDAY - timedelta(hours=1),
        status=OutboxMessage.Status.SENT,
        sent_at=MONDAY - timedelta(hours=1),
    )


def test_today_lists_unconfirmed_sessions_within_24_hours_for_front_desk_to_call(
    client, practice, therapist, therapist2, front_desk, other_practice_therapist, other_client
):
    soon = MONDAY + timedelta(hours=3)
    mine = session_at(
        ClientFactory(practice=practice, clinician=therapist, first_name="Ava", phone="+12125550100"), soon
    )
    theirs = session_at(ClientFactory(practice=practice, clinician=therapist2, first_name="Ben"), soon)
    confirmed = session_at(ClientFactory(practice=practice, clinician=therapist, first_name="Cy"), soon)
    confirmed.confirmed_at = MONDAY
    confirmed.save()
    later = session_at(
        ClientFactory(practice=practice, clinician=therapist, first_name="Di"), MONDAY + timedelta(hours=30)
    )
    not_reminded = session_at(ClientFactory(practice=practice, clinician=therapist, first_name="Ed"), soon)
    elsewhere = session_at(other_client, soon)
    for appointment in (mine, theirs, confirmed, later, elsewhere):
        _sent_reminder(appointment)
    client.force_login(front_desk)
    body = client.get(reverse("appointments:today")).content.decode()
    section = body.split('id="unconfirmed"', 1)[1].split("</section>", 1)[0]
    assert f"unconfirmed-{mine.pk}" in section and f"unconfirmed-{theirs.pk}" in section
    assert "(212) 555-0100" in section
    for absent in (confirmed, later, not_reminded, elsewhere):
        assert f"unconfirmed-{absent.pk}" not in section
    # A clinician sees their own.
    client.force_login(therapist)
    section = client.get(reverse("appointments:today")).content.decode().split('id="unconfirmed"', 1)[1]
    assert f"unconfirmed-{mine.pk}" in section and f"unconfirmed-{theirs.pk}" not in section
    client.force_login(other_practice_therapist)
    body = client.get(reverse("appointments:today")).content.decode()
    assert f"unconfirmed-{mine.pk}" not in body and f"unconfirmed-{elsewhere.pk}" in body


def test_the_unconfirmed_list_is_bounded_and_runs_a_fixed_number_of_queries(
    client, practice, therapist, front_desk, django_assert_max_num_queries
):
    client.force_login(front_desk)

    def add(n):
        for i in range(n):
            appointment = session_at(
                ClientFactory(practice=practice, clinician=therapist), MONDAY + timedelta(hours=2, minutes=i)
            )
            _sent_reminder(appointment)

    add(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("appointments:today"))
    add(UNCONFIRMED_LIMIT + 5)
    with django_assert_max_num_queries(len(few.captured_queries)):
        body = client.get(reverse("appointments:today")).content.decode()
    section = body.split('id="unconfirmed"', 1)[1].split("</section>", 1)[0]
    assert section.count('<tr id="unconfirmed-') == UNCONFIRMED_LIMIT


def test_rows_and_the_message_log_show_the_answer(client, front_desk, practice, therapist, client_of_therapist):
    give_availability(practice, therapist, start_hour=9, end_hour=12)
    today_session = session_at(client_of_therapist, MONDAY + timedelta(hours=3))
    reminder = _sent_reminder(today_session)
    client.post(page_of(CANT, today_session), {"action": "cancel", "late": "0"})
    client.force_login(front_desk)
    today = client.get(reverse("appointments:today")).content.decode()
    assert "can't make it</span>" in today
    log = client.get(reverse("followups:messages")).content.decode()
    assert f'id="message-{reminder.pk}"' in log and "Answer: can't make it" in log


def test_a_move_shows_moved_by_client_on_the_week(client, front_desk, practice, therapist, client_of_therapist):
    give_availability(practice, therapist, start_hour=9, end_hour=12)
    session = session_at(client_of_therapist, THURSDAY_10AM)
    reminder = _sent_reminder(session)
    client.post(page_of(MOVE, session), {"action": "move", "slot": (THURSDAY_10AM + timedelta(hours=1)).isoformat()})
    client.force_login(front_desk)
    week = client.get(reverse("appointments:week")).content.decode()
    assert "moved by client</span>" in week
    log = client.get(reverse("followups:messages")).content.decode()
    assert f'id="message-{reminder.pk}"' in log and "Answer: moved by client to 11 Jun 11:00" in log


# ---------------------------------------------------------------- wording


def test_the_reminder_wording_knows_the_new_links_and_previews_them(client, practice_admin):
    client.force_login(practice_admin)
    body = "Hi {first_name}, {session_time}.\n{confirm_link}\nCan't come? {cancel_link}\nMove: {move_link}"
    page = client.post(
        reverse("followups:template_preview"), {"kind": "reminder", "subject": "See you soon", "body": body}
    ).content.decode()
    assert "Unknown placeholder" not in page
    assert "https://…/cancel/example-link" in page and "https://…/move/example-link" in page
    saved = client.post(
        reverse("followups:template_edit", args=["reminder"]), {"kind": "reminder", "subject": "See you", "body": body}
    )
    assert saved.status_code == 302
    assert "{cancel_link}" in MessageTemplate.objects.get(kind="reminder").body
