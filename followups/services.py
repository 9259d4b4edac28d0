"""Every write to the follow-up plan, templates, outbox and rescheduling links.

Delivery is at-least-once with duplicates made unlikely and harmless:
1. One row per missed session and step (a unique constraint).
2. A worker claims a row (pending → sending) with a row lock that skips
   rows another worker holds; only the claimer sends it.
3. Just before sending, the row is checked again (undo, rebooked,
   contacted, archived, consent).
4. The Message-ID is fixed per row, so if a worker dies after the SMTP
   server accepted the mail but before the row says "sent", the retry
   carries the same id and mail systems drop the duplicate.
"""

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from practice.emails import contact_line, header_safe
from practice.models import Practice
from practice.services import audit_record

from . import defaults, templating, timing, wording_check
from .channels import Outgoing, PermanentError, TransientError, get_channel
from .models import ContactNote, FollowUpPlan, MessageTemplate, MissReason, OutboxMessage, RescheduleLink

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
Kind = MessageTemplate.Kind
STALE_SENDING = timedelta(minutes=10)


# ------------------------------------------------------------ plan and wording


def plan_for(practice: Practice) -> FollowUpPlan:
    plan, _ = FollowUpPlan.objects.get_or_create(practice=practice)
    return plan


def plan_update(*, practice: Practice, actor, **fields) -> FollowUpPlan:
    with transaction.atomic():
        plan = FollowUpPlan.objects.select_for_update().get(pk=plan_for(practice).pk)
        changed = sorted(name for name, value in fields.items() if getattr(plan, name) != value)
        for name, value in fields.items():
            setattr(plan, name, value)
        plan.full_clean()
        plan.save()
        audit_record(
            practice=practice, actor=actor, action="followups.plan_updated", obj=plan, changes={"fields": changed}
        )
    return plan


def wording_for(practice: Practice, kind: str) -> tuple[str, str]:
    """The practice's own subject and body for `kind`, or the default."""
    own = MessageTemplate.objects.filter(practice=practice, kind=kind).first()
    return (own.subject, own.body) if own else defaults.DEFAULTS[kind]


def template_save(*, practice: Practice, kind: str, subject: str, body: str, actor) -> MessageTemplate:
    # Browsers send \r\n; messages and previews use \n.
    subject, body = subject.replace("\r\n", "\n").strip(), body.replace("\r\n", "\n")
    problems = templating.check_template(subject=subject, body=body)
    problems += [str(error) for error in wording_check.check(kind=kind, subject=subject, body=body).errors]
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        template, _ = MessageTemplate.objects.update_or_create(
            practice=practice, kind=kind, defaults={"subject": subject, "body": body}
        )
        audit_record(practice=practice, actor=actor, action="followups.template_saved", obj=template)
    return template


def template_reset(*, practice: Practice, kind: str, actor) -> None:
    with transaction.atomic():
        template = MessageTemplate.objects.filter(practice=practice, kind=kind).first()
        if template is not None:
            audit_record(practice=practice, actor=actor, action="followups.template_reset", obj=template)
            template.delete()


# ---------------------------------------------------------------- planning


def channel_for(client: Client) -> str | None:
    """The client's preferred channel if they consented to it, else another consented one."""
    email_ok = bool(client.email) and client.consent_email
    # A number staff must check first is no number for texts.
    sms_ok = bool(client.sms_number) and client.consent_sms
    if client.preferred_channel == Client.Channel.SMS and sms_ok:
        return OutboxMessage.Channel.SMS
    if email_ok:
        return OutboxMessage.Channel.EMAIL
    if sms_ok:
        return OutboxMessage.Channel.SMS
    return None


def _first_kind(event: NoShowEvent, plan: FollowUpPlan) -> str:
    """The wording of the first message: the first of these that fits.

    1. A missed intake: there is no relationship yet, so its wording welcomes.
    2. A repeat miss: the pattern is what the client most needs us to notice.
    3. A late cancel: the client told us; we thank them.
    4. A no-show.
    The intake and repeat wordings read true for a late cancel too (nothing in
    them says the session was missed), so the order loses nothing.
    """
    appointment = event.appointment
    if appointment.session_type == Appointment.SessionType.INTAKE:
        return Kind.FIRST_INTAKE
    since = appointment.start - timedelta(days=plan.repeat_window_days)
    misses = NoShowEvent.objects.filter(
        appointment__client_id=appointment.client_id,
        undone_at=None,
        appointment__start__gt=since,
        appointment__start__lte=appointment.start,
    ).count()
    if misses >= plan.repeat_threshold:
        return Kind.FIRST_REPEAT
    return Kind.FIRST_LATE_CANCEL if event.kind == NoShowEvent.Kind.LATE_CANCEL else Kind.FIRST


def followups_plan(*, event: NoShowEvent, start: datetime | None = None) -> list[OutboxMessage]:
    """Write the outbox rows for a missed session, in the caller's transaction.

    Delays count from `start` (the moment the miss was recorded, unless the
    caller says otherwise: after a safety check, from the check). Nothing is
    planned when the plan is off, the client is archived, or no channel has
    the client's consent (staff then call, as the client page says). Due
    times step out of quiet hours. Planning twice adds nothing.
    """
    start = start or event.recorded_at
    appointment = event.appointment
    client = appointment.client
    plan = plan_for(appointment.practice)
    channel = channel_for(client)
    if not plan.enabled or client.is_archived or channel is None:
        return []
    zone = appointment.practice.time_zone
    quiet = {"quiet_start": plan.quiet_start, "quiet_end": plan.quiet_end, "zone": zone}
    steps = [
        (
            OutboxMessage.Step.FIRST,
            _first_kind(event, plan),
            start + timedelta(minutes=plan.first_delay_minutes),
        )
    ]
    if plan.second_after_days:
        steps.append((OutboxMessage.Step.SECOND, Kind.SECOND, start + timedelta(days=plan.second_after_days)))
    planned = []
    for step, kind, due in steps:
        message, _ = OutboxMessage.objects.get_or_create(
            missed_session=event,
            step=step,
            defaults={
                "practice_id": event.practice_id,
                "client_id": client.pk,
                "kind": kind,
                "channel": channel,
                "due_at": timing.next_sendable(due, **quiet),
            },
        )
        planned.append(message)
    return planned


def outbox_cancel_pending(*, event: NoShowEvent, reason: str) -> int:
    """Stop every follow-up of a missed session that has not gone out."""
    return OutboxMessage.objects.filter(missed_session=event, status=Status.PENDING).update(
        status=Status.CANCELLED, cancel_reason=reason[:100]
    )


def miss_reason_record(*, event: NoShowEvent, reason: str, text: str) -> MissReason:
    if reason and reason not in MissReason.Reason.values:
        raise ValidationError("Unknown reason.")
    reason_row, _ = MissReason.objects.get_or_create(
        missed_session=event, defaults={"practice_id": event.practice_id, "reason": reason, "text": text[:1000]}
    )
    return reason_row


def contacted_mark(*, event: NoShowEvent, actor) -> ContactNote:
    with transaction.atomic():
        note, created = ContactNote.objects.get_or_create(
            missed_session=event, defaults={"practice_id": event.practice_id, "contacted_by": actor}
        )
        if created:
            outbox_cancel_pending(event=event, reason="Staff contacted the client")
            audit_record(practice=note.practice, actor=actor, action="followups.contacted", obj=note)
    return note


# ----------------------------------------------------------------- sending


def outbox_claim_due(*, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Claim due rows for this worker: pending → sending (partial index outbox_due_idx)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", flat=True)[:limit]
        )
        OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return ids


def outbox_claim_one(*, message_id: int, now: datetime | None = None) -> bool:
    """Claim one row if it is due and nobody else has it; False means leave it."""
    now = now or timezone.now()
    return bool(
        OutboxMessage.objects.filter(pk=message_id, status=Status.PENDING, due_at__lte=now).update(
            status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def outbox_release_stale(*, now: datetime | None = None) -> int:
    """Rows left in "sending" by a worker that died go back to the queue (same Message-ID on retry)."""
    now = now or timezone.now()
    return OutboxMessage.objects.filter(status=Status.SENDING, claimed_at__lt=now - STALE_SENDING).update(
        status=Status.PENDING, due_at=now
    )


def why_not_send(message: OutboxMessage) -> str:
    """A reason to stop this claimed row now, or "" to go ahead."""
    event = message.missed_session
    client = message.client
    if event.undone_at is not None:
        return "The missed-session mark was undone"
    if client.is_archived:
        return "The client was archived"
    if (
        Appointment.objects.filter(rescheduled_from_id=event.appointment_id)
        .exclude(status__in=[Appointment.Status.CANCELLED_IN_TIME, Appointment.Status.CANCELLED_BY_CLINICIAN])
        .exists()
    ):
        return "The client rescheduled"
    if ContactNote.objects.filter(missed_session=event).exists():
        return "Staff contacted the client"
    if message.channel == OutboxMessage.Channel.EMAIL and not (client.email and client.consent_email):
        return "No consent to email"
    if message.channel == OutboxMessage.Channel.SMS and client.phone and client.phone_needs_review:
        return "The phone number needs checking"
    if message.channel == OutboxMessage.Channel.SMS and not (client.sms_number and client.consent_sms):
        return "No consent to text messages"
    return ""


def outbox_cancel_claimed(*, message_id: int, reason: str) -> None:
    OutboxMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.CANCELLED, cancel_reason=reason[:100]
    )


def reschedule_link_create(*, event: NoShowEvent, days: int, now: datetime | None = None) -> str:
    """A new random token for this missed session; only its hash is stored. Returns the URL."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    RescheduleLink.objects.create(
        practice_id=event.practice_id,
        missed_session=event,
        token_hash=token_hash(token),
        expires_at=now + timedelta(days=days),
    )
    return settings.SITE_URL + reverse("followups:reschedule", args=[token])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _message_id(message: OutboxMessage) -> str:
    domain = urlsplit(settings.SITE_URL).hostname or "reconnect.invalid"
    return f"<followup.{message.pk}.{message.step}@{domain}>"


def _compose(message: OutboxMessage, link: str, plan: FollowUpPlan) -> Outgoing:
    """Minimum necessary: first name, the time of the session, the link, the practice's
    neutral name and how to reach a person (Reply-To and phone, where the practice
    has them). No session type, clinician, diagnosis or fee."""
    practice = message.practice
    appointment = message.missed_session.appointment
    reply_to = header_safe(practice.reply_to_email)
    values = {
        "first_name": message.client.first_name,
        "session_time": _when(timezone.localtime(appointment.start, practice.time_zone)),
        "reschedule_link": link,
        "practice_phone": practice.phone_display,
        "contact_line": contact_line(
            phone=practice.phone_display, reply_to=reply_to, by_email=message.channel == OutboxMessage.Channel.EMAIL
        ),
        "practice_name": practice.sender_name,
        "exercises_note": defaults.EXERCISES_NOTE if plan.mention_exercises or message.client.mention_exercises else "",
    }
    subject, body = wording_for(practice, message.kind)
    rendered = templating.render(subject=subject, body=body, values=values)
    html = render_to_string("emails/followup-body.html", {"body": rendered.body, "link": link, "practice": practice})
    to = message.client.email if message.channel == OutboxMessage.Channel.EMAIL else message.client.sms_number
    return Outgoing(
        to=to,
        subject=rendered.subject,
        text=rendered.body,
        html=html,
        from_name=practice.sender_name,
        message_id=_message_id(message),
        reply_to=reply_to,
    )


def _when(local: datetime) -> str:
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


def outbox_deliver(*, message_id: int, now: datetime | None = None) -> str:
    """Send one claimed row and record how it went. Returns the row's new status.

    1. Check the row again: something may have changed since it was planned.
    2. Make a fresh rescheduling link and compose the message.
    3. Send through the channel.
    4. Record: sent; or back to pending with backoff after a transient
       failure; or failed (staff see "could not reach the client") after a
       permanent one or the last attempt.
    """
    now = now or timezone.now()
    message = (
        OutboxMessage.objects.select_related("practice", "client", "missed_session__appointment")
        .filter(pk=message_id, status=Status.SENDING)
        .first()
    )
    if message is None:
        return ""
    reason = why_not_send(message)
    if reason:
        outbox_cancel_claimed(message_id=message_id, reason=reason)
        log.info("follow-up cancelled message_id=%s", message_id)
        return Status.CANCELLED
    plan = plan_for(message.practice)
    link = reschedule_link_create(event=message.missed_session, days=plan.link_days, now=now)
    try:
        provider_id = get_channel(message.channel).send(_compose(message, link, plan))
    except TransientError as exc:
        if message.attempts >= plan.max_attempts:
            return _record_failure(message_id, str(exc))
        OutboxMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
            status=Status.PENDING, due_at=now + timing.retry_delay(message.attempts), last_error=str(exc)[:200]
        )
        log.warning("follow-up send failed, will retry message_id=%s attempt=%s", message_id, message.attempts)
        return Status.PENDING
    except PermanentError as exc:
        return _record_failure(message_id, str(exc))
    OutboxMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.SENT, sent_at=timezone.now(), provider_message_id=provider_id[:200], last_error=""
    )
    log.info("follow-up sent message_id=%s channel=%s", message_id, message.channel)
    return Status.SENT


def _record_failure(message_id: int, error: str) -> str:
    OutboxMessage.objects.filter(pk=message_id, status=Status.SENDING).update(
        status=Status.FAILED, last_error=error[:200]
    )
    log.warning("follow-up failed for good message_id=%s", message_id)
    return Status.FAILED


def outbox_send_again(*, message: OutboxMessage, actor) -> OutboxMessage:
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if message.status in (Status.PENDING, Status.SENDING):
            raise ValidationError("This message is already waiting to go out.")
        old = message.status
        message.status, message.due_at, message.attempts = Status.PENDING, timezone.now(), 0
        message.cancel_reason, message.last_error = "", ""
        message.save(update_fields=["status", "due_at", "attempts", "cancel_reason", "last_error"])
        audit_record(
            practice=message.practice,
            actor=actor,
            action="followups.send_again",
            obj=message,
            changes={"status": [old, Status.PENDING]},
        )
    return message


def outbox_cancel(*, message: OutboxMessage, actor) -> OutboxMessage:
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if message.status != Status.PENDING:
            raise ValidationError("Only a message still waiting can be cancelled.")
        message.status, message.cancel_reason = Status.CANCELLED, "Cancelled by staff"
        message.save(update_fields=["status", "cancel_reason"])
        audit_record(practice=message.practice, actor=actor, action="followups.cancelled", obj=message)
    return message
