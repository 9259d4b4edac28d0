import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.production")
application = get_asgi_application()

from practice.checks import refuse_to_start_if_misconfigured  # noqa: E402 - needs the apps loaded

refuse_to_start_if_misconfigured()
