"""No query strings (searches) or link tokens in any log line we write or configure."""

import datetime
import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from practice.logsafe import redact_path

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abc"
EMAIL = "alex.adler@example.org"


@pytest.mark.django_db
def test_not_found_warnings_carry_no_token_or_query(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(f"/no/such/{TOKEN}/", {"q": EMAIL})
    assert response.status_code == 404
    assert caplog.records, "Django logs a 404 as a warning"
    assert TOKEN not in caplog.text and "alex" not in caplog.text
    assert "/no/such/[token]/" in caplog.text


def test_runserver_request_lines_carry_no_search(caplog):
    logger = logging.getLogger("django.server")
    with caplog.at_level(logging.INFO, logger="django.server"):
        logger.info('"%s" %s %s', f"GET /clients/?q={EMAIL} HTTP/1.1", "200", "5120")
        logger.info('"%s" %s %s', f"GET /r/{TOKEN}/ HTTP/1.1", "200", "5120")
    assert EMAIL not in caplog.text and TOKEN not in caplog.text
    assert "GET /clients/?[query] HTTP/1.1" in caplog.text


def _gunicorn_logger():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", Path(__file__).parents[2] / "gunicorn.conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = Config()
    cfg.set("access_log_format", module.access_log_format)
    return module.RedactingLogger(cfg), module.access_log_format


def test_gunicorn_access_log_carries_no_token_or_query():
    logger, fmt = _gunicorn_logger()
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/policy/ack/{TOKEN}/?q={EMAIL}",
        "PATH_INFO": f"/policy/ack/{TOKEN}/",
        "QUERY_STRING": f"q={EMAIL}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://reconnect.example.org/clients/?q={EMAIL}",
    }
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = logger.atoms(resp, SimpleNamespace(headers=[]), environ, datetime.timedelta(milliseconds=5))
    line = fmt % atoms
    assert TOKEN not in line and EMAIL not in line
    assert "/policy/ack/[token]/" in line
    assert all(TOKEN not in str(v) and EMAIL not in str(v) for v in atoms.values())


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("/clients/", "/clients/"),
        ("/clients/12/", "/clients/12/"),
        ("/needs-outcome/", "/needs-outcome/"),
        (f"/r/{TOKEN}/", "/r/[token]/"),
        (f"/r/{TOKEN}", "/r/[token]"),
        (f"GET /clients/?q={EMAIL}&page=2 HTTP/1.1", "GET /clients/?[query] HTTP/1.1"),
    ],
)
def test_redact_path(raw, clean):
    assert redact_path(raw) == clean
