"""Text messages: SMS_BACKEND "twilio" in production, "console" (the log) or "file" (var/sms/) in the demo.

Twilio (Programmable Messaging, the `twilio` package):
- one POST to the Messages API per attempt, with a status callback URL that
  names the outbox row and its send generation (`?ref=<id>.<generation>`), so
  a delivery report finds the row even when the API's answer was lost
  (followups.delivery.sms_status_record);
- the answer's message SID is returned and recorded on the row as
  `provider_message_id`; a row that already has one is never texted again
  (followups.services.outbox_deliver);
- errors map onto the outbox's retry rules: a refused request (4xx) is
  PermanentError, too many requests (429) TransientError, Twilio unreachable
  or failing as a whole (connection refused, 5xx, credentials refused)
  ChannelAway, and a request that timed out after it was sent TransientError
  (its outcome is unknown: see docs/decisions.md, "prov").
"""

import logging
from pathlib import Path
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.urls import reverse

from .base import ChannelAway, Outgoing, PermanentError, TransientError

log = logging.getLogger(__name__)


def twilio_client():
    """A Twilio REST client on TWILIO_API_BASE (the real API, or the tests' fake), with TWILIO_TIMEOUT."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=settings.TWILIO_TIMEOUT),
    )
    # The Messages API lives on the "api" domain; everything we call is under it.
    client.api.base_url = settings.TWILIO_API_BASE
    return client


def status_callback_url(ref: str) -> str:
    """Where Twilio posts delivery reports for one row and generation: the public URL, which the signature covers."""
    url = settings.SITE_URL + reverse("followups:twilio_status")
    return f"{url}?{urlencode({'ref': ref})}" if ref else url


def _twilio_error(exc) -> Exception:
    """Our error for Twilio's answer. Only status and error code go into it: Twilio's text may name the number."""
    status = getattr(exc, "status", 0) or 0
    label = f"Twilio {status} {getattr(exc, 'code', '') or ''}".strip()
    if status == 429:
        return TransientError(label)
    if status >= 500 or status in (401, 403):
        # Twilio itself is failing, or refuses our credentials: every text waits alike.
        return ChannelAway(label)
    return PermanentError(label)


def _never_sent(exc: Exception) -> bool:
    """The request cannot have reached Twilio: no connection was made (refused, name unknown, connect timeout)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | NameResolutionError)


class SmsChannel:
    def backend(self) -> str:
        return getattr(settings, "SMS_BACKEND", "console")

    def reachable(self) -> bool:
        """Whether the provider answers now. Twilio: fetch our own account record (sends nothing)."""
        if self.backend() != "twilio":
            return True
        from twilio.base.exceptions import TwilioException

        try:
            twilio_client().api.v2010.accounts(settings.TWILIO_ACCOUNT_SID).fetch()
        except (TwilioException, requests.RequestException):
            return False
        return True

    def send(self, message: Outgoing) -> str:
        backend = self.backend()
        if backend == "twilio":
            return self._send_twilio(message)
        if backend == "file":
            folder = Path(settings.SMS_FILE_PATH)
            folder.mkdir(parents=True, exist_ok=True)
            name = message.message_id.strip("<>").replace("@", "_").replace("/", "_")
            (folder / f"{name}.txt").write_text(f"To: {message.to}\n\n{message.text}", encoding="utf-8")
        else:
            # Ids only in the log: the text goes to the phone, not to log files.
            log.info("sms (console backend) message_id=%s", message.message_id)
        return message.message_id

    def _send_twilio(self, message: Outgoing) -> str:
        from twilio.base.exceptions import TwilioException

        params = {"to": message.to, "body": message.text, "status_callback": status_callback_url(message.ref)}
        sender = message.sender or settings.TWILIO_FROM_NUMBER
        if sender:
            params["from_"] = sender
        else:
            params["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        try:
            sent = twilio_client().messages.create(**params)
        except TwilioException as exc:
            raise _twilio_error(exc) from exc
        except requests.RequestException as exc:
            if _never_sent(exc):
                raise ChannelAway(f"Twilio unreachable ({type(exc).__name__})") from exc
            # Twilio may have taken the message (a timeout or a dropped connection after the
            # request went out): the retry waits out its backoff, by when the status callback
            # has usually recorded the SID, and then the retry texts nothing.
            raise TransientError(f"Twilio {type(exc).__name__}, outcome unknown") from exc
        if not sent.sid:
            raise TransientError("Twilio answered without a message SID")
        return sent.sid
