"""What providers tell us after a message left: delivery reports, and the client's text replies.

Writers only (the webhooks in followups/hooks.py verify signatures and call these):
- `delivery_report_record`: a Twilio status callback or an email provider's
  tracking event marks one outbox row delivered, bounced, complained, failed
  or undelivered. Idempotent, and never backwards (DELIVERY_RANK): a late
  "delivered" after a bounce, or the same report twice, changes nothing.
- `sms_reply_handle`: "C"/"YES" confirms the client's next reminded session
  (followups.reminders.session_confirm_by_reply, the Confirm link's service);
  STOP and Twilio's other opt-out words turn the client's SMS consent off, so
  every later text is cancelled by the outbox's consent check.
Log lines carry ids only: never a number, an address or a message's text.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from anymail.signals import EventType
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from appointments.models import Appointment, Client
from practice.models import Practice
from practice.services import audit_record

from . import reminders
from .models import OutboxMessage

log = logging.getLogger(__name__)

Delivery = OutboxMessage.DeliveryStatus
Status = OutboxMessage.Status

# How far along a message is. A report moves a row only to a higher rank: every
# failure outranks "delivered" (an email can bounce after the receiving server took
# it), and a spam complaint outranks everything (it comes last, and matters most).
DELIVERY_RANK = {
    Delivery.NONE: 0,
    Delivery.DELIVERED: 1,
    Delivery.UNDELIVERED: 2,
    Delivery.FAILED: 2,
    Delivery.BOUNCED: 2,
    Delivery.COMPLAINED: 3,
}

# Twilio's MessageStatus values that say how it ended; the others (queued, sending, sent,
# accepted...) only tell us the SID.
TWILIO_STATUSES = {
    "delivered": Delivery.DELIVERED,
    "read": Delivery.DELIVERED,
    "undelivered": Delivery.UNDELIVERED,
    "failed": Delivery.FAILED,
}

# anymail's normalized event types that say how an email ended. Opens and clicks are not
# recorded: we do not watch what clients do with their mail.
EMAIL_EVENTS = {
    EventType.DELIVERED: Delivery.DELIVERED,
    EventType.BOUNCED: Delivery.BOUNCED,
    EventType.REJECTED: Delivery.BOUNCED,
    EventType.FAILED: Delivery.BOUNCED,
    EventType.COMPLAINED: Delivery.COMPLAINED,
}

SID_RE = re.compile(r"^[SM]M[0-9a-fA-F]{32}$")
REF_RE = re.compile(r"^(\d{1,12})\.(\d{1,5})$")


def delivery_report_record(
    *, provider_id: str, status: str, at: datetime | None = None, detail: str = "", ref: str = ""
) -> int | None:
    """One provider report on one message. Returns the row's id, or None if no row of ours has that id.

    `ref` ("<outbox id>.<generation>", from a Twilio status callback's URL) finds
    a row whose send answer was lost: the row adopts the provider's id, so its
    retry records it as sent instead of texting again (followups.services.outbox_deliver).
    """
    at = at or timezone.now()
    rows = OutboxMessage.objects.filter(provider_message_id=provider_id)
    row_id = rows.values_list("pk", flat=True).first()
    if row_id is None and ref:
        row_id = _adopt(provider_id=provider_id, ref=ref, at=at)
    if row_id is None:
        return None
    rank = DELIVERY_RANK.get(status, 0)
    if not rank:
        return row_id
    lower = [name for name, r in DELIVERY_RANK.items() if r < rank]
    with transaction.atomic():
        moved = OutboxMessage.objects.filter(pk=row_id, delivery_status__in=lower).update(
            delivery_status=status, delivery_status_at=at, delivery_detail=detail[:100]
        )
        if moved and status != Delivery.DELIVERED:
            message = OutboxMessage.objects.select_related("practice").get(pk=row_id)
            audit_record(
                practice=message.practice,
                actor=None,
                action="followups.delivery_failed",
                obj=message,
                changes={"delivery_status": status, "detail": detail[:100]},
            )
    log.info("delivery report message_id=%s status=%s recorded=%s", row_id, status, bool(moved))
    return row_id


def _adopt(*, provider_id: str, ref: str, at: datetime) -> int | None:
    """The row and generation named by `ref` takes `provider_id`, if it has none yet."""
    match = REF_RE.match(ref)
    if not match:
        return None
    pk, generation = int(match[1]), int(match[2])
    rows = OutboxMessage.objects.filter(pk=pk, generation=generation, provider_message_id="")
    if not rows.update(provider_message_id=provider_id[:200]):
        return None
    # One whose attempts ran out meanwhile did reach the provider: it was sent, not "could not reach".
    OutboxMessage.objects.filter(pk=pk, status=Status.FAILED).update(status=Status.SENT, sent_at=at, last_error="")
    log.warning("provider id recorded from a delivery report message_id=%s", pk)
    return pk


def sms_status_record(*, sid: str, status: str, error_code: str = "", ref: str = "") -> int | None:
    """A Twilio status callback (its signature already checked)."""
    detail = f"Twilio error {error_code}" if error_code.isdigit() else ""
    return delivery_report_record(provider_id=sid, status=TWILIO_STATUSES.get(status, ""), detail=detail, ref=ref)


def email_event_record(event) -> int | None:
    """An anymail tracking event (its signature already checked by anymail). Matched on the id we recorded
    at send time: the provider's message id, which for Mailgun is our own Message-ID header."""
    status = EMAIL_EVENTS.get(event.event_type, "")
    message_id = (event.message_id or "").strip()
    if not status or not message_id:
        return None
    bare = message_id.strip("<>")
    recorded = (
        OutboxMessage.objects.filter(provider_message_id__in=[message_id, bare, f"<{bare}>"])
        .values_list("provider_message_id", flat=True)
        .first()
    )
    if recorded is None:
        return None
    # The normalized reason only: the provider's own text and MTA response can quote the address.
    detail = event.reject_reason or ""
    return delivery_report_record(provider_id=recorded, status=status, at=event.timestamp, detail=detail)


def on_tracking(sender, event, esp_name, **kwargs) -> None:
    """anymail's `tracking` signal (followups.apps): hand the event to the service, nothing else."""
    email_event_record(event)


# ---------------------------------------------------------------- replies


CONFIRM_WORDS = frozenset({"C", "YES"})
# Twilio's standard opt-out keywords.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
# Twilio's opt-in words other than YES (which confirms here): recorded, never a silent re-consent.
START_WORDS = frozenset({"START", "UNSTOP"})


@dataclass(frozen=True)
class SmsReply:
    """What a reply did: "confirmed" (with the session), "stopped", "start_noted" or "ignored"."""

    outcome: str
    appointment: Appointment | None = None


def reply_word(body: str) -> str:
    """The one word a reply says, as Twilio reads keywords: trimmed, any case, a final full stop or "!" ignored."""
    return body.strip().rstrip(".!").strip().upper()


def sms_reply_handle(*, from_number: str, to_number: str, body: str, now: datetime | None = None) -> SmsReply:
    """A text from a client to one of our numbers (its signature already checked). See the module docstring."""
    now = now or timezone.now()
    word = reply_word(body)
    if word not in CONFIRM_WORDS | STOP_WORDS | START_WORDS:
        return SmsReply("ignored")
    clients = list(sms_reply_clients(from_number=from_number, to_number=to_number))
    if not clients:
        return SmsReply("ignored")
    if word in STOP_WORDS:
        return SmsReply("stopped") if client_sms_opt_out(clients=clients) else SmsReply("ignored")
    if word in START_WORDS:
        for client in clients:
            with transaction.atomic():
                audit_record(practice=client.practice, actor=None, action="client.sms_start_received", obj=client)
        return SmsReply("start_noted")
    session = next_reminded_session(clients=clients, now=now)
    if session is None:
        return SmsReply("ignored")
    confirmed = reminders.session_confirm_by_reply(appointment_id=session.pk, start=session.start, now=now)
    return SmsReply("confirmed", confirmed) if confirmed else SmsReply("ignored")


def sms_reply_clients(*, from_number: str, to_number: str):
    """The clients a reply can come from: this number's, in the practices that text from `to_number`.

    A practice with its own number (Practice.sms_from_number) owns the replies to
    it; replies to the shared number belong to the practices without one. The
    same person can be a client of several of those: every one of them is
    returned (STOP stops them all; a confirmation picks the soonest session).
    """
    if not from_number or not to_number:
        return Client.objects.none()
    practices = Practice.objects.filter(sms_from_number=to_number)
    if not practices.exists():
        practices = Practice.objects.filter(sms_from_number="")
    return (
        Client.objects.filter(practice__in=practices, phone=from_number, phone_needs_review=False)
        .select_related("practice")
        .order_by("pk")
    )


def next_reminded_session(*, clients: list[Client], now: datetime) -> Appointment | None:
    """The soonest scheduled, future, unconfirmed session of these clients that a reminder went out for, at its
    current start."""
    reminded = OutboxMessage.objects.filter(
        purpose=OutboxMessage.Purpose.REMINDER,
        appointment=OuterRef("pk"),
        appointment_start=OuterRef("start"),
        status=Status.SENT,
    )
    return (
        Appointment.objects.filter(
            client__in=clients,
            client__is_archived=False,
            status=Appointment.Status.SCHEDULED,
            start__gt=now,
            confirmed_at=None,
        )
        .filter(Exists(reminded))
        .select_related("practice")
        .order_by("start", "pk")
        .first()
    )


def client_sms_opt_out(*, clients: list[Client]) -> int:
    """STOP: SMS consent off for each of these clients that still had it, audited. Returns how many changed."""
    changed = 0
    for client in clients:
        with transaction.atomic():
            if not Client.objects.filter(pk=client.pk, consent_sms=True).update(consent_sms=False):
                continue
            audit_record(
                practice=client.practice,
                actor=None,
                action="client.sms_opted_out",
                obj=client,
                changes={"fields": ["consent_sms"], "by": "client", "via": "text reply"},
            )
            changed += 1
            log.info("client opted out of texts client_id=%s", client.pk)
    return changed
