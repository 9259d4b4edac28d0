"""A fake of Mailgun's sending API on 127.0.0.1 (POST /v3/<domain>/messages), and signed webhook payloads.

anymail's real Mailgun backend talks to it (MAILGUN_API_URL). Each message is
answered with an id of Mailgun's own making, as Mailgun does; tracking events
name that id in `event-data.message.headers.message-id`, signed with HMAC-SHA256
of timestamp + token under the webhook signing key (Mailgun's documented scheme).
"""

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

API_KEY = "key-test-not-secret"
DOMAIN = "mg.example.com"
SIGNING_KEY = "test-signing-key-not-secret"


@dataclass
class FakeMailgun:
    port: int = 0
    ids: list[str] = field(default_factory=list)
    # Statuses to answer the next messages with, in order (then 200 again).
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, status: int) -> "FakeMailgun":
        with self.lock:
            self.answers.append(status)
        return self


def _handler(fake: FakeMailgun):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != f"/v3/{DOMAIN}/messages":
                self.send_response(404)
                self.end_headers()
                return
            message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(6)}@{DOMAIN}>"
            with fake.lock:
                status = fake.answers.pop(0) if fake.answers else 200
                if status == 200:
                    fake.ids.append(message_id)
            payload = {"id": message_id, "message": "Queued. Thank you."} if status == 200 else {"message": "No."}
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def mailgun(settings):
    """Email through anymail's Mailgun backend to the fake; its tracking webhook switched on."""
    fake = FakeMailgun()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EMAIL_PROVIDER = "mailgun"
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        "MAILGUN_API_KEY": API_KEY,
        "MAILGUN_SENDER_DOMAIN": DOMAIN,
        "MAILGUN_API_URL": f"http://127.0.0.1:{fake.port}/v3",
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def tracking_payload(
    event: str, message_id: str, *, key: str = SIGNING_KEY, severity: str = "", reason: str = "", ts: float = 0
) -> dict:
    """A tracking webhook body in the shape of Mailgun's documented samples, signed with `key`."""
    timestamp = str(int(ts or time.time()))
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data = {
        "id": secrets.token_hex(11),
        "timestamp": float(timestamp),
        "log-level": "info" if event == "delivered" else "error",
        "event": event,
        "recipient": "robin@example.com",
        "recipient-domain": "example.com",
        "tags": [],
        "user-variables": {},
        "envelope": {"transport": "smtp", "sender": f"bounce@{DOMAIN}"},
        "message": {"headers": {"to": "robin@example.com", "message-id": message_id.strip("<>"), "subject": "Hi"}},
        "delivery-status": {"code": 550 if event == "failed" else 250, "message": "", "description": ""},
    }
    if severity:
        data["severity"] = severity
    if reason:
        data["reason"] = reason
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": data}
