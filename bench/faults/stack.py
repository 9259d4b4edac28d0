"""The whole system on one machine, as production runs it, with handles to break it.

PostgreSQL (a database of the suite's own, created and dropped here), a Redis
started here on its own port, two Celery workers (one process each), beat,
gunicorn (2 sync workers, gunicorn.conf.py) and an aiosmtpd SMTP server in
this process. Everything listens on 127.0.0.1 only. Every child is started in
its own process group, and only those groups are ever signalled.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90
STOP_TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As redis-server binds: a closed connection's TIME_WAIT does not make the port taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process {process.args[:4]} exited with {process.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


# ------------------------------------------------------------------ database


def database_create(base_url: str) -> tuple[str, callable]:
    """A fresh PostgreSQL database named by `base_url`'s path; returns its URL and a drop function."""
    import psycopg

    parts = urlsplit(base_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in ("postgres", "test"):
        raise SystemExit(f"FAULTS_DATABASE_URL must name a database of the suite's own, not {name!r}")
    admin_url = urlunsplit(parts._replace(path="/postgres"))

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    drop()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return base_url, drop


# ---------------------------------------------------------------------- SMTP


@dataclass
class Receipt:
    message_id: str
    to: str
    at: float


@dataclass
class Inbox:
    """Every message the SMTP server accepted, in order."""

    receipts: list[Receipt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.compat32)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.receipts.append(Receipt(str(message["Message-ID"] or "").strip(), rcpt.lower(), time.time()))
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Receipt]:
        with self.lock:
            return list(self.receipts)


class SmtpServer:
    def __init__(self, inbox: Inbox, port: int) -> None:
        self.inbox, self.port, self.controller = inbox, port, None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# ----------------------------------------------------------------- processes


class Stack:
    def __init__(self, *, database_url: str, redis_port: int, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.redis_port = redis_port
        self.smtp_port = free_port()
        self.web_port = free_port()
        self.inbox = Inbox()
        self.smtp = SmtpServer(self.inbox, self.smtp_port)
        self.env = {
            "DJANGO_SETTINGS_MODULE": "practice.settings.local",
            "DEBUG": "false",
            "SECRET_KEY": f"faults-only-{uuid.uuid4().hex}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "SITE_URL": f"http://127.0.0.1:{self.web_port}",
            "DEFAULT_FROM_EMAIL": "Reconnect <no-reply@127.0.0.1>",
            "CELERY_QUEUE": "faults",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.redis: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None, None]
        self.beat: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self._files: list = []
        self.restarts = {"worker": 0, "redis": 0}

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        self._files.append(log)
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: signals reach it and its children only
        )

    # Redis: no persistence, so a restart loses whatever the broker held.
    def start_redis(self) -> None:
        self.redis = self._spawn(
            "redis",
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--daemonize", "no"],
        )
        wait_for_port(self.redis_port, 20, self.redis)

    def kill_redis(self) -> None:
        _kill_group(self.redis, signal.SIGKILL)
        self.redis = None

    def restart_redis(self, down_seconds: float) -> None:
        self.kill_redis()
        time.sleep(down_seconds)
        self.start_redis()
        self.restarts["redis"] += 1

    def start_worker(self, index: int) -> None:
        self.workers[index] = self._spawn(
            f"worker-{index}",
            [sys.executable, "-m", "celery", "-A", "practice", "worker", "--pool=prefork", "--concurrency=1"]
            + ["-Q", self.env["CELERY_QUEUE"], "-n", f"faults-{index}@%h", "--without-gossip", "--without-mingle"]
            + ["-l", "INFO"],
        )

    def kill_worker(self, index: int, *, child_only: bool) -> None:
        """kill -9: the pool process running the task (its parent forks a new one), or the whole worker."""
        process = self.workers[index]
        if process is None or process.poll() is not None:
            self.start_worker(index)
            return
        children = _children(process.pid)
        if child_only and children:
            for pid in children:
                _signal_pid(pid, signal.SIGKILL)
        else:
            _kill_group(process, signal.SIGKILL)
            self.start_worker(index)
        self.restarts["worker"] += 1

    def ensure_workers(self) -> None:
        for index, process in enumerate(self.workers):
            if process is None or process.poll() is not None:
                self.start_worker(index)

    def start_beat(self) -> None:
        self.beat = self._spawn(
            "beat",
            [sys.executable, "-m", "celery", "-A", "practice", "beat", "-l", "INFO", "--pidfile="]
            + ["--schedule", str(self.logs / "beat-schedule")],
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            "web",
            [sys.executable, "-m", "gunicorn", "practice.wsgi", "-c", str(ROOT / "gunicorn.conf.py")]
            + ["--bind", f"127.0.0.1:{self.web_port}", "--workers", "2", "--timeout", "60"],
        )
        wait_for_port(self.web_port, READY_TIMEOUT, self.web)

    def start(self) -> None:
        self.smtp.start()
        self.start_redis()
        for index in range(len(self.workers)):
            self.start_worker(index)
        self.start_beat()
        self.start_web()
        self.wait_for_workers()

    def wait_for_workers(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for index in range(len(self.workers)):
            path = self.logs / f"worker-{index}.log"
            while not re.search(rb"faults-%d@\S+ ready\." % index, path.read_bytes()):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker {index} not ready; see {path}")
                time.sleep(0.2)

    def log_sizes(self) -> dict[str, int]:
        return {path.name: path.stat().st_size for path in self.logs.glob("*.log")}

    def count_in_logs(self, since: dict[str, int], pattern: bytes) -> int:
        """Lines matching `pattern` (a regex, case-insensitive) written to any log since `since`."""
        found = 0
        for path in self.logs.glob("*.log"):
            with path.open("rb") as f:
                f.seek(since.get(path.name, 0))
                found += len(re.findall(pattern, f.read(), re.IGNORECASE))
        return found

    def sum_in_logs(self, since: dict[str, int], pattern: bytes) -> int:
        """The sum of the number each line matching `pattern` captures (its one group), since `since`."""
        total = 0
        for path in self.logs.glob("*.log"):
            with path.open("rb") as f:
                f.seek(since.get(path.name, 0))
                total += sum(int(n) for n in re.findall(pattern, f.read(), re.IGNORECASE))
        return total

    def stop(self) -> None:
        for process in [self.web, self.beat, *self.workers]:
            if process is not None and process.poll() is None:
                _kill_group(process, signal.SIGTERM)
        for process in [self.web, self.beat, *self.workers]:
            if process is not None:
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _kill_group(process, signal.SIGKILL)
                    process.wait(timeout=STOP_TIMEOUT)
        if self.redis is not None:
            self.kill_redis()
        self.smtp.stop()
        for f in self._files:
            f.close()


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _signal_pid(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _kill_group(process: subprocess.Popen | None, sig: int) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)  # the group this suite started (start_new_session)
    except ProcessLookupError:
        return
    if sig == signal.SIGKILL:
        process.wait(timeout=STOP_TIMEOUT)
