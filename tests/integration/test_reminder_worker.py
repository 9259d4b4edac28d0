"""Reminders through two real Celery workers, the real broker and a real SMTP server (issue 9).

The workers are the ones `make run` starts, each one process, on a queue of
this module's own and with mail going to an aiosmtpd server on 127.0.0.1 that
records every message it accepts. Each test commits sessions whose reminder
is due now, publishes what beat would publish (the minute sweep, or a sending
chunk) and reads back the rows and what the SMTP server got.
"""

import asyncio
import re
import signal
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import time as clock
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings
from django.utils import timezone

from appointments.services import Outcome, appointment_move, appointment_record_outcome
from followups import reminders, services
from followups.models import OutboxMessage
from followups.tasks import send_due, sweep_reminders
from tests.factories import AppointmentFactory, ClientFactory
from tests.integration.conftest import running_worker
from tests.smtp import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SMTP = "django.core.mail.backends.smtp.EmailBackend"
Status = OutboxMessage.Status
TIMEOUT = 60


class Sink:
    """Every message the server accepted, by Message-ID; `delay` seconds before each answer."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.ids.append(str(message["Message-ID"]).strip())
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[str]:
        with self.lock:
            return list(self.ids)

    def clear(self) -> None:
        with self.lock:
            self.ids.clear()
        self.delay = 0.0


@pytest.fixture(scope="module")
def sink():
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _two_workers(tmp_path_factory, port: int, **extra_env):
    """Two worker processes on a queue of their own (the suite's shared worker never sees these tasks)."""
    queue = f"reminders-itest-{uuid.uuid4().hex[:8]}"
    stack = ExitStack()
    stack.enter_context(override_settings(CELERY_TASK_DEFAULT_QUEUE=queue))
    env = {"CELERY_QUEUE": queue, "TEST_EMAIL_BACKEND": SMTP, "EMAIL_URL": f"smtp://127.0.0.1:{port}", **extra_env}
    workers = [stack.enter_context(running_worker(tmp_path_factory, **env)) for _ in range(2)]
    return stack, queue, workers


@pytest.fixture(scope="module")
def two_workers(django_db_setup, tmp_path_factory, sink):
    stack, queue, workers = _two_workers(tmp_path_factory, sink[1])
    with stack:
        yield queue, workers


@pytest.fixture
def mail(sink):
    handler, _port = sink
    handler.clear()
    yield handler
    handler.clear()


@pytest.fixture
def practice_plans(practice):
    """The default plan (one email 48 hours before), and no quiet hours, whatever the hour the suite runs at."""
    plan = services.plan_for(practice)
    plan.quiet_start = plan.quiet_end = clock(0)
    plan.save()
    return practice


def due_sessions(practice, therapist, count: int, *, seconds_ago: int = 30) -> list:
    """Sessions whose 48-hour reminder fell due `seconds_ago`, one client each (email, consent)."""
    start = timezone.now() + timedelta(hours=48) - timedelta(seconds=seconds_ago)
    sessions = []
    for i in range(count):
        client = ClientFactory(practice=practice, clinician=therapist, email=f"client{i}@example.com")
        sessions.append(AppointmentFactory(client=client, start=start, end=start + timedelta(minutes=50)))
    return sessions


def rows():
    return OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.REMINDER)


def wait_until(condition, what: str, workers, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            if worker.process.poll() is not None and worker.process.returncode != -signal.SIGKILL:
                worker.fail(f"a worker exited with {worker.process.returncode}")
        if time.monotonic() > deadline:
            logs = "\n".join(worker.log()[-4000:] for worker in workers)
            pytest.fail(f"Not within {timeout} s: {what}.\n--- worker logs ---\n{logs}", pytrace=False)
        time.sleep(0.1)


def message_ids_of(queryset) -> set[str]:
    return {services._message_id(row) for row in queryset}


def test_two_workers_sweeping_at_once_write_and_send_each_reminder_once(two_workers, mail, practice_plans, therapist):
    queue, workers = two_workers
    due_sessions(practice_plans, therapist, 40)

    # Beat's tick, twice at the same moment (two beats, or a redelivery): one sweep on each worker.
    sweep_reminders.apply_async(queue=queue)
    sweep_reminders.apply_async(queue=queue)

    wait_until(lambda: rows().filter(status=Status.SENT).count() == 40, "every reminder sent", workers)
    time.sleep(2)  # a late second copy would arrive now
    assert rows().count() == 40
    assert set(rows().values_list("status", flat=True)) == {Status.SENT}
    received = mail.snapshot()
    assert len(received) == 40
    assert set(received) == message_ids_of(rows())
    # Both workers took part: the sweep fans the sending out.
    senders = set(rows().values_list("claimed_by", flat=True))
    assert len(senders) == 2


def test_a_session_moved_after_its_reminder_was_written_gets_one_for_the_new_time_only(
    two_workers, mail, practice_plans, therapist
):
    queue, workers = two_workers
    [session] = due_sessions(practice_plans, therapist, 1)
    assert reminders.reminders_write_due() == 1
    old_row = rows().get()
    new_start = session.start + timedelta(seconds=20)  # its reminder is due too
    appointment_move(appointment=session, start=new_start, end=new_start + timedelta(minutes=50), actor=therapist)

    sweep_reminders.apply_async(queue=queue)

    wait_until(
        lambda: rows().exclude(status__in=[Status.PENDING, Status.SENDING]).count() == 2, "both rows settled", workers
    )
    time.sleep(1)
    old_row.refresh_from_db()
    assert (old_row.status, old_row.cancel_code) == (Status.CANCELLED, OutboxMessage.CancelCode.MOVED)
    new_row = rows().get(appointment_start=new_start)
    assert new_row.status == Status.SENT
    assert mail.snapshot() == [services._message_id(new_row)]


def test_a_session_cancelled_before_sending_gets_no_reminder(two_workers, mail, practice_plans, therapist):
    queue, workers = two_workers
    [session] = due_sessions(practice_plans, therapist, 1)
    assert reminders.reminders_write_due() == 1
    appointment_record_outcome(
        appointment_id=session.pk, outcome=Outcome.CANCELLED, actor=therapist, initiated_by="client"
    )

    send_due.apply_async(queue=queue)
    sweep_reminders.apply_async(queue=queue)

    wait_until(lambda: rows().get().status == Status.CANCELLED, "the reminder stopped", workers)
    time.sleep(1)
    assert rows().get().cancel_code == OutboxMessage.CancelCode.NOT_SCHEDULED
    assert rows().count() == 1
    assert mail.snapshot() == []


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    django_db_setup, tmp_path_factory, sink, mail, practice_plans, therapist
):
    """SIGKILL while a batch is half sent: once its leases run out, the other worker sends the rest.

    The one message the killed worker may have handed to the server before it
    could mark the row sent goes again with the same Message-ID (mail systems
    drop it); every other reminder reaches the server once.
    """
    handler, port = sink
    count = 30
    due_sessions(practice_plans, therapist, count)
    assert reminders.reminders_write_due() == count
    handler.delay = 0.3  # a batch of 20 takes 6 s: time to kill its worker in the middle
    stack, queue, workers = _two_workers(tmp_path_factory, port, OUTBOX_LEASE_SECONDS="6")
    with stack:
        send_due.apply_async(queue=queue)
        wait_until(lambda: len(handler.snapshot()) >= 3, "the first messages of the batch", workers)
        [victim] = [w for w in workers if re.search(r"followups\.tasks\.send_due\[\S+\] received", w.log())]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        stuck = rows().filter(status=Status.SENDING).count()
        assert stuck > 0  # the rest of its batch, claimed and leased
        handler.delay = 0.0
        time.sleep(7)  # the leases run out
        # Beat's next tick: the surviving worker releases them and sends everything left.
        send_due.apply_async(queue=queue)
        wait_until(lambda: rows().filter(status=Status.SENT).count() == count, "every reminder sent", workers)
        time.sleep(1)
    received = mail.snapshot()
    assert set(received) == message_ids_of(rows())
    assert len(set(received)) == count
    # At most the one in flight when the worker died, and then with the same Message-ID.
    assert len(received) - count <= 1
