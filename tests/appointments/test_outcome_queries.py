"""Marking a session (the row's htmx POST) in a fixed number of queries (issue 11: 100 marks a second).

The row is rendered from what the service read in its one locking query (the appointment with its
practice, client and clinician): no second read of the row, no separate reads of the practice or
the client, and the follow-ups written in one INSERT.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from appointments.models import Appointment, NoShowEvent
from followups.models import OutboxMessage
from practice.models import AuditEvent
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
# Noon in New York (the test practices' zone): the sessions below started an hour ago.
NOON = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)

# Session, user and membership (middleware; someone with an authenticator app adds its device);
# the view's scope check; then one transaction: BEGIN, SAVEPOINT (the service's own atomic), the
# locking read with its practice, client and clinician, the UPDATE, the audit INSERT, RELEASE,
# COMMIT. Before issue 11's work: 13 (the practice read for the audit, the row read again).
ATTENDED_QUERIES = 11
# A miss adds its record (SAVEPOINT, INSERT, RELEASE), the follow-up plan, the ladder's steps
# (none in the test practice; with steps, the client's earlier misses too) and the follow-ups:
# one INSERT, one read. Before: 27 (the client read, a get_or_create per follow-up).
NO_SHOW_QUERIES = ATTENDED_QUERIES + 3 + 2 + 2


def _started(practice, clinician):
    start = NOON - timedelta(hours=1)
    return AppointmentFactory(
        client=ClientFactory(practice=practice, clinician=clinician), start=start, end=start + timedelta(minutes=50)
    )


def _mark(client, appointment, outcome):
    return client.post(reverse("appointments:appointment_outcome", args=[appointment.pk]), {"outcome": outcome}, **HTMX)


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize(("outcome", "queries"), [("attended", ATTENDED_QUERIES), ("no_show", NO_SHOW_QUERIES)])
def test_a_mark_runs_a_fixed_number_of_queries(
    client, practice, therapist, therapist2, django_assert_num_queries, outcome, queries
):
    client.force_login(therapist)
    _mark(client, _started(practice, therapist), outcome)  # the follow-up plan's row exists from here on
    appointment = _started(practice, therapist)
    with django_assert_num_queries(queries):
        response = _mark(client, appointment, outcome)
    assert response.status_code == 200
    assert f'data-status="{outcome}"' in response.content.decode()


@time_machine.travel(NOON, tick=False)
def test_front_desk_gets_the_row_as_committed_with_the_clinician(client, practice, therapist, front_desk):
    appointment = _started(practice, therapist)
    client.force_login(front_desk)

    response = _mark(client, appointment, "no_show")

    body = response.content.decode()
    assert body.strip().startswith(f'<tr id="appt-{appointment.pk}" data-status="no_show"')
    assert therapist.get_full_name() in body and "Undo" in body and appointment.client.full_name in body
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.NO_SHOW
    event = NoShowEvent.objects.get(appointment=appointment)
    assert OutboxMessage.objects.filter(missed_session=event).count() == 2
    assert AuditEvent.objects.filter(action="appointment.outcome_recorded", object_id=appointment.pk).count() == 1


@time_machine.travel(NOON, tick=False)
def test_a_refused_mark_shows_the_row_as_it_is(client, practice, therapist):
    appointment = _started(practice, therapist)
    client.force_login(therapist)
    _mark(client, appointment, "attended")

    response = _mark(client, appointment, "no_show")

    body = response.content.decode()
    assert 'data-status="attended"' in body and "already marked attended" in body
    assert not NoShowEvent.objects.filter(appointment=appointment).exists()


@time_machine.travel(NOON, tick=False)
def test_marking_another_clinicians_session_is_a_404_and_changes_nothing(client, practice, therapist, therapist2):
    appointment = _started(practice, therapist2)
    client.force_login(therapist)

    assert _mark(client, appointment, "no_show").status_code == 404

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED
    assert not AuditEvent.objects.filter(action="appointment.outcome_recorded", object_id=appointment.pk).exists()
