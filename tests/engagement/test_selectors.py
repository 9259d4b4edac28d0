"""The strip and the rates against direct counts, for generated clients (none, few, many)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from engagement import selectors
from followups.models import MissReason, OutboxMessage
from practice.services import audit_record
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


# What the client told us (package "replies").


def test_every_kind_of_reply_appears_newest_first_with_its_session(practice, therapist):
    from tests.engagement.replies import KINDS, every_kind_of_reply

    client = ClientFactory(practice=practice, clinician=therapist)
    made = every_kind_of_reply(client)
    replies = selectors.client_replies(client=client)
    assert {r.kind for r in replies} == KINDS and len(replies) == len(KINDS)
    assert [r.at for r in replies] == sorted((r.at for r in replies), reverse=True)
    by_kind = {r.kind: r for r in replies}
    assert by_kind["confirmed"].session_start == made["confirmed"].start
    assert by_kind["rebooked"].session_start == made["missed"].start
    assert by_kind["rebooked"].new_start == made["makeup"].start
    assert "The bus was late" in by_kind["reason"].what and by_kind["reason"].session_start == made["missed"].start
    assert by_kind["acknowledged"].session_start is None and "version 1" in by_kind["acknowledged"].what
    assert "STOP" in by_kind["sms_opted_out"].what


def test_a_rebooking_by_staff_is_not_something_the_client_said(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    missed = AppointmentFactory(client=client, status=S.NO_SHOW)
    AppointmentFactory(client=client, rescheduled_from=missed, created_by=therapist)
    assert selectors.client_replies(client=client) == []


def test_replies_are_bounded_to_the_latest_twenty_in_one_query(practice, therapist, django_assert_num_queries):
    client = ClientFactory(practice=practice, clinician=therapist)
    now = timezone.now()
    for i in range(25):
        AppointmentFactory(client=client, start=now + timedelta(days=i + 1), confirmed_at=now - timedelta(hours=i))
    for i in range(25):
        AppointmentFactory(
            client=client,
            start=now + timedelta(days=40 + i),
            status=S.CANCELLED_IN_TIME,
            client_response=Appointment.ClientResponse.CANT_MAKE_IT,
            client_responded_at=now - timedelta(hours=i, minutes=30),
        )
    with django_assert_num_queries(1):  # seven bounded parts, UNION ALL (issue 11)
        replies = selectors.client_replies(client=client)
    assert len(replies) == selectors.REPLIES_SHOWN
    times = [now - timedelta(hours=i) for i in range(25)] + [now - timedelta(hours=i, minutes=30) for i in range(25)]
    assert [r.at for r in replies] == sorted(times, reverse=True)[:20]


def test_other_clients_and_other_practices_never_appear(practice, therapist, other_practice, other_practice_therapist):
    from tests.engagement.replies import every_kind_of_reply

    mine = ClientFactory(practice=practice, clinician=therapist)
    neighbour = ClientFactory(practice=practice, clinician=therapist)
    elsewhere = ClientFactory(practice=other_practice, clinician=other_practice_therapist)
    every_kind_of_reply(neighbour)
    every_kind_of_reply(elsewhere)
    assert selectors.client_replies(client=mine) == []
    # The same client id in another practice's audit trail is not read (a client_ref alone is not enough).
    audit_record(practice=other_practice, actor=None, action="client.sms_start_received", obj=mine)
    assert selectors.client_replies(client=mine) == []
