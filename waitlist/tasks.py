"""Thin Celery tasks: they take ids and call services. No countdown or ETA: the minute sweep moves rounds on."""

from celery import shared_task

from . import services


# Idempotent: the slot row is claimed (SKIP LOCKED) and offers are unique per slot and entry.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def advance_slot(slot_id: int) -> int:
    """Right after time is freed: ask the first clients at once instead of at the next minute."""
    return services.slot_advance(slot_id=slot_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_waitlist() -> int:
    """Every minute: for each open freed slot whose round's hold ran out, ask the next clients in line."""
    looked_at, written = services.offers_advance()
    if looked_at >= services.SWEEP_BATCH:
        sweep_waitlist.delay()
    return written
