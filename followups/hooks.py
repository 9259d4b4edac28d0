"""Webhooks the providers call: Twilio's status callbacks and inbound texts, the email provider's tracking events.

Every one: POST only, no CSRF token (the provider has none) but a signature
checked against a secret (403 when it does not match), bad input answered
with 400 and no change (never a 500), and safe to receive twice (the services
in followups/delivery.py are idempotent and never move a status backwards).
"""

import logging

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import delivery

log = logging.getLogger(__name__)

TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def twilio_signature_ok(request: HttpRequest) -> bool:
    """X-Twilio-Signature over the public URL Twilio called (SITE_URL + path and query) and the POST fields.

    A body that is not a form (JSON, say) has no POST fields: the signature then covers the URL
    alone, and the hook finds its fields missing (400)."""
    from twilio.request_validator import RequestValidator

    signature = request.headers.get("X-Twilio-Signature", "")
    token = settings.TWILIO_AUTH_TOKEN
    if not signature or not token:
        return False
    url = settings.SITE_URL + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST, signature)


def _forbidden() -> HttpResponse:
    log.warning("webhook with a bad signature refused")
    return HttpResponse("Signature does not match.", status=403, content_type="text/plain")


def _bad(what: str) -> HttpResponse:
    return HttpResponse(f"Bad request: {what}.", status=400, content_type="text/plain")


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest) -> HttpResponse:
    """A delivery report for one text: MessageSid, MessageStatus, ErrorCode; `ref` in our own callback URL."""
    if not twilio_signature_ok(request):
        return _forbidden()
    sid = request.POST.get("MessageSid", "")
    status = request.POST.get("MessageStatus", "")
    if not delivery.SID_RE.match(sid) or not status.isascii() or len(status) > 30:
        return _bad("MessageSid and MessageStatus are required")
    delivery.sms_status_record(
        sid=sid,
        status=status.lower(),
        error_code=request.POST.get("ErrorCode", "")[:10],
        ref=request.GET.get("ref", "")[:40],
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """A text from a client. TwiML answers a confirmation with a thank-you, and everything else with nothing."""
    from twilio.twiml.messaging_response import MessagingResponse

    if not twilio_signature_ok(request):
        return _forbidden()
    from_number, to_number = request.POST.get("From", ""), request.POST.get("To", "")
    body = request.POST.get("Body", "")
    if not from_number or not to_number or len(from_number) > 20 or len(to_number) > 20 or len(body) > 1600:
        return _bad("From, To and Body are required")
    reply = delivery.sms_reply_handle(from_number=from_number, to_number=to_number, body=body)
    log.info("text reply received outcome=%s", reply.outcome)
    if reply.outcome != "confirmed" or reply.appointment is None:
        return HttpResponse(TWIML_EMPTY, content_type="text/xml")
    from .purposes import session_time_named

    appointment = reply.appointment
    twiml = MessagingResponse()
    twiml.message(
        f"Thank you, your session on {session_time_named(appointment.start, appointment.practice)} is confirmed. "
        f"{appointment.practice.sender_name}"
    )
    return HttpResponse(str(twiml), content_type="text/xml")


@csrf_exempt
@require_POST
def email_tracking(request: HttpRequest) -> HttpResponse:
    """The email provider's tracking webhook (Mailgun, signed with MAILGUN_WEBHOOK_SIGNING_KEY).

    anymail checks the signature and parses the event; its `tracking` signal
    reaches followups.delivery.on_tracking. Not configured (SMTP, the default): 404.
    """
    from anymail.webhooks.mailgun import MailgunTrackingWebhookView

    if settings.EMAIL_PROVIDER != "mailgun" or not settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
        raise Http404
    try:
        return MailgunTrackingWebhookView.as_view()(request)
    except AnymailWebhookValidationFailure:
        return _forbidden()
    except (AnymailError, KeyError, ValueError, TypeError, AttributeError):
        # A signed payload we cannot read: nothing recorded, and the provider is told.
        return _bad("unreadable event")
