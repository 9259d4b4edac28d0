"""The whole journey: a browser, the live server, a real Celery worker and a real SMTP server.

The worker is started once for this folder with mail going to the SMTP
server below and links pointing at the live server.
"""

import pytest
from aiosmtpd.controller import Controller

from tests.integration.conftest import Worker, running_worker
from tests.smtp import Inbox, _Handler, free_port


@pytest.fixture(scope="package")
def journey_smtp():
    port = free_port()
    inbox = Inbox(host="127.0.0.1", port=port)
    controller = Controller(_Handler(inbox), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(scope="package")
def journey_worker_process(django_db_setup, live_server, journey_smtp, tmp_path_factory):
    with running_worker(
        tmp_path_factory,
        TEST_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_URL=f"smtp://{journey_smtp.host}:{journey_smtp.port}",
        SITE_URL=live_server.url,
    ) as worker:
        yield worker


@pytest.fixture
def journey_worker(journey_worker_process, transactional_db, journey_smtp):
    with journey_smtp.lock:
        journey_smtp.messages.clear()
    view = Worker(journey_worker_process)
    yield view
    view.settle()
