"""Writes that belong to the practice level."""

from django.contrib.auth.models import AbstractBaseUser

from .models import AuditEvent, Practice


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
