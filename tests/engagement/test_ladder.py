"""The ladder for repeated misses: one definition, one task per step and window, undo cancels, wording follows."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from engagement import services
from engagement.models import CheckInTask
from followups import services as followups
from followups.models import OutboxMessage
from policies import rules
from policies import services as policy_services
from policies.models import EscalationStep
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, make_ladder

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # 2 p.m. in New York


@pytest.fixture
def plan(practice):
    plan = followups.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 3
    plan.save()
    return plan


def mark(client, actor, outcome="no_show", *, start):
    appointment = AppointmentFactory(client=client, start=start)
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome=outcome, actor=actor).event


def first_kind(event) -> str:
    return OutboxMessage.objects.get(missed_session=event, step="first").kind


@time_machine.travel(AFTERNOON, tick=False)
def test_a_miss_reaching_a_step_makes_one_task_even_when_delivered_again(plan, therapist, client_of_therapist):
    [step] = make_ladder(client_of_therapist.practice, (2, 30))
    mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=10))
    second = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    tasks.process_missed_session(second.pk)
    assert aftercare.missed_session_process(event_id=second.pk) is False  # redelivered: already processed
    # Even run again by hand on the same miss (processed_at forgotten), the unique key holds.
    type(second).objects.filter(pk=second.pk).update(processed_at=None)
    tasks.process_missed_session(second.pk)
    [task] = CheckInTask.objects.all()
    assert (task.client, task.clinician, task.step, task.missed_session, task.misses) == (
        client_of_therapist,
        therapist,
        step,
        second,
        2,
    )
    assert client_of_therapist.first_name in task.script and "{first_name}" not in task.script
    assert AuditEvent.objects.filter(action="checkin.created", object_id=task.pk).count() == 1


@time_machine.travel(AFTERNOON, tick=False)
def test_a_later_miss_of_the_same_run_makes_no_second_task(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    events = [mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=d)) for d in (20, 10, 1)]
    for event in events:
        tasks.process_missed_session(event.pk)
    [task] = CheckInTask.objects.all()
    assert task.missed_session == events[1]


@time_machine.travel(AFTERNOON, tick=False)
def test_one_miss_is_never_a_pattern(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    event = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    tasks.process_missed_session(event.pk)
    assert not CheckInTask.objects.exists()
    assert first_kind(event) == "first"


@time_machine.travel(AFTERNOON, tick=False)
def test_no_shows_and_late_cancels_count_alike_and_switch_the_wording(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    mark(client_of_therapist, therapist, "late_cancel", start=timezone.now() + timedelta(hours=3))
    event = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    # The late cancel starts later than this no-show: only misses up to this session count.
    assert first_kind(event) == "first"
    later = mark(client_of_therapist, therapist, "late_cancel", start=timezone.now() + timedelta(hours=5))
    assert first_kind(later) == "first_repeat"
    tasks.process_missed_session(later.pk)
    assert CheckInTask.objects.get().misses == 3


@time_machine.travel(AFTERNOON, tick=False)
def test_the_wording_follows_the_ladder_only(plan, therapist, client_of_therapist):
    mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=40))
    event = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    assert first_kind(event) == "first"  # no ladder: nothing counts as repeated
    make_ladder(client_of_therapist.practice, (2, 60))
    third = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(minutes=30))
    assert first_kind(third) == "first_repeat"


@time_machine.travel(AFTERNOON, tick=False)
def test_undo_cancels_the_open_task_the_miss_made_and_a_new_mark_reopens_it(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    first = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=5))
    tasks.process_missed_session(first.pk)
    second = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    tasks.process_missed_session(second.pk)
    task = CheckInTask.objects.get()
    aftercare.attendance_undo(appointment_id=second.appointment_id, actor=therapist)
    task.refresh_from_db()
    assert task.cancelled_at is not None and task.done_at is None
    assert AuditEvent.objects.filter(action="checkin.cancelled", object_id=task.pk, actor=therapist).exists()
    # Marked again: the same step and window, so the same task comes back rather than a second one.
    again = aftercare.attendance_record(appointment_id=second.appointment_id, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(again.pk)
    task.refresh_from_db()
    assert CheckInTask.objects.count() == 1
    assert (task.cancelled_at, task.missed_session_id) == (None, again.pk)


@time_machine.travel(AFTERNOON, tick=False)
def test_undoing_another_miss_leaves_the_task_alone(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    first = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(minutes=40))
    second = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(minutes=20))
    tasks.process_missed_session(first.pk)
    tasks.process_missed_session(second.pk)
    aftercare.attendance_undo(appointment_id=first.appointment_id, actor=therapist)
    assert CheckInTask.objects.get().is_open


@time_machine.travel(AFTERNOON, tick=False)
def test_a_miss_reaching_two_steps_gives_one_task_for_the_highest_even_delivered_again(
    plan, therapist, client_of_therapist
):
    lower, higher = make_ladder(client_of_therapist.practice, (2, 30), (3, 60))
    for days in (45, 10):
        tasks.process_missed_session(
            mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=days)).pk
        )
    assert CheckInTask.objects.count() == 0  # 45 days apart: 2 in 30 not reached
    third = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=1))
    tasks.process_missed_session(third.pk)
    # 2 in 30 and 3 in 60 both reached: one task, the higher step's, which says it is step 2.
    [task] = CheckInTask.objects.all()
    assert (task.step, task.step_number, task.misses, task.title) == (higher, 2, 3, higher.title)
    assert AuditEvent.objects.filter(action="checkin.created").count() == 1

    # Redelivered, processed again by hand, or asked directly: still that one task.
    type(third).objects.filter(pk=third.pk).update(processed_at=None)
    tasks.process_missed_session(third.pk)
    assert services.checkin_tasks_for_miss(event=third) == []
    assert list(CheckInTask.objects.values_list("pk", flat=True)) == [task.pk]

    # The next miss of the same run reaches both steps again: the run's task is already there.
    fourth = mark(client_of_therapist, therapist, start=timezone.now() - timedelta(minutes=30))
    tasks.process_missed_session(fourth.pk)
    assert CheckInTask.objects.count() == 1


@time_machine.travel(AFTERNOON, tick=False)
def test_a_miss_reaching_only_the_lower_step_gets_that_step(plan, therapist, client_of_therapist):
    lower, _ = make_ladder(client_of_therapist.practice, (2, 30), (3, 60))
    for hours in (72, 1):
        tasks.process_missed_session(
            mark(client_of_therapist, therapist, start=timezone.now() - timedelta(hours=hours)).pk
        )
    [task] = CheckInTask.objects.all()
    assert (task.step, task.step_number, task.misses) == (lower, 1, 2)


@time_machine.travel(AFTERNOON, tick=False)
def test_a_flagged_client_still_gets_a_check_in_with_the_safety_check(plan, therapist, client_of_therapist):
    client_of_therapist.needs_safety_check = True
    client_of_therapist.save()
    make_ladder(client_of_therapist.practice, (2, 30))
    for days in (3, 1):
        tasks.process_missed_session(
            mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=days)).pk
        )
    assert CheckInTask.objects.count() == 1
    assert not OutboxMessage.objects.exists()  # nothing to the client before the check


@time_machine.travel(AFTERNOON, tick=False)
def test_recording_what_was_done_closes_the_step_once(plan, therapist, client_of_therapist):
    make_ladder(client_of_therapist.practice, (2, 30))
    for days in (3, 1):
        tasks.process_missed_session(
            mark(client_of_therapist, therapist, start=timezone.now() - timedelta(days=days)).pk
        )
    task = CheckInTask.objects.get()
    membership = therapist.membership
    with pytest.raises(ValidationError):
        services.checkin_task_complete(membership=membership, task=task, what_was_done="   ")
    done = services.checkin_task_complete(
        membership=membership, task=task, what_was_done="Called; we moved to Thursdays.", script="My own words"
    )
    again = services.checkin_task_complete(membership=membership, task=task, what_was_done="Second click")
    assert (again.done_at, again.what_was_done, again.script) == (
        done.done_at,
        "Called; we moved to Thursdays.",
        "My own words",
    )
    assert AuditEvent.objects.filter(action="checkin.done", object_id=task.pk).count() == 1


def test_step_limits_and_duplicates_are_refused_with_a_message(practice, practice_admin):
    for count, days in ((1, 30), (21, 30), (2, 0), (2, 366)):
        with pytest.raises(ValidationError):
            policy_services.escalation_step_create(
                practice=practice, actor=practice_admin, count=count, window_days=days, title="Check in"
            )
    step = policy_services.escalation_step_create(
        practice=practice, actor=practice_admin, count=2, window_days=30, title="Check in"
    )
    with pytest.raises(ValidationError, match="already a step"):
        policy_services.escalation_step_create(
            practice=practice, actor=practice_admin, count=2, window_days=30, title="Again"
        )
    other = policy_services.escalation_step_create(
        practice=practice, actor=practice_admin, count=3, window_days=60, title="Talk"
    )
    with pytest.raises(ValidationError, match="already a step"):
        policy_services.escalation_step_update(step=other, actor=practice_admin, count=2, window_days=30)
    policy_services.escalation_step_update(step=step, actor=practice_admin, window_days=45, script="Hi")
    assert EscalationStep.objects.filter(practice=practice).count() == 2
    changed = AuditEvent.objects.get(action="ladder.step_changed", object_id=step.pk)
    assert changed.changes == {"window_days": [30, 45], "script": "changed"}
    policy_services.escalation_step_delete(step=step, actor=practice_admin)
    assert AuditEvent.objects.filter(action__startswith="ladder.").count() == 4


def test_a_ladder_holds_at_most_ten_steps(practice, practice_admin):
    for count in range(2, 12):
        policy_services.escalation_step_create(
            practice=practice, actor=practice_admin, count=count, window_days=30, title="Check in"
        )
    with pytest.raises(ValidationError, match="at most 10 steps"):
        policy_services.escalation_step_create(
            practice=practice, actor=practice_admin, count=12, window_days=30, title="Check in"
        )


# ---------------------------------------------------------------- the pure rule, DST included

STEPS = [(2, 30, "a"), (3, 60, "b")]


def _ny(*args) -> datetime:
    return datetime(*args, tzinfo=NY)


def test_window_counts_local_calendar_days_across_the_autumn_change():
    # 1 November 2026: clocks go back in New York. 30 local days ending 20 Nov start on 22 Oct.
    at = _ny(2026, 11, 20, 9, 0)
    on_first_day = _ny(2026, 10, 22, 0, 30)
    day_before = _ny(2026, 10, 21, 23, 30)
    assert [r.step for r in rules.ladder_reached(STEPS, [on_first_day, at], at=at, zone=NY)] == ["a"]
    assert rules.ladder_reached(STEPS, [day_before, at], at=at, zone=NY) == []


def test_window_counts_local_calendar_days_across_the_spring_change():
    # 8 March 2026: clocks go forward. 30 local days ending 20 March start on 19 February.
    at = _ny(2026, 3, 20, 9, 0)
    assert rules.ladder_window_start(start=at, days=30, zone=NY) == _ny(2026, 2, 19, 0, 0).astimezone(UTC)
    assert rules.ladder_reached(STEPS, [_ny(2026, 2, 19, 0, 0), at], at=at, zone=NY)[0].misses == 2


def test_reached_steps_come_lowest_first_with_the_first_miss_as_their_key():
    at = _ny(2026, 6, 10, 14, 0)
    starts = [at - timedelta(days=50), at - timedelta(days=20), at]
    [a, b] = rules.ladder_reached(STEPS, starts, at=at, zone=NY)
    assert (a.step, a.misses, a.first_miss) == ("a", 2, starts[1])
    assert (b.step, b.misses, b.first_miss) == ("b", 3, starts[0])
    # Sessions after this one do not count towards it.
    assert rules.ladder_reached(STEPS, [at, at + timedelta(days=1)], at=at, zone=NY) == []
    assert rules.ladder_reached([], starts, at=at, zone=NY) == []
