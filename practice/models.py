"""The practice itself: who works there, in which role, and what changed."""

from functools import lru_cache

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from timezone_field import TimeZoneField

from .phones import dialable, display_phone, normalise_phone


@lru_cache(maxsize=1024)
def _phone_display(phone: str, country: str) -> str:
    # Parsing the number was a few percent of every client page (bench/profile_rebooking.py);
    # the answer depends on these two strings only.
    valid, _ = normalise_phone(phone, country)
    return display_phone(valid, country) or phone


class Practice(models.Model):
    name = models.CharField(max_length=200)
    time_zone = TimeZoneField(default="America/New_York")
    phone = models.CharField(max_length=40, blank=True)
    # The Twilio number (E.164) this practice texts from, when it has one of its own; empty: the
    # shared TWILIO_FROM_NUMBER or messaging service. Replies to it are this practice's
    # (followups.delivery.sms_reply_handle); set by operators when the number is bought.
    sms_from_number = models.CharField(
        "Text messages come from",
        max_length=20,
        blank=True,
        validators=[RegexValidator(r"^\+[1-9]\d{6,14}$", "A number in E.164, e.g. +12125550100.")],
        help_text="E.164, e.g. +12125550100. Empty: the shared number.",
    )
    # Messages go out under this name: "Anxiety Clinic" on a lock screen
    # would disclose care.
    sender_name = models.CharField(
        max_length=100,
        help_text="Neutral name shown on messages to clients, e.g. 'Maple Street Office'.",
    )
    undo_window_minutes = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="How long after marking an outcome staff can undo it.",
    )
    # Replies to messages reach a person: the seeds' advice to clients is to
    # talk to their therapist as soon as possible.
    reply_to_email = models.EmailField(
        "reply-to email", blank=True, help_text="Where clients' replies to our messages go."
    )
    address = models.TextField(blank=True, help_text="Where in-person sessions take place.")
    video_instructions = models.TextField(
        "video-session instructions", blank=True, help_text="How clients join a video session."
    )
    country = models.CharField(
        max_length=2, default="US", help_text="Phone numbers written without a country code are read as this country's."
    )
    correction_window_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="For how many days after a session its clinician may correct a recorded outcome "
        "(practice admins may at any time).",
    )
    # Practice defaults for new availability windows: the length of a
    # session, the gap after it, and the grid that offered start times sit on.
    session_minutes = models.PositiveSmallIntegerField(
        "session length (minutes)", default=50, validators=[MinValueValidator(15), MaxValueValidator(240)]
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        "buffer between sessions (minutes)", default=10, validators=[MaxValueValidator(120)]
    )
    slot_grid_minutes = models.PositiveSmallIntegerField(
        "start times every",
        default=30,
        choices=[(15, "quarter hour"), (30, "half hour"), (60, "hour")],
    )
    # Sign-in (issue 8): admins always use two factors; this extends it to everyone.
    require_two_factor = models.BooleanField(
        "require two-factor sign-in for all staff",
        default=False,
        help_text="Practice admins always sign in with two factors; this asks it of every member of staff.",
    )
    idle_timeout_minutes = models.PositiveSmallIntegerField(
        "sign out after idle (minutes)",
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(8 * 60)],
        help_text="Staff who do nothing for this long are signed out (the session also ends after 8 hours).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Replies to a practice's own number are its clients' (followups.delivery.sms_reply_clients).
            models.UniqueConstraint(
                fields=["sms_from_number"], condition=~models.Q(sms_from_number=""), name="one_practice_per_sms_number"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phone_e164(self) -> str:
        """The phone in E.164 for `tel:` links ("" if what is on file cannot be dialled)."""
        return dialable(self.phone, self.country)

    @property
    def phone_display(self) -> str:
        """The phone as people write it here: "(212) 555-0100" at home, "+44 20 …" abroad."""
        return _phone_display(self.phone, self.country)


class Membership(models.Model):
    """A user's place in one practice. A user belongs to at most one practice."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Practice admin"
        CLINICIAN = "clinician", "Clinician"
        FRONT_DESK = "front_desk", "Front desk"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="memberships")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=20, choices=Role.choices)
    # An admin may also see clients; this says whether they hold a caseload.
    is_clinician = models.BooleanField(
        default=False, help_text="Has a schedule of their own (always true for clinicians)."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["practice", "user__last_name", "user__first_name"]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"

    def save(self, *args, **kwargs):
        if self.role == self.Role.CLINICIAN:
            self.is_clinician = True
        super().save(*args, **kwargs)

    @classmethod
    def scoped(cls, *, practice_id: int, user_id: int | None, whole_practice: bool) -> "Membership":
        """An unsaved membership holding only what the querysets' `for_membership` read: an admin's,
        who sees the whole practice, or a clinician's, who sees their own. For a query built from a
        scope's values (practice/sqlonce.py's sentinels) rather than from a member's row."""
        role = cls.Role.ADMIN if whole_practice else cls.Role.CLINICIAN
        return cls(practice_id=practice_id, user_id=user_id, role=role, is_clinician=not whole_practice)

    @property
    def sees_whole_practice(self) -> bool:
        return self.role in (self.Role.ADMIN, self.Role.FRONT_DESK)

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def needs_two_factor(self) -> bool:
        return self.is_admin or self.practice.require_two_factor


class AuditEvent(models.Model):
    """Who changed what, when, from what to what. Written by services only."""

    # Empty only for events that belong to no practice: a failed sign-in with
    # an unknown username, or by someone with no membership.
    practice = models.ForeignKey(Practice, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=60)
    object_type = models.CharField(max_length=60)
    object_id = models.BigIntegerField()
    # The client the event is about, if any (a view of their record, a change to
    # their sessions): the Audit page filters by it. A plain id, not a foreign
    # key: the practice app sits below the apps that hold clients.
    client_ref = models.BigIntegerField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # practice.views.audit_log: newest first, per practice, optionally per client.
            models.Index(fields=["practice", "-at"], name="audit_practice_at_idx"),
            models.Index(fields=["practice", "client_ref", "-at"], name="audit_practice_client_idx"),
            # engagement.selectors.client_replies: a client's STOP / START texts among every view of
            # their record (one row per view), without reading the views.
            models.Index(fields=["practice", "client_ref", "action", "-at"], name="audit_client_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class StaffInvitation(models.Model):
    """An invitation for one person to join the practice, by email.

    Single use and expiring. Only the SHA-256 of the token is stored; the token
    itself is made by the task that emails it (practice.tasks.send_staff_invitation),
    so it never passes through the broker. Re-inviting an address replaces its
    pending invitation; withdrawing or replacing one makes its link stop working.
    """

    VALID_DAYS = 7

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    is_clinician = models.BooleanField(default=False)
    # Empty until the task has emailed a link; a new link replaces the hash.
    token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Withdrawn by an admin, or replaced by a newer invitation to the same address.
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # practice.services.staff_invite replaces the pending one: never two live links per address.
            models.UniqueConstraint(
                models.functions.Lower("email"),
                "practice",
                condition=models.Q(accepted_at__isnull=True, withdrawn_at__isnull=True),
                name="one_pending_invitation_per_address",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation #{self.pk} ({self.get_role_display()})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.withdrawn_at is None

    def is_usable(self, now) -> bool:
        return self.is_pending and self.token_hash is not None and self.expires_at > now
