"""A real SMTP server on 127.0.0.1 (aiosmtpd), for tests where mail leaves."""

import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    envelope_to: list[str]
    message: EmailMessage
    at: float


@dataclass
class Inbox:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While set, the server answers every message with this SMTP error.
    refuse_with: tuple[int, str] | None = None

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)} within {timeout}s")


class _Handler:
    def __init__(self, inbox: Inbox):
        self.inbox = inbox

    async def handle_DATA(self, server, session, envelope):
        if self.inbox.refuse_with:
            code, text = self.inbox.refuse_with
            return f"{code} {text}"
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.inbox.lock:
            self.inbox.messages.append(Received(list(envelope.rcpt_tos), message, time.monotonic()))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    port = free_port()
    inbox = Inbox(host="127.0.0.1", port=port)
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_server):
    """Django's SMTP backend pointed at the test server."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    return smtp_server
