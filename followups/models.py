"""The follow-up plan, its message wording, the outbox, and rescheduling links."""

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from appointments.models import Appointment, Client, NoShowEvent
from practice.models import Practice


class FollowUpPlan(models.Model):
    """How a practice reaches out after a missed session. One per practice."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="followup_plan")
    enabled = models.BooleanField(default=True, help_text="Send follow-ups after missed sessions.")
    first_delay_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MaxValueValidator(7 * 24 * 60)],
        help_text="Minutes after the mark before the first message (0 sends at once; the therapist can undo "
        "until then).",
    )
    second_after_days = models.PositiveSmallIntegerField(
        default=3,
        validators=[MaxValueValidator(30)],
        help_text="Days after the miss for a second, gentler message if the client has not rebooked (0: none).",
    )
    repeat_threshold = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(2), MaxValueValidator(20)],
        help_text="A miss that makes this many in the repeat window uses the repeat-miss wording.",
    )
    repeat_window_days = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    quiet_start = models.TimeField(default=time(20, 0), help_text="Nothing is sent from this time…")
    quiet_end = models.TimeField(default=time(8, 0), help_text="…until this time, in the practice's time zone.")
    mention_exercises = models.BooleanField(
        default=False,
        help_text="Mention between-session exercises in every client's follow-ups (therapists can also "
        "choose it per client).",
    )
    link_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="Days a rescheduling link stays valid.",
    )
    max_attempts = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(10)])

    def __str__(self) -> str:
        return f"Follow-up plan of practice #{self.practice_id}"


class MessageTemplate(models.Model):
    """A practice's own wording for one kind of message. Without one, the default applies."""

    class Kind(models.TextChoices):
        # The value "first" predates late cancels: it is the no-show wording.
        FIRST = "first", "First message, no-show"
        FIRST_LATE_CANCEL = "first_late_cancel", "First message, late cancel"
        FIRST_REPEAT = "first_repeat", "First message, repeat miss"
        FIRST_INTAKE = "first_intake", "First message, missed intake"
        SECOND = "second", "Second message"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=120)
    body = models.TextField(max_length=3000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "kind"], name="one_template_per_kind")]

    def __str__(self) -> str:
        return self.get_kind_display()


class OutboxMessage(models.Model):
    """One message to send: the row is the queue.

    Written in the transaction that records the miss (or clears its safety
    check); sent by a worker that claims it (pending → sending), checks it
    again, sends and records the result.
    """

    class Step(models.TextChoices):
        FIRST = "first", "First message"
        SECOND = "second", "Second message"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "Text message"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Could not reach the client"
        CANCELLED = "cancelled", "Cancelled"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="outbox")
    missed_session = models.ForeignKey(NoShowEvent, on_delete=models.CASCADE, related_name="messages")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="messages")
    step = models.CharField(max_length=10, choices=Step.choices)
    kind = models.CharField(max_length=20, choices=MessageTemplate.Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    # Short, and never the message itself: the failure as the channel reported it.
    last_error = models.CharField(max_length=200, blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["missed_session", "step"], name="one_message_per_miss_and_step"),
        ]
        indexes = [
            # followups.services.outbox_claim_due: the minute sweep.
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="outbox_due_idx"),
            # followups.services.outbox_release_stale: rows a crashed worker left in "sending".
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="outbox_sending_idx"),
            models.Index(fields=["practice", "status", "due_at"], name="outbox_practice_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()} for missed session #{self.missed_session_id} ({self.status})"


class RescheduleLink(models.Model):
    """A no-login link to rebook one missed session. Only the hash of the token is stored."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    missed_session = models.ForeignKey(NoShowEvent, on_delete=models.CASCADE, related_name="reschedule_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    new_appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"Reschedule link for missed session #{self.missed_session_id}"


class MissReason(models.Model):
    """What the client said got in the way, if they chose to say. Only their clinician's practice sees it."""

    class Reason(models.TextChoices):
        UNWELL = "unwell", "I felt unwell"
        TRANSPORT = "transport", "Transport"
        FORGOT = "forgot", "I forgot"
        WORK_CHILDCARE = "work_childcare", "Work or childcare"
        NOT_UP_TO_IT = "not_up_to_it", "I didn't feel up to it"
        OTHER = "other", "Something else"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    missed_session = models.OneToOneField(NoShowEvent, on_delete=models.CASCADE, related_name="client_reason")
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    text = models.TextField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Reason for missed session #{self.missed_session_id}"


class ContactNote(models.Model):
    """Staff reached the client themselves: pending follow-ups for that miss stop."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    missed_session = models.OneToOneField(NoShowEvent, on_delete=models.CASCADE, related_name="contacted")
    contacted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    contacted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Contacted about missed session #{self.missed_session_id}"
