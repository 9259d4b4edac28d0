"""The after-miss pipeline: what happens once a session is missed.

This is the top of the dependency order. It records outcomes through
`appointments.services`, enqueues the after-miss work once the transaction
has committed, and runs that work exactly once per missed session. Fees
(policies) and follow-ups (followups) are called from here, explicitly.
"""

import logging
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction
from django.utils import timezone

from appointments.models import NoShowEvent
from appointments.services import (
    OutcomeResult,
    appointment_record_outcome,
    appointment_undo_outcome,
)

log = logging.getLogger(__name__)

# The sweep leaves a fresh event alone this long: the on-commit enqueue
# normally gets there first, and the claim makes a race harmless anyway.
SWEEP_GRACE = timedelta(minutes=1)
SWEEP_BATCH = 200


def _enqueue(event_id: int) -> None:
    # Imported here: tasks import this module.
    from .tasks import process_missed_session

    process_missed_session.delay(event_id)


def attendance_record(
    *,
    appointment_id: int,
    outcome: str,
    actor,
    initiated_by: str = "",
    reason_code: str = "",
    reason: str = "",
) -> OutcomeResult:
    """Record an outcome and, for a miss, start the after-miss work once committed."""
    with transaction.atomic(durable=True):
        result = appointment_record_outcome(
            appointment_id=appointment_id,
            outcome=outcome,
            actor=actor,
            initiated_by=initiated_by,
            reason_code=reason_code,
            reason=reason,
        )
        if result.changed and result.event is not None:
            # robust: a broker that is down must not undo the mark; the beat
            # sweep finds the unprocessed event a minute later.
            transaction.on_commit(partial(_enqueue, result.event.pk), robust=True)
    return result


def attendance_undo(*, appointment_id: int, actor):
    """Undo a mark, with everything it started that has not reached the client."""
    with transaction.atomic(durable=True):
        appointment, _event = appointment_undo_outcome(appointment_id=appointment_id, actor=actor)
    return appointment


def missed_session_process(*, event_id: int, now: datetime | None = None) -> bool:
    """Run the after-miss work for one missed session, exactly once.

    1. Lock the event row, skipping it if another worker holds it.
    2. Give up if it is gone, undone, or already processed: a redelivery,
       a second worker or the sweep racing the on-commit enqueue.
    3. Do the work and stamp `processed_at` in the same transaction, so a
       crash before the commit leaves the event for the sweep to retry.

    Returns True when this call did the work.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        event = (
            NoShowEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, processed_at=None, undone_at=None)
            .first()
        )
        if event is None:
            return False
        # Fees (policies) and follow-ups (followups) plug in here.
        event.processed_at = now
        event.save(update_fields=["processed_at"])
    log.info("missed session processed event_id=%s", event_id)
    return True


def missed_sessions_unprocessed(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Ids of events still waiting for the pipeline, oldest first (partial index)."""
    now = now or timezone.now()
    return list(
        NoShowEvent.objects.filter(processed_at=None, undone_at=None, recorded_at__lte=now - SWEEP_GRACE)
        .order_by("recorded_at")
        .values_list("pk", flat=True)[:limit]
    )
