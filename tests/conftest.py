"""Personas, after healthchecks' Alice/Bob/Charlie: every view test checks who may see what."""

import os
import shutil
from pathlib import Path

import pytest

from practice.models import Membership

from .factories import ClientFactory, MembershipFactory, PracticeFactory

# Registered once, so every folder shares one Chromium (Playwright's sync API
# allows one per process).
pytest_plugins = ["tests.browser_fixtures"]

# Playwright's sync API runs an event loop in this thread; Django's ORM
# then refuses to run unless told it is safe (it is: one thread, no async code).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate limits on client links live in the cache: no test inherits another's bad-link count."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def practice(db):
    return PracticeFactory(name="Riverside Practice", sender_name="Riverside Office")


@pytest.fixture
def other_practice(db):
    return PracticeFactory(name="Hillside Practice", sender_name="Hillside Office")


def _member(practice, username, role, **kwargs):
    membership = MembershipFactory(practice=practice, user__username=username, user__password="pw", role=role, **kwargs)
    return membership.user


@pytest.fixture
def therapist(practice):
    return _member(practice, "therapist", Membership.Role.CLINICIAN)


@pytest.fixture
def therapist2(practice):
    return _member(practice, "therapist2", Membership.Role.CLINICIAN)


@pytest.fixture
def front_desk(practice):
    return _member(practice, "frontdesk", Membership.Role.FRONT_DESK)


@pytest.fixture
def practice_admin(practice):
    return _member(practice, "admin", Membership.Role.ADMIN, user__is_staff=True)


@pytest.fixture
def other_practice_therapist(other_practice):
    return _member(other_practice, "elsewhere", Membership.Role.CLINICIAN)


@pytest.fixture
def client_of_therapist(practice, therapist):
    return ClientFactory(practice=practice, clinician=therapist, first_name="Robin", last_name="Reed")


@pytest.fixture
def other_client(other_practice, other_practice_therapist):
    return ClientFactory(
        practice=other_practice, clinician=other_practice_therapist, first_name="Sky", last_name="Stone"
    )


def pytest_sessionfinish(session, exitstatus):
    """Take away the broker folder or queue that practice/settings/test.py made up for this run.

    Messages published with no worker running stay there otherwise, one
    folder or Redis list per run. A BROKER_DIR or CELERY_QUEUE from the
    environment was chosen by someone, and is left alone.
    """
    from django.conf import settings

    if not settings.configured:
        return
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = Path(settings.BROKER_DIR)
        if "BROKER_DIR" not in os.environ and folder.name == f"broker-test-{os.getpid()}":
            shutil.rmtree(folder, ignore_errors=True)
    elif "CELERY_QUEUE" not in os.environ:
        _broker_queue_delete(settings.CELERY_TASK_DEFAULT_QUEUE)


def _broker_queue_delete(name: str) -> None:
    from practice.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=5)
            queue = app.amqp.queues[name].bind(conn.default_channel)
            # A channel deletes only the bindings it has declared itself.
            queue.declare()
            queue.delete()
    except Exception:  # noqa: S110 - tidying up; the run's result does not depend on it
        pass
