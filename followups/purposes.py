"""What each kind of outbox row means: how to check it just before sending, and how to render it.

One claim, one retry schedule and one send path (followups.services.outbox_*)
serve every purpose; a purpose only says
- `check(message)`: a CancelCode to stop it for good, WAIT to try again a
  little later, or "" to send now;
- `compose(message, plan, now)`: the Outgoing message, with a fresh link
  and the wording version it used.
Apps above the outbox (the waitlist) add theirs with `register` from their
AppConfig.ready, so this module never imports them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment
from policies.models import Acknowledgement, SafetyCheck
from policies.services import policy_in_force
from practice import timefmt
from practice.emails import contact_line, header_safe, render_email

from . import reminders, services
from .channels import Outgoing
from .models import DEFAULT_VERSION, ClientLink, ContactNote, FollowUpPlan, MessageTemplate, OutboxMessage

CancelCode = OutboxMessage.CancelCode
WAIT = "wait"
WAIT_DELAY = timedelta(minutes=15)
ACK_LINK_DAYS = 30


@dataclass(frozen=True)
class Purpose:
    check: Callable[[OutboxMessage], str]
    compose: Callable[[OutboxMessage, FollowUpPlan, datetime], Outgoing]
    # Annotations the check reads when the row was fetched with them: a batch's rows are checked with
    # one statement instead of a query per row and per check (twice: composing and at the point of no
    # return, where they are read in the statement that locks the rows). Without them, `check` asks.
    check_facts: Callable[[], dict] | None = None


def _consent(message: OutboxMessage) -> str:
    client = message.client
    if message.channel == OutboxMessage.Channel.EMAIL and not (client.email and client.consent_email):
        return CancelCode.NO_CONSENT_EMAIL
    if message.channel == OutboxMessage.Channel.SMS and client.phone and client.phone_needs_review:
        return CancelCode.PHONE_NEEDS_CHECK
    if message.channel == OutboxMessage.Channel.SMS and not (client.sms_number and client.consent_sms):
        return CancelCode.NO_CONSENT_SMS
    return ""


# ---------------------------------------------------------------- follow-up


def _rebookings(appointment_id) -> models.QuerySet:
    """Make-up sessions still booked for a missed session's appointment (id or OuterRef)."""
    return Appointment.objects.filter(rescheduled_from_id=appointment_id).exclude(
        status__in=[Appointment.Status.CANCELLED_IN_TIME, Appointment.Status.CANCELLED_BY_CLINICIAN]
    )


def followup_check_facts() -> dict:
    return {
        "fact_rebooked": Exists(_rebookings(OuterRef("missed_session__appointment_id"))),
        "fact_contacted": Exists(ContactNote.objects.filter(missed_session_id=OuterRef("missed_session_id"))),
    }


def _fact(message: OutboxMessage, name: str, ask: Callable[[], bool]) -> bool:
    known = getattr(message, name, None)
    return ask() if known is None else known


def followup_check(message: OutboxMessage) -> str:
    event = message.missed_session
    client = message.client
    if event.undone_at is not None:
        return CancelCode.UNDONE
    if client.is_archived:
        return CancelCode.ARCHIVED
    if _fact(message, "fact_rebooked", lambda: _rebookings(event.appointment_id).exists()):
        return CancelCode.REBOOKED
    if _fact(message, "fact_contacted", lambda: ContactNote.objects.filter(missed_session=event).exists()):
        return CancelCode.CONTACTED
    consent = _consent(message)
    if consent:
        return consent
    # A client flagged for a safety check gets nothing automated until the check for this miss is done.
    if (
        client.needs_safety_check
        and not SafetyCheck.objects.filter(missed_session_id=event.pk, completed_at__isnull=False).exists()
    ):
        return CancelCode.SAFETY_HOLD
    # Never the second message before the first: it waits while the first is still queued.
    if (
        message.step == OutboxMessage.Step.SECOND
        and OutboxMessage.objects.filter(
            missed_session_id=event.pk,
            step=OutboxMessage.Step.FIRST,
            status__in=[OutboxMessage.Status.PENDING, OutboxMessage.Status.SENDING],
        ).exists()
    ):
        return WAIT
    return ""


def followup_compose(message: OutboxMessage, plan: FollowUpPlan, now: datetime) -> Outgoing:
    link = services.reschedule_link_create(
        event=message.missed_session, days=plan.link_days, now=now, client=message.client
    )
    return services._compose(message, link, plan)


# ----------------------------------------------------- acknowledgement request


def ack_request_check(message: OutboxMessage) -> str:
    if message.client.is_archived:
        return CancelCode.ARCHIVED
    consent = _consent(message)
    if consent:
        return consent
    if Acknowledgement.objects.filter(client_id=message.client_id, version_id=message.policy_version_id).exists():
        return CancelCode.ACKNOWLEDGED
    return ""


def ack_request_compose(message: OutboxMessage, plan: FollowUpPlan, now: datetime) -> Outgoing:
    """Practice sender name, first name, a sentence and the link. No amounts anywhere near the subject."""
    practice = message.practice
    token = services.client_link_create(
        purpose=ClientLink.Purpose.ACKNOWLEDGE,
        client=message.client,
        days=ACK_LINK_DAYS,
        policy_version=message.policy_version,
        now=now,
    )
    link = settings.SITE_URL + reverse("policies:ack_public", args=[token])
    reply_to = header_safe(practice.reply_to_email)
    subject, text, html = render_email(
        "policy-ack",
        {
            "first_name": message.client.first_name,
            "practice": practice,
            "link": link,
            "contact_line": contact_line(phone=practice.phone_display, reply_to=reply_to, by_email=True),
        },
    )
    return Outgoing(
        to=message.client.email,
        subject=subject,
        text=text,
        html=html,
        from_name=practice.sender_name,
        message_id=services._message_id(message),
        reply_to=reply_to,
        template_version=DEFAULT_VERSION,
    )


# ---------------------------------------------------------------- reminder


def reminder_check(message: OutboxMessage) -> str:
    """A reminder goes only for a session still scheduled at the start it names, and not started yet."""
    appointment = message.appointment
    client = message.client
    if appointment.status != Appointment.Status.SCHEDULED:
        return CancelCode.NOT_SCHEDULED
    if appointment.start != message.appointment_start:
        return CancelCode.MOVED
    if appointment.start <= timezone.now():
        return CancelCode.TOO_LATE
    if client.is_archived:
        return CancelCode.ARCHIVED
    if client.reminders_opt_out:
        return CancelCode.OPTED_OUT
    if not reminders.reminder_plan_of(message.practice).enabled:
        return CancelCode.REMINDERS_OFF
    return _consent(message)


def terms_sentence(appointment: Appointment, zone, now: datetime) -> str:
    """The cancellation terms in plain words, from the policy in force at the session's start, as they stand `now`."""
    version = policy_in_force(practice_id=appointment.practice_id, at=appointment.start)
    if version is None or not version.notice_hours:
        return "If you need to move or cancel, just let us know."
    deadline = appointment.start - timedelta(hours=version.notice_hours)
    free_until = timezone.localtime(deadline, zone)
    if deadline > now:
        return f"Moving or cancelling is free until {free_until:%A} {free_until:%H:%M}."
    # Never a free-until time in the past: say plainly that it has gone, and that telling us still helps.
    return (
        f"The time to move or cancel for free ended on {free_until:%A} at {free_until:%H:%M}. "
        "If you can't make it, please still let us know."
    )


def session_time_named(start: datetime, practice) -> str:
    """ "Tuesday 3 March at 10:00 (UK time)": the day and time in the practice's zone, which is named."""
    local = timezone.localtime(start, practice.time_zone)
    return f"{services._when(local)} ({timefmt.zone_label(practice)})"


def reminder_compose(message: OutboxMessage, plan: FollowUpPlan, now: datetime) -> Outgoing:
    """Sender name, first name, day and time (zone named), place, the terms and the links (Confirm, I can't make
    it, and by email Move it). No clinician, session type or fee."""
    practice = message.practice
    appointment = message.appointment
    zone = practice.time_zone
    # A text stays short: no move link (its line is left out); the "can't make it" page offers moving too.
    wanted = [ClientLink.Purpose.CONFIRM, ClientLink.Purpose.CANT_MAKE_IT]
    if message.channel == OutboxMessage.Channel.EMAIL:
        wanted.append(ClientLink.Purpose.MOVE)
    tokens = reminders.session_links_create(purposes=wanted, appointment=appointment, client=message.client)
    link = settings.SITE_URL + reverse("followups:confirm", args=[tokens[ClientLink.Purpose.CONFIRM]])
    cancel_link = settings.SITE_URL + reverse("followups:cant_make_it", args=[tokens[ClientLink.Purpose.CANT_MAKE_IT]])
    move_token = tokens.get(ClientLink.Purpose.MOVE)
    move_link = settings.SITE_URL + reverse("followups:move", args=[move_token]) if move_token else ""
    reply_to = header_safe(practice.reply_to_email)
    in_person = appointment.modality == Appointment.Modality.IN_PERSON
    place = " ".join(practice.address.split()) if in_person and practice.address else ""
    values = {
        "first_name": message.client.first_name,
        "session_time": session_time_named(appointment.start, practice),
        "place": f"at {place}" if place else ("in person" if in_person else "video session"),
        "terms": terms_sentence(appointment, zone, now),
        "confirm_link": link,
        "cancel_link": cancel_link,
        "move_link": move_link,
        "practice_phone": practice.phone_display,
        "contact_line": contact_line(
            phone=practice.phone_display, reply_to=reply_to, by_email=message.channel == OutboxMessage.Channel.EMAIL
        ),
        "practice_name": practice.sender_name,
    }
    return services.compose_worded(
        message, kind=MessageTemplate.Kind.REMINDER, values=values, link=link, reply_to=reply_to, button="Confirm"
    )


PURPOSES: dict[str, Purpose] = {
    OutboxMessage.Purpose.FOLLOWUP: Purpose(
        check=followup_check, compose=followup_compose, check_facts=followup_check_facts
    ),
    OutboxMessage.Purpose.ACK_REQUEST: Purpose(check=ack_request_check, compose=ack_request_compose),
    OutboxMessage.Purpose.REMINDER: Purpose(check=reminder_check, compose=reminder_compose),
}


OFFER = OutboxMessage.Purpose.WAITLIST_OFFER


def register(name: str, purpose: Purpose) -> None:
    """Add a purpose from an app above the outbox (waitlist/apps.py). Registering one name twice is a bug."""
    if name in PURPOSES and PURPOSES[name] != purpose:
        raise ValueError(f"outbox purpose {name!r} is already registered")
    PURPOSES[name] = purpose


def get(name: str) -> Purpose:
    return PURPOSES[name]
