import contextlib
import smtplib
import threading
import time

from anymail.exceptions import AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend

from .base import ChannelAway, Outgoing, PermanentError, TransientError

# One SMTP connection per worker thread, reused across messages (a sweep sends
# thousands): opened on first use, closed and opened afresh after any failure,
# after REUSE_IDLE_SECONDS unused (servers drop idle clients) and after
# REUSE_MAX_MESSAGES (servers cap messages per connection). Never retried
# within a send: a failure is the row's, mapped as before.
REUSE_IDLE_SECONDS = 10
REUSE_MAX_MESSAGES = 100
_held = threading.local()


def _settings_key() -> tuple:
    names = ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_USE_TLS", "EMAIL_USE_SSL")
    return tuple(getattr(settings, name, None) for name in names)


def _connection():
    """This thread's open connection for the current mail settings (a fresh one for non-SMTP backends)."""
    held = getattr(_held, "connection", None)
    if held is not None:
        connection, key, last_used, sent = held
        if key == _settings_key() and time.monotonic() - last_used < REUSE_IDLE_SECONDS and sent < REUSE_MAX_MESSAGES:
            _held.connection = (connection, key, time.monotonic(), sent + 1)
            return connection
        connection_drop()
    connection = get_connection(fail_silently=False)
    if isinstance(connection, SmtpBackend):
        connection.open()
        _held.connection = (connection, _settings_key(), time.monotonic(), 1)
    return connection


def connection_drop() -> None:
    """Close this thread's held connection, if any; the next message opens a new one."""
    held = getattr(_held, "connection", None)
    _held.connection = None
    if held is not None:
        # A connection that is already broken closes as it can.
        with contextlib.suppress(Exception):
            held[0].close()


class EmailChannel:
    """Django's mail backend: SMTP from EMAIL_URL, or an email service provider through django-anymail
    (EMAIL_PROVIDER, docs/operations.md); console or file in the demo.

    `send` returns the id delivery reports will name: the provider's message id
    when anymail gives one, else our own Message-ID."""

    def reachable(self) -> bool:
        """Whether the mail server answers now: open a connection and close it, sending nothing."""
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except (TimeoutError, smtplib.SMTPException, OSError):
            return False
        connection.close()
        return True

    def send(self, message: Outgoing) -> str:
        address = settings.DEFAULT_FROM_EMAIL
        if "<" in address:
            address = address.rsplit("<", 1)[1].rstrip(">")
        from_email = f"{message.from_name} <{address}>" if message.from_name else address
        try:
            connection = _connection()
            mail = EmailMultiAlternatives(
                message.subject,
                message.text,
                from_email,
                [message.to],
                headers={"Message-ID": message.message_id},
                reply_to=[message.reply_to] if message.reply_to else None,
                connection=connection,
            )
            mail.attach_alternative(message.html, "text/html")
            mail.send()
        # anymail's errors first: its API errors are also OSErrors (requests' HTTPError), which
        # below means "no server to talk to".
        except (AnymailRecipientsRefused, AnymailInvalidAddress) as exc:
            raise PermanentError(type(exc).__name__) from exc
        except AnymailError as exc:
            raise _provider_error(exc) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            connection_drop()
            raise PermanentError(type(exc).__name__) from exc
        except smtplib.SMTPResponseException as exc:
            connection_drop()
            # 5xx: the server will keep refusing; 4xx: try again later.
            error = PermanentError if 500 <= exc.smtp_code < 600 else TransientError
            raise error(f"SMTP {exc.smtp_code}") from exc
        except (TimeoutError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, OSError) as exc:
            connection_drop()
            # No server to talk to: every message waits for it alike (followups.services._catch_up).
            raise ChannelAway(type(exc).__name__) from exc
        except smtplib.SMTPException as exc:
            connection_drop()
            raise TransientError(type(exc).__name__) from exc
        except BaseException:
            # Anything else (a time limit, a rendering error): the connection's state is unknown.
            connection_drop()
            raise
        status = getattr(mail, "anymail_status", None)
        return (status.message_id if status is not None and isinstance(status.message_id, str) else "") or (
            message.message_id
        )


def _provider_error(exc: AnymailError) -> Exception:
    """The provider's HTTP answer mapped like SMTP's: its status code only (its text may carry the address)."""
    code = exc.status_code
    label = f"{type(exc).__name__} {code or ''}".strip()
    if code is None or code >= 500 or code in (401, 403):
        # No answer, the provider failing, or our key refused: every email waits alike.
        return ChannelAway(label)
    if code == 429:
        return TransientError(label)
    return PermanentError(label)
