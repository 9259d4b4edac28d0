"""The claimed row as sending reads it (followups.services._held), compiled once per process and purpose
(practice/sqlonce.py, issue 11 "pipe3"), is what the querysets it replaced gave: the same row or none, the
same related objects already fetched, the same check facts, and at the point of no return only while the
lease runs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare import services as aftercare
from appointments.models import Appointment
from followups import services as followups
from followups.models import ContactNote, OutboxMessage
from followups.services import Claim
from tests.factories import AppointmentFactory, ClientFactory, make_policy

Purpose = OutboxMessage.Purpose
# A New York afternoon: a claim refuses a follow-up in the practice's quiet hours (20:00-08:00 there).
AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _afternoon():
    with time_machine.travel(AFTERNOON, tick=True):
        yield


def _former(claim: Claim, *, locked_at=None):
    """The two reads as they were (outbox_deliver's fetch, _hand_over's lock)."""
    rows = OutboxMessage.objects.all()
    if locked_at is not None:
        rows = rows.select_for_update(of=("self",), no_key=True)
    rows = followups._with_check_facts(rows.select_related(*followups._related(claim)), [claim]).filter(
        pk=claim.message_id, status=OutboxMessage.Status.SENDING, claim_token=claim.token
    )
    if locked_at is not None:
        rows = rows.filter(lease_until__gt=locked_at)
    return rows.first()


def _seen(message, claim: Claim) -> tuple:
    """What sending reads from the row: its columns, facts and every related object fetched with it."""
    if message is None:
        return (None,)
    seen = [
        tuple(getattr(message, f.attname) for f in OutboxMessage._meta.concrete_fields),
        getattr(message, "fact_rebooked", None),
        getattr(message, "fact_contacted", None),
    ]
    for path in followups._related(claim):
        obj = message
        for name in path.split("__"):
            obj = getattr(obj, name, None) if obj is not None else None
        seen.append((path, obj.pk if obj is not None else None))
    return tuple(seen)


@pytest.fixture
def rows(practice, therapist):
    """A follow-up (rebooked, contacted: the facts say so), a plain follow-up, an acknowledgement request and
    a reminder, each claimed as its sender claims it."""
    plan = followups.plan_for(practice)
    plan.first_delay_minutes = 0
    plan.save()
    version = make_policy(practice)
    made = []
    for n in range(2):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"held{n}@example.com")
        appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        if n == 0:
            AppointmentFactory(client=client, start=timezone.now() + timedelta(days=2), rescheduled_from=appointment)
            ContactNote.objects.create(missed_session=event, practice=practice, contacted_by=therapist)
        made.append(OutboxMessage.objects.get(missed_session=event, step=OutboxMessage.Step.FIRST))
    client = ClientFactory(practice=practice, clinician=therapist)
    made.append(
        OutboxMessage.objects.create(
            practice=practice,
            purpose=Purpose.ACK_REQUEST,
            idempotency_key=followups.ack_request_key(client_id=client.pk, version_id=version.pk),
            policy_version=version,
            client=client,
            kind="ack_request",
            channel="email",
            due_at=timezone.now(),
        )
    )
    session = AppointmentFactory(client=client, start=timezone.now() + timedelta(days=1))
    made.append(
        OutboxMessage.objects.create(
            practice=practice,
            purpose=Purpose.REMINDER,
            idempotency_key=f"reminder:{session.pk}:x:1",
            appointment=session,
            appointment_start=session.start,
            reminder_number=1,
            client=client,
            kind="reminder",
            channel="email",
            due_at=timezone.now(),
        )
    )
    return made


@pytest.mark.django_db(transaction=True)
def test_the_held_row_is_the_querysets_for_every_purpose_and_state(rows):
    claims = []
    for row in rows:
        for purpose in ("", row.purpose):
            OutboxMessage.objects.filter(pk=row.pk).update(status="pending", due_at=timezone.now())
            claims.append(followups.outbox_claim_one(message_id=row.pk, purpose=purpose))
    claims = [c for c in claims if c is not None]
    # The last claim of each row holds it; the earlier ones (their token replaced) hold nothing now.
    stale = [Claim(c.message_id, "0" * 32, c.purpose) for c in claims]
    other_purpose = [Claim(c.message_id, c.token, Purpose.FOLLOWUP) for c in claims if c.purpose != Purpose.FOLLOWUP]
    found = 0
    for claim in [*claims, *stale, *other_purpose]:
        expected = _former(claim)
        assert _seen(followups._held(claim), claim) == _seen(expected, claim)
        for at in (timezone.now(), timezone.now() + timedelta(seconds=followups.DEFAULT_LEASE_SECONDS + 5)):
            with transaction.atomic():
                locked = followups._held(claim, locked_at=at)
                assert _seen(locked, claim) == _seen(_former(claim, locked_at=at), claim)
        found += expected is not None
    assert found >= len(rows)  # the data decides something
    facts = {
        (m.fact_rebooked, m.fact_contacted)
        for m in map(followups._held, claims)
        if m is not None and m.purpose == Purpose.FOLLOWUP
    }
    assert facts == {(True, True), (False, False)}


@pytest.mark.django_db
def test_a_held_row_reads_its_related_objects_without_a_query(rows):
    claim = followups.outbox_claim_one(message_id=rows[1].pk, purpose=Purpose.FOLLOWUP)
    message = followups._held(claim)
    with CaptureQueriesContext(connection) as queries:
        assert message.missed_session.appointment.status == Appointment.Status.NO_SHOW
        assert message.client.email == "held1@example.com"
        assert message.practice.followup_plan.first_delay_minutes == 0
    assert len(queries.captured_queries) == 0
