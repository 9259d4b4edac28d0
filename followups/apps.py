from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = "Follow-ups after a missed session"

    def ready(self):
        from . import checks  # noqa: F401 - registers the outbox's configuration checks
