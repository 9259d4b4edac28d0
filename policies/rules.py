"""Cancellation-policy arithmetic: pure functions, no ORM, no clock.

Everything here takes aware datetimes and plain values, so it can be tested
exhaustively (tests/policies/test_rules.py runs it over every IANA zone,
DST gaps and overlaps included). Services gather the inputs from the
database and store what `assess` decides.

Conventions:
- The notice window is in elapsed hours: 24 hours' notice is 24 real hours,
  even across a DST change.
- Grace windows and make-up windows are in calendar days of the practice's
  zone: "within 7 days" means by the same local date a week later.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

NO_SHOW = "no_show"
LATE_CANCEL = "late_cancel"
INTAKE = "intake"

T = TypeVar("T")


class NonexistentLocalTime(ValueError):
    """A wall-clock time the clocks skip (e.g. 02:30 on a spring-forward night)."""


def to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Resolve a naive wall-clock time in `zone`.

    A time that happens twice (clocks going back) resolves to the first
    occurrence unless `local.fold` is 1. A time that never happens raises
    NonexistentLocalTime.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc takes a naive wall-clock time")
    aware = local.replace(tzinfo=zone)
    if aware.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key}")
    return aware.astimezone(ZoneInfo("UTC"))


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    return moment.astimezone(zone).date()


def is_late_cancellation(*, cancelled_at: datetime, start: datetime, notice_hours: int) -> bool:
    """A cancellation is late when it comes less than `notice_hours` real hours before the start."""
    if cancelled_at.tzinfo is None or start.tzinfo is None:
        raise ValueError("aware datetimes are needed")
    return start - cancelled_at < timedelta(hours=notice_hours)


def version_in_force(versions: Sequence[tuple[datetime, int, T]], at: datetime) -> T | None:
    """The version in force at `at`: the latest effective time at or before it.

    `versions` holds (effective_at, number, version) triples in any order;
    of two with the same effective time, the higher number wins. Returns
    None when none had taken effect yet.
    """
    eligible = [(effective_at, number, v) for effective_at, number, v in versions if effective_at <= at]
    if not eligible:
        return None
    return max(eligible, key=lambda item: (item[0], item[1]))[2]


def within_days(*, earlier: datetime, later: datetime, days: int, zone: ZoneInfo) -> bool:
    """Whether `later` falls on a local date no more than `days` after `earlier`'s."""
    gap = (local_date(later, zone) - local_date(earlier, zone)).days
    return 0 <= gap <= days


def grace_window_start(*, start: datetime, days: int, zone: ZoneInfo) -> date:
    """The first local date of a rolling window of `days` days that ends on `start`'s date."""
    return local_date(start, zone) - timedelta(days=days - 1)


@dataclass(frozen=True)
class Terms:
    """The parts of a policy version that decide a fee."""

    notice_hours: int
    no_show_fee: Decimal
    late_cancel_fee: Decimal
    grace_count: int = 0
    grace_days: int = 0
    exempt_intake: bool = False
    makeup_days: int = 0
    hold_hours: int = 0
    # session type -> (no_show_fee, late_cancel_fee); None keeps the default.
    overrides: dict[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)

    def fee_for(self, *, kind: str, session_type: str) -> Decimal:
        no_show, late_cancel = self.overrides.get(session_type, (None, None))
        if kind == NO_SHOW:
            return self.no_show_fee if no_show is None else no_show
        return self.late_cancel_fee if late_cancel is None else late_cancel


@dataclass(frozen=True)
class Miss:
    """What is known about one missed session when its fee is decided."""

    kind: str  # NO_SHOW or LATE_CANCEL
    session_type: str
    start: datetime
    recorded_at: datetime  # when staff recorded it: the cancellation time for a late cancel
    acknowledged: bool  # the client acknowledged the version in force
    grace_used: int  # misses of this client already let off by grace in the window
    makeup_start: datetime | None = None  # the earliest make-up session booked for it


# The rule codes stored with each assessment; the label is what staff read.
RULE_NO_POLICY = "no_policy"
RULE_ENOUGH_NOTICE = "enough_notice"
RULE_NOT_ACKNOWLEDGED = "not_acknowledged"
RULE_INTAKE = "intake_exemption"
RULE_GRACE = "grace"
RULE_NO_FEE = "no_fee"
RULE_MAKEUP = "makeup"
RULE_CHARGED = "charged"


@dataclass(frozen=True)
class Decision:
    charge: bool
    amount: Decimal
    rule: str
    detail: str
    # Only for a charge: hours of review hold before the fee is due (0: due at once).
    hold_hours: int = 0
    # The number of the version the miss was judged (and charged) under; None
    # when no acknowledged version could be used.
    version: int | None = None

    @property
    def charged_amount(self) -> Decimal:
        """What the client is asked to pay: nothing unless it is a charge."""
        return self.amount if self.charge else Decimal("0.00")


def assess(miss: Miss, terms: Terms | None, zone: ZoneInfo) -> Decision:
    """Decide the fee for one missed session.

    1. No policy in force: nothing to charge.
    2. A late cancel that in fact came with enough notice: not charged.
    3. The client never acknowledged this policy version: not charged.
    4. An intake session, when the practice exempts intakes: not charged.
    5. A fee of 0 for this kind and session type: nothing to charge.
    6. Grace: the first N chargeable misses in a rolling M days are let off.
    7. A make-up session already booked within the waiver window: waived.
    8. Otherwise charged, after the review hold.
    """
    zero = Decimal("0.00")
    if terms is None:
        return Decision(False, zero, RULE_NO_POLICY, "not charged: no policy in force")
    if miss.kind == LATE_CANCEL and not is_late_cancellation(
        cancelled_at=miss.recorded_at, start=miss.start, notice_hours=terms.notice_hours
    ):
        return Decision(
            False,
            zero,
            RULE_ENOUGH_NOTICE,
            f"not charged: cancelled with {terms.notice_hours}h notice or more",
        )
    if not miss.acknowledged:
        return Decision(False, zero, RULE_NOT_ACKNOWLEDGED, "not charged: policy not acknowledged")
    if terms.exempt_intake and miss.session_type == INTAKE:
        return Decision(False, zero, RULE_INTAKE, "not charged: intake exemption")
    amount = terms.fee_for(kind=miss.kind, session_type=miss.session_type)
    if amount <= 0:
        return Decision(False, zero, RULE_NO_FEE, "not charged: no fee set for this session")
    if terms.grace_count > 0 and miss.grace_used < terms.grace_count:
        used = miss.grace_used + 1
        return Decision(
            False,
            zero,
            RULE_GRACE,
            f"grace: {used} of {terms.grace_count} used in {terms.grace_days} days",
        )
    if (
        terms.makeup_days > 0
        and miss.makeup_start is not None
        and within_days(earlier=miss.start, later=miss.makeup_start, days=terms.makeup_days, zone=zone)
    ):
        return Decision(False, amount, RULE_MAKEUP, "waived: make-up session booked")
    return Decision(True, amount, RULE_CHARGED, f"{_kind_label(miss.kind)} fee", hold_hours=terms.hold_hours)


@dataclass(frozen=True)
class Judged:
    """One policy version a miss may be judged under, with what depends on it."""

    number: int
    terms: Terms
    grace_used: int = 0  # misses let off by grace in *this* version's window


def assess_lesser(miss: Miss, *, in_force: Judged | None, acknowledged: Judged | None, zone: ZoneInfo) -> Decision:
    """Decide a fee so that a client is never charged more than the terms they acknowledged.

    `in_force` is the version in force at the session's start; `acknowledged`
    the latest version the client had acknowledged by the time the miss was
    recorded (among those already in effect at the start). `miss.acknowledged`
    is ignored: it follows from `acknowledged`.

    1. No version in force: nothing to charge.
    2. No acknowledged version: judged under the version in force as not
       acknowledged (a late cancel with enough notice still says so).
    3. The same version: judged under it.
    4. Different versions: judged under both; the lesser charge wins, and on
       equal charges the kinder terms for later (the longer make-up waiver),
       then the terms the client accepted. Grace counts and the make-up
       waiver are those of the version charged under. The detail says which.
    """
    if in_force is None:
        return assess(miss, None, zone)
    if acknowledged is None:
        return replace(assess(replace(miss, acknowledged=False), in_force.terms, zone), version=None)
    if acknowledged.number == in_force.number:
        return _judge(miss, in_force, zone)
    under_ack = _judge(miss, acknowledged, zone)
    under_force = _judge(miss, in_force, zone)
    ack_key = (under_ack.charged_amount, -acknowledged.terms.makeup_days, 0)
    force_key = (under_force.charged_amount, -in_force.terms.makeup_days, 1)
    accepted = f"v{acknowledged.number}, the terms the client accepted"
    if ack_key <= force_key:
        chosen, note = under_ack, f"{accepted}; v{in_force.number} not yet acknowledged"
    elif under_force.charged_amount < under_ack.charged_amount:
        chosen, note = under_force, f"v{in_force.number}, less than under {accepted}"
    else:
        chosen, note = under_force, f"v{in_force.number}, a longer make-up waiver than {accepted}"
    return replace(chosen, detail=f"{chosen.detail}, {'charged under' if chosen.charge else 'under'} {note}")


def _judge(miss: Miss, judged: Judged, zone: ZoneInfo) -> Decision:
    decision = assess(replace(miss, acknowledged=True, grace_used=judged.grace_used), judged.terms, zone)
    return replace(decision, version=judged.number)


def makeup_waives(*, missed_start: datetime, makeup_start: datetime, makeup_days: int, zone: ZoneInfo) -> bool:
    """Whether a make-up booked after the fee was assessed waives it."""
    return makeup_days > 0 and within_days(earlier=missed_start, later=makeup_start, days=makeup_days, zone=zone)


def _kind_label(kind: str) -> str:
    return "no-show" if kind == NO_SHOW else "late-cancel"


# The supportive ladder for repeated misses ("N misses in D days"). Windows are
# calendar days of the practice's zone, like grace windows: "3 in 60 days"
# counts the misses whose sessions fall on the local date of this one or the
# 59 local dates before it, whatever DST does in between.


def ladder_window_start(*, start: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The first moment of a ladder window of `days` local days ending on `start`'s local date (UTC)."""
    first = grace_window_start(start=start, days=days, zone=zone)
    # A midnight the clocks skip resolves to the next valid time (zoneinfo's fold 0).
    return datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class Reached:
    """A ladder step a miss reached, the misses it counted, and the first of them (the window's key)."""

    step: object
    misses: int
    first_miss: datetime


def ladder_reached(
    steps: Sequence[tuple[int, int, T]], miss_starts: Sequence[datetime], *, at: datetime, zone: ZoneInfo
) -> list[Reached]:
    """Which steps the miss of a session starting `at` reaches, lowest first.

    `steps` holds (count, window_days, step) triples; `miss_starts` the starts
    of the client's live misses (no-shows and late cancels alike), this one
    included, in any order. A step is reached when at least `count` of them
    fall in its window ending on `at`'s local date, at or before `at`.
    """
    reached = []
    for count, days, step in sorted(steps, key=lambda s: (s[0], s[1])):
        since = ladder_window_start(start=at, days=days, zone=zone)
        inside = sorted(s for s in miss_starts if since <= s <= at)
        if len(inside) >= count:
            reached.append(Reached(step=step, misses=len(inside), first_miss=inside[0]))
    return reached
