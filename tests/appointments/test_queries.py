"""Pages that list things run a fixed number of queries, however long the list."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

# Noon in New York (the test practices' zone): every session below falls today.
NOON = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)


def _add_past_sessions(practice, clinicians, n, offset):
    for i in range(n):
        clinician = clinicians[i % len(clinicians)]
        start = NOON - timedelta(minutes=5 * (offset + i + 1))
        AppointmentFactory(
            client=ClientFactory(practice=practice, clinician=clinician),
            start=start,
            end=start + timedelta(minutes=4),
        )


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@time_machine.travel(NOON, tick=False)
@pytest.mark.parametrize(
    "page",
    ["appointments:today", "appointments:week", "appointments:needs_outcome", "appointments:client_list"],
)
def test_list_pages_run_a_constant_number_of_queries(
    client, front_desk, therapist, therapist2, practice, django_assert_num_queries, page
):
    client.force_login(front_desk)
    url = reverse(page)
    _add_past_sessions(practice, [therapist, therapist2], 2, offset=0)
    few = _queries(client, url)
    _add_past_sessions(practice, [therapist, therapist2], 25, offset=2)
    with django_assert_num_queries(few):
        response = client.get(url)
    assert response.status_code == 200


@time_machine.travel(NOON, tick=False)
def test_client_page_runs_a_constant_number_of_queries(
    client, therapist, client_of_therapist, django_assert_num_queries
):
    client.force_login(therapist)
    url = reverse("appointments:client_detail", args=[client_of_therapist.pk])
    AppointmentFactory(client=client_of_therapist, start=NOON - timedelta(days=1))
    few = _queries(client, url)
    for day in range(2, 20):
        AppointmentFactory(client=client_of_therapist, start=NOON - timedelta(days=day))
    with django_assert_num_queries(few):
        client.get(url)
