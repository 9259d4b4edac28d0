"""A practice admin runs the staff in the browser: invites a clinician, who joins; deactivates one, handing over."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from appointments.models import Appointment
from practice.models import Membership, StaffInvitation
from practice.tasks import send_staff_invitation
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import local_today, log_in, practice_zone

pytestmark = pytest.mark.browser

STRONG = "violet-harbour-1957"


def _open_staff(page) -> None:
    page.get_by_role("navigation").get_by_role("link", name="Staff", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Staff")).to_be_visible()


def test_admin_invites_a_clinician_who_sets_a_password_and_lands_on_today(
    new_page, practice, practice_admin, other_practice_therapist, mailoutbox, page_errors
):
    page_errors.allow(r"status of 404")  # the used link, at the end
    admin = new_page()
    log_in(admin, practice_admin)
    _open_staff(admin)

    # An address already used elsewhere gets a clear answer, naming no practice.
    admin.get_by_label("First name").fill("Nova")
    admin.get_by_label("Email").fill(other_practice_therapist.email)
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.get_by_text("That address already has a Reconnect account")).to_be_visible()
    page_check(admin, "staff page with errors")

    admin.get_by_label("First name").fill("Nova")
    admin.get_by_label("Last name").fill("Lane")
    admin.get_by_label("Email").fill("nova@example.org")
    admin.get_by_label("Clinician", exact=True).check()
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.get_by_role("alert")).to_have_text("Invitation sent to nova@example.org.")
    expect(admin.get_by_role("cell", name="nova@example.org", exact=True)).to_be_visible()

    # The worker sends it (run here as the worker would).
    invitation = StaffInvitation.objects.get(email="nova@example.org")
    assert send_staff_invitation(invitation.pk)
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", mailoutbox[-1].body).group(0)
    path = link[link.index("/accounts/") :]

    invitee = new_page()  # a fresh browser: nobody signed in
    invitee.goto(path)
    expect(invitee.get_by_role("heading", name=f"Join {practice.name}")).to_be_visible()
    expect(invitee.get_by_label("Username")).to_have_value("nova@example.org")
    invitee.get_by_label("Username").fill("nova")
    invitee.get_by_label(re.compile(r"^\s*Password\W*$")).fill("short")
    invitee.get_by_label("Password again").fill("short")
    invitee.get_by_role("button", name="Create my account").click()
    expect(invitee.get_by_text("This password is too short")).to_be_visible()
    page_check(invitee, "invitation with errors")

    invitee.get_by_label(re.compile(r"^\s*Password\W*$")).fill(STRONG)
    invitee.get_by_label("Password again").fill(STRONG)
    invitee.get_by_role("button", name="Create my account").click()
    expect(invitee.get_by_role("heading", name=re.compile(r"^Today"))).to_be_visible()
    membership = Membership.objects.get(user__username="nova")
    assert membership.practice == practice and membership.role == Membership.Role.CLINICIAN

    # The link is used up.
    invitee.goto(path)
    expect(invitee.get_by_role("heading", name="This invitation can't be used")).to_be_visible()
    page_check(invitee, "used invitation")


def test_admin_deactivates_a_clinician_and_their_session_shows_under_the_new_one(
    page, practice, practice_admin, therapist, therapist2, client_of_therapist
):
    therapist2.first_name, therapist2.last_name = "Jo", "March"
    therapist2.save(update_fields=["first_name", "last_name"])
    start = datetime.combine(local_today(practice) + timedelta(days=1), time(10), practice_zone(practice))
    session = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))

    log_in(page, practice_admin)
    _open_staff(page)
    page.get_by_role("link", name="Manage therapist", exact=True).click()
    page.get_by_role("link", name="Deactivate…").click()
    expect(page.get_by_role("heading", name="Upcoming sessions (1)")).to_be_visible()
    expect(page.get_by_role("heading", name="Clients (1)")).to_be_visible()

    page.get_by_role("button", name="Hand over and deactivate").click()
    expect(page.get_by_text("This field is required.").first).to_be_visible()
    page_check(page, "deactivate with errors")

    page.get_by_label(re.compile("Robin Reed")).select_option(label="Jo March")
    page.get_by_label(re.compile("Who takes over")).select_option(label="Jo March")
    page.get_by_role("button", name="Hand over and deactivate").click()
    expect(page.get_by_role("heading", name=re.compile("is deactivated"))).to_be_visible()
    expect(page.get_by_text("1 session given to another clinician.")).to_be_visible()
    page_check(page, "deactivated summary")

    session.refresh_from_db()
    therapist.refresh_from_db()
    assert session.clinician == therapist2 and session.status == Appointment.Status.SCHEDULED
    assert not therapist.is_active

    # The new clinician sees it on their week.
    page.get_by_role("button", name="Log out").click()
    log_in(page, therapist2)
    page.goto(f"/week/?start={start.date().isoformat()}")
    expect(page.get_by_text("Robin Reed").first).to_be_visible()


def test_admin_changes_a_role_and_is_told_why_a_schedule_stays(page, practice, practice_admin, front_desk, therapist):
    from tests.factories import ClientFactory

    ClientFactory(practice=practice, clinician=therapist)
    log_in(page, practice_admin)
    _open_staff(page)
    page.get_by_role("link", name="Manage frontdesk", exact=True).click()
    page.get_by_label("Clinician", exact=True).check()
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_role("alert")).to_have_text("Role saved.")
    front_desk.membership.refresh_from_db()
    assert front_desk.membership.role == Membership.Role.CLINICIAN

    _open_staff(page)
    page.get_by_role("link", name="Manage therapist", exact=True).click()
    page.get_by_label("Front desk", exact=True).check()
    page.get_by_role("button", name="Save role").click()
    expect(page.get_by_role("alert")).to_contain_text("Hand them over first")
    page_check(page, "role change refused")
    therapist.membership.refresh_from_db()
    assert therapist.membership.role == Membership.Role.CLINICIAN
