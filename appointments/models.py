"""Clients, their appointments, and the record of each missed session."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from practice.models import Membership, Practice
from practice.urlcache import reverse_pk


class ClientQuerySet(models.QuerySet):
    def for_membership(self, membership: Membership | None):
        """The clients this member may see: all of the practice, or a clinician's own.

        A clinician's own clients are those assigned to them, and anyone they
        have an appointment with.
        """
        if membership is None:
            return self.none()
        qs = self.filter(practice_id=membership.practice_id)
        if membership.sees_whole_practice:
            return qs
        has_session = Appointment.objects.filter(client=OuterRef("pk"), clinician=membership.user_id)
        return qs.filter(Q(clinician=membership.user_id) | Exists(has_session))


class Client(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "Text message"
        PHONE = "phone", "Phone call"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="clients")
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="clients",
        help_text="The clinician who holds this client's care.",
    )
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    # E.164 ("+12125550100"), read with the practice's country when typed
    # without one (practice/phones.py). A number on file from before that
    # does not parse is kept as written and flagged for staff to check.
    phone = models.CharField(max_length=40, blank=True)
    phone_needs_review = models.BooleanField(
        "phone number needs checking",
        default=False,
        help_text="The number on file could not be read; no text messages go to it until staff correct it.",
    )
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    consent_email = models.BooleanField("Consents to email", default=False)
    consent_sms = models.BooleanField("Consents to text messages", default=False)
    # Set by the clinician. A missed session then alerts the clinician
    # before anything is sent to the client or charged.
    needs_safety_check = models.BooleanField("Needs a safety check if a session is missed", default=False)
    # The therapist's choice: follow-ups remind this client that their
    # between-session exercises are there.
    mention_exercises = models.BooleanField("Mention between-session exercises in follow-ups", default=False)
    reminders_opt_out = models.BooleanField(
        "No reminders before sessions", default=False, help_text="The client asked not to be reminded."
    )
    is_archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["practice", "last_name", "first_name"], name="client_name_idx")]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        return reverse_pk("appointments:client_detail", self.pk)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def sms_number(self) -> str:
        """The number texts go to: none while the number on file needs checking."""
        return "" if self.phone_needs_review else self.phone


class ClinicianOwnedQuerySet(models.QuerySet):
    """Rows with a practice and a clinician: series, appointments, availability windows."""

    def for_membership(self, membership: Membership | None):
        """What this member may see: the practice's rows, or a clinician's own."""
        if membership is None:
            return self.none()
        qs = self.filter(practice_id=membership.practice_id)
        if membership.sees_whole_practice:
            return qs
        return qs.filter(clinician=membership.user_id)


class AppointmentSeries(models.Model):
    """Weekly sessions booked together with one form."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="series")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="series")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    weeks = models.PositiveSmallIntegerField()
    # The weeks not booked because they clashed, as ISO start instants (UTC),
    # so the series page can offer to book each one at another time.
    skipped = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicianOwnedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "appointment series"

    def __str__(self) -> str:
        return f"Weekly series of {self.weeks} for client #{self.client_id}"

    def get_absolute_url(self) -> str:
        return reverse("appointments:series_detail", args=[self.pk])


class AppointmentQuerySet(ClinicianOwnedQuerySet):
    def holding_time(self):
        """Appointments that occupy the clinician's time (a double booking would clash)."""
        return self.filter(status__in=Appointment.BLOCKING_STATUSES)


class Appointment(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        ATTENDED = "attended", "Attended"
        NO_SHOW = "no_show", "No-show"
        LATE_CANCEL = "late_cancel", "Late cancel"
        CANCELLED_IN_TIME = "cancelled_in_time", "Cancelled by client in time"
        CANCELLED_BY_CLINICIAN = "cancelled_by_clinician", "Cancelled by clinician"
        RESCHEDULED = "rescheduled", "Rescheduled"

    class Initiator(models.TextChoices):
        CLIENT = "client", "Client"
        CLINICIAN = "clinician", "Clinician"
        PRACTICE = "practice", "Practice"

    class ReasonCode(models.TextChoices):
        NONE = "", "No reason given"
        ILLNESS = "illness", "Illness"
        EMERGENCY = "emergency", "Emergency"
        SCHEDULING = "scheduling", "Scheduling conflict"
        TRANSPORT = "transport", "Transport"
        WEATHER = "weather", "Weather"
        CLINICIAN_UNAVAILABLE = "clinician_unavailable", "Clinician unavailable"
        OTHER = "other", "Other"

    class ClientResponse(models.TextChoices):
        # What the client said through a reminder's links (followups: "I can't make it", "Move it").
        NONE = "", "No answer"
        CANT_MAKE_IT = "cant_make_it", "Can't make it"
        MOVED = "moved", "Moved by client"

    class SessionType(models.TextChoices):
        INTAKE = "intake", "Intake"
        INDIVIDUAL = "individual", "Individual"
        COUPLES = "couples", "Couples"
        FAMILY = "family", "Family"
        GROUP = "group", "Group"

    class Modality(models.TextChoices):
        IN_PERSON = "in_person", "In person"
        TELEHEALTH = "telehealth", "Telehealth"

    # A no-show still held the clinician's hour; cancellations free it.
    BLOCKING_STATUSES = (Status.SCHEDULED, Status.ATTENDED, Status.NO_SHOW)
    MISSED_STATUSES = (Status.NO_SHOW, Status.LATE_CANCEL)

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="appointments")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="appointments")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments")
    start = models.DateTimeField()
    end = models.DateTimeField()
    session_type = models.CharField(max_length=20, choices=SessionType.choices, default=SessionType.INDIVIDUAL)
    modality = models.CharField(max_length=20, choices=Modality.choices, default=Modality.IN_PERSON)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.SCHEDULED)
    # Who changed the status and why, kept apart from the status itself.
    initiated_by = models.CharField(max_length=20, choices=Initiator.choices, blank=True)
    reason_code = models.CharField(max_length=30, choices=ReasonCode.choices, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    series = models.ForeignKey(
        AppointmentSeries, null=True, blank=True, on_delete=models.SET_NULL, related_name="appointments"
    )
    rescheduled_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rescheduled_to"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The client confirmed from a reminder's link; moving the session clears it.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The client answered a reminder: "can't make it" (the status says cancelled or late cancel)
    # or moved it themselves (the start is the new one). A move by staff clears it.
    # db_default: rows written by code that predates the column (old migrations' states) still insert.
    client_response = models.CharField(max_length=20, choices=ClientResponse.choices, blank=True, db_default="")
    client_responded_at = models.DateTimeField(null=True, blank=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="appointment_end_after_start"),
        ]
        indexes = [
            models.Index(fields=["clinician", "start"], name="appt_clinician_start_idx"),
            models.Index(fields=["practice", "start"], name="appt_practice_start_idx"),
            # "Needs outcome": scheduled appointments whose start has passed.
            models.Index(
                fields=["practice", "start"],
                condition=Q(status="scheduled"),
                name="appt_awaiting_outcome_idx",
            ),
            # followups.reminders.reminders_write_due: scheduled sessions starting soon (the reminder sweep).
            models.Index(fields=["start"], condition=Q(status="scheduled"), name="appt_reminder_sweep_idx"),
        ]

    def __str__(self) -> str:
        return f"Appointment #{self.pk} at {self.start:%Y-%m-%d %H:%M} UTC"

    def get_absolute_url(self) -> str:
        return reverse_pk("appointments:appointment_edit", self.pk)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def has_started(self) -> bool:
        return self.start <= timezone.now()

    @property
    def is_missed(self) -> bool:
        return self.status in self.MISSED_STATUSES

    @property
    def undo_until(self):
        """Until when the recorded outcome can be undone; None if there is none to undo."""
        if self.status in (self.Status.SCHEDULED, self.Status.RESCHEDULED):
            return None
        if self.status_changed_at is None:
            return None
        return self.status_changed_at + timedelta(minutes=self.practice.undo_window_minutes)

    @property
    def can_undo(self) -> bool:
        until = self.undo_until
        return until is not None and timezone.now() <= until


class NoShowEvent(models.Model):
    """The record of one missed session: a no-show or a late cancel.

    The row is also the durable record of the work the miss still needs
    (`processed_at` is null until the after-miss pipeline has run). An undo
    keeps the row, stamped `undone_at`, so that what happened stays on file.
    """

    class Kind(models.TextChoices):
        NO_SHOW = "no_show", "No-show"
        LATE_CANCEL = "late_cancel", "Late cancel"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="missed_sessions")
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="missed_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=500, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The client told us themselves, from a reminder's "I can't make it" link: they already
    # had a confirmation, so no after-miss follow-up is written (followups_plan). The fee
    # and a safety check still follow the usual pipeline.
    told_by_client = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            # Exactly one live missed-session record per appointment. Undone
            # records stay for the audit trail and do not count.
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(undone_at__isnull=True),
                name="one_missed_session_per_appointment",
            ),
        ]
        indexes = [
            # Used by aftercare.services.missed_sessions_unprocessed (the beat sweep).
            models.Index(
                fields=["recorded_at"],
                condition=Q(processed_at__isnull=True, undone_at__isnull=True),
                name="missed_unprocessed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for appointment #{self.appointment_id}"


class Availability(models.Model):
    """One weekly window in which a clinician offers sessions, in the practice's wall-clock time.

    09:00-12:00 on Mondays stays 09:00-12:00 local across a DST change. The
    open slots it yields are worked out by appointments.slots.open_slots.
    Overlapping windows are refused by appointments.services.availability_add
    (the database cannot say "no overlapping ranges" portably).
    """

    class Weekday(models.IntegerChoices):
        # date.weekday() numbering.
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    MIN_SESSION_MINUTES = 15
    MAX_SESSION_MINUTES = 240
    MAX_BUFFER_MINUTES = 120
    GRID_CHOICES = [(15, "quarter hour"), (30, "half hour"), (60, "hour")]

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="availability")
    # Windows have no history worth keeping once the clinician is gone.
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="availability")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start_time = models.TimeField("from")
    end_time = models.TimeField("to")
    # Each of these three left empty follows the practice's default
    # (Practice.session_minutes, buffer_minutes, slot_grid_minutes); see `effective`.
    session_minutes = models.PositiveSmallIntegerField(
        "session length (minutes)",
        null=True,
        blank=True,
        validators=[MinValueValidator(MIN_SESSION_MINUTES), MaxValueValidator(MAX_SESSION_MINUTES)],
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        "buffer between sessions (minutes)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_BUFFER_MINUTES)],
    )
    grid_minutes = models.PositiveSmallIntegerField("start times every", null=True, blank=True, choices=GRID_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicianOwnedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "availability"
        ordering = ["clinician", "weekday", "start_time"]
        constraints = [
            # A window cannot run past midnight: end after start on the same day.
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="availability_end_after_start"),
            models.CheckConstraint(
                condition=Q(session_minutes__isnull=True) | Q(session_minutes__gte=15, session_minutes__lte=240),
                name="availability_session_minutes_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"

    def effective(self, practice: Practice | None = None) -> tuple[int, int, int]:
        """(session, buffer, grid) minutes: this window's own, or the practice's default for each left empty."""
        practice = practice or self.practice
        return (
            self.session_minutes or practice.session_minutes,
            self.buffer_minutes if self.buffer_minutes is not None else practice.buffer_minutes,
            self.grid_minutes or practice.slot_grid_minutes,
        )
