"""Thin Celery tasks: they take ids and call services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def process_missed_session(event_id: int) -> bool:
    return services.missed_session_process(event_id=event_id)


@shared_task
def sweep_missed_sessions() -> int:
    """Every minute: process events whose enqueue was lost, in bounded batches.

    Processes a batch in place and, if the batch was full, queues itself
    again for the rest.
    """
    ids = services.missed_sessions_unprocessed()
    done = sum(services.missed_session_process(event_id=event_id) for event_id in ids)
    if len(ids) == services.SWEEP_BATCH:
        sweep_missed_sessions.delay()
    return done
