"""Celery hygiene: JSON only, time limits, and redelivery only where running twice is harmless."""

import pytest
from kombu.exceptions import ContentDisallowed

from aftercare import tasks
from followups.tasks import send_message
from practice.celery import app

IDEMPOTENT = [
    send_message,
    tasks.process_missed_session,
    tasks.send_followup,
    tasks.send_safety_alert,
    tasks.sweep_missed_sessions,
    tasks.sweep_followups,
    tasks.sweep_fee_holds,
]


def test_workers_accept_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    # A pickled message is refused before it is decoded.
    from kombu.serialization import loads

    with pytest.raises(ContentDisallowed):
        loads(b"\x80\x04K\x01.", "application/x-python-serialize", "binary", accept=app.conf.accept_content)


def test_every_task_has_a_time_limit():
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit <= 600


@pytest.mark.parametrize("task", IDEMPOTENT, ids=lambda t: t.name)
def test_idempotent_tasks_are_redelivered_if_their_worker_dies(task):
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


def test_the_clinician_notice_is_never_redelivered_after_a_lost_worker():
    task = tasks.notify_clinician_rebooked
    assert task.acks_late is False
    assert not task.reject_on_worker_lost


def test_retry_backoff_stays_inside_the_visibility_timeout():
    visibility = 3600
    for task in (tasks.send_safety_alert, tasks.notify_clinician_rebooked):
        worst = sum(min(task.retry_backoff * 2**n, task.retry_backoff_max) for n in range(task.max_retries))
        assert worst < visibility
