"""What each kind of outbox row means: how to check it just before sending, and how to render it.

One claim, one retry schedule and one send path (followups.services.outbox_*)
serve every purpose; a purpose only says
- `check(message)`: a CancelCode to stop it for good, WAIT to try again a
  little later, or "" to send now;
- `compose(message, plan, now)`: the Outgoing message, with a fresh link
  and the wording version it used.
Reminders and waitlist offers register here next.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse

from appointments.models import Appointment
from policies.models import Acknowledgement, SafetyCheck
from practice.emails import contact_line, header_safe, render_email

from . import services
from .channels import Outgoing
from .models import DEFAULT_VERSION, ClientLink, ContactNote, FollowUpPlan, OutboxMessage

CancelCode = OutboxMessage.CancelCode
WAIT = "wait"
WAIT_DELAY = timedelta(minutes=15)
ACK_LINK_DAYS = 30


@dataclass(frozen=True)
class Purpose:
    check: Callable[[OutboxMessage], str]
    compose: Callable[[OutboxMessage, FollowUpPlan, datetime], Outgoing]


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


def followup_check(message: OutboxMessage) -> str:
    event = message.missed_session
    client = message.client
    if event.undone_at is not None:
        return CancelCode.UNDONE
    if client.is_archived:
        return CancelCode.ARCHIVED
    if (
        Appointment.objects.filter(rescheduled_from_id=event.appointment_id)
        .exclude(status__in=[Appointment.Status.CANCELLED_IN_TIME, Appointment.Status.CANCELLED_BY_CLINICIAN])
        .exists()
    ):
        return CancelCode.REBOOKED
    if ContactNote.objects.filter(missed_session=event).exists():
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
    link = services.reschedule_link_create(event=message.missed_session, days=plan.link_days, now=now)
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


PURPOSES: dict[str, Purpose] = {
    OutboxMessage.Purpose.FOLLOWUP: Purpose(check=followup_check, compose=followup_compose),
    OutboxMessage.Purpose.ACK_REQUEST: Purpose(check=ack_request_check, compose=ack_request_compose),
}


def get(name: str) -> Purpose:
    return PURPOSES[name]
