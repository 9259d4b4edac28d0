"""Versioned cancellation policies, clients' acknowledgements, and the fee ledger."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from appointments.models import Appointment, Client, NoShowEvent
from practice.models import Practice

from . import rules

MONEY = {"max_digits": 8, "decimal_places": 2, "validators": [MinValueValidator(Decimal("0"))]}


class PolicyVersion(models.Model):
    """One saved version of a practice's cancellation policy. Never edited once saved."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="policy_versions")
    number = models.PositiveIntegerField()
    effective_at = models.DateTimeField(help_text="Misses of sessions starting from this moment use this version.")
    currency = models.CharField(max_length=3, default="USD")
    notice_hours = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(24 * 365)],
        help_text="A client cancellation less than this many hours before the start is a late cancel.",
    )
    late_cancel_fee = models.DecimalField(**MONEY)
    no_show_fee = models.DecimalField(**MONEY)
    grace_count = models.PositiveSmallIntegerField(
        default=0, help_text="The first N misses in the grace window are not charged (0 turns grace off)."
    )
    grace_days = models.PositiveSmallIntegerField(
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(366)],
        help_text="The rolling grace window.",
    )
    exempt_intake = models.BooleanField("Exempt intake sessions", default=True)
    makeup_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MaxValueValidator(90)],
        help_text="Waive the fee if a make-up session is booked within this many days (0 turns it off).",
    )
    hold_hours = models.PositiveSmallIntegerField(
        default=48,
        validators=[MaxValueValidator(24 * 30)],
        help_text=("A fee is proposed, and becomes due this many hours later unless staff waive it (0: due at once)."),
    )
    summary = models.TextField(blank=True, help_text="The policy as clients read it when they acknowledge it.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["practice", "-effective_at", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "number"], name="policy_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"Policy v{self.number}"

    def terms(self) -> rules.Terms:
        overrides = {o.session_type: (o.no_show_fee, o.late_cancel_fee) for o in self.overrides.all()}
        return rules.Terms(
            notice_hours=self.notice_hours,
            no_show_fee=self.no_show_fee,
            late_cancel_fee=self.late_cancel_fee,
            grace_count=self.grace_count,
            grace_days=self.grace_days,
            exempt_intake=self.exempt_intake,
            makeup_days=self.makeup_days,
            hold_hours=self.hold_hours,
            overrides=overrides,
        )


class FeeOverride(models.Model):
    """A different fee for one session type (an intake may differ from an ongoing session)."""

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="overrides")
    session_type = models.CharField(max_length=20, choices=Appointment.SessionType.choices)
    no_show_fee = models.DecimalField(null=True, blank=True, **MONEY)
    late_cancel_fee = models.DecimalField(null=True, blank=True, **MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "session_type"], name="fee_override_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_session_type_display()} fees for v{self.version.number}"


class Acknowledgement(models.Model):
    """A client's acknowledgement of one policy version: fees are charged only under these."""

    class Method(models.TextChoices):
        IN_PERSON = "in_person", "Signed in person"
        PAPER = "paper", "Paper form on file"
        LINK = "link", "Accepted through a link"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="acknowledgements")
    version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="acknowledgements")
    method = models.CharField(max_length=20, choices=Method.choices)
    acknowledged_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(fields=["client", "version"], name="one_acknowledgement_per_version"),
        ]

    def __str__(self) -> str:
        return f"Client #{self.client_id} acknowledged v{self.version.number}"


class SafetyCheck(models.Model):
    """A miss by a client flagged for a safety check. Nothing is sent or charged until it is done."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    missed_session = models.OneToOneField(NoShowEvent, on_delete=models.CASCADE, related_name="safety_check")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="safety_checks")
    created_at = models.DateTimeField(auto_now_add=True)
    alert_sent_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # policies.selectors.safety_checks_open: the dashboard banner.
            models.Index(fields=["clinician"], condition=Q(completed_at__isnull=True), name="safety_open_idx"),
        ]

    def __str__(self) -> str:
        return f"Safety check for missed session #{self.missed_session_id}"


class FeeAssessment(models.Model):
    """Exactly one per missed session: what was decided, and where it stands."""

    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed (in review)"
        DUE = "due", "Due"
        PAID = "paid", "Paid"
        WAIVED = "waived", "Waived"
        VOID = "void", "Void"
        NOT_CHARGED = "not_charged", "Not charged"

    class WaiverReason(models.TextChoices):
        HARDSHIP = "hardship", "Financial hardship"
        ILLNESS = "illness", "Illness or medical reason"
        EMERGENCY = "emergency", "Emergency"
        CLINICAL = "clinical", "Clinical judgement"
        PRACTICE_ERROR = "practice_error", "Practice error"
        MAKEUP = "makeup", "Make-up session booked"
        OTHER = "other", "Other"

    OPEN_STATES = (State.PROPOSED, State.DUE)

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="fees")
    missed_session = models.OneToOneField(NoShowEvent, on_delete=models.PROTECT, related_name="fee")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="fees")
    # The version in force at the session's start ...
    policy_version = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="fees"
    )
    # ... and the one the miss was judged and charged under: the lesser of that
    # and the latest version the client had acknowledged (rules.assess_lesser).
    # Null when the client had acknowledged none (or there was no policy).
    charged_under = models.ForeignKey(
        PolicyVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="fees_charged"
    )
    state = models.CharField(max_length=20, choices=State.choices)
    amount = models.DecimalField(max_digits=8, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    rule = models.CharField(max_length=30)
    rule_detail = models.CharField(max_length=200)
    due_at = models.DateTimeField(null=True, blank=True)
    # Copied from the missed session's appointment when the fee is written (issue 11): the Fees
    # page sorts and filters by them, and through the join it scanned the missed-session table
    # of a 1M-row database. They never change: a missed session is not moved, and a corrected
    # or undone mark voids the fee instead. Null only for rows no service wrote.
    session_start = models.DateTimeField(null=True, blank=True)
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["practice", "state", "created_at"], name="fee_practice_state_idx"),
            # policies.selectors.fees_for: the Fees page, newest session first, and its clinician filter.
            models.Index(fields=["practice", "-session_start", "-id"], name="fee_practice_start_idx"),
            models.Index(fields=["practice", "clinician", "-session_start"], name="fee_practice_clinician_idx"),
            # policies.services.fees_mark_due: the beat sweep that ends review holds.
            models.Index(fields=["due_at"], condition=Q(state="proposed"), name="fee_hold_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Fee #{self.pk} ({self.state})"

    @property
    def closing_change(self) -> "FeeChange | None":
        """The change that waived or voided the fee, if any (prefetched by the fee selectors)."""
        changes = getattr(self, "closing_changes", None)
        if changes is None:
            changes = list(
                self.changes.filter(to_state__in=[self.State.WAIVED, self.State.VOID]).order_by("-at", "-id")
            )
        return changes[0] if changes else None


class FeeChange(models.Model):
    """Every change to a fee: who, when, from what to what, and why."""

    fee = models.ForeignKey(FeeAssessment, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    reason_code = models.CharField(max_length=30, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or 'new'} → {self.to_state}"

    @property
    def reason_label(self) -> str:
        if self.reason_code in FeeAssessment.WaiverReason.values:
            return FeeAssessment.WaiverReason(self.reason_code).label
        return {"undo": "Mark undone"}.get(self.reason_code, "")


class EscalationStep(models.Model):
    """One rung of a practice's supportive ladder for repeated misses (Policies → Repeated misses).

    "`count` misses in `window_days` days" (no-shows and late cancels alike).
    The ladder is the one definition of a repeated miss: a miss that reaches
    any step gets the repeat-miss wording (followups.services._first_kind)
    and a check-in task for the clinician (engagement.services). A step never
    charges, blocks booking or discharges: those stay human decisions.
    """

    MIN_COUNT, MAX_COUNT = 2, 20
    MIN_WINDOW, MAX_WINDOW = 1, 365

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="escalation_steps")
    count = models.PositiveSmallIntegerField(
        "misses", validators=[MinValueValidator(MIN_COUNT), MaxValueValidator(MAX_COUNT)]
    )
    window_days = models.PositiveSmallIntegerField(
        "within (days)", validators=[MinValueValidator(MIN_WINDOW), MaxValueValidator(MAX_WINDOW)]
    )
    title = models.CharField("what the clinician is asked to do", max_length=150)
    script = models.TextField("suggested script", max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["count", "window_days", "id"]
        constraints = [
            models.UniqueConstraint(fields=["practice", "count", "window_days"], name="one_step_per_count_window"),
            models.CheckConstraint(condition=Q(count__gte=2, count__lte=20), name="step_count_2_to_20"),
            models.CheckConstraint(condition=Q(window_days__gte=1, window_days__lte=365), name="step_window_1_to_365"),
        ]

    def __str__(self) -> str:
        return f"{self.count} misses in {self.window_days} days"
