"""Every write to the follow-up plan, templates, the outbox and client links.

The outbox serves every purpose (followups/purposes.py). Delivery is
at-least-once with duplicates made unlikely and harmless:
1. One row per idempotency key ("followup:<miss>:<step>", "ack:<client>:<version>").
2. A worker claims rows (pending → sending), one at a time or, for the
   reminder senders, a small batch, each with a random claim token of its own
   and a lease (OUTBOX_LEASE_SECONDS). Every change it makes after that is
   conditional on its token and "sending": once its lease is lost and the
   minute sweep has given the row to another worker, it changes nothing.
3. Just before sending, the row's purpose checks it again (for a follow-up:
   undo, rebooked, contacted, archived, consent, safety hold), and a short
   transaction under the row's lock checks once more and stamps the point of
   no return (`handed_over_at`). An undo stops every row before that point and
   reports the rest as on their way. No lock is held across the send.
4. Anything that goes wrong with one row is recorded on that row; the batch goes on.
5. The Message-ID is fixed per row and send generation, so if a worker dies
   after the SMTP server accepted the mail but before the row says "sent",
   the retry carries the same id and mail systems drop the duplicate; "send
   again" starts a new generation, so the client does receive it.
6. Texts carry no Message-ID. The provider's id (Twilio's SID) is recorded
   from the send's answer, or, when that answer was lost, from the delivery
   report that names the row (followups.delivery); a claimed row that already
   has one is recorded as sent and not sent again.
"""

import contextlib
import dataclasses
import hashlib
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Max, Q, QuerySet, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from policies import selectors as policy_selectors
from practice import sqlonce
from practice.emails import contact_line, header_safe
from practice.models import Practice
from practice.services import audit_record

from . import defaults, templating, timing, wording_check
from .channels import ChannelAway, Outgoing, PermanentError, TransientError, get_channel
from .models import (
    DEFAULT_VERSION,
    ClientLink,
    ContactNote,
    FollowUpPlan,
    MessageTemplate,
    MissReason,
    OutboxMessage,
)

log = logging.getLogger(__name__)

Status = OutboxMessage.Status
CancelCode = OutboxMessage.CancelCode
Kind = MessageTemplate.Kind
DEFAULT_LEASE_SECONDS = 90
# Lost leases released per sweep; the rest wait a minute.
RELEASE_BATCH = 500
# How long one sweep keeps claiming rows (the task's soft time limit is 120 s).
SEND_DUE_BUDGET_SECONDS = 60
# Rows claimed in one transaction by the sending sweep (outbox_claim_batch).
CLAIM_BATCH = 20


# ------------------------------------------------------------ plan and wording


def plan_for(practice: Practice) -> FollowUpPlan:
    """The practice's plan, written with the defaults the first time it is asked for.

    Read through SQL compiled once per process (practice/sqlonce.py): the Policies page reads
    both plans on every view, and compiling get_or_create's SELECT cost more than running it."""
    found = sqlonce.instances(FollowUpPlan, _plan_query, practice_id=practice.pk)
    if found:
        return found[0]
    plan, _ = FollowUpPlan.objects.get_or_create(practice=practice)
    return plan


def _plan_query(*, practice_id: int):
    return FollowUpPlan.objects.filter(practice_id=practice_id)


def plan_update(*, practice: Practice, actor, **fields) -> FollowUpPlan:
    return practice_plan_update(plan=plan_for(practice), actor=actor, action="followups.plan_updated", **fields)


def practice_plan_update(*, plan, actor, action: str, **fields):
    """Change a practice's one-per-practice plan row (follow-ups, reminders), validated and audited.

    The audit names the fields that changed; a plan holds no health data.
    """
    with transaction.atomic():
        plan = type(plan).objects.select_for_update(of=("self",)).get(pk=plan.pk)
        changed = sorted(name for name, value in fields.items() if getattr(plan, name) != value)
        for name, value in fields.items():
            setattr(plan, name, value)
        plan.full_clean()
        plan.save()
        audit_record(practice=plan.practice, actor=actor, action=action, obj=plan, changes={"fields": changed})
    return plan


def wording_for(practice: Practice, kind: str) -> tuple[str, str]:
    """The practice's own subject and body for `kind`, or the default."""
    subject, body, _ = wording_with_version(practice, kind)
    return subject, body


def wording_with_version(practice: Practice, kind: str) -> tuple[str, str, int]:
    """Subject, body and the version number an outbox row records (DEFAULT_VERSION for the default)."""
    # Compiled once per process (practice/sqlonce.py): asked for every message sent.
    own = sqlonce.rows(_wording_query, practice_id=practice.pk, kind=kind)
    if own:
        return own[0]
    subject, body = defaults.DEFAULTS[kind]
    return subject, body, DEFAULT_VERSION


def _wording_query(*, practice_id: int, kind: str):
    return (
        MessageTemplate.objects.filter(practice_id=practice_id, kind=kind)
        .order_by("pk")
        .values_list("subject", "body", "version")[:1]
    )


def _next_template_version(practice: Practice, kind: str) -> int:
    """One more than any version this kind has had that a row could have recorded.

    After a reset the row is gone, so the numbers outbox rows recorded count
    too: a version number never names two wordings in the message log.
    """
    current = MessageTemplate.objects.filter(practice=practice, kind=kind).values_list("version", flat=True).first()
    recorded = OutboxMessage.objects.filter(practice=practice, kind=kind).aggregate(v=Max("template_version"))["v"]
    return max(current or DEFAULT_VERSION, recorded or DEFAULT_VERSION) + 1


def template_save(*, practice: Practice, kind: str, subject: str, body: str, actor) -> MessageTemplate:
    # Browsers send \r\n; messages and previews use \n.
    subject, body = subject.replace("\r\n", "\n").strip(), body.replace("\r\n", "\n")
    problems = templating.check_template(subject=subject, body=body, kind=kind)
    problems += [str(error) for error in wording_check.check(kind=kind, subject=subject, body=body).errors]
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        # Serialise saves of one practice's wording, so two saves never share a version number.
        Practice.objects.select_for_update(of=("self",)).filter(pk=practice.pk).first()
        version = _next_template_version(practice, kind)
        template, _ = MessageTemplate.objects.update_or_create(
            practice=practice, kind=kind, defaults={"subject": subject, "body": body, "version": version}
        )
        audit_record(
            practice=practice,
            actor=actor,
            action="followups.template_saved",
            obj=template,
            changes={"version": version},
        )
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


def _first_kind(event: NoShowEvent) -> str:
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
    # The ladder (Policies → Repeated misses) is the one definition of a
    # repeated miss: reaching its lowest step is enough.
    if policy_selectors.ladder_reached(appointment=appointment):
        return Kind.FIRST_REPEAT
    return Kind.FIRST_LATE_CANCEL if event.kind == NoShowEvent.Kind.LATE_CANCEL else Kind.FIRST


def followups_plan(*, event: NoShowEvent, start: datetime | None = None) -> list[OutboxMessage]:
    """Write the outbox rows for a missed session, in the caller's transaction.

    Delays count from `start` (the moment the miss was recorded, unless the
    caller says otherwise: after a safety check, from the check). Nothing is
    planned when the client told us themselves (`told_by_client`), the plan is off, the client is archived, or no
    channel has
    the client's consent (staff then call, as the client page says). Due
    times step out of quiet hours. Planning twice adds nothing.
    """
    if event.told_by_client:
        # The client told us from a reminder's link and had their confirmation then.
        return []
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
            _first_kind(event),
            start + timedelta(minutes=plan.first_delay_minutes),
        )
    ]
    if plan.second_after_days:
        steps.append((OutboxMessage.Step.SECOND, Kind.SECOND, start + timedelta(days=plan.second_after_days)))
    rows = [
        OutboxMessage(
            idempotency_key=followup_key(event_id=event.pk, step=step),
            purpose=OutboxMessage.Purpose.FOLLOWUP,
            missed_session=event,
            step=step,
            practice_id=event.practice_id,
            client_id=client.pk,
            kind=kind,
            channel=channel,
            due_at=timing.next_sendable(due, **quiet),
        )
        for step, kind, due in steps
    ]
    # One INSERT ... ON CONFLICT DO NOTHING for every step, then one read of the rows as they are
    # (two queries where a get_or_create per step took four): a row already planned, by an earlier
    # call or a concurrent one, is kept as it is, never written twice (the unique key).
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    keys = [row.idempotency_key for row in rows]
    # The read compiled once per process and number of steps (practice/sqlonce.py): once a mark.
    planned = sqlonce.objects(_planned_query, len(keys), **{f"key{i}": key for i, key in enumerate(keys)})
    found = {m.idempotency_key: m for m in planned}
    return [found[key] for key in keys]


def _planned_query(steps: int, **keys):
    return OutboxMessage.objects.filter(idempotency_key__in=[keys[f"key{i}"] for i in range(steps)])


def followup_key(*, event_id: int, step: str) -> str:
    return f"followup:{event_id}:{step}"


def ack_request_key(*, client_id: int, version_id: int) -> str:
    return f"ack:{client_id}:{version_id}"


def outbox_cancel_pending(*, event: NoShowEvent, code: str) -> int:
    """Stop every follow-up of a missed session that has not reached its point of no return.

    That is a row still waiting, and a row a worker has claimed but not yet
    handed to the channel (its worker's next conditional update then changes
    nothing). The UPDATE waits for a worker's hand-over transaction on the same
    row (outbox_deliver step 4), so each row is either cancelled here or was
    already on its way: `outbox_on_its_way` then counts the latter truthfully.
    Returns how many were stopped.
    """
    return OutboxMessage.objects.filter(
        Q(status=Status.PENDING) | Q(status=Status.SENDING, handed_over_at=None), missed_session=event
    ).update(status=Status.CANCELLED, cancel_code=code, cancel_reason=CancelCode(code).label)


def outbox_on_its_way(*, event: NoShowEvent) -> int:
    """Follow-ups of a missed session that reached the client or are being handed to the channel now.

    Call after `outbox_cancel_pending` in the same transaction: what it could not stop is this.
    """
    return OutboxMessage.objects.filter(missed_session=event, status__in=[Status.SENDING, Status.SENT]).count()


def miss_reason_record(
    *, reason: str, text: str, event: NoShowEvent | None = None, appointment: Appointment | None = None
) -> MissReason:
    """What the client said got in the way: after a miss (`event`), or before a session (`appointment`,
    and its `event` when telling us made it a late cancel). One per missed session."""
    if reason and reason not in MissReason.Reason.values:
        raise ValidationError("Unknown reason.")
    appointment_id = appointment.pk if appointment is not None else event.appointment_id
    fields = {"practice_id": (appointment or event).practice_id, "reason": reason, "text": text[:1000]}
    if event is not None:
        reason_row, _ = MissReason.objects.get_or_create(
            missed_session=event, defaults={"appointment_id": appointment_id, **fields}
        )
        return reason_row
    return MissReason.objects.create(appointment_id=appointment_id, **fields)


def contacted_mark(*, event: NoShowEvent, actor) -> ContactNote:
    with transaction.atomic():
        note, created = ContactNote.objects.get_or_create(
            missed_session=event, defaults={"practice_id": event.practice_id, "contacted_by": actor}
        )
        if created:
            outbox_cancel_pending(event=event, code=CancelCode.CONTACTED)
            audit_record(practice=note.practice, actor=actor, action="followups.contacted", obj=note)
    return note


# ----------------------------------------------------------------- sending


@dataclass(frozen=True)
class Claim:
    """One worker's hold on one outbox row: the row's id and the claim's own random token."""

    message_id: int
    token: str
    # The row's purpose and channel when the claim read them (the sweeps do), so sending fetches only
    # what it needs and a batch asks "is the channel back?" once.
    purpose: str = ""
    channel: str = ""


def lease_length() -> timedelta:
    """How long a claim holds a row before the sweep may give it to another worker (OUTBOX_LEASE_SECONDS)."""
    return timedelta(seconds=getattr(settings, "OUTBOX_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _claim_fields(now: datetime) -> dict:
    return {
        "status": Status.SENDING,
        "claim_token": secrets.token_hex(16),
        "claimed_by": _worker_name(),
        "claimed_at": now,
        "lease_until": now + lease_length(),
        "handed_over_at": None,
        "attempts": F("attempts") + 1,
    }


def outbox_claim_next(*, now: datetime | None = None) -> Claim | None:
    """Claim the next due row, if any, for this worker: pending → sending with a lease (outbox_due_idx)."""
    claims = outbox_claim_batch(size=1, now=now)
    return claims[0] if claims else None


def outbox_claim_batch(*, size: int, now: datetime | None = None) -> list[Claim]:
    """Claim up to `size` due rows for this worker in one short transaction, oldest due first.

    The rows are locked with SKIP LOCKED, so two workers claiming at once take
    different rows; each row gets its own random token and a lease. Kept small
    (CLAIM_BATCH): a worker only holds leases on rows it will reach within
    seconds, and `outbox_send_due` gives back the ones it does not reach.
    """
    now = now or timezone.now()
    with transaction.atomic():
        found = {
            pk: (purpose, channel)
            for pk, purpose, channel in OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=Status.PENDING, due_at__lte=now)
            .order_by("due_at")
            .values_list("pk", "purpose", "channel")[:size]
        }
        ids = list(found)
        if not ids:
            return []
        fields = _claim_fields(now)
        if len(ids) == 1:
            claimed = OutboxMessage.objects.filter(pk=ids[0], status=Status.PENDING).update(**fields)
            return [Claim(ids[0], fields["claim_token"], *found[ids[0]])] if claimed else []
        # One UPDATE for the batch, a token of its own for each row (CASE on the id).
        tokens = {pk: secrets.token_hex(16) for pk in ids}
        fields["claim_token"] = Case(*(When(pk=pk, then=Value(token)) for pk, token in tokens.items()))
        done = OutboxMessage.objects.filter(pk__in=ids, status=Status.PENDING).update(**fields)
        if done != len(ids):
            # Only where row locks are not taken (SQLite): another worker took some in between.
            ours = OutboxMessage.objects.filter(pk__in=ids, status=Status.SENDING, claim_token__in=tokens.values())
            kept = set(ours.values_list("pk", flat=True))
            tokens = {pk: token for pk, token in tokens.items() if pk in kept}
    return [Claim(pk, token, *found[pk]) for pk, token in tokens.items()]


def outbox_unclaim(*, claims: list[Claim]) -> int:
    """Give back rows this worker claimed but will not reach now (not an attempt): pending again, due as before."""
    given_back = 0
    for claim in claims:
        given_back += _mine(claim).update(
            status=Status.PENDING, claim_token="", lease_until=None, handed_over_at=None, attempts=F("attempts") - 1
        )
    return given_back


def outbox_claim_one(*, message_id: int, now: datetime | None = None, purpose: str = "") -> Claim | None:
    """Claim one row if it is due and nobody else has it; None means leave it.

    `purpose`: what the caller knows the row is (the follow-up wake-up sends follow-ups); only a row of
    that purpose is claimed, and sending it joins only what that purpose reads. A join less is
    planning time saved on the single mark's path, twice (the fetch and the hand-over).
    """
    now = now or timezone.now()
    fields = _claim_fields(now)
    # `_claim_fields` through an UPDATE compiled once per process and purpose (practice/sqlonce.py).
    claimed = sqlonce.update(
        _claim_one_update,
        purpose,
        message_id=message_id,
        now=now,
        token=fields["claim_token"],
        worker=fields["claimed_by"],
        lease_until=fields["lease_until"],
    )
    if not claimed:
        return None
    return Claim(message_id=message_id, token=fields["claim_token"], purpose=purpose)


def _claim_one_update(purpose: str, **values) -> tuple[QuerySet, dict]:
    rows = OutboxMessage.objects.filter(pk=values["message_id"], status=Status.PENDING, due_at__lte=values["now"])
    if purpose:
        rows = rows.filter(purpose=purpose)
    fields = {
        **_claim_fields(values["now"]),
        "claim_token": values["token"],
        "claimed_by": values["worker"],
        "lease_until": values["lease_until"],
    }
    return rows, fields


def outbox_release_expired(*, now: datetime | None = None) -> int:
    """Rows whose worker lost its lease (it died, or is too slow) go back to the queue.

    The worker keeps nothing: its token no longer matches once the row is
    claimed again, and its conditional updates change nothing. A row that had
    been handed over may have reached the client; its retry carries the same
    Message-ID, so mail systems drop the duplicate.
    """
    now = now or timezone.now()
    expired = OutboxMessage.objects.filter(status=Status.SENDING, lease_until__lt=now)
    rows = list(expired.order_by("lease_until").values_list("pk", "claimed_by")[:RELEASE_BATCH])
    released = expired.filter(pk__in=[pk for pk, _ in rows]).update(
        status=Status.PENDING, due_at=now, claim_token="", lease_until=None
    )
    for pk, owner in rows:
        log.warning("outbox lease lost, released message_id=%s claimed_by=%s", pk, owner)
    return released


def _mine(claim: Claim):
    """The row, only while this claim still holds it: every change after the claim goes through here."""
    return OutboxMessage.objects.filter(pk=claim.message_id, status=Status.SENDING, claim_token=claim.token)


def outbox_cancel_claimed(*, claim: Claim, code: str) -> bool:
    return bool(_mine(claim).update(status=Status.CANCELLED, cancel_code=code, cancel_reason=CancelCode(code).label))


# ------------------------------------------------------------ client links


class LinkUnusable(Exception):
    """A used, expired or unknown link: the client sees a kind page and no data.

    `practice` is set when the link was real, so the page can give its phone number.
    """

    def __init__(self, practice=None):
        super().__init__("link unusable")
        self.practice = practice


def client_link_create(
    *,
    purpose: str,
    client: Client,
    days: int,
    missed_session: NoShowEvent | None = None,
    policy_version=None,
    appointment: Appointment | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """A new random token for one client and purpose; only its SHA-256 is stored. Returns the token.

    It expires `days` from now, or at `expires_at` when given (a confirm link: the session's start).
    """
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    link = ClientLink(
        practice_id=client.practice_id,
        client=client,
        purpose=purpose,
        missed_session=missed_session,
        policy_version=policy_version,
        appointment=appointment,
        token_hash=token_hash(token),
        expires_at=expires_at or now + timedelta(days=days),
    )
    deferred = getattr(_links, "deferred", None)
    if deferred is not None:
        deferred.append(link)  # written with the batch's others, in the same transaction (_links_deferred)
    else:
        link.save(force_insert=True)
    return token


# Links composed while a batch is composed (outbox_deliver_batch), not yet written. Thread-local: a
# worker thread composes one batch at a time.
_links = threading.local()


@contextlib.contextmanager
def _links_deferred():
    """Inside: `client_link_create` collects its links. On leaving without an error they are written in one
    INSERT, in the caller's transaction, so a link exists before any message naming it is handed over, and
    a batch rolled back takes its links with it, as when each was written on its own. (bulk_create: no
    post_save for these links; nothing listens for it outside tests of the one-row send.)"""
    deferred: list[ClientLink] = []
    _links.deferred = deferred
    try:
        yield
    finally:
        _links.deferred = None
    if deferred:
        ClientLink.objects.bulk_create(deferred)


def client_link_find(*, token: str, purpose: str, lock: bool = False) -> ClientLink | None:
    """The link behind a token, used or not (callers say what "usable" means); None if unknown."""
    if not token or len(token) > 100:
        return None
    links = ClientLink.objects.select_related("practice", "client")
    if lock:
        links = links.select_for_update(of=("self",))
    return links.filter(token_hash=token_hash(token), purpose=purpose).first()


def client_link_use(*, link: ClientLink, now: datetime | None = None, new_appointment=None) -> bool:
    """The one "used" transition: unused → used, once. False if it was already used or has expired."""
    now = now or timezone.now()
    done = ClientLink.objects.filter(pk=link.pk, used_at=None, expires_at__gt=now).update(
        used_at=now, new_appointment=new_appointment
    )
    if done:
        link.used_at, link.new_appointment = now, new_appointment
    return bool(done)


def reschedule_link_create(
    *, event: NoShowEvent, days: int, now: datetime | None = None, client: Client | None = None
) -> str:
    """A new rebooking link for this missed session (`client`: its client, when the caller has it). Returns the URL."""
    token = client_link_create(
        purpose=ClientLink.Purpose.REBOOK,
        client=client or event.appointment.client,
        days=days,
        missed_session=event,
        now=now,
    )
    return settings.SITE_URL + reverse("followups:reschedule", args=[token])


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _message_id(message: OutboxMessage) -> str:
    """Fixed per row and send generation. Generation 0 keeps the id rows had before generations existed."""
    domain = urlsplit(settings.SITE_URL).hostname or "reconnect.invalid"
    if message.purpose == OutboxMessage.Purpose.FOLLOWUP:
        local = f"followup.{message.pk}.{message.step}"
    else:
        local = f"{message.purpose}.{message.pk}"
    if message.generation:
        local += f".{message.generation}"
    return f"<{local}@{domain}>"


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
    return compose_worded(message, kind=message.kind, values=values, link=link, reply_to=reply_to)


def compose_worded(
    message: OutboxMessage, *, kind: str, values: dict[str, str], link: str, reply_to: str, button: str = ""
) -> Outgoing:
    """A message in the practice's own wording for `kind` (or the default), for its channel.

    The text and HTML parts come from the same rendered wording; the HTML adds
    one button for `link`. Records which wording version it used.
    """
    practice = message.practice
    subject, body, version = wording_with_version(practice, kind)
    rendered = templating.render(subject=subject, body=body, values=values)
    context = {"body": rendered.body, "link": link, "practice": practice}
    if button:
        context["button"] = button
    html = render_to_string("emails/followup-body.html", context)
    to = message.client.email if message.channel == OutboxMessage.Channel.EMAIL else message.client.sms_number
    return Outgoing(
        to=to,
        subject=rendered.subject,
        text=rendered.body,
        html=html,
        from_name=practice.sender_name,
        message_id=_message_id(message),
        reply_to=reply_to,
        template_version=version,
    )


def _when(local: datetime) -> str:
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


# What sending a row reads, in the one query that fetches it (the practice's plans too: the
# checks read them). By purpose when the claim knows it: a reminder sweep sends thousands of
# rows, and each join less is planning and ORM time saved twice a row (fetch and hand-over).
_RELATED_BY_PURPOSE = {
    OutboxMessage.Purpose.FOLLOWUP: ("practice__followup_plan", "client", "missed_session__appointment"),
    OutboxMessage.Purpose.ACK_REQUEST: ("practice__followup_plan", "client", "policy_version"),
    OutboxMessage.Purpose.REMINDER: ("practice__followup_plan", "practice__reminder_plan", "client", "appointment"),
}
_DELIVER_RELATED = tuple(dict.fromkeys(name for names in _RELATED_BY_PURPOSE.values() for name in names))


def _related(claim: Claim) -> tuple[str, ...]:
    return _RELATED_BY_PURPOSE.get(claim.purpose, _DELIVER_RELATED)


def _with_check_facts(rows, claims: list[Claim]):
    """`rows` annotated with what the claims' purposes check (Purpose.check_facts), when the claims know them."""
    from . import purposes

    facts: dict = {}
    for name in {claim.purpose for claim in claims} - {""}:
        purpose = purposes.PURPOSES.get(name)
        if purpose is not None and purpose.check_facts is not None:
            facts.update(purpose.check_facts())
    return rows.annotate(**facts) if facts else rows


def _held(claim: Claim, *, locked_at: datetime | None = None) -> OutboxMessage | None:
    """The row while `claim` holds it, with what its purpose reads and checks (`_related`, check facts).

    `locked_at`: at the point of no return, locked (FOR NO KEY UPDATE of the row only) and only while
    the lease runs past that moment. Compiled once per process and purpose (practice/sqlonce.py): on a
    single mark's path these two reads were half the send's time, most of it Django compiling the joins
    and the facts' EXISTS (issue 11, pipe3). tests/followups/test_held_compiled.py holds them to the querysets.
    """
    values = {"message_id": claim.message_id, "token": claim.token}
    if locked_at is not None:
        values["now"] = locked_at
    found = sqlonce.objects(_held_query, claim.purpose, locked_at is not None, **values)
    return found[0] if found else None


def _held_query(purpose: str, locked: bool, **values) -> QuerySet:
    claim = Claim(message_id=0, token="", purpose=purpose)
    rows = OutboxMessage.objects.all()
    if locked:
        rows = rows.select_for_update(of=("self",), no_key=True)
    rows = _with_check_facts(rows.select_related(*_related(claim)), [claim]).filter(
        pk=values["message_id"], status=Status.SENDING, claim_token=values["token"]
    )
    if locked:
        rows = rows.filter(lease_until__gt=values["now"])
    return rows.order_by("pk")[:1]  # as .first() read it


def _plan_of(practice: Practice) -> FollowUpPlan:
    """The practice's follow-up plan as fetched with the row, or saved now with the defaults."""
    try:
        return practice.followup_plan
    except FollowUpPlan.DoesNotExist:
        return plan_for(practice)


def outbox_deliver(*, claim: Claim, now: datetime | None = None, catch_up: bool = True) -> str:
    """Send one claimed row, whatever its purpose, and record how it went. Returns the row's new status.

    Nothing happens unless `claim` still holds the row (status "sending", this
    claim's token): a worker whose lease was lost changes nothing, and sends nothing.
    1. Check the row with its purpose's checks: something may have changed
       since it was written. A check may also say "not yet" (a second
       follow-up waits for the first): the row goes back to the queue.
    2. Compose the message (the purpose makes a fresh link).
    3. Nothing that goes wrong with this one row stops the caller's batch: an
       unexpected error is recorded on the row as a failed attempt (below).
    4. The point of no return (`_hand_over`): one short transaction locks the
       row (FOR NO KEY UPDATE, only this row), checks the claim, the lease and
       the purpose's checks once more and stamps `handed_over_at`. An undo
       that committed before it stops the message; one that comes later
       waits for this commit and finds the row on its way. No lock is held
       across the channel call.
    5. Send through the channel.
    6. Record: sent; or back to pending with backoff after a transient
       failure or an unexpected error; or failed (staff see "could not reach
       the client") after a permanent failure or the last attempt.
    """
    from . import purposes  # purposes compose with this module's helpers

    now = now or timezone.now()
    message = _held(claim)
    if message is None:
        log.info("outbox claim no longer held message_id=%s", claim.message_id)
        return ""
    if message.provider_message_id:
        # The provider took this generation on an earlier attempt whose answer we lost; its
        # delivery report told us (followups.delivery). Sending again would reach the client twice.
        return _record_sent(claim, message, message.provider_message_id)
    plan = _plan_of(message.practice)
    try:
        purpose = purposes.get(message.purpose)
        verdict = purpose.check(message)
        if verdict:
            return _settle(claim, verdict, now)
        outgoing = dataclasses.replace(
            purpose.compose(message, plan, now),
            sender=message.practice.sms_from_number,
            ref=f"{message.pk}.{message.generation}",
        )
        verdict = _hand_over(claim, purpose, outgoing.template_version)
        if verdict == ALREADY_TAKEN:
            return _record_sent(claim, message, "")
        if verdict:
            return _settle(claim, verdict, now)
        provider_id = get_channel(message.channel).send(outgoing)
    except ChannelAway as exc:
        return _record_attempt_failed(claim, message, plan, str(exc), now, channel_away=True)
    except TransientError as exc:
        return _record_attempt_failed(claim, message, plan, str(exc), now)
    except PermanentError as exc:
        return _record_failure(claim, str(exc))
    except SoftTimeLimitExceeded:
        # The task is out of time: the row keeps its lease and is released when the lease runs out.
        raise
    except Exception as exc:  # noqa: BLE001 - one bad row must not stall the rest of the batch
        # The class name only: an exception's text can carry an address or a name.
        error = f"{type(exc).__module__}.{type(exc).__name__}"
        log.warning("outbox message raised message_id=%s error=%s", claim.message_id, error)
        return _record_attempt_failed(claim, message, plan, error, now)
    return _record_sent(claim, message, provider_id, catch_up=catch_up)


def outbox_deliver_batch(*, claims: list[Claim], now: datetime | None = None) -> dict[int, str]:
    """Send a batch of claimed rows: the steps of `outbox_deliver`, each taken once for the whole batch.

    Every guarantee of `outbox_deliver` holds row by row; what changes is how
    many round trips and commits a row costs (3 a batch and 1 a row, instead of 3 a row).
    1. Fetch the rows still held by their claims, with what their purposes read, in one query.
    2. One transaction: each row is checked by its purpose and composed (its
       new link collected, and the batch's links written in one INSERT at the
       end of the batch's savepoint: `_links_deferred`); a stop or "not yet" is settled. One savepoint for the
       batch; if a row raises, the batch is rolled back to it and each row runs
       again in a savepoint of its own, the bad one recorded as a failed attempt.
    3. The point of no return for the batch (`_hand_over_batch`): one short
       transaction locks the composed rows (SKIP LOCKED, the rows only), checks
       each once more and stamps `handed_over_at`. A row it could not lock (an
       undo cancelling it right now) goes through the one-row `_hand_over`,
       which waits for that transaction and then decides, as before.
    4. Send each through its channel (one SMTP connection per worker thread).
       Once half a lease has passed since the hand-over (a mail server that
       answers slowly), the rows not reached are given back, never left to lose their lease.
    5. Record each row as it goes (sent, or its failure), as before: a worker
       killed mid-batch sends again at most the one message in flight.
    Returns each claimed row's new status ("" when the claim was lost, GIVEN_BACK when given back).
    """
    now = now or timezone.now()
    results: dict[int, str] = {}
    related = tuple(dict.fromkeys(name for claim in claims for name in _related(claim)))
    rows = {
        row.pk: row
        for row in _with_check_facts(OutboxMessage.objects.select_related(*related), claims).filter(
            pk__in=[claim.message_id for claim in claims], status=Status.SENDING
        )
    }
    with transaction.atomic():
        try:
            # One savepoint for the batch: the usual case pays none per row.
            with transaction.atomic(), _links_deferred():
                composed: dict[int, str] = {}
                ready = _compose_batch(claims, rows, now, composed, alone=False)
            results.update(composed)
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # noqa: BLE001 - one bad row must not stall the rest of the batch
            # Rolled back together; now each row in a savepoint of its own, the bad one recorded on its row.
            ready = _compose_batch(claims, rows, now, results, alone=True)
    if not ready:
        return results
    verdicts = _hand_over_batch(ready)
    handed_over = time.monotonic()
    half_lease = lease_length().total_seconds() / 2
    give_back: list[Claim] = []
    for claim, message, _purpose, outgoing, plan in ready:
        verdict = verdicts[claim.message_id]
        if verdict == ALREADY_TAKEN:
            results[claim.message_id] = _record_sent(claim, message, "", catch_up=False)
            continue
        if verdict:
            results[claim.message_id] = _settle(claim, verdict, now)
            continue
        if give_back or time.monotonic() - handed_over >= half_lease:
            give_back.append(claim)
            continue
        try:
            provider_id = get_channel(message.channel).send(outgoing)
        except ChannelAway as exc:
            results[claim.message_id] = _record_attempt_failed(claim, message, plan, str(exc), now, channel_away=True)
        except TransientError as exc:
            results[claim.message_id] = _record_attempt_failed(claim, message, plan, str(exc), now)
        except PermanentError as exc:
            results[claim.message_id] = _record_failure(claim, str(exc))
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad row must not stall the rest of the batch
            error = f"{type(exc).__module__}.{type(exc).__name__}"
            log.warning("outbox message raised message_id=%s error=%s", claim.message_id, error)
            results[claim.message_id] = _record_attempt_failed(claim, message, plan, error, now)
        else:
            # At once, row by row: a worker killed mid-batch sends again at most the one in flight.
            results[claim.message_id] = _record_sent(claim, message, provider_id, catch_up=False)
    if give_back:
        outbox_unclaim(claims=give_back)
        results.update(dict.fromkeys((claim.message_id for claim in give_back), GIVEN_BACK))
    return results


def _compose_batch(claims: list[Claim], rows: dict, now: datetime, results: dict[int, str], *, alone: bool) -> list:
    """Steps 1-2 of `outbox_deliver` for each claimed row, in the caller's transaction.

    Rows stopped, waiting or already taken are settled (their status in `results`);
    returns the rest, composed. `alone`: each row in a savepoint of its own, an error
    recorded on that row as a failed attempt; otherwise an error is raised to the caller.
    """
    from . import purposes

    ready = []
    for claim in claims:
        message = rows.get(claim.message_id)
        if message is None or message.claim_token != claim.token:
            log.info("outbox claim no longer held message_id=%s", claim.message_id)
            results[claim.message_id] = ""
            continue
        if message.provider_message_id:
            results[claim.message_id] = _record_sent(claim, message, message.provider_message_id, catch_up=False)
            continue
        plan = _plan_of(message.practice)
        try:
            with transaction.atomic() if alone else contextlib.nullcontext():
                purpose = purposes.get(message.purpose)
                verdict = purpose.check(message)
                outgoing = None
                if not verdict:
                    outgoing = dataclasses.replace(
                        purpose.compose(message, plan, now),
                        sender=message.practice.sms_from_number,
                        ref=f"{message.pk}.{message.generation}",
                    )
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            if not alone:
                raise
            error = f"{type(exc).__module__}.{type(exc).__name__}"
            log.warning("outbox message raised message_id=%s error=%s", claim.message_id, error)
            results[claim.message_id] = _record_attempt_failed(claim, message, plan, error, now)
            continue
        if verdict:
            results[claim.message_id] = _settle(claim, verdict, now)
            continue
        ready.append((claim, message, purpose, outgoing, plan))
    return ready


def _hand_over_batch(ready: list) -> dict[int, str]:
    """The point of no return for composed rows: "" means send now, else a verdict for `_settle`.

    Lock order as `_hand_over`: outbox rows only, here in id order and with
    SKIP LOCKED, so it never waits and never waits in a circle. A row it
    could not lock goes through `_hand_over` after this commit, which waits.
    """
    verdicts: dict[int, str] = {}
    skipped = []
    with transaction.atomic(durable=True):
        now = timezone.now()
        claims = [claim for claim, *_ in ready]
        related = tuple(dict.fromkeys(name for claim in claims for name in _related(claim)))
        locked = {
            row.pk: row
            for row in _with_check_facts(
                OutboxMessage.objects.select_for_update(of=("self",), no_key=True, skip_locked=True).select_related(
                    *related
                ),
                claims,
            )
            .filter(pk__in=[claim.message_id for claim in claims])
            .order_by("pk")
        }
        by_version: dict[int | None, list[int]] = {}
        for claim, _message, purpose, outgoing, _plan in ready:
            row = locked.get(claim.message_id)
            if row is None:
                skipped.append((claim, purpose, outgoing))
                continue
            if row.status != Status.SENDING or row.claim_token != claim.token or not row.lease_until > now:
                verdicts[claim.message_id] = LOST
            elif row.provider_message_id:
                verdicts[claim.message_id] = ALREADY_TAKEN
            else:
                verdicts[claim.message_id] = purpose.check(row)
                if not verdicts[claim.message_id]:
                    by_version.setdefault(outgoing.template_version, []).append(row.pk)
        for version, ids in by_version.items():
            OutboxMessage.objects.filter(pk__in=ids).update(
                handed_over_at=now, lease_until=now + lease_length(), template_version=version
            )
    for claim, purpose, outgoing in skipped:
        verdicts[claim.message_id] = _hand_over(claim, purpose, outgoing.template_version)
    return verdicts


def _record_sent(claim: Claim, message: OutboxMessage, provider_id: str, *, catch_up: bool = True) -> str:
    """Sent, with the provider's id ("" keeps the one a delivery report already recorded)."""
    # Through an UPDATE compiled once per process (practice/sqlonce.py): once a message, every message.
    values = {"message_id": claim.message_id, "token": claim.token, "sent_at": timezone.now()}
    if provider_id:
        values["provider_id"] = provider_id[:200]
    if not sqlonce.update(_record_sent_update, bool(provider_id), **values):
        # Lost the lease during the send: whoever holds the row now sends it with the same Message-ID.
        log.warning("outbox sent after losing the lease message_id=%s", claim.message_id)
        return ""
    log.info(
        "outbox message sent message_id=%s purpose=%s channel=%s", claim.message_id, message.purpose, message.channel
    )
    if catch_up:  # a batch (outbox_send_due) does this once for all its rows
        _catch_up(channel=message.channel, now=timezone.now())
    return Status.SENT


def _record_sent_update(with_provider_id: bool, **values) -> tuple[QuerySet, dict]:
    fields = {"status": Status.SENT, "sent_at": values["sent_at"], "last_error": "", "waiting_for_channel": False}
    if with_provider_id:
        fields["provider_message_id"] = values["provider_id"]
    return _mine(Claim(message_id=values["message_id"], token=values["token"])), fields


def _catch_up(*, channel: str, now: datetime) -> int:
    """The channel is back: rows waiting out a backoff because it was away become due now.

    Without this, a message that failed twice while the mail server was down
    waited four more minutes after it came back (the retry schedule is 1, 4,
    16 minutes…). Their attempts still count, so a long outage still ends in
    "could not reach the client". Partial index outbox_channel_back_idx.
    """
    return OutboxMessage.objects.filter(
        status=Status.PENDING, channel=channel, waiting_for_channel=True, due_at__gt=now
    ).update(due_at=now, waiting_for_channel=False)


# The verdict when the claim no longer holds the row at the point of no return.
LOST = "lost"
# The verdict when, by the point of no return, a delivery report showed the provider already has it.
ALREADY_TAKEN = "already_taken"
# A batch row given back unsent (not an attempt) because the batch ran past half its lease.
GIVEN_BACK = "given_back"


def _hand_over(claim: Claim, purpose, template_version: int | None) -> str:
    """The point of no return. "" means send now; otherwise a verdict for `_settle`.

    Lock order: this takes one lock, on the outbox row, and nothing else.
    Undo (aftercare.attendance_undo) locks the appointment, then the missed
    session, then (by its UPDATE) the outbox rows: never the other way round.
    """
    with transaction.atomic(durable=True):
        now = timezone.now()
        message = _held(claim, locked_at=now)
        if message is None:
            return LOST
        if message.provider_message_id:
            return ALREADY_TAKEN
        verdict = purpose.check(message)
        if verdict:
            return verdict
        # The send gets a whole lease: EMAIL_TIMEOUT is well inside it.
        OutboxMessage.objects.filter(pk=message.pk).update(
            handed_over_at=now, lease_until=now + lease_length(), template_version=template_version
        )
    return ""


def _settle(claim: Claim, verdict: str, now: datetime) -> str:
    """A check said stop (a CancelCode), not yet (WAIT), or the claim was lost at the point of no return."""
    from . import purposes

    if verdict == LOST:
        log.info("outbox claim lost before sending message_id=%s", claim.message_id)
        return ""
    if verdict == purposes.WAIT:
        # Not an attempt: the claim's count is given back.
        _mine(claim).update(
            status=Status.PENDING, due_at=now + purposes.WAIT_DELAY, attempts=F("attempts") - 1, lease_until=None
        )
        log.info("outbox message waits message_id=%s", claim.message_id)
        return Status.PENDING
    outbox_cancel_claimed(claim=claim, code=verdict)
    log.info("outbox message cancelled message_id=%s code=%s", claim.message_id, verdict)
    return Status.CANCELLED


def _record_attempt_failed(
    claim: Claim, message: OutboxMessage, plan: FollowUpPlan, error: str, now: datetime, *, channel_away: bool = False
) -> str:
    """Back to the queue with backoff, or failed for good after the plan's last attempt.

    `channel_away`: the failure was the channel's (a mail server down), not this row's.
    """
    if message.attempts >= plan.max_attempts:
        return _record_failure(claim, error)
    _mine(claim).update(
        status=Status.PENDING,
        due_at=now + timing.retry_delay(message.attempts),
        last_error=error[:200],
        lease_until=None,
        waiting_for_channel=channel_away,
    )
    log.warning("outbox send failed, will retry message_id=%s attempt=%s", claim.message_id, message.attempts)
    return Status.PENDING


def outbox_send_now(*, message_id: int, purpose: str = "") -> str:
    """The on-commit path: claim this row if it is still due and free (and of `purpose`, if given), then send it."""
    claim = outbox_claim_one(message_id=message_id, purpose=purpose)
    if claim is None:
        return ""
    return outbox_deliver(claim=claim)


def outbox_send_due(*, limit: int, batch: int = 1, housekeeping: bool = True) -> int:
    """The sending sweep: release lost leases (`housekeeping`), then claim due rows `batch` at a time and send them.

    Returns how many rows it claimed and kept (the caller queues itself again when that is `limit`).
    1. Claim `batch` rows at once (`outbox_claim_batch`). The follow-up sweep
       claims one at a time (a worker never holds a lease on a row it is not
       sending) and sends it with `outbox_deliver`; the reminder senders
       (followups.tasks.send_due) and the on-commit follow-up task after a burst
       (aftercare.followup_send_now) claim CLAIM_BATCH, one transaction for many
       rows, and send them with `outbox_deliver_batch`.
    2. Stop taking rows once SEND_DUE_BUDGET_SECONDS have gone (each row may wait
       EMAIL_TIMEOUT on the mail server; the task's soft time limit is 120 s).
    3. Once half a batch's lease has gone since its hand-over (a mail server
       that answers slowly), `outbox_deliver_batch` gives back the rows it has
       not reached, so no lease runs out on a row this worker has not tried; the run ends there.
    """
    if housekeeping:
        outbox_release_expired()
        outbox_catch_up_if_back()
    claimed = 0
    started = time.monotonic()
    while claimed < limit and time.monotonic() - started < SEND_DUE_BUDGET_SECONDS:
        claims = outbox_claim_batch(size=min(batch, limit - claimed))
        if not claims:
            break
        claimed += len(claims)
        if batch == 1:
            # One row at a time keeps the catch-up after each send, as before.
            outbox_deliver(claim=claims[0])
            continue
        results = outbox_deliver_batch(claims=claims)
        # The channel took messages: rows waiting out a backoff because it was away go now.
        for channel in {claim.channel for claim in claims if results.get(claim.message_id) == Status.SENT} - {""}:
            _catch_up(channel=channel, now=timezone.now())
        given_back = sum(1 for status in results.values() if status == GIVEN_BACK)
        if given_back:
            return claimed - given_back
    return claimed


def outbox_catch_up_if_back(*, now: datetime | None = None) -> int:
    """For each channel with rows waiting out a backoff because it was away: is it back? Then they go now.

    Asks the channel itself (an SMTP connection opened and closed, nothing sent),
    so no row spends an attempt to find out. Returns how many rows became due.
    """
    now = now or timezone.now()
    waiting = (
        OutboxMessage.objects.filter(status=Status.PENDING, waiting_for_channel=True, due_at__gt=now)
        .values_list("channel", flat=True)
        .distinct()
    )
    moved = 0
    for channel in list(waiting):
        if get_channel(channel).reachable():
            moved += _catch_up(channel=channel, now=now)
    return moved


def _record_failure(claim: Claim, error: str) -> str:
    _mine(claim).update(status=Status.FAILED, last_error=error[:200], lease_until=None)
    log.warning("outbox message failed for good message_id=%s", claim.message_id)
    return Status.FAILED


def outbox_send_again(*, message: OutboxMessage, actor) -> OutboxMessage:
    """Queue a sent, failed or cancelled row once more, as a new send generation (a new Message-ID).

    Refused while it waits; when it was cancelled for a reason that still
    holds (undone, rebooked, archived, already acknowledged); and for a
    second follow-up whose first has not gone out: never the second before the first.
    """
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update(of=("self",)).get(pk=message.pk)
        if message.status in (Status.PENDING, Status.SENDING):
            raise ValidationError("This message is already waiting to go out.")
        if not message.can_send_again:
            raise ValidationError(f"This message cannot be sent again: {message.get_cancel_code_display().lower()}.")
        if message.step == OutboxMessage.Step.SECOND and message.missed_session_id:
            first = OutboxMessage.objects.filter(
                missed_session_id=message.missed_session_id, step=OutboxMessage.Step.FIRST
            ).first()
            if first is not None and first.status != Status.SENT:
                raise ValidationError("The first message has not gone out yet: send that one first.")
        old = message.status
        message.status, message.due_at, message.attempts = Status.PENDING, timezone.now(), 0
        message.cancel_code, message.cancel_reason, message.last_error = "", "", ""
        message.generation += 1
        # The new generation is a new message to the provider: its id and reports are its own.
        message.provider_message_id, message.delivery_status, message.delivery_detail = "", "", ""
        message.delivery_status_at = None
        message.save(
            update_fields=[
                "status",
                "due_at",
                "attempts",
                "cancel_code",
                "cancel_reason",
                "last_error",
                "generation",
                "provider_message_id",
                "delivery_status",
                "delivery_status_at",
                "delivery_detail",
            ]
        )
        audit_record(
            practice=message.practice,
            actor=actor,
            action="followups.send_again",
            obj=message,
            changes={"status": [old, Status.PENDING], "generation": message.generation},
        )
    return message


def outbox_cancel(*, message: OutboxMessage, actor) -> OutboxMessage:
    with transaction.atomic():
        message = OutboxMessage.objects.select_for_update(of=("self",)).get(pk=message.pk)
        if message.status != Status.PENDING:
            raise ValidationError("Only a message still waiting can be cancelled.")
        message.status, message.cancel_code = Status.CANCELLED, CancelCode.STAFF
        message.cancel_reason = CancelCode.STAFF.label
        message.save(update_fields=["status", "cancel_code", "cancel_reason"])
        audit_record(practice=message.practice, actor=actor, action="followups.cancelled", obj=message)
    return message
