"""The pipeline's per-miss reads, compiled once per process (practice/sqlonce.py, issue 11 "pipe3"),
give what their querysets gave: each is held here to the ORM code it replaced (the `_former_*` functions,
copied from before the change), over data where every filter and every order decides something."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from followups import services as followups
from followups.models import MessageTemplate
from policies import rules, selectors
from policies import services as policies
from policies.models import Acknowledgement, FeeAssessment, FeeOverride, PolicyVersion
from tests.factories import AppointmentFactory, ClientFactory, make_ladder, make_policy

NOW = timezone.now().replace(microsecond=0)
DAY = timedelta(days=1)


# ---------------------------------------------------------- the former code


def _former_policy_in_force(*, practice_id, at):
    versions = PolicyVersion.objects.filter(practice_id=practice_id).prefetch_related("overrides")
    return rules.version_in_force([(v.effective_at, v.number, v) for v in versions], at)


def _former_acknowledged_version(*, client_id, start, by):
    acks = (
        Acknowledgement.objects.filter(client_id=client_id, acknowledged_at__lte=by, version__effective_at__lte=start)
        .select_related("version")
        .prefetch_related("version__overrides")
    )
    return rules.version_in_force([(a.version.effective_at, a.version.number, a.version) for a in acks], start)


def _former_grace_used(*, client_id, appointment, since):
    return FeeAssessment.objects.filter(
        client_id=client_id,
        rule=rules.RULE_GRACE,
        state=FeeAssessment.State.NOT_CHARGED,
        missed_session__appointment__start__gte=since,
        missed_session__appointment__start__lt=appointment.start,
    ).count()


def _former_makeup_start(appointment):
    makeup = (
        Appointment.objects.filter(rescheduled_from=appointment, status__in=Appointment.BLOCKING_STATUSES)
        .order_by("start")
        .first()
    )
    return makeup.start if makeup else None


def _former_ladder_reached(appointment):
    steps = [(s.count, s.window_days, s) for s in selectors.escalation_steps(practice_id=appointment.practice_id)]
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


def _same_version(found, expected) -> None:
    assert (found and found.pk) == (expected and expected.pk)
    if expected is not None:
        # The overrides as the prefetch gave them, read without a query.
        with CaptureQueriesContext(connection) as queries:
            assert found.terms() == expected.terms()
            assert [o.version is found for o in found.overrides.all()] == [True] * len(expected.overrides.all())
        assert len(queries.captured_queries) == 0


# ---------------------------------------------------------------- the data


@pytest.fixture
def versions(practice, other_practice):
    """Three versions here (one not yet in force), with overrides on two; one in another practice."""
    old = make_policy(practice, effective_at=NOW - 400 * DAY, no_show_fee=Decimal("50.00"))
    mid = make_policy(practice, effective_at=NOW - 100 * DAY, no_show_fee=Decimal("70.00"), grace_count=1)
    later = make_policy(practice, effective_at=NOW + 10 * DAY, no_show_fee=Decimal("90.00"))
    make_policy(other_practice, effective_at=NOW - 50 * DAY, no_show_fee=Decimal("10.00"))
    FeeOverride.objects.create(version=old, session_type="intake", no_show_fee=Decimal("0.00"))
    FeeOverride.objects.create(version=mid, session_type="intake", no_show_fee=Decimal("20.00"))
    FeeOverride.objects.create(version=mid, session_type="couples", late_cancel_fee=Decimal("30.00"))
    return old, mid, later


TIMES = [
    NOW - 500 * DAY,
    NOW - 400 * DAY,
    NOW - 399 * DAY,
    NOW - 100 * DAY,
    NOW - DAY,
    NOW,
    NOW + 10 * DAY,
    NOW + 20 * DAY,
]


@pytest.mark.django_db
def test_the_version_in_force_is_the_querysets(practice, other_practice, versions):
    for practice_id in (practice.pk, other_practice.pk, 0):
        for at in TIMES:
            found = policies.policy_in_force(practice_id=practice_id, at=at)
            _same_version(found, _former_policy_in_force(practice_id=practice_id, at=at))
            bare = policies.policy_in_force(practice_id=practice_id, at=at, overrides=False)
            assert (bare and bare.pk) == (found and found.pk)


@pytest.mark.django_db
def test_the_acknowledged_version_is_the_querysets(practice, therapist, versions):
    old, mid, later = versions
    both, one, none = (ClientFactory(practice=practice, clinician=therapist) for _ in range(3))
    for client, version, at in (
        (both, old, NOW - 390 * DAY),
        (both, mid, NOW - 60 * DAY),
        (both, later, NOW - DAY),  # acknowledged before it takes effect
        (one, mid, NOW - 5 * DAY),
    ):
        Acknowledgement.objects.create(
            practice=practice, client=client, version=version, method="paper", acknowledged_at=at
        )
    for client in (both, one, none):
        for start in TIMES:
            for by in TIMES:
                found = policies.acknowledged_version(client_id=client.pk, start=start, by=by)
                _same_version(found, _former_acknowledged_version(client_id=client.pk, start=start, by=by))


def _miss(client, start, *, status=Appointment.Status.NO_SHOW, undone=False):
    appointment = AppointmentFactory(client=client, start=start, status=status)
    event = NoShowEvent.objects.create(
        practice=client.practice,
        appointment=appointment,
        kind=NoShowEvent.Kind.NO_SHOW,
        undone_at=NOW if undone else None,
    )
    return appointment, event


@pytest.mark.django_db
def test_the_grace_used_is_the_querysets(practice, therapist):
    client, other = (ClientFactory(practice=practice, clinician=therapist) for _ in range(2))
    starts = [NOW - d * DAY for d in (1, 5, 20, 40, 80, 120)]
    appointments = []
    for n, start in enumerate(starts):
        for who in (client, other):
            appointment, event = _miss(who, start)
            appointments.append(appointment)
            FeeAssessment.objects.create(
                practice=practice,
                missed_session=event,
                client=who,
                # Grace not charged but for two other rules (n = 2, 5) and one grace in another state (n = 3).
                rule=rules.RULE_GRACE if n % 3 != 2 else "charged",
                state=FeeAssessment.State.DUE if n == 3 else FeeAssessment.State.NOT_CHARGED,
                amount=Decimal("0.00"),
                rule_detail="",
            )
    zone = practice.time_zone
    checked = set()
    for appointment in appointments:
        for days in (1, 7, 30, 90, 365):
            since = datetime.combine(
                rules.grace_window_start(start=appointment.start, days=days, zone=zone), time.min, zone
            )
            expected = _former_grace_used(client_id=appointment.client_id, appointment=appointment, since=since)
            found = policies._grace_used(client_id=appointment.client_id, appointment=appointment, days=days, zone=zone)
            assert found == expected
            checked.add(expected)
    assert checked == {0, 1, 2}  # the data decides something


@pytest.mark.django_db
def test_the_makeup_start_is_the_querysets(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    missed = [_miss(client, NOW - d * DAY)[0] for d in (3, 4, 5, 6)]
    Status = Appointment.Status
    # missed[0]: none; [1]: only a cancelled one; [2]: two booked, the earlier wins; [3]: attended and no-show.
    for source, offset, status in (
        (missed[1], 2, Status.CANCELLED_IN_TIME),
        (missed[2], 5, Status.SCHEDULED),
        (missed[2], 3, Status.SCHEDULED),
        (missed[2], 1, Status.CANCELLED_BY_CLINICIAN),
        (missed[3], 2, Status.NO_SHOW),
        (missed[3], 4, Status.ATTENDED),
    ):
        AppointmentFactory(client=client, start=NOW + offset * DAY, status=status, rescheduled_from=source)
    found = [policies._makeup_start(appointment) for appointment in missed]
    assert found == [_former_makeup_start(appointment) for appointment in missed]
    assert found[0] is None and found[1] is None and found[2] == NOW + 3 * DAY


@pytest.mark.django_db
def test_the_ladder_reached_is_the_querysets(practice, other_practice, therapist):
    make_ladder(practice, (2, 30), (3, 60), (3, 30))
    client, other = (ClientFactory(practice=practice, clinician=therapist) for _ in range(2))
    appointments = []
    for days in (1, 10, 25, 45, 70, 100):
        appointments.append(_miss(client, NOW - days * DAY)[0])
        appointments.append(_miss(other, NOW - days * DAY, undone=days in (10, 45))[0])
    lonely = _miss(ClientFactory(practice=other_practice), NOW - DAY)[0]  # a practice with no ladder
    reached = []
    for appointment in [*appointments, lonely]:
        found = selectors.ladder_reached(appointment=appointment)
        expected = _former_ladder_reached(appointment)
        assert [(r.step.pk, r.misses, r.first_miss) for r in found] == [
            (r.step.pk, r.misses, r.first_miss) for r in expected
        ]
        reached.append(len(found))
    assert len(set(reached)) > 2  # the data decides something


@pytest.mark.django_db
def test_the_wording_is_the_practices_own_or_the_default(practice, other_practice):
    kind = MessageTemplate.Kind.FIRST
    default = followups.wording_with_version(practice, kind)
    MessageTemplate.objects.create(practice=other_practice, kind=kind, subject="Theirs", body="Theirs", version=4)
    assert followups.wording_with_version(practice, kind) == default
    MessageTemplate.objects.create(practice=practice, kind=kind, subject="Ours", body="Hello {first_name}", version=3)
    assert followups.wording_with_version(practice, kind) == ("Ours", "Hello {first_name}", 3)
    assert followups.wording_with_version(other_practice, kind) == ("Theirs", "Theirs", 4)


@pytest.mark.django_db
def test_a_fee_already_assessed_is_returned_in_one_query(practice, therapist, versions, django_assert_num_queries):
    _, event = _miss(ClientFactory(practice=practice, clinician=therapist), NOW - DAY)
    fee = policies.fee_assess(event=event)
    with django_assert_num_queries(1):
        again = policies.fee_assess(event=event)
    assert again.pk == fee.pk and again.state == fee.state and again.amount == fee.amount
    assert FeeAssessment.objects.filter(missed_session=event).count() == 1
