"""A worker killed in the middle of the after-miss work never leaves a half-done miss.

A real process runs the work and is killed (SIGKILL) while it waits on a
lock this test holds:
- before its COMMIT (its fee insert waits on the same unique key, taken by an
  uncommitted row of this test): PostgreSQL rolls everything back, and the
  sweep then does the work;
- during its COMMIT (Django checks foreign keys at commit, and the fee's key
  to the practice waits on this test's lock on that row): the commit lands
  whole, and the sweep finds nothing to do.
Either way, exactly one fee.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from aftercare import tasks
from appointments.services import appointment_record_outcome
from policies.models import FeeAssessment
from policies.services import acknowledgement_record
from practice.models import Practice
from tests.factories import AppointmentFactory, make_policy
from tests.integration.conftest import _database_url

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL's locks to stop the process mid-transaction (CI runs it)",
    ),
]

SCRIPT = (
    "import sys, django; django.setup(); "
    "from aftercare.services import missed_session_process; missed_session_process(event_id=int(sys.argv[1]))"
)


def _backends(tag: str, *, waiting: bool) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is otherwise frozen
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND (NOT %s OR wait_event_type = 'Lock')",
            [tag, waiting],
        )
        return cursor.fetchone()[0]


def _wait(condition, what: str, process=None) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended early: {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"not within 60 s: {what}")
        time.sleep(0.1)


@pytest.fixture
def miss(practice, therapist, client_of_therapist):
    version = make_policy(practice)
    # Accepted before the miss: only terms accepted by then are charged.
    acknowledgement_record(
        client=client_of_therapist,
        version=version,
        method="paper",
        actor=therapist,
        at=timezone.now() - timedelta(days=1),
    )
    appointment = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=2))
    # Recorded five minutes ago and never enqueued: the sweep's to pick up.
    return appointment_record_outcome(
        appointment_id=appointment.pk, outcome="no_show", actor=therapist, now=timezone.now() - timedelta(minutes=5)
    ).event


@pytest.mark.parametrize("killed", ["before its commit", "during its commit"])
def test_a_worker_killed_mid_work_leaves_exactly_one_fee(killed, miss, practice):
    tag = f"crash-{os.getpid()}-{miss.pk}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "practice.settings.test",
        "DATABASE_URL": _database_url(),
        "PGAPPNAME": tag,
    }
    with transaction.atomic():
        if killed == "before its commit":
            FeeAssessment.objects.create(
                practice=practice,
                missed_session=miss,
                client_id=miss.appointment.client_id,
                state="void",
                amount=Decimal("0"),
                rule="test",
                rule_detail="held by the test",
            )
        else:
            Practice.objects.select_for_update().get(pk=practice.pk)
        process = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(miss.pk)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait(lambda: _backends(tag, waiting=True) == 1, "the process waits on the test's lock", process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        transaction.set_rollback(True)  # the test's own row or lock goes away
    _wait(lambda: _backends(tag, waiting=False) == 0, "the killed process's database session ends")

    miss.refresh_from_db()
    if killed == "before its commit":
        assert miss.processed_at is None and not FeeAssessment.objects.exists()
        assert tasks.sweep_missed_sessions() == 1
    else:
        assert miss.processed_at is not None and FeeAssessment.objects.count() == 1
        assert tasks.sweep_missed_sessions() == 0
    assert tasks.sweep_missed_sessions() == 0
    fee = FeeAssessment.objects.get()
    assert (fee.missed_session_id, fee.state, fee.amount) == (miss.pk, "proposed", Decimal("60.00"))
