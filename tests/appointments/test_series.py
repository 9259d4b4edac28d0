"""Weekly series with clashing weeks: every clash named, the free weeks bookable, audited."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from appointments.models import Appointment, AppointmentSeries
from appointments.services import SeriesClashError, appointment_book
from practice.models import AuditEvent
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
START = datetime(2030, 1, 7, 9, 0, tzinfo=NY)  # a Monday
BOOK = reverse("appointments:appointment_book")


def book(practice, client, clinician, start=START, weeks=1, minutes=50, **kwargs):
    return appointment_book(
        practice=practice,
        client=client,
        clinician=clinician,
        start=start,
        end=start + timedelta(minutes=minutes),
        weeks=weeks,
        **kwargs,
    )


@pytest.fixture
def other_client_of_therapist(practice, therapist):
    return ClientFactory(practice=practice, clinician=therapist, first_name="Alex", last_name="Ash")


def test_every_clashing_week_is_named_and_nothing_is_booked(
    practice, therapist, client_of_therapist, other_client_of_therapist
):
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=1, minutes=30))
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=3))
    with pytest.raises(SeriesClashError) as exc:
        book(practice, client_of_therapist, therapist, weeks=5)
    assert [c.week for c in exc.value.clashes] == [1, 3]
    assert [c.clashes_with.client for c in exc.value.clashes] == [other_client_of_therapist] * 2
    assert "2 of the 5 weeks clash" in exc.value.message
    assert Appointment.objects.filter(client=client_of_therapist).count() == 0
    assert not AppointmentSeries.objects.exists()


def test_skipping_clashes_books_the_free_weeks_and_records_the_skipped_ones(
    practice, therapist, client_of_therapist, other_client_of_therapist
):
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=2))
    booked = book(practice, client_of_therapist, therapist, weeks=4, skip_clashes=True, actor=therapist)
    assert [a.start.astimezone(NY).day for a in booked] == [7, 14, 28]
    series = AppointmentSeries.objects.get()
    skipped_start = (START + timedelta(weeks=2)).astimezone(ZoneInfo("UTC")).isoformat()
    assert series.skipped == [skipped_start]
    event = AuditEvent.objects.get(action="series.booked")
    assert event.actor == therapist
    assert event.changes == {"weeks": 4, "booked": 3, "skipped": [skipped_start]}
    assert AuditEvent.objects.filter(action="appointment.booked").count() == 4  # 3 + the other client's


def test_when_every_week_clashes_nothing_is_booked_even_when_skipping(
    practice, therapist, client_of_therapist, other_client_of_therapist
):
    book(practice, other_client_of_therapist, therapist, weeks=2)
    with pytest.raises(SeriesClashError):
        book(practice, client_of_therapist, therapist, weeks=2, skip_clashes=True)
    assert Appointment.objects.filter(client=client_of_therapist).count() == 0


def test_a_single_session_clash_keeps_its_plain_message(practice, therapist, client_of_therapist):
    book(practice, client_of_therapist, therapist)
    with pytest.raises(Exception, match="already has a session"):
        book(practice, client_of_therapist, therapist, START + timedelta(minutes=10))


def form(client_, clinician, weeks=4, **extra):
    data = {
        "client": client_.pk,
        "clinician": clinician.pk,
        "date": "2030-01-07",
        "start_time": "09:00",
        "duration": 50,
        "session_type": "individual",
        "modality": "in_person",
        "weeks": weeks,
    }
    data.update(extra)
    return data


def test_booking_page_lists_each_clash_then_books_the_free_weeks(
    client, practice, front_desk, therapist, client_of_therapist, other_client_of_therapist
):
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=1))
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=2, minutes=20))
    client.force_login(front_desk)
    response = client.post(BOOK, form(client_of_therapist, therapist))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Mon 14 Jan 2030" in body and "Mon 21 Jan 2030" in body
    assert "Alex Ash, 09:00–09:50" in body and "Alex Ash, 09:20–10:10" in body
    assert "Book the 2 weeks that are free" in body
    assert not Appointment.objects.filter(client=client_of_therapist).exists()

    response = client.post(BOOK, form(client_of_therapist, therapist, skip_clashes="1"))
    series = AppointmentSeries.objects.get()
    assert response.status_code == 302 and response["Location"] == series.get_absolute_url()
    assert Appointment.objects.filter(client=client_of_therapist).count() == 2

    page = client.get(series.get_absolute_url())
    assert page.status_code == 200
    links = page.content.decode()
    assert "Book 14 Jan at another time" in links and "Book 21 Jan at another time" in links
    assert "date=2030-01-14" in links and f"client={client_of_therapist.pk}" in links


def test_a_clinician_sees_whom_their_own_clashing_session_is_with(
    client, practice, therapist, therapist2, client_of_therapist
):
    # A colleague's client seen by this therapist (covering): having the session makes them visible.
    colleague_client = ClientFactory(practice=practice, clinician=therapist2, first_name="Covered", last_name="Case")
    book(practice, colleague_client, therapist, START + timedelta(weeks=1))
    client.force_login(therapist)
    response = client.post(BOOK, form(client_of_therapist, therapist, weeks=2))
    assert "Covered Case, 09:00–09:50" in response.content.decode()


def test_series_page_is_a_404_outside_the_practice_or_for_a_colleague(
    client, practice, therapist, therapist2, other_practice_therapist, client_of_therapist, other_client_of_therapist
):
    book(practice, other_client_of_therapist, therapist, START + timedelta(weeks=1))
    book(practice, client_of_therapist, therapist, weeks=3, skip_clashes=True)
    url = AppointmentSeries.objects.get().get_absolute_url()
    for user in (other_practice_therapist, therapist2):
        client.force_login(user)
        assert client.get(url).status_code == 404
    client.force_login(therapist)
    assert client.get(url).status_code == 200
