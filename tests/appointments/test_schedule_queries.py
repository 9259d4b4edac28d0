"""Today, Week and Needs outcome run an exact, small number of queries (issue 11), whoever looks.

Every page first reads the session, the user, the authenticator device (practice
admins sign in with two factors) and the membership. Then:
- the clinician picker's names, for those who see the whole practice (a clinician has no picker);
- Today: the page of sessions with its total (one query, COUNT(*) OVER ()), and one query
  asking which of the four alert lists has anything; each list that has is one query more;
- Week: for the whole practice, the sessions per clinician (pages of whole weeks), then the sessions;
- Needs outcome: the page; a full page also asks the count for the pager.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.paginator import Paginator
from django.urls import reverse

from aftercare.services import attendance_record
from policies.models import SafetyCheck
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

# Noon in New York (the test practices' zone): the sessions below are today and need an outcome.
NOON = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)

SIGNED_IN = {"therapist": 3, "front_desk": 3, "practice_admin": 4}  # + the device for an admin
PICKER = {"therapist": 0, "front_desk": 1, "practice_admin": 1}
PAGE = {
    "appointments:today": {"therapist": 2, "front_desk": 2, "practice_admin": 2},
    "appointments:week": {"therapist": 1, "front_desk": 2, "practice_admin": 2},
    "appointments:needs_outcome": {"therapist": 1, "front_desk": 1, "practice_admin": 1},
}


def _sessions(practice, clinicians, n):
    for i in range(n):
        client = ClientFactory(practice=practice, clinician=clinicians[i % len(clinicians)])
        AppointmentFactory(client=client, start=NOON - timedelta(minutes=30 * (i + 1)))


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("who", ["therapist", "front_desk", "practice_admin"])
@pytest.mark.parametrize("page", list(PAGE))
@pytest.mark.parametrize("sessions", [1, 12])
def test_schedule_pages_run_an_exact_number_of_queries(
    client, request, practice, therapist, therapist2, django_assert_num_queries, who, page, sessions
):
    _sessions(practice, [therapist, therapist2], sessions)
    client.force_login(request.getfixturevalue(who))
    with django_assert_num_queries(SIGNED_IN[who] + PICKER[who] + PAGE[page][who]):
        response = client.get(reverse(page))
    assert response.status_code == 200
    assert response.content.decode().count('<tr id="appt-') == (sessions if who != "therapist" else (sessions + 1) // 2)


@time_machine.travel(NOON, tick=False)
def test_an_alert_list_with_something_in_it_costs_one_query_more(
    client, practice, practice_admin, therapist, client_of_therapist, django_assert_num_queries
):
    appointment = AppointmentFactory(client=client_of_therapist, start=NOON - timedelta(hours=2))
    event = attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    SafetyCheck.objects.create(practice=practice, missed_session=event, clinician=therapist)
    client.force_login(practice_admin)
    base = SIGNED_IN["practice_admin"] + PICKER["practice_admin"] + PAGE["appointments:today"]["practice_admin"]
    with django_assert_num_queries(base + 1):
        response = client.get(reverse("appointments:today"))
    assert 'id="safety-checks"' in response.content.decode()
    assert client_of_therapist.full_name in response.content.decode()


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("number", ["", "1", "2", "abc", "1.5", "0", "-1", "999"])
@pytest.mark.parametrize("sessions", [0, 5, 7, 10])
@pytest.mark.parametrize(("page", "size"), [("today", "TODAY_PAGE_SIZE"), ("needs_outcome", "NEEDS_OUTCOME_PAGE_SIZE")])
def test_schedule_pages_page_as_the_paginator_would(
    client, front_desk, practice, therapist, monkeypatch, number, sessions, page, size
):
    from appointments import selectors

    monkeypatch.setattr(selectors, size, 5)
    _sessions(practice, [therapist], sessions)
    client.force_login(front_desk)
    response = client.get(reverse(f"appointments:{page}"), {"page": number})
    shown = response.context["page"]
    expected = Paginator(shown.paginator.object_list, 5).get_page(number)  # Django's answer, from its own COUNT
    assert (shown.number, shown.paginator.count, shown.start_index(), shown.end_index()) == (
        expected.number,
        sessions,
        expected.start_index(),
        expected.end_index(),
    )
    assert [a.pk for a in shown.object_list] == [a.pk for a in expected.object_list]


@time_machine.travel(NOON, tick=False)
def test_a_full_page_of_needs_outcome_also_counts(
    client, front_desk, practice, therapist, monkeypatch, django_assert_num_queries
):
    from appointments import selectors

    monkeypatch.setattr(selectors, "NEEDS_OUTCOME_PAGE_SIZE", 5)
    _sessions(practice, [therapist], 7)
    client.force_login(front_desk)
    with django_assert_num_queries(SIGNED_IN["front_desk"] + PICKER["front_desk"] + 2):
        response = client.get(reverse("appointments:needs_outcome"))
    assert "Page 1 of 2" in response.content.decode()
