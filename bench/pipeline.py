"""`make bench-pipeline`: the after-miss pipeline end to end (issue 11, "Pipeline").

1. Builds a PostgreSQL database of its own (BENCH_DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/bench_pipe; dropped and recreated, dropped
   again at the end) after checking there is room on the disk.
2. Writes `--practices` practices born as every practice is (`practice_create`:
   default plans and ladder), with the first follow-up's delay at 0 and no quiet
   hours (so the figure does not depend on the hour), and `--count` sessions that
   started two hours ago (one client each, email with consent).
3. Starts the stack of the fault suite (bench/faults/stack.py, without the web
   server): a Redis on its own port, an aiosmtpd sink on 127.0.0.1 that records
   every message by Message-ID, two Celery workers (one process each) and beat.
4. Baseline, in the same run: this process sends `--count` / 10 messages straight
   to the same sink through Django's SMTP backend over one connection (no
   database, no broker): the sink's raw rate.
5. The burst: `--markers` processes mark every session a no-show through the
   service the schedule's button calls (aftercare.services.attendance_record),
   as fast as they can. Measured from the first mark: when every fee row is
   written (polled) and every first follow-up accepted by the SMTP server.
   Missed sessions per second = count / the later of the two.
   Before the burst, the pipeline's own capacity (`--no-drain` skips it): as
   many sessions marked while no worker runs, then both workers started on the
   backlog; from both ready to the last fee and message. Marking competes with
   the workers for the same cores in the burst; here it does not.
6. Exactly once: unique Message-IDs == receipts == first follow-ups sent == count,
   and one fee per miss. Left to the sweep: what the minute sweeps
   (sweep_missed_sessions, sweep_followups) processed, read from the workers' own
   "succeeded" lines (each sweep returns how many rows it did).
7. Latency, not in a burst: `--singles` sessions marked one at a time, each once
   the previous one's message arrived plus a pause; p50 and p95 mark -> SMTP.

Writes the table to bench/results/pipeline-<date>.md. Exit status 1 when a target is missed.
"""

import argparse
import multiprocessing
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from bench.faults.stack import Stack, database_create, port_is_free  # noqa: E402
from bench.reminders import free_disk_check  # noqa: E402

TARGET_RATE = 100.0  # missed sessions per second, end to end
TARGET_P50_MS = 50.0  # mark -> SMTP, one at a time, first-message delay 0
SINGLE_PAUSE = 0.3  # seconds between single marks: not a burst
SETTLE_AFTER_LAST = 5  # seconds to wait after the last expected message, to catch a late duplicate
SWEEP_LINE = re.compile(
    rb"Task aftercare\.tasks\.(sweep_missed_sessions|sweep_followups)\[[^\]]+\] succeeded[^:]*: (\d+)"
)


@dataclass
class Result:
    count: int
    markers: int
    baseline_rate: float = 0.0
    baseline_single_ms: float = 0.0
    marked_seconds: float = 0.0
    fees_seconds: float | None = None
    mail_seconds: float | None = None
    fees: int = 0
    receipts: int = 0
    unique_ids: int = 0
    rows_sent: int = 0
    rows_other: dict = field(default_factory=dict)
    swept_events: int = 0
    swept_messages: int = 0
    late_events: int = 0
    late_messages: int = 0
    singles: list[float] = field(default_factory=list)
    single_marks: list[float] = field(default_factory=list)
    drain_count: int = 0
    drain_seconds: float | None = None
    drain_exactly_once: bool = False
    single_receipts: int = 0
    single_unique: int = 0

    @property
    def seconds(self) -> float | None:
        if self.fees_seconds is None or self.mail_seconds is None:
            return None
        return max(self.fees_seconds, self.mail_seconds)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def exactly_once(self) -> bool:
        return self.unique_ids == self.receipts == self.rows_sent == self.fees == self.count

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.singles) * 1000 if self.singles else None

    @property
    def p95_ms(self) -> float | None:
        if not self.singles:
            return None
        ordered = sorted(self.singles)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    @property
    def drain_rate(self) -> float:
        return self.drain_count / self.drain_seconds if self.drain_seconds else 0.0

    @property
    def rate_met(self) -> bool:
        return self.rate >= TARGET_RATE and self.exactly_once

    @property
    def sweep_met(self) -> bool:
        return self.swept_events == 0 and self.swept_messages == 0

    @property
    def latency_met(self) -> bool:
        return self.p50_ms is not None and self.p50_ms < TARGET_P50_MS and self.single_unique == len(self.singles)


def _build(count: int, practices: int, singles: int, prefix: str = "") -> tuple[list[int], list[tuple[int, str]], int]:
    """Practices, clinicians, clients, sessions. Returns burst ids, (id, address) of the singles, an actor id."""
    from datetime import time as clock

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from appointments.models import Appointment, Client
    from followups.models import FollowUpPlan
    from practice.models import Membership
    from practice.services import practice_create

    user_model = get_user_model()
    start = datetime.now(UTC) - timedelta(hours=2)
    burst, single = [], []
    for p in range(practices):
        practice = practice_create(
            name=f"{prefix}Bench practice {p}", time_zone="America/New_York", country="US", sender_name=f"Office {p}"
        ).practice
        with transaction.atomic():
            FollowUpPlan.objects.filter(practice=practice).update(
                first_delay_minutes=0, quiet_start=clock(0), quiet_end=clock(0)
            )
            clinician = user_model(username=f"{prefix}bench-clinician-{p}", email=f"{prefix}clinician{p}@example.org")
            clinician.set_unusable_password()
            clinician.save()
            Membership.objects.create(practice=practice, user=clinician, role=Membership.Role.CLINICIAN)
            share = count // practices + (1 if p < count % practices else 0)
            extra = singles if p == 0 else 0
            clients = Client.objects.bulk_create(
                [
                    Client(
                        practice=practice,
                        clinician=clinician,
                        first_name=f"Client{i}",
                        last_name="Bench",
                        email=f"{prefix}p{p}c{i}@example.com",
                        consent_email=True,
                    )
                    for i in range(share + extra)
                ],
                batch_size=2000,
            )
            rows = Appointment.objects.bulk_create(
                [
                    Appointment(
                        practice=practice,
                        client=client,
                        clinician=clinician,
                        start=start,
                        end=start + timedelta(minutes=50),
                        modality=Appointment.Modality.TELEHEALTH,
                    )
                    for client in clients
                ],
                batch_size=2000,
            )
            burst += [row.pk for row in rows[:share]]
            single += [(row.pk, client.email) for row, client in zip(rows[share:], clients[share:], strict=True)]
    actor = user_model.objects.get(username=f"{prefix}bench-clinician-0").pk
    return burst, single, actor


def _marker_init() -> None:
    import django

    django.setup()


def _mark(chunk: list[int]) -> int:
    """One marking process: each session a no-show, one after another, through the schedule's service."""
    from django.contrib.auth import get_user_model

    from aftercare.services import attendance_record
    from appointments.models import Appointment

    actors = {}
    for appointment_id in chunk:
        clinician_id = Appointment.objects.values_list("clinician_id", flat=True).get(pk=appointment_id)
        if clinician_id not in actors:
            actors[clinician_id] = get_user_model().objects.get(pk=clinician_id)
        attendance_record(appointment_id=appointment_id, outcome="no_show", actor=actors[clinician_id])
    return len(chunk)


def _baseline(stack: Stack, n: int) -> tuple[float, float]:
    """The sink's raw rate over one connection (messages/s), and one message on a new connection (ms)."""
    from django.core.mail import EmailMessage, get_connection

    def wait_for(total: int) -> None:
        deadline = time.monotonic() + 30
        while len(stack.inbox.snapshot()) < total and time.monotonic() < deadline:
            time.sleep(0.001)

    began = time.perf_counter()
    with get_connection() as connection:
        for i in range(n):
            EmailMessage(
                "Checking in", "Hello", "bench@localhost", [f"baseline-{i}@example.com"], connection=connection
            ).send()
    wait_for(n)
    rate = n / (time.perf_counter() - began)
    singles = []
    for i in range(20):
        began = time.perf_counter()
        EmailMessage("Checking in", "Hello", "bench@localhost", [f"single-baseline-{i}@example.com"]).send()
        wait_for(n + i + 1)
        singles.append(time.perf_counter() - began)
    with stack.inbox.lock:
        stack.inbox.receipts.clear()
    return rate, statistics.median(singles) * 1000


def _burst(stack: Stack, ids: list[int], markers: int, result: Result, timeout: float) -> float:
    from django.db import connections

    from policies.models import FeeAssessment

    connections.close_all()
    chunks = [ids[i::markers] for i in range(markers)]
    with multiprocessing.get_context("spawn").Pool(markers, initializer=_marker_init) as pool:
        pool.map(_marker_init_barrier, range(markers))  # every marker is set up before the clock starts
        began = time.time()
        pending = pool.map_async(_mark, chunks)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = time.time()
            if pending.ready() and not result.marked_seconds:
                pending.get()
                result.marked_seconds = now - began
            if result.fees_seconds is None and FeeAssessment.objects.count() >= len(ids) + result.drain_count:
                result.fees_seconds = now - began
            if result.mail_seconds is None and len({r.message_id for r in stack.inbox.snapshot()}) >= len(ids):
                result.mail_seconds = max(r.at for r in stack.inbox.snapshot()) - began
            if result.fees_seconds is not None and result.mail_seconds is not None and result.marked_seconds:
                break
            time.sleep(0.2)
        if not result.marked_seconds:
            pending.wait(timeout=60)
    time.sleep(SETTLE_AFTER_LAST)
    return began


def _drain(stack: Stack, ids: list[int], markers: int, result: Result, timeout: float) -> None:
    """The pipeline's own capacity: `ids` marked while no worker runs, then both workers started on the backlog.

    Measured from both workers being ready to every fee written and every first message accepted.
    """
    from django.db import connections

    from followups.models import OutboxMessage
    from policies.models import FeeAssessment

    connections.close_all()
    with multiprocessing.get_context("spawn").Pool(markers, initializer=_marker_init) as pool:
        pool.map(_mark, [ids[i::markers] for i in range(markers)])
    for index in range(len(stack.workers)):
        stack.start_worker(index)
    stack.wait_for_workers()
    began = time.time()
    deadline = time.monotonic() + timeout
    fees_at = mail_at = None
    while time.monotonic() < deadline and (fees_at is None or mail_at is None):
        if fees_at is None and FeeAssessment.objects.count() >= len(ids):
            fees_at = time.time()
        receipts = stack.inbox.snapshot()
        if mail_at is None and len({r.message_id for r in receipts}) >= len(ids):
            mail_at = max(r.at for r in receipts)
        time.sleep(0.2)
    time.sleep(SETTLE_AFTER_LAST)
    receipts = stack.inbox.snapshot()
    sent = OutboxMessage.objects.filter(step=OutboxMessage.Step.FIRST, status=OutboxMessage.Status.SENT).count()
    result.drain_count = len(ids)
    if fees_at is not None and mail_at is not None:
        result.drain_seconds = max(fees_at, mail_at) - began
    result.drain_exactly_once = (
        len(receipts) == len({r.message_id for r in receipts}) == sent == FeeAssessment.objects.count() == len(ids)
    )
    with stack.inbox.lock:
        stack.inbox.receipts.clear()


def _marker_init_barrier(_: int) -> None:
    from django.db import connection

    connection.ensure_connection()


def _count(stack: Stack, result: Result, logs: Path, began: float) -> None:
    from django.db.models import Count, F

    from followups.models import OutboxMessage
    from policies.models import FeeAssessment

    receipts = stack.inbox.snapshot()
    result.receipts = len(receipts)
    result.unique_ids = len({r.message_id for r in receipts})
    # The drain phase's rows were counted then (`_drain`).
    result.fees = FeeAssessment.objects.count() - result.drain_count
    firsts = OutboxMessage.objects.filter(step=OutboxMessage.Step.FIRST)
    statuses = dict(firsts.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    result.rows_sent = statuses.pop(OutboxMessage.Status.SENT, 0) - result.drain_count
    result.rows_other = statuses
    # A cross-check that does not rely on logs: rows done more than 30 s after they were due.
    from appointments.models import NoShowEvent

    late, since = timedelta(seconds=30), datetime.fromtimestamp(began, UTC)
    burst_events = NoShowEvent.objects.filter(recorded_at__gte=since)
    result.late_events = burst_events.filter(processed_at__gt=F("recorded_at") + late).count()
    result.late_messages = firsts.filter(due_at__gte=since, sent_at__gt=F("due_at") + late).count()
    for path in logs.glob("worker-*.log"):
        for name, done in SWEEP_LINE.findall(path.read_bytes()):
            if name == b"sweep_missed_sessions":
                result.swept_events += int(done)
            else:
                result.swept_messages += int(done)


def _singles(stack: Stack, singles: list[tuple[int, str]], actor_id: int, result: Result) -> None:
    from django.contrib.auth import get_user_model

    from aftercare.services import attendance_record

    actor = get_user_model().objects.get(pk=actor_id)
    with stack.inbox.lock:
        stack.inbox.receipts.clear()
    for appointment_id, address in singles:
        began = time.time()
        attendance_record(appointment_id=appointment_id, outcome="no_show", actor=actor)
        result.single_marks.append(time.time() - began)
        deadline = time.monotonic() + 90
        arrived = None
        while arrived is None and time.monotonic() < deadline:
            arrived = next((r.at for r in stack.inbox.snapshot() if r.to == address), None)
            if arrived is None:
                time.sleep(0.0005)
        if arrived is None:
            print(f"    no message for a single mark within 90 s ({address})", flush=True)
            continue
        result.singles.append(arrived - began)
        time.sleep(SINGLE_PAUSE)
    time.sleep(SETTLE_AFTER_LAST)
    receipts = stack.inbox.snapshot()
    result.single_receipts = len(receipts)
    result.single_unique = len({r.message_id for r in receipts})


def run(*, count: int, practices: int, markers: int, singles: int, timeout: float, drain: bool = True) -> Result:
    free_disk_check()
    # A Redis of its own (BENCH_REDIS_PORT), or a database of a shared one (BENCH_REDIS_URL, e.g. .../9).
    shared_redis = os.environ.get("BENCH_REDIS_URL", "")
    redis_port = int(os.environ.get("BENCH_REDIS_PORT", "6391"))
    if not shared_redis and not port_is_free(redis_port):
        raise SystemExit(f"127.0.0.1:{redis_port} is in use: set BENCH_REDIS_PORT, or BENCH_REDIS_URL to a Redis db")
    base_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_pipe")
    started = datetime.now(UTC)
    logs = ROOT / "var" / "bench-pipeline" / started.strftime("%Y%m%d-%H%M%S")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=redis_port, logs=logs)
    stack.env["CELERY_QUEUE"] = "bench_pipeline"
    if shared_redis:
        stack.env["REDIS_URL"] = stack.env["CELERY_BROKER_URL"] = shared_redis
        stack.start_redis = lambda: None
    os.environ.update({**stack.env, "LOG_LEVEL": "WARNING"})

    import django

    django.setup()
    from django.core.management import call_command

    result = Result(count=count, markers=markers)
    print(f"pipeline bench: {count} no-shows in a burst from {markers} processes; logs in {logs}", flush=True)
    try:
        call_command("migrate", verbosity=0)
        burst, single, actor = _build(count, practices, singles)
        backlog = _build(count, practices, 0, prefix="d")[0] if drain else []
        stack.smtp.start()
        result.baseline_rate, result.baseline_single_ms = _baseline(stack, max(count // 10, 100))
        print(f"  baseline: the sink takes {result.baseline_rate:.0f} messages/s on one connection", flush=True)
        stack.start_redis()
        if backlog:
            _drain(stack, backlog, markers, result, timeout)
            print(f"  drain: {result.drain_rate:.1f} missed sessions/s from a backlog", flush=True)
        else:
            for index in range(len(stack.workers)):
                stack.start_worker(index)
            stack.wait_for_workers()
        stack.start_beat()
        began = _burst(stack, burst, markers, result, timeout)
        _count(stack, result, logs, began)
        print(f"  burst: {result.rate:.1f} missed sessions/s; now {singles} single marks", flush=True)
        _singles(stack, single, actor, result)
    finally:
        stack.stop()
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB") != "1":
            drop_database()
    _report(result, started, logs)
    return result


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _report(result: Result, started: datetime, logs: Path) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        "| measure | figure | target | |",
        "|---|---|---|---|",
        f"| burst of {result.count}, marked by {result.markers} processes | marked in "
        f"{result.marked_seconds:.1f} s ({result.count / max(result.marked_seconds, 0.001):.0f} marks/s) | | |",
        f"| every fee row written | {_fmt(result.fees_seconds, ' s')} after the first mark | | |",
        f"| every first follow-up accepted by SMTP | {_fmt(result.mail_seconds, ' s')} after the first mark | | |",
        f"| missed sessions per second, end to end | **{result.rate:.1f}/s** | >= {TARGET_RATE:.0f}/s "
        f"| {met(result.rate_met)} |",
        f"| pipeline capacity: {result.drain_count} marked with no worker running, then 2 workers on the backlog "
        f"| {_fmt(result.drain_seconds, ' s')} from both ready to the last fee and message: "
        f"**{result.drain_rate:.1f}/s**, exactly once: {'yes' if result.drain_exactly_once else 'NO'} "
        f"| >= {TARGET_RATE:.0f}/s | {met(result.drain_rate >= TARGET_RATE and result.drain_exactly_once)} |",
        f"| exactly once: unique Message-IDs / receipts / first rows sent / fees | {result.unique_ids} / "
        f"{result.receipts} / {result.rows_sent} / {result.fees} | all {result.count} | {met(result.exactly_once)} |",
        f"| left to the minute sweeps: missed sessions / messages | {result.swept_events} / {result.swept_messages} "
        f"(done > 30 s after due: {result.late_events} / {result.late_messages}) | 0 / 0 | {met(result.sweep_met)} |",
        f"| mark -> SMTP, {len(result.singles)} single marks {SINGLE_PAUSE} s apart | p50 "
        f"**{_fmt(result.p50_ms, ' ms')}**, p95 {_fmt(result.p95_ms, ' ms')} | p50 < {TARGET_P50_MS:.0f} ms "
        f"| {met(result.latency_met)} |",
        f"| of which the mark itself (the web request's work) | p50 "
        f"{_fmt(statistics.median(result.single_marks) * 1000 if result.single_marks else None, ' ms')} | | |",
        f"| baseline: the SMTP sink alone | {result.baseline_rate:.0f} messages/s on one connection; "
        f"{result.baseline_single_ms:.1f} ms for one on a new connection | | |",
        f"| ratios | burst rate / sink rate {result.rate / max(result.baseline_rate, 0.001):.2f}; single p50 / "
        f"sink single {(result.p50_ms or 0) / max(result.baseline_single_ms, 0.001):.1f}x | | |",
    ]
    if result.rows_other:
        lines.append(f"\nFirst follow-ups not sent, by status: {result.rows_other}")
    text = "\n".join(lines)
    print()
    print(text)
    folder = ROOT / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"pipeline-{started:%Y-%m-%d}.md"
    load = "load average {:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())
    command = f"make bench-pipeline BENCH_COUNT={result.count}"
    with path.open("a", encoding="utf-8") as f:
        f.write(
            f"\n## {started:%Y-%m-%d %H:%M} UTC: `{command}` ({os.cpu_count()} cores shared, {load} at the end; "
            f"PostgreSQL, Redis, 2 workers x 1 process, beat, aiosmtpd sink on 127.0.0.1; code {_commit()})\n\n"
            f"{text}\n\nLogs: `{logs.relative_to(ROOT)}`\n"
        )
    print(f"written to {path.relative_to(ROOT)}")


def _commit() -> str:
    import shutil
    import subprocess

    git = shutil.which("git") or "/usr/bin/git"
    out = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def profile(*, count: int = 500, practices: int = 5) -> str:
    """One process, an in-memory broker: marking, processing and sending `count` misses, each under cProfile.

    What each phase costs per miss, and on what (the SMTP sink runs in this process, in its own thread).
    """
    import cProfile
    import io
    import pstats

    free_disk_check()
    base_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_pipe")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=0, logs=ROOT / "var" / "bench-pipeline" / "profile")
    os.environ.update({**stack.env, "LOG_LEVEL": "WARNING", "CELERY_BROKER_URL": "memory://"})
    import django

    django.setup()
    from django.core.management import call_command

    from appointments.models import NoShowEvent
    from followups.models import OutboxMessage

    phases = []
    try:
        call_command("migrate", verbosity=0)
        burst, _, _ = _build(count, practices, 0)
        stack.smtp.start()

        def mark() -> None:
            _mark(burst)

        # As the workers run a burst: one wake-up (practice.wakeups), which wakes again while its batch
        # comes back full; here the next call stands in for that re-wake.
        def process() -> None:
            from aftercare import services

            first = NoShowEvent.objects.order_by("pk").values_list("pk", flat=True).first()
            while NoShowEvent.objects.filter(processed_at=None, undone_at=None).exists():
                services.missed_sessions_process(event_id=first)

        def send() -> None:
            from aftercare import services

            firsts = OutboxMessage.objects.filter(step="first")
            first = firsts.order_by("pk").values_list("pk", flat=True).first()
            while firsts.filter(status=OutboxMessage.Status.PENDING).exists():
                services.followup_send_now(message_id=first)

        for name, phase in (("mark", mark), ("process", process), ("send", send)):
            profiler = cProfile.Profile()
            began = time.perf_counter()
            profiler.runcall(phase)
            phases.append((name, time.perf_counter() - began, profiler))
    finally:
        stack.smtp.stop()
        from django.db import connections

        connections.close_all()
        drop_database()
    report = [
        f"{count} misses, one process, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
        + "; ".join(f"{name} {seconds / count * 1000:.1f} ms a miss" for name, seconds, _ in phases)
    ]
    for name, seconds, profiler in phases:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        report.append(f"\n### {name}: {seconds:.2f} s\n\n```\n" + "\n".join(out.getvalue().splitlines()[:50]) + "\n```")
    return "\n".join(report) + "\n"


def profile_single(*, count: int = 60) -> str:
    """One process, no broker: `count` single marks, each followed by its follow-up's send as the wake-up does it.

    What the single mark's send costs (mark -> SMTP less the Celery hop): p50, queries, and a cProfile.
    """
    import cProfile
    import io
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    free_disk_check()
    base_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_pipe")
    database_url, drop_database = database_create(base_url)
    stack = Stack(database_url=database_url, redis_port=0, logs=ROOT / "var" / "bench-pipeline" / "profile")
    os.environ.update({**stack.env, "LOG_LEVEL": "ERROR", "CELERY_BROKER_URL": "memory://"})
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from aftercare import services
    from followups.models import OutboxMessage

    profiler, took, queries = cProfile.Profile(), [], 0
    try:
        call_command("migrate", verbosity=0)
        _, singles, actor_id = _build(0, 1, count)
        stack.smtp.start()
        actor = get_user_model().objects.get(pk=actor_id)
        for i, (appointment_id, _) in enumerate(singles):
            event = services.attendance_record(appointment_id=appointment_id, outcome="no_show", actor=actor).event
            row = OutboxMessage.objects.get(missed_session=event, step=OutboxMessage.Step.FIRST)
            warm = i >= 10  # the first sends open the connections and fill Django's caches
            began = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                if warm:
                    profiler.enable()
                services.followups.outbox_send_now(message_id=row.pk, purpose=OutboxMessage.Purpose.FOLLOWUP)
                if warm:
                    profiler.disable()
            if warm:
                took.append(time.perf_counter() - began)
            queries = len(captured.captured_queries)
            services.missed_sessions_process(event_id=event.pk)
    finally:
        stack.smtp.stop()
        from django.db import connections

        connections.close_all()
        drop_database()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return (
        f"{len(took)} single sends, one process, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: "
        f"p50 {statistics.median(took) * 1000:.1f} ms, {queries} queries each\n\n```\n"
        + "\n".join(out.getvalue().splitlines()[:45])
        + "\n```\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--practices", type=int, default=10)
    parser.add_argument("--markers", type=int, default=4, help="processes marking the burst")
    parser.add_argument("--singles", type=int, default=40, help="single marks for the latency part")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--no-drain", action="store_true", help="skip the backlog phase (the pipeline's own capacity)")
    parser.add_argument("--profile", action="store_true", help="profile marking, processing and sending in one process")
    parser.add_argument("--profile-single", action="store_true", help="profile the single mark's send in one process")
    args = parser.parse_args()
    if args.profile_single:
        report = profile_single()
        print(report)
        path = ROOT / "bench" / "results" / f"pipeline-{datetime.now(UTC):%Y-%m-%d}.md"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n## Profile: `python bench/pipeline.py --profile-single`\n\n{report}")
        return 0
    if args.profile:
        report = profile(count=min(args.count, 1000))
        print(report)
        path = ROOT / "bench" / "results" / f"pipeline-{datetime.now(UTC):%Y-%m-%d}.md"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\n## Profile: `python bench/pipeline.py --profile --count {min(args.count, 1000)}`\n\n{report}")
        return 0
    result = run(
        count=args.count,
        practices=args.practices,
        markers=args.markers,
        singles=args.singles,
        timeout=args.timeout,
        drain=not args.no_drain,
    )
    for figure, value, target, met in (
        (
            f"missed sessions a second end to end, burst of {result.count:,}, 2 workers "
            "(fee written, first message at SMTP)",
            f"{result.rate:.1f}/s; exactly once: {'yes' if result.exactly_once else 'NO'}",
            f"≥ {TARGET_RATE:.0f}/s, exactly once",
            result.rate_met,
        ),
        (
            "rows left to the minute sweeps in the burst (missed sessions / messages)",
            f"{result.swept_events} / {result.swept_messages}",
            "0 / 0",
            result.sweep_met,
        ),
        (
            "mark → SMTP p50, one at a time, first-message delay 0",
            _fmt(result.p50_ms, " ms"),
            f"< {TARGET_P50_MS:.0f} ms",
            result.latency_met,
        ),
    ):
        print(summary.record(bench="pipeline", figure=figure, value=value, target=target, met=met))
    return 0 if result.rate_met and result.sweep_met and result.latency_met else 1


if __name__ == "__main__":
    sys.exit(main())
