"""The follow-up plan, its message wording, the one outbox, and the one client-link model.

The outbox and the links serve every purpose that sends a client a message
(follow-ups after a miss, policy acknowledgement requests; reminders and
waitlist offers next): see followups/purposes.py and docs/architecture.md.
"""

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from appointments.models import Appointment, Client, NoShowEvent
from policies.models import PolicyVersion
from practice.models import Practice


# Callables, not time(20, 0): Django's check for "a fixed default that may be a
# mistake" (fields.W161) fires on a fixed time whenever the check runs within
# ten seconds of that time of day, which made `check --deploy` fail at 20:00 UTC.
def quiet_start_default() -> time:
    return time(20, 0)


def quiet_end_default() -> time:
    return time(8, 0)


# A reminder at most a week before: the sweep looks this far ahead.
MAX_REMINDER_HOURS = 168


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
    quiet_start = models.TimeField(default=quiet_start_default, help_text="Nothing is sent from this time…")
    quiet_end = models.TimeField(default=quiet_end_default, help_text="…until this time, in the practice's time zone.")
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
        REMINDER = "reminder", "Reminder before a session"

    # Kinds that follow a missed session (the Follow-ups section); the rest have sections of their own.
    FOLLOWUP_KINDS = (Kind.FIRST, Kind.FIRST_LATE_CANCEL, Kind.FIRST_REPEAT, Kind.FIRST_INTAKE, Kind.SECOND)

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="message_templates")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=120)
    body = models.TextField(max_length=3000)
    # Bumped on every save; the default wording is version 0 (DEFAULT_VERSION). Outbox rows record it.
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practice", "kind"], name="one_template_per_kind")]

    def __str__(self) -> str:
        return self.get_kind_display()


class ReminderPlan(models.Model):
    """Reminders before a session: up to three, each "N hours before" on a channel. One per practice.

    Written as outbox rows of purpose "reminder" by the minute sweep
    (followups.reminders.reminders_write_due); quiet hours are the follow-up plan's.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "Text message"

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="reminder_plan")
    enabled = models.BooleanField(default=True, help_text="Remind clients before their sessions.")
    first_hours = models.PositiveSmallIntegerField(
        "First reminder, hours before",
        default=48,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_REMINDER_HOURS)],
    )
    first_channel = models.CharField("First reminder by", max_length=10, choices=Channel.choices, default="email")
    second_hours = models.PositiveSmallIntegerField(
        "Second reminder, hours before",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_REMINDER_HOURS)],
        help_text="Leave empty for no second reminder.",
    )
    second_channel = models.CharField("Second reminder by", max_length=10, choices=Channel.choices, default="sms")
    third_hours = models.PositiveSmallIntegerField(
        "Third reminder, hours before",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_REMINDER_HOURS)],
        help_text="Leave empty for no third reminder.",
    )
    third_channel = models.CharField("Third reminder by", max_length=10, choices=Channel.choices, default="sms")

    def __str__(self) -> str:
        return f"Reminder plan of practice #{self.practice_id}"

    def reminders(self) -> list[tuple[int, int, str]]:
        """(number, hours before, channel) of each reminder the plan sends; numbers are fixed per slot (1-3)."""
        slots = [
            (1, self.first_hours, self.first_channel),
            (2, self.second_hours, self.second_channel),
            (3, self.third_hours, self.third_channel),
        ]
        return [(n, hours, channel) for n, hours, channel in slots if hours]


# The version number outbox rows record when they used the built-in wording.
DEFAULT_VERSION = 0
# Kinds of wording an outbox row can be rendered with: the editable ones, and fixed
# e-mail templates (templates/emails/<name>-*) that are not edited in the app.
ACK_REQUEST_KIND = "ack_request"
WAITLIST_OFFER_KIND = "waitlist_offer"
OUTBOX_KINDS = [
    *MessageTemplate.Kind.choices,
    (ACK_REQUEST_KIND, "Policy acknowledgement request"),
    (WAITLIST_OFFER_KIND, "Waitlist offer of a freed time"),
]


class OutboxMessage(models.Model):
    """One message to one client: the row is the queue, whatever the purpose.

    Written in the transaction that causes it (a miss, a cleared safety check,
    an admin asking for acknowledgements); sent by a worker that claims it
    (pending → sending), checks it again with its purpose's checks, sends and
    records the result. `idempotency_key` names the purpose and the cause, so
    writing the same message twice adds nothing.
    """

    class Purpose(models.TextChoices):
        FOLLOWUP = "followup", "Follow-up after a missed session"
        ACK_REQUEST = "ack_request", "Policy acknowledgement request"
        REMINDER = "reminder", "Reminder before a session"
        # Registered by the waitlist app (waitlist/offers.py), which sits on top of the outbox.
        WAITLIST_OFFER = "waitlist_offer", "Waitlist offer of a freed time"

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

    class DeliveryStatus(models.TextChoices):
        NONE = "", "No report yet"
        DELIVERED = "delivered", "Delivered"
        BOUNCED = "bounced", "Bounced"
        COMPLAINED = "complained", "Marked as spam"
        FAILED = "failed", "Failed"
        UNDELIVERED = "undelivered", "Undelivered"

    # Delivery reports that mean the message did not reach the client.
    UNREACHED = (DeliveryStatus.BOUNCED, DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)

    class CancelCode(models.TextChoices):
        # The label is what staff read in the message log.
        UNDONE = "undone", "The missed-session mark was undone"
        REBOOKED = "rebooked", "The client rescheduled"
        ARCHIVED = "archived", "The client was archived"
        CONTACTED = "contacted", "Staff contacted the client"
        NO_CONSENT_EMAIL = "no_consent_email", "No consent to email"
        NO_CONSENT_SMS = "no_consent_sms", "No consent to text messages"
        PHONE_NEEDS_CHECK = "phone_needs_check", "The phone number needs checking"
        SAFETY_HOLD = "safety_hold", "Safety check: the clinician follows up in person"
        CORRECTED = "corrected", "The outcome was corrected"
        ACKNOWLEDGED = "acknowledged", "The client has already acknowledged this version"
        MOVED = "moved", "The session was moved"
        NOT_SCHEDULED = "not_scheduled", "The session is no longer scheduled"
        OPTED_OUT = "opted_out", "The client opted out of reminders"
        REMINDERS_OFF = "reminders_off", "Reminders are off"
        TOO_LATE = "too_late", "Too late: the session starts before this reminder could go out"
        SLOT_GONE = "slot_gone", "The offered time is no longer free"
        OFFER_ENDED = "offer_ended", "The offer ended before it could go out"
        LEFT_WAITLIST = "left_waitlist", "The client is no longer on the waitlist"
        STAFF = "staff", "Cancelled by staff"
        OTHER = "other", "Cancelled"

    # Rows cancelled for these reasons are never sent again: the reason still holds.
    FINAL_CANCEL_CODES = (
        CancelCode.UNDONE,
        CancelCode.CORRECTED,
        CancelCode.REBOOKED,
        CancelCode.ARCHIVED,
        CancelCode.ACKNOWLEDGED,
        CancelCode.MOVED,
        CancelCode.NOT_SCHEDULED,
        CancelCode.TOO_LATE,
        CancelCode.SLOT_GONE,
        CancelCode.OFFER_ENDED,
        CancelCode.LEFT_WAITLIST,
    )

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="outbox")
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.FOLLOWUP)
    # "<purpose>:<cause>", e.g. followup:<miss>:<step>, ack:<client>:<version>.
    idempotency_key = models.CharField(max_length=120, unique=True)
    missed_session = models.ForeignKey(
        NoShowEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    policy_version = models.ForeignKey(PolicyVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # A reminder's session, the start it reminds of, and which of the plan's reminders it is.
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    appointment_start = models.DateTimeField(null=True, blank=True)
    reminder_number = models.PositiveSmallIntegerField(null=True, blank=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="messages")
    step = models.CharField(max_length=10, choices=Step.choices, blank=True)
    kind = models.CharField(max_length=20, choices=OUTBOX_KINDS)
    # The wording version the message was rendered with (set when it is composed); null until then.
    template_version = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    # Bumped by "send again": each generation gets its own Message-ID, retries within one keep it.
    generation = models.PositiveSmallIntegerField(default=0)
    # The claim: who holds the row while it is "sending", and until when. Every change a worker
    # makes after claiming is conditional on its own token, so a worker whose lease ran out
    # (and whose row another worker may now hold) changes nothing (outbox_* in services.py).
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    # host:pid of the claiming worker, for the log line when its lease is lost. Never shown to clients.
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The point of no return of the current claim: set, after the last check, in the transaction
    # just before the channel is called. An undo cancels a row only before it.
    handed_over_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the provider calls the message: the Twilio message SID for a text, the ESP's message id
    # (or our own Message-ID under SMTP) for an email. Delivery-status callbacks find the row by it
    # (followups.delivery). Set once the provider accepted the current generation, and cleared by
    # "send again"; a row claimed again that already has it is not sent again.
    provider_message_id = models.CharField(max_length=200, blank=True, db_index=True)
    # What the provider last told us about the message after it accepted it. Only ever moves
    # forward (followups.delivery.DELIVERY_RANK): a late "delivered" never hides a bounce.
    delivery_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, blank=True)
    delivery_status_at = models.DateTimeField(null=True, blank=True)
    # Short, and no personal data: the provider's error code or bounce class, never the address.
    delivery_detail = models.CharField(max_length=100, blank=True)
    # Short, and never the message itself: the failure as the channel reported it.
    last_error = models.CharField(max_length=200, blank=True)
    # The last attempt failed because the channel itself was away (a mail server
    # down): the next successful send on that channel brings this row forward
    # instead of leaving it to its backoff (followups.services._catch_up).
    waiting_for_channel = models.BooleanField(default=False)
    cancel_code = models.CharField(max_length=20, choices=CancelCode.choices, blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["missed_session", "step"], name="one_message_per_miss_and_step"),
            # followups.reminders.reminders_write_due looks a reminder up by these three (beside the key).
            models.UniqueConstraint(
                fields=["appointment", "appointment_start", "reminder_number"],
                condition=Q(purpose="reminder"),
                name="one_reminder_per_session_start_and_number",
            ),
        ]
        indexes = [
            # followups.services.outbox_claim_batch: the sending sweeps (aftercare.tasks.sweep_followups,
            # followups.tasks.send_due).
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="outbox_due_idx"),
            # followups.services._catch_up: rows in backoff because their channel was away.
            models.Index(
                fields=["channel"],
                condition=Q(status="pending", waiting_for_channel=True),
                name="outbox_channel_back_idx",
            ),
            # followups.services.outbox_release_expired: rows whose worker lost its lease (same sweep).
            models.Index(fields=["lease_until"], condition=Q(status="sending"), name="outbox_lease_idx"),
            models.Index(fields=["practice", "status", "due_at"], name="outbox_practice_idx"),
            # followups.selectors.messages_for: the message log, newest first, a page at a time. Without it
            # PostgreSQL sorted the practice's rows after hashing the whole client table (issue 11).
            models.Index(fields=["practice", "-due_at", "-id"], name="outbox_practice_due_idx"),
            # followups.selectors.ack_request_progress: the Policies page's progress panel.
            models.Index(fields=["policy_version", "status"], name="outbox_ack_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} #{self.pk} ({self.status})"

    @property
    def status_label(self) -> str:
        """What staff read: a row past its point of no return is "On its way", not just "Sending"."""
        if self.status == self.Status.SENDING and self.handed_over_at is not None:
            return "On its way"
        if self.status == self.Status.SENT and self.delivery_status in self.UNREACHED:
            return self.Status.FAILED.label
        if self.status == self.Status.SENT and self.delivery_status == self.DeliveryStatus.DELIVERED:
            return "Delivered"
        if self.status == self.Status.SENT and self.delivery_status == self.DeliveryStatus.COMPLAINED:
            return "Delivered, marked as spam"
        # get_status_display()'s answer without rebuilding the choices' dict on each call (a row each,
        # ~9% of the Messages page, issue 11); str() of the label in the language active now, as it does.
        return str(_STATUS_LABELS.get(self.status, self.status))

    @property
    def could_not_reach(self) -> bool:
        """The send failed, or the provider reported back that the message did not arrive."""
        return self.status == self.Status.FAILED or (
            self.status == self.Status.SENT and self.delivery_status in self.UNREACHED
        )

    @property
    def can_send_again(self) -> bool:
        """Offered in the message log; outbox_send_again checks order too."""
        if self.status in (self.Status.PENDING, self.Status.SENDING):
            return False
        return not (self.status == self.Status.CANCELLED and self.cancel_code in self.FINAL_CANCEL_CODES)


_STATUS_LABELS = dict(OutboxMessage.Status.choices)


class ClientLink(models.Model):
    """A single-use, no-login link for one client. Only the SHA-256 of the random token is stored.

    One model for every purpose; `followups.services.client_link_use` is the one "used" transition.
    """

    class Purpose(models.TextChoices):
        REBOOK = "rebook", "Pick a new time after a missed session"
        ACKNOWLEDGE = "acknowledge", "Acknowledge a cancellation policy version"
        CONFIRM = "confirm", "Confirm a session from a reminder"
        CANT_MAKE_IT = "cant_make_it", "Say you can't make a session, from a reminder"
        MOVE = "move", "Move a session to another time, from a reminder"
        WAITLIST_OFFER = "waitlist_offer", "Take (or decline) a freed time offered from the waitlist"

    # Purposes whose link is for one session at one start: it expires at that start, and
    # a session since moved, cancelled or marked makes it unusable.
    SESSION_PURPOSES = (Purpose.CONFIRM, Purpose.CANT_MAKE_IT, Purpose.MOVE)

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="links")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    missed_session = models.ForeignKey(
        NoShowEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="client_links"
    )
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="client_links"
    )
    # The session a confirm, can't-make-it or move link is for.
    appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    new_appointment = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link #{self.pk}"


class MissReason(models.Model):
    """What the client said got in the way, if they chose to say. Only their clinician's practice sees it.

    Any session can have one: told after a miss (with its `missed_session`) or
    before, from a reminder's "I can't make it" link (a late cancel has its
    missed session too; a cancellation in time has none).
    """

    class Reason(models.TextChoices):
        UNWELL = "unwell", "I felt unwell"
        TRANSPORT = "transport", "Transport"
        FORGOT = "forgot", "I forgot"
        WORK_CHILDCARE = "work_childcare", "Work or childcare"
        NOT_UP_TO_IT = "not_up_to_it", "I didn't feel up to it"
        OTHER = "other", "Something else"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="client_reasons")
    missed_session = models.OneToOneField(
        NoShowEvent, null=True, blank=True, on_delete=models.CASCADE, related_name="client_reason"
    )
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    text = models.TextField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Reason for session #{self.appointment_id}"

    def save(self, *args, **kwargs):
        # The session of the missed session, when only that was given.
        if self.appointment_id is None and self.missed_session_id is not None:
            self.appointment_id = NoShowEvent.objects.values_list("appointment_id", flat=True).get(
                pk=self.missed_session_id
            )
        super().save(*args, **kwargs)


class ContactNote(models.Model):
    """Staff reached the client themselves: pending follow-ups for that miss stop."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    missed_session = models.OneToOneField(NoShowEvent, on_delete=models.CASCADE, related_name="contacted")
    contacted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    contacted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Contacted about missed session #{self.missed_session_id}"
