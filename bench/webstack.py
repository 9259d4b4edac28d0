"""The server the HTTP benches measure (bench/pages.py, bench/marking.py, bench/rebooking.py): one setup.

gunicorn with sync workers and production settings over plain http. The only bench-only
setting is SECURE_SSL_REDIRECT=false (no TLS proxy in front of it here); idle timeout,
two-factor session state, CSRF and the audit of views all stay on.
"""

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
