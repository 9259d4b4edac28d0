"""The after-miss pipeline: what happens once a session is missed.

This is the top of the dependency order. It records outcomes through
`appointments.services`, enqueues the after-miss work once the transaction
has committed, and runs that work exactly once per missed session, calling
policies (safety checks and fees) and, later, followups explicitly.
"""

import logging
from datetime import datetime, timedelta
from functools import partial, update_wrapper

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from appointments.services import (
    Outcome,
    OutcomeResult,
    appointment_book,
    appointment_record_outcome,
    appointment_undo_outcome,
)
from policies import services as policies
from policies.models import SafetyCheck

log = logging.getLogger(__name__)

# The sweep leaves a fresh event alone this long: the on-commit enqueue
# normally gets there first, and the claim makes a race harmless anyway.
SWEEP_GRACE = timedelta(minutes=1)
SWEEP_BATCH = 200


def _enqueue_missed_session(event_id: int) -> None:
    # Imported here: tasks import this module.
    from .tasks import process_missed_session

    process_missed_session.delay(event_id)


def _enqueue_safety_alert(check_id: int) -> None:
    from .tasks import send_safety_alert

    send_safety_alert.delay(check_id)


def _on_commit_robust(func, *args) -> None:
    """Call `func(*args)` once the transaction commits; log, never raise, if it fails.

    Django names a failed robust callback by its `__qualname__`, which a bare
    `partial` lacks: the logging itself raised, and a broker that was down
    turned into a 500 for a mark that had already been saved.
    """
    transaction.on_commit(update_wrapper(partial(func, *args), func), robust=True)


def attendance_record(
    *,
    appointment_id: int,
    outcome: str,
    actor,
    initiated_by: str = "",
    reason_code: str = "",
    reason: str = "",
) -> OutcomeResult:
    """Record an outcome and, for a miss, start the after-miss work once committed.

    A client's cancellation inside the policy's notice window is a late
    cancel, whichever button was pressed (the result's status says so).
    """
    with transaction.atomic(durable=True):
        if outcome == Outcome.CANCELLED and initiated_by == Appointment.Initiator.CLIENT:
            appointment = Appointment.objects.get(pk=appointment_id)
            if appointment.status == Appointment.Status.SCHEDULED and policies.cancellation_is_late(
                appointment=appointment, at=timezone.now()
            ):
                outcome = Outcome.LATE_CANCEL
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
            _on_commit_robust(_enqueue_missed_session, result.event.pk)
    return result


def attendance_undo(*, appointment_id: int, actor) -> Appointment:
    """Undo a mark, with everything it started that has not reached the client."""
    with transaction.atomic(durable=True):
        appointment, event = appointment_undo_outcome(appointment_id=appointment_id, actor=actor)
        if event is not None:
            policies.fee_void_for_undo(event=event, actor=actor)
            check = SafetyCheck.objects.filter(missed_session=event, completed_at=None).first()
            if check is not None:
                policies.safety_check_complete(
                    check=check, actor=actor, note="Closed: the missed-session mark was undone."
                )
    return appointment


def missed_session_process(*, event_id: int, now: datetime | None = None) -> bool:
    """Run the after-miss work for one missed session, exactly once.

    1. Lock the event row, skipping it if another worker holds it.
    2. Give up if it is gone, undone, or already processed: a redelivery,
       a second worker or the sweep racing the on-commit enqueue.
    3. A client flagged for a safety check: open the check and alert the
       clinician. Nothing is charged (or sent) until the check is done.
    4. Otherwise assess the fee.
    5. Stamp `processed_at` in the same transaction, so a crash before the
       commit leaves the event for the sweep to retry.

    Returns True when this call did the work.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        event = (
            NoShowEvent.objects.select_for_update(skip_locked=True)
            .select_related("appointment__client")
            .filter(pk=event_id, processed_at=None, undone_at=None)
            .first()
        )
        if event is None:
            return False
        if event.appointment.client.needs_safety_check:
            check, created = policies.safety_check_open(event=event)
            if created:
                _on_commit_robust(_enqueue_safety_alert, check.pk)
        else:
            policies.fee_assess(event=event, now=now)
        event.processed_at = now
        event.save(update_fields=["processed_at"])
    log.info("missed session processed event_id=%s", event_id)
    return True


def safety_check_done(*, check: SafetyCheck, actor, note: str = "") -> SafetyCheck:
    """The clinician has checked on the client: the held after-miss work may go on."""
    with transaction.atomic(durable=True):
        check = policies.safety_check_complete(check=check, actor=actor, note=note)
        event = NoShowEvent.objects.get(pk=check.missed_session_id)
        if event.undone_at is None:
            policies.fee_assess(event=event)
    return check


def makeup_book(*, missed: Appointment, actor, **booking) -> Appointment:
    """Book a make-up for a missed session; a make-up inside the policy's window waives its fee."""
    if missed.status not in Appointment.MISSED_STATUSES:
        raise ValidationError("A make-up can only be booked for a missed session.")
    with transaction.atomic(durable=True):
        [makeup] = appointment_book(
            practice=missed.practice,
            client=missed.client,
            actor=actor,
            rescheduled_from=missed,
            weeks=1,
            **booking,
        )
        event = NoShowEvent.objects.filter(appointment=missed, undone_at=None).first()
        if event is not None:
            policies.fee_waive_for_makeup(event=event, makeup=makeup, actor=actor)
    return makeup


def missed_sessions_unprocessed(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Ids of events still waiting for the pipeline, oldest first (partial index)."""
    now = now or timezone.now()
    return list(
        NoShowEvent.objects.filter(processed_at=None, undone_at=None, recorded_at__lte=now - SWEEP_GRACE)
        .order_by("recorded_at")
        .values_list("pk", flat=True)[:limit]
    )


def safety_alerts_unsent(*, now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    now = now or timezone.now()
    return list(
        SafetyCheck.objects.filter(alert_sent_at=None, completed_at=None, created_at__lte=now - SWEEP_GRACE)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
