"""Views as each persona sees them: who may see what, and bad input."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from appointments.models import Appointment, Client, NoShowEvent
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def object_urls(appointment, client):
    """Every URL that names an object, with the method a person would use."""
    return [
        ("get", reverse("appointments:appointment_edit", args=[appointment.pk]), {}),
        (
            "post",
            reverse("appointments:appointment_edit", args=[appointment.pk]),
            {"date": "2030-01-01", "start_time": "10:00", "duration": 50},
        ),
        ("get", reverse("appointments:appointment_row", args=[appointment.pk]), {}),
        ("post", reverse("appointments:appointment_outcome", args=[appointment.pk]), {"outcome": "no_show"}),
        ("get", reverse("appointments:appointment_cancel", args=[appointment.pk]), {}),
        (
            "post",
            reverse("appointments:appointment_cancel", args=[appointment.pk]),
            {"initiated_by": "client"},
        ),
        ("post", reverse("appointments:appointment_undo", args=[appointment.pk]), {}),
        ("get", reverse("appointments:appointment_makeup", args=[appointment.pk]), {}),
        ("post", reverse("appointments:appointment_makeup", args=[appointment.pk]), {"date": "2030-01-01"}),
        ("get", reverse("appointments:client_detail", args=[client.pk]), {}),
        ("get", reverse("appointments:client_edit", args=[client.pk]), {}),
        (
            "post",
            reverse("appointments:client_edit", args=[client.pk]),
            {"first_name": "X", "last_name": "Y"},
        ),
    ]


def test_every_object_url_is_a_404_for_another_practice(client, other_practice_therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(other_practice_therapist)
    for method, url, data in object_urls(appointment, client_of_therapist):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (method, url, response.status_code)
    appointment.refresh_from_db()
    client_of_therapist.refresh_from_db()
    assert appointment.status == "scheduled"
    assert client_of_therapist.first_name == "Robin"
    assert not NoShowEvent.objects.exists()


def test_a_clinician_cannot_reach_a_colleagues_appointments_or_clients(client, therapist, therapist2, practice):
    colleague_client = ClientFactory(practice=practice, clinician=therapist2)
    appointment = AppointmentFactory(client=colleague_client)
    client.force_login(therapist)
    for method, url, data in object_urls(appointment, colleague_client):
        assert getattr(client, method)(url, data).status_code == 404, url


@pytest.mark.parametrize("persona", ["front_desk", "practice_admin"])
def test_front_desk_and_admins_reach_every_clinicians_appointments(client, request, persona, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(request.getfixturevalue(persona))
    response = client.post(reverse("appointments:appointment_outcome", args=[appointment.pk]), {"outcome": "no_show"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == "no_show"


def test_lists_show_only_the_practices_own_rows(client, therapist, client_of_therapist, other_client):
    AppointmentFactory(client=client_of_therapist)
    AppointmentFactory(client=other_client)
    client.force_login(therapist)
    today = client.get(reverse("appointments:today")).content.decode()
    assert "Robin Reed" in today and "Sky Stone" not in today
    clients = client.get(reverse("appointments:client_list")).content.decode()
    assert "Reed, Robin" in clients and "Stone" not in clients
    needs = client.get(reverse("appointments:needs_outcome")).content.decode()
    assert "Robin Reed" in needs and "Sky Stone" not in needs


def test_anonymous_users_are_sent_to_log_in(client, client_of_therapist):
    for url in [
        reverse("appointments:today"),
        reverse("appointments:client_detail", args=[client_of_therapist.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_without_a_practice_gets_a_clear_403(client, django_user_model):
    user = django_user_model.objects.create_user("loner", password="pw")
    client.force_login(user)
    response = client.get(reverse("appointments:today"))
    assert response.status_code == 403
    assert b"not part of a practice" in response.content


def test_marking_with_htmx_returns_the_updated_row(client, therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(therapist)
    response = client.post(
        reverse("appointments:appointment_outcome", args=[appointment.pk]), {"outcome": "no_show"}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith(f'<tr id="appt-{appointment.pk}"')
    assert "No-show" in body and "Undo" in body


def test_bad_outcome_input_changes_nothing_and_says_so(client, therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(therapist)
    for data in [
        {"outcome": "explode"},
        {},
        {"outcome": "no_show", "reason_code": "nonsense"},
        {"outcome": "cancelled"},
    ]:
        response = client.post(reverse("appointments:appointment_outcome", args=[appointment.pk]), data, **HTMX)
        assert response.status_code == 200
        assert 'role="alert"' in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_get_on_a_write_url_is_refused(client, therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    client.force_login(therapist)
    assert client.get(reverse("appointments:appointment_outcome", args=[appointment.pk])).status_code == 405
    assert client.get(reverse("appointments:appointment_undo", args=[appointment.pk])).status_code == 405


@pytest.mark.parametrize("query", ["?start=not-a-date", "?start=2026-13-45", "?clinician=abc", "?clinician=999999"])
def test_bad_schedule_parameters_fall_back_with_a_message(client, front_desk, query):
    client.force_login(front_desk)
    response = client.get(reverse("appointments:week") + query)
    assert response.status_code == 200
    assert b'role="alert"' in response.content


def test_a_colleagues_id_in_the_clinician_filter_is_ignored_for_a_clinician(client, therapist, therapist2, practice):
    AppointmentFactory(
        client=ClientFactory(practice=practice, clinician=therapist2, first_name="Zed", last_name="Zulu")
    )
    client.force_login(therapist)
    response = client.get(reverse("appointments:today") + f"?clinician={therapist2.pk}")
    assert b"Zed Zulu" not in response.content


def test_client_form_bad_input_shows_messages_and_saves_nothing(client, front_desk, therapist):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:client_create"),
        {
            "first_name": "",
            "last_name": "Lee",
            "preferred_channel": "email",
            "email": "",
            "clinician": therapist.pk,
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "This field is required" in body
    assert "an address is needed" in body
    assert not Client.objects.exists()


def test_client_form_refuses_a_clinician_of_another_practice(client, front_desk, other_practice_therapist):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:client_create"),
        {
            "first_name": "A",
            "last_name": "B",
            "preferred_channel": "phone",
            "phone": "+1 555",
            "clinician": other_practice_therapist.pk,
        },
    )
    assert response.status_code == 200
    assert not Client.objects.exists()


def test_booking_a_time_skipped_by_dst_is_refused_clearly(client, front_desk, therapist, client_of_therapist):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:appointment_book"),
        {
            "client": client_of_therapist.pk,
            "clinician": therapist.pk,
            "date": "2027-03-14",
            "start_time": "02:30",
            "duration": 50,
            "session_type": "individual",
            "modality": "in_person",
            "weeks": 1,
        },
    )
    assert response.status_code == 200
    assert b"does not exist" in response.content
    assert not Appointment.objects.exists()


def test_booking_form_books_a_series_in_practice_time(client, front_desk, therapist, client_of_therapist):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:appointment_book"),
        {
            "client": client_of_therapist.pk,
            "clinician": therapist.pk,
            "date": "2030-01-07",
            "start_time": "09:00",
            "duration": 50,
            "session_type": "intake",
            "modality": "telehealth",
            "weeks": 3,
        },
    )
    assert response.status_code == 302
    starts = [
        a.start.astimezone(client_of_therapist.practice.time_zone).strftime("%d %H:%M")
        for a in Appointment.objects.order_by("start")
    ]
    assert starts == ["07 09:00", "14 09:00", "21 09:00"]


@pytest.mark.parametrize("weeks", ["0", "53", "x"])
def test_booking_form_rejects_bad_series_lengths(client, front_desk, therapist, client_of_therapist, weeks):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:appointment_book"),
        {
            "client": client_of_therapist.pk,
            "clinician": therapist.pk,
            "date": "2030-01-07",
            "start_time": "09:00",
            "duration": 50,
            "session_type": "individual",
            "modality": "in_person",
            "weeks": weeks,
        },
    )
    assert response.status_code == 200
    assert not Appointment.objects.exists()


def test_booking_form_cannot_book_another_practices_client(client, front_desk, therapist, other_client):
    client.force_login(front_desk)
    response = client.post(
        reverse("appointments:appointment_book"),
        {
            "client": other_client.pk,
            "clinician": therapist.pk,
            "date": "2030-01-07",
            "start_time": "09:00",
            "duration": 50,
            "session_type": "individual",
            "modality": "in_person",
            "weeks": 1,
        },
    )
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Appointment.objects.exists()


@time_machine.travel(datetime(2026, 7, 1, 18, 0, tzinfo=UTC), tick=False)
def test_schedule_shows_times_in_the_practices_zone(client, therapist, client_of_therapist):
    AppointmentFactory(client=client_of_therapist, start=datetime(2026, 7, 1, 17, 30, tzinfo=UTC))
    client.force_login(therapist)
    body = client.get(reverse("appointments:today")).content
    # 17:30 UTC is 13:30 in New York (EDT).
    assert b"13:30" in body and b"17:30" not in body


def test_client_search_matches_part_of_a_name(client, front_desk, practice, therapist):
    ClientFactory(practice=practice, clinician=therapist, first_name="Margaret", last_name="Oakley")
    ClientFactory(practice=practice, clinician=therapist, first_name="Peter", last_name="Pine")
    client.force_login(front_desk)
    body = client.get(reverse("appointments:client_list") + "?q=oak", **HTMX).content.decode()
    assert "Oakley" in body and "Pine" not in body
