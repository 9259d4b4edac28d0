"""A client's engagement: the clinician's private reflection notes and the ladder's check-in tasks.

This app sits between the outbox (followups) and the after-miss pipeline
(aftercare): it reads appointments, missed sessions, follow-ups and the
ladder (policies.EscalationStep); aftercare calls its services.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from appointments.models import Client, NoShowEvent
from policies.models import EscalationStep
from practice.models import Practice


class ReflectionNoteQuerySet(models.QuerySet):
    def for_membership(self, membership):
        """The notes this member may read: their own; a practice admin reads the practice's.

        Other clinicians and front desk get none (a 404 for a direct address).
        """
        if membership is None:
            return self.none()
        qs = self.filter(practice_id=membership.practice_id)
        if membership.is_admin:
            return qs
        if not membership.is_clinician:
            return qs.none()
        return qs.filter(author_id=membership.user_id)


class ReflectionNote(models.Model):
    """What a clinician will try after a miss (a different time, telehealth, a check-in call).

    Private: the author and practice admins only; every create, edit and view is audited.
    """

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="reflection_notes")
    missed_session = models.ForeignKey(
        NoShowEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="reflection_notes"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReflectionNoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="reflection_client_idx")]

    def __str__(self) -> str:
        return f"Reflection note #{self.pk}"


class CheckInTaskQuerySet(models.QuerySet):
    def for_membership(self, membership):
        """A clinician's own tasks; admins see the practice's; front desk none (clinical)."""
        if membership is None:
            return self.none()
        qs = self.filter(practice_id=membership.practice_id)
        if membership.is_admin:
            return qs
        if not membership.is_clinician:
            return qs.none()
        return qs.filter(clinician_id=membership.user_id)


class CheckInTask(models.Model):
    """A ladder step reached: the clinician is asked to check in, with a suggested script they may edit.

    Written by the after-miss pipeline (engagement.services.checkin_tasks_for_miss)
    at most once per client, step and window: `first_miss` is the start of the
    first miss the step counted, which stays the same for every later miss of
    the same run, and for a redelivered one. Done when the clinician records
    what they did; cancelled when the miss that made it is undone.
    """

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="checkin_tasks")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="checkin_tasks")
    step = models.ForeignKey(EscalationStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks")
    missed_session = models.ForeignKey(NoShowEvent, on_delete=models.CASCADE, related_name="checkin_tasks")
    first_miss = models.DateTimeField()
    # Copied from the step, so a later edit of the ladder changes no task already given.
    # step_number: the step's place on the ladder when the task was given (1 = gentlest), shown on Today.
    step_number = models.PositiveSmallIntegerField(default=1)
    title = models.CharField(max_length=150)
    misses = models.PositiveSmallIntegerField()
    window_days = models.PositiveSmallIntegerField()
    script = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    what_was_done = models.TextField(max_length=2000, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = CheckInTaskQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "step", "first_miss"], name="one_checkin_per_step_window"),
        ]
        indexes = [
            # engagement.selectors.checkin_tasks_open (Today).
            models.Index(
                fields=["practice", "clinician", "created_at"],
                condition=Q(done_at__isnull=True, cancelled_at__isnull=True),
                name="checkin_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Check-in task #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.done_at is None and self.cancelled_at is None
