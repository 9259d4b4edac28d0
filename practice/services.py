"""Writes that belong to the practice level."""

import logging
import zoneinfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from .models import AuditEvent, Practice
from .phones import normalise_phone, phone_problem

log = logging.getLogger(__name__)


def audit_record(
    *,
    practice: Practice,
    actor: AbstractBaseUser | None,
    action: str,
    obj,
    changes: dict | None = None,
    client_id: int | None = None,
) -> AuditEvent:
    """Record one change. Call inside the transaction that made the change."""
    if client_id is None and obj._meta.label_lower == "appointments.client":
        client_id = obj.pk
    elif client_id is None:
        client_id = getattr(obj, "client_id", None)
    return AuditEvent.objects.create(
        practice=practice,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=obj.pk,
        client_ref=client_id,
        changes=changes or {},
    )


def audit_access(*, request, action: str, obj=None, client_id: int | None = None, changes: dict | None = None):
    """Record that someone looked at or took away health data: a client record, a search, an export.

    Searches record that one happened and how many results it had, never the words searched.
    """
    membership = request.membership
    if obj is not None:
        return audit_record(
            practice=membership.practice,
            actor=request.user,
            action=action,
            obj=obj,
            changes=changes,
            client_id=client_id,
        )
    return AuditEvent.objects.create(
        practice=membership.practice,
        actor=request.user,
        action=action,
        object_type="page",
        object_id=0,
        client_ref=client_id,
        changes=changes or {},
    )


# The settings a practice admin edits on the Settings page. None of them is
# health data, so the audit keeps old and new values.
SETTINGS_FIELDS = (
    "name",
    "sender_name",
    "reply_to_email",
    "phone",
    "address",
    "time_zone",
    "video_instructions",
    "undo_window_minutes",
    "correction_window_days",
    "country",
    "session_minutes",
    "buffer_minutes",
    "slot_grid_minutes",
    "require_two_factor",
    "idle_timeout_minutes",
)


def practice_update(*, practice: Practice, actor: AbstractBaseUser | None, **fields) -> Practice:
    """Change the practice's settings and audit which fields changed, old → new.

    The phone is stored in E.164, read with the practice's (possibly new)
    country. The sender name reaches an email header, so a line break in it
    is refused. Changing the time zone moves nothing: booked sessions keep
    their instant (stored in UTC) and availability its wall-clock times.
    """
    unknown = set(fields) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Unknown practice settings: {sorted(unknown)}")
    errors: dict[str, str] = {}
    if "time_zone" in fields:
        try:
            fields["time_zone"] = zoneinfo.ZoneInfo(str(fields["time_zone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = "Choose a time zone from the list, e.g. America/New_York."
    for name in ("name", "sender_name"):
        if name in fields and any(c in str(fields[name]) for c in "\r\n"):
            errors[name] = "Keep this on one line."
    with transaction.atomic(durable=True):
        locked = Practice.objects.select_for_update().get(pk=practice.pk)
        if "phone" in fields:
            country = fields.get("country", locked.country)
            e164, ok = normalise_phone(fields["phone"], country)
            if ok:
                fields["phone"] = e164
            else:
                errors["phone"] = phone_problem(fields["phone"], country)
        if errors:
            raise ValidationError(errors)
        changes = {}
        for name, value in fields.items():
            old = getattr(locked, name)
            if _plain(old) != _plain(value):
                changes[name] = [_plain(old), _plain(value)]
                setattr(locked, name, value)
        if not changes:
            return locked
        locked.full_clean()
        locked.save(update_fields=list(changes))
        audit_record(
            practice=locked,
            actor=actor,
            action="practice.updated",
            obj=locked,
            changes={"fields": sorted(changes), "values": changes},
        )
    log.info("practice settings changed practice_id=%s fields=%s", locked.pk, ",".join(sorted(changes)))
    return locked


def _plain(value):
    if isinstance(value, zoneinfo.ZoneInfo):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
