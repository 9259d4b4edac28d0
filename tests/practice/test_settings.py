import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL", "REDIS_URL")
        + ("EMAIL_URL", "SITE_URL")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_SETTINGS_MODULE="practice.settings.production")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **CONFIGURED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_healthz_answers(client):
    response = client.get("/healthz/")
    assert response.status_code == 200 and response.json() == {"ok": True}


@pytest.mark.django_db
def test_unknown_pages_are_a_kind_404(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Not found" in response.content


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "practice.settings.production",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ALLOWED_HOSTS": "reconnect.example.org",
}
CONFIGURED = {
    "DATABASE_URL": "sqlite:////tmp/reconnect-check.sqlite3",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_URL": "smtp://127.0.0.1:25",
    "SITE_URL": "https://reconnect.example.org",
}


@pytest.mark.parametrize("missing", sorted(CONFIGURED))
def test_production_settings_refuse_to_start_without_each_service(missing):
    env = {**PRODUCTION, **{k: v for k, v in CONFIGURED.items() if k != missing}}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert "reconnect.E001" in result.stderr


def test_gunicorn_entry_point_refuses_to_start_without_the_services():
    """WSGI servers run no system checks: the entry point runs ours."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", *CONFIGURED)}
    env.update(PRODUCTION)
    result = subprocess.run(
        [sys.executable, "-c", "import practice.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "Reconnect will not start" in result.stderr and "DATABASE_URL is not set" in result.stderr
