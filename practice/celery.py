"""The Celery app. Workers and beat start with `celery -A practice ...`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.local")

app = Celery("reconnect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
