"""`make run`: the port, the banner and the demo's links agree."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _site_url(**env) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "WEB_PORT", "DJANGO_SETTINGS_MODULE")}
    environment.update(env)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.SITE_URL)",
        ],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "practice.settings.local"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_site_url_follows_web_port():
    assert _site_url(WEB_PORT="8123") == "http://127.0.0.1:8123"
    assert _site_url() == "http://127.0.0.1:8000"


def test_an_explicit_site_url_wins():
    assert _site_url(WEB_PORT="8123", SITE_URL="https://reconnect.example.org/") == "https://reconnect.example.org"


def test_the_start_banner_names_the_real_address():
    result = subprocess.run(
        ["make", "-n", "run", "WEB_PORT=8123"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "Reconnect is starting on http://127.0.0.1:8123/" in result.stdout
    assert "127.0.0.1:8000" not in result.stdout
