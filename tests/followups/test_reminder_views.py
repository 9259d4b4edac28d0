"""The Confirm link, the Reminders section of the Policies page, the reminder wording and the tick on Today."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from appointments.models import Appointment
from appointments.services import appointment_move
from followups import reminders
from followups.models import ClientLink, MessageTemplate, ReminderPlan
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, make_policy

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 14:00 in New York.
MONDAY = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_time_and_fresh_cache():
    cache.clear()
    with time_machine.travel(MONDAY, tick=False):
        yield
    cache.clear()


@pytest.fixture
def session(practice, client_of_therapist):
    start = MONDAY + timedelta(hours=2)  # today, 16:00 in New York: it shows on Today
    return AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))


@pytest.fixture
def token(session):
    return reminders.confirm_link_create(appointment=session)


def confirm_url(token):
    return reverse("followups:confirm", args=[token])


def test_get_shows_the_session_and_a_button_and_changes_nothing(client, practice, session, token):
    make_policy(practice, notice_hours=24)
    response = client.get(confirm_url(token))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Robin" in page and "Monday 8 June 2026, 16:00" in page
    assert "The time to move or cancel for free ended on Sunday at 16:00." in page
    assert ">Confirm</button>" in page
    session.refresh_from_db()
    assert session.confirmed_at is None
    assert ClientLink.objects.get().used_at is None


def test_post_confirms_audits_and_uses_the_link_up(client, session, token):
    response = client.post(confirm_url(token))
    assert response.status_code == 200
    assert "Your session is confirmed" in response.content.decode()
    session.refresh_from_db()
    assert session.confirmed_at == MONDAY
    assert (
        AuditEvent.objects.filter(
            action="appointment.confirmed", object_id=session.pk, client_ref=session.client_id
        ).count()
        == 1
    )
    # Single use: a double click or a later visit says it is confirmed, and changes nothing.
    with time_machine.travel(MONDAY + timedelta(minutes=5), tick=False):
        again = client.post(confirm_url(token))
        assert again.status_code == 200 and "Your session is confirmed" in again.content.decode()
        assert client.get(confirm_url(token)).status_code == 200
    session.refresh_from_db()
    assert session.confirmed_at == MONDAY
    assert AuditEvent.objects.filter(action="appointment.confirmed").count() == 1


def test_a_used_link_of_a_session_no_longer_confirmed_gets_the_kind_page(client, session, token, therapist):
    client.post(confirm_url(token))
    Appointment.objects.filter(pk=session.pk).update(confirmed_at=None)
    response = client.get(confirm_url(token))
    assert response.status_code == 404
    assert "can't be used any more" in response.content.decode()


def test_a_link_for_a_session_since_moved_confirms_nothing(client, session, token, therapist):
    new_start = session.start + timedelta(days=1)
    appointment_move(appointment=session, start=new_start, end=new_start + timedelta(minutes=50), actor=therapist)
    assert client.get(confirm_url(token)).status_code == 404
    assert client.post(confirm_url(token)).status_code == 404
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_a_link_for_a_cancelled_session_confirms_nothing(client, session, token):
    Appointment.objects.filter(pk=session.pk).update(status=Appointment.Status.CANCELLED_IN_TIME)
    assert client.post(confirm_url(token)).status_code == 404
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_an_expired_link_gets_the_kind_page(client, session, token):
    with time_machine.travel(session.start + timedelta(minutes=1), tick=False):
        response = client.get(confirm_url(token))
    assert response.status_code == 404
    assert "can't be used any more" in response.content.decode()


@pytest.mark.parametrize("bad", ["nope", "x" * 101, "%20"])
def test_unknown_tokens_get_the_kind_page_never_a_500(client, bad):
    assert client.get(f"/c/{bad}/").status_code == 404
    assert client.post(f"/c/{bad}/").status_code == 404


def test_guessing_links_is_rate_limited_like_the_other_client_links(client, token):
    for i in range(20):
        assert client.get(f"/c/bad-{i}/").status_code == 404
    response = client.get(confirm_url(token))
    assert response.status_code == 429
    assert client.get(confirm_url(token), REMOTE_ADDR="10.1.2.3").status_code == 200


def test_today_and_week_show_the_tick_for_a_confirmed_session(client, therapist, session, token):
    client.force_login(therapist)
    assert "confirmed-tick" not in client.get(reverse("appointments:today")).content.decode()
    reminders.session_confirm(token=token)
    for name in ("appointments:today", "appointments:week"):
        page = client.get(reverse(name)).content.decode()
        assert 'class="visually-hidden">confirmed</span>' in page


def test_another_practice_does_not_see_the_session_or_its_tick(client, other_practice_therapist, session, token):
    reminders.session_confirm(token=token)
    client.force_login(other_practice_therapist)
    assert "confirmed-tick" not in client.get(reverse("appointments:today")).content.decode()
    assert client.get(reverse("appointments:appointment_edit", args=[session.pk])).status_code == 404


# ------------------------------------------------------------ Policies → Reminders

PLAN_URL = reverse("followups:reminder_plan_save")
GOOD_PLAN = {
    "enabled": "on",
    "first_hours": "72",
    "first_channel": "email",
    "second_hours": "24",
    "second_channel": "sms",
    "third_hours": "",
    "third_channel": "sms",
}


def test_everyone_reads_the_reminder_plan_and_admins_get_the_form(client, therapist, practice_admin):
    client.force_login(therapist)
    page = client.get(reverse("policies:policy")).content.decode()
    assert 'id="reminders"' in page and "A reminder 48 hours before, by email." in page
    assert PLAN_URL not in page
    client.force_login(practice_admin)
    page = client.get(reverse("policies:policy")).content.decode()
    assert PLAN_URL in page and "See you soon" in page


def test_an_admin_saves_up_to_three_reminders_audited(client, practice_admin, practice):
    client.force_login(practice_admin)
    response = client.post(PLAN_URL, GOOD_PLAN)
    assert response.status_code == 302 and response.url.endswith("#reminders")
    plan = ReminderPlan.objects.get(practice=practice)
    assert plan.reminders() == [(1, 72, "email"), (2, 24, "sms")]
    assert AuditEvent.objects.filter(action="reminders.plan_updated").count() == 1


@pytest.mark.parametrize(
    ("field", "value"), [("first_hours", "0"), ("first_hours", "x"), ("second_hours", "72"), ("third_hours", "500")]
)
def test_bad_plans_save_nothing_and_say_why(client, practice_admin, practice, field, value):
    client.force_login(practice_admin)
    response = client.post(PLAN_URL, {**GOOD_PLAN, field: value}, follow=True)
    assert response.status_code == 200
    assert "Nothing was saved." in response.content.decode()
    assert not ReminderPlan.objects.filter(practice=practice, first_hours=72).exists()


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_only_admins_save_the_plan(client, request, persona, practice):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(PLAN_URL, GOOD_PLAN).status_code == 403
    assert not ReminderPlan.objects.filter(practice=practice, first_hours=72).exists()


def test_an_admin_saves_only_their_own_practices_plan(client, practice_admin, practice, other_practice):
    client.force_login(practice_admin)
    client.post(PLAN_URL, GOOD_PLAN)
    assert reminders.plan_for(other_practice).reminders() == [(1, 48, "email")]


# ----------------------------------------------------------------- wording

REMINDER_EDIT = reverse("followups:template_edit", args=["reminder"])


def test_the_reminder_wording_may_state_terms_and_amounts(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "Hi {first_name}, see you {session_time}. {terms} A late cancel has a $40 fee.\n{confirm_link}"
    response = client.post(REMINDER_EDIT, {"kind": "reminder", "subject": "See you soon", "body": body})
    assert response.status_code == 302 and response.url.endswith("#reminders")
    assert MessageTemplate.objects.get(practice=practice, kind="reminder").body == body


def test_the_reminder_wording_refuses_blame_and_a_missing_confirm_link(client, practice_admin, practice):
    client.force_login(practice_admin)
    body = "Hi {first_name}, don't be irresponsible this time: {session_time}."
    response = client.post(REMINDER_EDIT, {"kind": "reminder", "subject": "See you soon", "body": body})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Blame:" in page and "{confirm_link}" in page
    assert not MessageTemplate.objects.filter(kind="reminder").exists()


def test_the_reminder_preview_fills_its_own_placeholders(client, practice_admin):
    client.force_login(practice_admin)
    body = "Hi {first_name}, {session_time}: {place}. {terms}\n{confirm_link}"
    response = client.post(
        reverse("followups:template_preview"), {"kind": "reminder", "subject": "See you soon", "body": body}
    )
    page = response.content.decode()
    assert "Sam" in page and "video session" in page and "free until Monday 10:00" in page
    assert "Unknown placeholder" not in page


# ------------------------------------------------------------------ client form


def test_the_client_form_records_the_reminder_opt_out(client, front_desk, client_of_therapist, therapist):
    client.force_login(front_desk)
    url = reverse("appointments:client_edit", args=[client_of_therapist.pk])
    assert "No reminders before sessions" in client.get(url).content.decode()
    data = {
        "first_name": "Robin",
        "last_name": "Reed",
        "email": client_of_therapist.email,
        "preferred_channel": "email",
        "consent_email": "on",
        "clinician": therapist.pk,
        "reminders_opt_out": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 302
    client_of_therapist.refresh_from_db()
    assert client_of_therapist.reminders_opt_out is True


def test_the_message_log_names_a_reminder_and_its_session(client, practice_admin, practice, session):
    make_row = reminders.reminders_write_due
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        plan = reminders.plan_for(practice)
        plan.first_hours = 3
        plan.save()
        assert make_row() == 1
    client.force_login(practice_admin)
    page = client.get(reverse("followups:messages")).content.decode()
    assert "Reminder before a session" in page and "session 8 Jun 16:00" in page
