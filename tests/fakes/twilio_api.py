"""A fake of Twilio's Messages API on 127.0.0.1, for tests where texts leave.

It speaks the part of the REST API our channel uses: POST
/2010-04-01/Accounts/<sid>/Messages.json (form fields To, From or
MessagingServiceSid, Body, StatusCallback) and GET /2010-04-01/Accounts/<sid>.json.
It records every request and answers 201 with a fresh SID, or what the test
queued (`then(400, code=21211)`, `then(429)`, `then(500)`; `hold` delays the
answer, for a client-side timeout after the message was taken). Basic auth is
checked against the account SID and token.

`signed_post` posts a Twilio callback to our endpoint the way Twilio does: a
form body and X-Twilio-Signature computed by twilio.request_validator over
the public URL (SITE_URL + path).
"""

import base64
import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-twilio-auth-token"  # noqa: S105 - the fake's own, not a secret
FROM_NUMBER = "+15005550006"


@dataclass
class Answer:
    status: int
    code: int | None = None
    hold: float = 0.0


@dataclass
class Sent:
    """One Messages.json request as the fake received it."""

    fields: dict[str, str]
    sid: str
    status: int
    at: float

    @property
    def to(self) -> str:
        return self.fields.get("To", "")

    @property
    def body(self) -> str:
        return self.fields.get("Body", "")


@dataclass
class FakeTwilio:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Sent] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    bad_auth: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def then(self, status: int, *, code: int | None = None, hold: float = 0.0) -> "FakeTwilio":
        """The next Messages.json request gets this answer (in order; afterwards 201 again)."""
        with self.lock:
            self.answers.append(Answer(status, code, hold))
        return self

    def accepted(self) -> list[Sent]:
        with self.lock:
            return [r for r in self.requests if r.status == 201]

    def wait_for(self, count: int, timeout: float = 30) -> list[Sent]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.accepted()) >= count:
                return self.accepted()
            time.sleep(0.05)
        raise AssertionError(f"expected {count} texts, got {len(self.accepted())} within {timeout}s")


def _handler(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: tests read `fake.requests`
            pass

        def _authorized(self) -> bool:
            expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if self.headers.get("Authorization", "") == f"Basic {expected}":
                return True
            fake.bad_auth += 1
            return False

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have given up waiting (a test of a lost answer).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def do_GET(self):
            if not self._authorized():
                return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if self.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}.json":
                return self._json(200, {"sid": ACCOUNT_SID, "status": "active"})
            return self._json(404, {"code": 20404, "message": "Not found", "status": 404})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            if not self._authorized():
                return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if self.path != f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json":
                return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
            fields = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            with fake.lock:
                answer = fake.answers.pop(0) if fake.answers else Answer(201)
                sid = "SM" + secrets.token_hex(16)
                fake.requests.append(Sent(fields=fields, sid=sid, status=answer.status, at=time.monotonic()))
            if answer.hold:
                time.sleep(answer.hold)
            if answer.status == 201:
                return self._json(
                    201,
                    {
                        "sid": sid,
                        "account_sid": ACCOUNT_SID,
                        "to": fields.get("To"),
                        "from": fields.get("From"),
                        "body": fields.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
                    },
                )
            code = answer.code or answer.status
            return self._json(
                answer.status,
                {"code": code, "message": f"Error {code}", "more_info": "", "status": answer.status},
            )

    return Handler


@contextlib.contextmanager
def fake_twilio_server():
    """The fake on a free port of 127.0.0.1, for as long as the block lasts."""
    fake = FakeTwilio()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def point_settings_at(settings, fake: FakeTwilio) -> None:
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = FROM_NUMBER
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_API_BASE = fake.base
    settings.TWILIO_TIMEOUT = 5


@pytest.fixture
def twilio_api(settings):
    """The fake, and our settings pointed at it (SMS_BACKEND "twilio")."""
    with fake_twilio_server() as fake:
        point_settings_at(settings, fake)
        yield fake


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    """The same settings for a worker process's environment."""
    return {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE": fake.base,
        "TWILIO_TIMEOUT": "5",
    }


def signed_post(client, path: str, fields: dict[str, str], *, token: str = AUTH_TOKEN, query: str = ""):
    """Post `fields` to our `path` as Twilio does, signed over SITE_URL + path (+ "?" + query)."""
    from django.conf import settings
    from twilio.request_validator import RequestValidator

    url = path + (f"?{query}" if query else "")
    signature = RequestValidator(token).compute_signature(settings.SITE_URL + url, fields)
    return client.post(
        url, urlencode(fields), content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature
    )
