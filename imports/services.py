"""Every write of an import: keep the uploaded file for its preview, then import its good rows.

Clients and sessions are written through appointments.services (client_create,
appointment_book), never around them, so every rule and audit of a hand-made
booking holds for an imported one.
"""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from appointments import services as appointment_services
from appointments.models import Client
from practice.models import Practice
from practice.services import audit_record
from practice.transactions import on_commit_robust

from . import parsing, selectors
from .models import ImportedClientRef, ImportUpload

logger = logging.getLogger(__name__)

# Unimported uploads hold health data; nobody needs one after a day.
KEEP_UNIMPORTED = timedelta(days=1)
# A requested import not done after this long was probably never queued (broker down); offer to start again.
STALE_REQUEST = timedelta(minutes=5)


def import_upload_create(*, practice: Practice, actor, kind: str, filename: str, data: bytes) -> ImportUpload:
    """Read the file and keep its rows for the preview; a file that cannot be read raises ValidationError."""
    if kind not in ImportUpload.Kind.values:
        raise ValidationError("Choose what the file holds: clients or booked sessions.")
    try:
        table = parsing.read_table(data)
    except parsing.FileProblem as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic(durable=True):
        ImportUpload.objects.filter(
            practice=practice, imported_at=None, created_at__lt=timezone.now() - KEEP_UNIMPORTED
        ).delete()
        # With one clinician in the practice, rows that name none are theirs.
        only = list(selectors.clinicians_of(practice)[:2])
        upload = ImportUpload.objects.create(
            practice=practice,
            kind=kind,
            filename=filename[:255],
            headers=table.headers,
            rows=table.rows,
            numbers=table.numbers,
            mapping=parsing.guess_mapping(kind, table.headers),
            default_clinician=only[0] if len(only) == 1 and kind == ImportUpload.Kind.CLIENTS else None,
            created_by=actor,
        )
        audit_record(
            practice=practice, actor=actor, action="import.uploaded", obj=upload, changes={"rows": len(table.rows)}
        )
    return upload


def import_mapping_set(*, upload: ImportUpload, mapping: dict, default_clinician) -> ImportUpload:
    """Remember the columns chosen on the preview (a draft: nothing is imported yet)."""
    if upload.imported_at is not None:
        raise ValidationError("This file has already been imported.")
    upload.mapping = parsing.clean_mapping(upload.kind, upload.headers, mapping)
    upload.default_clinician = default_clinician
    upload.save(update_fields=["mapping", "default_clinician"])
    return upload


def _channel(email: str, phone: str) -> str:
    if email or not phone:
        return Client.Channel.EMAIL
    return Client.Channel.PHONE


def import_request(*, upload: ImportUpload, actor) -> ImportUpload:
    """The admin confirmed the preview: the worker imports once this commits. Asking again is harmless.

    Thousands of rows, each through the booking service, take longer than a
    request should; the worker runs `import_attempt`, and the result page
    shows progress.
    """
    with transaction.atomic(durable=True):
        upload = ImportUpload.objects.select_for_update(of=("self",)).get(pk=upload.pk)
        if upload.imported_at is not None:
            raise ValidationError("This file has already been imported.")
        upload.requested_at = timezone.now()
        upload.requested_by = actor
        upload.error = ""
        upload.save(update_fields=["requested_at", "requested_by", "error"])
        on_commit_robust(_enqueue, upload.pk)
    return upload


def _enqueue(upload_id: int) -> None:
    from .tasks import import_file

    import_file.delay(upload_id)


# A requested import not started after this long had its enqueue lost; the sweep queues it again.
SWEEP_GRACE = timedelta(minutes=2)
SWEEP_BATCH = 20


def imports_requested_unstarted(*, now=None) -> list[int]:
    """Ids of requested imports not done and not being imported now, queued again on commit.

    An import in progress holds its upload row locked (import_run), so
    `skip_locked` passes over it; a second task for one upload imports nothing.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        ids = list(
            ImportUpload.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(imported_at=None, requested_at__lt=now - SWEEP_GRACE)
            .order_by("requested_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        for upload_id in ids:
            on_commit_robust(_enqueue, upload_id)
    return ids


def import_attempt(*, upload_id: int) -> dict[str, int] | None:
    """What the worker does: import a requested upload, or record why nothing was imported."""
    upload = ImportUpload.objects.select_related("practice", "requested_by").filter(pk=upload_id).first()
    if upload is None or upload.imported_at is not None or upload.requested_at is None:
        return None
    try:
        return import_run(practice=upload.practice, upload_id=upload.pk, actor=upload.requested_by)
    except ValidationError as exc:
        # Ids only in logs; the person reads why on the preview.
        logger.info("import %s refused by a service; nothing imported", upload.pk)
        ImportUpload.objects.filter(pk=upload.pk, imported_at=None).update(
            error=" ".join(exc.messages)[:500], requested_at=None
        )
        return None


def import_run(*, practice: Practice, upload_id: int, actor) -> dict[str, int]:
    """Import every good row of the upload, in one transaction; return the counts.

    1. Lock the practice row: two imports of one practice run one after the
       other, so the second sees the first's clients and sessions as duplicates.
    2. Lock the upload; an upload already imported is refused (a double click).
    3. Check every row again with the saved mapping: the preview may be stale.
    4. Write each good row through appointments.services. If any write is
       refused (say a booking made meanwhile clashes), raise: nothing is saved.
    5. A clients file's rows that are clients already on file are not added
       again, but their Client ID is remembered for the sessions file.
    6. Empty the stored rows (health data) and record the counts, audited.
    """
    with transaction.atomic(durable=True):
        Practice.objects.select_for_update().filter(pk=practice.pk).first()
        upload = ImportUpload.objects.select_for_update(of=("self",)).get(pk=upload_id, practice=practice)
        if upload.imported_at is not None:
            raise ValidationError("This file has already been imported.")
        found = selectors.preview(upload=upload, default_clinician=upload.default_clinician)
        for check in found.ready:
            try:
                _import_row(upload, check, actor)
            except ValidationError as exc:
                raise ValidationError(
                    f"Row {check.number}: {' '.join(exc.messages)} Nothing was imported; check the preview again."
                ) from None
        counts = found.counts()
        counts["imported"] = counts.pop("ready")
        if upload.kind == ImportUpload.Kind.CLIENTS:
            counts["linked"] = _link_clients_on_file(upload, found.duplicates)
        upload.imported_at = timezone.now()
        upload.rows, upload.numbers = [], []
        upload.result = counts
        upload.error = ""
        upload.save(update_fields=["imported_at", "rows", "numbers", "result", "error"])
        audit_record(practice=practice, actor=actor, action=f"import.{upload.kind}", obj=upload, changes=counts)
    return counts


def _link_clients_on_file(upload: ImportUpload, duplicates: list[parsing.RowCheck]) -> int:
    """Remember the file's Client ID of clients already on file, so its sessions file finds them."""
    linked = 0
    for check in duplicates:
        values = check.values
        if values.get("on_file") and values["external_id"]:
            _ref, created = ImportedClientRef.objects.get_or_create(
                practice=upload.practice, external_id=values["external_id"], defaults={"client_id": values["on_file"]}
            )
            linked += created
    return linked


def _import_row(upload: ImportUpload, check: parsing.RowCheck, actor) -> None:
    values = check.values
    if upload.kind == ImportUpload.Kind.CLIENTS:
        client = appointment_services.client_create(
            practice=upload.practice,
            actor=actor,
            first_name=values["first_name"],
            last_name=values["last_name"],
            email=values["email"],
            phone=values["phone"],
            preferred_channel=_channel(values["email"], values["phone"]),
            # Only an explicit yes in the file; staff confirm consent otherwise.
            consent_email=values["consent_email"],
            consent_sms=values["consent_sms"],
            clinician=values["clinician"],
        )
        if values["external_id"]:
            ImportedClientRef.objects.create(practice=upload.practice, external_id=values["external_id"], client=client)
        return
    appointment_services.appointment_book(
        practice=upload.practice,
        client=values["client"],
        clinician=values["clinician"],
        start=values["start"],
        end=values["end"],
        session_type=values["session_type"],
        modality=values["modality"],
        actor=actor,
    )
