"""The reminder sweep at scale (issue 9): bulk-written rows, claims in batches, one SMTP connection reused."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from followups import reminders, services, tasks
from followups.channels import email
from followups.models import OutboxMessage
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


@pytest.fixture
def due_reminders(practice, therapist):
    """Five sessions whose 48-hour reminder fell due a minute ago, no quiet hours, and their rows written."""
    plan = services.plan_for(practice)
    plan.quiet_start = plan.quiet_end = time(0)
    plan.save()
    start = timezone.now() + timedelta(hours=48) - timedelta(minutes=1)
    for i in range(5):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"c{i}@example.com")
        AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))
    assert reminders.reminders_write_due() == 5
    return OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.REMINDER)


def test_the_sweep_writes_its_rows_in_one_insert(practice, therapist):
    plan = services.plan_for(practice)
    plan.quiet_start = plan.quiet_end = time(0)
    plan.save()
    start = timezone.now() + timedelta(hours=48) - timedelta(minutes=1)
    for i in range(30):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"c{i}@example.com")
        AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50))
    with CaptureQueriesContext(connection) as queries:
        assert reminders.reminders_write_due() == 30
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert OutboxMessage.objects.filter(status=Status.PENDING).count() == 30
    # Again: nothing more, and no error from the unique key.
    assert reminders.reminders_write_due() == 0
    assert OutboxMessage.objects.count() == 30


def test_a_batch_claim_gives_each_row_a_token_of_its_own_and_never_the_same_row_twice(due_reminders):
    first = services.outbox_claim_batch(size=3)
    second = services.outbox_claim_batch(size=3)
    assert len(first) == 3 and len(second) == 2
    ids = [c.message_id for c in first + second]
    assert len(set(ids)) == 5
    assert len({c.token for c in first + second}) == 5
    assert {c.purpose for c in first} == {"reminder"} and {c.channel for c in first} == {"email"}
    for claim in first + second:
        row = OutboxMessage.objects.get(pk=claim.message_id)
        assert (row.status, row.claim_token, row.attempts) == (Status.SENDING, claim.token, 1)
        assert row.lease_until > timezone.now()
    assert services.outbox_claim_batch(size=3) == []


def test_rows_given_back_are_pending_again_without_spending_an_attempt(due_reminders):
    claims = services.outbox_claim_batch(size=5)
    assert services.outbox_unclaim(claims=claims[2:]) == 3
    back = OutboxMessage.objects.filter(pk__in=[c.message_id for c in claims[2:]])
    assert {(r.status, r.attempts, r.claim_token, r.lease_until) for r in back} == {(Status.PENDING, 0, "", None)}
    # The old claims hold nothing any more: a late delivery with one sends nothing.
    assert services.outbox_deliver(claim=claims[2]) == ""


def test_send_due_sends_every_due_reminder_once_and_a_second_run_nothing(due_reminders, mailoutbox):
    assert tasks.send_due() == 5
    assert set(due_reminders.values_list("status", flat=True)) == {Status.SENT}
    assert len(mailoutbox) == 5
    assert tasks.send_due() == 0
    assert len(mailoutbox) == 5


def test_one_smtp_connection_carries_many_messages_and_a_failure_drops_it(due_reminders, smtp_settings):
    email.connection_drop()
    assert tasks.send_due() == 5
    smtp_settings.wait_for(5)
    held = email._held.connection
    assert held is not None and held[3] == 5  # opened once, five messages through it
    connection_used = held[0]

    # The server refuses the next message: the row is retried later and the connection is not kept.
    row = due_reminders.first()
    services.outbox_send_again(message=row, actor=None)
    smtp_settings.refuse_with = (451, "try later")
    assert tasks.send_due() == 1
    row.refresh_from_db()
    assert (row.status, row.last_error) == (Status.PENDING, "SMTP 451")
    assert email._held.connection is None

    # The next message opens a new connection.
    smtp_settings.refuse_with = None
    OutboxMessage.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert tasks.send_due() == 1
    assert email._held.connection[0] is not connection_used
    email.connection_drop()


def test_a_changed_mail_setting_never_reuses_the_old_connection(due_reminders, smtp_settings, settings):
    email.connection_drop()
    assert tasks.send_due() == 5
    assert email._held.connection is not None
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = due_reminders.first()
    services.outbox_send_again(message=row, actor=None)
    assert tasks.send_due() == 1
    # locmem: a fresh connection per message, none held.
    assert email._held.connection is None


def test_a_reminder_is_sent_in_a_bounded_number_of_queries(due_reminders, mailoutbox):
    """About 8 a reminder (fetch, link, terms, wording, hand-over lock and stamp, sent, a share of the claim)."""
    with CaptureQueriesContext(connection) as queries:
        assert tasks.send_due() == 5
    assert len(mailoutbox) == 5
    # Savepoints are the test's own transaction (outside a test, atomic blocks are BEGIN/COMMIT).
    sql = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # The sweep's own few (release lost leases, channels in backoff, the claims, the catch-up), then per row.
    assert len(sql) <= 6 + 8 * 5
