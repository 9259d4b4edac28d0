"""The strip and the rates against direct counts, for generated clients (none, few, many)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from engagement import selectors
from followups.models import MissReason, OutboxMessage
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

S = Appointment.Status
OUTCOMES = [S.ATTENDED, S.CANCELLED_IN_TIME, S.LATE_CANCEL, S.NO_SHOW, S.CANCELLED_BY_CLINICIAN, S.RESCHEDULED]


def history(client, statuses):
    """Sessions a week apart, oldest first, with a live missed-session record for each miss."""
    start = timezone.now() - timedelta(days=7 * len(statuses) + 1)
    made = []
    for i, status in enumerate(statuses):
        a = AppointmentFactory(client=client, start=start + timedelta(days=7 * i), status=status)
        if status in (S.NO_SHOW, S.LATE_CANCEL):
            NoShowEvent.objects.create(practice=client.practice, appointment=a, kind=status)
        made.append(a)
    return made


def direct(statuses):
    return [s for s in statuses if s in selectors.COUNTED]


@pytest.mark.parametrize("seed,n", [(1, 0), (2, 3), (3, 4), (4, 5), (5, 19), (6, 37)])
def test_rates_and_strip_match_direct_counts(practice, therapist, seed, n):
    rng = random.Random(seed)
    statuses = [rng.choice(OUTCOMES) for _ in range(n)]
    client = ClientFactory(practice=practice, clinician=therapist)
    ClientFactory(practice=practice, clinician=therapist)  # another client's sessions never count
    history(client, statuses)
    counted = direct(statuses)
    strip = selectors.engagement_strip(client=client)
    result = selectors.engagement_rates(client=client, strip=strip)

    assert [a.status for a in strip] == list(reversed(counted))[:20]
    assert result.total == len(counted)
    by_label = {r.label: r for r in result.rates}
    assert by_label["Attended"].part == counted.count(S.ATTENDED)
    assert by_label["No-show"].part == counted.count(S.NO_SHOW)
    assert by_label["Late cancel"].part == counted.count(S.LATE_CANCEL)
    assert by_label["Cancelled in time"].part == counted.count(S.CANCELLED_IN_TIME)
    missed = by_label["Missed (no-show or late cancel)"]
    assert missed.part == counted.count(S.NO_SHOW) + counted.count(S.LATE_CANCEL)
    for rate in result.rates:
        assert rate.whole == len(counted)
        assert f"{rate.part} of {rate.whole} session" in rate.text
        if len(counted) < 5:
            assert rate.percent is None and rate.text.endswith("too few to tell")
        else:
            assert rate.percent == round(100 * rate.part / len(counted))
    best = run = 0
    for s in list(reversed(counted))[:20][::-1]:
        run = run + 1 if s in (S.NO_SHOW, S.LATE_CANCEL) else 0
        best = max(best, run)
    assert result.longest_run == best


def test_a_client_with_no_sessions_has_an_empty_strip_and_no_rates_to_tell(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    strip = selectors.engagement_strip(client=client)
    result = selectors.engagement_rates(client=client, strip=strip)
    assert strip == [] and result.total == 0 and result.longest_run == 0
    assert all(r.text == "0 of 0 sessions: too few to tell" for r in result.rates)


def test_the_strip_says_what_followed_each_miss(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    missed, attended = history(client, [S.NO_SHOW, S.ATTENDED])
    event = NoShowEvent.objects.get(appointment=missed)
    MissReason.objects.create(practice=practice, missed_session=event, reason="transport", text="Bus strike")
    for step, status in (("first", "sent"), ("second", "cancelled")):
        OutboxMessage.objects.create(
            practice=practice,
            idempotency_key=f"followup:{event.pk}:{step}",
            missed_session=event,
            client=client,
            step=step,
            kind="first",
            channel="email",
            status=status,
            due_at=timezone.now(),
        )
    AppointmentFactory(client=client, rescheduled_from=missed, start=timezone.now() + timedelta(days=2))
    row = {a.pk: a for a in selectors.engagement_strip(client=client)}[missed.pk]
    assert (row.followups_sent, row.reason_label, row.reason_text, row.rebooked) == (1, "Transport", "Bus strike", True)
    other = {a.pk: a for a in selectors.engagement_strip(client=client)}[attended.pk]
    assert (other.followups_sent, other.reason_label, other.rebooked) == (0, "", False)


def test_the_strip_and_rates_take_two_queries_however_long_the_history(practice, therapist, django_assert_num_queries):
    client = ClientFactory(practice=practice, clinician=therapist)
    history(client, [S.NO_SHOW, S.ATTENDED] * 30)
    with django_assert_num_queries(2):
        strip = selectors.engagement_strip(client=client)
        selectors.engagement_rates(client=client, strip=strip)
    assert len(strip) == 20
