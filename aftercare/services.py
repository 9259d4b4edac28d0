"""The after-miss pipeline: what happens once a session is missed.

This is the top of the dependency order. It records outcomes through
`appointments.services`, enqueues the after-miss work once the transaction
has committed, runs that work exactly once per missed session, and sends the
follow-ups, calling policies (safety checks and fees) and followups (the
outbox and rescheduling links) explicitly.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from appointments.selectors import open_slots_for, open_slots_from
from appointments.services import (
    Outcome,
    OutcomeResult,
    appointment_book,
    appointment_correct_outcome,
    appointment_move,
    appointment_record_outcome,
    appointment_undo_outcome,
)
from engagement import services as engagement
from followups import services as followups
from followups.models import ClientLink, OutboxMessage
from policies import services as policies
from policies.models import FeeAssessment, SafetyCheck
from practice import timefmt, wakeups
from practice.emails import send_email
from practice.models import Membership
from practice.transactions import on_commit_robust
from waitlist import services as waitlist
from waitlist.models import FreedSlot

from . import selectors

log = logging.getLogger(__name__)

# The sweep leaves a fresh event alone this long: the on-commit enqueue
# normally gets there first, and the claim makes a race harmless anyway.
SWEEP_GRACE = timedelta(minutes=1)
SWEEP_BATCH = 200
FOLLOWUP_BATCH = 50
# Missed sessions the on-commit task takes in one transaction (missed_sessions_process).
MISSED_BATCH = 50
# Due outbox rows the on-commit send task sends after its own (followup_send_now).
FOLLOWUP_DRAIN = 200


# Wake-up flags (practice.wakeups): one queued wake-up per kind of work, whatever the burst.
MISSED_WAKE = "missed-session"
FOLLOWUP_WAKE = "followup"


def enqueue_missed_session(event_id: int) -> None:
    """Wake a worker for this missed session, unless a wake-up is already queued (it takes this one too)."""
    # Imported here: tasks import this module.
    from .tasks import process_missed_session

    wakeups.wake(MISSED_WAKE, process_missed_session.delay, event_id)


def _enqueue_safety_alert(check_id: int) -> None:
    from .tasks import send_safety_alert

    send_safety_alert.delay(check_id)


def _enqueue_followup(message_id: int) -> None:
    from .tasks import send_followup

    wakeups.wake(FOLLOWUP_WAKE, send_followup.delay, message_id)


def _plan_followups(event: NoShowEvent, start: datetime | None = None) -> None:
    """Write the outbox rows in the caller's transaction; wake a worker for any due now.

    Later ones wait for the minute sweep: no Celery countdown or ETA.
    """
    now = timezone.now()
    for message in followups.followups_plan(event=event, start=start):
        if message.status == OutboxMessage.Status.PENDING and message.due_at <= now:
            on_commit_robust(_enqueue_followup, message.pk)


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
            # A flagged client gets nothing automated until the clinician has
            # checked on them: the follow-ups are planned when the check is done.
            if not result.appointment.client.needs_safety_check:
                _plan_followups(result.event)
            # robust: a broker that is down must not undo the mark; the beat
            # sweep finds the unprocessed event a minute later.
            on_commit_robust(enqueue_missed_session, result.event.pk)
        if result.changed and result.appointment.status in FREEING_STATUSES:
            appointment = result.appointment
            waitlist.slot_freed(
                appointment=appointment,
                start=appointment.start,
                end=appointment.end,
                cause=FREEING_STATUSES[appointment.status],
            )
    return result


# A cancel frees the clinician's time for the waitlist (a no-show still held it).
FREEING_STATUSES = {
    Appointment.Status.CANCELLED_IN_TIME: FreedSlot.Cause.CANCELLED,
    Appointment.Status.CANCELLED_BY_CLINICIAN: FreedSlot.Cause.CANCELLED,
    Appointment.Status.LATE_CANCEL: FreedSlot.Cause.LATE_CANCEL,
}


def session_move(*, appointment: Appointment, start: datetime, end: datetime, actor) -> Appointment:
    """Move a session (appointments.services.appointment_move) and offer the time it left to the waitlist,
    in one transaction."""
    with transaction.atomic(durable=True):
        old_start, old_end = appointment.start, appointment.end
        moved = appointment_move(appointment=appointment, start=start, end=end, actor=actor)
        if (old_start, old_end) != (moved.start, moved.end):
            waitlist.slot_freed(appointment=moved, start=old_start, end=old_end, cause=FreedSlot.Cause.MOVED)
    return moved


@dataclass(frozen=True)
class UndoOutcome:
    appointment: Appointment
    # Follow-ups stopped by the undo, and those it could not stop: already sent, or
    # past their point of no return (being handed to the mail server) when it came.
    stopped: int = 0
    on_its_way: int = 0


def attendance_undo(*, appointment_id: int, actor) -> UndoOutcome:
    """Undo a mark, with everything it started that has not reached the client.

    Lock order: the appointment, then the missed session (both in
    `appointment_undo_outcome`), then the outbox rows (the cancelling UPDATE).
    A worker's point of no return locks only its outbox row
    (followups.services._hand_over), so the two never wait on each other in a
    circle; whichever commits first decides, and the outcome says which.
    """
    stopped = on_its_way = 0
    with transaction.atomic(durable=True):
        appointment, event = appointment_undo_outcome(appointment_id=appointment_id, actor=actor)
        if event is not None:
            stopped = followups.outbox_cancel_pending(event=event, code=OutboxMessage.CancelCode.UNDONE)
            on_its_way = followups.outbox_on_its_way(event=event)
            policies.fee_void_for_undo(event=event, actor=actor)
            engagement.checkin_tasks_cancel_for_miss(event=event, actor=actor)
            check = SafetyCheck.objects.filter(missed_session=event, completed_at=None).first()
            if check is not None:
                policies.safety_check_complete(
                    check=check, actor=actor, note="Closed: the missed-session mark was undone."
                )
    return UndoOutcome(appointment=appointment, stopped=stopped, on_its_way=on_its_way)


# A session corrected to a miss longer ago than this gets no automated
# follow-up: "we missed you" weeks later confuses more than it helps. Its fee
# is still assessed (under the usual review hold), so staff see it.
CORRECTION_FOLLOWUP_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class CorrectionOutcome:
    appointment: Appointment
    # Plain sentences for staff: what happened to the fee and the messages.
    notes: list[str]


def _money(fee) -> str:
    return f"{fee.amount} {fee.currency}"


def attendance_correct(
    *, appointment_id: int, new_outcome: str, actor, reason: str, now: datetime | None = None
) -> CorrectionOutcome:
    """Correct an outcome after the undo window: the fee and messages follow, as with undo.

    1. `appointment_correct_outcome` checks who may, records the new status and
       closes the old missed-session record (audited with from, to, reason).
    2. What the old miss started: pending follow-ups are cancelled, an open
       safety check closed, a fee not yet paid voided. A paid fee is left as
       it is and staff are told to refund it by hand. Follow-ups that already
       reached the client are named with their date.
    3. A new miss starts its after-miss work as a fresh mark would (fee, or
       the safety check), but follow-ups only if the session was within
       `CORRECTION_FOLLOWUP_MAX_AGE` and the client has not already heard
       from us about it.
    """
    now = now or timezone.now()
    notes: list[str] = []
    with transaction.atomic(durable=True):
        correction = appointment_correct_outcome(
            appointment_id=appointment_id, new_outcome=new_outcome, actor=actor, reason=reason, now=now
        )
        appointment = correction.appointment
        zone = appointment.practice.time_zone
        already_heard = False
        closed = correction.closed
        if closed is not None:
            cancelled = followups.outbox_cancel_pending(event=closed, code=OutboxMessage.CancelCode.CORRECTED)
            if cancelled:
                plural = cancelled != 1
                notes.append(
                    f"{cancelled} follow-up{'s' if plural else ''} not yet sent "
                    f"{'were' if plural else 'was'} cancelled."
                )
            for message in (
                OutboxMessage.objects.filter(missed_session=closed)
                .exclude(
                    status__in=[
                        OutboxMessage.Status.PENDING,
                        OutboxMessage.Status.CANCELLED,
                        OutboxMessage.Status.FAILED,
                    ]
                )
                .order_by("sent_at", "due_at")
            ):
                already_heard = True
                if message.status == OutboxMessage.Status.SENT and message.sent_at is not None:
                    when = timezone.localtime(message.sent_at, zone)
                    notes.append(
                        f"The client was already sent a follow-up on {when:%a %d %b %Y at %H:%M} "
                        f"({message.get_channel_display().lower()}). It cannot be taken back."
                    )
                else:
                    notes.append("A follow-up was being sent just now and may reach the client.")
            check = SafetyCheck.objects.filter(missed_session=closed, completed_at=None).first()
            if check is not None:
                policies.safety_check_complete(check=check, actor=actor, note="Closed: the outcome was corrected.")
                notes.append("The open safety check was closed.")
            if engagement.checkin_tasks_cancel_for_miss(event=closed, actor=actor):
                notes.append("The check-in task this miss had made was cancelled.")
            fee = FeeAssessment.objects.filter(missed_session=closed).first()
            if fee is not None and fee.state == FeeAssessment.State.PAID:
                notes.append(
                    f"The fee of {_money(fee)} was already paid. It stays on file: refund it by hand "
                    "if it should not have been charged."
                )
            elif fee is not None and fee.state not in (FeeAssessment.State.VOID, FeeAssessment.State.NOT_CHARGED):
                policies.fee_void(fee=fee, actor=actor, note="The outcome was corrected.", reason_code="undo")
                notes.append(f"The fee of {_money(fee)} ({fee.get_state_display().lower()}) was voided.")
            elif fee is not None and fee.state == FeeAssessment.State.NOT_CHARGED:
                policies.fee_void(fee=fee, actor=actor, note="The outcome was corrected.", reason_code="undo")
        opened = correction.opened
        if opened is not None:
            on_commit_robust(enqueue_missed_session, opened.pk)
            client = appointment.client
            if client.needs_safety_check:
                notes.append("The client is flagged for a safety check: the clinician is alerted before anything else.")
            elif already_heard:
                notes.append("No new follow-up is planned: the client already heard from us about this session.")
            elif now - appointment.start > CORRECTION_FOLLOWUP_MAX_AGE:
                days = CORRECTION_FOLLOWUP_MAX_AGE.days
                notes.append(f"No follow-up is sent: the session was more than {days} days ago.")
            else:
                _plan_followups(opened, start=now)
                notes.append("Follow-ups are planned as for a fresh mark.")
            notes.append("The fee is assessed as for a fresh mark, under the terms in force at the session.")
        if not notes:
            notes.append("Nothing had been charged or sent for this session.")
    log.info("outcome corrected appointment_id=%s", appointment.pk)
    return CorrectionOutcome(appointment=appointment, notes=notes)


def missed_session_process(*, event_id: int, now: datetime | None = None) -> bool:
    """Run the after-miss work for one missed session, exactly once (the sweep's path).

    1. Lock the event row, skipping it if another worker holds it.
    2. Give up if it is gone, undone, or already processed: a redelivery,
       a second worker or the sweep racing the on-commit enqueue.
    3. The work itself (`_missed_session_work`): the safety check or the fee,
       the ladder's check-in task, `processed_at`, all in this transaction, so
       a crash before the commit leaves the event for the sweep to retry.

    Returns True when this call did the work.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        event = _unprocessed_locked().filter(pk=event_id).first()
        if event is None:
            return False
        _missed_session_work(event, now)
    log.info("missed session processed event_id=%s", event_id)
    return True


def missed_sessions_process(*, event_id: int, limit: int = MISSED_BATCH, now: datetime | None = None) -> bool:
    """The on-commit path: this missed session if still waiting and others waiting, `limit` in one transaction.

    A burst of marks queues one wake-up (practice.wakeups: the flag lets the first
    mark of a burst publish and the rest skip), and the task takes the waiting
    misses in batches of `limit`, each batch paying one commit.
    0. Clear the wake-up flag first: a miss committed from here on queues a wake-up
       of its own; one committed before is seen by the claim below.
    1. Lock this event and the oldest other unprocessed events, FOR NO KEY
       UPDATE OF the event only, SKIP LOCKED: rows another worker (or the
       sweep) holds are its own; two workers take different rows. This event
       may be done already (an earlier batch took it): the others are still
       claimed, since their marks may have skipped their wake-up for this one.
    2. The batch's work runs in one savepoint. If one event raises, the batch
       is rolled back to it and each event runs again in a savepoint of its own:
       the one that raises is rolled back alone, logged by id, and stays
       unprocessed for the sweep; the rest commit.
    3. Exactly once as before: only `processed_at IS NULL AND undone_at IS NULL`
       rows are taken, and `processed_at` is stamped in the same transaction
       (an undo waits for the commit, then finds the fee to void).
    4. A full batch means more may be waiting: wake again (through the flag).

    Returns True when this call did this event's work (as `missed_session_process`).
    """
    wakeups.taken(MISSED_WAKE)
    own_done, taken = _missed_sessions_batch(event_id=event_id, limit=limit, now=now or timezone.now())
    if taken >= limit:
        _wake_again(enqueue_missed_session, event_id)
    return own_done


def _wake_again(enqueue, *args) -> None:
    """A full batch wakes the next one; if the broker is away, the sweep finds what is left (logged, not raised:
    this batch's work is committed)."""
    try:
        enqueue(*args)
    except Exception as exc:  # noqa: BLE001 - the rows wait for the sweep; the task succeeded
        log.warning("wake-up again failed: %s%s error=%s", enqueue.__name__, args, type(exc).__name__)


def _missed_sessions_batch(*, event_id: int, limit: int, now: datetime) -> tuple[bool, int]:
    """Steps 1-3 of `missed_sessions_process`: whether this event was done, and how many events the batch took."""
    with transaction.atomic(durable=True):
        own = _unprocessed_locked().filter(pk=event_id).first()
        others = list(
            _unprocessed_locked()
            .filter(recorded_at__lte=now)
            .exclude(pk=event_id)
            .order_by("recorded_at")[: limit - (own is not None)]
        )
        events = [own, *others] if own is not None else others
        if not events:
            return False, 0
        try:
            # One savepoint for the batch: the usual case pays none per miss.
            with transaction.atomic():
                for event in events:
                    _missed_session_work(event, now, stamp=False)
                # One UPDATE stamps the batch (in the same savepoint as its work: all or none).
                NoShowEvent.objects.filter(pk__in=[event.pk for event in events]).update(processed_at=now)
            done = [event.pk for event in events]
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # noqa: BLE001 - one bad miss must not hold back the batch
            # Rolled back together (with the callbacks they queued); now each in a savepoint of its own.
            done = [event.pk for event in events if _missed_session_work_alone(event, now)]
    for pk in done:
        log.info("missed session processed event_id=%s", pk)
    return event_id in done, len(events)


def _missed_session_work_alone(event: NoShowEvent, now: datetime) -> bool:
    """`_missed_session_work` in a savepoint of its own: one that raises is rolled back, logged, left to the sweep."""
    try:
        with transaction.atomic():
            _missed_session_work(event, now)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - handed to the sweep
        # The class name only: an exception's text can carry a name.
        error = f"{type(exc).__module__}.{type(exc).__name__}"
        log.warning("missed session failed in a batch event_id=%s error=%s", event.pk, error)
        return False
    return True


def _unprocessed_locked():
    """Events still waiting for the pipeline, locked as they are read (the event row only, SKIP LOCKED)."""
    return (
        NoShowEvent.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .select_related("appointment__client", "appointment__practice")
        .filter(processed_at=None, undone_at=None)
    )


def _missed_session_work(event: NoShowEvent, now: datetime, *, stamp: bool = True) -> None:
    """The after-miss work for one locked, unprocessed event, in the caller's transaction.

    1. A client flagged for a safety check: open the check and alert the
       clinician. Nothing is charged (or sent) until the check is done.
    2. Otherwise assess the fee.
    3. The ladder for repeated misses: a check-in task for the clinician for
       each step this miss reaches (once per client, step and window). It
       never charges, books or discharges anything.
    4. Stamp `processed_at` (`stamp=False`: the caller stamps its batch in one UPDATE, in the same
       transaction and savepoint).
    """
    if event.appointment.client.needs_safety_check:
        check, created = policies.safety_check_open(event=event)
        if created:
            on_commit_robust(_enqueue_safety_alert, check.pk)
    else:
        policies.fee_assess(event=event, now=now)
    engagement.checkin_tasks_for_miss(event=event)
    event.processed_at = now
    if stamp:
        event.save(update_fields=["processed_at"])


def safety_check_done(*, check: SafetyCheck, actor, note: str = "", send_followups: bool = True) -> SafetyCheck:
    """The clinician has checked on the client: the held after-miss work may go on.

    The fee is assessed. The usual follow-ups are planned from now (not from
    the miss, so the first does not land the minute after the clinician's
    own call), unless the clinician says the client has heard enough from us.
    """
    with transaction.atomic(durable=True):
        check = policies.safety_check_complete(check=check, actor=actor, note=note)
        event = NoShowEvent.objects.select_related("appointment__client", "appointment__practice").get(
            pk=check.missed_session_id
        )
        if event.undone_at is None:
            policies.fee_assess(event=event)
            if send_followups:
                _plan_followups(event, start=check.completed_at)
            else:
                followups.contacted_mark(event=event, actor=actor)
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
            followups.outbox_cancel_pending(event=event, code=OutboxMessage.CancelCode.REBOOKED)
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


def followup_send_now(*, message_id: int, drain: int = FOLLOWUP_DRAIN) -> str:
    """The on-commit path: claim this row if it is still due and free and send it, then up to `drain` more due rows.

    A burst of marks queues one wake-up (practice.wakeups), and the task sends the
    rows already due, claimed CLAIM_BATCH at a time through the sending sweep's own
    path (a lease and a token per row, SKIP LOCKED, the check just before sending,
    the point of no return, one SMTP connection per worker).
    0. Clear the wake-up flag first: a row committed from here on queues a wake-up
       of its own; one committed before is claimed below.
    1. This row first, alone (a single mark's message goes at once).
    2. Then the due rows, whether or not this row was still ours: their marks may
       have skipped their wake-up for this one. A full drain wakes again.
    Returns this row's new status ("" when it was not ours).
    """
    wakeups.taken(FOLLOWUP_WAKE)
    status = followups.outbox_send_now(message_id=message_id, purpose=OutboxMessage.Purpose.FOLLOWUP)
    # No lease housekeeping here: that is the minute sweep's (sweep_followups).
    if drain and followups.outbox_send_due(limit=drain, batch=followups.CLAIM_BATCH, housekeeping=False) >= drain:
        _wake_again(_enqueue_followup, message_id)
    return status


def followups_send_due(*, limit: int = FOLLOWUP_BATCH) -> int:
    """The minute sweep: rows whose worker lost its lease, then due rows, claimed one at a time."""
    return followups.outbox_send_due(limit=limit)


# ------------------------------------------------------------ rescheduling


# One kind page for every client link (followups.services.LinkUnusable).
LinkUnusable = followups.LinkUnusable


class SlotTaken(Exception):
    """The time was taken (or withdrawn) between showing the page and confirming."""


@dataclass(frozen=True)
class RescheduleOffer:
    link: ClientLink
    missed: Appointment
    slots: list


def reschedule_offer(*, token: str, now: datetime | None = None) -> RescheduleOffer:
    """What the client's page shows. Reads only: mail scanners open links before people do.

    One query whatever the link (tests/followups/test_reschedule.py counts it): the link, all that
    decides whether it is usable, and the clinician's windows and booked sessions, in the one
    hand-written statement of `aftercare.selectors.rebook_page_read` (why SQL: its docstring).
    """
    now = now or timezone.now()
    if not token or len(token) > 100:
        raise LinkUnusable
    page = selectors.rebook_page_read(token_hash=followups.token_hash(token), now=now, days=REBOOK_DAYS)
    if page is None:
        raise LinkUnusable
    link, missed = page.link, page.missed
    if _link_unusable(link=link, missed=missed, now=now, rebooked=page.rebooked, archived=missed.client.is_archived):
        raise LinkUnusable(practice=missed.practice)
    slots = open_slots_from(windows=page.windows, busy=page.busy, practice=missed.practice, now=now, days=REBOOK_DAYS)
    return RescheduleOffer(link=link, missed=missed, slots=slots)


# The rebooking page offers this many local days from today (open_slots_for's default).
REBOOK_DAYS = 14


def _link_unusable(*, link: ClientLink, missed: Appointment, now: datetime, rebooked: bool, archived: bool) -> bool:
    """Used, expired, the miss undone, already rebooked, or the client archived: the kind page instead."""
    return (
        link.used_at is not None
        or link.expires_at <= now
        or link.missed_session.undone_at is not None
        or rebooked
        or archived
    )


def rebook_clinician(missed: Appointment):
    """Who a make-up session is with: the missed session's clinician, or, once they are
    deactivated, the client's clinician now (deactivating hands clients over)."""
    if Membership.objects.filter(user_id=missed.clinician_id, practice_id=missed.practice_id, is_active=True).exists():
        return missed.clinician
    return Client.objects.select_related("clinician").get(pk=missed.client_id).clinician


def _usable_link(*, token: str, now: datetime | None, lock: bool) -> tuple[ClientLink, Appointment]:
    now = now or timezone.now()
    link = followups.client_link_find(token=token, purpose=ClientLink.Purpose.REBOOK, lock=lock)
    if link is None:
        raise LinkUnusable
    event = NoShowEvent.objects.select_related("appointment__practice").get(pk=link.missed_session_id)
    link.missed_session = event
    missed = event.appointment
    if _link_unusable(
        link=link,
        missed=missed,
        now=now,
        rebooked=missed.rescheduled_to.filter(status__in=Appointment.BLOCKING_STATUSES).exists(),
        archived=Client.objects.filter(pk=missed.client_id, is_archived=True).exists(),
    ):
        raise LinkUnusable(practice=missed.practice)
    return link, missed


def client_reschedule(
    *, token: str, start: datetime, reason: str = "", text: str = "", now: datetime | None = None
) -> Appointment:
    """The client picked a time from their link. All of it happens in one transaction:

    1. Lock the link; it must still be usable (single use, unexpired, the miss not undone or rebooked).
    2. The time must still be one of the open slots; booking it locks the
       clinician and refuses a clash, so two clients never get one slot.
    3. Mark the link used, stop pending follow-ups, apply the make-up
       waiver, keep what the client said got in the way.
    4. After commit, tell the clinician.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link, missed = _usable_link(token=token, now=now, lock=True)
        clinician = rebook_clinician(missed)
        slots = dict(open_slots_for(clinician_id=clinician.pk, practice=missed.practice, now=now))
        if start not in slots:
            raise SlotTaken
        try:
            [makeup] = appointment_book(
                practice=missed.practice,
                client=missed.client,
                clinician=clinician,
                start=start,
                end=slots[start],
                session_type=missed.session_type,
                modality=missed.modality,
                rescheduled_from=missed,
            )
        except ValidationError as exc:
            raise SlotTaken from exc
        if not followups.client_link_use(link=link, now=now, new_appointment=makeup):
            raise LinkUnusable(practice=missed.practice)
        event = link.missed_session
        followups.outbox_cancel_pending(event=event, code=OutboxMessage.CancelCode.REBOOKED)
        policies.fee_waive_for_makeup(event=event, makeup=makeup)
        if reason or text:
            followups.miss_reason_record(event=event, reason=reason, text=text)
        on_commit_robust(_enqueue_rebooked_notice, makeup.pk, swept=False)
    log.info("client rescheduled event_id=%s appointment_id=%s", event.pk, makeup.pk)
    return makeup


# A used rebooking link still serves its new session's calendar file this long
# after it was used (and only while that session is still booked), so the
# client can add it from the confirmation page, or again later on their phone.
CALENDAR_LINK_DAYS = 14


def rebooked_session(*, token: str, now: datetime | None = None) -> Appointment:
    """The session a client booked through this link, for its calendar file; reads only.

    Raises LinkUnusable for an unknown token, a link not (yet) used, one used
    more than CALENDAR_LINK_DAYS ago, or a session no longer booked.
    """
    now = now or timezone.now()
    link = followups.client_link_find(token=token, purpose=ClientLink.Purpose.REBOOK)
    if link is None:
        raise LinkUnusable
    appointment = link.new_appointment
    if (
        link.used_at is None
        or appointment is None
        or now - link.used_at > timedelta(days=CALENDAR_LINK_DAYS)
        or appointment.status != Appointment.Status.SCHEDULED
    ):
        raise LinkUnusable(practice=link.practice)
    return appointment


def _enqueue_rebooked_notice(appointment_id: int) -> None:
    from .tasks import notify_clinician_rebooked

    notify_clinician_rebooked.delay(appointment_id)


def clinician_notify_rebooked(*, appointment_id: int) -> bool:
    """Email the clinician that a client rebooked (no client name in the mail)."""
    appointment = Appointment.objects.select_related("clinician", "practice").filter(pk=appointment_id).first()
    if appointment is None or not appointment.clinician.email:
        return False
    # Rendered in the practice's zone: a worker has no active zone (UTC).
    with timefmt.practice_time(appointment.practice):
        send_email(
            "rebooked",
            to=appointment.clinician.email,
            context={"start": appointment.start},
            message_id=f"<rebooked.{appointment.pk}@reconnect>",
        )
    return True
