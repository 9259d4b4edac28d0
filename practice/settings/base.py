"""Settings shared by every environment.

Every value comes from the environment through django-environ; `.env.example`
documents each one. With nothing set, the app runs on embedded defaults:
SQLite and a server-less Celery broker, both under `var/`.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Base for absolute links in messages. By default the address `make run`
# serves on, so the demo's links work on whatever WEB_PORT it uses.
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{env.int('WEB_PORT', default=8000)}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "phonenumber_field",
    "anymail",
    "practice",
    "appointments",
    "policies",
    "followups",
    "engagement",
    "waitlist",
    "aftercare",
    "imports",
    "insights",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "practice.middleware.PracticeMiddleware",
    # After the practice is known: its idle timeout and two-factor rule.
    "practice.middleware.SignInMiddleware",
    # Last, so that a lockout answers before any view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "practice.urls"
WSGI_APPLICATION = "practice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "practice.context_processors.membership",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'reconnect.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web server, a worker and beat share one file: WAL lets readers run
    # beside the writer, IMMEDIATE takes the write lock up front (no upgrade
    # deadlocks), and the timeout waits for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    # Keep connections between requests and tasks (a new PostgreSQL
    # connection costs more than most of our queries); check them before use.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# The rebooking page's one statement is prepared once per PostgreSQL connection (aftercare/selectors.py);
# false behind a pooler in transaction mode, which does not keep a connection's prepared statements.
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Authenticator apps show this name next to the code.
OTP_TOTP_ISSUER = "Reconnect"
# The absolute lifetime of a staff session; the practice's idle timeout ends it sooner.
SESSION_COOKIE_AGE = 60 * 60 * 8
LOGIN_REDIRECT_URL = "appointments:today"
LOGOUT_REDIRECT_URL = "login"

# Lock an account/address pair out after five bad passwords, for an hour.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Client and practice phones are read with the practice's own country
# (practice/phones.py); this is only django-phonenumber-field's fallback.
PHONENUMBER_DEFAULT_REGION = "US"
PHONENUMBER_DB_FORMAT = "E164"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Outside production, whitenoise serves straight from the source folders;
# production collects them into STATIC_ROOT (see production.py).
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Content Security Policy: no inline scripts or styles anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}

# Mail. EMAIL_URL picks the backend: smtp://host:port, consolemail://, filemail://path.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
# django-environ drops the leading slash of filemail:///abs/path; put it back.
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
if env("EMAIL_URL", default="").startswith("filemail:///") and not EMAIL_FILE_PATH.startswith("/"):
    EMAIL_FILE_PATH = "/" + EMAIL_FILE_PATH
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Reconnect <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# An email service provider instead of SMTP, for delivery reports (docs/operations.md).
# "" keeps EMAIL_URL (SMTP, console, file); "mailgun" sends through Mailgun's API with
# django-anymail, and its signed tracking webhook (/hooks/mailgun/tracking/) marks rows
# delivered, bounced or complained.
EMAIL_PROVIDER = env("EMAIL_PROVIDER", default="")
ANYMAIL = {
    "MAILGUN_API_KEY": env("MAILGUN_API_KEY", default=""),
    "MAILGUN_SENDER_DOMAIN": env("MAILGUN_SENDER_DOMAIN", default=""),
    "MAILGUN_API_URL": env("MAILGUN_API_URL", default="https://api.mailgun.net/v3"),
    "MAILGUN_WEBHOOK_SIGNING_KEY": env("MAILGUN_WEBHOOK_SIGNING_KEY", default=""),
}
if EMAIL_PROVIDER == "mailgun":
    EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"

# Text messages: "console" (log only), "file" (var/sms/) or "twilio" (docs/operations.md).
SMS_BACKEND = env("SMS_BACKEND", default="console")
SMS_FILE_PATH = env("SMS_FILE_PATH", default=str(VAR_DIR / "sms"))
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
# Texts come from this number, or from the messaging service's pool when the number is empty.
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", default="")
# Only tests change this (a fake Messages API on 127.0.0.1).
TWILIO_API_BASE = env("TWILIO_API_BASE", default="https://api.twilio.com").rstrip("/")
# Seconds to wait on Twilio's API; like EMAIL_TIMEOUT, well inside the outbox lease.
TWILIO_TIMEOUT = env.int("TWILIO_TIMEOUT", default=15)

# Celery. REDIS_URL (or CELERY_BROKER_URL) picks Redis; with neither, kombu's
# filesystem transport under var/ needs no server at all.
REDIS_URL = env("REDIS_URL", default="")
# Cache: rate limits for public links live here, so every web process must
# share it in production (Redis); one process's memory is enough for the demo.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that is down or stuck answers in half a second, not never.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
BROKER_DIR = Path(env("BROKER_DIR", default=str(VAR_DIR / "broker")))


def filesystem_broker_options(folder: Path) -> dict:
    """kombu's filesystem transport, with every process reading and writing one folder."""
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        # kombu takes one message per poll: poll often, or a burst of misses
        # drains at one message a second.
        "polling_interval": 0.1,
    }


# kombu's own filesystem transport lets a poll read a message half-written,
# which loses it and stops the worker (practice/broker.py): ours writes whole.
FILESYSTEM_BROKER_TRANSPORT = "practice.broker:Transport"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = FILESYSTEM_BROKER_TRANSPORT
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(BROKER_DIR)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Late acks: a task whose worker died is delivered again after this.
        # Work is idempotent, so a redelivery does nothing twice.
        "visibility_timeout": 3600,
    }
CELERY_TASK_IGNORE_RESULT = True
# Late acks everywhere, so a task whose worker died is delivered again; each
# task that is idempotent also says reject_on_worker_lost (aftercare/tasks.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
# JSON only: a pickled message on the broker cannot run code in a worker.
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Every task works on one row or one bounded batch; one that runs longer is stuck.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="reconnect")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that enqueues must never hang on a broker that is down: the
# beat sweep picks up whatever an enqueue lost.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sweep-missed-sessions": {
        "task": "aftercare.tasks.sweep_missed_sessions",
        "schedule": crontab(minute="*"),
    },
    "sweep-followups": {
        "task": "aftercare.tasks.sweep_followups",
        "schedule": crontab(minute="*"),
    },
    # Writes reminder rows; sweep-followups sends them with every other outbox row.
    "sweep-reminders": {
        "task": "followups.tasks.sweep_reminders",
        "schedule": crontab(minute="*"),
    },
    # Moves waitlist offers on to the next clients in line; sweep-followups sends them.
    "sweep-waitlist": {
        "task": "waitlist.tasks.sweep_waitlist",
        "schedule": crontab(minute="*"),
    },
    "sweep-fee-holds": {
        "task": "aftercare.tasks.sweep_fee_holds",
        "schedule": crontab(minute="*/5"),
    },
    "sweep-imports": {
        "task": "imports.tasks.sweep_imports",
        "schedule": crontab(minute="*"),
    },
}

# How long after marking an outcome the mark can be undone, unless the
# practice sets its own.
UNDO_WINDOW_MINUTES = env.int("UNDO_WINDOW_MINUTES", default=10)

# Rendered schedule rows kept per web process, keyed by everything a row shows (practice/rowcache.py,
# issue 11); 0 turns the cache off. About 3.6 KB per entry with its row view (5,000: 18 MB).
ROW_CACHE_SIZE = env.int("ROW_CACHE_SIZE", default=5000)

# How long a worker holds a claimed outbox row before another may take it
# (followups/services.py): a worker that died is replaced within this plus a minute.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=90)
# How many sending tasks a reminder sweep that wrote rows starts (followups/tasks.py): one per
# task slot of the workers, so all of them send at once (the Procfile's one worker runs 2 threads).
OUTBOX_SEND_FANOUT = env.int("OUTBOX_SEND_FANOUT", default=2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # Request paths lose their query strings and link tokens (practice/logsafe.py).
    "filters": {"redact_paths": {"()": "practice.logsafe.RedactRequestPaths"}},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Twilio's client logs each request's URL and headers at INFO: nothing we need, and a
        # lookup URL can carry a phone number.
        "twilio": {"level": "WARNING"},
        "django.request": {"filters": ["redact_paths"]},
        "django.server": {"filters": ["redact_paths"]},
    },
}
