"""The audit trail: views of client records, searches, exports, and the Audit page for admins."""

import pytest
from django.urls import reverse

from practice.models import AuditEvent
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_opening_a_client_record_is_audited_with_the_client(client, practice, therapist, client_of_therapist):
    client.force_login(therapist)
    assert client.get(client_of_therapist.get_absolute_url()).status_code == 200
    event = AuditEvent.objects.get(action="client.viewed")
    assert (event.practice, event.actor, event.client_ref) == (practice, therapist, client_of_therapist.pk)


def test_a_search_is_audited_with_its_count_never_its_words(client, practice, front_desk, client_of_therapist):
    client.force_login(front_desk)
    client.get(reverse("appointments:client_list"), {"q": "Reed"})
    event = AuditEvent.objects.get(action="clients.searched")
    assert event.changes == {"results": 1}
    assert "Reed" not in str(event.changes)
    client.get(reverse("appointments:client_list"))  # the plain list is not a search
    assert AuditEvent.objects.filter(action="clients.searched").count() == 1


def test_fees_messages_and_exports_are_audited(client, practice_admin):
    client.force_login(practice_admin)
    client.get(reverse("policies:fees"))
    client.get(reverse("policies:fees"), {"export": "csv"})
    client.get(reverse("followups:messages"))
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"fees.viewed", "fees.exported", "messages.viewed"} <= actions


def test_only_practice_admins_open_the_audit_page(client, therapist, front_desk, practice_admin):
    for user in (therapist, front_desk):
        client.force_login(user)
        assert client.get(reverse("audit")).status_code == 403
    client.force_login(practice_admin)
    assert client.get(reverse("audit")).status_code == 200


def test_the_audit_page_shows_this_practice_only_and_filters(
    client, practice, practice_admin, therapist, client_of_therapist, other_practice_therapist, other_client
):
    other_seen = ClientFactory(practice=practice, clinician=therapist, first_name="Nell", last_name="North")
    client.force_login(therapist)
    client.get(client_of_therapist.get_absolute_url())
    client.get(other_seen.get_absolute_url())
    client.force_login(other_practice_therapist)
    client.get(other_client.get_absolute_url())

    client.force_login(practice_admin)
    page = client.get(reverse("audit"), {"action": "client.viewed"})
    rows = list(page.context["page"])
    assert {e.client_ref for e in rows} == {client_of_therapist.pk, other_seen.pk}
    assert all(e.practice_id == practice.pk for e in rows)

    by_client = client.get(reverse("audit"), {"client": client_of_therapist.pk})
    assert [e.client_ref for e in by_client.context["page"]] == [client_of_therapist.pk]
    assert b"Robin Reed" in by_client.content
    elsewhere = client.get(reverse("audit"), {"client": other_client.pk})
    assert list(elsewhere.context["page"]) == [] and b"Stone" not in elsewhere.content

    by_person = client.get(reverse("audit"), {"person": therapist.pk})
    assert {e.actor_id for e in by_person.context["page"]} == {therapist.pk}


def test_the_audit_csv_lists_the_filtered_events_and_is_itself_audited(
    client, practice_admin, therapist, client_of_therapist
):
    client.force_login(therapist)
    client.get(client_of_therapist.get_absolute_url())
    client.force_login(practice_admin)
    response = client.get(reverse("audit"), {"action": "client.viewed", "export": "csv"})
    body = b"".join(response.streaming_content).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("at,person,action")
    assert len(lines) == 2 and "client.viewed" in lines[1] and "therapist" in lines[1]
    assert AuditEvent.objects.filter(action="audit.exported", actor=practice_admin).exists()


@pytest.mark.parametrize(
    "params",
    [{"person": "x"}, {"client": "-1"}, {"date_from": "9999-12-31"}, {"date_to": "0001-01-01"}, {"action": "\x00"}],
)
def test_bad_filters_say_so_and_are_never_a_500(client, practice_admin, params):
    client.force_login(practice_admin)
    response = client.get(reverse("audit"), params)
    assert response.status_code == 200


def test_the_audit_page_runs_a_constant_number_of_queries(
    client, practice_admin, therapist, client_of_therapist, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(therapist)
    client.get(client_of_therapist.get_absolute_url())
    client.force_login(practice_admin)
    with CaptureQueriesContext(connection) as ctx:
        client.get(reverse("audit"))
    few = len(ctx.captured_queries)
    client.force_login(therapist)
    for _ in range(20):
        client.get(client_of_therapist.get_absolute_url())
    client.force_login(practice_admin)
    with django_assert_num_queries(few):
        client.get(reverse("audit"))
