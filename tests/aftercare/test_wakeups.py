"""One wake-up per burst (issue 11, helper "pipe2"): a flag in the shared cache, never trusted for correctness.

The shared cache here is a real Redis (db 12, REDIS_TEST_URL), as in production; the tests'
own default cache is per-process memory, where every change wakes a worker as before.
"""

import os
import time
from datetime import time as clock
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from followups import services as followups
from followups.models import OutboxMessage
from policies.models import FeeAssessment
from practice import wakeups
from tests.factories import AppointmentFactory, ClientFactory

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/12")
SHARED = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_TEST_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}
# Nothing listens on port 1: every cache call fails at once.
DEAD = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up(), reason=f"no Redis at {REDIS_TEST_URL}")


@pytest.fixture
def shared_cache():
    with override_settings(CACHES=SHARED):
        for key in (aftercare.MISSED_WAKE, aftercare.FOLLOWUP_WAKE, "test"):
            wakeups.taken(key)
        yield caches["default"]
        for key in (aftercare.MISSED_WAKE, aftercare.FOLLOWUP_WAKE, "test"):
            wakeups.taken(key)


class Publisher:
    """Stands in for `task.delay` (Celery's, not ours): records what would have been published."""

    def __init__(self, fail: bool = False):
        self.calls, self.fail = [], fail

    def __call__(self, *args):
        if self.fail:
            raise ConnectionError("broker down")
        self.calls.append(args)


@needs_redis
def test_a_burst_publishes_one_wake_up_until_a_task_takes_it(shared_cache):
    publish = Publisher()

    assert [wakeups.wake("test", publish, n) for n in range(5)] == [True, False, False, False, False]
    assert publish.calls == [(0,)]

    wakeups.taken("test")  # the task starts: the next change needs a wake-up of its own
    assert wakeups.wake("test", publish, 5) is True
    assert publish.calls == [(0,), (5,)]


@needs_redis
def test_a_wake_up_that_could_not_be_published_leaves_no_flag(shared_cache):
    with pytest.raises(ConnectionError):
        wakeups.wake("test", Publisher(fail=True), 1)

    publish = Publisher()
    assert wakeups.wake("test", publish, 2) is True
    assert publish.calls == [(2,)]


@needs_redis
def test_a_flag_whose_wake_up_was_lost_expires(shared_cache, monkeypatch):
    monkeypatch.setattr(wakeups, "WAKE_TTL_SECONDS", 1)
    publish = Publisher()
    wakeups.wake("test", publish, 1)  # published, then lost by the broker: no task will clear the flag

    time.sleep(1.2)

    assert wakeups.wake("test", publish, 2) is True
    assert publish.calls == [(1,), (2,)]


def test_with_a_per_process_cache_every_change_wakes_a_worker():
    publish = Publisher()  # the tests' settings: locmem, which other processes do not see

    assert [wakeups.wake("test", publish, n) for n in range(3)] == [True, True, True]


@override_settings(CACHES=DEAD)
def test_with_the_cache_down_every_change_wakes_a_worker():
    publish = Publisher()

    assert [wakeups.wake("test", publish, n) for n in range(3)] == [True, True, True]
    wakeups.taken("test")  # logged, not raised


# ------------------------------------------------------------ the tasks take what the flag skipped


@pytest.fixture
def plan(practice):
    plan = followups.plan_for(practice)
    plan.first_delay_minutes, plan.quiet_start, plan.quiet_end = 0, clock(0), clock(0)
    plan.save()
    return plan


def misses(practice, therapist, n) -> list[NoShowEvent]:
    events = []
    for i in range(n):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"w{i}-{time.monotonic_ns()}@example.com")
        appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
        result = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
        events.append(result.event)
    return events


@pytest.mark.django_db
def test_a_task_whose_own_miss_is_done_still_takes_the_misses_that_skipped_their_wake_up(practice, therapist):
    [first] = misses(practice, therapist, 1)
    assert tasks.process_missed_session(first.pk) is True
    # Marked while that wake-up was queued: their marks found the flag and published nothing.
    later = misses(practice, therapist, 4)

    # A second wake-up for the first miss (the re-wake, or a redelivery) is the one that comes.
    assert tasks.process_missed_session(first.pk) is False

    assert NoShowEvent.objects.filter(pk__in=[e.pk for e in later], processed_at=None).count() == 0
    assert FeeAssessment.objects.filter(missed_session__in=[first, *later]).count() == 5


@pytest.mark.django_db
def test_a_send_whose_own_row_is_sent_still_sends_the_rows_that_skipped_their_wake_up(
    plan, practice, therapist, mailoutbox
):
    [first] = misses(practice, therapist, 1)
    row = OutboxMessage.objects.get(missed_session=first, step=OutboxMessage.Step.FIRST)
    assert tasks.send_followup(row.pk) == OutboxMessage.Status.SENT
    later = misses(practice, therapist, 3)

    assert tasks.send_followup(row.pk) == ""

    assert set(
        OutboxMessage.objects.filter(missed_session__in=later, step=OutboxMessage.Step.FIRST).values_list(
            "status", flat=True
        )
    ) == {OutboxMessage.Status.SENT}
    assert len(mailoutbox) == 4
    assert len({m.extra_headers["Message-ID"] for m in mailoutbox}) == 4


@needs_redis
@pytest.mark.django_db
def test_a_full_batch_wakes_again_and_the_last_one_does_not(shared_cache, practice, therapist):
    events = misses(practice, therapist, 3)
    flag = wakeups._key(aftercare.MISSED_WAKE)
    shared_cache.delete(flag)

    assert aftercare.missed_sessions_process(event_id=events[0].pk, limit=2) is True
    assert shared_cache.get(flag) is not None  # two taken, a third may wait: a wake-up is queued

    assert aftercare.missed_sessions_process(event_id=events[0].pk, limit=2) is False
    assert shared_cache.get(flag) is None  # the last one: nothing more to wake for
    assert NoShowEvent.objects.filter(pk__in=[e.pk for e in events], processed_at=None).count() == 0


@pytest.fixture
def published():
    """The names of the tasks published to the broker (Celery's own signal)."""
    from celery.signals import before_task_publish

    names = []

    def record(sender=None, **kwargs):
        names.append(sender)

    before_task_publish.connect(record, weak=False)
    yield names
    before_task_publish.disconnect(record)


@needs_redis
@pytest.mark.django_db
def test_in_a_burst_the_marks_after_the_first_publish_nothing_and_one_task_does_them_all(
    shared_cache, plan, practice, therapist, mailoutbox, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        events = misses(practice, therapist, 5)

    # Five marks, each with a miss and a message due now: one wake-up of each kind.
    assert sorted(published) == ["aftercare.tasks.process_missed_session", "aftercare.tasks.send_followup"]

    first_row = OutboxMessage.objects.filter(missed_session=events[0], step=OutboxMessage.Step.FIRST).get()
    assert tasks.process_missed_session(events[0].pk) is True
    assert tasks.send_followup(first_row.pk) == OutboxMessage.Status.SENT

    assert FeeAssessment.objects.filter(missed_session__in=events).count() == 5
    assert len(mailoutbox) == 5
    # The tasks cleared the flags: the next mark wakes a worker again.
    with django_capture_on_commit_callbacks(execute=True):
        misses(practice, therapist, 1)
    assert len(published) == 4


@pytest.mark.django_db
def test_with_a_per_process_cache_every_mark_still_wakes_its_own_task(
    plan, practice, therapist, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        misses(practice, therapist, 3)

    assert len(published) == 6
