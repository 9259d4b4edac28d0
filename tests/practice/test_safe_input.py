"""Where a request says where to go next, and what dates it asks for: never off site, never a 500."""

from datetime import timedelta

import pytest
from django.utils import timezone

from aftercare.services import attendance_record
from appointments.models import Appointment
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

UNSAFE_NEXT = [
    "https://evil.example/phish",
    "//evil.example/phish",
    "/\\evil.example",
    "javascript:alert(1)",
    "appointments",  # not a URL: Django's redirect() would try to reverse it
    "no-such:view",
    "\x00",
]


@pytest.fixture
def started(client_of_therapist):
    return AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(minutes=30))


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_outcome_form_never_follows_an_unsafe_next(client, therapist, started, target):
    client.force_login(therapist)
    response = client.post(f"/appointments/{started.pk}/outcome/", {"outcome": "attended", "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"
    started.refresh_from_db()
    assert started.status == Appointment.Status.ATTENDED


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_undo_form_never_follows_an_unsafe_next(client, therapist, started, target):
    attendance_record(appointment_id=started.pk, outcome="attended", actor=therapist)
    client.force_login(therapist)
    response = client.post(f"/appointments/{started.pk}/undo/", {"next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_local_next_is_followed(client, therapist, started):
    client.force_login(therapist)
    response = client.post(f"/appointments/{started.pk}/outcome/", {"outcome": "attended", "next": "/week/"})
    assert response["Location"] == "/week/"


@pytest.mark.parametrize("start", ["9999-12-31", "0001-01-01", "9999-12-27", "1-01-01"])
def test_week_at_the_ends_of_the_calendar_is_not_a_500(client, therapist, start):
    client.force_login(therapist)
    response = client.get("/week/", {"start": start})
    assert response.status_code == 200
    assert b"That date was not understood" in response.content or b"outside the dates" in response.content


@pytest.mark.parametrize("effective", ["9999-12-31T23:59", "0001-01-01T00:00", "9999-12-31"])
def test_policy_dated_at_the_ends_of_the_calendar_is_refused_with_a_message(client, practice_admin, effective):
    client.force_login(practice_admin)
    response = client.post(
        "/policies/",
        {
            "effective_at": effective,
            "notice_hours": 24,
            "currency": "USD",
            "late_cancel_fee": "10",
            "no_show_fee": "10",
            "grace_count": 0,
            "grace_days": 90,
            "makeup_days": 7,
            "hold_hours": 0,
        },
    )
    assert response.status_code == 200
    assert b"date" in response.content.lower()


@pytest.mark.parametrize("when", ["9999-12-31", "0001-01-01"])
def test_fee_filters_at_the_ends_of_the_calendar_are_not_a_500(client, practice_admin, when):
    client.force_login(practice_admin)
    for params in ({"date_from": when}, {"date_to": when}, {"date_from": when, "export": "csv"}):
        response = client.get("/fees/", params)
        assert response.status_code == 200, params
