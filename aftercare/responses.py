"""The client's answers to a reminder: "I can't make it" and "Move it" (Confirm is followups.reminders).

Each reminder carries single-use links (followups.models.ClientLink, purposes
`cant_make_it` and `move`), for one session at one start: a link expires at
that start, and a session since moved, cancelled or marked makes it unusable.
GET pages read only (`response_offer`); the client acts with a POST:

- `client_cant_make_it`: outside the notice window a client cancellation with
  no fee; inside it a late cancel under the policy (the fee as `fee_assess`
  decides it, never more than the acknowledged terms). The missed session is
  marked told-by-client, so no after-miss follow-up is written; the pipeline
  still assesses the fee, or opens the safety check first for a flagged client.
- `client_move`: the same row moves to one of the clinician's open times
  (`appointment_move`, clinician lock, no double booking). Inside the notice
  window, when telling us would cost a fee, only times within the make-up
  window are offered: moving there is free.

Both use the link up in the transaction that acts, so a double click or a
second tab changes nothing and sees the same outcome page; the clinician gets
a short email after commit.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appointments.models import Appointment
from appointments.selectors import open_slots_for
from appointments.services import Outcome, appointment_move, appointment_record_outcome
from followups import services as followups
from followups.models import ClientLink
from policies import rules
from policies import services as policies
from practice import timefmt
from practice.emails import send_email
from practice.services import audit_record
from practice.transactions import on_commit_robust
from waitlist import services as waitlist
from waitlist.models import FreedSlot

from .services import LinkUnusable, SlotTaken, enqueue_missed_session

log = logging.getLogger(__name__)

Purpose = ClientLink.Purpose
Response = Appointment.ClientResponse
# What a used link did, for the outcome page shown again on a second POST or visit.
DONE_CANCELLED = "cancelled"
DONE_MOVED = "moved"


class TermsChanged(Exception):
    """The notice window closed between the page and the POST: the client must see the new terms first."""


@dataclass(frozen=True)
class ResponseOffer:
    link: ClientLink
    appointment: Appointment
    terms: policies.CancelTerms
    # Times the client may move to, (start, end) in UTC; none when moving is not possible online.
    slots: list
    # Inside the notice window, only times within the make-up window are offered (and the page says so).
    slots_limited: bool = False
    # The link was already used for this: "cancelled" or "moved" (the page shows that outcome again).
    done: str = ""


def _session_link(*, token: str, purpose: str, now: datetime, lock: bool) -> tuple[ClientLink, Appointment, str]:
    """The link, its session (locked when `lock`), and what it already did ("" if unused). LinkUnusable otherwise."""
    link = followups.client_link_find(token=token, purpose=purpose, lock=lock)
    if link is None or link.appointment_id is None:
        raise LinkUnusable
    sessions = Appointment.objects.select_related("practice", "client", "clinician")
    if lock:
        sessions = sessions.select_for_update(of=("self",), no_key=True)
    appointment = sessions.get(pk=link.appointment_id)
    if link.used_at is not None:
        if link.new_appointment_id == appointment.pk and appointment.client_response == Response.CANT_MAKE_IT:
            return link, appointment, DONE_CANCELLED
        if link.new_appointment_id == appointment.pk and appointment.client_response == Response.MOVED:
            return link, appointment, DONE_MOVED
        raise LinkUnusable(practice=link.practice)
    if (
        link.expires_at <= now
        or appointment.status != Appointment.Status.SCHEDULED
        or appointment.start != link.expires_at
        or appointment.client.is_archived
    ):
        raise LinkUnusable(practice=link.practice)
    return link, appointment, ""


def _move_slots(appointment: Appointment, terms: policies.CancelTerms, now: datetime) -> tuple[list, bool]:
    """Open times to move to, and whether they are limited to the make-up window.

    Inside the notice window, when saying "can't make it" would cost a fee,
    only times within the make-up window are offered (none if there is no
    make-up window): a move there is free, anything later would be a late cancel.
    """
    slots = [
        (start, end)
        for start, end in open_slots_for(
            clinician_id=appointment.clinician_id, practice=appointment.practice, now=now, exclude_id=appointment.pk
        )
        if start != appointment.start
    ]
    limited = terms.late and terms.charges
    if limited:
        zone = appointment.practice.time_zone
        slots = [
            (start, end)
            for start, end in slots
            if terms.makeup_days
            and rules.within_days(earlier=appointment.start, later=start, days=terms.makeup_days, zone=zone)
        ]
    return slots, limited


def response_offer(*, token: str, purpose: str, now: datetime | None = None) -> ResponseOffer:
    """What the "can't make it" or "move" page shows. Reads only: mail scanners open links before people do."""
    now = now or timezone.now()
    link, appointment, done = _session_link(token=token, purpose=purpose, now=now, lock=False)
    # A used link's page says what applied when the client answered.
    at = (appointment.client_responded_at or now) if done else now
    terms = policies.cancellation_terms(appointment=appointment, at=at)
    if done:
        return ResponseOffer(link=link, appointment=appointment, terms=terms, slots=[], done=done)
    slots, limited = _move_slots(appointment, terms, now)
    return ResponseOffer(link=link, appointment=appointment, terms=terms, slots=slots, slots_limited=limited)


def client_cant_make_it(
    *, token: str, late_seen: bool, reason: str = "", text: str = "", now: datetime | None = None
) -> Appointment:
    """The client says they can't make the session. All of it in one transaction:

    1. Lock the link, then the session; both must still be usable. A link
       already used here returns the session unchanged (a double click, or a
       second tab that moved it).
    2. The terms must be the ones the page showed (`late_seen`): if the notice
       window closed in between, TermsChanged, and nothing changes.
    3. Record a client cancellation (outside the window) or a late cancel
       (inside it); a late cancel's missed session is marked told-by-client
       (no follow-up) and the pipeline assesses its fee, or opens the safety
       check first for a flagged client.
    4. Link used, the answer on the row, what got in the way (if said), audit;
       after commit, the clinician's short email.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        link, appointment, done = _session_link(token=token, purpose=Purpose.CANT_MAKE_IT, now=now, lock=True)
        if done:
            # A double click or a second tab: what the first did stands, and nothing changes.
            return appointment
        late = policies.cancellation_is_late(appointment=appointment, at=now)
        if late != late_seen:
            raise TermsChanged
        result = appointment_record_outcome(
            appointment_id=appointment.pk,
            outcome=Outcome.LATE_CANCEL if late else Outcome.CANCELLED,
            actor=None,
            initiated_by=Appointment.Initiator.CLIENT,
            reason="The client told us from the reminder's link.",
            now=now,
        )
        if not followups.client_link_use(link=link, now=now, new_appointment=appointment):
            raise LinkUnusable(practice=link.practice)
        appointment = result.appointment
        appointment.client_response, appointment.client_responded_at = Response.CANT_MAKE_IT, now
        appointment.save(update_fields=["client_response", "client_responded_at"])
        event = result.event
        if event is not None:
            event.told_by_client = True
            event.save(update_fields=["told_by_client"])
            # The fee, or for a flagged client the safety check (clinician alerted first). No follow-up.
            on_commit_robust(enqueue_missed_session, event.pk)
        if reason or text:
            followups.miss_reason_record(appointment=appointment, event=event, reason=reason, text=text)
        audit_record(
            practice=appointment.practice,
            actor=None,
            action="appointment.client_cant_make_it",
            obj=appointment,
            changes={"by": "client", "late": late, "start": appointment.start.isoformat()},
        )
        # The time is free for the waitlist, in this transaction.
        waitlist.slot_freed(
            appointment=appointment,
            start=appointment.start,
            end=appointment.end,
            cause=FreedSlot.Cause.LATE_CANCEL if late else FreedSlot.Cause.CANCELLED,
        )
        on_commit_robust(_enqueue_response_notice, appointment.pk, "", swept=False)
    log.info("client can't make it appointment_id=%s late=%s", appointment.pk, late)
    return appointment


def client_move(*, token: str, purpose: str, start: datetime, now: datetime | None = None) -> Appointment:
    """The client moves the session to one of the offered times (from a "move" or a "can't make it" link).

    1. Lock the link, then the session; both must still be usable. A link
       already used here returns the session as it is now, unchanged.
    2. The time must be one the page may offer now (open, and inside the
       notice window within the make-up window); `appointment_move` locks the
       clinician and refuses a clash, so no double booking.
    3. The same row moves (confirmation cleared, new reminders keyed by the
       new start), the link is used, audited; after commit the clinician's email.
    """
    now = now or timezone.now()
    if purpose not in (Purpose.MOVE, Purpose.CANT_MAKE_IT):
        raise ValueError(purpose)
    with transaction.atomic(durable=True):
        link, appointment, done = _session_link(token=token, purpose=purpose, now=now, lock=True)
        if done:
            # A double click or a second tab: what the first did stands, and nothing changes.
            return appointment
        terms = policies.cancellation_terms(appointment=appointment, at=now)
        slots, _ = _move_slots(appointment, terms, now)
        if start not in dict(slots):
            raise SlotTaken
        old_start = appointment.start
        try:
            appointment = appointment_move(
                appointment=appointment, start=start, end=start + appointment.duration, actor=None, by_client=True
            )
        except ValidationError as exc:
            raise SlotTaken from exc
        if not followups.client_link_use(link=link, now=now, new_appointment=appointment):
            raise LinkUnusable(practice=link.practice)
        # The time the session left is free for the waitlist, in this transaction.
        waitlist.slot_freed(
            appointment=appointment,
            start=old_start,
            end=old_start + appointment.duration,
            cause=FreedSlot.Cause.MOVED,
        )
        on_commit_robust(_enqueue_response_notice, appointment.pk, old_start.isoformat(), swept=False)
    log.info("client moved appointment_id=%s", appointment.pk)
    return appointment


def _enqueue_response_notice(appointment_id: int, old_start: str) -> None:
    from .tasks import notify_clinician_response

    notify_clinician_response.delay(appointment_id, old_start)


def clinician_notify_response(*, appointment_id: int, old_start: str = "") -> bool:
    """Email the clinician that a client can't make a session, or moved it (`old_start` set). No client name."""
    appointment = Appointment.objects.select_related("clinician", "practice").filter(pk=appointment_id).first()
    if appointment is None or not appointment.clinician.email:
        return False
    moved_from = datetime.fromisoformat(old_start) if old_start else None
    # Rendered in the practice's zone: a worker has no active zone (UTC).
    with timefmt.practice_time(appointment.practice):
        send_email(
            "client-response",
            to=appointment.clinician.email,
            context={
                "start": appointment.start,
                "moved_from": moved_from,
                "late": appointment.status == Appointment.Status.LATE_CANCEL,
            },
            message_id=f"<client-response.{appointment.pk}.{int(appointment.start.timestamp())}@reconnect>",
        )
    return True
