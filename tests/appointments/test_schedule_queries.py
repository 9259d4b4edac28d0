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


def _alert_in(which, practice, clinician, client_):
    """Something in one of Today's alert lists, for `clinician`'s client."""
    from engagement.models import CheckInTask
    from followups import reminders
    from followups.models import OutboxMessage

    if which == "unconfirmed":
        session = AppointmentFactory(client=client_, clinician=clinician, start=NOON + timedelta(hours=5))
        OutboxMessage.objects.create(
            purpose=OutboxMessage.Purpose.REMINDER,
            idempotency_key=reminders.reminder_key(appointment_id=session.pk, start=session.start, number=1),
            practice_id=practice.pk,
            client_id=client_.pk,
            appointment=session,
            appointment_start=session.start,
            reminder_number=1,
            kind="reminder",
            channel="email",
            due_at=NOON - timedelta(hours=1),
            status=OutboxMessage.Status.SENT,
        )
        return
    appointment = AppointmentFactory(client=client_, clinician=clinician, start=NOON - timedelta(hours=2))
    event = attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=clinician).event
    OutboxMessage.objects.filter(missed_session=event).delete()
    if which == "safety_checks":
        SafetyCheck.objects.create(practice=practice, missed_session=event, clinician=clinician)
    elif which == "unreached":
        OutboxMessage.objects.create(
            purpose=OutboxMessage.Purpose.FOLLOWUP,
            idempotency_key=f"test-unreached-{event.pk}",
            practice_id=practice.pk,
            client_id=client_.pk,
            missed_session=event,
            kind="followup",
            channel="email",
            due_at=NOON - timedelta(hours=1),
            status=OutboxMessage.Status.FAILED,
        )
    else:
        CheckInTask.objects.create(
            practice=practice,
            client=client_,
            clinician=clinician,
            missed_session=event,
            first_miss=appointment.start,
            title="Check in",
            misses=2,
            window_days=30,
        )


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize("which", ["safety_checks", "unreached", "unconfirmed", "checkins"])
def test_the_compiled_alert_check_answers_as_the_lists_own_querysets_for_every_viewer(
    practice, therapist, therapist2, front_desk, practice_admin, which
):
    """Today's alert check (SQL compiled once per role, practice/sqlonce.py) against each list's own
    queryset, run afresh, for every role, with and without a caseload, and for the clinician whose
    client it is not."""
    from django.utils import timezone

    from appointments import views
    from practice.models import Membership

    _alert_in(which, practice, therapist, ClientFactory(practice=practice, clinician=therapist))
    Membership.objects.filter(user=therapist2).update(is_clinician=True)
    viewers = [therapist, therapist2, front_desk, practice_admin]
    memberships = [Membership.objects.get(user=user) for user in viewers]
    for role in (Membership.Role.ADMIN, Membership.Role.FRONT_DESK):
        memberships.append(Membership(practice=practice, user=therapist, role=role, is_clinician=True))
    seen = {}
    for membership in memberships:
        found = views._alerts_found(membership, timezone.now())
        expected = {name: qs.exists() for name, qs in views._alert_lists(membership, timezone.now()).items()}
        assert found == expected, (membership.role, membership.is_clinician, membership.user_id)
        seen[(membership.role, membership.is_clinician, membership.user_id)] = found[which]
    assert any(seen.values()) and not all(seen.values())  # someone sees it, someone else does not
