"""Production: refuses to start without SECRET_KEY; passes `check --deploy`."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env

SECRET_KEY = env("SECRET_KEY")  # no default: ImproperlyConfigured when unset
DEBUG = False

# No silent fallbacks to SQLite, console mail or the filesystem broker:
# practice/checks.py refuses to start while any of these is unset.
REQUIRED_ENVIRONMENT = ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SITE_URL")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
