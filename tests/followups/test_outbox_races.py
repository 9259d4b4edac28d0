"""Undo against send, and workers against each other, in threads on PostgreSQL (issue 8, items 3 and 4).

SQLite has no row locks, so these are skipped there; test_outbox_faults.py makes
the same interleavings one at a time on any database.
"""

import random
import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare import services as aftercare
from followups import services
from followups.models import OutboxMessage
from tests.concurrency import run_concurrently
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="row locks need PostgreSQL",
    ),
]


@pytest.fixture
def plan(practice):
    plan = services.plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 0
    plan.save()
    return plan


def due_miss(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(minutes=30))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    # Due now whatever the hour (no quiet hours in the way).
    OutboxMessage.objects.filter(missed_session=event).update(due_at=timezone.now() - timedelta(seconds=1))
    return event


def test_an_undo_racing_a_send_either_stops_it_or_says_it_was_on_its_way(plan, practice, therapist, mailoutbox):
    """Whoever wins, the therapist is told the truth, and nothing deadlocks or fails."""
    rounds = 12
    for _ in range(rounds):
        event = due_miss(practice, therapist)
        message = OutboxMessage.objects.get(missed_session=event)
        claim = services.outbox_claim_one(message_id=message.pk)
        before = len(mail.outbox)

        def run(role, jitter, event=event, claim=claim):
            time.sleep(jitter)
            if role == "send":
                return services.outbox_deliver(claim=claim)
            return aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)

        results = run_concurrently(
            run, args_list=[("send", random.uniform(0, 0.02)), ("undo", random.uniform(0, 0.02))]
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        [outcome] = [r for r in results if isinstance(r, aftercare.UndoOutcome)]
        sent = len(mail.outbox) - before
        message.refresh_from_db()
        if sent:
            assert (outcome.on_its_way, outcome.stopped, message.status) == (1, 0, "sent")
        else:
            assert (outcome.on_its_way, outcome.stopped) == (0, 1)
            assert (message.status, message.cancel_code) == ("cancelled", "undone")


def test_workers_racing_over_lost_leases_send_each_row_once(plan, practice, therapist, mailoutbox):
    events = [due_miss(practice, therapist) for _ in range(6)]
    # Every row was claimed by a worker that then died; three sweeps race to take them over.
    for event in events:
        services.outbox_claim_one(message_id=OutboxMessage.objects.get(missed_session=event).pk)
    OutboxMessage.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    results = run_concurrently(aftercare.followups_send_due, times=3)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}
    assert len(mail.outbox) == len(events)


def test_the_point_of_no_return_locks_only_the_outbox_row_and_weakly(plan, practice, therapist, mailoutbox):
    event = due_miss(practice, therapist)
    claim = services.outbox_claim_one(message_id=OutboxMessage.objects.get(missed_session=event).pk)
    with CaptureQueriesContext(connection) as queries:
        assert services.outbox_deliver(claim=claim) == "sent"
    locking = [q["sql"] for q in queries.captured_queries if " FOR " in q["sql"] and "UPDATE" in q["sql"]]
    locking = [sql for sql in locking if "UPDATE" in sql.rsplit(" FOR ", 1)[1]]
    assert len(locking) == 1, locking
    tail = locking[0].rsplit(" FOR ", 1)[1]
    # A plain FOR UPDATE would block inserts that reference the row; OF keeps the joined rows free.
    assert tail.startswith("NO KEY UPDATE") and re.search(r'\bOF "followups_outboxmessage"', tail), tail
