"""`make bench-reminders`: 10,000 sessions whose reminder falls due in the same minute (issue 9).

1. Builds a PostgreSQL database of its own (BENCH_DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/bench_reminders; dropped and recreated,
   dropped again at the end) after checking there is room on the disk.
2. Writes `--practices` practices, each with a first reminder 24 hours before,
   no quiet hours (so the figure does not depend on the time of day), and
   `--count` scheduled sessions (one client each, email with consent).
3. Starts the stack the fault suite uses (bench/faults/stack.py, without the web
   server): a Redis on its own port, an aiosmtpd sink on 127.0.0.1 that records
   every message by Message-ID, two Celery workers (one process each, as the
   Procfile's worker with `-c 1`) and beat.
4. Once both workers are ready, moves every session so that its reminder falls
   due in the seconds before the next full minute M. Beat's minute tick at M
   runs the reminder sweep as in production; nothing here calls a task.
5. Measures from M to the last message the SMTP server accepted and checks
   that none was doubled: unique Message-IDs == receipts == rows sent == count.
   Writes the figure and the timing splits to bench/results/reminders-<date>.md.

Callable from a suite: `run(count=..., practices=...)` returns a `Result`.
Exit status 1 when the target (all sent within `--target` seconds, none twice) is missed.
"""

import argparse
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from bench.faults.stack import Stack, database_create, port_is_free  # noqa: E402

# Room the database and the logs need at 10,000 sessions is far below this; the check is for a full disk.
MIN_FREE_BYTES = 2 * 1024**3
REMINDER_HOURS = 24
SETTLE_AFTER_LAST = 10  # seconds to wait after the last expected message, to catch a late duplicate


@dataclass
class Result:
    count: int
    practices: int
    target_seconds: float
    pool: str = "prefork"
    minute: float = 0.0
    receipts: int = 0
    unique_ids: int = 0
    rows_sent: int = 0
    rows_other: dict = field(default_factory=dict)
    first_row_written: float | None = None
    last_row_written: float | None = None
    first_accepted: float | None = None
    last_accepted: float | None = None
    per_worker: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def doubled(self) -> int:
        return self.receipts - self.unique_ids

    @property
    def seconds(self) -> float | None:
        return None if self.last_accepted is None else self.last_accepted - self.minute

    @property
    def met(self) -> bool:
        return (
            self.seconds is not None
            and self.seconds <= self.target_seconds
            and self.unique_ids == self.receipts == self.rows_sent == self.count
        )


def free_disk_check() -> None:
    free = shutil.disk_usage(ROOT).free
    pg = Path("/var/lib/postgresql")
    if pg.exists():
        free = min(free, shutil.disk_usage(pg).free)
    if free < MIN_FREE_BYTES:
        raise SystemExit(f"only {free / 1024**3:.1f} GiB free: the bench wants at least 2 GiB")


def _build(count: int, practices: int) -> list[int]:
    """Practices, clinicians, clients and sessions (starts fixed later, by `_aim`). Returns the practice ids."""
    from datetime import time as clock

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from appointments.models import Appointment, Client
    from followups.models import FollowUpPlan, ReminderPlan
    from practice.models import Membership, Practice

    user_model = get_user_model()
    far = datetime.now(UTC) + timedelta(days=30)
    ids = []
    with transaction.atomic():
        for p in range(practices):
            practice = Practice.objects.create(
                name=f"Bench practice {p}",
                time_zone="Europe/London",
                phone="+44 20 7946 0000",
                sender_name=f"Office {p}",
            )
            ids.append(practice.pk)
            ReminderPlan.objects.create(practice=practice, first_hours=REMINDER_HOURS, first_channel="email")
            # No quiet hours: the figure must not depend on the hour the bench runs at.
            FollowUpPlan.objects.create(practice=practice, quiet_start=clock(0), quiet_end=clock(0))
            clinician = user_model(username=f"bench-clinician-{p}", email=f"clinician{p}@example.org")
            clinician.set_unusable_password()
            clinician.save()
            Membership.objects.create(practice=practice, user=clinician, role=Membership.Role.CLINICIAN)
            share = count // practices + (1 if p < count % practices else 0)
            clients = Client.objects.bulk_create(
                [
                    Client(
                        practice=practice,
                        clinician=clinician,
                        first_name=f"Client{i}",
                        last_name="Bench",
                        email=f"p{p}c{i}@example.com",
                        consent_email=True,
                    )
                    for i in range(share)
                ],
                batch_size=2000,
            )
            Appointment.objects.bulk_create(
                [
                    Appointment(
                        practice=practice,
                        client=client,
                        clinician=clinician,
                        start=far,
                        end=far + timedelta(minutes=50),
                        modality=Appointment.Modality.TELEHEALTH,
                    )
                    for client in clients
                ],
                batch_size=2000,
            )
    return ids


def _analyze() -> None:
    """Planner statistics for the sessions as they now stand, as a database in use has them.

    Run after `_aim`: with statistics from before the sessions were moved, the
    planner expects no session in the sweep's range and the reminder sweep's
    NOT EXISTS becomes a 1.7-second nested loop per practice (seen in a run).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _aim(minute: datetime) -> None:
    """Every session's reminder (24 h before) falls due between 30 s and 1 s before `minute`."""
    from django.db import connection

    from appointments.models import Appointment

    table = Appointment._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET start = %s - (id %% 30) * interval '1 second', "  # noqa: S608 - our table name
            f"\"end\" = %s - (id %% 30) * interval '1 second' + interval '50 minutes'",
            [minute + timedelta(hours=REMINDER_HOURS) - timedelta(seconds=1)] * 2,
        )


def _wait_for_mail(stack: Stack, count: int, deadline: float) -> None:
    last_seen = 0
    while time.monotonic() < deadline:
        seen = len({r.message_id for r in stack.inbox.snapshot()})
        if seen >= count:
            time.sleep(SETTLE_AFTER_LAST)
            return
        if seen != last_seen:
            last_seen = seen
            print(f"    {seen} accepted", flush=True)
        time.sleep(2)


def _count(stack: Stack, result: Result) -> None:
    from django.db.models import Count, Max, Min

    from followups.models import OutboxMessage

    receipts = stack.inbox.snapshot()
    result.receipts = len(receipts)
    result.unique_ids = len({r.message_id for r in receipts})
    if receipts:
        result.first_accepted = min(r.at for r in receipts)
        result.last_accepted = max(r.at for r in receipts)
    reminders = OutboxMessage.objects.filter(purpose=OutboxMessage.Purpose.REMINDER)
    statuses = dict(reminders.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    result.rows_sent = statuses.pop(OutboxMessage.Status.SENT, 0)
    result.rows_other = statuses
    written = reminders.aggregate(first=Min("created_at"), last=Max("created_at"))
    if written["first"]:
        result.first_row_written = written["first"].timestamp()
        result.last_row_written = written["last"].timestamp()
    workers = Counter(
        owner.split(":")[-1]
        for owner in reminders.filter(status=OutboxMessage.Status.SENT).values_list("claimed_by", flat=True)
    )
    result.per_worker = dict(workers)


def _start_thread_worker(stack: Stack, index: int) -> None:
    stack.workers[index] = stack._spawn(
        f"worker-{index}",
        [sys.executable, "-m", "celery", "-A", "practice", "worker", "--pool=threads", "--concurrency=2"]
        + ["-Q", stack.env["CELERY_QUEUE"], "-n", f"faults-{index}@%h", "--without-gossip", "--without-mingle"]
        + ["-l", "INFO"],
    )


def run(
    *, count: int = 10_000, practices: int = 20, target: float = 180.0, timeout: float = 900.0, pool: str = "prefork"
) -> Result:
    free_disk_check()
    redis_port = int(os.environ.get("BENCH_REDIS_PORT", "6391"))
    if not port_is_free(redis_port):
        raise SystemExit(f"127.0.0.1:{redis_port} is in use: set BENCH_REDIS_PORT to a free port")
    base_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_reminders")
    started = datetime.now(UTC)
    logs = ROOT / "var" / "bench-reminders" / started.strftime("%Y%m%d-%H%M%S")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=redis_port, logs=logs)
    stack.env["CELERY_QUEUE"] = "bench_reminders"
    if pool == "threads":
        # As the Procfile runs a worker: a thread pool of 2; one sending task per thread.
        stack.env["OUTBOX_SEND_FANOUT"] = str(2 * len(stack.workers))
        stack.start_worker = lambda index: _start_thread_worker(stack, index)
    os.environ.update({**stack.env, "LOG_LEVEL": "WARNING"})

    import django

    django.setup()
    from django.core.management import call_command

    result = Result(count=count, practices=practices, target_seconds=target, pool=pool)
    print(f"reminder bench: {count} sessions in {practices} practices; logs in {logs}", flush=True)
    try:
        call_command("migrate", verbosity=0)
        began = time.monotonic()
        _build(count, practices)
        print(f"  built in {time.monotonic() - began:.0f} s", flush=True)
        stack.smtp.start()
        stack.start_redis()
        for index in range(len(stack.workers)):
            stack.start_worker(index)
        stack.wait_for_workers()
        stack.start_beat()
        # The next full minute at least 20 s away: beat is up and ticking by then.
        now = datetime.now(UTC)
        minute = (now + timedelta(seconds=80)).replace(second=0, microsecond=0)
        _aim(minute)
        _analyze()
        result.minute = minute.timestamp()
        print(f"  every reminder falls due just before {minute:%H:%M:%S} UTC; waiting for beat", flush=True)
        _wait_for_mail(stack, count, time.monotonic() + (minute.timestamp() - time.time()) + timeout)
        _count(stack, result)
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB") != "1":
            drop_database()
    _report(result, started, logs)
    return result


def _since(result: Result, moment: float | None) -> str:
    return "-" if moment is None else f"{moment - result.minute:.1f} s"


def _report(result: Result, started: datetime, logs: Path) -> None:
    seconds = "not all sent" if result.seconds is None else f"{result.seconds:.1f} s"
    lines = [
        f"| sessions | practices | workers | rows sent | receipts | unique Message-IDs | doubled | last accepted "
        f"after the minute | target ({result.target_seconds:.0f} s) |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {result.count} | {result.practices} | 2 | {result.rows_sent} | {result.receipts} | {result.unique_ids} "
        f"| {result.doubled} | {seconds} | {'met' if result.met else 'MISSED'} |",
        "",
        "Timing splits, from the minute the reminders fell due:",
        f"- first reminder row written: {_since(result, result.first_row_written)}; "
        f"last: {_since(result, result.last_row_written)}",
        f"- first message accepted by the SMTP server: {_since(result, result.first_accepted)}; "
        f"last: {_since(result, result.last_accepted)}",
        f"- rows sent per worker process (pid: rows): {result.per_worker}",
        f"- rows not sent, by status: {result.rows_other or 'none'}",
    ]
    if result.seconds and result.first_accepted:
        rate = result.unique_ids / max(result.last_accepted - result.first_accepted, 0.001)
        lines.append(f"- sending rate once started: {rate:.0f} messages/s")
    text = "\n".join(lines)
    print()
    print(text)
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"reminders-{started:%Y-%m-%d}.md"
    command = f"make bench-reminders BENCH_COUNT={result.count}" + (
        f" BENCH_POOL={result.pool}" if result.pool != "prefork" else ""
    )
    cores = os.cpu_count()
    workers = "2 workers x 1 process" if result.pool == "prefork" else "2 workers x 2 threads (as the Procfile)"
    load = "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    with path.open("a", encoding="utf-8") as f:
        f.write(
            f"\n## {started:%Y-%m-%d %H:%M} UTC: `{command}` ({cores} cores shared, {load} at the end; "
            f"PostgreSQL, Redis, {workers}, beat, aiosmtpd sink on 127.0.0.1)\n\n{text}\n\n"
            f"Logs: `{logs.relative_to(ROOT)}`\n"
        )
    print(f"written to {path.relative_to(ROOT)}")


def profile(*, count: int = 1000, practices: int = 20) -> str:
    """One process, no broker: the sweep then the sending of `count` reminders under cProfile.

    What one worker spends per reminder, and on what (the SMTP sink runs in this
    process too, in its own thread). Returns the report, also written to the results file.
    """
    import cProfile
    import io
    import pstats

    free_disk_check()
    base_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_reminders")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=0, logs=ROOT / "var" / "bench-reminders" / "profile")
    os.environ.update({**stack.env, "LOG_LEVEL": "WARNING"})
    import django

    django.setup()
    from django.core.management import call_command

    from followups import reminders, services, tasks

    try:
        call_command("migrate", verbosity=0)
        _build(count, practices)
        stack.smtp.start()
        minute = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        _aim(minute)
        _analyze()
        time.sleep(max(minute.timestamp() - time.time(), 0))
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        written = 0
        while chunk := reminders.reminders_write_due():
            written += chunk
        wrote = time.perf_counter() - began
        sent = 0
        while chunk := services.outbox_send_due(limit=tasks.SEND_CHUNK, batch=services.CLAIM_BATCH):
            sent += chunk
        profiler.disable()
        total = time.perf_counter() - began
    finally:
        stack.smtp.stop()
        from django.db import connections

        connections.close_all()
        drop_database()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    per = (total - wrote) / max(sent, 1) * 1000
    head = (
        f"{written} rows written in {wrote:.2f} s; {sent} sent in {total - wrote:.2f} s ({per:.1f} ms a reminder, "
        f"one process; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    return head + "\n\n```\n" + "\n".join(out.getvalue().splitlines()[:70]) + "\n```\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--practices", type=int, default=20)
    parser.add_argument("--target", type=float, default=180.0, help="seconds from the minute to the last message")
    parser.add_argument("--profile", action="store_true", help="profile the sweep and the send in one process")
    parser.add_argument(
        "--pool",
        choices=["prefork", "threads"],
        default="prefork",
        help="each worker one process (prefork -c 1), or as the Procfile runs it (threads -c 2)",
    )
    args = parser.parse_args()
    if args.profile:
        report = profile(count=args.count, practices=args.practices)
        print(report)
        path = ROOT / "bench" / "results" / f"reminders-{datetime.now(UTC):%Y-%m-%d}.md"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n## Profile: `python bench/reminders.py --profile --count {args.count}`\n\n{report}")
        return 0
    result = run(count=args.count, practices=args.practices, target=args.target, pool=args.pool)
    seconds = "none arrived" if result.seconds is None else f"{result.seconds:.1f} s"
    print(
        summary.record(
            bench="reminders",
            figure=f"{result.count:,} reminders due in one minute: all accepted by SMTP, each once",
            value=f"{seconds}; {result.unique_ids:,} unique of {result.receipts:,} received, "
            f"{result.rows_sent:,} rows sent",
            target=f"≤ {result.target_seconds:g} s, none twice",
            met=result.met,
        )
    )
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
