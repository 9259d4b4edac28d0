"""Reads for policy, fee and safety-check pages, scoped to a membership."""

from datetime import date, datetime, time, timedelta

from django.db.models import Case, Exists, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from practice.models import Membership

from . import rules, services
from .models import Acknowledgement, EscalationStep, FeeAssessment, FeeChange, PolicyVersion, SafetyCheck

State = FeeAssessment.State


def _closing_changes() -> Prefetch:
    """The waiver or void of each fee, newest first: one query per page, whatever its length."""
    return Prefetch(
        "changes",
        queryset=FeeChange.objects.filter(to_state__in=[State.WAIVED, State.VOID]).order_by("-at", "-id"),
        to_attr="closing_changes",
    )


def policy_versions(*, membership: Membership) -> QuerySet:
    return PolicyVersion.objects.filter(practice_id=membership.practice_id).prefetch_related("overrides")


def policy_versions_with_current(*, membership: Membership) -> tuple[list[PolicyVersion], PolicyVersion | None]:
    """Every version (with its overrides) and the one in force now, from the same two queries."""
    versions = list(policy_versions(membership=membership))
    current = rules.version_in_force([(v.effective_at, v.number, v) for v in versions], timezone.now())
    return versions, current


def policy_current(*, membership: Membership, overrides: bool = True) -> PolicyVersion | None:
    """The version in force now; `overrides=False` when the page shows only its number (one query less)."""
    return services.policy_in_force(practice_id=membership.practice_id, at=timezone.now(), overrides=overrides)


# A client counts as active with a session in this many days before now, or one booked ahead.
ACTIVE_DAYS = 90
NOT_A_SESSION = (Appointment.Status.CANCELLED_IN_TIME, Appointment.Status.CANCELLED_BY_CLINICIAN)


def clients_active(*, practice_id: int, now: datetime) -> QuerySet:
    """Not archived, with a session in the last ACTIVE_DAYS days or one booked ahead (one query)."""
    recent = Appointment.objects.filter(
        client=OuterRef("pk"), start__gte=now - timedelta(days=ACTIVE_DAYS), start__lt=now
    ).exclude(status__in=NOT_A_SESSION)
    ahead = Appointment.objects.filter(client=OuterRef("pk"), start__gte=now, status=Appointment.Status.SCHEDULED)
    return Client.objects.filter(practice_id=practice_id, is_archived=False).filter(Exists(recent) | Exists(ahead))


def clients_unacknowledged(*, practice_id: int, version: PolicyVersion, now: datetime) -> QuerySet:
    """Active clients with no acknowledgement of `version`."""
    acknowledged = Acknowledgement.objects.filter(client=OuterRef("pk"), version=version)
    return clients_active(practice_id=practice_id, now=now).exclude(Exists(acknowledged))


def fees_for(*, membership: Membership) -> QuerySet:
    """Fees this member may see: the practice's, or a clinician's own clients'."""
    qs = FeeAssessment.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(clinician_id=membership.user_id)
    # Sorted and filtered on the fee's own copies of the session's start and clinician
    # (indexes fee_practice_start_idx, fee_practice_clinician_idx), not through the join.
    return (
        qs.select_related("client", "clinician", "policy_version", "charged_under", "missed_session")
        .prefetch_related(_closing_changes())
        .order_by("-session_start", "-id")
    )


def fees_filtered(
    *,
    membership: Membership,
    state: str = "",
    clinician_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet:
    """By default every fee but the voided ones (undone marks among them): those
    are kept, under the "voided" state, out of the day-to-day view."""
    qs = fees_for(membership=membership)
    zone = membership.practice.time_zone
    qs = qs.filter(state=state) if state else qs.exclude(state=State.VOID)
    if clinician_id:
        qs = qs.filter(clinician_id=clinician_id)
    if date_from:
        qs = qs.filter(session_start__gte=datetime.combine(date_from, time.min, tzinfo=zone))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
        qs = qs.filter(session_start__lt=end)
    return qs


# The columns a fee row shows (policies.rows.fee_row), and nothing more: the Fees page read every
# column of the fee, its client, its clinician (password hash, dates), its missed session and two
# versions, 50 times per page, and turning them into objects was the page's largest part after
# the row cache (issue 11). A column read later that is not here costs a query per row:
# tests/appointments/test_page_query_counts.py would count it.
FEE_ROW_FIELDS = (
    "state",
    "session_start",
    "amount",
    "currency",
    "due_at",
    "rule_detail",
    "policy_version",
    "charged_under",
    "client__first_name",
    "client__last_name",
    "clinician__first_name",
    "clinician__last_name",
    "clinician__username",
    "missed_session__kind",
    "policy_version__number",
    "charged_under__number",
)


def fees_for_rows(qs: QuerySet) -> QuerySet:
    """`fees_filtered`'s fees with only what their rows show (not for the CSV, which shows more)."""
    return qs.only(*FEE_ROW_FIELDS)


def client_fees(*, client: Client) -> QuerySet:
    """One row per missed session: a fee whose mark was undone is hidden here
    (the Fees page keeps it under "voided"), unless it was paid, since money
    taken for an undone miss must stay in sight until it is refunded."""
    return (
        FeeAssessment.objects.filter(client=client)
        .exclude(Q(missed_session__undone_at__isnull=False) & ~Q(state=State.PAID))
        .select_related("policy_version", "charged_under", "missed_session")
        .prefetch_related(_closing_changes())
        .order_by("-session_start", "-id")
    )


def client_acknowledgement(*, client: Client, version: PolicyVersion | None) -> Acknowledgement | None:
    """The client's acknowledgement of `version` if there is one, else the latest
    they gave of a version already in effect (misses are then charged under it
    or `version`, whichever is less), else None."""
    if version is None:
        return None
    # One query: this version's acknowledgement sorts first, then the latest in effect.
    return (
        Acknowledgement.objects.filter(client=client, version__practice_id=version.practice_id)
        .filter(Q(version=version) | Q(version__effective_at__lte=timezone.now()))
        .select_related("version")
        .order_by(
            Case(When(version=version, then=Value(0)), default=Value(1)),
            "-version__effective_at",
            "-version__number",
        )
        .first()
    )


def safety_checks_open(*, membership: Membership) -> QuerySet:
    """Open checks: a clinician's own; admins see the practice's (front desk sees none: clinical)."""
    qs = SafetyCheck.objects.filter(practice_id=membership.practice_id, completed_at=None)
    if membership.is_admin:
        pass
    elif membership.is_clinician:
        qs = qs.filter(clinician_id=membership.user_id)
    else:
        return qs.none()
    return qs.select_related("missed_session__appointment__client", "clinician").order_by("created_at")


def safety_checks_for(*, membership: Membership) -> QuerySet:
    qs = SafetyCheck.objects.filter(practice_id=membership.practice_id)
    if not membership.is_admin:
        qs = qs.filter(clinician_id=membership.user_id)
    return qs


def missed_appointment_for_makeup(*, membership: Membership, pk: int) -> Appointment | None:
    return (
        Appointment.objects.for_membership(membership)
        .filter(pk=pk, status__in=Appointment.MISSED_STATUSES)
        .select_related("client", "practice")
        .first()
    )


def escalation_steps(*, practice_id: int) -> QuerySet:
    """The practice's ladder for repeated misses, lowest step first (a handful of rows)."""
    return EscalationStep.objects.filter(practice_id=practice_id).order_by("count", "window_days", "id")


def ladder_reached(*, appointment: Appointment) -> list[rules.Reached]:
    """The ladder steps a miss of `appointment` reaches, lowest first; empty when it is not a repeated miss.

    The one definition of "repeated misses" (the follow-up wording and the
    check-in tasks both ask here). Two queries: the steps, then the starts of
    the client's live misses inside the widest window (no-shows and late
    cancels alike; undone marks do not count).
    """
    steps = [(s.count, s.window_days, s) for s in escalation_steps(practice_id=appointment.practice_id)]
    if not steps:
        return []
    zone = appointment.practice.time_zone
    widest = max(days for _, days, _ in steps)
    since = rules.ladder_window_start(start=appointment.start, days=widest, zone=zone)
    starts = list(
        NoShowEvent.objects.filter(
            appointment__client_id=appointment.client_id,
            undone_at=None,
            appointment__start__gte=since,
            appointment__start__lte=appointment.start,
        ).values_list("appointment__start", flat=True)
    )
    return rules.ladder_reached(steps, starts, at=appointment.start, zone=zone)
