"""An import confirmed in the app is done by a real Celery worker, once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Client
from imports import services
from imports.models import ImportUpload
from imports.tasks import import_file, sweep_imports

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CLIENTS = b"First Name,Last Name,Email\r\nAna,Alvarez,ana@example.com\r\nBo,Berg,bo@example.com\r\n"


def test_a_confirmed_import_is_done_by_the_worker(worker, practice, practice_admin, therapist):
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )

    services.import_request(upload=upload, actor=practice_admin)

    assert [name for name, _id in worker.published] == ["imports.tasks.import_file"]
    worker.wait_for_published()
    upload.refresh_from_db()
    assert upload.imported_at is not None
    assert upload.result["imported"] == 2
    assert sorted(Client.objects.values_list("last_name", flat=True)) == ["Alvarez", "Berg"]
    # The task delivered again (a broker redelivery): nothing twice.
    import_file.delay(upload.pk)
    assert worker.wait_for_published()[-1] == "None"
    assert Client.objects.count() == 2


def test_the_sweep_queues_an_import_whose_enqueue_was_lost(worker, practice, practice_admin, therapist):
    upload = services.import_upload_create(
        practice=practice, actor=practice_admin, kind="clients", filename="c.csv", data=CLIENTS
    )
    # Confirmed three minutes ago, and the broker never got the task.
    ImportUpload.objects.filter(pk=upload.pk).update(
        requested_at=timezone.now() - timedelta(minutes=3), requested_by=practice_admin
    )

    sweep_imports.delay()

    worker.wait_until(lambda: ImportUpload.objects.get(pk=upload.pk).imported_at is not None, "import done")
    assert Client.objects.count() == 2
