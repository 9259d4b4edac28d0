"""Staff by invitation, roles and deactivation: the services."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from appointments.models import Appointment, AppointmentSeries, Availability, Client
from appointments.services import CANCEL, clinician_deactivate, staff_role_change
from practice import services
from practice.models import AuditEvent, Membership, StaffInvitation
from practice.tasks import send_staff_invitation
from tests.factories import AppointmentFactory, ClientFactory, MembershipFactory, give_availability

STRONG = "violet-harbour-1957"


def _invite(practice, admin, email="new.person@example.org", role=Membership.Role.CLINICIAN, **kwargs):
    return services.staff_invite(
        practice=practice, actor=admin, email=email, role=role, first_name="Nova", last_name="Lane", **kwargs
    )


def _token_from(mail) -> str:
    return mail.body.split("/accounts/invitation/")[1].split("/")[0]


def _send(invitation, mailoutbox) -> str:
    assert send_staff_invitation(invitation.pk) is True
    return _token_from(mailoutbox[-1])


def test_invitation_is_emailed_after_commit_with_only_its_id_in_the_task(
    practice, practice_admin, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(send_staff_invitation, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        invitation = _invite(practice, practice_admin)
    assert queued == [(invitation.pk,)]
    assert invitation.token_hash is None  # the token is made by the task, never in the broker
    event = AuditEvent.objects.get(action="staff.invited")
    assert event.actor == practice_admin and event.changes["role"] == "clinician"


def test_the_emailed_link_stores_only_its_sha256(practice, practice_admin, mailoutbox):
    invitation = _invite(practice, practice_admin)
    token = _send(invitation, mailoutbox)
    invitation.refresh_from_db()
    assert mailoutbox[-1].to == ["new.person@example.org"]
    assert token not in invitation.token_hash
    assert invitation.token_hash == services.token_hash(token)
    assert abs(invitation.expires_at - invitation.created_at - timedelta(days=7)) < timedelta(seconds=5)


def test_accepting_creates_the_account_and_membership_and_uses_the_link(practice, practice_admin, mailoutbox):
    token = _send(_invite(practice, practice_admin), mailoutbox)

    user = services.staff_invitation_accept(token=token, username="nova", password=STRONG)

    assert user.check_password(STRONG) and user.email == "new.person@example.org" and user.first_name == "Nova"
    assert user.membership.practice == practice and user.membership.role == Membership.Role.CLINICIAN
    assert user.membership.is_clinician
    assert AuditEvent.objects.filter(action="staff.joined", actor=user, practice=practice).exists()
    with pytest.raises(services.InvitationUnusable):
        services.staff_invitation_accept(token=token, username="nova2", password=STRONG)


def test_a_weak_password_or_taken_username_creates_nothing(practice, practice_admin, therapist, mailoutbox):
    token = _send(_invite(practice, practice_admin), mailoutbox)
    with pytest.raises(ValidationError) as caught:
        services.staff_invitation_accept(token=token, username="Therapist", password="12345678")
    assert set(caught.value.error_dict) == {"username", "password1"}
    assert not get_user_model().objects.filter(email="new.person@example.org").exists()
    assert services.staff_invitation_find(token=token) is not None


def test_an_address_used_by_an_account_in_any_practice_is_refused_without_saying_where(
    practice, practice_admin, other_practice_therapist
):
    with pytest.raises(ValidationError) as caught:
        _invite(practice, practice_admin, email=other_practice_therapist.email.upper())
    message = caught.value.message_dict["email"][0]
    assert message == "That address already has a Reconnect account; a person belongs to one practice."
    assert other_practice_therapist.membership.practice.name not in message
    assert not StaffInvitation.objects.exists()


def test_an_address_that_joined_elsewhere_meanwhile_cannot_accept(practice, practice_admin, other_practice, mailoutbox):
    token = _send(_invite(practice, practice_admin), mailoutbox)
    MembershipFactory(practice=other_practice, user__email="new.person@example.org")
    with pytest.raises(ValidationError, match="belongs to one practice"):
        services.staff_invitation_accept(token=token, username="nova", password=STRONG)


def test_reinviting_replaces_the_old_link(practice, practice_admin, mailoutbox):
    old_token = _send(_invite(practice, practice_admin), mailoutbox)
    new = _invite(practice, practice_admin, email="New.Person@example.org", role=Membership.Role.FRONT_DESK)
    new_token = _send(new, mailoutbox)
    assert services.staff_invitation_find(token=old_token) is None
    assert services.staff_invitation_find(token=new_token) == new
    assert StaffInvitation.objects.filter(withdrawn_at=None).count() == 1


def test_a_withdrawn_or_expired_invitation_stops_working(practice, practice_admin, mailoutbox):
    invitation = _invite(practice, practice_admin)
    token = _send(invitation, mailoutbox)
    assert services.staff_invitation_withdraw(invitation=invitation, actor=practice_admin)
    assert services.staff_invitation_find(token=token) is None
    assert not services.staff_invitation_withdraw(invitation=invitation, actor=practice_admin)
    assert send_staff_invitation(invitation.pk) is False

    later = _invite(practice, practice_admin, email="later@example.org")
    later_token = _send(later, mailoutbox)
    assert services.staff_invitation_find(token=later_token, now=timezone.now() + timedelta(days=8)) is None
    with pytest.raises(services.InvitationUnusable):
        services.staff_invitation_accept(
            token=later_token, username="later", password=STRONG, now=timezone.now() + timedelta(days=8)
        )


def test_front_desk_invitation_never_holds_a_caseload_and_admin_may(practice, practice_admin):
    desk = _invite(practice, practice_admin, email="d@example.org", role=Membership.Role.FRONT_DESK, is_clinician=True)
    admin = _invite(practice, practice_admin, email="a@example.org", role=Membership.Role.ADMIN, is_clinician=True)
    assert desk.is_clinician is False and admin.is_clinician is True


def test_a_line_break_in_a_name_is_refused(practice, practice_admin):
    with pytest.raises(ValidationError):
        services.staff_invite(
            practice=practice, actor=practice_admin, email="x@example.org", role="clinician", first_name="A\r\nBcc: y"
        )


# ---------------------------------------------------------------- roles


def test_role_change_is_audited(practice, practice_admin, front_desk):
    staff_role_change(membership=front_desk.membership, actor=practice_admin, role=Membership.Role.ADMIN)
    front_desk.membership.refresh_from_db()
    assert front_desk.membership.role == Membership.Role.ADMIN
    event = AuditEvent.objects.get(action="staff.role_changed")
    assert event.changes["role"] == ["front_desk", "admin"]


def test_the_last_admin_stays_an_admin(practice, practice_admin, front_desk):
    second = MembershipFactory(practice=practice, role=Membership.Role.ADMIN)
    # The only other admin may be demoted by this one, but then practice_admin is the last.
    staff_role_change(membership=second, actor=practice_admin, role=Membership.Role.FRONT_DESK)
    staff_role_change(membership=front_desk.membership, actor=practice_admin, role=Membership.Role.ADMIN)
    staff_role_change(membership=practice_admin.membership, actor=front_desk, role=Membership.Role.FRONT_DESK)
    with pytest.raises(ValidationError, match="at least one admin"):
        staff_role_change(membership=front_desk.membership, actor=second.user, role=Membership.Role.CLINICIAN)


def test_an_admin_cannot_change_their_own_role_or_deactivate_themselves(practice, practice_admin):
    MembershipFactory(practice=practice, role=Membership.Role.ADMIN)
    with pytest.raises(ValidationError, match="your own role"):
        staff_role_change(membership=practice_admin.membership, actor=practice_admin, role=Membership.Role.CLINICIAN)
    with pytest.raises(ValidationError, match="deactivate yourself"):
        clinician_deactivate(membership=practice_admin.membership, actor=practice_admin, sessions={})
    practice_admin.refresh_from_db()
    assert practice_admin.is_active


def test_a_schedule_is_not_taken_away_while_clients_remain(practice, practice_admin, therapist, client_of_therapist):
    with pytest.raises(ValidationError, match="Hand them over first"):
        staff_role_change(membership=therapist.membership, actor=practice_admin, role=Membership.Role.FRONT_DESK)
    therapist.membership.refresh_from_db()
    assert therapist.membership.role == Membership.Role.CLINICIAN


# ------------------------------------------------------------ deactivation


@pytest.fixture
def busy_therapist(practice, therapist, client_of_therapist):
    """therapist with two future sessions, a past one, availability and two clients."""
    soon = timezone.now() + timedelta(days=2)
    future = [
        AppointmentFactory(client=client_of_therapist, start=soon, end=soon + timedelta(minutes=50)),
        AppointmentFactory(
            client=client_of_therapist, start=soon + timedelta(days=7), end=soon + timedelta(days=7, minutes=50)
        ),
    ]
    past = AppointmentFactory(client=client_of_therapist, status=Appointment.Status.ATTENDED)
    give_availability(practice, therapist, weekdays=[0, 2], start_hour=9, end_hour=12)
    archived = ClientFactory(practice=practice, clinician=therapist, is_archived=True)
    return {"future": future, "past": past, "archived": archived}


def test_deactivating_hands_everything_over_in_one_go(
    practice, practice_admin, therapist, therapist2, client_of_therapist, busy_therapist
):
    moved, cancelled = busy_therapist["future"]
    series = AppointmentSeries.objects.create(
        practice=practice, client=client_of_therapist, clinician=therapist, weeks=2
    )

    handover = clinician_deactivate(
        membership=therapist.membership,
        actor=practice_admin,
        sessions={moved.pk: therapist2, cancelled.pk: CANCEL},
        clients_to=therapist2,
    )

    moved.refresh_from_db()
    cancelled.refresh_from_db()
    assert moved.clinician == therapist2 and moved.status == Appointment.Status.SCHEDULED
    assert cancelled.status == Appointment.Status.CANCELLED_BY_CLINICIAN
    assert cancelled.initiated_by == Appointment.Initiator.PRACTICE
    assert [a.pk for a in handover.cancelled] == [cancelled.pk]
    assert not Availability.objects.filter(clinician=therapist).exists()
    assert not Client.objects.filter(clinician=therapist).exists()
    series.refresh_from_db()
    assert series.clinician == therapist2
    # History stays with the person who held it.
    busy_therapist["past"].refresh_from_db()
    assert busy_therapist["past"].clinician == therapist
    therapist.refresh_from_db()
    assert not therapist.is_active and not therapist.membership.is_active
    actions = set(AuditEvent.objects.filter(actor=practice_admin).values_list("action", flat=True))
    assert {
        "appointment.reassigned",
        "appointment.outcome_recorded",
        "availability.removed",
        "client.updated",
    } <= actions
    assert AuditEvent.objects.get(action="staff.deactivated").changes["cancelled"] == [cancelled.pk]


def test_a_reassignment_that_would_double_book_changes_nothing(
    practice, practice_admin, therapist, therapist2, client_of_therapist, busy_therapist
):
    first, second = busy_therapist["future"]
    other_client = ClientFactory(practice=practice, clinician=therapist2)
    AppointmentFactory(client=other_client, start=second.start, end=second.end)

    with pytest.raises(ValidationError, match="already has a session"):
        clinician_deactivate(
            membership=therapist.membership,
            actor=practice_admin,
            sessions={first.pk: therapist2, second.pk: therapist2},
            clients_to=therapist2,
        )

    first.refresh_from_db()
    therapist.refresh_from_db()
    assert first.clinician == therapist and therapist.is_active
    assert Availability.objects.filter(clinician=therapist).exists()
    assert not AuditEvent.objects.filter(action__startswith="appointment.").exists()


def test_a_session_booked_after_the_admin_looked_is_not_left_behind(
    practice, practice_admin, therapist, therapist2, busy_therapist
):
    first, second = busy_therapist["future"]
    with pytest.raises(ValidationError, match="was not in the list"):
        clinician_deactivate(
            membership=therapist.membership, actor=practice_admin, sessions={first.pk: CANCEL}, clients_to=therapist2
        )
    therapist.refresh_from_db()
    assert therapist.is_active


def test_clients_need_a_new_clinician(practice, practice_admin, therapist, busy_therapist):
    sessions = {a.pk: CANCEL for a in busy_therapist["future"]}
    with pytest.raises(ValidationError):
        clinician_deactivate(membership=therapist.membership, actor=practice_admin, sessions=sessions)
    with pytest.raises(ValidationError):
        clinician_deactivate(
            membership=therapist.membership, actor=practice_admin, sessions=sessions, clients_to=therapist
        )


def test_a_deactivated_member_cannot_sign_in_and_can_be_reactivated(client, practice, practice_admin, front_desk):
    clinician_deactivate(membership=front_desk.membership, actor=practice_admin, sessions={})
    assert not client.login(username="frontdesk", password="pw")
    services.membership_reactivate(membership=front_desk.membership, actor=practice_admin)
    assert client.login(username="frontdesk", password="pw")
    assert AuditEvent.objects.filter(action="staff.reactivated").exists()


def test_the_last_admin_cannot_be_deactivated(practice, practice_admin, front_desk):
    other = MembershipFactory(practice=practice, role=Membership.Role.ADMIN)
    clinician_deactivate(membership=other, actor=practice_admin, sessions={})
    staff_role_change(membership=front_desk.membership, actor=practice_admin, role=Membership.Role.ADMIN)
    clinician_deactivate(membership=practice_admin.membership, actor=front_desk, sessions={})
    with pytest.raises(ValidationError, match="at least one admin"):
        # practice_admin is inactive now; the one admin left is front_desk.
        clinician_deactivate(membership=front_desk.membership, actor=other.user, sessions={})


def test_a_rebooking_link_sent_before_deactivation_books_with_the_new_clinician(
    practice, practice_admin, therapist, therapist2, client_of_therapist
):
    from aftercare import services as aftercare
    from followups.services import reschedule_link_create

    give_availability(practice, therapist, start_hour=9, end_hour=12)
    give_availability(practice, therapist2, start_hour=13, end_hour=15)
    missed = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=1))
    event = aftercare.attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist).event
    token = reschedule_link_create(event=event, days=14).rsplit("/r/", 1)[1].strip("/")

    clinician_deactivate(membership=therapist.membership, actor=practice_admin, sessions={}, clients_to=therapist2)

    offer = aftercare.reschedule_offer(token=token)
    assert offer.slots and all(start.astimezone(practice.time_zone).hour in (13, 14) for start, _ in offer.slots)
    makeup = aftercare.client_reschedule(token=token, start=offer.slots[0][0])
    assert makeup.clinician == therapist2


def test_running_the_invitation_task_again_issues_a_new_link_and_kills_the_first(practice, practice_admin, mailoutbox):
    invitation = _invite(practice, practice_admin)
    first = _send(invitation, mailoutbox)
    second = _send(invitation, mailoutbox)
    assert first != second
    assert services.staff_invitation_find(token=first) is None
    assert services.staff_invitation_find(token=second) == invitation
