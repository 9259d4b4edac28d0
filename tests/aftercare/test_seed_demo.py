from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils import timezone

from appointments.models import Appointment, Availability, Client, NoShowEvent
from practice.models import Membership, Practice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _a_weekday_evening_in_new_york():
    """The demo's reminded sessions go a day ahead, in an hour its regular schedule may already fill
    (then it adds none: see docs/decisions.md, "The demo's reminded sessions"). The tests run at one
    known hour, whatever the hour the suite runs."""
    with time_machine.travel(datetime(2026, 11, 25, 0, 30, tzinfo=UTC), tick=True):
        yield


def test_seed_demo_builds_the_demo_and_a_second_run_duplicates_nothing():
    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    counts = (
        Practice.objects.count(),
        Client.objects.count(),
        Appointment.objects.count(),
        Membership.objects.count(),
        NoShowEvent.objects.count(),
        Availability.objects.count(),
    )
    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    assert counts == (
        Practice.objects.count(),
        Client.objects.count(),
        Appointment.objects.count(),
        Membership.objects.count(),
        NoShowEvent.objects.count(),
        Availability.objects.count(),
    )
    practice = Practice.objects.get(name="Demo Practice")
    assert Client.objects.filter(practice=practice).count() == 30
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {
        "admin": "admin",
        "therapist": "clinician",
        "therapist2": "clinician",
        "frontdesk": "front_desk",
    }
    assert authenticate(username="therapist", password="demo") is not None

    now = timezone.now()
    appointments = Appointment.objects.filter(practice=practice)
    assert appointments.filter(start__lt=now - timedelta(days=21)).exists()
    assert appointments.filter(start__gt=now + timedelta(days=21)).exists()
    started_today = appointments.filter(
        status="scheduled",
        start__lte=now,
        start__gte=now - timedelta(hours=3),
        clinician__username="therapist",
    )
    assert started_today.count() >= 2
    for appointment in started_today:
        client = appointment.client
        assert client.email and client.consent_email and not client.needs_safety_check
    # Other clients show the other cases.
    assert Client.objects.filter(practice=practice, needs_safety_check=True).exists()
    assert Client.objects.filter(practice=practice, is_archived=True).exists()
    assert Client.objects.filter(practice=practice, email="").exists()
    # Both clinicians take sessions Mon-Fri, 09:00-12:00 and 13:00-17:00, at the practice's defaults.
    for username in ("therapist", "therapist2"):
        windows = set(
            Availability.objects.filter(practice=practice, clinician__username=username).values_list(
                "weekday", "start_time", "end_time", "session_minutes"
            )
        )
        assert windows == {
            (day, start, end, None) for day in range(5) for start, end in [(time(9), time(12)), (time(13), time(17))]
        }
    assert not Availability.objects.filter(clinician__username__in=["admin", "frontdesk"]).exists()
    # Historic misses are not fresh work for the pipeline.
    assert not NoShowEvent.objects.filter(processed_at=None).exists()


def test_seed_demo_adds_separate_practices_for_tenancy_checks():
    call_command("seed_demo", "--practices", "2", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    second = Practice.objects.get(name="Demo Practice 2")
    assert Membership.objects.get(user__username="therapist-2").practice == second
    assert Client.objects.filter(practice=second).count() == 30


def test_seed_demo_rejects_a_bad_count():
    with pytest.raises(CommandError, match="1 to 5"):
        call_command("seed_demo", "--practices", "0")
    assert not Practice.objects.exists()


def test_seed_demo_sets_a_short_first_message_delay_once():
    from followups.models import FollowUpPlan

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    plan = FollowUpPlan.objects.get(practice__name="Demo Practice")
    assert plan.first_delay_minutes == 2
    plan.first_delay_minutes = 45
    plan.save()
    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    plan.refresh_from_db()
    assert plan.first_delay_minutes == 45


def test_demo_admins_are_enrolled_for_two_factors_and_demo_code_prints_theirs(capsys):
    import io

    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    device = TOTPDevice.objects.get(user__username="admin", confirmed=True)
    assert "admin:" in out.getvalue() and "demo_code admin" in out.getvalue()
    assert not TOTPDevice.objects.filter(user__username="therapist").exists()
    code = io.StringIO()
    call_command("demo_code", "admin", stdout=code)
    assert TOTP(device.bin_key).verify(int(code.getvalue().strip()), tolerance=1)
    with pytest.raises(CommandError):
        call_command("demo_code", "therapist")


def test_seed_demo_shows_reminders_going_out_for_tomorrows_sessions():
    from followups.models import OutboxMessage, ReminderPlan
    from followups.reminders import reminders_write_due

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    practice = Practice.objects.get(name="Demo Practice")
    assert ReminderPlan.objects.get(practice=practice).reminders() == [(1, 24, "email")]
    # Within the hour the minute sweep writes reminders for sessions a day ahead, due at once.
    later = timezone.now() + timedelta(minutes=45)
    reminders_write_due(now=later)
    pending = OutboxMessage.objects.filter(
        practice=practice, purpose="reminder", status="pending", due_at__lte=later, appointment__start__gt=later
    )
    assert pending.count() >= 1


def test_seed_demo_shows_a_freed_time_taken_from_the_waitlist():
    from waitlist.models import FreedSlot, WaitlistEntry

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    taken = FreedSlot.objects.get(status=FreedSlot.Status.TAKEN)
    assert taken.booked.status == "scheduled" and taken.booked.start == taken.start
    assert taken.offers.filter(outcome="accepted").count() == 1
    assert FreedSlot.objects.filter(status=FreedSlot.Status.OPEN).count() == 1
    assert WaitlistEntry.objects.filter(left_at__isnull=True).count() == 2
    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    assert FreedSlot.objects.count() == 2 and WaitlistEntry.objects.count() == 3


def test_the_demo_s_first_reminded_client_gets_a_fee_free_move_offered_inside_the_window():
    """`make run`: "I can't make it" from the first reminder names the fee (grace was used last week)
    and offers times within the make-up window instead, where moving costs nothing."""
    from aftercare import responses
    from followups import reminders
    from followups.models import ClientLink

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    now = timezone.now()
    reminded = (
        Appointment.objects.filter(practice__name="Demo Practice", start__gt=now + timedelta(hours=23, minutes=30))
        .filter(start__lte=now + timedelta(hours=25))
        .order_by("start")
        .first()
    )
    token = reminders.session_link_create(purpose=ClientLink.Purpose.CANT_MAKE_IT, appointment=reminded)
    offer = responses.response_offer(token=token, purpose="cant_make_it", now=reminded.start - timedelta(hours=23))
    assert offer.terms.late and offer.terms.fee_text == "$40.00"
    assert offer.slots_limited and offer.slots
    start = offer.slots[0][0]
    responses.client_move(token=token, purpose="cant_make_it", start=start, now=reminded.start - timedelta(hours=23))
    reminded.refresh_from_db()
    assert reminded.start == start and reminded.client_response == "moved"
    assert not NoShowEvent.objects.filter(appointment=reminded).exists()


def test_seed_demo_gives_the_ladder_one_check_in_and_a_note_once():
    from engagement.models import CheckInTask, ReflectionNote
    from policies.models import EscalationStep

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    tasks = list(CheckInTask.objects.values_list("pk", flat=True))
    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    assert list(CheckInTask.objects.values_list("pk", flat=True)) == tasks
    practice = Practice.objects.get(name="Demo Practice")
    assert EscalationStep.objects.filter(practice=practice).count() == 2
    # The default ladder (practice_create). The two Saturdays reach "2 in 30 days", and "3 in 60" too
    # if the random history had a miss: one task either way, for the highest step reached.
    assert list(EscalationStep.objects.filter(practice=practice).values_list("count", "window_days")) == [
        (2, 30),
        (3, 60),
    ]
    task = CheckInTask.objects.get(practice=practice)
    assert task.step_number == (1 if task.step.count == 2 else 2)
    assert task.is_open and task.clinician.username == "therapist" and task.misses >= 2
    assert set(CheckInTask.objects.values_list("client", flat=True)) == {task.client_id}
    assert ReflectionNote.objects.filter(practice=practice, client=task.client).count() == 1


def test_seed_demo_has_a_reminder_that_goes_out_at_the_first_minute_sweep(mailoutbox):
    """`make run`: the first minute's sweep writes a reminder for a session tomorrow and sends it."""
    from followups import tasks
    from followups.models import OutboxMessage

    call_command("seed_demo", stdout=open(__import__("os").devnull, "w"))  # noqa: SIM115
    practice = Practice.objects.get(name="Demo Practice")
    first_minute = timezone.now() + timedelta(minutes=1)
    with time_machine.travel(first_minute, tick=False):
        assert tasks.sweep_reminders() >= 1
        assert tasks.send_due() >= 1
    # Past sessions carry sent reminders too (the Insights history); these are the sweep's, sent just now.
    sent = OutboxMessage.objects.filter(
        practice=practice, purpose="reminder", status="sent", sent_at__gte=first_minute - timedelta(seconds=1)
    )
    assert sent.count() >= 1
    assert all(row.appointment.start.date() >= timezone.now().date() for row in sent)
    assert {m.to[0] for m in mailoutbox} >= {row.client.email for row in sent}
