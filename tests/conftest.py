"""Personas, after healthchecks' Alice/Bob/Charlie: every view test checks who may see what."""

import os

import pytest

from practice.models import Membership

from .factories import ClientFactory, MembershipFactory, PracticeFactory

# Playwright's sync API runs an event loop in this thread; Django's ORM
# then refuses to run unless told it is safe (it is: one thread, no async code).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def practice(db):
    return PracticeFactory(name="Riverside Practice", sender_name="Riverside Office")


@pytest.fixture
def other_practice(db):
    return PracticeFactory(name="Hillside Practice", sender_name="Hillside Office")


def _member(practice, username, role, **kwargs):
    membership = MembershipFactory(
        practice=practice, user__username=username, user__password="pw", role=role, **kwargs
    )
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
