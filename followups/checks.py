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
