"""End-to-end latency: from marking a no-show to the SMTP server receiving the follow-up.

With the first-message delay at 0, N no-shows are marked one after another
through the same service the schedule's button calls. A real Celery worker
and beat (started here, as the Procfile starts them) process them and send the
first message to a real SMTP server (aiosmtpd) on 127.0.0.1; the time from
each mark to that message's arrival is one sample. On a timeout, the state of
each missing row is printed (ids only) and the worker's and beat's logs kept.

Baseline, in the same run: the same SMTP server receiving N messages that
this process sends straight through Django's SMTP backend (no database, no
broker, no worker). The ratio says what the pipeline costs on top of mail.

Uses DATABASE_URL and REDIS_URL when set (PostgreSQL: a database named
reconnect_bench is created and dropped), else SQLite and the filesystem
broker under var/. Usage: `make bench` or `python bench/latency.py --count 100`.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Late(Exception):
    """Fewer messages than expected reached the SMTP server in time."""


class Inbox:
    def __init__(self):
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        now = time.perf_counter()
        message = message_from_bytes(envelope.content, policy=policy.default)
        key = message["X-Bench-Key"] or envelope.rcpt_tos[0]
        with self.lock:
            self.arrivals.setdefault(key, now)
        return "250 OK"

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if len(self.arrivals) >= count:
                    return
            time.sleep(0.01)
        raise Late(f"only {len(self.arrivals)} of {count} messages arrived within {timeout}s")


def prepare_database() -> tuple[str, callable]:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        name = "reconnect_bench"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")

        def drop():
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

        return urlunsplit(parts._replace(path=f"/{name}")), drop
    path = ROOT / "var" / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}", lambda: None


def start_celery(log: Path, *args: str) -> subprocess.Popen:
    """`celery -A practice <args>`, in this environment, logging warnings (ids only) to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "practice", *args, "--loglevel=WARNING"],
        cwd=ROOT,
        env={**os.environ},
        stdout=subprocess.DEVNULL,
        # Its log and anything it prints before logging starts (an import error).
        stderr=log.open("w"),
    )


def report_missing(marked: dict[str, float], inbox: "Inbox", processes: dict) -> None:
    """Before giving up: the state of each marked miss whose follow-up has not arrived, by id only."""
    from appointments.models import NoShowEvent
    from followups.models import OutboxMessage

    with inbox.lock:
        arrived = set(inbox.arrivals)
    missing = [address for address in marked if address not in arrived]
    events = NoShowEvent.objects.filter(appointment__client__email__in=missing).select_related("appointment")
    for name, (process, log) in processes.items():
        state = "alive" if process.poll() is None else f"exited with {process.returncode}"
        print(f"{name} {state}; log {log}")
    for event in events.order_by("pk"):
        print(f"  missed session {event.pk}: recorded {event.recorded_at:%H:%M:%S.%f}, processed {event.processed_at}")
        rows = OutboxMessage.objects.filter(missed_session=event).order_by("pk")
        for row in rows:
            print(
                f"    outbox {row.pk} step={row.step} status={row.status} attempts={row.attempts} "
                f"due_at={row.due_at:%H:%M:%S.%f} waiting_for_channel={row.waiting_for_channel} "
                f"lease_until={row.lease_until} handed_over_at={row.handed_over_at} "
                f"cancel_code={row.cancel_code or '-'} claimed_by={row.claimed_by or '-'} "
                f"error_kind={row.last_error.split(':')[0][:60] or '-'}"
            )
        if not rows:
            print("    no outbox row")
    print(f"  now {timezone_now():%H:%M:%S.%f}", flush=True)


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if not 1 <= args.count <= 10_000:
        raise SystemExit("--count takes 1 to 10000")

    from aiosmtpd.controller import Controller

    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()

    database_url, drop_database = prepare_database()
    env = {
        "DJANGO_SETTINGS_MODULE": "practice.settings.local",
        "DEBUG": "false",
        "DATABASE_URL": database_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{port}",
        "CELERY_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "BROKER_DIR": str(ROOT / "var" / f"broker-bench-{os.getpid()}"),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)

    import django

    django.setup()
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.mail import EmailMessage, get_connection
    from django.core.management import call_command
    from django.utils import timezone

    from aftercare.services import attendance_record
    from appointments.models import Appointment, Client
    from followups.services import plan_for
    from practice.models import Membership
    from practice.services import practice_create

    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem"
    backend = "PostgreSQL" if database_url.startswith("postgres") else "SQLite"
    print(f"latency bench: {args.count} no-shows, {backend}, broker {broker.split('@')[-1]}", flush=True)
    call_command("migrate", verbosity=0)

    # Baseline: the same mail, straight to the same SMTP server.
    connection = get_connection()
    baseline = []
    for i in range(args.count):
        started = time.perf_counter()
        key = f"baseline-{i}"
        EmailMessage(
            "Checking in",
            "Hello",
            "bench@localhost",
            [f"{key}@example.com"],
            headers={"X-Bench-Key": key},
            connection=connection,
        ).send()
        try:
            inbox.wait(i + 1, 10)
        except Late as exc:
            raise SystemExit(f"baseline: {exc}") from exc
        baseline.append(inbox.arrivals[key] - started)
    inbox.arrivals.clear()

    # Born as every practice is (default plans and ladder), so each miss pays the ladder's check.
    practice = practice_create(
        name="Bench Practice",
        time_zone="America/New_York",
        country="US",
        sender_name="Bench Office",
        phone="+1 212 555 0100",
    ).practice
    clinician = get_user_model().objects.create_user("bench-clinician", email="clin@example.com")
    Membership.objects.create(practice=practice, user=clinician, role=Membership.Role.CLINICIAN)
    plan = plan_for(practice)
    plan.first_delay_minutes, plan.second_after_days = 0, 0
    plan.quiet_start = plan.quiet_end  # no quiet hours, whatever the hour of the run
    plan.save()
    now = timezone.now()
    appointments = []
    for i in range(args.count):
        client = Client.objects.create(
            practice=practice,
            clinician=clinician,
            first_name=f"C{i}",
            last_name="Bench",
            email=f"client-{i}@example.com",
            consent_email=True,
        )
        appointments.append(
            Appointment.objects.create(
                practice=practice,
                client=client,
                clinician=clinician,
                start=now - timedelta(hours=1, minutes=i),
                end=now - timedelta(minutes=i + 10),
            )
        )

    worker_log = ROOT / "var" / f"bench-worker-{os.getpid()}.log"
    # What production runs (Procfile): a worker, and beat for the minute sweeps. Without beat, a
    # message whose wake-up was lost, or whose send failed once and was put back with a backoff,
    # waited for a sweep that never came.
    worker = start_celery(
        worker_log,
        "worker",
        "--concurrency=2",
        "-Q",
        env["CELERY_QUEUE"],
        "--without-gossip",
        "--without-mingle",
    )
    beat_log = worker_log.with_name(f"bench-beat-{os.getpid()}.log")
    beat = start_celery(beat_log, "beat")
    try:
        from practice.celery import app

        deadline = time.time() + 60
        while time.time() < deadline and not app.control.ping(timeout=1):
            pass
        # One at a time, as a therapist marks them: each mark waits for its mail.
        marked = {}
        half = args.count // 2
        for i, appointment in enumerate(appointments[:half]):
            marked[f"client-{i}@example.com"] = time.perf_counter()
            attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=clinician)
            inbox.wait(i + 1, args.timeout)
        # A burst: the rest marked back to back, as a busy practice at 9:05.
        burst_started = time.perf_counter()
        for i, appointment in enumerate(appointments[half:], start=half):
            marked[f"client-{i}@example.com"] = time.perf_counter()
            attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=clinician)
        marking = time.perf_counter() - burst_started
        inbox.wait(args.count, args.timeout)
    except Late as exc:
        print(exc, flush=True)
        report_missing(marked, inbox, {"worker": (worker, worker_log), "beat": (beat, beat_log)})
        raise SystemExit(1) from exc
    finally:
        for process in (beat, worker):
            process.terminate()
            process.wait(timeout=30)
        controller.stop()
    for log in (worker_log, beat_log):
        log.unlink(missing_ok=True)
    shutil.rmtree(env["BROKER_DIR"], ignore_errors=True)
    latencies = [
        inbox.arrivals[f"client-{i}@example.com"] - marked[f"client-{i}@example.com"] for i in range(args.count)
    ]
    single, burst = latencies[:half], latencies[half:]
    drain = max(inbox.arrivals.values()) - burst_started
    drop_database()

    def line(name, values):
        return (
            f"{name:<26} median {statistics.median(values) * 1000:8.1f} ms   p95 "
            f"{percentile(values, 0.95) * 1000:8.1f} ms   worst {max(values) * 1000:8.1f} ms"
        )

    print(line("mark -> SMTP, all", latencies))
    print(line("  one at a time", single))
    print(line("  burst", burst))
    print(f"  burst of {len(burst)}: marked in {marking:.2f} s, all delivered {drain:.2f} s after the first mark")
    print(line("direct SMTP (baseline)", baseline))
    print(f"ratio of medians (pipeline / baseline): {statistics.median(latencies) / statistics.median(baseline):.1f}x")


if __name__ == "__main__":
    main()
