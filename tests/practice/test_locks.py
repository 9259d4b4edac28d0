"""Row locks take only the rows meant, and weakly enough that inserts referencing them go on.

PostgreSQL only: SQLite has no row locks (select_for_update is a no-op there).
A plain FOR UPDATE conflicts with the KEY SHARE lock every insert takes on the
rows its foreign keys point at: undo locked the practice row through a join and
deadlocked against workers, and a worker's SKIP LOCKED skipped a missed session
whose row a concurrent insert referenced (issue 8, faults 1 and 2).
"""

import re
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare.services import attendance_record, attendance_undo, missed_session_process
from appointments.models import NoShowEvent
from followups.models import MissReason
from policies import services as policies
from policies.models import FeeAssessment
from tests.factories import AppointmentFactory, make_policy

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="row locks need PostgreSQL",
    ),
]


def _locking(queries) -> list[str]:
    return [q["sql"] for q in queries if " FOR " in q["sql"] and "UPDATE" in q["sql"].split(" FOR ", 1)[1]]


def _assert_narrow(sqls: list[str]) -> None:
    assert sqls, "expected the service to lock something"
    for sql in sqls:
        tail = sql.rsplit(" FOR ", 1)[1]
        assert tail.startswith("NO KEY UPDATE"), f"a plain FOR UPDATE blocks inserts that reference the row: {sql}"
        if " JOIN " in sql:
            assert re.search(r"\bOF\b", tail), f"locks every joined row too: {sql}"


@pytest.fixture
def started(client_of_therapist):
    return AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(minutes=30))


def test_mark_process_undo_and_fee_actions_lock_narrowly(practice, therapist, front_desk, started):
    version = make_policy(practice)
    policies.acknowledgement_record(client=started.client, version=version, method="paper")
    with CaptureQueriesContext(connection) as mark:
        result = attendance_record(appointment_id=started.pk, outcome="no_show", actor=therapist)
    _assert_narrow(_locking(mark.captured_queries))
    with CaptureQueriesContext(connection) as process:
        assert missed_session_process(event_id=result.event.pk)
    _assert_narrow(_locking(process.captured_queries))
    fee = FeeAssessment.objects.get(missed_session=result.event)
    assert fee.state == FeeAssessment.State.PROPOSED
    with CaptureQueriesContext(connection) as waive:
        policies.fee_waive(fee=fee, actor=front_desk, reason_code="hardship")
    _assert_narrow(_locking(waive.captured_queries))
    with CaptureQueriesContext(connection) as undo:
        attendance_undo(appointment_id=started.pk, actor=therapist)
    _assert_narrow(_locking(undo.captured_queries))


def test_a_missed_session_is_not_skipped_while_an_insert_references_it(therapist, started):
    """The worker's claim must not skip a row that another transaction merely points at."""
    result = attendance_record(appointment_id=started.pk, outcome="no_show", actor=therapist)
    inserted, release = threading.Event(), threading.Event()

    def hold_a_reference():
        try:
            with transaction.atomic():
                # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so the
                # KEY SHARE lock is normally taken at commit; take it now, to hold
                # the moment a committing insert has it.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                MissReason.objects.create(practice_id=result.event.practice_id, missed_session=result.event)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_a_reference)
    holder.start()
    try:
        assert inserted.wait(10)
        assert missed_session_process(event_id=result.event.pk) is True
    finally:
        release.set()
        holder.join(10)
    assert NoShowEvent.objects.get(pk=result.event.pk).processed_at is not None
