"""Reads for policy, fee and safety-check pages, scoped to a membership."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)
from django.utils import timezone

from appointments.models import Appointment, Client, NoShowEvent
from practice import sqlonce
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
    """Every version and the one in force now, with its overrides (the only ones the Policies page
    shows), in two queries. The versions' SQL is compiled once per process (practice/sqlonce.py):
    compiling it and the overrides of every version was a tenth of the page (issue 11)."""
    versions = sqlonce.objects(_versions_query, practice_id=membership.practice_id)
    current = rules.version_in_force([(v.effective_at, v.number, v) for v in versions], timezone.now())
    if current is not None:
        prefetch_related_objects([current], "overrides")
    return versions, current


def _versions_query(*, practice_id: int) -> QuerySet:
    return PolicyVersion.objects.filter(practice_id=practice_id)  # in the model's own order, as policy_versions


def policy_current(*, membership: Membership, overrides: bool = True) -> PolicyVersion | None:
    """The version in force now; `overrides=False` when the page shows only its number (one query less)."""
    if overrides:
        return services.policy_in_force(practice_id=membership.practice_id, at=timezone.now())
    # policy_in_force's rule over the versions read through SQL compiled once (practice/sqlonce.py).
    versions = sqlonce.objects(_versions_query, practice_id=membership.practice_id)
    return rules.version_in_force([(v.effective_at, v.number, v) for v in versions], timezone.now())


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


def clients_unacknowledged(*, practice_id: int, version: PolicyVersion | int, now: datetime) -> QuerySet:
    """Active clients with no acknowledgement of `version` (a version or its id)."""
    acknowledged = Acknowledgement.objects.filter(client=OuterRef("pk"), version=version)
    return clients_active(practice_id=practice_id, now=now).exclude(Exists(acknowledged))


def _fees_visible(*, membership: Membership) -> QuerySet:
    """The fees this member may see, filtered only: the practice's, or a clinician's own clients'."""
    qs = FeeAssessment.objects.filter(practice_id=membership.practice_id)
    if not membership.sees_whole_practice:
        qs = qs.filter(clinician_id=membership.user_id)
    return qs


def fees_for(*, membership: Membership) -> QuerySet:
    """Fees this member may see: the practice's, or a clinician's own clients'."""
    # Sorted and filtered on the fee's own copies of the session's start and clinician
    # (indexes fee_practice_start_idx, fee_practice_clinician_idx), not through the join.
    return (
        _fees_visible(membership=membership)
        .select_related("client", "clinician", "policy_version", "charged_under", "missed_session")
        .prefetch_related(_closing_changes())
        .order_by("-session_start", "-id")
    )


def _fees_narrowed(
    qs: QuerySet,
    *,
    state: str = "",
    clinician_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet:
    """By default every fee but the voided ones (undone marks among them): those
    are kept, under the "voided" state, out of the day-to-day view."""
    qs = qs.filter(state=state) if state else qs.exclude(state=State.VOID)
    if clinician_id:
        qs = qs.filter(clinician_id=clinician_id)
    if since:
        qs = qs.filter(session_start__gte=since)
    if until:
        qs = qs.filter(session_start__lt=until)
    return qs


def _local_days(zone, date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    """The first and last day asked for as the times they begin and end in the practice's zone."""
    since = datetime.combine(date_from, time.min, tzinfo=zone) if date_from else None
    until = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone) if date_to else None
    return since, until


def fees_filtered(
    *,
    membership: Membership,
    state: str = "",
    clinician_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet:
    """The Fees page's filters (`_fees_narrowed`), dates in the practice's zone; the CSV exports this."""
    since, until = _local_days(membership.practice.time_zone, date_from, date_to)
    return _fees_narrowed(
        fees_for(membership=membership), state=state, clinician_id=clinician_id, since=since, until=until
    )


FEES_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class FeeFacts:
    """What a fee row shows of one fee, read as values (policies.rows.fee_row takes this or a fee)."""

    pk: int
    state: str
    session_start: datetime | None
    amount: Decimal | None
    currency: str
    due_at: datetime | None
    rule_detail: str
    client_id: int
    client_name: str
    clinician_name: str  # "" when the fee has no clinician
    kind: str
    policy_version_id: int | None
    policy_number: int | None
    charged_under_id: int | None
    charged_under_number: int | None
    closing_id: int | None  # a waived or voided fee's closing change (newest first); None for the others
    closing_reason: str
    closing_note: str

    @property
    def closing_reason_label(self) -> str:
        return FeeChange(reason_code=self.closing_reason).reason_label


def _fees_page_query(sees_whole_practice: bool, filters: tuple[str, ...], **values) -> QuerySet:
    """The Fees page's rows as values (`_facts_from`), for practice/sqlonce.py: built with the page's
    own filters (`filters` names those in use), compiled once per shape."""
    qs = _fees_matching(sees_whole_practice, filters, **values)
    return _fact_values(qs.order_by("-session_start", "-id"))


def _fees_matching(sees_whole_practice: bool, filters: tuple[str, ...], **values) -> QuerySet:
    """The fees the page's scope and filters match, from sqlonce's values (the page and its count)."""
    membership = Membership.scoped(
        practice_id=values["practice_id"], user_id=values.get("user_id"), whole_practice=sees_whole_practice
    )
    return _fees_narrowed(_fees_visible(membership=membership), **{name: values[name] for name in filters})


def _fact_values(qs: QuerySet) -> QuerySet:
    """A fee queryset as the values FeeFacts are made of, over four tables (fee, client, clinician,
    missed session). The two policy versions' numbers and the closing waiver or void are read by
    the fees' ids afterwards (`_facts_from`): PostgreSQL took ~2 ms of CPU to plan the six tables
    and three subqueries together, against ~0.3 ms for these four (issue 11)."""
    return qs.values_list(
        *("pk", "state", "session_start", "amount", "currency", "due_at", "rule_detail", "client_id"),
        *("client__first_name", "client__last_name"),
        *("clinician_id", "clinician__first_name", "clinician__last_name", "clinician__username"),
        *("missed_session__kind", "policy_version_id", "charged_under_id"),
    )


def _version_numbers_query(*, ids: tuple[int, ...]) -> QuerySet:
    return PolicyVersion.objects.filter(pk__in=ids).values_list("pk", "number")


def version_numbers(*, ids: tuple[int, ...]) -> dict[int, int]:
    """{version id: its number} for these ids (at least one), in one query compiled once (sqlonce)."""
    return dict(sqlonce.rows(_version_numbers_query, ids=ids))


def _closing_changes_query(*, ids: tuple[int, ...]) -> QuerySet:
    """The waivers and voids of these fees, each fee's newest first (FeeAssessment.closing_change)."""
    changes = FeeChange.objects.filter(fee_id__in=ids, to_state__in=[State.WAIVED, State.VOID])
    return changes.order_by("fee_id", "-at", "-id").values_list("fee_id", "pk", "reason_code", "note")


def _facts_from(rows: list[tuple]) -> list[FeeFacts]:
    """FeeFacts from `_fact_values`' rows, with their versions' numbers and closing changes read by id
    (one query each, compiled once; the second only when a fee on the page is waived or voided)."""
    version_ids = {row[15] for row in rows if row[15] is not None} | {row[16] for row in rows if row[16] is not None}
    numbers = version_numbers(ids=tuple(sorted(version_ids))) if version_ids else {}
    closed_ids = tuple(row[0] for row in rows if row[1] in (State.WAIVED, State.VOID))
    closing: dict[int, tuple] = {}
    for fee_id, *change in sqlonce.rows(_closing_changes_query, ids=closed_ids) if closed_ids else ():
        closing.setdefault(fee_id, tuple(change))  # the newest of each fee's
    facts = []
    for row in rows:
        (pk, state_, start, amount, currency, due_at, rule, client_id, first, last) = row[:10]
        (clinician_id_, clinician_first, clinician_last, username, kind, version_id, charged_id) = row[10:]
        clinician = f"{clinician_first} {clinician_last}".strip() or username if clinician_id_ else ""
        closing_id, reason, note = closing.get(pk, (None, "", ""))
        facts.append(
            FeeFacts(
                *(pk, state_, start, amount, currency, due_at, rule, client_id, f"{first} {last}".strip()),
                *(clinician, kind, version_id, numbers.get(version_id), charged_id, numbers.get(charged_id)),
                *(closing_id, reason or "", note or ""),
            )
        )
    return facts


def _fees_count_query(sees_whole_practice: bool, filters: tuple[str, ...], **values) -> QuerySet:
    """How many fees the page's filters match: grouped by the practice (one group), for sqlonce."""
    qs = _fees_matching(sees_whole_practice, filters, **values)
    return qs.order_by().values("practice_id").annotate(total=Count("pk")).values_list("total")


def fees_page(
    *,
    membership: Membership,
    number,
    state: str = "",
    clinician_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> Page:
    """One page of `fees_filtered`'s fees as FeeFacts, as `Paginator(..., FEES_PAGE_SIZE).get_page(number)`
    pages it, in two queries (the count, the page) whose SQL is compiled once per process and shape
    (practice/sqlonce.py): compiling the page's five joins and building fifty fees with their client,
    clinician, missed session and two versions was most of the page (issue 11)."""
    since, until = _local_days(membership.practice.time_zone, date_from, date_to)
    given = {"state": state, "clinician_id": clinician_id, "since": since, "until": until}
    filters = tuple(name for name, value in given.items() if value)
    values = {"practice_id": membership.practice_id, **{name: given[name] for name in filters}}
    if not membership.sees_whole_practice:
        values["user_id"] = membership.user_id
    shape = (membership.sees_whole_practice, filters)
    found = sqlonce.rows(_fees_count_query, *shape, **values)
    paginator = Paginator(range(found[0][0] if found else 0), FEES_PAGE_SIZE)  # a range: counted, not queried
    number = paginator.get_page(number).number  # get_page's answer to "abc", 0, 999
    rows = sqlonce.rows(_fees_page_query, *shape, limit=FEES_PAGE_SIZE, offset=(number - 1) * FEES_PAGE_SIZE, **values)
    facts = _facts_from(rows)
    return Page(facts, number, paginator)


def _client_fees_shown(*, client_id: int) -> QuerySet:
    """One row per missed session: a fee whose mark was undone is hidden here
    (the Fees page keeps it under "voided"), unless it was paid, since money
    taken for an undone miss must stay in sight until it is refunded."""
    return (
        FeeAssessment.objects.filter(client_id=client_id)
        .exclude(Q(missed_session__undone_at__isnull=False) & ~Q(state=State.PAID))
        .order_by("-session_start", "-id")
    )


def client_fees_latest(*, client: Client, limit: int) -> list[FeeAssessment]:
    """The client page's latest `limit` fees (`_client_fees_shown`) as instances: the fees in one query
    compiled once (practice/sqlonce.py), then their closing waivers or voids in one more when there are
    fees (most clients have one or two; issue 11)."""
    fees = sqlonce.objects(_client_fees_query, client_id=client.pk, limit=limit)
    if fees:
        prefetch_related_objects(fees, _closing_changes())
    return fees


def _client_fees_query(*, client_id: int) -> QuerySet:
    return _client_fees_shown(client_id=client_id).select_related("policy_version", "charged_under", "missed_session")


def client_acknowledgement(*, client: Client, version: PolicyVersion | None) -> Acknowledgement | None:
    """The client's acknowledgement of `version` if there is one, else the latest
    they gave of a version already in effect (misses are then charged under it
    or `version`, whichever is less), else None. One query, compiled once (practice/sqlonce.py)."""
    if version is None:
        return None
    found = sqlonce.objects(
        _acknowledgement_query,
        client_id=client.pk,
        practice_id=version.practice_id,
        version_id=version.pk,
        now=timezone.now(),
    )
    return found[0] if found else None


def _acknowledgement_query(*, client_id: int, practice_id: int, version_id: int, now: datetime) -> QuerySet:
    # This version's acknowledgement sorts first, then the latest in effect.
    return (
        Acknowledgement.objects.filter(client_id=client_id, version__practice_id=practice_id)
        .filter(Q(version_id=version_id) | Q(version__effective_at__lte=now))
        .select_related("version")
        .order_by(
            Case(When(version_id=version_id, then=Value(0)), default=Value(1)),
            "-version__effective_at",
            "-version__number",
        )[:1]
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
    Both compiled once per process (practice/sqlonce.py): every mark (the first message's wording) and
    every miss the pipeline processes (the check-in task) ask here (issue 11).
    """
    found = sqlonce.objects(_ladder_steps_query, practice_id=appointment.practice_id)
    steps = [(s.count, s.window_days, s) for s in found]
    if not steps:
        return []
    zone = appointment.practice.time_zone
    widest = max(days for _, days, _ in steps)
    since = rules.ladder_window_start(start=appointment.start, days=widest, zone=zone)
    starts = [
        start
        for (start,) in sqlonce.rows(
            _ladder_starts_query, client_id=appointment.client_id, since=since, start=appointment.start
        )
    ]
    return rules.ladder_reached(steps, starts, at=appointment.start, zone=zone)


def _ladder_steps_query(*, practice_id: int) -> QuerySet:
    return escalation_steps(practice_id=practice_id)


def _ladder_starts_query(*, client_id: int, since: datetime, start: datetime) -> QuerySet:
    return NoShowEvent.objects.filter(
        appointment__client_id=client_id,
        undone_at=None,
        appointment__start__gte=since,
        appointment__start__lte=start,
    ).values_list("appointment__start")
