"""The Correct… page: who sees the form, bad input, tenancy, and what staff are told."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from appointments.models import Appointment
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def old_no_show(client_of_therapist, therapist):
    start = timezone.now() - timedelta(days=20)
    appointment = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    with time_machine.travel(start + timedelta(hours=1)):
        aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    return appointment


def url(appointment):
    return reverse("appointments:appointment_correct", args=[appointment.pk])


def test_an_admin_corrects_an_old_no_show_and_is_told_what_followed(client, practice_admin, old_no_show):
    client.force_login(practice_admin)
    assert b"Why is it being corrected?" in client.get(url(old_no_show)).content
    response = client.post(url(old_no_show), {"outcome": "attended", "reason": "Was in the waiting room"}, follow=True)
    old_no_show.refresh_from_db()
    assert old_no_show.status == Appointment.Status.ATTENDED
    body = response.content.decode()
    assert "Corrected to attended." in body
    assert "follow-ups not yet sent were cancelled" in body


def test_the_clinician_outside_the_window_is_told_to_ask_an_admin(client, therapist, old_no_show):
    client.force_login(therapist)
    response = client.get(url(old_no_show))
    assert response.status_code == 200
    assert b"within 7 days of the session. Ask a practice admin." in response.content
    assert b"Why is it being corrected?" not in response.content
    response = client.post(url(old_no_show), {"outcome": "attended", "reason": "x"})
    assert response.status_code == 403
    old_no_show.refresh_from_db()
    assert old_no_show.status == Appointment.Status.NO_SHOW


def test_front_desk_sees_no_form_and_cannot_post(client, front_desk, old_no_show):
    client.force_login(front_desk)
    assert b"Why is it being corrected?" not in client.get(url(old_no_show)).content
    assert client.post(url(old_no_show), {"outcome": "attended", "reason": "x"}).status_code == 403


def test_another_practice_gets_a_404(client, other_practice_therapist, old_no_show):
    client.force_login(other_practice_therapist)
    assert client.get(url(old_no_show)).status_code == 404
    assert client.post(url(old_no_show), {"outcome": "attended", "reason": "x"}).status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"outcome": "attended", "reason": "   "}, "This field is required."),
        ({"outcome": "no_show", "reason": "x"}, "Select a valid choice."),
        ({"outcome": "\x00", "reason": "x"}, "Select a valid choice."),
        ({"outcome": "attended", "reason": "x" * 501}, "at most 500 characters"),
    ],
)
def test_bad_input_gives_a_message_and_changes_nothing(client, practice_admin, old_no_show, data, message):
    client.force_login(practice_admin)
    response = client.post(url(old_no_show), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    old_no_show.refresh_from_db()
    assert old_no_show.status == Appointment.Status.NO_SHOW


def test_the_schedule_row_offers_correct_after_the_undo_window(client, practice_admin, old_no_show):
    client.force_login(practice_admin)
    row = client.get(reverse("appointments:appointment_row", args=[old_no_show.pk])).content.decode()
    assert url(old_no_show) in row and "Correct…" in row
