"""A fair waitlist for freed time: who waits for what, the time that frees up, and the offers made for it.

The rows are the truth (waitlist/services.py writes them):
- a `FreedSlot` is written in the same transaction as the cancel or move that frees the time;
- the minute sweep (`offers_advance`, task waitlist.tasks.sweep_waitlist) offers each open slot to the
  matching entries in order of joining, `offers_per_round` at a time, each offer held `hold_minutes`;
- each offer goes out as an outbox row of purpose "waitlist_offer" with a single-use link;
- the first to accept books the time under the slot's lock, then the clinician's lock.
"""

from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from appointments.models import Appointment, Client
from followups.models import ClientLink, OutboxMessage
from practice.models import Practice

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


def earliest_default() -> time:
    return time(8, 0)


def latest_default() -> time:
    return time(20, 0)


class WaitlistPlan(models.Model):
    """How a practice offers freed time. One per practice; defaults apply until an admin saves it."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="waitlist_plan")
    enabled = models.BooleanField(default=True, help_text="Offer freed time to clients on the waitlist.")
    hold_minutes = models.PositiveSmallIntegerField(
        "Hold each offer for (minutes)",
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
        help_text="How long the clients asked in one round have before the next ones are asked.",
    )
    min_lead_hours = models.PositiveSmallIntegerField(
        "Minimum notice (hours)",
        default=2,
        validators=[MaxValueValidator(72)],
        help_text="No offer goes out for a time that starts sooner than this.",
    )
    offers_per_round = models.PositiveSmallIntegerField(
        "Clients asked at a time",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
    )

    def __str__(self) -> str:
        return f"Waitlist plan of practice #{self.practice_id}"


class WaitlistEntryQuerySet(models.QuerySet):
    def active(self, today):
        return self.filter(left_at__isnull=True, expires_on__gte=today)

    def for_membership(self, membership):
        """Entries of the clients this member may see (Client.objects.for_membership)."""
        if membership is None:
            return self.none()
        return self.filter(practice_id=membership.practice_id, client__in=Client.objects.for_membership(membership))


class WaitlistEntry(models.Model):
    """One client waiting for earlier time: with whom, on which days, between which times, until when."""

    class Left(models.TextChoices):
        STAFF = "staff", "Removed by staff"
        CLIENT = "client", "Left from an offer"
        BOOKED = "booked", "Took an offered time"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="waitlist_entries")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="waitlist_entries")
    # Empty: any clinician of the practice.
    clinicians = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # Weekday numbers (0 = Monday) in the practice's zone; empty: any day.
    weekdays = models.JSONField(default=list, blank=True)
    earliest = models.TimeField("Earliest start", default=earliest_default)
    latest = models.TimeField("Latest end", default=latest_default, help_text="The session must end by this time.")
    expires_on = models.DateField("Waiting until")
    # Join order is fairness: the earliest joiner is asked first.
    joined_at = models.DateTimeField()
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    left_at = models.DateTimeField(null=True, blank=True)
    left_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    left_how = models.CharField(max_length=10, choices=Left.choices, blank=True)
    booked = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = WaitlistEntryQuerySet.as_manager()

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client"], condition=Q(left_at__isnull=True), name="one_waiting_entry_per_client"
            ),
        ]
        indexes = [
            # waitlist.services._matching_entries: the practice's waiting entries in join order.
            models.Index(
                fields=["practice", "joined_at"], condition=Q(left_at__isnull=True), name="waitlist_order_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Waitlist entry #{self.pk}"

    @property
    def weekday_names(self) -> str:
        names = dict(WEEKDAYS)
        return ", ".join(names[d] for d in sorted(self.weekdays)) if self.weekdays else "Any day"


class FreedSlot(models.Model):
    """Time a cancel or move freed, offered to the waitlist while it is open."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        TAKEN = "taken", "Taken from the waitlist"
        BOOKED_ELSEWHERE = "booked", "Booked by other means"
        EXPIRED = "expired", "No longer offered"

    class Cause(models.TextChoices):
        CANCELLED = "cancelled", "Cancelled"
        LATE_CANCEL = "late_cancel", "Late cancel"
        MOVED = "moved", "Moved"
        REBOOKED = "rebooked", "Rebooked elsewhere"

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="freed_slots")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()
    end = models.DateTimeField()
    cause = models.CharField(max_length=20, choices=Cause.choices)
    # The session whose cancel or move freed the time.
    freed_by = models.ForeignKey(Appointment, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    round = models.PositiveSmallIntegerField(default=0)
    # The current round's hold ends here; the sweep asks the next ones after it (null: nobody asked yet).
    round_until = models.DateTimeField(null=True, blank=True)
    booked = models.ForeignKey(Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinician", "start"], condition=Q(status="open"), name="one_open_freed_slot_per_time"
            ),
        ]
        indexes = [
            # waitlist.services.offers_advance: the minute sweep's open slots.
            models.Index(fields=["start"], condition=Q(status="open"), name="freed_slot_open_idx"),
            models.Index(fields=["practice", "-start"], name="freed_slot_practice_idx"),
        ]

    def __str__(self) -> str:
        return f"Freed slot #{self.pk} ({self.status})"


class WaitlistOffer(models.Model):
    """One freed slot offered to one waiting client, in one round."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting for an answer"
        ACCEPTED = "accepted", "Accepted"
        TAKEN = "taken", "Taken by someone else"
        EXPIRED = "expired", "No answer in time"
        LEFT = "left", "Left the waitlist"
        WITHDRAWN = "withdrawn", "Withdrawn: the time is no longer free"

    slot = models.ForeignKey(FreedSlot, on_delete=models.CASCADE, related_name="offers")
    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    round = models.PositiveSmallIntegerField()
    offered_at = models.DateTimeField()
    held_until = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    answered_at = models.DateTimeField(null=True, blank=True)
    message = models.OneToOneField(OutboxMessage, null=True, on_delete=models.SET_NULL, related_name="waitlist_offer")
    # Every link sent for this offer (a retried send composes a new one; each works).
    links = models.ManyToManyField(ClientLink, blank=True, related_name="+")

    class Meta:
        ordering = ["round", "id"]
        constraints = [models.UniqueConstraint(fields=["slot", "entry"], name="one_offer_per_slot_and_entry")]

    def __str__(self) -> str:
        return f"Waitlist offer #{self.pk} ({self.outcome})"
