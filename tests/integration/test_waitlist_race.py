"""Twenty clients offered one freed time, all taking it at once: one booking, nineteen kind refusals.

A real Celery worker writes and sends the offers (the cancel's on-commit task, then
one send task per offer); twenty threads then POST "Take this time" together, over
real HTTP, to the live server, on PostgreSQL (SQLite has no row locks to race on).
"""

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from appointments.models import Appointment
from followups import services as outbox
from followups.models import ClientLink, OutboxMessage
from tests.waitlist.helpers import cancelled_slot, quiet_hours_off, waiting_clients
from waitlist.models import FreedSlot, WaitlistOffer, WaitlistPlan

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the race is on PostgreSQL row locks",
)

CLIENTS = 20
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _offer_link(offer: WaitlistOffer) -> str:
    """A link for this offer like the one its message carried (only hashes are stored: the test makes its own)."""
    token = outbox.client_link_create(
        purpose=ClientLink.Purpose.WAITLIST_OFFER, client=offer.entry.client, days=0, expires_at=offer.held_until
    )
    offer.links.add(ClientLink.objects.get(token_hash=outbox.token_hash(token)))
    return token


class Browser:
    """One client's browser: its own cookies (the CSRF cookie), standard library only."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def open(self, url: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(url, data=body, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def test_twenty_take_one_time_at_once_one_booking_nineteen_kind_refusals(worker, live_server, practice, therapist):
    quiet_hours_off(practice)
    WaitlistPlan.objects.create(practice=practice, offers_per_round=CLIENTS)
    waiting_clients(practice, therapist, CLIENTS)
    slot = cancelled_slot(practice, therapist)

    # The worker asks everyone (one round of twenty) and sends the offers.
    worker.wait_until(
        lambda: OutboxMessage.objects.filter(purpose="waitlist_offer", status="sent").count() == CLIENTS,
        "twenty offers sent by the worker",
    )
    tokens = [_offer_link(offer) for offer in WaitlistOffer.objects.filter(slot=slot).select_related("entry__client")]

    # Each client has the page open (GET changes nothing), then all press the button together.
    sessions = []
    for token in tokens:
        browser = Browser()
        url = f"{live_server.url}/w/{token}/"
        status, page = browser.open(url)
        assert status == 200 and "Take this time" in page
        sessions.append((browser, url, CSRF.search(page).group(1)))
    assert not Appointment.objects.filter(start=slot.start, status="scheduled").exists()

    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, str, float]] = []
    lock = threading.Lock()

    def take(browser, url, csrf):
        barrier.wait(timeout=30)
        started = time.monotonic()
        status, text = browser.open(url, {"csrfmiddlewaretoken": csrf, "action": "take"})
        with lock:
            answers.append((status, text, time.monotonic() - started))

    threads = [threading.Thread(target=take, args=args) for args in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert [status for status, _, _ in answers] == [200] * CLIENTS
    booked = [text for _, text, _ in answers if "This time is yours" in text]
    refused = [text for _, text, _ in answers if "That time has been taken" in text]
    assert (len(booked), len(refused)) == (1, CLIENTS - 1)
    # Kind, and never a word about money.
    assert all("Thank you for answering so quickly" in text and "$" not in text for text in refused)
    assert Appointment.objects.filter(clinician=therapist, start=slot.start, status="scheduled").count() == 1
    slot.refresh_from_db()
    assert slot.status == FreedSlot.Status.TAKEN
    outcomes = sorted(WaitlistOffer.objects.filter(slot=slot).values_list("outcome", flat=True))
    assert outcomes.count("accepted") == 1 and outcomes.count("taken") == CLIENTS - 1
    slowest = max(elapsed for _, _, elapsed in answers)
    print(
        f"\nwaitlist race: {CLIENTS} concurrent accepts -> 1 booking, {len(refused)} refusals; slowest {slowest:.2f}s"
    )
