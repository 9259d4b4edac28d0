"""Asking clients to acknowledge the version in force: counts, one POST, progress, the link page."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from followups import selectors, services
from followups.models import ClientLink, OutboxMessage
from followups.tasks import send_message
from followups.views import BAD_LINK_LIMIT
from policies.models import Acknowledgement
from policies.services import acknowledgement_record
from practice.models import Membership
from tests.factories import AppointmentFactory, ClientFactory, MembershipFactory, make_policy

pytestmark = pytest.mark.django_db

AFTERNOON = datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # 2 p.m. in New York


@pytest.fixture(autouse=True)
def _afternoon_and_fresh_cache():
    cache.clear()
    with time_machine.travel(AFTERNOON, tick=False):
        yield
    cache.clear()


def active_client(practice, clinician, **kwargs):
    client = ClientFactory(practice=practice, clinician=clinician, **kwargs)
    AppointmentFactory(client=client, clinician=clinician, start=timezone.now() - timedelta(days=10))
    return client


@pytest.fixture
def other_admin(other_practice):
    return MembershipFactory(
        practice=other_practice, user__username="otheradmin", user__password="pw", role=Membership.Role.ADMIN
    ).user


@pytest.fixture
def version(practice):
    return make_policy(practice)


def test_the_counts_come_from_one_query_each_however_many_clients(
    practice, version, therapist, django_assert_num_queries
):
    for _ in range(4):
        active_client(practice, therapist)
    active_client(practice, therapist, consent_email=False)
    with django_assert_num_queries(1):
        outreach = selectors.ack_outreach(practice_id=practice.pk, version=version, now=timezone.now())
    assert outreach == {"unacknowledged": 5, "to_email": 4}
    with django_assert_num_queries(1):
        progress = selectors.ack_request_progress(practice_id=practice.pk, version=version)
    assert progress == {"total": 0, "queued": 0, "sent": 0, "failed": 0, "acknowledged": 0}


def test_admin_sees_who_has_not_acknowledged_and_emails_them_in_one_post(
    client, practice, version, practice_admin, therapist, client_of_therapist
):
    acknowledgement_record(client=client_of_therapist, version=version, method="paper")
    AppointmentFactory(client=client_of_therapist, clinician=therapist, start=timezone.now() - timedelta(days=1))
    active_client(practice, therapist)
    active_client(practice, therapist)
    active_client(practice, therapist, consent_email=False)
    client.force_login(practice_admin)
    page = client.get(reverse("policies:policy")).content.decode()
    assert "<strong>3</strong> active clients have not acknowledged v1." in page
    assert "Email the acknowledgement link to the 2 who consent to email" in page

    response = client.post(reverse("policies:ack_requests_send"), follow=True)
    assert "Emailing the link to 2 clients" in response.content.decode()
    assert OutboxMessage.objects.filter(purpose="ack_request", status="pending").count() == 2
    page = response.content.decode()
    assert 'id="ack-queued">2<' in page and 'hx-trigger="every 2s"' in page
    assert "Email the acknowledgement link to the" not in page  # nobody left to email

    # Pressing twice adds nothing.
    again = client.post(reverse("policies:ack_requests_send"), follow=True).content.decode()
    assert "Nothing new to send" in again
    assert OutboxMessage.objects.filter(purpose="ack_request").count() == 2


def test_progress_counts_sent_unreachable_and_acknowledged_and_stops_polling_when_done(
    client, practice, version, practice_admin, therapist, mailoutbox
):
    first, second = active_client(practice, therapist), active_client(practice, therapist)
    client.force_login(practice_admin)
    client.post(reverse("policies:ack_requests_send"))
    row_first = OutboxMessage.objects.get(client=first)
    row_second = OutboxMessage.objects.get(client=second)
    assert send_message(row_first.pk) == "sent"
    OutboxMessage.objects.filter(pk=row_second.pk).update(status="failed", last_error="SMTP 550")
    acknowledgement_record(client=first, version=version, method="link")
    fragment = client.get(reverse("policies:ack_requests_progress"), HTTP_HX_REQUEST="true").content.decode()
    for part in ('id="ack-queued">0<', 'id="ack-sent">1<', 'id="ack-failed">1<', 'id="ack-acknowledged">1<'):
        assert part in fragment
    assert "hx-trigger" not in fragment  # nothing queued: no more polling
    assert "<html" not in fragment


@pytest.mark.parametrize("persona", ["therapist", "front_desk"])
def test_only_admins_send_the_requests(persona, request, client, version, client_of_therapist):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(reverse("policies:ack_requests_send")).status_code == 403
    assert client.get(reverse("policies:ack_requests_progress")).status_code == 403
    assert not OutboxMessage.objects.exists()


def test_another_practices_admin_reaches_only_their_own_clients(
    client, practice, version, therapist, other_admin, other_practice, other_client
):
    active_client(practice, therapist)
    make_policy(other_practice)
    AppointmentFactory(client=other_client, start=timezone.now() + timedelta(days=2))
    client.force_login(other_admin)
    page = client.get(reverse("policies:policy")).content.decode()
    assert "<strong>1</strong> active client has not acknowledged v1." in page
    client.post(reverse("policies:ack_requests_send"))
    assert set(OutboxMessage.objects.values_list("client_id", "practice_id")) == {(other_client.pk, other_practice.pk)}


def test_the_client_page_button_queues_one_request_and_is_scoped_to_the_practice(
    client, version, front_desk, other_practice_therapist, client_of_therapist, mailoutbox
):
    client.force_login(other_practice_therapist)
    assert client.post(reverse("policies:ack_send_link", args=[client_of_therapist.pk])).status_code == 404
    assert not OutboxMessage.objects.exists()
    client.force_login(front_desk)
    url = reverse("policies:ack_send_link", args=[client_of_therapist.pk])
    client.post(url)
    row = OutboxMessage.objects.get()
    assert row.idempotency_key == f"ack:{client_of_therapist.pk}:{version.pk}"
    assert mailoutbox == []
    # While it waits, another press is refused kindly; once sent, a press sends it again as a new generation.
    assert "already waiting" in client.post(url, follow=True).content.decode()
    send_message(row.pk)
    client.post(url)
    row.refresh_from_db()
    assert (row.status, row.generation) == ("pending", 1)
    assert OutboxMessage.objects.count() == 1


def test_a_client_without_email_consent_gets_a_clear_message(client, version, front_desk, client_of_therapist):
    type(client_of_therapist).objects.filter(pk=client_of_therapist.pk).update(consent_email=False)
    client.force_login(front_desk)
    page = client.post(reverse("policies:ack_send_link", args=[client_of_therapist.pk]), follow=True)
    assert "no email address with consent to email" in page.content.decode()
    assert not OutboxMessage.objects.exists()


def _ack_token(client, version, days=30):
    return services.client_link_create(
        purpose=ClientLink.Purpose.ACKNOWLEDGE, client=client, days=days, policy_version=version
    )


def test_a_used_link_shows_a_kind_page_with_the_practice_phone(client, practice, version, client_of_therapist):
    token = _ack_token(client_of_therapist, version)
    url = reverse("policies:ack_public", args=[token])
    assert client.post(url).status_code == 200
    response = client.get(url)
    assert response.status_code == 404
    assert b"expired or is not valid" in response.content and practice.phone.encode() in response.content
    assert Acknowledgement.objects.count() == 1


def test_a_rebooking_link_is_not_an_acknowledgement_link(client, version, client_of_therapist):
    token = services.client_link_create(purpose=ClientLink.Purpose.REBOOK, client=client_of_therapist, days=14)
    assert client.post(reverse("policies:ack_public", args=[token])).status_code == 404
    assert not Acknowledgement.objects.exists()


def test_an_archived_clients_link_no_longer_works(client, version, client_of_therapist):
    token = _ack_token(client_of_therapist, version)
    type(client_of_therapist).objects.filter(pk=client_of_therapist.pk).update(is_archived=True)
    assert client.post(reverse("policies:ack_public", args=[token])).status_code == 404
    assert not Acknowledgement.objects.exists()


def test_guessing_acknowledgement_links_is_rate_limited(client, version, client_of_therapist):
    for i in range(BAD_LINK_LIMIT):
        assert client.get(reverse("policies:ack_public", args=[f"guess-{i}"])).status_code == 404
    token = _ack_token(client_of_therapist, version)
    response = client.get(reverse("policies:ack_public", args=[token]))
    assert response.status_code == 429 and b"try again a little later" in response.content


def test_an_archived_client_is_not_asked_and_the_page_says_why(client, version, front_desk, client_of_therapist):
    type(client_of_therapist).objects.filter(pk=client_of_therapist.pk).update(is_archived=True)
    client.force_login(front_desk)
    page = client.post(reverse("policies:ack_send_link", args=[client_of_therapist.pk]), follow=True)
    assert page.status_code == 200 and "This client is archived" in page.content.decode()
    assert not OutboxMessage.objects.exists()


def test_the_counts_follow_the_time_asked_about_as_the_querysets_do(practice, version, therapist):
    """ack_outreach's SQL is compiled once (practice/sqlonce.py), `now` and `now - 90 days` its parameters:
    each call's own time decides who is active, as the selector's queryset says, run afresh."""
    from policies.selectors import clients_unacknowledged

    now = timezone.now()
    lapsing = ClientFactory(practice=practice, clinician=therapist, consent_email=True, email="l@example.com")
    AppointmentFactory(client=lapsing, clinician=therapist, start=now - timedelta(days=80), status="attended")
    active_client(practice, therapist)
    for when, expected in ((now, 2), (now + timedelta(days=20), 1), (now + timedelta(days=200), 0)):
        outreach = selectors.ack_outreach(practice_id=practice.pk, version=version, now=when)
        fresh = clients_unacknowledged(practice_id=practice.pk, version=version, now=when).count()
        assert outreach["unacknowledged"] == fresh == expected, when
