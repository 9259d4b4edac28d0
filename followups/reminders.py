"""Reminders before a session, and the client's Confirm link.

A reminder is an outbox row of purpose "reminder" (followups/purposes.py
checks and composes it; the one send path delivers it), keyed
`reminder:<appointment>:<start iso>:<n>`, so a moved session gets reminders
of its own and the old ones stop at their check ("the session was moved").

The minute sweep (`reminders_write_due`, task followups.tasks.sweep_reminders):
1. For each practice and each reminder of its plan ("N hours before"), the
   scheduled sessions (appt_reminder_sweep_idx) whose reminder time has come,
   counting a reminder time in quiet hours as due the evening before
   (timing.evening_before), that have no row for this start and number yet.
2. Each gets one row, due at once. A reminder written more than LATE_GRACE
   after its time (the session was booked or moved after it, or the sweep was
   down) is written as skipped, with the reason, and never sent; so is one
   that could only go out, after quiet hours, once the session has started.
3. Bounded: at most `limit` sessions a run; the task runs again while a run is full.
4. The task then wakes the senders (followups.tasks.send_due, one chunk per
   worker) instead of leaving the rows to the next minute's sweep.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from appointments.models import Appointment
from practice import sqlonce
from practice.models import Practice
from practice.services import audit_record

from . import services, timing
from .models import ClientLink, FollowUpPlan, MessageTemplate, OutboxMessage, ReminderPlan

log = logging.getLogger(__name__)

# Rows one sweep run writes; the task runs again while a run is full.
REMINDER_BATCH = 2000
# A reminder the sweep finds later than this after its time is skipped, not sent late.
LATE_GRACE = timedelta(hours=1)
Status = OutboxMessage.Status
CancelCode = OutboxMessage.CancelCode


def plan_for(practice: Practice) -> ReminderPlan:
    """The practice's reminder plan, written with the defaults the first time it is asked for
    (read through SQL compiled once, as followups.services.plan_for)."""
    found = sqlonce.instances(ReminderPlan, _plan_query, practice_id=practice.pk)
    if found:
        return found[0]
    plan, _ = ReminderPlan.objects.get_or_create(practice=practice)
    return plan


def _plan_query(*, practice_id: int):
    return ReminderPlan.objects.filter(practice_id=practice_id)


def plan_update(*, practice: Practice, actor, **fields) -> ReminderPlan:
    return services.practice_plan_update(
        plan=plan_for(practice), actor=actor, action="reminders.plan_updated", **fields
    )


def reminder_key(*, appointment_id: int, start: datetime, number: int) -> str:
    return f"reminder:{appointment_id}:{start.astimezone(UTC).isoformat()}:{number}"


def reminder_plan_of(practice: Practice) -> ReminderPlan:
    """The practice's reminder plan as saved (no query when fetched with select_related), or the default."""
    try:
        return practice.reminder_plan
    except ReminderPlan.DoesNotExist:
        return ReminderPlan(practice=practice)


def plans_of(practice: Practice) -> tuple[ReminderPlan, FollowUpPlan]:
    """The practice's plans as saved, or the defaults (unsaved) when it never changed them."""
    try:
        reminder_plan = practice.reminder_plan
    except ReminderPlan.DoesNotExist:
        reminder_plan = ReminderPlan(practice=practice)
    try:
        followup_plan = practice.followup_plan
    except FollowUpPlan.DoesNotExist:
        followup_plan = FollowUpPlan(practice=practice)
    return reminder_plan, followup_plan


def reminders_write_due(*, now: datetime | None = None, limit: int = REMINDER_BATCH) -> int:
    """Write the outbox rows of reminders whose time has come (see the module docstring).

    Returns how many sessions it wrote a row for. The rows go in with one
    INSERT per practice and reminder (`bulk_create(ignore_conflicts=True)` on the
    unique key): a row another sweep wrote at the same moment is kept as it is,
    and counted here too, so two sweeps at once never make a second row.
    """
    now = now or timezone.now()
    written = 0
    practices = Practice.objects.select_related("reminder_plan", "followup_plan").order_by("pk")
    for practice in practices:
        reminder_plan, followup_plan = plans_of(practice)
        if not reminder_plan.enabled:
            continue
        quiet = {
            "quiet_start": followup_plan.quiet_start,
            "quiet_end": followup_plan.quiet_end,
            "zone": practice.time_zone,
        }
        latest = timing.latest_due_reminder_time(now, **quiet)
        for number, hours, channel in reminder_plan.reminders():
            if written >= limit:
                return written
            already = OutboxMessage.objects.filter(
                purpose=OutboxMessage.Purpose.REMINDER,
                appointment=OuterRef("pk"),
                appointment_start=OuterRef("start"),
                reminder_number=number,
            )
            sessions = (
                Appointment.objects.filter(
                    practice=practice,
                    status=Appointment.Status.SCHEDULED,
                    start__gt=now,
                    start__lte=latest + timedelta(hours=hours),
                    client__reminders_opt_out=False,
                    client__is_archived=False,
                )
                .exclude(Exists(already))
                .order_by("start")
                .values_list("pk", "client_id", "start")[: limit - written]
            )
            rows = [
                row
                for pk, client_id, start in sessions
                if (
                    row := _row(
                        practice.pk,
                        pk,
                        client_id,
                        start,
                        number=number,
                        hours=hours,
                        channel=channel,
                        now=now,
                        quiet=quiet,
                    )
                )
            ]
            OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
            written += len(rows)
    return written


def _row(
    practice_id: int,
    appointment_id: int,
    client_id: int,
    start: datetime,
    *,
    number: int,
    hours: int,
    channel: str,
    now: datetime,
    quiet: dict,
) -> OutboxMessage | None:
    """The reminder's row, unsaved; None if it is not due yet."""
    due = timing.evening_before(start - timedelta(hours=hours), **quiet)
    if due > now:
        return None
    status, code = Status.PENDING, ""
    send_at = timing.next_sendable(now, **quiet)
    if now - due > LATE_GRACE or send_at >= start:
        status, code = Status.CANCELLED, CancelCode.TOO_LATE
    return OutboxMessage(
        idempotency_key=reminder_key(appointment_id=appointment_id, start=start, number=number),
        purpose=OutboxMessage.Purpose.REMINDER,
        practice_id=practice_id,
        client_id=client_id,
        appointment_id=appointment_id,
        appointment_start=start,
        reminder_number=number,
        kind=MessageTemplate.Kind.REMINDER,
        channel=channel,
        due_at=send_at,
        status=status,
        cancel_code=code,
        cancel_reason=CancelCode(code).label if code else "",
    )


# ------------------------------------------------------------ confirm link


def session_link_create(*, purpose: str, appointment: Appointment, now: datetime | None = None) -> str:
    """A single-use link for this session at its current start (confirm, can't make it, move). Returns the token.

    It expires at the session's start; the start it was made for is that expiry,
    so a link for a session that has since moved does nothing.
    """
    if purpose not in ClientLink.SESSION_PURPOSES:
        raise ValueError(purpose)
    return services.client_link_create(
        purpose=purpose,
        client=appointment.client,
        days=0,
        appointment=appointment,
        expires_at=appointment.start,
        now=now,
    )


def session_links_create(*, purposes: list[str], appointment: Appointment, client=None) -> dict[str, str]:
    """The links of one reminder (one per purpose, as `session_link_create`), written in one INSERT.

    `client` is the session's client when the caller has it already (no query for it). Returns purpose -> token.
    """
    if any(purpose not in ClientLink.SESSION_PURPOSES for purpose in purposes):
        raise ValueError(purposes)
    client = client or appointment.client
    tokens = {purpose: secrets.token_urlsafe(32) for purpose in purposes}
    ClientLink.objects.bulk_create(
        ClientLink(
            practice_id=client.practice_id,
            client=client,
            purpose=purpose,
            appointment=appointment,
            token_hash=services.token_hash(token),
            expires_at=appointment.start,
        )
        for purpose, token in tokens.items()
    )
    return tokens


def confirm_link_create(*, appointment: Appointment, now: datetime | None = None) -> str:
    return session_link_create(purpose=ClientLink.Purpose.CONFIRM, appointment=appointment, now=now)


@dataclass(frozen=True)
class ConfirmOffer:
    link: ClientLink
    appointment: Appointment
    # The link was used to confirm this very session at this start: the page says so again (a double
    # click, or the email opened once more) instead of "this link can't be used".
    already_confirmed: bool = False


def confirm_offer(*, token: str, now: datetime | None = None) -> ConfirmOffer:
    """What the Confirm page shows. Changes nothing (mail scanners open links). LinkUnusable if it can't be used."""
    now = now or timezone.now()
    link = services.client_link_find(token=token, purpose=ClientLink.Purpose.CONFIRM)
    if link is None or link.appointment_id is None:
        raise services.LinkUnusable
    appointment = Appointment.objects.select_related("practice", "client", "clinician").get(pk=link.appointment_id)
    if (
        link.expires_at <= now
        or appointment.status != Appointment.Status.SCHEDULED
        or appointment.start != link.expires_at
    ):
        raise services.LinkUnusable(practice=link.practice)
    if link.used_at is not None:
        if appointment.confirmed_at is None:
            raise services.LinkUnusable(practice=link.practice)
        return ConfirmOffer(link=link, appointment=appointment, already_confirmed=True)
    return ConfirmOffer(link=link, appointment=appointment)


def session_confirm(*, token: str, now: datetime | None = None) -> Appointment:
    """The client confirms from the reminder's link: `confirmed_at` set, audited, the link used up."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link = services.client_link_find(token=token, purpose=ClientLink.Purpose.CONFIRM, lock=True)
        if link is None or link.appointment_id is None:
            raise services.LinkUnusable
        appointment = _lock_still_at(appointment_id=link.appointment_id, start=link.expires_at)
        if appointment is None:
            raise services.LinkUnusable(practice=link.practice)
        if not services.client_link_use(link=link, now=now):
            raise services.LinkUnusable(practice=link.practice)
        _confirm(appointment, now=now, via="link")
    log.info("session confirmed appointment_id=%s", appointment.pk)
    return appointment


def session_confirm_by_reply(
    *, appointment_id: int, start: datetime, now: datetime | None = None
) -> Appointment | None:
    """The client answered a reminder by text ("C", "YES"): the same confirmation as the link's.

    None when there is nothing to confirm any more: the session moved, was
    cancelled, has started, or was confirmed already (a reply sent twice).
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        appointment = _lock_still_at(appointment_id=appointment_id, start=start)
        if appointment is None or appointment.start <= now or appointment.confirmed_at is not None:
            return None
        _confirm(appointment, now=now, via="text reply")
    log.info("session confirmed by text appointment_id=%s", appointment.pk)
    return appointment


def _lock_still_at(*, appointment_id: int, start: datetime) -> Appointment | None:
    """The session, locked, if it is still scheduled at `start` (what the client was reminded of)."""
    appointment = (
        Appointment.objects.select_for_update(of=("self",), no_key=True)
        .select_related("practice")
        .get(pk=appointment_id)
    )
    if appointment.status != Appointment.Status.SCHEDULED or appointment.start != start:
        return None
    return appointment


def _confirm(appointment: Appointment, *, now: datetime, via: str) -> None:
    appointment.confirmed_at = now
    appointment.save(update_fields=["confirmed_at"])
    audit_record(
        practice=appointment.practice,
        actor=None,
        action="appointment.confirmed",
        obj=appointment,
        changes={"by": "client", "via": via, "start": appointment.start.isoformat()},
        client_id=appointment.client_id,
    )
