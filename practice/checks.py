"""System checks for configuration, after healthchecks' hc/api/apps.py: fail loudly, with a hint.

Production settings list the variables a real deployment must set
(`REQUIRED_ENVIRONMENT`); a missing one is an Error, so `manage.py check`,
`migrate` and every other command refuse to run, and so do gunicorn and
Celery, which call `refuse_to_start_if_misconfigured()` as they boot (neither
runs system checks by itself).
"""

import os

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

HINTS = {
    "DATABASE_URL": "e.g. postgres://reconnect:secret@db.internal:5432/reconnect (SQLite is for the demo only)",
    "REDIS_URL": "e.g. redis://redis.internal:6379/0 (the broker, and the cache that rate limits share)",
    "EMAIL_URL": "e.g. smtp+tls://user:password@smtp.example.org:587 (console mail would lose every message)",
    "SITE_URL": "the public address, e.g. https://reconnect.example.org (links in messages point here)",
}


@checks.register(checks.Tags.compatibility)
def check_required_environment(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name in getattr(settings, "REQUIRED_ENVIRONMENT", ()):
        if not os.environ.get(name, "").strip():
            errors.append(
                checks.Error(
                    f"{name} is not set; production settings do not fall back to a default.",
                    hint=HINTS.get(name, ""),
                    id="reconnect.E001",
                )
            )
    site = getattr(settings, "SITE_URL", "")
    if getattr(settings, "REQUIRED_ENVIRONMENT", ()) and site and not site.startswith(("https://", "http://")):
        errors.append(checks.Error("SITE_URL must start with https:// or http://.", id="reconnect.E002"))
    return errors


def refuse_to_start_if_misconfigured() -> None:
    """For entry points that do not run system checks themselves (WSGI, ASGI, Celery)."""
    problems = check_required_environment()
    if problems:
        lines = [f"{p.msg} {p.hint}".strip() for p in problems]
        raise ImproperlyConfigured("Reconnect will not start:\n" + "\n".join(lines))
