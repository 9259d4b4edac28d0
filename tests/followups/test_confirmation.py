"""After rebooking from a link: the confirmation's details and the calendar file."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from icalendar import Calendar

from aftercare import services as aftercare
from appointments.models import Appointment
from followups import services
from tests.factories import AppointmentFactory, give_availability

pytestmark = pytest.mark.django_db

# Monday 8 June 2026, 14:00 in New York.
MONDAY = datetime(2026, 6, 8, 18, 0, tzinfo=UTC)
WEDNESDAY_9AM = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def setup(practice, therapist, client_of_therapist):
    therapist.first_name, therapist.last_name = "Dana", "Whitfield"
    therapist.save()
    practice.address = "12 Maple Street\nSpringfield"
    practice.phone = "(555) 010-0123"
    practice.video_instructions = "Open the link in your appointment email a few minutes early."
    practice.save()
    give_availability(practice, therapist, weekdays=range(5), start_hour=9, end_hour=12)


def rebook(client, client_of_therapist, therapist, modality="in_person"):
    with time_machine.travel(MONDAY, tick=False):
        appointment = AppointmentFactory(
            client=client_of_therapist, start=MONDAY - timedelta(hours=1), modality=modality, session_type="couples"
        )
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        token = services.reschedule_link_create(event=event, days=14).rsplit("/r/", 1)[1].strip("/")
        response = client.post(f"/r/{token}/", {"slot": WEDNESDAY_9AM.isoformat()})
    return token, response


def test_the_confirmation_shows_when_how_long_with_whom_and_where(
    client, setup, practice, therapist, client_of_therapist
):
    _, response = rebook(client, client_of_therapist, therapist)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Wednesday 10 June 2026, 09:00–10:00" in body and "Eastern Time" in body
    assert "60 minutes" in body
    assert "Dana" in body and "Whitfield" not in body
    assert "12 Maple Street<br>Springfield" in body
    assert 'href="tel:+15550100123"' in body
    assert "calendar.ics" in body
    # No session type, no clinical words, no surname of the client.
    assert "ouples" not in body and "Reed" not in body


def test_a_video_session_shows_the_join_instructions_not_the_address(client, setup, client_of_therapist, therapist):
    _, response = rebook(client, client_of_therapist, therapist, modality="telehealth")
    body = response.content.decode()
    assert "Video session" in body and "a few minutes early" in body
    assert "Maple Street" not in body


def test_the_calendar_file_parses_and_carries_minimum_content(client, setup, client_of_therapist, therapist):
    token, _ = rebook(client, client_of_therapist, therapist)
    with time_machine.travel(MONDAY + timedelta(hours=1), tick=False):
        response = client.get(f"/r/{token}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    [event] = Calendar.from_ical(response.content).walk("VEVENT")
    assert event.decoded("dtstart") == WEDNESDAY_9AM
    assert event.decoded("dtend") == WEDNESDAY_9AM + timedelta(hours=1)
    assert str(event["summary"]) == "Appointment with Dana"
    assert str(event["location"]) == "12 Maple Street Springfield"
    description = str(event["description"])
    assert practice_words_absent(description + str(event["summary"]))
    assert "(555) 010-0123" in description


def practice_words_absent(text: str) -> bool:
    lowered = text.lower()
    return not any(word in lowered for word in ("couples", "therapy", "missed", "no-show", "reed", "fee"))


def test_the_calendar_link_stops_after_14_days_or_when_the_session_is_no_longer_booked(
    client, setup, client_of_therapist, therapist
):
    token, _ = rebook(client, client_of_therapist, therapist)
    with time_machine.travel(MONDAY + timedelta(days=14, minutes=1), tick=False):
        assert client.get(f"/r/{token}/calendar.ics").status_code == 404
    Appointment.objects.filter(start=WEDNESDAY_9AM).update(status="cancelled_by_clinician")
    with time_machine.travel(MONDAY + timedelta(days=1), tick=False):
        assert client.get(f"/r/{token}/calendar.ics").status_code == 404


def test_an_unused_or_unknown_link_gives_no_calendar(client, setup, client_of_therapist, therapist):
    with time_machine.travel(MONDAY, tick=False):
        appointment = AppointmentFactory(client=client_of_therapist, start=MONDAY - timedelta(hours=1))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        token = services.reschedule_link_create(event=event, days=14).rsplit("/r/", 1)[1].strip("/")
        assert client.get(f"/r/{token}/calendar.ics").status_code == 404
        assert client.get("/r/not-a-real-token-at-all-123/calendar.ics").status_code == 404
        assert client.get(f"/r/{'x' * 300}/calendar.ics").status_code == 404
