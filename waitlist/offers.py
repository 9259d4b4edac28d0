"""The outbox purpose "waitlist_offer": what to check just before an offer goes out, and how it reads.

Registered with followups.purposes from waitlist/apps.py. The message is kind and
short: the first name, the day and time (zone named), how long it is held, the
link. No clinician, no session type, no money.
"""

from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from followups import services as outbox
from followups.channels import Outgoing
from followups.models import DEFAULT_VERSION, ClientLink, FollowUpPlan, OutboxMessage
from practice.emails import contact_line, header_safe, render_email
from practice.timefmt import zone_label

from .models import FreedSlot, WaitlistOffer

CancelCode = OutboxMessage.CancelCode


def offer_of(message: OutboxMessage) -> WaitlistOffer:
    return WaitlistOffer.objects.select_related("slot", "entry").get(message_id=message.pk)


def offer_check(message: OutboxMessage) -> str:
    """Send only while the time is still open and ahead, the offer still held, the client still waiting."""
    offer = offer_of(message)
    now = timezone.now()
    if offer.slot.status != FreedSlot.Status.OPEN or offer.slot.start <= now:
        return CancelCode.SLOT_GONE
    if offer.outcome != WaitlistOffer.Outcome.PENDING or offer.held_until <= now:
        return CancelCode.OFFER_ENDED
    if offer.entry.left_at is not None:
        return CancelCode.LEFT_WAITLIST
    if message.client.is_archived:
        return CancelCode.ARCHIVED
    channel = message.channel
    client = message.client
    if channel == OutboxMessage.Channel.EMAIL and not (client.email and client.consent_email):
        return CancelCode.NO_CONSENT_EMAIL
    if channel == OutboxMessage.Channel.SMS and not (client.sms_number and client.consent_sms):
        return CancelCode.NO_CONSENT_SMS
    return ""


def when_named(moment: datetime, practice) -> str:
    local = timezone.localtime(moment, practice.time_zone)
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M} ({zone_label(practice)})"


def offer_compose(message: OutboxMessage, plan: FollowUpPlan, now: datetime) -> Outgoing:
    offer = offer_of(message)
    practice = message.practice
    # The link lasts as long as the offer is held (never past the session's start).
    expires = min(offer.held_until, offer.slot.start)
    token = outbox.client_link_create(
        purpose=ClientLink.Purpose.WAITLIST_OFFER, client=message.client, days=0, expires_at=expires, now=now
    )
    offer.links.add(ClientLink.objects.get(token_hash=outbox.token_hash(token)))
    link = settings.SITE_URL + reverse("waitlist:offer", args=[token])
    reply_to = header_safe(practice.reply_to_email)
    by_email = message.channel == OutboxMessage.Channel.EMAIL
    held = timezone.localtime(expires, practice.time_zone)
    context = {
        "first_name": message.client.first_name,
        "practice": practice,
        "session_time": when_named(offer.slot.start, practice),
        "held_until": f"{held:%H:%M}",
        "link": link,
        "contact_line": contact_line(phone=practice.phone_display, reply_to=reply_to, by_email=by_email),
    }
    subject, text, html = render_email("waitlist-offer", context)
    if not by_email:
        # A text is written for a phone (templates/emails/waitlist-offer-sms.txt): the time, the
        # link, the hold and a number to call, in at most two segments; never the email's paragraphs.
        text = render_to_string("emails/waitlist-offer-sms.txt", context).strip()
        html = ""
    return Outgoing(
        to=message.client.email if by_email else message.client.sms_number,
        subject=subject,
        text=text,
        html=html,
        from_name=practice.sender_name,
        message_id=outbox._message_id(message),
        reply_to=reply_to,
        template_version=DEFAULT_VERSION,
    )
