"""Bad input never causes a 500: every page, as every persona, with junk in the query and the form."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from aftercare.services import attendance_record
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

JUNK_QUERY = {
    "start": "2026-99-99",
    "clinician": "'; DROP TABLE x;--",
    "page": "-1",
    "q": "\x00%" + "%" * 200,
    "state": "\x00",
    "date_from": "yesterday",
    "status": "<script>",
    "client": "NaN",
    "export": "pdf",
    "show_date": "maybe",
}
# The ends of the calendar: arithmetic around them overflows.
EDGE_QUERY = {"start": "9999-12-31", "date_from": "0001-01-01", "date_to": "9999-12-31", "next": "no-such:view"}
EDGE_FORM = {"date": "9999-12-31", "effective_at": "9999-12-31T23:59", "next": "appointments", "start_time": "23:59"}
JUNK_FORM = {
    "outcome": "vanish",
    "initiated_by": "aliens",
    "reason_code": "x" * 1000,
    "date": "32/13/2026",
    "start_time": "25:61",
    "duration": "-5",
    "weeks": "1e9",
    "action": "delete",
    "method": "telepathy",
    "note": "n" * 5000,
    "slot": "not-a-time",
    "weekday": "9",
    "first_name": "\x00",
    "no_show_fee": "-1",
    "notice_hours": "forever",
}


def our_urls():
    """(name, route) for every URL of our apps, with <int:...> filled with 1 and <str:...> with junk."""
    found = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace in (None, "appointments", "policies", "followups", "imports"):
                    walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name:
                route = prefix + str(p.pattern)
                if route.startswith(("admin", "accounts")):
                    continue
                route = route.replace("<int:pk>", "1").replace("<int:client_pk>", "1").replace("<int:event_pk>", "1")
                route = route.replace("<str:token>", "junk-token").replace("<str:kind>", "first")
                found.append("/" + route)

    walk(get_resolver().url_patterns)
    return sorted(set(found))


@pytest.mark.parametrize("persona", ["therapist", "front_desk", "practice_admin", "other_practice_therapist", None])
def test_no_page_answers_500_to_junk(client, request, persona, therapist, client_of_therapist):
    # Objects with id 1 exist, so the object pages are reached, not only their 404s.
    appointment = AppointmentFactory(client=client_of_therapist)
    attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    if persona:
        client.force_login(request.getfixturevalue(persona))
    urls = our_urls()
    assert len(urls) > 25
    for url in urls:
        for method, data in (("get", JUNK_QUERY), ("post", JUNK_FORM), ("get", EDGE_QUERY), ("post", EDGE_FORM)):
            response = getattr(client, method)(url, data)
            assert response.status_code < 500, (persona, method, url, response.status_code)
