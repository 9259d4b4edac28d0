"""A practice from nothing: practice_create (the one place a practice is born) and its command.

The first admin's link is followed with Django's test client: join, choose a
password, and two-factor setup comes first.
"""

import hashlib
import io
import logging
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from engagement.models import CheckInTask
from followups.models import FollowUpPlan, ReminderPlan
from policies.models import EscalationStep
from policies.services import DEFAULT_LADDER
from practice.management.commands.practice_create import Command
from practice.models import AuditEvent, Membership, Practice, StaffInvitation
from practice.services import practice_create
from tests.factories import AppointmentFactory, ClientFactory, MembershipFactory

pytestmark = pytest.mark.django_db

STRONG = "violet-harbour-1957"
GOOD = ["--name", "Maple Street Practice", "--time-zone", "Europe/London", "--country", "GB"]


def _rows() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Practice, StaffInvitation, EscalationStep, FollowUpPlan, ReminderPlan, AuditEvent)
    )


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("practice_create", *args, stdout=out)
    return out.getvalue()


def _link_path(output: str) -> str:
    return re.search(r"https?://\S+?(/accounts/invitation/\S+/)", output).group(1)


# ------------------------------------------------------------------ the service


def test_a_new_practice_starts_with_its_plans_and_the_default_ladder():
    made = practice_create(name="  Maple Street Practice ", time_zone="Europe/London", country="gb")
    practice = made.practice
    assert (practice.name, str(practice.time_zone), practice.country) == (
        "Maple Street Practice",
        "Europe/London",
        "GB",
    )
    assert practice.sender_name == "Maple Street Practice"  # until an admin sets a neutral one
    assert FollowUpPlan.objects.filter(practice=practice).exists()
    assert ReminderPlan.objects.filter(practice=practice).exists()
    steps = EscalationStep.objects.filter(practice=practice).order_by("count")
    assert [(s.count, s.window_days, s.title, s.script) for s in steps] == [tuple(d) for d in DEFAULT_LADDER]
    assert (made.invitation, made.token) == (None, "")
    actions = list(AuditEvent.objects.filter(practice=practice).values_list("action", flat=True))
    assert sorted(actions) == ["ladder.step_added", "ladder.step_added", "practice.created"]


def test_a_new_practices_second_miss_in_30_days_gives_a_check_in_without_anyone_adding_a_step():
    practice = practice_create(name="New Practice", time_zone="America/Chicago", country="US").practice
    clinician = MembershipFactory(practice=practice).user
    client = ClientFactory(practice=practice, clinician=clinician)
    for days in (12, 0):
        appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(days=days, minutes=30))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=clinician).event
        tasks.process_missed_session(event.pk)
    [task] = CheckInTask.objects.all()
    assert (task.client, task.step_number, task.title) == (client, 1, DEFAULT_LADDER[0][2])


def test_the_first_admins_invitation_is_made_with_the_practice_and_only_its_hash_is_stored():
    made = practice_create(name="Maple", time_zone="Europe/London", country="GB", first_admin_email="alex@example.org")
    invitation = StaffInvitation.objects.get()
    assert made.invitation == invitation and invitation.practice == made.practice
    assert (invitation.role, invitation.invited_by, invitation.is_pending) == (Membership.Role.ADMIN, None, True)
    assert invitation.token_hash == hashlib.sha256(made.token.encode()).hexdigest() != made.token
    assert invitation.is_usable(timezone.now())
    assert AuditEvent.objects.filter(action="staff.invited", object_id=invitation.pk).exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Two\nlines"}, "name"),
        ({"name": "riverside practice"}, "name"),  # the fixture's practice, in other case
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"country": "ZZ"}, "country"),
        ({"country": "Britain"}, "country"),
        ({"first_admin_email": "not-an-address"}, "email"),
        ({"first_admin_email": "a@example.org\nBcc: b@example.org"}, "email"),
        ({"first_admin_email": "therapist@example.org"}, "email"),  # already has an account
        ({"phone": "12"}, "phone"),
    ],
)
def test_bad_input_is_refused_field_by_field_and_changes_nothing(practice, therapist, fields, field):
    before = _rows()
    given = {"name": "Maple", "time_zone": "Europe/London", "country": "GB", **fields}
    with pytest.raises(ValidationError) as caught:
        practice_create(**given)
    assert field in caught.value.message_dict
    assert _rows() == before


# ------------------------------------------------------------------ the command


def test_the_command_prints_a_working_link_and_never_logs_it(caplog):
    with caplog.at_level(logging.DEBUG):
        output = _run(*GOOD, "--admin-email", "alex@example.org", "--admin-first-name", "Alex")
    practice = Practice.objects.get()
    assert f"Created practice #{practice.pk}: Maple Street Practice" in output
    token = _link_path(output).split("/")[-2]
    assert token and token not in caplog.text and "alex@example.org" not in caplog.text
    assert StaffInvitation.objects.get().first_name == "Alex"


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"--time-zone": "Europe/Londn"}, "--time-zone: Unknown time zone"),
        ({"--country": "XX"}, "--country: Unknown country"),
        ({"--admin-email": "alex at example"}, "--admin-email: Enter a valid email address"),
        ({"--name": "Riverside Practice"}, "--name: A practice with this name already exists"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message_and_change_nothing(practice, changed, message):
    given = dict(zip(GOOD[::2], GOOD[1::2], strict=True)) | {"--admin-email": "alex@example.org"} | changed
    args = [part for pair in given.items() for part in pair]
    before = _rows()
    with pytest.raises(CommandError) as caught:
        _run(*args)
    assert caught.value.returncode == 2
    assert "Nothing was created." in str(caught.value) and message in str(caught.value)
    assert _rows() == before


def test_from_the_shell_a_bad_argument_or_a_missing_one_exits_with_code_2(capsys, monkeypatch):
    # run_from_argv closes the connections at the end, as a process would on exit; keep the test's open.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    for argv in (
        ["manage.py", "practice_create", *GOOD[:-1], "ZZ", "--admin-email", "alex@example.org"],
        ["manage.py", "practice_create", *GOOD],  # no --admin-email
    ):
        with pytest.raises(SystemExit) as caught:
            Command().run_from_argv(argv)
        assert caught.value.code == 2
    assert "--country: Unknown country" in capsys.readouterr().err
    assert Practice.objects.count() == 0


def test_the_printed_link_makes_the_first_admin_who_must_set_up_two_factors(client):
    output = _run(*GOOD, "--admin-email", "alex@example.org")
    path = _link_path(output)

    page = client.get(path)  # opening the link changes nothing (mail scanners open links)
    assert page.status_code == 200 and "Join Maple Street Practice" in page.content.decode()
    assert StaffInvitation.objects.get().is_pending

    response = client.post(path, {"username": "alex", "password1": STRONG, "password2": STRONG})
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="alex")
    assert (membership.practice.name, membership.role, membership.user.email) == (
        "Maple Street Practice",
        Membership.Role.ADMIN,
        "alex@example.org",
    )
    assert membership.user.check_password(STRONG)
    # An admin signs in with two factors: nothing else opens until they are set up.
    for url in (reverse("appointments:today"), reverse("staff")):
        blocked = client.get(url)
        assert blocked.status_code == 302 and blocked.url.startswith(reverse("two_factor_setup"))
    assert client.get(reverse("two_factor_setup")).status_code == 200

    # The link is used up.
    assert client.get(path).status_code == 404
