import smtplib

from anymail.exceptions import AnymailError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from .base import ChannelAway, Outgoing, PermanentError, TransientError


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
        mail = EmailMultiAlternatives(
            message.subject,
            message.text,
            from_email,
            [message.to],
            headers={"Message-ID": message.message_id},
            reply_to=[message.reply_to] if message.reply_to else None,
            connection=get_connection(fail_silently=False),
        )
        mail.attach_alternative(message.html, "text/html")
        # anymail's errors first: its API errors are also OSErrors (requests' HTTPError), which
        # below means "no server to talk to".
        try:
            mail.send()
        except (AnymailRecipientsRefused, AnymailInvalidAddress) as exc:
            raise PermanentError(type(exc).__name__) from exc
        except AnymailError as exc:
            raise _provider_error(exc) from exc
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
            raise PermanentError(type(exc).__name__) from exc
        except smtplib.SMTPResponseException as exc:
            # 5xx: the server will keep refusing; 4xx: try again later.
            error = PermanentError if 500 <= exc.smtp_code < 600 else TransientError
            raise error(f"SMTP {exc.smtp_code}") from exc
        except (TimeoutError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, OSError) as exc:
            # No server to talk to: every message waits for it alike (followups.services._catch_up).
            raise ChannelAway(type(exc).__name__) from exc
        except smtplib.SMTPException as exc:
            raise TransientError(type(exc).__name__) from exc
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
