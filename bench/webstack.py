"""The server the HTTP benches measure (bench/pages.py, bench/marking.py, bench/rebooking.py): one setup.

gunicorn with sync workers and production settings over plain http. The only bench-only
setting is SECURE_SSL_REDIRECT=false (no TLS proxy in front of it here); idle timeout,
two-factor session state, CSRF and the audit of views all stay on.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.faults.stack import wait_for_port

ROOT = Path(__file__).resolve().parents[1]


def server_env(*, environ: dict, database_url: str, redis_url: str, port: int) -> dict:
    return {
        **environ,
        "DJANGO_SETTINGS_MODULE": "practice.settings.production",
        "SECRET_KEY": f"bench-only-{uuid.uuid4().hex}-{uuid.uuid4().hex}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "EMAIL_URL": "smtp://127.0.0.1:2",  # no worker runs: nothing is sent
        "SITE_URL": f"http://127.0.0.1:{port}",
        # Bench-only: plain http on 127.0.0.1, no TLS proxy in front (docs/operations.md).
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": str(ROOT / "var" / "bench-static"),
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict, *argv: str) -> str:
    """Run `python <argv>` in the bench's environment; its stdout, or exit with its output."""
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done.stdout


def gunicorn_start(
    *,
    env: dict,
    port: int,
    log,
    app: str = "practice.wsgi",
    cwd: Path = ROOT,
    python: str = sys.executable,
    workers: int = 2,
) -> subprocess.Popen:
    """gunicorn with `workers` sync workers on 127.0.0.1:`port` (its config file, if any, from `cwd`).

    `--no-control-socket`: gunicorn 25+ masters all open one control socket,
    ~/.gunicorn/gunicorn.ctl, by default, so two benches (or both servers of bench/rebooking.py)
    would take it from each other; the benches never use it."""
    return subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            app,
            "-w",
            str(workers),
            "-k",
            "sync",
            "-b",
            f"127.0.0.1:{port}",
            "--no-control-socket",
        ],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def gunicorn_stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def gunicorn_running(env: dict, port: int, log_path: Path, workers: int = 2) -> Iterator[subprocess.Popen]:
    """gunicorn, `workers` sync workers, on 127.0.0.1:`port`; stopped (by its own pid) on the way out."""
    log = log_path.open("ab")
    gunicorn = gunicorn_start(env=env, port=port, log=log, workers=workers)
    try:
        wait_for_port(port, 60, gunicorn)
        yield gunicorn
    finally:
        gunicorn_stop(gunicorn)
        log.close()


class ServerCpu:
    """CPU seconds the server side spent while `run()` ran: gunicorn's workers, their PostgreSQL backends,
    and this process (the load generator), each apart.

    Others share the machine, so requests per second move with their load; the CPU each request costs
    moves much less, and on two cores PostgreSQL's CPU competes with the workers' (issue 11, session 7:
    planning joins was most of some pages' database time). Read from /proc (Linux): utime + stime.
    The backends are this database's in pg_stat_activity; one that ends between two readings (after
    CONN_MAX_AGE) loses its last part.
    """

    KINDS = ("server", "postgres", "load")

    def __init__(self, master_pid: int, database_url: str) -> None:
        self.master_pid = master_pid
        self.database_url = database_url
        self.tick = os.sysconf("SC_CLK_TCK")

    def pids(self) -> dict[str, set[int]]:
        import psycopg

        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children").read_text().split()
        name = self.database_url.rsplit("/", 1)[-1]
        with psycopg.connect(self.database_url) as conn:
            backends = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
            ).fetchall()
        return {"server": {int(pid) for pid in children}, "postgres": {pid for (pid,) in backends}}

    def used(self, pids: dict[str, set[int]]) -> dict[str, dict[int, float]]:
        seconds: dict[str, dict[int, float]] = {kind: {} for kind in self.KINDS}
        for kind, found in pids.items():
            for pid in found:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # gone: a backend closed after CONN_MAX_AGE
                seconds[kind][pid] = (int(fields[11]) + int(fields[12])) / self.tick
        times = os.times()
        seconds["load"][os.getpid()] = times.user + times.system
        return seconds

    def measure(self, run):
        """Run `run()`; its result (a dict with "requests"), with `cpu` (seconds by kind) and `cpu_ms`
        (the server's and PostgreSQL's CPU per request, in ms) added."""
        before_pids = self.pids()
        before = self.used(before_pids)
        result = run()
        now_pids = self.pids()
        after = self.used({kind: before_pids[kind] | now_pids[kind] for kind in now_pids})
        result["cpu"] = {
            kind: sum(seconds - before[kind].get(pid, 0.0) for pid, seconds in after[kind].items())
            for kind in self.KINDS
        }
        server = result["cpu"]["server"] + result["cpu"]["postgres"]
        result["cpu_ms"] = server * 1000 / result["requests"] if result["requests"] else 0.0
        return result
