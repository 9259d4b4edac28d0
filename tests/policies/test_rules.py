"""The policy arithmetic, alone: examples first, then properties over every IANA zone."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import rules

NY = ZoneInfo("America/New_York")
ZONES = sorted(available_timezones())

TERMS = rules.Terms(
    notice_hours=24,
    no_show_fee=Decimal("60.00"),
    late_cancel_fee=Decimal("40.00"),
    grace_count=1,
    grace_days=90,
    exempt_intake=True,
    makeup_days=7,
    hold_hours=48,
    overrides={"couples": (Decimal("90.00"), None)},
)
START = datetime(2026, 6, 10, 14, 0, tzinfo=UTC)


def miss(**kwargs) -> rules.Miss:
    base = {
        "kind": rules.NO_SHOW,
        "session_type": "individual",
        "start": START,
        "recorded_at": START + timedelta(minutes=20),
        "acknowledged": True,
        "grace_used": 1,
        "makeup_start": None,
    }
    return rules.Miss(**{**base, **kwargs})


# ------------------------------------------------------------------ examples


def test_new_york_spring_forward_gap_does_not_exist():
    with pytest.raises(rules.NonexistentLocalTime):
        rules.to_utc(datetime(2026, 3, 8, 2, 30), NY)


def test_new_york_fall_back_overlap_happens_twice():
    first = rules.to_utc(datetime(2026, 11, 1, 1, 30), NY)
    second = rules.to_utc(datetime(2026, 11, 1, 1, 30, fold=1), NY)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT, UTC-4
    assert second == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # EST, UTC-5
    assert second - first == timedelta(hours=1)


def test_notice_is_counted_in_real_hours_across_a_dst_change():
    start = rules.to_utc(datetime(2026, 11, 2, 1, 0), NY)
    # 01:00 the day before by the wall clock is 25 real hours before: not late.
    assert not rules.is_late_cancellation(
        cancelled_at=rules.to_utc(datetime(2026, 11, 1, 1, 0), NY), start=start, notice_hours=25
    )
    assert rules.is_late_cancellation(
        cancelled_at=rules.to_utc(datetime(2026, 11, 1, 1, 0, fold=1), NY), start=start, notice_hours=25
    )


def test_exactly_the_notice_window_is_not_late():
    assert not rules.is_late_cancellation(cancelled_at=START - timedelta(hours=24), start=START, notice_hours=24)
    assert rules.is_late_cancellation(
        cancelled_at=START - timedelta(hours=24) + timedelta(seconds=1), start=START, notice_hours=24
    )


def test_version_in_force_is_the_latest_already_effective():
    versions = [(START - timedelta(days=10), 1, "v1"), (START, 2, "v2"), (START + timedelta(seconds=1), 3, "v3")]
    assert rules.version_in_force(versions, START) == "v2"
    assert rules.version_in_force(versions, START - timedelta(days=11)) is None
    assert rules.version_in_force([(START, 1, "a"), (START, 2, "b")], START) == "b"


def test_charged_no_show_with_review_hold():
    decision = rules.assess(miss(), TERMS, NY)
    assert (decision.charge, decision.amount, decision.rule, decision.hold_hours) == (
        True,
        Decimal("60.00"),
        "charged",
        48,
    )


def test_per_session_type_override():
    assert rules.assess(miss(session_type="couples"), TERMS, NY).amount == Decimal("90.00")
    # The override leaves the late-cancel fee at the default.
    late = miss(session_type="couples", kind=rules.LATE_CANCEL, recorded_at=START - timedelta(hours=2))
    assert rules.assess(late, TERMS, NY).amount == Decimal("40.00")


@pytest.mark.parametrize(
    ("changes", "rule", "detail"),
    [
        ({"acknowledged": False}, "not_acknowledged", "not charged: policy not acknowledged"),
        ({"session_type": "intake"}, "intake_exemption", "not charged: intake exemption"),
        ({"grace_used": 0}, "grace", "grace: 1 of 1 used in 90 days"),
        ({"makeup_start": START + timedelta(days=7)}, "makeup", "waived: make-up session booked"),
        (
            {"kind": rules.LATE_CANCEL, "recorded_at": START - timedelta(hours=30)},
            "enough_notice",
            "not charged: cancelled with 24h notice or more",
        ),
    ],
)
def test_each_reason_not_to_charge(changes, rule, detail):
    decision = rules.assess(miss(**changes), TERMS, NY)
    assert not decision.charge
    assert (decision.rule, decision.detail) == (rule, detail)


def test_no_policy_means_no_charge():
    assert rules.assess(miss(), None, NY).rule == "no_policy"


def test_a_makeup_after_the_window_does_not_waive():
    assert rules.assess(miss(makeup_start=START + timedelta(days=8)), TERMS, NY).charge


def test_grace_exhausted_charges():
    terms = rules.Terms(**{**TERMS.__dict__, "grace_count": 2})
    assert rules.assess(miss(grace_used=1), terms, NY).detail == "grace: 2 of 2 used in 90 days"
    assert rules.assess(miss(grace_used=2), terms, NY).charge


def test_a_zero_fee_does_not_use_up_grace():
    terms = rules.Terms(**{**TERMS.__dict__, "no_show_fee": Decimal("0")})
    assert rules.assess(miss(grace_used=0), terms, NY).rule == "no_fee"


def test_makeup_days_count_local_calendar_days():
    # 23:30 in New York is already the next day in UTC; the waiver counts New York days.
    missed = rules.to_utc(datetime(2026, 6, 1, 23, 30), NY)
    assert rules.within_days(earlier=missed, later=rules.to_utc(datetime(2026, 6, 8, 23, 59), NY), days=7, zone=NY)
    assert not rules.within_days(earlier=missed, later=rules.to_utc(datetime(2026, 6, 9, 0, 0), NY), days=7, zone=NY)


# ---------------------------------------------------------------- properties

zones = st.sampled_from(ZONES).map(ZoneInfo)
naive_times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31))
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC))


@settings(max_examples=400, deadline=None)
@given(zone=zones, local=naive_times, fold=st.integers(0, 1))
def test_to_utc_round_trips_or_names_the_gap(zone, local, fold):
    local = local.replace(fold=fold)
    try:
        instant = rules.to_utc(local, zone)
    except rules.NonexistentLocalTime:
        # A gap: neither reading of this wall time comes back to it.
        for f in (0, 1):
            back = local.replace(tzinfo=zone, fold=f).astimezone(UTC).astimezone(zone)
            assert back.replace(tzinfo=None) != local.replace(fold=0)
        return
    assert instant.tzinfo is not None
    assert instant.astimezone(zone).replace(tzinfo=None, fold=0) == local.replace(fold=0)


@settings(max_examples=400, deadline=None)
@given(zone=zones, local=naive_times)
def test_an_ambiguous_time_resolves_to_its_first_occurrence(zone, local):
    try:
        first = rules.to_utc(local.replace(fold=0), zone)
        second = rules.to_utc(local.replace(fold=1), zone)
    except rules.NonexistentLocalTime:
        return
    assert first <= second


@settings(max_examples=300, deadline=None)
@given(start=instants, before=st.integers(-10_000, 10_000), notice=st.integers(1, 24 * 365))
def test_lateness_is_exactly_elapsed_time_under_the_window(start, before, notice):
    cancelled_at = start - timedelta(minutes=before)
    late = rules.is_late_cancellation(cancelled_at=cancelled_at, start=start, notice_hours=notice)
    assert late == (before < notice * 60)


@settings(max_examples=300, deadline=None)
@given(zone=zones, start=instants, a=st.integers(0, 60 * 24 * 30), b=st.integers(0, 60 * 24 * 30))
def test_cancelling_earlier_is_never_later(zone, start, a, b):
    early, late_ = sorted([a, b], reverse=True)
    cancel_early = start - timedelta(minutes=early)
    cancel_late = start - timedelta(minutes=late_)
    if rules.is_late_cancellation(cancelled_at=cancel_early, start=start, notice_hours=24):
        assert rules.is_late_cancellation(cancelled_at=cancel_late, start=start, notice_hours=24)


@settings(max_examples=300, deadline=None)
@given(zone=zones, missed=instants, gap_minutes=st.integers(0, 60 * 24 * 40), days=st.integers(0, 30))
def test_makeup_window_matches_local_calendar_dates(zone, missed, gap_minutes, days):
    makeup = missed + timedelta(minutes=gap_minutes)
    expected = (makeup.astimezone(zone).date() - missed.astimezone(zone).date()).days <= days
    assert rules.within_days(earlier=missed, later=makeup, days=days, zone=zone) == expected


@settings(max_examples=300, deadline=None)
@given(
    versions=st.lists(st.tuples(instants, st.integers(1, 50)), min_size=0, max_size=6, unique_by=lambda v: v[1]),
    at=instants,
)
def test_version_in_force_never_comes_from_the_future(versions, at):
    triples = [(effective, number, (effective, number)) for effective, number in versions]
    chosen = rules.version_in_force(triples, at)
    eligible = [v for v in versions if v[0] <= at]
    if not eligible:
        assert chosen is None
    else:
        assert chosen[0] <= at
        assert all((chosen[0], chosen[1]) >= (e, n) for e, n in eligible)


@settings(max_examples=300, deadline=None)
@given(
    zone=zones,
    kind=st.sampled_from([rules.NO_SHOW, rules.LATE_CANCEL]),
    session_type=st.sampled_from(["intake", "individual", "couples"]),
    acknowledged=st.booleans(),
    grace_used=st.integers(0, 3),
    notice_minutes=st.integers(0, 60 * 72),
    makeup_days_after=st.one_of(st.none(), st.integers(0, 20)),
)
def test_assess_charges_only_when_every_condition_holds(
    zone, kind, session_type, acknowledged, grace_used, notice_minutes, makeup_days_after
):
    makeup = START + timedelta(days=makeup_days_after) if makeup_days_after is not None else None
    m = miss(
        kind=kind,
        session_type=session_type,
        acknowledged=acknowledged,
        grace_used=grace_used,
        recorded_at=START - timedelta(minutes=notice_minutes),
        makeup_start=makeup,
    )
    decision = rules.assess(m, TERMS, zone)
    late = kind == rules.NO_SHOW or notice_minutes < 24 * 60
    within = makeup is not None and rules.within_days(earlier=START, later=makeup, days=7, zone=zone)
    should_charge = late and acknowledged and session_type != "intake" and grace_used >= 1 and not within
    assert decision.charge == should_charge
    assert decision.amount >= 0
    if not decision.charge and decision.rule != "makeup":
        assert decision.amount == 0


# ------------------------------------------ never more than acknowledged terms

V1 = rules.Judged(number=1, terms=TERMS, grace_used=1)


def judged(number, grace_used=1, **changes):
    return rules.Judged(number=number, terms=rules.Terms(**{**TERMS.__dict__, **changes}), grace_used=grace_used)


def test_a_higher_new_version_charges_the_accepted_terms_and_says_so():
    decision = rules.assess_lesser(miss(), in_force=judged(2, no_show_fee=Decimal("75.00")), acknowledged=V1, zone=NY)
    assert (decision.charge, decision.amount, decision.version) == (True, Decimal("60.00"), 1)
    assert decision.detail == "no-show fee, charged under v1, the terms the client accepted; v2 not yet acknowledged"


def test_a_lower_new_version_charges_the_lower_fee_and_says_so():
    decision = rules.assess_lesser(miss(), in_force=judged(2, no_show_fee=Decimal("45.00")), acknowledged=V1, zone=NY)
    assert (decision.charge, decision.amount, decision.version) == (True, Decimal("45.00"), 2)
    assert decision.detail == "no-show fee, charged under v2, less than under v1, the terms the client accepted"


def test_grace_of_the_kinder_terms_lets_the_miss_off():
    # v2 has no grace; the client accepted v1, whose grace is not used up yet.
    decision = rules.assess_lesser(
        miss(), in_force=judged(2, grace_count=0), acknowledged=judged(1, grace_used=0), zone=NY
    )
    assert (decision.charge, decision.rule, decision.version) == (False, "grace", 1)
    assert decision.detail.startswith("grace: 1 of 1 used in 90 days, under v1, the terms the client accepted")


def test_equal_fees_keep_the_longer_makeup_waiver():
    decision = rules.assess_lesser(miss(), in_force=judged(2, makeup_days=14), acknowledged=V1, zone=NY)
    assert (decision.amount, decision.version) == (Decimal("60.00"), 2)
    assert "a longer make-up waiver than v1" in decision.detail
    same = rules.assess_lesser(miss(), in_force=judged(2), acknowledged=V1, zone=NY)
    assert same.version == 1


def test_nothing_acknowledged_is_still_not_charged():
    decision = rules.assess_lesser(miss(acknowledged=True), in_force=V1, acknowledged=None, zone=NY)
    assert (decision.charge, decision.rule, decision.version) == (False, "not_acknowledged", None)


def test_the_same_version_is_judged_as_before():
    decision = rules.assess_lesser(miss(), in_force=V1, acknowledged=V1, zone=NY)
    before = rules.assess(miss(), TERMS, NY)
    assert (decision.charge, decision.amount, decision.detail, decision.version) == (
        before.charge,
        before.amount,
        before.detail,
        1,
    )


fees = st.sampled_from([Decimal("0"), Decimal("25.00"), Decimal("40.00"), Decimal("60.00"), Decimal("90.00")])


def judged_versions(numbers):
    return st.builds(
        lambda number, no_show, late, notice, grace_count, grace_used, intake, makeup, override: rules.Judged(
            number=number,
            terms=rules.Terms(
                notice_hours=notice,
                no_show_fee=no_show,
                late_cancel_fee=late,
                grace_count=grace_count,
                grace_days=90,
                exempt_intake=intake,
                makeup_days=makeup,
                hold_hours=48,
                overrides={"couples": (override, None)},
            ),
            grace_used=grace_used,
        ),
        number=numbers,
        no_show=fees,
        late=fees,
        notice=st.sampled_from([12, 24, 48]),
        grace_count=st.integers(0, 2),
        grace_used=st.integers(0, 3),
        intake=st.booleans(),
        makeup=st.sampled_from([0, 3, 7, 14]),
        override=st.one_of(st.none(), fees),
    )


# Version numbers are unique per practice: the accepted one is older than the one in force.
accepted_versions = judged_versions(st.integers(1, 2))
versions_in_force = judged_versions(st.integers(3, 5))
misses = st.builds(
    lambda kind, session_type, notice_minutes, makeup_after: miss(
        kind=kind,
        session_type=session_type,
        recorded_at=START - timedelta(minutes=notice_minutes) if kind == rules.LATE_CANCEL else START,
        makeup_start=START + timedelta(days=makeup_after) if makeup_after is not None else None,
    ),
    kind=st.sampled_from([rules.NO_SHOW, rules.LATE_CANCEL]),
    session_type=st.sampled_from(["intake", "individual", "couples"]),
    notice_minutes=st.integers(0, 60 * 72),
    makeup_after=st.one_of(st.none(), st.integers(0, 20)),
)


def alone(m: rules.Miss, judged_version: rules.Judged) -> rules.Decision:
    """What the miss would cost under one version, had the client acknowledged it."""
    return rules.assess(
        rules.Miss(**{**m.__dict__, "acknowledged": True, "grace_used": judged_version.grace_used}),
        judged_version.terms,
        NY,
    )


@settings(max_examples=400, deadline=None)
@given(m=misses, in_force=versions_in_force, acknowledged=accepted_versions)
def test_never_charged_more_than_the_acknowledged_terms_nor_the_terms_in_force(m, in_force, acknowledged):
    decision = rules.assess_lesser(m, in_force=in_force, acknowledged=acknowledged, zone=NY)
    assert decision.charged_amount <= alone(m, acknowledged).charged_amount
    assert decision.charged_amount <= alone(m, in_force).charged_amount
    assert decision.version in (in_force.number, acknowledged.number)
    # It is exactly the lesser of the two: never nothing where both would charge.
    assert decision.charged_amount == min(alone(m, acknowledged).charged_amount, alone(m, in_force).charged_amount)


@settings(max_examples=200, deadline=None)
@given(m=misses, in_force=versions_in_force)
def test_without_any_acknowledgement_nothing_is_charged(m, in_force):
    decision = rules.assess_lesser(m, in_force=in_force, acknowledged=None, zone=NY)
    assert not decision.charge and decision.charged_amount == 0 and decision.version is None


@settings(max_examples=200, deadline=None)
@given(m=misses, acknowledged=accepted_versions)
def test_no_policy_in_force_charges_nothing(m, acknowledged):
    assert not rules.assess_lesser(m, in_force=None, acknowledged=acknowledged, zone=NY).charge
