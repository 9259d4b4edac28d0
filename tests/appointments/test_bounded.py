"""Today and Week are bounded (issue 11): paged, capped, under 200 KB for a practice of 50 clinicians."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from appointments import selectors
from appointments.models import Appointment, Client
from practice.models import Membership
from tests.factories import AppointmentFactory, ClientFactory, MembershipFactory

pytestmark = pytest.mark.django_db

# Wednesday 1 July 2026, 08:00 in New York (the test practices' zone).
MORNING = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
PAGE_LIMIT = 200 * 1024


def _rows(response) -> list[str]:
    return re.findall(r'<tr id="appt-(\d+)"', response.content.decode())


def _sessions(practice, clinician, n, *, first=MORNING, step=timedelta(minutes=30)):
    client = ClientFactory(practice=practice, clinician=clinician)
    return [
        AppointmentFactory(client=client, start=first + i * step, end=first + i * step + timedelta(minutes=25))
        for i in range(n)
    ]


def _big_practice(practice, *, clinicians=50, per_day=8, days=(0,)):
    """50 clinicians with a full day each, written in bulk."""
    users = [MembershipFactory(practice=practice, role=Membership.Role.CLINICIAN).user for _ in range(clinicians)]
    clients = Client.objects.bulk_create(
        Client(practice=practice, clinician=u, first_name="Client", last_name=f"C{i}") for i, u in enumerate(users)
    )
    Appointment.objects.bulk_create(
        Appointment(
            practice=practice,
            client=c,
            clinician=c.clinician,
            start=MORNING + timedelta(days=d, hours=h),
            end=MORNING + timedelta(days=d, hours=h, minutes=50),
        )
        for c in clients
        for d in days
        for h in range(per_day)
    )


@time_machine.travel(MORNING, tick=False)
def test_today_pages_a_long_day_and_keeps_the_clinician_in_the_links(
    client, front_desk, therapist, practice, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(selectors, "TODAY_PAGE_SIZE", 5)
    client.force_login(front_desk)
    made = _sessions(practice, therapist, 7)
    first = client.get(reverse("appointments:today"))
    second = client.get(reverse("appointments:today") + "?page=2")
    assert len(_rows(first)) == 5
    assert len(_rows(second)) == 2
    assert sorted(map(int, _rows(first) + _rows(second))) == sorted(a.pk for a in made)
    assert "Sessions 1–5 of 7" in first.content.decode()
    picked = client.get(reverse("appointments:today") + f"?clinician={therapist.pk}")
    assert f"clinician={therapist.pk}&amp;page=2" in picked.content.decode()


@time_machine.travel(MORNING, tick=False)
@pytest.mark.parametrize("page", ["abc", "0", "999", "-1", "1.5"])
def test_today_with_a_nonsense_page_shows_a_page(client, front_desk, therapist, practice, page):
    client.force_login(front_desk)
    _sessions(practice, therapist, 3)
    response = client.get(reverse("appointments:today"), {"page": page})
    assert response.status_code == 200
    assert len(_rows(response)) == 3


@time_machine.travel(MORNING, tick=False)
def test_week_pages_whole_weeks_by_clinician(client, front_desk, therapist, therapist2, practice, monkeypatch):
    monkeypatch.setattr(selectors, "WEEK_PAGE_ROWS", 6)
    client.force_login(front_desk)
    mine = _sessions(practice, therapist, 4, step=timedelta(days=1))
    theirs = _sessions(practice, therapist2, 4, step=timedelta(days=1))
    pages = [client.get(reverse("appointments:week"), {"page": n}) for n in (1, 2)]
    shown = [set(map(int, _rows(p))) for p in pages]
    # 4 + 4 > 6: each clinician's week is whole, on a page of its own.
    assert sorted(shown, key=min) == sorted([{a.pk for a in mine}, {a.pk for a in theirs}], key=min)
    assert "Page 1 of 2" in pages[0].content.decode()
    assert "More clinicians on the next page" in pages[0].content.decode()


@time_machine.travel(MORNING, tick=False)
def test_week_caps_one_clinicians_rows_and_says_so(client, front_desk, therapist, practice, monkeypatch):
    monkeypatch.setattr(selectors, "WEEK_PAGE_ROWS", 3)
    client.force_login(front_desk)
    _sessions(practice, therapist, 5)
    for url in (reverse("appointments:week"), reverse("appointments:week") + f"?clinician={therapist.pk}"):
        response = client.get(url)
        assert len(_rows(response)) == 3
        assert 'id="week-truncated"' in response.content.decode()


@time_machine.travel(MORNING, tick=False)
@pytest.mark.parametrize("page", ["appointments:today", "appointments:week"])
def test_fifty_clinicians_pages_stay_under_200_kb_in_constant_queries(
    client, front_desk, practice, page, django_assert_num_queries
):
    client.force_login(front_desk)
    _big_practice(practice, days=(0, 1))
    url = reverse(page)
    response = client.get(url)
    rows = len(_rows(response))
    if page == "appointments:today":
        assert rows == selectors.TODAY_PAGE_SIZE
    else:  # whole weeks of 16 sessions per clinician, as many as fit
        assert selectors.WEEK_PAGE_ROWS - 16 < rows <= selectors.WEEK_PAGE_ROWS
    assert len(response.content) < PAGE_LIMIT
    with django_assert_num_queries(_count_queries(client, url)):
        last = client.get(url + "?page=3")
    assert len(last.content) < PAGE_LIMIT


def _count_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return len(ctx.captured_queries)


@time_machine.travel(MORNING, tick=False)
def test_week_pages_show_no_other_practices_sessions(client, front_desk, practice, other_client):
    client.force_login(front_desk)
    AppointmentFactory(client=other_client, start=MORNING)
    response = client.get(reverse("appointments:week"))
    assert response.status_code == 200
    assert _rows(response) == []


def test_client_page_shows_the_latest_fees_and_follow_ups_and_says_so(
    client, therapist, client_of_therapist, practice, monkeypatch
):
    from aftercare import services as aftercare
    from aftercare import tasks
    from appointments import views
    from tests.factories import make_policy

    make_policy(practice)
    for hours_ago in (30, 20, 10):
        start = datetime.now(UTC) - timedelta(hours=hours_ago)
        appointment = AppointmentFactory(client=client_of_therapist, start=start, end=start + timedelta(minutes=50))
        event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
        tasks.process_missed_session(event.pk)
    monkeypatch.setattr(views, "CLIENT_SECTION_CAP", 2)
    client.force_login(therapist)
    response = client.get(reverse("appointments:client_detail", args=[client_of_therapist.pk]))
    page = response.content.decode()
    assert len(response.context["fees"]) == 2
    assert len(response.context["followups"]) == 2
    assert 'id="client-fees-capped"' in page and 'id="client-followups-capped"' in page
    newest = max(f.session_start for f in response.context["fees"])
    assert response.context["fees"][0].session_start == newest
