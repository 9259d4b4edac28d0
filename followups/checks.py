"""Configuration the outbox's leases depend on, checked at start-up (after healthchecks' hc/api/apps.py)."""

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.compatibility)
def outbox_lease_outlasts_a_send(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A lease must cover the longest wait on the mail server, or a slow send is released and sent twice."""
    from .services import DEFAULT_LEASE_SECONDS

    lease = getattr(settings, "OUTBOX_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)
    if not isinstance(lease, int) or not 30 <= lease <= 600:
        return [
            checks.Error(
                f"OUTBOX_LEASE_SECONDS is {lease!r}.",
                hint="Use a whole number of seconds from 30 to 600 (default 90): rows a dead worker "
                "claimed are released this long after the claim, plus up to a minute.",
                id="followups.E001",
            )
        ]
    timeout = getattr(settings, "EMAIL_TIMEOUT", None)
    if timeout is None or timeout * 2 > lease:
        return [
            checks.Error(
                f"EMAIL_TIMEOUT ({timeout!r}) must be set and at most half of OUTBOX_LEASE_SECONDS ({lease}).",
                hint="Otherwise a send still waiting on the mail server can outlive its lease, be given to "
                "another worker and reach the client twice.",
                id="followups.E002",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility)
def providers_configured(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """A provider switched on without its keys fails at start-up, not at the first message (docs/operations.md)."""
    errors = []
    if getattr(settings, "SMS_BACKEND", "console") == "twilio":
        missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(settings, name, "")]
        if not (getattr(settings, "TWILIO_FROM_NUMBER", "") or getattr(settings, "TWILIO_MESSAGING_SERVICE_SID", "")):
            missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        if missing:
            errors.append(
                checks.Error(
                    f"SMS_BACKEND is twilio but {', '.join(missing)} is not set.",
                    hint="Set them from the Twilio console; status callbacks are signed with the auth token.",
                    id="followups.E003",
                )
            )
        timeout = getattr(settings, "TWILIO_TIMEOUT", 15)
        lease = getattr(settings, "OUTBOX_LEASE_SECONDS", 90)
        if isinstance(lease, int) and timeout * 2 > lease:
            errors.append(
                checks.Error(
                    f"TWILIO_TIMEOUT ({timeout}) must be at most half of OUTBOX_LEASE_SECONDS ({lease}).",
                    hint="Otherwise a text still waiting on Twilio can outlive its lease and be sent twice.",
                    id="followups.E004",
                )
            )
    provider = getattr(settings, "EMAIL_PROVIDER", "")
    if provider not in ("", "mailgun"):
        errors.append(
            checks.Error(
                f"EMAIL_PROVIDER {provider!r} is not supported.",
                hint='Use "" (SMTP) or "mailgun".',
                id="followups.E005",
            )
        )
    if provider == "mailgun":
        keys = getattr(settings, "ANYMAIL", {})
        missing = [
            k for k in ("MAILGUN_API_KEY", "MAILGUN_SENDER_DOMAIN", "MAILGUN_WEBHOOK_SIGNING_KEY") if not keys.get(k)
        ]
        if missing:
            errors.append(
                checks.Error(
                    f"EMAIL_PROVIDER is mailgun but {', '.join(missing)} is not set.",
                    hint="Without the webhook signing key, delivery reports cannot be trusted and are refused.",
                    id="followups.E006",
                )
            )
    return errors
