"""The Celery app. Workers and beat start with `celery -A practice ...`."""

import os
from pathlib import Path

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "practice.settings.local")

app = Celery("reconnect")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_misconfigured(**kwargs) -> None:
    from practice.checks import refuse_to_start_if_misconfigured

    refuse_to_start_if_misconfigured()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs) -> None:
    """kombu's filesystem transport expects its folders to exist, on both sides."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
