"""The Insights page: who sees what, bad input, CSV, and a query count that does not grow with the range."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from appointments.models import Appointment
from tests.factories import AppointmentFactory, ClientFactory

URL = "/insights/"


def _attended(client, n, *, days_ago=3):
    start = timezone.now() - timedelta(days=days_ago)
    for i in range(n):
        AppointmentFactory(client=client, start=start - timedelta(hours=i), status=Appointment.Status.ATTENDED)


@pytest.fixture
def history(practice, therapist, therapist2, client_of_therapist, other_client):
    theirs = ClientFactory(practice=practice, clinician=therapist2)
    _attended(client_of_therapist, 6)
    _attended(theirs, 7)
    _attended(other_client, 9)
    return theirs


def test_a_clinician_sees_only_their_own_caseload_whatever_they_ask(client, therapist, therapist2, history):
    client.force_login(therapist)
    page = client.get(URL, {"clinician": therapist2.pk})
    assert page.status_code == 200
    assert "Your caseload" in page.text
    assert "100% (6 of 6 sessions)" in page.text
    assert "of 7 sessions" not in page.text and "of 13 sessions" not in page.text
    assert 'name="clinician"' not in page.text


def test_front_desk_and_admins_see_the_practice_or_one_clinician(
    client, front_desk, practice_admin, therapist2, history
):
    for user in (front_desk, practice_admin):
        client.force_login(user)
        page = client.get(URL)
        assert "100% (13 of 13 sessions)" in page.text  # never the other practice's 9
        assert "of 9 sessions" not in page.text and "of 22 sessions" not in page.text
        one = client.get(URL, {"clinician": therapist2.pk})
        assert "100% (7 of 7 sessions)" in one.text and "of 13 sessions" not in one.text


def test_another_practices_clinician_is_refused_with_a_message(client, front_desk, other_practice_therapist, history):
    client.force_login(front_desk)
    page = client.get(URL, {"clinician": other_practice_therapist.pk})
    assert page.status_code == 200
    assert "Select a valid choice" in page.text
    assert "sessions)" not in page.text


def test_another_practice_sees_none_of_this_one(client, other_practice_therapist, history):
    client.force_login(other_practice_therapist)
    page = client.get(URL)
    assert "100% (9 of 9 sessions)" in page.text and "of 6 sessions" not in page.text


def test_logged_out_goes_to_the_login_page(client):
    assert client.get(URL).status_code == 302


@pytest.mark.parametrize(
    "params, message",
    [
        ({"first": "2026-02-30"}, "Enter a valid date."),
        ({"first": "not a date", "last": "x"}, "Enter a valid date."),
        ({"first": "0001-01-01"}, "Choose a date between 1900 and 2200."),
        ({"first": "2026-05-01", "last": "2026-04-01"}, "The first day must be on or before the last day."),
        ({"first": "1990-01-01", "last": "2026-04-01"}, "Choose a period of at most ten years."),
        ({"clinician": "abc"}, "Select a valid choice"),
        ({"first": "2026-01-01\x00"}, "Enter a valid date."),
    ],
)
def test_bad_input_shows_a_clear_message_and_no_figures(client, front_desk, history, params, message):
    client.force_login(front_desk)
    page = client.get(URL, params)
    assert page.status_code == 200
    assert message in page.text
    assert "Attendance by week" not in page.text


def test_the_default_period_is_the_last_90_days(client, front_desk, client_of_therapist, history):
    _attended(client_of_therapist, 5, days_ago=95)
    client.force_login(front_desk)
    page = client.get(URL)
    assert "100% (13 of 13 sessions)" in page.text
    # The period is the practice's: its date, not the server's (they differ for hours each night).
    today = timezone.localdate(timezone=client_of_therapist.practice.time_zone)
    first = today - timedelta(days=89)
    assert f"{first:%-d %b %Y} to {today:%-d %b %Y}" in page.text
    wider = client.get(URL, {"first": (today - timedelta(days=120)).isoformat(), "compare": "on"})
    assert "100% (18 of 18 sessions)" in wider.text and "(previous period)" in wider.text


def test_csv_has_every_figure_with_its_denominator_and_one_figure_alone(client, front_desk, history):
    client.force_login(front_desk)
    response = client.get(URL, {"export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    overall = [r for r in rows if r["figure"] == "Attendance over the period" and r["measure"] == "Attended"]
    assert overall[0]["count"] == "13" and overall[0]["of"] == "13" and overall[0]["percent"] == "100.0"
    assert {r["figure"] for r in rows} >= {"Attendance by week", "By clinician", "Reminders"}
    one = client.get(URL, {"export": "csv", "figure": "weekday"})
    figures = {r["figure"] for r in csv.DictReader(io.StringIO(one.content.decode()))}
    assert figures == {"By weekday"}


def test_csv_cells_cannot_run_as_formulas(client, front_desk, practice, history):
    from practice.models import Membership

    evil = Membership.objects.get(user=history.clinician).user
    evil.first_name, evil.last_name = "=HYPERLINK(1)", ""
    evil.save()
    client.force_login(front_desk)
    text = client.get(URL, {"export": "csv", "figure": "clinician"}).content.decode()
    assert "'=HYPERLINK(1)" in text


def _queries(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL, params).status_code == 200
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_date_range(client, front_desk, client_of_therapist, history):
    for weeks in range(1, 60, 3):
        _attended(client_of_therapist, 1, days_ago=7 * weeks)
    client.force_login(front_desk)
    client.get(URL)  # the session's first page may add its own bookkeeping
    today = timezone.localdate()
    for compare in ({}, {"compare": "on"}):
        week = _queries(client, {"first": (today - timedelta(days=6)).isoformat(), **compare})
        years = _queries(client, {"first": (today - timedelta(days=5 * 365)).isoformat(), **compare})
        assert week == years


def test_the_page_makes_a_fixed_number_of_queries(client, front_desk, history, django_assert_num_queries):
    client.force_login(front_desk)
    client.get(URL)  # the session's first page may add its own bookkeeping
    # Sign-in bookkeeping (session, user, membership, second factor), the clinicians, then
    # the attendance breakdowns in one query, then one per other figure (what got in the way
    # and the follow-ups: two each): 13 in all.
    with django_assert_num_queries(13):
        client.get(URL)
    # Compared: the headline still one query; every other figure once more for the previous
    # period (attendance 1, what got in the way 2, follow-ups 2, reminders, fees, re-engagement).
    with django_assert_num_queries(21):
        client.get(URL, {"compare": "on"})


def test_compare_puts_the_previous_period_beside_every_figure_and_in_the_csv(
    client, front_desk, client_of_therapist, history
):
    _attended(client_of_therapist, 5, days_ago=100)  # in the previous 90 days, none of the others are
    client.force_login(front_desk)
    page = client.get(URL, {"compare": "on"})
    assert page.text.count("previous period</th>") >= 10
    assert "100% (5 of 5 sessions)" in page.text  # the previous period's attendance beside this one's
    assert "the table has the previous period" in page.text
    plain = client.get(URL)
    assert "previous period</th>" not in plain.text
    response = client.get(URL, {"export": "csv", "figure": "clinician", "compare": "on"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    attended = {r["group"]: r for r in rows if r["measure"] == "Attended"}
    mine = attended[client_of_therapist.clinician.get_full_name()]
    assert (mine["count"], mine["of"], mine["previous_count"], mine["previous_of"]) == ("6", "6", "5", "5")
    assert mine["previous_percent"] == "100.0" and mine["previous_note"] == ""
    theirs = attended[history.clinician.get_full_name()]
    assert (theirs["previous_count"], theirs["previous_of"], theirs["previous_note"]) == ("0", "0", "too few to tell")
    assert "previous_count" not in client.get(URL, {"export": "csv"}).content.decode().splitlines()[0]
