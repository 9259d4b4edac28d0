from django.apps import AppConfig


class PracticeConfig(AppConfig):
    name = "practice"
    verbose_name = "Practice"

    def ready(self) -> None:
        from . import checks, signin  # noqa: F401 - registers the configuration checks and the sign-in audit
