"""The rebooking page's statement, prepared once per PostgreSQL connection (aftercare/selectors.py).

Requests run outside a transaction (ATOMIC_REQUESTS is off), and only there is the statement
prepared, so these tests run outside one too (`transaction=True`): the property test of
test_rebook_page_read.py runs inside a test's transaction and checks the plain statement.
"""

import json
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from aftercare import selectors
from aftercare import services as aftercare
from appointments.models import Appointment, Availability, NoShowEvent
from followups import services as followups
from followups.models import ClientLink
from tests.aftercare.test_rebook_page_read import outcome, reference_offer
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's"),
]

S = Appointment.Status
NOW = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)  # Monday, 14:00 in New York


def _prepared() -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
            [selectors._PREPARED_NAME],
        )
        row = cursor.fetchone()
    return None if row is None else {"generic": row[0], "custom": row[1]}


@pytest.fixture
def link(practice, therapist, client_of_therapist):
    Availability.objects.create(
        practice=practice, clinician=therapist, weekday=1, start_time=time(9), end_time=time(12)
    )
    missed = AppointmentFactory(client=client_of_therapist, start=NOW - timedelta(days=1), status=S.NO_SHOW)
    AppointmentFactory(client=client_of_therapist, start=NOW + timedelta(days=1, hours=-4), status=S.SCHEDULED)
    event = NoShowEvent.objects.create(practice=practice, appointment=missed, kind="no_show")
    token = followups.reschedule_link_create(event=event, days=14).rsplit("/r/", 1)[1].strip("/")
    yield token
    selectors._PREPARED_ON.discard(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")


def test_prepared_once_answers_as_the_orm_path_and_is_planned_no_more(link):
    connection.ensure_connection()
    selectors._PREPARED_ON.discard(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    expected = outcome(reference_offer, token=link, now=NOW)
    assert expected[0] == "times" and expected[-1]  # open times, around a booked session
    for _ in range(8):
        with CaptureQueriesContext(connection) as queries:
            assert outcome(aftercare.reschedule_offer, token=link, now=NOW) == expected
        assert len(queries.captured_queries) == 1 or "PREPARE" in queries.captured_queries[0]["sql"]
        assert queries.captured_queries[-1]["sql"].startswith("EXECUTE")
    assert outcome(aftercare.reschedule_offer, token="nope", now=NOW) == ("kind page", None)
    plans = _prepared()
    # PostgreSQL plans it for its first five runs, then keeps its generic plan: no more planning.
    assert plans is not None and plans["generic"] >= 3, plans


def test_a_statement_gone_from_the_connection_is_prepared_again(link):
    expected = outcome(reference_offer, token=link, now=NOW)
    assert outcome(aftercare.reschedule_offer, token=link, now=NOW) == expected
    assert _prepared() is not None
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    assert connection.connection in selectors._PREPARED_ON  # we still think it is there
    assert outcome(aftercare.reschedule_offer, token=link, now=NOW) == expected
    assert _prepared() is not None


def test_inside_a_transaction_or_when_turned_off_it_runs_unprepared(link, settings):
    expected = outcome(reference_offer, token=link, now=NOW)
    selectors._PREPARED_ON.discard(connection.connection)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert outcome(aftercare.reschedule_offer, token=link, now=NOW) == expected
    assert [q["sql"].lstrip()[:4] for q in queries.captured_queries] == ["WITH"]
    settings.DATABASE_PREPARED_STATEMENTS = False
    with CaptureQueriesContext(connection) as queries:
        assert outcome(aftercare.reschedule_offer, token=link, now=NOW) == expected
    assert [q["sql"].lstrip()[:4] for q in queries.captured_queries] == ["WITH"]
    assert _prepared() is None


def _relations_scanned(plan: dict) -> set[tuple[str, str]]:
    found = set()
    if "Relation Name" in plan:
        found.add((plan["Node Type"], plan["Relation Name"]))
    for child in plan.get("Plans", []):
        found |= _relations_scanned(child)
    return found


def test_its_generic_plan_finds_the_link_and_the_sessions_by_index(link, practice, therapist):
    """With many links and sessions (ANALYZEd), the plan kept for every later request reads the
    link by its unique hash and the clinician's sessions by index, never a whole table."""
    others = [ClientFactory(practice=practice, clinician=therapist) for _ in range(20)]
    Appointment.objects.bulk_create(
        Appointment(
            practice=practice,
            client=others[n % 20],
            clinician=therapist,
            start=NOW - timedelta(days=400) + timedelta(hours=5 * n),
            end=NOW - timedelta(days=400) + timedelta(hours=5 * n, minutes=50),
            status=S.ATTENDED,
        )
        for n in range(3000)
    )
    event = NoShowEvent.objects.filter(appointment__client__practice=practice).first()
    ClientLink.objects.bulk_create(
        ClientLink(
            practice=practice,
            client=event.appointment.client,
            purpose=ClientLink.Purpose.REBOOK,
            token_hash=f"{n:064x}",
            missed_session=event,
            expires_at=NOW + timedelta(days=14),
        )
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    assert outcome(aftercare.reschedule_offer, token=link, now=NOW)[0] == "times"  # prepared
    sql, _ = selectors._statement(connection.vendor)
    params = ["x" * 64, ClientLink.Purpose.REBOOK, NOW + timedelta(days=16), NOW]
    statuses = list(Appointment.BLOCKING_STATUSES)
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            placeholders = ", ".join(["%s"] * (2 * len(statuses) + 4))
            cursor.execute(
                f"EXPLAIN (FORMAT JSON) EXECUTE {selectors._PREPARED_NAME} ({placeholders})",
                [*statuses, *params[:2], *statuses, *params[2:]],
            )
            plan = cursor.fetchone()[0]
        finally:
            cursor.execute("RESET plan_cache_mode")
    plan = json.loads(plan) if isinstance(plan, str) else plan
    scanned = _relations_scanned(plan[0]["Plan"])
    assert ("Seq Scan", "followups_clientlink") not in scanned, scanned
    assert ("Seq Scan", "appointments_appointment") not in scanned, scanned
    assert any(relation == "followups_clientlink" for _, relation in scanned)
