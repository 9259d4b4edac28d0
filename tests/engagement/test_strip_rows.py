"""The client page's engagement strip through the row cache (engagement/rows.py, issue 11): the same
HTML as the template wrote from the strip's instances before, and a new view when anything shown changes."""

import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

from appointments.models import NoShowEvent
from engagement import rows, selectors
from followups.models import MissReason, OutboxMessage
from practice import rowcache
from tests.engagement.test_selectors import OUTCOMES, S, history
from tests.factories import AppointmentFactory, ClientFactory

pytestmark = pytest.mark.django_db

FORMER = Template((Path(__file__).parent / "former_strip.html").read_text())


def _squash(html: str) -> str:
    return re.sub(r">\s+<", "><", str(html).strip())


def _said(client, event, *, text: str, sent: int, rebook: bool) -> None:
    MissReason.objects.create(
        practice=client.practice, appointment=event.appointment, missed_session=event, reason="transport", text=text
    )
    for n in range(sent):
        OutboxMessage.objects.create(
            practice=client.practice,
            idempotency_key=f"followup:{event.pk}:{n}",
            missed_session=event,
            client=client,
            step=("first", "second", "third")[n],
            kind="first",
            channel="email",
            status="sent",
            due_at=timezone.now(),
        )
    if rebook:
        AppointmentFactory(client=client, rescheduled_from=event.appointment, start=timezone.now() + timedelta(days=2))


@pytest.mark.parametrize(
    ("seed", "n", "zone", "language"),
    [
        (1, 0, "America/New_York", "en"),
        (2, 4, "Europe/London", "en"),
        (3, 12, "Australia/Sydney", "en"),
        (4, 37, "America/New_York", "en"),
        (5, 25, "Europe/Berlin", "de"),
    ],
)
def test_the_strip_is_the_former_markup(practice, therapist, seed, n, zone, language):
    rng = random.Random(seed)
    client = ClientFactory(practice=practice, clinician=therapist)
    history(client, [rng.choice(OUTCOMES) for _ in range(n)])
    events = list(NoShowEvent.objects.filter(appointment__client=client).select_related("appointment"))
    for i, event in enumerate(events):
        if i % 2 == 0:
            _said(client, event, text=f"The <bus> & “{i}”", sent=i % 3, rebook=i % 4 == 0)
    rowcache.clear()
    with timezone.override(zone), translation.override(language):
        strip = selectors.engagement_strip(client=client)
        engagement = selectors.engagement_rates(client=client, strip=strip)
        expected = FORMER.render(Context({"strip": strip, "engagement": engagement}))
        fresh = rows.render(strip, engagement, zone=zone)
        cached = rows.render(strip, engagement, zone=zone)
    assert _squash(fresh) == _squash(cached) == _squash(expected)
    if events:
        assert "The &lt;bus&gt; &amp;" in fresh


def test_any_change_it_shows_is_another_view(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    history(client, [S.ATTENDED, S.NO_SHOW, S.ATTENDED])
    zone = "America/New_York"

    def view():
        strip = selectors.engagement_strip(client=client)
        return rows.strip_view(strip, selectors.engagement_rates(client=client, strip=strip), zone=zone)

    before = view()
    event = NoShowEvent.objects.get(appointment__client=client)
    _said(client, event, text="Bus", sent=1, rebook=False)
    after_reason = view()
    assert after_reason != before
    AppointmentFactory(client=client, rescheduled_from=event.appointment, start=timezone.now() + timedelta(days=3))
    assert view() != after_reason
    with translation.override("de"):
        assert view() != before
    assert rows.strip_view([], selectors.engagement_rates(client=client, strip=[]), zone="UTC") != before


_STRIP_FIELDS = (
    "pk",
    "start",
    "status",
    "miss_id",
    "followups_sent",
    "reason",
    "reason_text",
    "reason_label",
    "rebooked",
)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_client_without_a_missed_session_gets_the_same_strip_without_the_miss_subqueries(practice, therapist, seed):
    """client_sections says "no missed session" (live or undone): the page then reads the strip
    without its four subqueries about a miss, and gets the same rows and the same view."""
    rng = random.Random(seed)
    client = ClientFactory(practice=practice, clinician=therapist)
    kept = [S.ATTENDED, S.CANCELLED_IN_TIME]
    history(client, [rng.choice(kept) for _ in range(rng.randint(1, 30))])
    # A make-up booked from a cancellation: `rebooked` is read in both shapes.
    first = client.appointments.order_by("start").first()
    AppointmentFactory(client=client, rescheduled_from=first, start=timezone.now() + timedelta(days=2))
    assert not selectors.client_sections(client=client).misses

    def fields(strip):
        return [tuple(getattr(row, name) for name in _STRIP_FIELDS) for row in strip]

    full = selectors.engagement_strip(client=client)
    lean = selectors.engagement_strip(client=client, misses=False)
    assert fields(lean) == fields(full) and any(row.rebooked for row in lean)
    engagement = selectors.engagement_rates(client=client, strip=full)
    rowcache.clear()
    assert rows.strip_view(lean, engagement, zone="UTC") == rows.strip_view(full, engagement, zone="UTC")


def test_the_client_page_reads_the_full_strip_once_a_session_was_missed(client, practice, therapist):
    from django.urls import reverse

    patient = ClientFactory(practice=practice, clinician=therapist)
    history(patient, [S.ATTENDED, S.NO_SHOW])
    assert selectors.client_sections(client=patient).misses
    client.force_login(therapist)
    response = client.get(reverse("appointments:client_detail", args=[patient.pk]))
    assert response.status_code == 200
    missed = [row for row in response.context["strip"] if row.status == S.NO_SHOW]
    assert missed and missed[0].miss_id == NoShowEvent.objects.get(appointment__client=patient).pk
