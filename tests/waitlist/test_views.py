"""The Waitlist page (who sees what, bounded queries, add/edit/remove, settings) and the client's offer page."""

from datetime import time, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from appointments.models import Appointment
from practice.models import AuditEvent
from tests.factories import ClientFactory
from waitlist import services
from waitlist.models import WaitlistEntry, WaitlistPlan

from .helpers import cancelled_slot, quiet_hours_off, send_offers, tomorrow_at, waiting_clients

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(practice):
    cache.clear()
    quiet_hours_off(practice)
    yield
    cache.clear()


def _entry_post(client_obj, **extra):
    data = {
        "client": client_obj.pk,
        "earliest": "09:00",
        "latest": "17:00",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        "weekdays": ["0", "2"],
    }
    data.update(extra)
    return data


def test_front_desk_adds_a_client_and_sees_the_line(client, front_desk, therapist, client_of_therapist):
    client.force_login(front_desk)
    response = client.post(reverse("waitlist:entry_add"), _entry_post(client_of_therapist, clinicians=[therapist.pk]))
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert entry.weekdays == [0, 2] and list(entry.clinicians.all()) == [therapist]
    assert AuditEvent.objects.filter(action="waitlist.entry_added", object_id=entry.pk).exists()
    page = client.get(reverse("waitlist:waitlist")).content.decode()
    assert "Robin Reed" in page and "Mon, Wed, 09:00–17:00" in page


def test_bad_input_changes_nothing_and_says_why(client, front_desk, client_of_therapist, other_client):
    client.force_login(front_desk)
    response = client.post(reverse("waitlist:entry_add"), _entry_post(client_of_therapist, latest="08:00"))
    assert response.status_code == 200 and "must come after its start" in response.content.decode()
    response = client.post(reverse("waitlist:entry_add"), _entry_post(other_client))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    response = client.post(reverse("waitlist:entry_add"), _entry_post(client_of_therapist, expires_on="99999-01-01"))
    assert response.status_code == 200
    response = client.post(reverse("waitlist:entry_add"), _entry_post(client_of_therapist, weekdays=["9"]))
    assert response.status_code == 200
    assert not WaitlistEntry.objects.exists()


def test_the_practice_boundary(
    client, practice, therapist, other_practice_therapist, client_of_therapist, other_client
):
    [mine] = waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist)
    client.force_login(other_practice_therapist)
    page = client.get(reverse("waitlist:waitlist")).content.decode()
    assert mine.client.first_name not in page
    assert client.get(reverse("waitlist:entry_edit", args=[mine.pk])).status_code == 404
    assert client.post(reverse("waitlist:entry_remove", args=[mine.pk])).status_code == 404
    assert client.get(reverse("waitlist:slot", args=[slot.pk])).status_code == 404
    mine.refresh_from_db()
    assert mine.left_at is None


def test_a_therapist_sees_their_own_clients_and_freed_time(client, practice, therapist, therapist2):
    [theirs] = waiting_clients(practice, therapist2, 1)
    [own] = waiting_clients(practice, therapist, 1)
    slot = cancelled_slot(practice, therapist2)
    client.force_login(therapist)
    page = client.get(reverse("waitlist:waitlist")).content.decode()
    assert f'id="entry-{own.pk}"' in page and f'id="entry-{theirs.pk}"' not in page
    assert client.get(reverse("waitlist:slot", args=[slot.pk])).status_code == 404
    assert "Waitlist settings" not in page


def test_the_page_runs_a_fixed_number_of_queries(client, practice, front_desk, therapist, django_assert_num_queries):
    waiting_clients(practice, therapist, 2)
    cancelled_slot(practice, therapist)
    client.force_login(front_desk)
    url = reverse("waitlist:waitlist")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _n in range(8):
        more = ClientFactory(practice=practice, clinician=therapist)
        services.entry_add(
            practice=practice,
            client=more,
            actor=None,
            earliest=time(9),
            latest=time(17),
            expires_on=timezone.localdate() + timedelta(days=3),
            clinicians=[therapist],
        )
    for hour in (13, 15):
        cancelled_slot(practice, therapist, start=tomorrow_at(practice, hour))
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert response.content.decode().count('id="entry-') == 10


def test_edit_keeps_the_place_and_remove_takes_off(client, practice, front_desk, therapist):
    first, second = waiting_clients(practice, therapist, 2)
    client.force_login(front_desk)
    response = client.post(
        reverse("waitlist:entry_edit", args=[first.pk]),
        {"earliest": "10:00", "latest": "12:00", "expires_on": (timezone.localdate() + timedelta(days=5)).isoformat()},
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.earliest == time(10) and first.joined_at < second.joined_at
    client.post(reverse("waitlist:entry_remove", args=[second.pk]))
    second.refresh_from_db()
    assert second.left_how == WaitlistEntry.Left.STAFF and second.left_by == front_desk


def test_only_admins_change_the_settings(client, practice, practice_admin, front_desk):
    client.force_login(front_desk)
    data = {"enabled": "on", "hold_minutes": "45", "min_lead_hours": "3", "offers_per_round": "2"}
    assert client.post(reverse("waitlist:plan_save"), data).status_code == 403
    client.force_login(practice_admin)
    client.post(reverse("waitlist:plan_save"), data)
    plan = WaitlistPlan.objects.get(practice=practice)
    assert (plan.hold_minutes, plan.min_lead_hours) == (45, 3)
    response = client.post(reverse("waitlist:plan_save"), {**data, "hold_minutes": "abc"}, follow=True)
    assert "Nothing was saved" in response.content.decode()
    plan.refresh_from_db()
    assert plan.hold_minutes == 45


def test_offer_page_get_changes_nothing_and_post_takes_the_time(client, practice, therapist):
    waiting_clients(practice, therapist, 2)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    tokens = send_offers()
    url = reverse("waitlist:offer", args=[tokens["w0@example.com"]])
    page = client.get(url).content.decode()
    assert "a time has come free" in page and "Take this time" in page and "$" not in page
    assert not Appointment.objects.filter(start=slot.start, status="scheduled").exists()
    assert client.post(url, {"action": "what"}).status_code == 400
    page = client.post(url, {"action": "take"}).content.decode()
    assert "This time is yours" in page
    other = reverse("waitlist:offer", args=[tokens["w1@example.com"]])
    page = client.post(other, {"action": "take"}).content.decode()
    assert "That time has been taken" in page and "still on our waitlist" in page
    page = client.post(other, {"action": "leave"}).content.decode()
    assert "no longer on the waitlist" in page


def test_an_unknown_offer_link_gets_the_kind_page(client):
    response = client.get(reverse("waitlist:offer", args=["nope"]))
    assert response.status_code == 404 and "can't be used" in response.content.decode()
    assert client.post(reverse("waitlist:offer", args=["nope"]), {"action": "take"}).status_code == 404


def test_admin_shows_only_the_practices_waitlist(
    client, practice, practice_admin, therapist, other_practice, other_practice_therapist
):
    [own] = waiting_clients(practice, therapist, 1)
    [theirs] = waiting_clients(other_practice, other_practice_therapist, 1)
    client.force_login(practice_admin)
    page = client.get(reverse("admin:waitlist_waitlistentry_changelist")).content.decode()
    assert f"/{own.pk}/change/" in page and f"/{theirs.pk}/change/" not in page
    assert client.get(reverse("admin:waitlist_waitlistentry_change", args=[theirs.pk])).status_code == 302


def test_search_narrows_the_list_and_is_audited(client, practice, front_desk, therapist):
    first, second = waiting_clients(practice, therapist, 2)
    client.force_login(front_desk)
    response = client.get(reverse("waitlist:waitlist"), {"q": "Wait1"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert f'id="entry-{second.pk}"' in page and f'id="entry-{first.pk}"' not in page
    assert '<nav class="navbar' not in page  # the list only, for htmx to swap in
    assert AuditEvent.objects.filter(action="waitlist.searched").count() == 1
    assert client.get(reverse("waitlist:waitlist"), {"q": "\x00" * 300}).status_code == 200


def test_the_offers_of_a_freed_time_in_a_fixed_number_of_queries(
    client, practice, front_desk, therapist, django_assert_num_queries
):
    WaitlistPlan.objects.create(practice=practice, offers_per_round=2)
    waiting_clients(practice, therapist, 6)
    slot = cancelled_slot(practice, therapist)
    services.slot_advance(slot_id=slot.pk)
    client.force_login(front_desk)
    url = reverse("waitlist:slot", args=[slot.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    WaitlistPlan.objects.filter(practice=practice).update(offers_per_round=4)
    services.entry_leave(entry=slot.offers.first().entry, actor=front_desk)
    services.entry_leave(entry=slot.offers.last().entry, actor=front_desk)
    assert services.slot_advance(slot_id=slot.pk) == 4
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(url).content.decode()
    assert page.count("<tr>") == 1 + 6
