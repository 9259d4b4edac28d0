"""The Insights page's figures: aggregate queries only, read only (13 queries for the page).

Every figure is a list of rows, each row a group ("Monday", "Intake", "Week of 3 Mar")
with one or more rates. A rate always carries its denominator ("12 of 140 sessions")
and a group with fewer than MIN_GROUP in the denominator says "too few to tell".

The number of queries does not depend on the date range: each figure is one GROUP BY
(the eight attendance breakdowns share one query; weeks, weekdays and hours are worked
out by the database in the practice's zone, `tzinfo=`), so a five-year range costs the
same round trips as a week.

Which sessions count: those whose start falls on a day from `first` to `last` in the
practice's zone and that have an outcome that says whether the client came: attended,
no-show or late cancel (sessions moved or cancelled in time were never due).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractHour, ExtractIsoWeekDay, TruncWeek
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from followups.models import MissReason, OutboxMessage
from policies.models import FeeAssessment, FeeChange
from practice.models import Membership

MIN_GROUP = 5  # under this many in the denominator a rate is "too few to tell"
OUTCOME_STATUSES = (
    Appointment.Status.ATTENDED,
    Appointment.Status.NO_SHOW,
    Appointment.Status.LATE_CANCEL,
)
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LEAD_TIMES = [
    (0, "Under a day (or recorded afterwards)"),
    (1, "1 to 6 days"),
    (7, "1 to 4 weeks"),
    (28, "4 weeks or more"),
]
REBOOK_DAYS = 30  # days-to-rebook buckets 0..30; 31 is "later", -1 "not rebooked"


@dataclass(frozen=True)
class Rate:
    count: int
    total: int
    noun: str = "sessions"

    @property
    def too_few(self) -> bool:
        return self.total < MIN_GROUP

    @property
    def percent(self) -> float | None:
        if self.too_few:
            return None
        return round(100 * self.count / self.total, 1)

    @property
    def of_text(self) -> str:
        return f"{self.count} of {self.total} {self.noun}"

    @property
    def text(self) -> str:
        if self.too_few:
            return f"too few to tell ({self.of_text})"
        return f"{self.percent:g}% ({self.of_text})"


@dataclass
class Row:
    label: str
    rates: list[Rate]
    extra: str = ""  # one more column (a median, an amount), already worded
    # With the comparison on: the previous period's rates for the same group (each with its own
    # denominator), its extra column, and its own label where it differs (weeks are matched by position).
    previous: list[Rate] | None = None
    previous_extra: str = ""
    previous_label: str = ""
    only_before: bool = False  # a group seen only in the previous period: not drawn in the chart


@dataclass
class Figure:
    key: str
    title: str
    measures: list[str]  # the column name of each rate in a row
    rows: list[Row]
    note: str = ""
    chart: str = "bars"  # "bars" (the first rate of each row) or "weeks" (a line per measure)
    extra_label: str = ""
    summary: str = ""  # the headline denominator, e.g. "41 of 380 missed sessions had a reason given"
    previous_period: str = ""  # "21 Oct 2025 to 19 Jan 2026" when each row carries the previous period's rates

    @property
    def table(self) -> list[tuple[Row, list[tuple[str, Rate]]]]:
        """Each row with its (measure, rate) cells, for the data table under the chart."""
        return [(row, list(zip(self.measures, row.rates, strict=True))) for row in self.rows]

    @property
    def previous_table(self) -> list[tuple[Row, list[tuple[str, Rate, Rate | None]]]]:
        """Each row with its (measure, rate, previous period's rate) cells (None: no such row then)."""
        out = []
        for row in self.rows:
            before = row.previous or [None] * len(self.measures)
            out.append((row, list(zip(self.measures, row.rates, before, strict=True))))
        return out

    @property
    def chart_rows(self) -> list[Row]:
        """The rows the chart draws: the chosen period's only."""
        return [row for row in self.rows if not row.only_before]


@dataclass(frozen=True)
class Scope:
    """Whose sessions and which days: what every figure is filtered by."""

    practice_id: int
    zone: zoneinfo.ZoneInfo
    first: date
    last: date
    clinician_id: int | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day, in the practice's zone (a DST day is 23 or 25 hours)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.zone)

    def previous(self) -> Scope:
        """The period of the same length just before this one."""
        days = (self.last - self.first).days + 1
        return Scope(
            practice_id=self.practice_id,
            zone=self.zone,
            first=self.first - timedelta(days=days),
            last=self.first - timedelta(days=1),
            clinician_id=self.clinician_id,
        )


def scope_for(membership: Membership, *, first: date, last: date, clinician_id: int | None) -> Scope:
    """A clinician sees their own caseload whatever they asked; admins and front desk the practice or one clinician."""
    if not membership.sees_whole_practice:
        clinician_id = membership.user_id
    return Scope(
        practice_id=membership.practice_id,
        zone=zoneinfo.ZoneInfo(str(membership.practice.time_zone)),
        first=first,
        last=last,
        clinician_id=clinician_id,
    )


# ------------------------------------------------------------------ base sets


def _sessions(scope: Scope, *, prefix: str = "") -> Q:
    q = Q(
        **{
            f"{prefix}practice_id": scope.practice_id,
            f"{prefix}start__gte": scope.start,
            f"{prefix}start__lt": scope.end,
        }
    )
    if scope.clinician_id is not None:
        q &= Q(**{f"{prefix}clinician_id": scope.clinician_id})
    return q


def sessions(scope: Scope) -> QuerySet:
    """Sessions in scope that have an outcome (the denominator of attendance)."""
    return Appointment.objects.filter(_sessions(scope), status__in=OUTCOME_STATUSES).order_by()


def _missed_sessions(scope: Scope) -> QuerySet:
    """Live missed-session records (not undone) of sessions in scope.

    The record's own practice too: the planner then reads this practice's misses, not every
    practice's (it hashes them rather than probing from the period's sessions).
    """
    return NoShowEvent.objects.filter(
        _sessions(scope, prefix="appointment__"), practice_id=scope.practice_id, undone_at__isnull=True
    ).order_by()


_OUTCOME_COUNTS = {
    "n": Count("id"),
    "attended": Count("id", filter=Q(status=Appointment.Status.ATTENDED)),
    "no_show": Count("id", filter=Q(status=Appointment.Status.NO_SHOW)),
    "late_cancel": Count("id", filter=Q(status=Appointment.Status.LATE_CANCEL)),
}
OUTCOME_MEASURES = ["Attended", "No-show", "Late cancel"]


def _outcome_row(label: str, values: dict) -> Row:
    n = values["n"]
    return Row(label, [Rate(values["attended"], n), Rate(values["no_show"], n), Rate(values["late_cancel"], n)])


# ------------------------------------------------------------------ figures


def headline(scope: Scope, *, compare: bool) -> Figure:
    """Attendance over the whole period, and the previous period of the same length (one query for both)."""
    before = scope.previous()
    now_q = Q(start__gte=scope.start)
    values = Appointment.objects.filter(
        _sessions(
            Scope(
                scope.practice_id, scope.zone, before.first if compare else scope.first, scope.last, scope.clinician_id
            )
        ),
        status__in=OUTCOME_STATUSES,
    ).aggregate(
        **{f"now_{k}": _with(v, now_q) for k, v in _OUTCOME_COUNTS.items()},
        **({f"before_{k}": _with(v, ~now_q) for k, v in _OUTCOME_COUNTS.items()} if compare else {}),
    )
    rows = [_outcome_row(f"{_fmt(scope.first)} to {_fmt(scope.last)}", _strip(values, "now_"))]
    if compare:
        rows.append(
            _outcome_row(f"{_fmt(before.first)} to {_fmt(before.last)} (previous period)", _strip(values, "before_"))
        )
    return Figure("overall", "Attendance over the period", OUTCOME_MEASURES, rows, note=_outcomes_note())


# The attendance breakdowns: (key, title, the annotation grouped by). Labels in `_label`.
def _dimensions(scope: Scope) -> list[tuple[str, str, object]]:
    lead = Case(
        *[
            When(start__gte=F("created_at") + timedelta(days=days), then=Value(days))
            for days, _ in reversed(LEAD_TIMES[1:])
        ],
        default=Value(0),
        output_field=IntegerField(),
    )
    intake = Case(
        When(session_type=Appointment.SessionType.INTAKE, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return [
        ("weekly", "Attendance by week", TruncWeek("start", tzinfo=scope.zone)),
        ("clinician", "By clinician", F("clinician_id")),
        ("weekday", "By weekday", ExtractIsoWeekDay("start", tzinfo=scope.zone)),
        ("hour", "By hour of day", ExtractHour("start", tzinfo=scope.zone)),
        ("session_type", "By session type", F("session_type")),
        ("modality", "By modality", F("modality")),
        ("lead_time", "By how far ahead it was booked", lead),
        ("intake", "First sessions versus established clients", intake),
    ]


def attendance(scope: Scope) -> dict[str, Figure]:
    """Attendance, no-show and late-cancel rates by week, clinician, weekday, hour, type, modality, lead time, intake.

    One query for all eight: the sessions in scope (each with its week, weekday and
    hour in the practice's zone, lead-time band...) once, as a common table, then one
    GROUP BY per breakdown joined with UNION ALL. The inner query is Django's own SQL
    (so the zone arithmetic is the backend's, as in any ORM query); the outer part is
    plain SQL that PostgreSQL and SQLite both speak.
    """
    dims = _dimensions(scope)
    inner = (
        sessions(scope)
        .annotate(
            **{f"d_{key}": expression for key, _, expression in dims},
            c_first=F("clinician__first_name"),
            c_last=F("clinician__last_name"),
            c_user=F("clinician__username"),
            outcome=F("status"),
        )
        .values(*[f"d_{key}" for key, _, _ in dims], "c_first", "c_last", "c_user", "outcome")
    )
    sql, params = inner.query.sql_with_params()
    counts = (
        "COUNT(*), SUM(CASE WHEN outcome = 'attended' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN outcome = 'no_show' THEN 1 ELSE 0 END), SUM(CASE WHEN outcome = 'late_cancel' THEN 1 ELSE 0 END)"
    )
    branches = []
    for key, _, _ in dims:
        if key == "clinician":
            full = "TRIM(MAX(c_first) || ' ' || MAX(c_last))"
            label = f"MAX(c_last) || ' ' || MAX(c_first), CASE WHEN {full} = '' THEN MAX(c_user) ELSE {full} END"
        else:
            label = "NULL, NULL"
        # Names of our own columns and constants only; the values travel as parameters.
        branch = f"SELECT '{key}', CAST(d_{key} AS TEXT), {label}, {counts} FROM s GROUP BY d_{key}"  # noqa: S608
        branches.append(branch)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH s AS ({sql}) " + " UNION ALL ".join(branches), params)  # noqa: S608 - no input in it
        found = cursor.fetchall()
    by_key: dict[str, list] = {key: [] for key, _, _ in dims}
    for key, value, sort, name, n, attended, no_show, late_cancel in found:
        if value is None:
            continue
        values = {"n": n, "attended": attended or 0, "no_show": no_show or 0, "late_cancel": late_cancel or 0}
        by_key[key].append((_sort_key(key, value, sort), _label(key, value, name, scope), values))
    return {
        key: Figure(
            key,
            title,
            OUTCOME_MEASURES,
            [_outcome_row(label, values) for _, label, values in sorted(by_key[key], key=lambda g: g[0])],
            chart="weeks" if key == "weekly" else "bars",
            note=_outcomes_note(),
        )
        for key, title, _ in dims
    }


_TYPES = dict(Appointment.SessionType.choices)
_MODALITIES = dict(Appointment.Modality.choices)
_INTAKE = {0: "First sessions (intake)", 1: "Established clients"}


def _sort_key(key: str, value: str, sort: str | None):
    if key == "weekly":
        return value[:10]
    if key == "clinician":
        return (sort or "", int(value))
    if key in ("session_type", "modality"):
        return value
    return int(float(value))


def _label(key: str, value: str, name: str | None, scope: Scope) -> str:
    if key == "weekly":
        # The week's Monday as the backend wrote it, local wall clock ("2026-03-02 00:00:00").
        return f"Week of {_fmt(date.fromisoformat(value[:10]))}"
    if key == "clinician":
        return name or f"Clinician #{value}"
    if key == "weekday":
        return WEEKDAYS[int(float(value)) - 1]
    if key == "hour":
        return f"{int(float(value)):02d}:00"
    if key == "session_type":
        return _TYPES.get(value, value)
    if key == "modality":
        return _MODALITIES.get(value, value)
    if key == "lead_time":
        return dict(LEAD_TIMES)[int(float(value))]
    return _INTAKE[int(float(value))]


def weekly(scope: Scope) -> Figure:
    return attendance(scope)["weekly"]


def by_clinician(scope: Scope) -> Figure:
    return attendance(scope)["clinician"]


def by_weekday(scope: Scope) -> Figure:
    return attendance(scope)["weekday"]


def by_hour(scope: Scope) -> Figure:
    return attendance(scope)["hour"]


def by_session_type(scope: Scope) -> Figure:
    return attendance(scope)["session_type"]


def by_modality(scope: Scope) -> Figure:
    return attendance(scope)["modality"]


def by_lead_time(scope: Scope) -> Figure:
    return attendance(scope)["lead_time"]


def by_intake(scope: Scope) -> Figure:
    return attendance(scope)["intake"]


def reasons(scope: Scope) -> Figure:
    """What clients said got in the way, and how many of those who missed or cancelled chose to say.

    Two queries: the denominator (missed sessions, and sessions the client said they
    could not make) with how many have a reason, then the reasons grouped.
    """
    said = MissReason.objects.filter(appointment=OuterRef("pk")).exclude(reason="", text="")
    told = Q(status__in=Appointment.MISSED_STATUSES) | Q(client_response=Appointment.ClientResponse.CANT_MAKE_IT)
    totals = (
        Appointment.objects.filter(_sessions(scope))
        .filter(told)
        .order_by()
        .aggregate(n=Count("id"), said=Count("id", filter=Exists(said)))
    )
    grouped = (
        MissReason.objects.filter(_sessions(scope, prefix="appointment__"))
        .filter(Q(appointment__status__in=Appointment.MISSED_STATUSES) | Q(appointment__client_response="cant_make_it"))
        .exclude(reason="", text="")
        .values("reason")
        .annotate(n=Count("appointment_id", distinct=True))
        .order_by("-n", "reason")
    )
    labels = dict(MissReason.Reason.choices)
    labels[""] = "In their own words only"
    n_said = totals["said"]
    rows = [Row(labels.get(r["reason"], r["reason"]), [Rate(r["n"], n_said, "who said")]) for r in grouped]
    return Figure(
        "reasons",
        "What clients said got in the way",
        ["Share of those who said"],
        rows,
        summary=f"{Rate(n_said, totals['n'], 'missed or cancelled sessions').text} had a reason given.",
        note="Giving a reason is optional. Counts the sessions missed, late cancelled or cancelled through a reminder.",
    )


def _days_to_rebook(client: str, since: str, missed: str):
    """Whole days from the miss (`since`) to the client's first other booking created after it.

    0..REBOOK_DAYS, REBOOK_DAYS + 1 for later, -1 when none. The bucket is worked out on
    the one row the subquery returns (its first booking, one probe of
    appt_client_created_idx), so the subquery runs once per miss.
    """
    whens = [
        When(created_at__lt=OuterRef(since) + timedelta(days=d + 1), then=Value(d)) for d in range(REBOOK_DAYS + 1)
    ]
    first = (
        Appointment.objects.filter(client_id=OuterRef(client), created_at__gte=OuterRef(since))
        .exclude(pk=OuterRef(missed))
        .order_by("created_at")
        .annotate(bucket=Case(*whens, default=Value(REBOOK_DAYS + 1), output_field=IntegerField()))
        .values("bucket")[:1]
    )
    return Coalesce(Subquery(first, output_field=IntegerField()), Value(-1))


def _matured(since: str, now: datetime):
    """How many days have passed since the miss: 30 (a month or more), 7 (a week or more) or 0."""
    return Case(
        When(**{f"{since}__lte": now - timedelta(days=30)}, then=Value(30)),
        When(**{f"{since}__lte": now - timedelta(days=7)}, then=Value(7)),
        default=Value(0),
        output_field=IntegerField(),
    )


class _RebookTally:
    """Sums the (matured, days) buckets of one group into the 7- and 30-day shares and the median."""

    def __init__(self) -> None:
        self.n7 = self.in7 = self.n30 = self.in30 = 0
        self.days: dict[int, int] = {}

    def add(self, matured: int, days: int, n: int) -> None:
        if matured >= 7:
            self.n7 += n
            self.in7 += n if 0 <= days <= 7 else 0
        if matured >= 30:
            self.n30 += n
            self.in30 += n if 0 <= days <= 30 else 0
        if days >= 0:
            self.days[days] = self.days.get(days, 0) + n

    def median(self) -> str:
        total = sum(self.days.values())
        if total < MIN_GROUP:
            return "too few to tell"
        seen = 0
        for days in sorted(self.days):
            seen += self.days[days]
            if 2 * seen >= total:
                if days > REBOOK_DAYS:
                    return f"over {REBOOK_DAYS} days ({total} rebooked)"
                return f"{'under 1 day' if days == 0 else f'{days} to {days + 1} days'} ({total} rebooked)"
        return ""  # not reached

    def row(self, label: str, noun: str) -> Row:
        return Row(label, [Rate(self.in7, self.n7, noun), Rate(self.in30, self.n30, noun)], extra=self.median())


def followup_outcomes(scope: Scope) -> Figure:
    """Share of misses rebooked within 7 and 30 days, median time to rebook; by message step and wording version.

    Two queries: the missed sessions grouped by (matured, days to rebook), then the
    follow-ups sent for them grouped by (step, wording version, matured, days). A share
    counts only the misses whose 7 or 30 days have passed.
    """
    now = timezone.now()
    misses = (
        _missed_sessions(scope)
        .annotate(
            matured=_matured("recorded_at", now),
            days=_days_to_rebook("appointment__client_id", "recorded_at", "appointment_id"),
        )
        .values("matured", "days")
        .annotate(n=Count("id"))
    )
    overall = _RebookTally()
    for r in misses:
        overall.add(r["matured"], r["days"], r["n"])
    sent = (
        OutboxMessage.objects.filter(
            _sessions(scope, prefix="missed_session__appointment__"),
            purpose=OutboxMessage.Purpose.FOLLOWUP,
            status=OutboxMessage.Status.SENT,
            missed_session__undone_at__isnull=True,
            missed_session__practice_id=scope.practice_id,
        )
        .order_by()
        .annotate(
            matured=_matured("missed_session__recorded_at", now),
            days=_days_to_rebook(
                "missed_session__appointment__client_id",
                "missed_session__recorded_at",
                "missed_session__appointment_id",
            ),
        )
        .values("step", "template_version", "matured", "days")
        .annotate(n=Count("id"))
    )
    groups: dict[tuple[str, int | None], _RebookTally] = {}
    for r in sent:
        groups.setdefault((r["step"], r["template_version"]), _RebookTally()).add(r["matured"], r["days"], r["n"])
    steps = dict(OutboxMessage.Step.choices)
    rows = [overall.row("All missed sessions", "missed sessions")]
    for (step, version), tally in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        wording = f"wording version {version}" if version else "wording version not recorded"
        rows.append(tally.row(f"{steps.get(step, step or 'Message')}, {wording}", "messages"))
    return Figure(
        "followups",
        "Rebooked after a missed session",
        ["Rebooked within 7 days", "Rebooked within 30 days"],
        rows,
        extra_label="Median time to rebook",
        note=(
            "A missed session counts once its 7 or 30 days have passed. Any new booking by or for the client after "
            "the miss was recorded counts as rebooking. Message rows count the follow-ups sent."
        ),
    )


def reminders(scope: Scope) -> Figure:
    """Of the sessions reminded: confirmed, "can't make it", and the miss rate of confirmed versus not."""
    # A scalar subquery (one index probe per session, on the outbox's appointment index), not
    # EXISTS: PostgreSQL turns an EXISTS into a hash join over every reminder on file.
    reminded = Subquery(
        OutboxMessage.objects.filter(
            appointment=OuterRef("pk"), purpose=OutboxMessage.Purpose.REMINDER, status=OutboxMessage.Status.SENT
        )
        .order_by()
        .values("pk")[:1]
    )
    missed = Q(status__in=Appointment.MISSED_STATUSES)
    outcome = Q(status__in=OUTCOME_STATUSES)
    confirmed = Q(confirmed_at__isnull=False)
    v = (
        Appointment.objects.filter(_sessions(scope))
        .annotate(reminder=reminded)
        .filter(reminder__isnull=False)
        .order_by()
        .aggregate(
            n=Count("id"),
            confirmed=Count("id", filter=confirmed),
            cant=Count("id", filter=Q(client_response=Appointment.ClientResponse.CANT_MAKE_IT)),
            c_n=Count("id", filter=confirmed & outcome),
            c_missed=Count("id", filter=confirmed & missed),
            u_n=Count("id", filter=~confirmed & outcome),
            u_missed=Count("id", filter=~confirmed & missed),
        )
    )
    noun = "reminded sessions"
    return Figure(
        "reminders",
        "Reminders",
        ["Share"],
        [
            Row("Confirmed", [Rate(v["confirmed"], v["n"], noun)]),
            Row("Answered \u201cI can\u2019t make it\u201d", [Rate(v["cant"], v["n"], noun)]),
            Row("Missed, when confirmed", [Rate(v["c_missed"], v["c_n"])]),
            Row("Missed, when not confirmed", [Rate(v["u_missed"], v["u_n"])]),
        ],
        note="Sessions at least one reminder was sent for. The miss rates count sessions with an outcome.",
    )


def fees(scope: Scope) -> Figure:
    """Fees for the missed sessions in scope: charged, waived (by reason), not charged (by rule)."""
    waived_reason = (
        FeeChange.objects.filter(fee=OuterRef("pk"), to_state=FeeAssessment.State.WAIVED)
        .order_by("-at", "-id")
        .values("reason_code")[:1]
    )
    q = Q(missed_session__appointment__practice_id=scope.practice_id, practice_id=scope.practice_id)
    q &= Q(missed_session__appointment__start__gte=scope.start, missed_session__appointment__start__lt=scope.end)
    if scope.clinician_id is not None:
        q &= Q(missed_session__appointment__clinician_id=scope.clinician_id)
    grouped = (
        FeeAssessment.objects.filter(q)
        .order_by()
        .annotate(
            waived=Case(
                When(state=FeeAssessment.State.WAIVED, then=Subquery(waived_reason)),
                default=Value(""),
            )
        )
        .values("state", "rule", "waived", "currency")
        .annotate(n=Count("id"), amount=Sum("amount"))
    )
    charged_states = {FeeAssessment.State.PROPOSED, FeeAssessment.State.DUE, FeeAssessment.State.PAID}
    waiver_labels = dict(FeeAssessment.WaiverReason.choices)
    rule_labels = {
        "grace": "Not charged: grace",
        "not_acknowledged": "Not charged: terms not acknowledged",
        "makeup": "Not charged: make-up session booked",
        "intake_exemption": "Not charged: intake",
        "enough_notice": "Not charged: enough notice",
        "no_policy": "Not charged: no policy in force",
        "no_fee": "Not charged: no fee set",
    }
    counts: dict[str, int] = {}
    amounts: dict[str, dict[str, float]] = {}
    total = 0
    for r in grouped:
        total += r["n"]
        if r["state"] in charged_states:
            label = "Charged"
            amounts.setdefault(label, {})
            amounts[label][r["currency"]] = amounts[label].get(r["currency"], 0) + float(r["amount"] or 0)
        elif r["state"] == FeeAssessment.State.WAIVED:
            reason = r["waived"] or ("makeup" if r["rule"] == "makeup" else "other")
            label = f"Waived: {waiver_labels.get(reason, reason).lower()}"
        elif r["state"] == FeeAssessment.State.VOID:
            label = "Voided (outcome corrected)"
        else:
            label = rule_labels.get(r["rule"], f"Not charged: {r['rule']}")
        counts[label] = counts.get(label, 0) + r["n"]
    order = (
        ["Charged"]
        + sorted(k for k in counts if k.startswith("Waived"))
        + sorted(k for k in counts if k.startswith("Not charged"))
        + [k for k in counts if k.startswith("Voided")]
    )
    rows = [
        Row(
            label,
            [Rate(counts[label], total, "fees decided")],
            extra=", ".join(f"{amount:,.2f} {cur}" for cur, amount in sorted(amounts.get(label, {}).items())),
        )
        for label in order
        if label in counts
    ]
    return Figure(
        "fees",
        "Fees for missed sessions",
        ["Share of fees decided"],
        rows,
        extra_label="Amount",
        note="One decision per missed session. Charged includes fees still in review and paid ones.",
    )


def reengagement(scope: Scope) -> Figure:
    """Clients with no attended session for 30 and 60 days after their last miss in the period (counts, no names).

    A client counts for 30 (60) days once that long has passed since that miss.
    """
    now = timezone.now()
    # The period's bounds as constants too, so the planner reads only the period's misses
    # (the practice and start index), not every miss on file.
    later_miss = NoShowEvent.objects.filter(
        appointment__client_id=OuterRef("appointment__client_id"),
        undone_at__isnull=True,
        appointment__practice_id=scope.practice_id,
        appointment__start__gt=OuterRef("appointment__start"),
        appointment__start__gte=scope.start,
        appointment__start__lt=scope.end,
    )

    def attended_within(days: int):
        return Exists(
            Appointment.objects.filter(
                client_id=OuterRef("appointment__client_id"),
                status=Appointment.Status.ATTENDED,
                start__gt=OuterRef("appointment__start"),
                start__lte=OuterRef("appointment__start") + timedelta(days=days),
            )
        )

    v = (
        _missed_sessions(scope)
        .filter(~Exists(later_miss))
        .aggregate(
            n30=Count(
                "appointment__client_id", distinct=True, filter=Q(appointment__start__lte=now - timedelta(days=30))
            ),
            away30=Count(
                "appointment__client_id",
                distinct=True,
                filter=Q(appointment__start__lte=now - timedelta(days=30)) & ~attended_within(30),
            ),
            n60=Count(
                "appointment__client_id", distinct=True, filter=Q(appointment__start__lte=now - timedelta(days=60))
            ),
            away60=Count(
                "appointment__client_id",
                distinct=True,
                filter=Q(appointment__start__lte=now - timedelta(days=60)) & ~attended_within(60),
            ),
        )
    )
    noun = "clients with a miss"
    return Figure(
        "reengagement",
        "Not back yet after a missed session",
        ["No attended session since"],
        [
            Row("30 days after their last miss", [Rate(v["away30"], v["n30"], noun)]),
            Row("60 days after their last miss", [Rate(v["away60"], v["n60"], noun)]),
        ],
        note="Counts only; no client is named here. A client counts once their 30 or 60 days have passed.",
    )


def _figures(scope: Scope) -> list[Figure]:
    """Every figure but the headline, for one period."""
    return [
        *attendance(scope).values(),
        reasons(scope),
        followup_outcomes(scope),
        reminders(scope),
        fees(scope),
        reengagement(scope),
    ]


def insights(scope: Scope, *, compare: bool = False) -> list[Figure]:
    """Every figure on the page, in the order shown.

    With `compare`, each figure's rows also carry the previous period's rates (the same
    figures worked out for `scope.previous()`: the same queries once more, so the count
    doubles for those figures and still does not depend on the range). The headline
    compares in its own query, as a second row.
    """
    figures = _figures(scope)
    if compare:
        before = scope.previous()
        figures = [with_previous(now, then, before) for now, then in zip(figures, _figures(before), strict=True)]
    return [headline(scope, compare=compare), *figures]


def with_previous(now: Figure, then: Figure, before: Scope) -> Figure:
    """`now` with the previous period's rates beside each row.

    Groups are matched by label (a clinician, a weekday, a reason); weeks by position (the
    first week of this period beside the first of the previous one, each with its own label).
    A group seen only in the previous period gets a row of its own (0 of 0 now), not drawn
    in the chart.
    """
    now.previous_period = f"{_fmt(before.first)} to {_fmt(before.last)}"
    if then.summary:
        now.summary = f"{now.summary} Previous period: {then.summary}"
    if now.chart == "weeks":
        for i, old in enumerate(then.rows):
            if i < len(now.rows):
                row = now.rows[i]
            else:
                row = Row("\u2014", [Rate(0, 0, r.noun) for r in old.rates], only_before=True)
                now.rows.append(row)
            row.previous, row.previous_extra, row.previous_label = old.rates, old.extra, old.label
        return now
    by_label = {row.label: row for row in now.rows}
    for old in then.rows:
        row = by_label.get(old.label)
        if row is None:
            row = Row(old.label, [Rate(0, 0, r.noun) for r in old.rates], only_before=True)
            now.rows.append(row)
        row.previous, row.previous_extra = old.rates, old.extra
    for row in now.rows:
        if row.previous is None:
            row.previous = [Rate(0, 0, r.noun) for r in row.rates]
    return now


# ------------------------------------------------------------------ helpers


def _with(aggregate: Count, extra: Q) -> Count:
    existing = aggregate.filter
    return Count("id", filter=extra & existing if existing is not None else extra)


def _strip(values: dict, prefix: str) -> dict:
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def _fmt(day: date) -> str:
    return f"{day:%-d %b %Y}"


def _outcomes_note() -> str:
    return "Sessions with an outcome: attended, no-show or late cancel. Moved or cancelled in time are not counted."
