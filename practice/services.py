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
) -> AuditEvent:
    """Record one change. Call inside the transaction that made the change."""
    return AuditEvent.objects.create(
        practice=practice,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=obj.pk,
        changes=changes or {},
    )
