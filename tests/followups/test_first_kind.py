"""The first message fits what happened: a no-show, a late cancel, a missed intake, a repeat miss."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from followups import services
from followups.models import OutboxMessage
from tests.factories import AppointmentFactory, make_ladder

pytestmark = pytest.mark.django_db

# 2 p.m. in New York: well clear of quiet hours.
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture
def plan(practice):
    plan = services.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 3
    plan.save()
    make_ladder(practice)  # repeated misses: 3 in 90 days, as every practice was migrated to
    return plan


def record(client, actor, outcome, start, session_type="individual"):
    appointment = AppointmentFactory(client=client, start=start, session_type=session_type)
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome=outcome, actor=actor).event


def first_kind(event) -> str:
    return OutboxMessage.objects.get(missed_session=event, step="first").kind


def sent_texts() -> list[str]:
    return [(m.subject + "\n" + m.body).lower() for m in mail.outbox]


@time_machine.travel(AFTERNOON, tick=False)
def test_late_cancel_of_a_future_session_is_not_told_we_missed_you(plan, therapist, client_of_therapist):
    tomorrow = timezone.now() + timedelta(days=1)
    event = record(client_of_therapist, therapist, "late_cancel", tomorrow)
    assert first_kind(event) == "first_late_cancel"
    tasks.sweep_followups()
    with time_machine.travel(AFTERNOON + timedelta(days=3, minutes=1), tick=False):
        tasks.sweep_followups()
    assert len(mail.outbox) == 2  # the first message and the second
    for text in sent_texts():
        for untrue in ("missed", "not to see you", "didn't make it", "no-show"):
            assert untrue not in text, (untrue, text)
    assert "thank you for letting us know" in sent_texts()[0]


@time_machine.travel(AFTERNOON, tick=False)
def test_late_cancel_of_a_future_intake_reads_true_before_it_started(plan, therapist, client_of_therapist):
    event = record(client_of_therapist, therapist, "late_cancel", timezone.now() + timedelta(hours=5), "intake")
    assert first_kind(event) == "first_intake"
    tasks.sweep_followups()
    [text] = sent_texts()
    for untrue in ("missed", "not to see you", "sorry not to"):
        assert untrue not in text, untrue


@time_machine.travel(AFTERNOON, tick=False)
def test_a_no_show_gets_the_no_show_wording(plan, therapist, client_of_therapist):
    event = record(client_of_therapist, therapist, "no_show", timezone.now() - timedelta(minutes=30))
    assert first_kind(event) == "first"


@time_machine.travel(AFTERNOON, tick=False)
def test_an_intake_comes_before_a_late_cancel_and_a_repeat_miss(plan, therapist, client_of_therapist):
    for days in (30, 20):
        record(client_of_therapist, therapist, "no_show", timezone.now() - timedelta(days=days))
    event = record(client_of_therapist, therapist, "late_cancel", timezone.now() + timedelta(hours=3), "intake")
    assert first_kind(event) == "first_intake"


@time_machine.travel(AFTERNOON, tick=False)
def test_a_repeat_miss_comes_before_a_late_cancel(plan, therapist, client_of_therapist):
    for days in (30, 20):
        record(client_of_therapist, therapist, "no_show", timezone.now() - timedelta(days=days))
    mail.outbox.clear()
    event = record(client_of_therapist, therapist, "late_cancel", timezone.now() + timedelta(hours=3))
    assert first_kind(event) == "first_repeat"
    OutboxMessage.objects.exclude(missed_session=event).update(status="cancelled")
    tasks.sweep_followups()
    [text] = sent_texts()
    for untrue in ("missed", "not to see you"):
        assert untrue not in text, untrue


@time_machine.travel(AFTERNOON, tick=False)
def test_a_single_late_cancel_after_an_earlier_one_is_still_a_late_cancel(plan, therapist, client_of_therapist):
    record(client_of_therapist, therapist, "late_cancel", timezone.now() + timedelta(hours=1))
    event = record(client_of_therapist, therapist, "late_cancel", timezone.now() + timedelta(hours=30))
    assert first_kind(event) == "first_late_cancel"
