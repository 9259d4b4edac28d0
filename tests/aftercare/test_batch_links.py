"""A batch of follow-ups writes its rebooking links in one INSERT (issue 11, "pipe3"): each message still
carries a link that works, for its own missed session; a batch that fails takes its links with it; a
redelivery writes none."""

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftercare import tasks
from followups import services as followups
from followups.models import ClientLink, OutboxMessage
from tests.aftercare.test_pipeline_batches import first_rows, misses, plan  # noqa: F401 - a fixture

Status = OutboxMessage.Status
LINK = re.compile(re.escape(settings.SITE_URL) + r"/r/([A-Za-z0-9_-]+)/")


def _links_inserts(queries) -> int:
    return sum(1 for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "followups_clientlink"'))


def _token_of(message) -> str:
    [token] = set(LINK.findall(message.body))
    return token


@pytest.mark.django_db
def test_a_batch_writes_its_links_in_one_insert_and_each_message_links_its_own_miss(
    plan,  # noqa: F811
    practice,
    therapist,
    mailoutbox,
):
    events = misses(practice, therapist, 6)
    claims = followups.outbox_claim_batch(size=6)
    with CaptureQueriesContext(connection) as queries:
        results = followups.outbox_deliver_batch(claims=claims)

    assert set(results.values()) == {Status.SENT} and len(mailoutbox) == 6
    assert _links_inserts(queries) == 1
    by_address = {event.appointment.client.email: event.pk for event in events}
    for message in mailoutbox:
        link = followups.client_link_find(token=_token_of(message), purpose=ClientLink.Purpose.REBOOK)
        assert link is not None and link.used_at is None
        assert link.missed_session_id == by_address[message.to[0]]
    assert ClientLink.objects.count() == 6

    # A redelivery of every wake-up sends nothing and writes no link.
    for row in first_rows(events):
        tasks.send_followup(row.pk)
    assert len(mailoutbox) == 6 and ClientLink.objects.count() == 6


@pytest.mark.django_db
def test_a_batch_that_fails_takes_its_links_with_it_and_each_row_writes_its_own(
    plan,  # noqa: F811
    practice,
    therapist,
    mailoutbox,
):
    events = misses(practice, therapist, 3)
    rows = list(first_rows(events))
    # The last row cannot be composed: its purpose is gone. The batch's savepoint is rolled back (the
    # first two rows' links with it), and each row is composed again alone.
    OutboxMessage.objects.filter(pk=rows[2].pk).update(purpose="retired")

    results = followups.outbox_deliver_batch(claims=followups.outbox_claim_batch(size=3))

    assert sorted(results.values()) == [Status.PENDING, Status.SENT, Status.SENT]
    assert len(mailoutbox) == 2
    # Two links, one per message sent: none left over from the rolled-back batch, none for the bad row.
    assert ClientLink.objects.count() == 2
    assert {
        followups.client_link_find(token=_token_of(m), purpose=ClientLink.Purpose.REBOOK).missed_session_id
        for m in mailoutbox
    } == {events[0].pk, events[1].pk}
    assert not followups._links.deferred  # nothing is collected once the batch is over
