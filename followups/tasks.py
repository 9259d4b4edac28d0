"""Thin Celery tasks: they take ids and call services."""

from celery import shared_task
from django.conf import settings

from . import reminders, services

# Rows one `send_due` task claims before it hands the rest to a fresh task.
SEND_CHUNK = 200


def send_fanout() -> int:
    """How many `send_due` tasks a sweep that wrote rows starts: one per worker process (OUTBOX_SEND_FANOUT)."""
    return settings.OUTBOX_SEND_FANOUT


# Idempotent: the claim lets one worker send a row once; a redelivery finds it taken or done.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_message(message_id: int) -> str:
    """Wake-up for one outbox row of any purpose: claim it if it is still due and free, then send it."""
    return services.outbox_send_now(message_id=message_id)


# Idempotent: one row per reminder key; a second run finds them written.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_reminders() -> int:
    """Every minute: write the outbox rows of reminders whose time has come, then wake the senders.

    A run that wrote rows starts `send_fanout()` chains of `send_due`, so every
    worker sends at once instead of the rows waiting for the next minute's
    follow-up sweep. Chains that find nothing left end at once.
    """
    written = reminders.reminders_write_due()
    if written >= reminders.REMINDER_BATCH:
        sweep_reminders.delay()
    if written:
        for _ in range(send_fanout()):
            send_due.delay()
    return written


# Idempotent: rows are claimed with a lease, one worker each (SKIP LOCKED); a redelivery claims what is left.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_due() -> int:
    """Send a chunk of the outbox's due rows, of any purpose; queue itself again while chunks come back full."""
    claimed = services.outbox_send_due(limit=SEND_CHUNK, batch=services.CLAIM_BATCH)
    if claimed >= SEND_CHUNK:
        send_due.delay()
    return claimed
