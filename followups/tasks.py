"""Thin Celery tasks: they take ids and call services."""

from celery import shared_task

from . import reminders, services


# Idempotent: the claim lets one worker send a row once; a redelivery finds it taken or done.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def send_message(message_id: int) -> str:
    """Wake-up for one outbox row of any purpose: claim it if it is still due and free, then send it."""
    return services.outbox_send_now(message_id=message_id)


# Idempotent: one row per reminder key; a second run finds them written.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_reminders() -> int:
    """Every minute: write the outbox rows of reminders whose time has come (the follow-up sweep sends them)."""
    written = reminders.reminders_write_due()
    if written >= reminders.REMINDER_BATCH:
        sweep_reminders.delay()
    return written
