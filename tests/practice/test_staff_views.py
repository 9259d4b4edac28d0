"""The Staff page and the invitee's page: who may use them, what they do, and bad input."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment
from followups.models import OutboxMessage
from practice import services
from practice.models import AuditEvent, Membership, StaffInvitation
from practice.staff_views import BAD_LINK_LIMIT
from practice.tasks import send_staff_invitation
from tests.factories import AppointmentFactory, MembershipFactory

pytestmark = pytest.mark.django_db

STRONG = "violet-harbour-1957"


def _token(practice, admin, mailoutbox, email="nova@example.org", role="clinician"):
    invitation = services.staff_invite(practice=practice, actor=admin, email=email, role=role, first_name="Nova")
    send_staff_invitation(invitation.pk)
    return mailoutbox[-1].body.split("/accounts/invitation/")[1].split("/")[0]


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_only_admins_open_the_staff_pages(client, persona, request, therapist2):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    member = therapist2.membership.pk
    for url in (
        reverse("staff"),
        reverse("staff_member", args=[member]),
        reverse("staff_deactivate", args=[member]),
    ):
        assert client.get(url).status_code == 403
    assert client.post(reverse("staff_reactivate", args=[member])).status_code == 403


def test_another_practices_member_or_invitation_is_a_404(
    client, practice_admin, other_practice, other_practice_therapist
):
    client.force_login(practice_admin)
    member = other_practice_therapist.membership.pk
    assert client.get(reverse("staff_member", args=[member])).status_code == 404
    assert client.post(reverse("staff_member", args=[member]), {"role": "front_desk"}).status_code == 404
    assert client.get(reverse("staff_deactivate", args=[member])).status_code == 404
    assert client.post(reverse("staff_deactivate", args=[member])).status_code == 404
    assert client.post(reverse("staff_reactivate", args=[member])).status_code == 404
    elsewhere_admin = MembershipFactory(practice=other_practice, role=Membership.Role.ADMIN).user
    invitation = services.staff_invite(
        practice=other_practice, actor=elsewhere_admin, email="x@example.org", role="clinician"
    )
    assert client.post(reverse("staff_invitation_withdraw", args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.withdrawn_at is None


def test_staff_page_lists_members_of_this_practice_only(
    client, practice_admin, therapist, other_practice_therapist, django_assert_max_num_queries
):
    client.force_login(practice_admin)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("staff"))
    assert response.status_code == 200
    assert "therapist" in response.text and "elsewhere" not in response.text


def test_staff_list_queries_do_not_grow_with_members(client, practice, practice_admin, django_assert_num_queries):
    client.force_login(practice_admin)
    client.get(reverse("staff"))
    with django_assert_num_queries(6) as few:
        client.get(reverse("staff"))
    for _ in range(5):
        MembershipFactory(practice=practice)
        services.staff_invite(practice=practice, actor=practice_admin, email=f"p{_}@example.org", role="front_desk")
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("staff"))


def test_inviting_from_the_page(client, practice, practice_admin):
    client.force_login(practice_admin)
    response = client.post(
        reverse("staff"),
        {"first_name": "Nova", "last_name": "Lane", "email": "nova@example.org", "role": "admin", "is_clinician": "on"},
    )
    assert response.status_code == 302
    invitation = StaffInvitation.objects.get()
    assert invitation.practice == practice and invitation.role == "admin" and invitation.is_clinician


def test_inviting_an_address_in_use_says_so_clearly(client, practice_admin, other_practice_therapist):
    client.force_login(practice_admin)
    response = client.post(
        reverse("staff"), {"first_name": "X", "email": other_practice_therapist.email, "role": "clinician"}
    )
    assert response.status_code == 200
    assert "already has a Reconnect account; a person belongs to one practice" in response.text
    assert other_practice_therapist.membership.practice.name not in response.text


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"first_name": "X", "email": "not-an-address", "role": "clinician"},
        {"first_name": "X", "email": "x@example.org", "role": "superuser"},
        {"first_name": "X\r\nBcc: y@example.org", "email": "x@example.org", "role": "clinician"},
        {"first_name": "X" * 500, "email": "x@example.org", "role": "clinician"},
    ],
)
def test_bad_invitations_get_a_message_not_a_500(client, practice_admin, data):
    client.force_login(practice_admin)
    response = client.post(reverse("staff"), data)
    assert response.status_code == 200
    assert not StaffInvitation.objects.exists()


def test_withdrawing_from_the_page(client, practice, practice_admin, mailoutbox):
    token = _token(practice, practice_admin, mailoutbox)
    client.force_login(practice_admin)
    invitation = StaffInvitation.objects.get()
    assert client.post(reverse("staff_invitation_withdraw", args=[invitation.pk])).status_code == 302
    assert client.get(reverse("staff_invitation", args=[token])).status_code == 404


def test_changing_a_role_from_the_page(client, practice_admin, front_desk):
    client.force_login(practice_admin)
    url = reverse("staff_member", args=[front_desk.membership.pk])
    assert client.post(url, {"role": "clinician"}).status_code == 302
    front_desk.membership.refresh_from_db()
    assert front_desk.membership.role == "clinician" and front_desk.membership.is_clinician
    response = client.post(url, {"role": "owner"})
    assert response.status_code == 200 and "Select a valid choice" in response.text
    front_desk.membership.refresh_from_db()
    assert front_desk.membership.role == "clinician"


def test_an_admin_is_told_they_cannot_change_themselves(client, practice_admin):
    client.force_login(practice_admin)
    url = reverse("staff_member", args=[practice_admin.membership.pk])
    assert "This is you" in client.get(url).text
    response = client.post(url, {"role": "front_desk"})
    assert response.status_code == 200 and "This is you" in response.text
    practice_admin.membership.refresh_from_db()
    assert practice_admin.membership.role == "admin"


def test_the_deactivation_page_shows_what_they_hold_then_hands_it_over(
    client, practice, practice_admin, therapist, therapist2, client_of_therapist
):
    soon = timezone.now() + timedelta(days=1)
    session = AppointmentFactory(client=client_of_therapist, start=soon, end=soon + timedelta(minutes=50))
    missed = AppointmentFactory(client=client_of_therapist, status=Appointment.Status.NO_SHOW)
    OutboxMessage.objects.create(
        practice=practice,
        client=client_of_therapist,
        idempotency_key=f"test:{missed.pk}",
        kind="first",
        channel="email",
        due_at=soon,
    )
    client.force_login(practice_admin)
    url = reverse("staff_deactivate", args=[therapist.membership.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "Robin Reed" in page.text and "Messages waiting to go to their clients (1)" in page.text

    response = client.post(url, {f"session_{session.pk}": "", "clients_to": ""})
    assert response.status_code == 200
    therapist.refresh_from_db()
    assert therapist.is_active

    response = client.post(url, {f"session_{session.pk}": "cancel", "clients_to": str(therapist2.pk)})
    assert response.status_code == 200
    assert "Please call these clients" in response.text and "Robin Reed" in response.text
    session.refresh_from_db()
    therapist.refresh_from_db()
    client_of_therapist.refresh_from_db()
    assert session.status == Appointment.Status.CANCELLED_BY_CLINICIAN
    assert client_of_therapist.clinician == therapist2 and not therapist.is_active


def test_a_forged_choice_on_the_deactivation_form_is_refused(
    client, practice_admin, therapist, client_of_therapist, other_practice_therapist
):
    soon = timezone.now() + timedelta(days=1)
    session = AppointmentFactory(client=client_of_therapist, start=soon, end=soon + timedelta(minutes=50))
    client.force_login(practice_admin)
    url = reverse("staff_deactivate", args=[therapist.membership.pk])
    for choice in (str(other_practice_therapist.pk), str(therapist.pk), "abc"):
        response = client.post(url, {f"session_{session.pk}": choice, "clients_to": choice})
        assert response.status_code == 200
    therapist.refresh_from_db()
    assert therapist.is_active


def test_reactivating_from_the_page(client, practice_admin, front_desk):
    client.force_login(practice_admin)
    client.post(reverse("staff_deactivate", args=[front_desk.membership.pk]), {})
    front_desk.refresh_from_db()
    assert not front_desk.is_active
    client.post(reverse("staff_reactivate", args=[front_desk.membership.pk]))
    front_desk.refresh_from_db()
    assert front_desk.is_active and front_desk.membership.is_active


# ------------------------------------------------------------- the invitee


def test_opening_the_link_changes_nothing(client, practice, practice_admin, mailoutbox):
    token = _token(practice, practice_admin, mailoutbox)
    response = client.get(reverse("staff_invitation", args=[token]))
    assert response.status_code == 200 and "Join" in response.text
    assert StaffInvitation.objects.get().accepted_at is None


def test_accepting_signs_the_invitee_in(client, practice, practice_admin, mailoutbox):
    token = _token(practice, practice_admin, mailoutbox)
    url = reverse("staff_invitation", args=[token])
    response = client.post(url, {"username": "nova@example.org", "password1": STRONG, "password2": STRONG})
    assert response.status_code == 302 and response.url == reverse("appointments:today")
    assert client.get(reverse("appointments:today")).status_code == 200
    assert AuditEvent.objects.filter(action="account.signed_in").exists()
    assert client.get(url).status_code == 404  # used


def test_an_invited_admin_must_set_up_two_factors_first(client, practice, practice_admin, mailoutbox):
    token = _token(practice, practice_admin, mailoutbox, role="admin")
    client.post(
        reverse("staff_invitation", args=[token]), {"username": "nova", "password1": STRONG, "password2": STRONG}
    )
    response = client.get(reverse("appointments:today"))
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor_setup"))


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": "nova", "password1": "short", "password2": "short"},
        {"username": "nova", "password1": STRONG, "password2": STRONG + "x"},
        {"username": "bad name!", "password1": STRONG, "password2": STRONG},
        {"username": "therapist", "password1": STRONG, "password2": STRONG},
        {"username": "n" * 200, "password1": STRONG, "password2": STRONG},
    ],
)
def test_bad_input_on_the_invitation_is_a_message_not_a_500(
    client, practice, practice_admin, therapist, mailoutbox, data
):
    token = _token(practice, practice_admin, mailoutbox)
    response = client.post(reverse("staff_invitation", args=[token]), data)
    assert response.status_code == 200
    assert StaffInvitation.objects.get().accepted_at is None


@pytest.mark.parametrize("token", ["nope", "x" * 500, "%00", "a.b~c"])
def test_an_unknown_link_gets_the_kind_page(client, token):
    response = client.get(f"/accounts/invitation/{token}/")
    assert response.status_code == 404
    assert "ask the practice admin who invited you" in response.text


def test_guessing_links_is_rate_limited(client):
    for n in range(BAD_LINK_LIMIT):
        client.get(reverse("staff_invitation", args=[f"guess{n}"]))
    response = client.get(reverse("staff_invitation", args=["another"]))
    assert response.status_code == 429


def test_an_expired_link_gets_the_kind_page(client, practice, practice_admin, mailoutbox):
    token = _token(practice, practice_admin, mailoutbox)
    StaffInvitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert client.get(reverse("staff_invitation", args=[token])).status_code == 404
    response = client.post(
        reverse("staff_invitation", args=[token]), {"username": "nova", "password1": STRONG, "password2": STRONG}
    )
    assert response.status_code == 404


def test_a_deactivated_members_open_session_ends_at_once(client, practice_admin, front_desk):
    from django.test import Client as PlainClient

    theirs = PlainClient()
    theirs.force_login(front_desk)
    assert theirs.get(reverse("appointments:client_list")).status_code == 200
    client.force_login(practice_admin)
    client.post(reverse("staff_deactivate", args=[front_desk.membership.pk]), {})
    response = theirs.get(reverse("appointments:client_list"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
