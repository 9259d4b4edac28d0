"""Staff changes under concurrency (PostgreSQL: SQLite has no row locks)."""

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from appointments.services import clinician_deactivate, staff_role_change
from practice import services
from practice.models import Membership
from tests.concurrency import run_concurrently
from tests.factories import MembershipFactory

from .test_locks import _assert_narrow, _locking

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="row locks need PostgreSQL",
    ),
]

STRONG = "violet-harbour-1957"


def test_two_admins_demoting_each_other_at_once_leave_one_admin(practice, practice_admin):
    other = MembershipFactory(practice=practice, role=Membership.Role.ADMIN)
    mine = practice_admin.membership

    results = run_concurrently(
        lambda target, actor: staff_role_change(membership=target, actor=actor, role=Membership.Role.FRONT_DESK),
        args_list=[(mine, other.user), (other, practice_admin)],
    )

    assert sum(isinstance(r, ValidationError) for r in results) == 1
    assert Membership.objects.filter(practice=practice, role=Membership.Role.ADMIN, is_active=True).count() == 1


def test_two_people_accepting_one_invitation_at_once_make_one_account(practice, practice_admin, mailoutbox):
    from practice.tasks import send_staff_invitation

    invitation = services.staff_invite(practice=practice, actor=practice_admin, email="n@example.org", role="clinician")
    send_staff_invitation(invitation.pk)
    token = mailoutbox[-1].body.split("/accounts/invitation/")[1].split("/")[0]

    results = run_concurrently(
        lambda name: services.staff_invitation_accept(token=token, username=name, password=STRONG),
        args_list=[("one",), ("two",)],
    )

    assert sum(isinstance(r, services.InvitationUnusable | ValidationError) for r in results) == 1
    assert Membership.objects.filter(practice=practice, user__email="n@example.org").count() == 1


def test_staff_changes_lock_narrowly(practice, practice_admin, front_desk, therapist, therapist2, mailoutbox):
    with CaptureQueriesContext(connection) as invite:
        invitation = services.staff_invite(
            practice=practice, actor=practice_admin, email="n@example.org", role="clinician"
        )
    with CaptureQueriesContext(connection) as role:
        staff_role_change(membership=front_desk.membership, actor=practice_admin, role=Membership.Role.ADMIN)
    with CaptureQueriesContext(connection) as deactivate:
        clinician_deactivate(membership=therapist.membership, actor=practice_admin, sessions={})
    for captured in (role, deactivate):
        _assert_narrow(_locking(captured.captured_queries))
    for sql in _locking(invite.captured_queries):
        assert "NO KEY UPDATE" in sql
    assert invitation.pk
