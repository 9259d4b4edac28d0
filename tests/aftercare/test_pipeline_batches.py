"""A burst of misses (issue 11, "Pipeline"): the on-commit tasks take the waiting work in batches, exactly once."""

import threading
import time
from datetime import time as clock
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from followups import services as followups
from followups.models import OutboxMessage
from policies.models import FeeAssessment, FeeChange, SafetyCheck
from tests.concurrency import run_concurrently
from tests.factories import AppointmentFactory, ClientFactory

Status = OutboxMessage.Status
postgres_only = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql", reason="row locks need PostgreSQL"
)


@pytest.fixture
def plan(practice):
    """The first message due at once, whatever the hour (no quiet hours)."""
    plan = followups.plan_for(practice)
    plan.first_delay_minutes, plan.quiet_start, plan.quiet_end = 0, clock(0), clock(0)
    plan.save()
    return plan


def misses(practice, therapist, n, **client_fields) -> list[NoShowEvent]:
    events = []
    for i in range(n):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"b{i}-{time.monotonic_ns()}@example.com")
        for name, value in client_fields.items():
            setattr(client, name, value)
        client.save()
        appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
        result = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
        events.append(result.event)
    return events


def first_rows(events):
    return OutboxMessage.objects.filter(missed_session__in=events, step=OutboxMessage.Step.FIRST).order_by("pk")


@pytest.mark.django_db
def test_the_first_task_of_a_burst_takes_the_waiting_misses_and_the_rest_do_nothing(practice, therapist):
    events = misses(practice, therapist, 5)

    assert tasks.process_missed_session(events[0].pk) is True
    assert NoShowEvent.objects.filter(pk__in=[e.pk for e in events], processed_at=None).count() == 0
    assert FeeAssessment.objects.filter(missed_session__in=events).count() == 5

    # Their own tasks (and any redelivery) come later and find the work done.
    assert [tasks.process_missed_session(e.pk) for e in events] == [False] * 5
    assert FeeAssessment.objects.count() == 5 and FeeChange.objects.count() == 5


@pytest.mark.django_db
def test_a_batch_keeps_the_safety_hold_and_leaves_undone_misses_alone(practice, therapist, front_desk):
    plain = misses(practice, therapist, 2)
    [flagged] = misses(practice, therapist, 1, needs_safety_check=True)
    [undone] = misses(practice, therapist, 1)
    aftercare.attendance_undo(appointment_id=undone.appointment_id, actor=therapist)

    assert tasks.process_missed_session(plain[0].pk) is True

    assert FeeAssessment.objects.filter(missed_session__in=plain).count() == 2
    # The flagged client: the clinician's check first, nothing charged.
    assert SafetyCheck.objects.filter(missed_session=flagged).count() == 1
    assert not FeeAssessment.objects.filter(missed_session=flagged).exists()
    undone.refresh_from_db()
    assert undone.processed_at is None and not FeeAssessment.objects.filter(missed_session=undone).exists()


@pytest.mark.django_db
def test_a_batch_of_misses_costs_a_bounded_number_of_queries_each(practice, therapist):
    events = misses(practice, therapist, 10)
    with CaptureQueriesContext(connection) as queries:
        tasks.process_missed_session(events[0].pk)
    assert FeeAssessment.objects.count() == 10
    sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # Two claims for the batch, then per miss about 7: the fee (look-up, policy in force, make-up,
    # insert and its change), the ladder (steps, misses), the stamp. 72 when written.
    assert len(sql) <= 2 + 8 * 10, len(sql)


@pytest.mark.django_db
def test_the_first_send_of_a_burst_sends_every_due_follow_up_once(plan, practice, therapist, mailoutbox):
    events = misses(practice, therapist, 5)
    rows = list(first_rows(events))

    assert tasks.send_followup(rows[0].pk) == Status.SENT
    assert set(first_rows(events).values_list("status", flat=True)) == {Status.SENT}
    assert len(mailoutbox) == 5

    # The other rows' own tasks, and a redelivery of the first, send nothing more.
    assert [tasks.send_followup(row.pk) for row in rows] == [""] * 5
    assert len(mailoutbox) == 5
    assert len({m.extra_headers["Message-ID"] for m in mailoutbox}) == 5


@pytest.mark.django_db
def test_a_batch_of_follow_ups_costs_a_bounded_number_of_queries_each(plan, practice, therapist, mailoutbox):
    events = misses(practice, therapist, 10)
    first = first_rows(events).first()
    with CaptureQueriesContext(connection) as queries:
        tasks.send_followup(first.pk)
    assert len(mailoutbox) == 10
    sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # Its own row as before (about 12), then about 7 a batched row (the checks twice, the link, the
    # wording, the stamp sent) and a few a batch (claim, fetch, lock, hand-over, catch-up). 82 when written.
    assert len(sql) <= 14 + 8 * 9, len(sql)


@pytest.mark.django_db
def test_a_miss_undone_after_its_row_was_claimed_in_a_batch_is_not_sent(plan, practice, therapist, mailoutbox):
    events = misses(practice, therapist, 3)
    aftercare.attendance_undo(appointment_id=events[1].appointment_id, actor=therapist)
    claims = followups.outbox_claim_batch(size=3)
    assert len(claims) == 2  # the undone miss's row was cancelled before any claim
    undo = aftercare.attendance_undo(appointment_id=events[2].appointment_id, actor=therapist)
    assert (undo.stopped, undo.on_its_way) == (2, 0)  # the claimed first and the waiting second

    results = followups.outbox_deliver_batch(claims=claims)

    assert sorted(results.values()) == ["", Status.SENT]
    assert first_rows([events[2]]).get().cancel_code == OutboxMessage.CancelCode.UNDONE
    assert [m.to for m in mailoutbox] == [[first_rows([events[0]]).get().client.email]]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_burst_process_each_miss_once(practice, therapist):
    events = misses(practice, therapist, 30)

    outcomes = run_concurrently(tasks.process_missed_session, args_list=[(e.pk,) for e in events[:6]])

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert NoShowEvent.objects.filter(processed_at=None).count() == 0
    assert FeeAssessment.objects.count() == 30 and FeeChange.objects.count() == 30


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_burst_send_each_follow_up_once(plan, practice, therapist, mailoutbox):
    events = misses(practice, therapist, 30)
    rows = list(first_rows(events))

    outcomes = run_concurrently(tasks.send_followup, args_list=[(row.pk,) for row in rows[:6]])

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert set(first_rows(events).values_list("status", flat=True)) == {Status.SENT}
    assert len(mail.outbox) == 30
    assert len({m.extra_headers["Message-ID"] for m in mail.outbox}) == 30


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_undo_holding_a_row_at_the_batch_hand_over_wins_and_the_batch_waits_for_it(
    plan, practice, therapist, mailoutbox
):
    """The batch skips a row an undo has locked, then hands it over alone, waiting: the undo's commit decides."""
    events = misses(practice, therapist, 2)
    claims = followups.outbox_claim_batch(size=2)
    assert len(claims) == 2
    locked, release = threading.Event(), threading.Event()

    def undo_in_progress():
        try:
            with transaction.atomic():
                followups.outbox_cancel_pending(event=events[0], code=OutboxMessage.CancelCode.UNDONE)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    undo = threading.Thread(target=undo_in_progress)
    undo.start()
    assert locked.wait(timeout=10)
    results = {}

    def deliver():
        try:
            results.update(followups.outbox_deliver_batch(claims=claims))
        finally:
            connection.close()

    sender = threading.Thread(target=deliver)
    sender.start()
    time.sleep(0.5)
    assert sender.is_alive()  # waiting for the undo's lock on its row, not sending it
    release.set()
    undo.join(timeout=10)
    sender.join(timeout=10)

    rows = {row.missed_session_id: row for row in first_rows(events)}
    assert rows[events[0].pk].status == Status.CANCELLED
    assert rows[events[1].pk].status == Status.SENT
    assert sorted(results.values()) == ["", Status.SENT]
    assert [m.to for m in mail.outbox] == [[rows[events[1].pk].client.email]]


@postgres_only
@pytest.mark.django_db
def test_a_miss_that_fails_in_a_batch_is_left_to_the_sweep_and_the_others_are_done(practice, therapist):
    """A database that refuses one miss's fee (a trigger, as a fault): the rest of the batch still commits."""
    events = misses(practice, therapist, 4)
    bad = events[2]
    table = FeeAssessment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pipe_refuse_fee() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.missed_session_id = {int(bad.pk)} THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER pipe_refuse_fee BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION pipe_refuse_fee()"  # noqa: S608
        )

    assert tasks.process_missed_session(events[0].pk) is True

    assert set(FeeAssessment.objects.values_list("missed_session_id", flat=True)) == {
        e.pk for e in events if e.pk != bad.pk
    }
    assert list(NoShowEvent.objects.filter(processed_at=None).values_list("pk", flat=True)) == [bad.pk]
    # The sweep's query finds it (once its minute of grace has passed).
    assert aftercare.missed_sessions_unprocessed(now=timezone.now() + timedelta(minutes=2)) == [bad.pk]


@pytest.mark.django_db
def test_a_row_that_cannot_be_composed_in_a_batch_is_recorded_and_the_others_are_sent(
    plan, practice, therapist, mailoutbox
):
    events = misses(practice, therapist, 3)
    rows = list(first_rows(events))
    # A row whose purpose no longer exists in the registry (an old deploy's row, a typo in a data fix).
    OutboxMessage.objects.filter(pk=rows[1].pk).update(purpose="retired")
    # And one whose address would inject a header: refused by the mail library when sent.
    ClientFactory._meta.model.objects.filter(pk=rows[2].client_id).update(email="x@example.com\r\nBcc: eve@example.com")

    results = followups.outbox_deliver_batch(claims=followups.outbox_claim_batch(size=3))

    assert sorted(results.values()) == [Status.PENDING, Status.PENDING, Status.SENT]
    retired, poisoned = (OutboxMessage.objects.get(pk=rows[i].pk) for i in (1, 2))
    assert (retired.status, retired.attempts, retired.last_error) == (Status.PENDING, 1, "builtins.KeyError")
    assert (poisoned.status, poisoned.last_error) == (Status.PENDING, "django.core.mail.message.BadHeaderError")
    assert len(mailoutbox) == 1
