"""Writes that belong to the practice level."""

import hashlib
import logging
import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AuditEvent, Membership, Practice, StaffInvitation
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


# ------------------------------------------------------------------ a new practice


@dataclass(frozen=True)
class PracticeCreated:
    """What practice_create made: the practice and, if asked, its first admin's invitation and link token.

    The token is shown once (the command prints it for the operator) and only
    its SHA-256 is stored, as for every invitation.
    """

    practice: Practice
    invitation: StaffInvitation | None = None
    token: str = ""


def _one_line(value: str, *, field: str, errors: dict, required: bool = True, max_length: int = 200) -> str:
    value = (value or "").strip()
    if any(c in value for c in "\r\n"):
        errors[field] = "Keep this on one line."
    elif required and not value:
        errors[field] = "This cannot be empty."
    elif len(value) > max_length:
        errors[field] = f"Keep this under {max_length + 1} characters."
    return value


def practice_create(
    *,
    name: str,
    time_zone: str,
    country: str,
    sender_name: str = "",
    phone: str = "",
    first_admin_email: str = "",
    first_admin_first_name: str = "",
    first_admin_last_name: str = "",
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> PracticeCreated:
    """The one place a practice is born (the `practice_create` command and seed_demo call it).

    1. Check everything first, so bad input changes nothing: a name of its own
       (case-insensitive), a time zone from the tz database, a country
       phonenumbers knows, a well-formed address no account uses yet.
    2. In one transaction: the practice, its default plans (follow-ups and
       reminders, the models' defaults) and its default ladder
       (policies.services.DEFAULT_LADDER), audited.
    3. If an address is given, an invitation for the first practice admin and
       its link token, in the same transaction: nobody else can invite before
       an admin exists. It is not emailed (the operator hands the link over;
       emailing would make a second token and break the printed one).

    The practice sits below the apps whose defaults it makes, so their
    services are imported here, where a practice is born, and nowhere else.
    """
    from followups import reminders as reminder_services
    from followups import services as followup_services
    from policies import services as policy_services

    now = now or timezone.now()
    errors: dict[str, str] = {}
    name = _one_line(name, field="name", errors=errors)
    sender_name = _one_line(sender_name or name, field="sender_name", errors=errors, max_length=100)
    time_zone = (time_zone or "").strip()
    if time_zone not in zoneinfo.available_timezones():
        errors["time_zone"] = "Unknown time zone. Use a name from the tz database, e.g. Europe/London."
    country = (country or "").strip().upper()
    if country not in phonenumbers.SUPPORTED_REGIONS:
        errors["country"] = "Unknown country. Use a two-letter code, e.g. GB or US."
    e164 = ""
    if phone and "country" not in errors:
        e164, ok = normalise_phone(phone, country)
        if not ok:
            errors["phone"] = phone_problem(phone, country)
    email = _one_line(first_admin_email, field="email", errors=errors, required=False, max_length=254)
    first_name = _one_line(first_admin_first_name, field="first_name", errors=errors, required=False, max_length=150)
    last_name = _one_line(first_admin_last_name, field="last_name", errors=errors, required=False, max_length=150)
    if email and "email" not in errors:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Enter a valid email address, e.g. alex@example.org."
        else:
            if _address_in_use(email):
                errors["email"] = ADDRESS_IN_USE
    if name and "name" not in errors and Practice.objects.filter(name__iexact=name).exists():
        errors["name"] = "A practice with this name already exists. Choose another name."
    if errors:
        raise ValidationError(errors)

    with transaction.atomic(durable=True):
        practice = Practice(name=name, time_zone=time_zone, country=country, sender_name=sender_name, phone=e164)
        practice.full_clean()
        practice.save()
        audit_record(
            practice=practice,
            actor=actor,
            action="practice.created",
            obj=practice,
            changes={"time_zone": time_zone, "country": country},
        )
        followup_services.plan_for(practice)
        reminder_services.plan_for(practice)
        policy_services.escalation_steps_default_create(practice=practice)
        invitation, token = None, ""
        if email:
            token = secrets.token_urlsafe(32)
            invitation = StaffInvitation.objects.create(
                practice=practice,
                email=email,
                first_name=first_name,
                last_name=last_name,
                role=Membership.Role.ADMIN,
                is_clinician=False,
                invited_by=actor,
                token_hash=token_hash(token),
                sent_at=now,
                expires_at=now + timedelta(days=StaffInvitation.VALID_DAYS),
            )
            audit_record(
                practice=practice,
                actor=actor,
                action="staff.invited",
                obj=invitation,
                changes={"role": invitation.role, "is_clinician": False, "first_admin": True},
            )
    log.info("practice created practice_id=%s invitation_id=%s", practice.pk, invitation.pk if invitation else None)
    return PracticeCreated(practice=practice, invitation=invitation, token=token)


# ------------------------------------------------------------------ staff

ADDRESS_IN_USE = "That address already has a Reconnect account; a person belongs to one practice."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _address_in_use(email: str) -> bool:
    """Whether any account, in any practice or none, already uses this address."""
    return get_user_model().objects.filter(email__iexact=email).exists()


def _check_role(role: str, is_clinician: bool) -> bool:
    if role not in Membership.Role.values:
        raise ValidationError({"role": "Choose admin, clinician or front desk."})
    # A clinician always has a schedule; front desk never holds a caseload.
    if role == Membership.Role.CLINICIAN:
        return True
    if role == Membership.Role.FRONT_DESK:
        return False
    return bool(is_clinician)


def staff_invite(
    *,
    practice: Practice,
    actor: AbstractBaseUser,
    email: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    is_clinician: bool = False,
    now: datetime | None = None,
) -> StaffInvitation:
    """Invite one person by email; the link is emailed by a task after commit.

    1. An address any account already uses is refused without saying where
       (a person belongs to one practice; docs/decisions.md).
    2. A pending invitation to the same address in this practice is replaced:
       its link stops working.
    3. The new invitation is audited (role only: the address is not needed in the trail).
    """
    now = now or timezone.now()
    email = email.strip()
    for name, value in (("email", email), ("first_name", first_name), ("last_name", last_name)):
        if "\r" in value or "\n" in value:
            raise ValidationError({name: "Keep this on one line."})
    is_clinician = _check_role(role, is_clinician)
    if _address_in_use(email):
        raise ValidationError({"email": ADDRESS_IN_USE})
    with transaction.atomic(durable=True):
        replaced = list(
            StaffInvitation.objects.select_for_update(no_key=True, of=("self",))
            .filter(practice=practice, email__iexact=email, accepted_at=None, withdrawn_at=None)
            .values_list("pk", flat=True)
        )
        if replaced:
            StaffInvitation.objects.filter(pk__in=replaced).update(withdrawn_at=now, token_hash=None)
        invitation = StaffInvitation.objects.create(
            practice=practice,
            email=email,
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            role=role,
            is_clinician=is_clinician,
            invited_by=actor,
            expires_at=now + timedelta(days=StaffInvitation.VALID_DAYS),
        )
        audit_record(
            practice=practice,
            actor=actor,
            action="staff.invited",
            obj=invitation,
            changes={"role": role, "is_clinician": is_clinician, "replaced": replaced},
        )
        transaction.on_commit(lambda: _enqueue_invitation(invitation.pk))
    log.info("staff invited practice_id=%s invitation_id=%s", practice.pk, invitation.pk)
    return invitation


def _enqueue_invitation(invitation_id: int) -> None:
    from .tasks import send_staff_invitation

    try:
        send_staff_invitation.delay(invitation_id)
    except Exception:  # noqa: BLE001 - a broker that is down must not become a 500; the admin can send again
        log.warning("staff invitation could not be queued invitation_id=%s", invitation_id)


def staff_invitation_issue_link(*, invitation_id: int, now: datetime | None = None) -> tuple[StaffInvitation, str]:
    """Make the invitation's token (a new one replaces any earlier link). Returns the invitation and
    the token, or (invitation, "") if it is no longer pending. Called by the task that emails it."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        invitation = (
            StaffInvitation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("practice")
            .filter(pk=invitation_id)
            .first()
        )
        if invitation is None or not invitation.is_pending or invitation.expires_at <= now:
            return invitation, ""
        token = secrets.token_urlsafe(32)
        invitation.token_hash = token_hash(token)
        invitation.sent_at = now
        invitation.save(update_fields=["token_hash", "sent_at"])
    return invitation, token


def staff_invitation_withdraw(*, invitation: StaffInvitation, actor, now: datetime | None = None) -> bool:
    """Withdraw a pending invitation: its link stops working. False if it was no longer pending."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        changed = StaffInvitation.objects.filter(pk=invitation.pk, accepted_at=None, withdrawn_at=None).update(
            withdrawn_at=now, token_hash=None
        )
        if changed:
            audit_record(practice=invitation.practice, actor=actor, action="staff.invitation_withdrawn", obj=invitation)
    return bool(changed)


def staff_invitation_find(*, token: str, now: datetime | None = None) -> StaffInvitation | None:
    """The usable invitation behind a token, or None (unknown, used, withdrawn, replaced or expired)."""
    now = now or timezone.now()
    if not token or len(token) > 100:
        return None
    invitation = StaffInvitation.objects.select_related("practice").filter(token_hash=token_hash(token)).first()
    return invitation if invitation is not None and invitation.is_usable(now) else None


class InvitationUnusable(Exception):
    """The link is unknown, used, withdrawn, replaced or expired."""


def staff_invitation_accept(
    *, token: str, username: str, password: str, now: datetime | None = None
) -> AbstractBaseUser:
    """Create the invitee's account and membership, in one transaction, and use up the link.

    1. Lock the invitation; it must still be usable (InvitationUnusable otherwise).
    2. The address must still be free (someone may have joined elsewhere since),
       the username free, the password acceptable to Django's validators.
    3. Create the user and the membership, mark the invitation accepted, audit.
    """
    now = now or timezone.now()
    User = get_user_model()
    username = username.strip()
    with transaction.atomic(durable=True):
        invitation = (
            StaffInvitation.objects.select_for_update(no_key=True, of=("self",))
            .select_related("practice")
            .filter(token_hash=token_hash(token or ""))
            .first()
        )
        if invitation is None or not invitation.is_usable(now):
            raise InvitationUnusable
        if _address_in_use(invitation.email):
            raise ValidationError(ADDRESS_IN_USE)
        errors: dict[str, list] = {}
        if not username:
            errors["username"] = ["Choose a username."]
        else:
            try:
                User.username_validator(username)
            except ValidationError as exc:
                errors["username"] = exc.messages
            if User.objects.filter(username__iexact=username).exists():
                errors["username"] = ["That username is taken. Choose another, or use your email address."]
        candidate = User(
            username=username, email=invitation.email, first_name=invitation.first_name, last_name=invitation.last_name
        )
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            errors["password1"] = exc.messages
        if errors:
            raise ValidationError(errors)
        candidate.set_password(password)
        try:
            with transaction.atomic():
                candidate.save()
        except IntegrityError as exc:  # a username taken between the check and the insert
            raise ValidationError({"username": ["That username is taken. Choose another."]}) from exc
        membership = Membership.objects.create(
            practice=invitation.practice,
            user=candidate,
            role=invitation.role,
            is_clinician=invitation.is_clinician,
        )
        invitation.accepted_at = now
        invitation.accepted_user = candidate
        invitation.token_hash = None
        invitation.save(update_fields=["accepted_at", "accepted_user", "token_hash"])
        audit_record(
            practice=invitation.practice,
            actor=candidate,
            action="staff.joined",
            obj=membership,
            changes={"invitation": invitation.pk, "role": membership.role, "is_clinician": membership.is_clinician},
        )
    log.info("staff joined practice_id=%s user_id=%s", invitation.practice_id, candidate.pk)
    return candidate


def _other_active_admins(membership: Membership) -> bool:
    return (
        Membership.objects.filter(practice_id=membership.practice_id, role=Membership.Role.ADMIN, is_active=True)
        .exclude(pk=membership.pk)
        .exists()
    )


def _lock_membership(membership: Membership) -> Membership:
    # The practice's admins are locked together (ordered by id, the same everywhere),
    # so that two admins demoting each other at once cannot both succeed and leave none.
    list(
        Membership.objects.select_for_update(no_key=True, of=("self",))
        .filter(practice_id=membership.practice_id, role=Membership.Role.ADMIN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return (
        Membership.objects.select_for_update(no_key=True, of=("self",))
        .select_related("user", "practice")
        .get(pk=membership.pk)
    )


def membership_role_change(
    *, membership: Membership, actor: AbstractBaseUser, role: str, is_clinician: bool = False
) -> Membership:
    """Change a member's role. Call inside the caller's transaction (appointments.services.staff_role_change
    checks first that no caseload is left behind when a schedule is taken away).

    An admin cannot change their own role here (another admin does), and the
    practice's last active admin stays an admin.
    """
    is_clinician = _check_role(role, is_clinician)
    with transaction.atomic():
        locked = _lock_membership(membership)
        if locked.user_id == actor.pk:
            raise ValidationError("You cannot change your own role. Ask another practice admin.")
        if locked.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN and not _other_active_admins(locked):
            raise ValidationError("The practice needs at least one admin. Make someone else an admin first.")
        old = [locked.role, locked.is_clinician]
        if old == [role, is_clinician]:
            return locked
        locked.role, locked.is_clinician = role, is_clinician
        locked.save(update_fields=["role", "is_clinician"])
        audit_record(
            practice=locked.practice,
            actor=actor,
            action="staff.role_changed",
            obj=locked,
            changes={"role": [old[0], role], "is_clinician": [old[1], is_clinician]},
        )
    return locked


def membership_deactivate(
    *, membership: Membership, actor: AbstractBaseUser, changes: dict | None = None
) -> Membership:
    """Deactivate a membership and its account (no more sign-in). Call inside the caller's
    transaction, after their work is handed over (appointments.services.clinician_deactivate)."""
    with transaction.atomic():
        locked = _lock_membership(membership)
        if locked.user_id == actor.pk:
            raise ValidationError("You cannot deactivate yourself. Ask another practice admin.")
        if not locked.is_active:
            raise ValidationError("This account is already deactivated.")
        if locked.role == Membership.Role.ADMIN and not _other_active_admins(locked):
            raise ValidationError("The practice needs at least one admin. Make someone else an admin first.")
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        user = locked.user
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(practice=locked.practice, actor=actor, action="staff.deactivated", obj=locked, changes=changes)
    return locked


def membership_reactivate(*, membership: Membership, actor: AbstractBaseUser) -> Membership:
    """Let a deactivated member sign in again, in the role they had. Their old sessions and clients stay
    with whoever they were handed to."""
    with transaction.atomic(durable=True):
        locked = _lock_membership(membership)
        if locked.is_active:
            return locked
        locked.is_active = True
        locked.save(update_fields=["is_active"])
        user = locked.user
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(practice=locked.practice, actor=actor, action="staff.reactivated", obj=locked)
    return locked
