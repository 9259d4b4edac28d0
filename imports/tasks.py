"""Thin Celery tasks: they take ids and call services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def import_file(upload_id: int) -> dict | None:
    return services.import_attempt(upload_id=upload_id)


@shared_task
def sweep_imports() -> int:
    """Every minute: queue again the confirmed imports whose enqueue was lost."""
    return len(services.imports_requested_unstarted())
