"""Weekly availability: the services that write it, the selector that turns it into open slots,
and the page, as each persona sees it."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from appointments.models import Appointment, Availability
from appointments.selectors import open_slots_for
from appointments.services import availability_add, availability_remove
from practice.models import AuditEvent, Membership
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
# Monday 6 July 2026, 07:00 in New York. With the 12-hour lead, the first
# open slots are on Tuesday.
NOW = datetime(2026, 7, 6, 11, 0, tzinfo=UTC)
TUESDAY = 1
URL = reverse("appointments:availability")


def add(practice, clinician, weekday=TUESDAY, start=time(9), end=time(12), slot=60, actor=None):
    return availability_add(
        practice=practice,
        clinician=clinician,
        weekday=weekday,
        start_time=start,
        end_time=end,
        session_minutes=slot,
        buffer_minutes=0,
        grid_minutes=60,
        actor=actor,
    )


def tuesday(hh, mm=0) -> datetime:
    return datetime(2026, 7, 7, hh, mm, tzinfo=NY)


def form_data(**overrides):
    data = {"weekday": "1", "start_time": "09:00", "end_time": "12:00", "session_minutes": "50"}
    data.update(overrides)
    return data


def url_for(clinician) -> str:
    return f"{URL}?clinician={clinician.pk}"


# Services


def test_adding_a_window_saves_it_and_records_who_did(practice, therapist):
    window = add(practice, therapist, actor=therapist)
    assert (window.weekday, window.start_time, window.end_time, window.session_minutes) == (1, time(9), time(12), 60)
    event = AuditEvent.objects.get(action="availability.added", object_id=window.pk)
    assert event.actor == therapist
    assert event.changes == {
        "weekday": 1,
        "start_time": "09:00",
        "end_time": "12:00",
        "session_minutes": 60,
        "buffer_minutes": 0,
        "grid_minutes": 60,
    }


def test_an_overlapping_window_is_refused_but_touching_ones_are_fine(practice, therapist, therapist2):
    add(practice, therapist)
    with pytest.raises(ValidationError) as exc:
        add(practice, therapist, start=time(11), end=time(13))
    assert exc.value.message_dict == {
        "start_time": ["This overlaps the Tuesday window 09:00-12:00. Remove that one first, or pick other times."]
    }
    with pytest.raises(ValidationError):
        add(practice, therapist, start=time(8), end=time(17))  # wholly around it
    add(practice, therapist, start=time(12), end=time(13))  # starts where the other ends
    add(practice, therapist, weekday=2)  # another day
    add(practice, therapist2)  # another clinician
    assert Availability.objects.count() == 4
    assert AuditEvent.objects.filter(action="availability.added").count() == 4


@pytest.mark.parametrize(
    ("start", "end", "slot", "field", "message"),
    [
        (time(12), time(9), 50, "end_time", "must end after it starts"),
        (time(9), time(9), 50, "end_time", "must end after it starts"),
        (time(9), time(9, 30), 50, "end_time", "30-minute window cannot hold one 50-minute session"),
        (time(9), time(12), 10, "session_minutes", "15 to 240 minutes"),
        (time(9), time(17), 300, "session_minutes", "15 to 240 minutes"),
    ],
)
def test_a_window_that_cannot_work_is_refused(practice, therapist, start, end, slot, field, message):
    with pytest.raises(ValidationError) as exc:
        add(practice, therapist, start=start, end=end, slot=slot)
    assert message in exc.value.message_dict[field][0]
    assert not Availability.objects.exists()


def test_a_weekday_out_of_range_is_refused(practice, therapist):
    with pytest.raises(ValidationError) as exc:
        add(practice, therapist, weekday=7)
    assert "weekday" in exc.value.message_dict
    assert not Availability.objects.exists()


def test_a_clinician_of_another_practice_is_refused(practice, other_practice_therapist):
    with pytest.raises(ValidationError, match="clinician of this practice"):
        add(practice, other_practice_therapist)
    assert not Availability.objects.exists()


def test_removing_a_window_deletes_it_and_records_it(practice, therapist, practice_admin):
    window = add(practice, therapist)
    pk = window.pk
    availability_remove(availability=window, actor=practice_admin)
    assert not Availability.objects.exists()
    event = AuditEvent.objects.get(action="availability.removed", object_id=pk)
    assert event.actor == practice_admin and event.changes["start_time"] == "09:00"


def test_the_database_refuses_a_window_that_ends_before_it_starts(practice, therapist):
    with pytest.raises(IntegrityError), transaction.atomic():
        Availability.objects.create(
            practice=practice, clinician=therapist, weekday=0, start_time=time(12), end_time=time(9)
        )


# Selector


def test_open_slots_leave_out_sessions_that_hold_time_but_not_cancelled_ones(practice, therapist, client_of_therapist):
    add(practice, therapist, slot=60)
    AppointmentFactory(client=client_of_therapist, start=tuesday(10, 30), end=tuesday(11, 20))
    AppointmentFactory(
        client=client_of_therapist,
        start=tuesday(9),
        end=tuesday(9, 50),
        status=Appointment.Status.CANCELLED_IN_TIME,
    )
    found = open_slots_for(clinician_id=therapist.pk, practice=practice, now=NOW)
    # Two Tuesdays in 14 days: on the first, 10:00 and 11:00 clash with the 10:30 session.
    assert [s.astimezone(NY).strftime("%d %H:%M") for s, _ in found] == ["07 09:00", "14 09:00", "14 10:00", "14 11:00"]
    assert all(e - s == timedelta(hours=1) for s, e in found)


def test_open_slots_hold_only_the_clinicians_own_windows(practice, therapist, therapist2):
    add(practice, therapist2)
    assert open_slots_for(clinician_id=therapist.pk, practice=practice, now=NOW) == []
    assert open_slots_for(clinician_id=therapist2.pk, practice=practice, now=NOW)


def test_a_clinician_who_has_left_offers_no_slots(practice, therapist):
    add(practice, therapist)
    Membership.objects.filter(user=therapist).update(is_active=False)
    assert open_slots_for(clinician_id=therapist.pk, practice=practice, now=NOW) == []


def test_open_slots_run_two_queries_however_many_sessions(
    practice, therapist, client_of_therapist, django_assert_num_queries
):
    for weekday in range(7):
        add(practice, therapist, weekday=weekday, start=time(8), end=time(20), slot=30)

    def book(n, offset):
        for i in range(n):
            start = NOW + timedelta(hours=offset + i * 3)
            AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))

    book(1, offset=20)
    with django_assert_num_queries(2):
        few = open_slots_for(clinician_id=therapist.pk, practice=practice, now=NOW)
    book(40, offset=21)
    with django_assert_num_queries(2):
        many = open_slots_for(clinician_id=therapist.pk, practice=practice, now=NOW)
    assert len(many) < len(few)


# The page, per persona


@time_machine.travel(NOW, tick=False)
def test_a_clinician_sees_their_windows_and_the_open_slots(client, practice, therapist):
    add(practice, therapist)
    client.force_login(therapist)
    response = client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Tuesday" in body and "Add window" in body and "Remove" in body
    # Preview in New York time: Tuesday 7 July from 09:00, nothing on Monday (lead time).
    assert "Tue 7 Jul" in body and "09:00–10:00" in body
    assert body.count("09:00–10:00") == 2  # two Tuesdays in 14 days
    assert 'href="/availability/"' in body  # the nav link


def test_a_clinician_adds_and_removes_their_own_windows(client, practice, therapist):
    client.force_login(therapist)
    response = client.post(URL, form_data())
    assert response.status_code == 302 and response["Location"] == url_for(therapist)
    window = Availability.objects.get(clinician=therapist)
    assert (window.practice, window.weekday, window.session_minutes) == (practice, 1, 50)
    response = client.post(reverse("appointments:availability_remove", args=[window.pk]))
    assert response.status_code == 302
    assert not Availability.objects.exists()


def test_a_clinician_cannot_see_or_change_a_colleagues_windows(client, practice, therapist, therapist2):
    colleague = add(practice, therapist2, start=time(14), end=time(16))
    client.force_login(therapist)
    response = client.get(url_for(therapist2))
    body = response.content.decode()
    assert response.status_code == 200
    assert "not one whose availability you can see" in body
    assert "14:00" not in body
    assert client.post(url_for(therapist2), form_data()).status_code == 404
    assert client.post(reverse("appointments:availability_remove", args=[colleague.pk])).status_code == 404
    assert list(Availability.objects.all()) == [colleague]


def test_a_practice_admin_picks_any_clinician_and_edits_their_windows(
    client, practice, therapist, therapist2, practice_admin
):
    window = add(practice, therapist)
    client.force_login(practice_admin)
    body = client.get(url_for(therapist2)).content.decode()
    assert 'name="clinician"' in body and "Add window" in body
    assert f'value="{therapist2.pk}" selected' in body
    assert client.post(url_for(therapist2), form_data(weekday="3")).status_code == 302
    assert Availability.objects.get(clinician=therapist2).weekday == 3
    assert client.post(reverse("appointments:availability_remove", args=[window.pk])).status_code == 302
    assert not Availability.objects.filter(clinician=therapist).exists()


@pytest.mark.parametrize("raw", ["abc", "999999", "other"])
def test_an_admin_asking_for_someone_outside_the_practice_is_told_and_shown_no_one_else(
    client, practice, therapist, practice_admin, other_practice_therapist, raw
):
    foreign = add(other_practice_therapist.membership.practice, other_practice_therapist, start=time(14), end=time(16))
    raw = str(other_practice_therapist.pk) if raw == "other" else raw
    client.force_login(practice_admin)
    response = client.get(f"{URL}?clinician={raw}")
    body = response.content.decode()
    assert response.status_code == 200
    assert "not one whose availability you can see" in body
    assert "14:00" not in body
    assert client.post(f"{URL}?clinician={raw}", form_data()).status_code == 404
    assert list(Availability.objects.all()) == [foreign]


def test_front_desk_sees_windows_but_cannot_change_them(client, practice, therapist, front_desk):
    window = add(practice, therapist)
    client.force_login(front_desk)
    body = client.get(url_for(therapist)).content.decode()
    assert "Tuesday" in body
    assert "Add window" not in body and "Remove" not in body
    assert client.post(url_for(therapist), form_data(weekday="4")).status_code == 403
    assert client.post(reverse("appointments:availability_remove", args=[window.pk])).status_code == 403
    assert list(Availability.objects.all()) == [window]


def test_everything_of_another_practice_is_a_404_or_hidden(client, practice, therapist, other_practice_therapist):
    window = add(practice, therapist, start=time(14), end=time(16))
    client.force_login(other_practice_therapist)
    assert client.post(reverse("appointments:availability_remove", args=[window.pk])).status_code == 404
    assert client.post(url_for(therapist), form_data()).status_code == 404
    response = client.get(url_for(therapist))
    assert response.status_code == 200 and "14:00" not in response.content.decode()
    assert list(Availability.objects.all()) == [window]


def test_a_practice_without_clinicians_shows_a_note(client, practice_admin):
    client.force_login(practice_admin)
    response = client.get(URL)
    assert response.status_code == 200 and "no clinicians yet" in response.content.decode()
    assert client.post(URL, form_data()).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, practice, therapist):
    window = add(practice, therapist)
    for url in [URL, reverse("appointments:availability_remove", args=[window.pk])]:
        response = client.post(url) if "remove" in url else client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Availability.objects.exists()


def test_remove_only_takes_a_post(client, practice, therapist):
    window = add(practice, therapist)
    client.force_login(therapist)
    assert client.get(reverse("appointments:availability_remove", args=[window.pk])).status_code == 405


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"start_time": "12:00", "end_time": "09:00"}, "end_time", "must end after it starts"),
        ({"start_time": "11:00", "end_time": "13:00"}, "start_time", "overlaps the Tuesday window 09:00-12:00"),
        ({"session_minutes": "abc"}, "session_minutes", "Enter a whole number."),
        ({"session_minutes": "5"}, "session_minutes", "greater than or equal to 15"),
        ({"weekday": "9"}, "weekday", "Select a valid choice."),
        ({"weekday": "Monday"}, "weekday", "Select a valid choice."),
        ({"start_time": "25:00"}, "start_time", "Enter a valid time."),
        ({"end_time": ""}, "end_time", "This field is required."),
        ({"start_time": "09:00", "end_time": "09:20"}, "end_time", "cannot hold one 50-minute session"),
    ],
)
def test_bad_input_shows_a_message_beside_the_field_and_saves_nothing(
    client, practice, therapist, data, field, message
):
    existing = add(practice, therapist)
    client.force_login(therapist)
    response = client.post(URL, form_data(**data))
    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert f'id="error_1_id_{field}"' in body  # crispy puts the message under that field
    assert list(Availability.objects.all()) == [existing]


@time_machine.travel(NOW, tick=False)
def test_the_page_runs_a_constant_number_of_queries(
    client, practice, therapist, client_of_therapist, django_assert_num_queries
):
    for weekday in range(5):
        add(practice, therapist, weekday=weekday)
    client.force_login(therapist)

    def book(n, offset):
        for i in range(n):
            start = NOW + timedelta(hours=offset + i * 3)
            AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))

    book(1, offset=20)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL).status_code == 200
    book(30, offset=21)
    with django_assert_num_queries(len(ctx.captured_queries)):
        assert client.get(URL).status_code == 200
