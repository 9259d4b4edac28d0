"""The booking and move forms offer the clinician's open times: on the grid, with the buffer kept."""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aftercare.services import attendance_record
from appointments.models import Appointment
from appointments.services import availability_add
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

# Monday 6 July 2026, 07:00 in New York.
NOW = datetime(2026, 7, 6, 11, 0, tzinfo=UTC)
BOOK = reverse("appointments:appointment_book")


def window(practice, clinician, **fields):
    # Session, buffer and grid left to the practice: 50 minutes, 10, half hour.
    return availability_add(
        practice=practice,
        clinician=clinician,
        weekday=0,
        start_time=time(9),
        end_time=time(12, 30),
        actor=None,
        **fields,
    )


def offered(response) -> list[str]:
    return [slot["start"].strftime("%a %H:%M") for _, links in response.context["open_days"] for slot in links]


@time_machine.travel(NOW, tick=False)
def test_booking_page_offers_times_on_the_practice_grid_with_the_buffer(client, practice, therapist):
    window(practice, therapist)
    client.force_login(therapist)
    response = client.get(BOOK)
    assert response.status_code == 200
    # Today from 09:00 (staff have no lead time), then next Monday; never 09:50 or 10:40.
    assert offered(response) == ["Mon 09:00", "Mon 10:00", "Mon 11:00"]
    body = response.content.decode()
    assert "09:50" not in body and "10:40" not in body
    # The form's length is the practice's session length.
    assert response.context["form"].initial["duration"] == 50


@time_machine.travel(NOW, tick=False)
def test_a_windows_own_values_override_the_practice_defaults(client, practice, therapist):
    window(practice, therapist, session_minutes=45, buffer_minutes=0, grid_minutes=15)
    client.force_login(therapist)
    assert offered(client.get(BOOK)) == ["Mon 09:00", "Mon 09:45", "Mon 10:30", "Mon 11:15"]


@time_machine.travel(NOW, tick=False)
def test_a_session_booked_at_an_odd_time_keeps_its_buffer_from_the_offers(
    client, practice, therapist, client_of_therapist
):
    window(practice, therapist)
    AppointmentFactory(
        client=client_of_therapist,
        start=datetime(2026, 7, 6, 10, 5, tzinfo=practice.time_zone),
        end=datetime(2026, 7, 6, 10, 55, tzinfo=practice.time_zone),
    )
    client.force_login(therapist)
    assert offered(client.get(BOOK)) == ["Mon 09:00", "Mon 11:30"]


@time_machine.travel(NOW, tick=False)
def test_an_open_time_link_fills_the_form_in(client, practice, therapist, client_of_therapist):
    window(practice, therapist)
    client.force_login(therapist)
    first = client.get(BOOK + f"?client={client_of_therapist.pk}").context["open_days"][0][1][0]
    response = client.get(first["url"])
    initial = response.context["form"].initial
    assert (initial["date"], initial["start_time"], initial["duration"]) == ("2026-07-06", "09:00", "50")
    assert initial["client"] == client_of_therapist
    assert initial["clinician"] == therapist


@time_machine.travel(NOW, tick=False)
def test_open_times_of_another_practices_clinician_are_never_shown(
    client, practice, therapist, other_practice, other_practice_therapist, front_desk
):
    window(other_practice, other_practice_therapist)
    client.force_login(front_desk)
    response = client.get(BOOK + f"?clinician={other_practice_therapist.pk}&date=x&start_time=99:99")
    assert response.status_code == 200
    assert response.context["slot_clinician"] == therapist  # the practice's own, not the one asked for
    assert offered(response) == []
    assert b"No open times" in response.content


@time_machine.travel(NOW, tick=False)
def test_the_move_form_offers_times_and_a_session_does_not_block_its_own_move(
    client, practice, therapist, client_of_therapist
):
    window(practice, therapist)
    appointment = AppointmentFactory(
        client=client_of_therapist,
        start=datetime(2026, 7, 6, 10, 0, tzinfo=practice.time_zone),
        end=datetime(2026, 7, 6, 10, 50, tzinfo=practice.time_zone),
    )
    client.force_login(therapist)
    url = reverse("appointments:appointment_edit", args=[appointment.pk])
    response = client.get(url)
    assert offered(response) == ["Mon 09:00", "Mon 10:00", "Mon 11:00"]
    response = client.post(url, {"date": "2026-07-06", "start_time": "11:00", "duration": "50"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.start == datetime(2026, 7, 6, 15, 0, tzinfo=UTC)
    assert Appointment.objects.count() == 1


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("url_name", ["appointments:appointment_book", "appointments:availability"])
def test_pages_with_open_times_run_a_fixed_number_of_queries(
    client, practice, therapist, client_of_therapist, url_name, django_assert_num_queries
):
    window(practice, therapist)
    client.force_login(therapist)
    url = reverse(url_name)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for weekday in range(1, 7):
        availability_add(
            practice=practice, clinician=therapist, weekday=weekday, start_time=time(9), end_time=time(17), actor=None
        )
    for day in range(7, 12):
        start = datetime(2026, 7, day, 10, 5, tzinfo=practice.time_zone)
        AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_the_make_up_form_offers_the_clinicians_open_times_at_the_practice_length(
    client, practice, therapist, client_of_therapist
):
    window(practice, therapist)
    missed = AppointmentFactory(
        client=client_of_therapist,
        start=datetime(2026, 7, 3, 10, 0, tzinfo=practice.time_zone),
        end=datetime(2026, 7, 3, 10, 50, tzinfo=practice.time_zone),
    )
    attendance_record(appointment_id=missed.pk, outcome="no_show", actor=therapist)
    client.force_login(therapist)
    response = client.get(reverse("appointments:appointment_makeup", args=[missed.pk]))
    assert offered(response) == ["Mon 09:00", "Mon 10:00", "Mon 11:00"]
    assert response.context["form"].initial["duration"] == 50


@time_machine.travel(NOW, tick=False)
def test_a_window_left_to_the_defaults_follows_a_change_of_the_practice_defaults(client, practice, therapist):
    window(practice, therapist)
    practice.session_minutes, practice.buffer_minutes, practice.slot_grid_minutes = 45, 15, 60
    practice.save()
    client.force_login(therapist)
    assert offered(client.get(BOOK)) == ["Mon 09:00", "Mon 10:00", "Mon 11:00"]
    practice.buffer_minutes, practice.slot_grid_minutes = 0, 15
    practice.save()
    assert offered(client.get(BOOK)) == ["Mon 09:00", "Mon 09:45", "Mon 10:30", "Mon 11:15"]
