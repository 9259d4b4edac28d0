"""Settings for the test suite (pytest-django)."""

import os
import uuid
from pathlib import Path

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, LOGGING, VAR_DIR, env, filesystem_broker_options

SECRET_KEY = "test-only-not-secret"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
# In memory, so tests read `mail.outbox`; a worker process that an end-to-end
# test starts is told to use SMTP (to that test's SMTP server) instead.
EMAIL_BACKEND = env("TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
AXES_ENABLED = env.bool("AXES_ENABLED", default=False)

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a Celery worker process started by an
    # integration test opens the same test database.
    # One file per test process, so that two runs side by side do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

# Each test run has its own queue, so a worker never picks up messages that
# an earlier run left on a shared Redis.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default=f"reconnect-test-{uuid.uuid4().hex[:8]}")

# Without a broker server, a broker folder of the run's own too: besides the
# messages it holds the exchange tables, which a run should not share with
# `make run` or another run. Integration tests hand it to their worker.
BROKER_DIR = Path(env("BROKER_DIR", default=str(VAR_DIR / f"broker-test-{os.getpid()}")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)

# One process (live_server runs in a thread of it): local memory is shared
# enough, and clearing it between tests never touches the broker's Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# aiosmtpd, the tests' SMTP server, logs every SMTP command at INFO.
LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}
