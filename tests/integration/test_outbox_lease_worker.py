"""A worker killed while the mail server has its message: the row is not stuck, and the retry is recognisable.

A real process claims a follow-up and sends it to a real SMTP server on
127.0.0.1, which takes the message and then holds back its answer. The process
is killed (SIGKILL) while it waits: the client may have the message, but the
row still says "sending". Once the lease has run out, the minute sweep gives
the row to another worker, which sends it with the same Message-ID (mail
systems drop the duplicate). No database lock is held during the send: the
test reads and writes the row freely while the killed worker was waiting.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.conf import settings
from django.utils import timezone

from aftercare import services as aftercare
from followups import services
from followups.models import OutboxMessage
from tests.factories import AppointmentFactory
from tests.integration.conftest import _database_url
from tests.smtp import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCRIPT = """
import sys, django
django.setup()
from django.conf import settings
settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", int(sys.argv[2]), 30
settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
from followups.services import outbox_send_now
outbox_send_now(message_id=int(sys.argv[1]))
"""


class SlowToAnswer:
    """Keeps every message; answers the first only once `answer_first` is set."""

    def __init__(self):
        self.messages = []
        self.answer_first = False

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        while len(self.messages) == 1 and not self.answer_first:
            await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@pytest.fixture
def slow_smtp(settings):
    handler = SlowToAnswer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    try:
        yield handler, port
    finally:
        handler.answer_first = True
        controller.stop()


def _wait(condition, what: str, process) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within 60 s: {what}")
        time.sleep(0.05)


def test_a_worker_killed_mid_send_leaves_the_row_to_the_next_sweep_with_the_same_message_id(
    slow_smtp, practice, therapist, client_of_therapist
):
    handler, port = slow_smtp
    plan = services.plan_for(practice)
    # Not due at once, so no worker of this test run is woken for it on commit: the
    # test's own process is the one that claims it (made due just below).
    plan.first_delay_minutes, plan.second_after_days = 60, 0
    plan.save()
    appointment = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=1))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    message = OutboxMessage.objects.get(missed_session=event)
    OutboxMessage.objects.filter(pk=message.pk).update(due_at=timezone.now() - timedelta(seconds=1))

    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(message.pk), str(port)],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "practice.settings.test",
            "DATABASE_URL": _database_url(),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait(lambda: len(handler.messages) == 1, "the mail server has the message", process)
        # Past the point of no return, and nothing locked: this write does not wait.
        row = OutboxMessage.objects.get(pk=message.pk)
        assert (row.status, row.attempts) == ("sending", 1) and row.handed_over_at is not None
        OutboxMessage.objects.filter(pk=message.pk).update(last_error="")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    # Before the lease runs out the sweep leaves the row alone; after it, the row goes once more.
    assert aftercare.followups_send_due() == 0
    with time_machine.travel(row.lease_until + timedelta(seconds=1)):
        assert aftercare.followups_send_due() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("sent", 2)
    first, retry = handler.messages
    assert (
        first["Message-ID"]
        == retry["Message-ID"]
        == f"<followup.{message.pk}.first@{first['Message-ID'][1:-1].split('@')[1]}>"
    )
