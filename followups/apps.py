from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = "Follow-ups after a missed session"

    def ready(self):
        from anymail.signals import tracking

        from . import checks  # noqa: F401 - registers the outbox's configuration checks
        from .delivery import on_tracking

        # anymail reports email delivery events by this signal only; the receiver calls one service.
        tracking.connect(on_tracking, dispatch_uid="followups.delivery.on_tracking")
