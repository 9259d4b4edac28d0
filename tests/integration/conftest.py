"""A real Celery worker process, on the test database and the test broker.

The worker is the one `make run` starts (`celery -A practice worker`), with
the environment pointed at what this test process uses: the test database
(SQLite file or PostgreSQL test database), the broker (Redis, or the
filesystem folder of this run) and this run's queue. Nothing is mocked; a
test sees the worker's work as committed rows and reads its log.

Tests that use `worker` need committed rows, so the fixture brings
`transactional_db` with it.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from celery import signals
from django.conf import settings
from django.db import connection
from kombu.utils.url import maybe_sanitize_url

from practice.celery import app
from tests.fakes.twilio_api import fake_twilio_server, point_settings_at, twilio_env

READY_TIMEOUT = 60  # seconds for the worker to start
TASK_TIMEOUT = 30  # seconds for one task to be done
STOP_TIMEOUT = 15  # seconds for a warm shutdown before SIGKILL
POLL = 0.1


def _unavailable(message: str) -> None:
    """Skip on a laptop without the service; in CI, fail, never skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _database_url() -> str:
    """The URL of the database this process tests against, for the worker's DATABASE_URL."""
    db = connection.settings_dict
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.fail("An in-memory SQLite test database cannot be shared with a worker process.")
        return f"sqlite:///{Path(name).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            user += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or ""
        if db["PORT"]:
            host += f":{db['PORT']}"
        url = f"postgres://{user}@{host}/{quote(db['NAME'], safe='')}"
        options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
        return f"{url}?{urlencode(options)}" if options else url
    pytest.fail(f"No worker DATABASE_URL for the database engine {engine}.")


def _purge_queue(name: str) -> None:
    """Empty the run's queue, failing (in CI) or skipping if the broker cannot be reached.

    Earlier tests of this run published with no worker running (live_server
    tests, say); their messages name event ids that a rolled-back SQLite
    transaction hands out again, so the worker must not see them.
    """
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=5)
            app.amqp.queues[name].bind(conn.default_channel).purge()
    except Exception as exc:  # whatever the transport raises
        error = exc
    else:
        return
    _unavailable(f"Celery broker {maybe_sanitize_url(settings.CELERY_BROKER_URL)} is unavailable: {error!r}")


class WorkerProcess:
    """A running worker and its log (stdout and stderr in one file)."""

    def __init__(self, process: subprocess.Popen, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self, since: int = 0) -> str:
        with self.log_path.open(encoding="utf-8", errors="replace") as f:
            f.seek(since)
            return f.read()

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- celery worker log ---\n{self.log()}", pytrace=False)

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"The Celery worker exited with code {self.process.returncode} before it was ready.")
            if re.search(r"^\[[^]]*\] \S+@\S+ ready\.$", self.log(), re.MULTILINE):
                return
            time.sleep(POLL)
        self.fail(f"The Celery worker was not ready within {READY_TIMEOUT} s.")

    def stop(self) -> None:
        """SIGTERM (a warm shutdown: the current task finishes), then SIGKILL."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_worker(tmp_path_factory, **extra_env):
    """Start a worker on this run's test database, broker and queue; stop it on exit.

    `extra_env` adds settings for the worker process (e.g. where mail goes).
    """
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    _purge_queue(queue)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "practice.settings.test",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "BROKER_DIR": str(settings.BROKER_DIR),
        "CELERY_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            # The celery program of this virtualenv, as `.venv/bin/celery`.
            [sys.executable, "-m", "celery", "-A", "practice", "worker", "--pool=solo", "--concurrency=1"]
            + ["-Q", queue, "-n", f"itest-{uuid.uuid4().hex[:8]}@%h"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(process, log_path)
    try:
        worker.wait_until_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="package")
def worker_twilio():
    """The fake Twilio Messages API the package's worker texts through (tests/fakes/twilio_api.py)."""
    with fake_twilio_server() as fake:
        yield fake


@pytest.fixture(scope="package")
def celery_worker_process(django_db_setup, tmp_path_factory, worker_twilio):
    """One worker for the tests of this folder; it needs the test database created first.

    Stopped after the last of them, so that it never works on what later
    tests publish, and before `django_db_setup` drops the test database.
    Its texts go to the package's fake Twilio API.
    """
    with running_worker(tmp_path_factory, **twilio_env(worker_twilio)) as worker:
        yield worker


@pytest.fixture
def texts(worker_twilio, settings):
    """The worker's fake Twilio API, emptied for this test; this process signs callbacks with its token."""
    with worker_twilio.lock:
        worker_twilio.requests.clear()
        worker_twilio.answers.clear()
    point_settings_at(settings, worker_twilio)
    return worker_twilio


class Worker:
    """What a test sees of the session's worker: its log since the test began, and its tasks.

    When a test fails, its part of the log is added to the report.
    """

    def __init__(self, process: WorkerProcess) -> None:
        self.process = process
        self.start = process.log_size()
        # Ids of the tasks this test process published, in order.
        self.published: list[tuple[str, str]] = []

    def log(self) -> str:
        return self.process.log(self.start)

    def count(self, line: str) -> int:
        """How many log lines since the test began end with `line`."""
        return sum(1 for logged in self.log().splitlines() if logged.endswith(line))

    def wait_for_task(self, task_id: str, timeout: float = TASK_TIMEOUT) -> str:
        """Wait until the worker reports the task succeeded; returns its logged return value."""
        done = re.compile(rf"\[{re.escape(task_id)}\] succeeded in \S+s: (.*)$", re.MULTILINE)
        failed = re.compile(rf"\[{re.escape(task_id)}\] (raised|retry|rejected)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if match := done.search(log):
                return match.group(1)
            if failed.search(log):
                pytest.fail(f"Task {task_id} did not succeed.", pytrace=False)
            if self.process.process.poll() is not None:
                pytest.fail(f"The Celery worker exited with code {self.process.process.returncode}.", pytrace=False)
            time.sleep(POLL)
        pytest.fail(f"Task {task_id} was not done within {timeout} s.", pytrace=False)

    def wait_for_published(self) -> list[str]:
        """Wait for every task published so far; their logged return values, in order."""
        return [self.wait_for_task(task_id) for _name, task_id in self.published]

    def settle(self) -> None:
        """At teardown: give what the test sent a bounded time to finish, and never fail."""
        deadline = time.monotonic() + TASK_TIMEOUT
        for _name, task_id in self.published:
            ended = re.compile(rf"\[{re.escape(task_id)}\] (succeeded|raised)")
            while not ended.search(self.log()) and time.monotonic() < deadline:
                if self.process.process.poll() is not None:
                    return
                time.sleep(POLL)

    def wait_until(self, condition, what: str, timeout: float = TASK_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"Not within {timeout} s: {what}.", pytrace=False)
            time.sleep(POLL)


@pytest.fixture
def worker(celery_worker_process, transactional_db):
    """The real worker, with committed rows; records the tasks this test publishes."""
    view = Worker(celery_worker_process)

    def record(sender=None, headers=None, **kwargs):
        view.published.append((sender, headers["id"]))

    signals.after_task_publish.connect(record, weak=False)
    try:
        yield view
        # Let the worker finish what the test sent before the tables are
        # flushed under it.
        view.settle()
    finally:
        signals.after_task_publish.disconnect(record)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    worker = item.funcargs.get("worker") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(worker, Worker):
        report.sections.append(("celery worker log", worker.log()))
    return report
