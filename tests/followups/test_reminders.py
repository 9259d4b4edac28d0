"""Reminders before a session: the sweep writes one outbox row per reminder, quiet hours move it to the
evening before, and the purpose's check stops reminders for moved, cancelled or opted-out sessions."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from aftercare import tasks as aftercare_tasks
from appointments.models import Appointment
from appointments.services import appointment_move, client_update
from followups import reminders, services
from followups.models import ClientLink, OutboxMessage, ReminderPlan
from followups.tasks import sweep_reminders
from tests.factories import AppointmentFactory, ClientFactory, make_policy

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
Status = OutboxMessage.Status
Code = OutboxMessage.CancelCode


def local(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


# A Friday session at 14:00 in New York: every reminder time in this file's plans is daytime.
FRIDAY_2PM = local(2026, 6, 12, 14, 0)


@pytest.fixture
def session(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist, first_name="Robin", email="robin@example.com")
    with time_machine.travel(FRIDAY_2PM - timedelta(days=10), tick=False):
        return AppointmentFactory(client=client, start=FRIDAY_2PM, end=FRIDAY_2PM + timedelta(minutes=50))


def reminder_rows(appointment=None):
    rows = OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.REMINDER)
    return rows.filter(appointment=appointment) if appointment else rows


def two_reminders(practice) -> ReminderPlan:
    plan = reminders.plan_for(practice)
    plan.first_hours, plan.first_channel = 48, "email"
    plan.second_hours, plan.second_channel = 24, "email"
    plan.save()
    return plan


def sweep_at(moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return sweep_reminders()


def send_at(moment: datetime) -> int:
    with time_machine.travel(moment, tick=False):
        return aftercare_tasks.sweep_followups()


def test_default_plan_is_one_email_48_hours_before(practice, session):
    assert reminders.plan_for(practice).reminders() == [(1, 48, "email")]
    assert sweep_at(FRIDAY_2PM - timedelta(hours=48, minutes=1)) == 0
    assert sweep_at(FRIDAY_2PM - timedelta(hours=47, minutes=59)) == 1
    row = reminder_rows().get()
    assert row.idempotency_key == f"reminder:{session.pk}:{session.start.astimezone(UTC).isoformat()}:1"
    assert (row.channel, row.status, row.appointment_start) == ("email", Status.PENDING, session.start)


def test_sweeping_twice_writes_one_row_per_reminder(practice, session):
    two_reminders(practice)
    moment = FRIDAY_2PM - timedelta(hours=47)
    assert sweep_at(moment) == 1
    assert sweep_at(moment) == 0
    assert sweep_at(FRIDAY_2PM - timedelta(hours=23)) == 1
    assert sweep_at(FRIDAY_2PM - timedelta(hours=23)) == 0
    assert sorted(reminder_rows(session).values_list("reminder_number", flat=True)) == [1, 2]


def test_a_reminder_due_in_quiet_hours_goes_the_evening_before(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    start = local(2026, 6, 12, 7, 0)  # 07:00: its 24-hour reminder falls at 07:00 on Thursday, in quiet hours
    with time_machine.travel(start - timedelta(days=10), tick=False):
        appointment = AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))
    plan = reminders.plan_for(practice)
    plan.first_hours = 24
    plan.save()
    # Quiet hours are 20:00-08:00: the reminder goes at 19:30 on Wednesday evening, not Thursday morning.
    assert sweep_at(local(2026, 6, 10, 19, 29)) == 0
    assert sweep_at(local(2026, 6, 10, 19, 30)) == 1
    row = reminder_rows(appointment).get()
    assert row.due_at == local(2026, 6, 10, 19, 30)
    assert send_at(local(2026, 6, 10, 19, 31)) == 1
    assert reminder_rows(appointment).get().status == Status.SENT


def test_a_reminder_whose_evening_has_passed_is_skipped_with_a_reason(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    start = local(2026, 6, 12, 7, 0)
    plan = reminders.plan_for(practice)
    plan.first_hours = 24
    plan.save()
    # Booked at 21:00 on Thursday for Friday 07:00: the reminder's evening (Wednesday) is long gone,
    # and after quiet hours the session has started.
    with time_machine.travel(local(2026, 6, 11, 21, 0), tick=False):
        appointment = AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))
    assert sweep_at(local(2026, 6, 11, 21, 1)) == 1
    row = reminder_rows(appointment).get()
    assert (row.status, row.cancel_code) == (Status.CANCELLED, Code.TOO_LATE)
    assert send_at(local(2026, 6, 11, 21, 2)) == 0
    assert len(mail.outbox) == 0


def test_the_reminder_states_the_time_place_terms_and_a_confirm_link(practice, session):
    make_policy(practice, notice_hours=24, effective_at=FRIDAY_2PM - timedelta(days=365))
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    assert send_at(FRIDAY_2PM - timedelta(hours=47)) == 1
    [message] = mail.outbox
    body = message.body
    assert message.to == ["robin@example.com"]
    assert "Hi Robin," in body
    assert "Friday 12 June at 14:00 (" in body
    assert "video session" in body or "in person" in body
    assert "Moving or cancelling is free until Thursday 14:00." in body
    assert "/c/" in body
    # Minimum necessary: no clinician's name, no session type, no amount.
    assert session.clinician.last_name not in body
    assert "Individual" not in body and "$" not in body
    link = ClientLink.objects.get(purpose=ClientLink.Purpose.CONFIRM)
    assert (link.appointment_id, link.expires_at) == (session.pk, session.start)


def test_a_moved_session_gets_reminders_of_its_own_and_the_old_ones_stop(practice, session):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    old = reminder_rows(session).get()
    new_start = FRIDAY_2PM + timedelta(days=1)
    with time_machine.travel(FRIDAY_2PM - timedelta(hours=47), tick=False):
        appointment_move(appointment=session, start=new_start, end=new_start + timedelta(minutes=50), actor=None)
        aftercare_tasks.sweep_followups()
    old.refresh_from_db()
    assert (old.status, old.cancel_code) == (Status.CANCELLED, Code.MOVED)
    assert len(mail.outbox) == 0
    assert sweep_at(new_start - timedelta(hours=47)) == 1
    assert reminder_rows(session).filter(appointment_start=new_start, status=Status.PENDING).count() == 1


def test_a_cancelled_session_gets_no_reminder(practice, session):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    Appointment.objects.filter(pk=session.pk).update(status=Appointment.Status.CANCELLED_IN_TIME)
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert reminder_rows(session).get().cancel_code == Code.NOT_SCHEDULED
    assert len(mail.outbox) == 0


def test_a_client_who_opted_out_gets_no_reminders(practice, session, practice_admin):
    client_update(client=session.client, actor=practice_admin, reminders_opt_out=True)
    assert sweep_at(FRIDAY_2PM - timedelta(hours=47)) == 0
    assert not reminder_rows().exists()


def test_opting_out_after_the_row_was_written_stops_it(practice, session, practice_admin):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    client_update(client=session.client, actor=practice_admin, reminders_opt_out=True)
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert reminder_rows(session).get().cancel_code == Code.OPTED_OUT
    assert len(mail.outbox) == 0


def test_a_reminder_on_a_channel_without_consent_is_not_sent(practice, session, practice_admin):
    client_update(client=session.client, actor=practice_admin, consent_email=False)
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert reminder_rows(session).get().cancel_code == Code.NO_CONSENT_EMAIL
    assert len(mail.outbox) == 0


def test_reminders_off_writes_nothing(practice, session, practice_admin):
    reminders.plan_update(practice=practice, actor=practice_admin, enabled=False)
    assert sweep_at(FRIDAY_2PM - timedelta(hours=47)) == 0


def test_another_practices_sessions_follow_their_own_plan(practice, session, other_practice, other_client):
    plan = reminders.plan_for(other_practice)
    plan.enabled = False
    plan.save()
    with time_machine.travel(FRIDAY_2PM - timedelta(days=10), tick=False):
        AppointmentFactory(client=other_client, start=FRIDAY_2PM, end=FRIDAY_2PM + timedelta(minutes=50))
    assert sweep_at(FRIDAY_2PM - timedelta(hours=47)) == 1
    assert reminder_rows().get().practice_id == practice.pk


def test_the_sweep_is_bounded_and_says_when_it_was_full(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    with time_machine.travel(FRIDAY_2PM - timedelta(days=10), tick=False):
        for minutes in range(3):
            start = FRIDAY_2PM + timedelta(minutes=minutes)
            AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=1))
    with time_machine.travel(FRIDAY_2PM - timedelta(hours=47), tick=False):
        assert reminders.reminders_write_due(limit=2) == 2
        assert reminders.reminders_write_due(limit=2) == 1
    assert reminder_rows().count() == 3


def test_moving_a_session_clears_confirmed(practice, session):
    Appointment.objects.filter(pk=session.pk).update(confirmed_at=FRIDAY_2PM - timedelta(days=1))
    session.refresh_from_db()
    new_start = FRIDAY_2PM + timedelta(hours=2)
    with time_machine.travel(FRIDAY_2PM - timedelta(days=2), tick=False):
        moved = appointment_move(appointment=session, start=new_start, end=new_start + timedelta(hours=1), actor=None)
    assert moved.confirmed_at is None
    session.refresh_from_db()
    assert session.confirmed_at is None


def test_send_again_is_refused_for_a_reminder_of_a_moved_session(practice, session, practice_admin):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    new_start = FRIDAY_2PM + timedelta(days=1)
    with time_machine.travel(FRIDAY_2PM - timedelta(hours=47), tick=False):
        appointment_move(appointment=session, start=new_start, end=new_start + timedelta(minutes=50), actor=None)
        aftercare_tasks.sweep_followups()
    row = reminder_rows(session).get()
    assert not row.can_send_again
    with pytest.raises(services.ValidationError):
        services.outbox_send_again(message=row, actor=practice_admin)


def test_a_second_reminder_by_text_goes_to_the_clients_number(practice, session, practice_admin, settings, tmp_path):
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path)
    client_update(client=session.client, actor=practice_admin, phone="+1 212 555 0199", consent_sms=True)
    plan = reminders.plan_for(practice)
    plan.second_hours, plan.second_channel = 24, "sms"
    plan.save()
    sweep_at(FRIDAY_2PM - timedelta(hours=23))
    send_at(FRIDAY_2PM - timedelta(hours=23))
    row = reminder_rows(session).get(reminder_number=2)
    assert (row.channel, row.status) == ("sms", Status.SENT)
    [text] = [p.read_text() for p in tmp_path.iterdir()]
    assert text.startswith("To: +12125550199") and "Hi Robin," in text and "/c/" in text


def test_a_reminder_not_sent_before_the_session_started_is_never_sent(practice, session):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    send_at(FRIDAY_2PM + timedelta(minutes=1))
    assert reminder_rows(session).get().cancel_code == Code.TOO_LATE
    assert len(mail.outbox) == 0


def test_turning_reminders_off_stops_those_already_written(practice, session, practice_admin):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    reminders.plan_update(practice=practice, actor=practice_admin, enabled=False)
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert reminder_rows(session).get().cancel_code == Code.REMINDERS_OFF


def test_an_archived_client_gets_no_reminder(practice, session, practice_admin):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    client_update(client=session.client, actor=practice_admin, is_archived=True)
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert reminder_rows(session).get().cancel_code == Code.ARCHIVED
    assert sweep_at(FRIDAY_2PM - timedelta(hours=46)) == 0


def test_without_a_policy_the_reminder_says_to_let_us_know(practice, session):
    sweep_at(FRIDAY_2PM - timedelta(hours=47))
    send_at(FRIDAY_2PM - timedelta(hours=47))
    assert "If you need to move or cancel, just let us know." in mail.outbox[0].body


def test_a_session_booked_after_its_reminder_time_is_skipped_not_sent_late(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    two_reminders(practice)
    # Booked 30 hours ahead: the 48-hour reminder's time has passed, the 24-hour one comes in time.
    with time_machine.travel(FRIDAY_2PM - timedelta(hours=30), tick=False):
        appointment = AppointmentFactory(client=client, start=FRIDAY_2PM, end=FRIDAY_2PM + timedelta(minutes=50))
    sweep_at(FRIDAY_2PM - timedelta(hours=30))
    first = reminder_rows(appointment).get()
    assert (first.reminder_number, first.cancel_code) == (1, Code.TOO_LATE)
    sweep_at(FRIDAY_2PM - timedelta(hours=24))
    assert reminder_rows(appointment).get(reminder_number=2).status == Status.PENDING


def test_inside_the_notice_window_the_reminder_never_offers_a_free_time_already_past(practice, session):
    make_policy(practice, notice_hours=48, effective_at=FRIDAY_2PM - timedelta(days=365))
    plan = reminders.plan_for(practice)
    plan.first_hours = 24
    plan.save()
    sweep_at(FRIDAY_2PM - timedelta(hours=23))
    send_at(FRIDAY_2PM - timedelta(hours=23))
    body = mail.outbox[0].body
    assert "free until" not in body
    assert "The time to move or cancel for free ended on Wednesday at 14:00." in body
    assert "If you can't make it, please still let us know." in body
