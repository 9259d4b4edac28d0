"""Thin Celery tasks: they take ids and call services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def import_file(upload_id: int) -> dict | None:
    return services.import_attempt(upload_id=upload_id)
