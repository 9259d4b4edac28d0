"""Personas, after healthchecks' Alice/Bob/Charlie: every view test checks who may see what."""

import os
import shutil
import time
from pathlib import Path

import django.test
import pytest
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user

from practice.models import Membership

from .factories import ClientFactory, MembershipFactory, PracticeFactory

# Registered once, so every folder shares one Chromium (Playwright's sync API
# allows one per process).
# The provider fakes (Twilio's Messages API, Mailgun's sending API) are fixtures for every folder too.
pytest_plugins = ["tests.browser_fixtures", "tests.fakes.twilio_api", "tests.fakes.mailgun_api"]

# Playwright's sync API runs an event loop in this thread; Django's ORM
# then refuses to run unless told it is safe (it is: one thread, no async code).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class Client(django.test.Client):
    """Django's test client; `force_login` also passes the second factor (setting one up if the user must have one).

    Signing in with two factors through the real forms is tested in
    tests/practice/test_two_factor.py and by the browser tests' `log_in`.
    """

    def force_login(self, user, backend=None):
        from practice.two_factor import needs_two_factor

        super().force_login(user, backend)
        device = next(iter(devices_for_user(user, confirmed=True)), None)
        membership = Membership.objects.filter(user=user).select_related("practice").first()
        if device is None and needs_two_factor(user, membership):
            # Someone who must use two factors has set them up by the time they work.
            device = enroll_two_factor(user)
        session = self.session
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        else:
            session["no_second_factor"] = True
        # As a browser's session is after its first page: the idle clock started.
        session["last_seen"] = int(time.time())
        session.save()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters (the cache, and its local fallback) start empty in every test."""
    from django.core.cache import cache

    from practice import ratelimit

    cache.clear()
    ratelimit._local.clear()


@pytest.fixture(autouse=True)
def _broker_not_paused():
    """A test that fails a wake-up on purpose does not leave the next tests' wake-ups skipped."""
    from practice.transactions import broker_pause_reset

    broker_pause_reset()
    yield
    broker_pause_reset()


@pytest.fixture
def client() -> Client:
    return Client()


def enroll_two_factor(user):
    """An authenticator app for `user`, as setting it up in the browser would leave it."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


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
    """Admins always sign in with two factors: this one has an authenticator app."""
    user = _member(practice, "admin", Membership.Role.ADMIN, user__is_staff=True)
    enroll_two_factor(user)
    return user


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
