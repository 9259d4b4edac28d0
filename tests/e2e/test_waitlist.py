"""The waitlist as people use it: front desk adds two clients, a cancelled session frees a time, both are
offered it by email, the first to take it gets it, the other sees a kind page and leaves the waitlist,
and front desk sees how the offers went."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import tasks as aftercare_tasks
from appointments.models import Appointment
from tests.browser_fixtures import page_check
from tests.factories import ClientFactory
from tests.waitlist.helpers import cancelled_slot, quiet_hours_off
from waitlist import tasks as waitlist_tasks
from waitlist.models import FreedSlot, WaitlistEntry

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _link_path(to: str) -> str:
    [message] = [m for m in mail.outbox if m.to == [to]]
    return urlsplit(re.search(r"https?://\S+/w/\S+/", message.body).group(0)).path


def test_a_freed_time_is_taken_from_the_waitlist(
    new_page, page_errors, practice, front_desk, practice_admin, therapist, client_of_therapist
):
    quiet_hours_off(practice)
    sam = ClientFactory(practice=practice, clinician=therapist, first_name="Sam", last_name="Stone")
    until = (timezone.localdate() + timedelta(days=30)).isoformat()

    desk = new_page()
    log_in(desk, front_desk)
    desk.get_by_role("navigation").get_by_role("link", name="Waitlist", exact=True).click()
    expect(desk.get_by_role("heading", name="Waitlist", exact=True)).to_be_visible()
    page_check(desk, "/waitlist/ (empty)")
    for client in (client_of_therapist, sam):
        desk.get_by_role("link", name="Add to the waitlist").click()
        desk.get_by_label("Client").select_option(label=client.full_name)
        desk.get_by_label("Waiting until").fill(until)
        desk.get_by_label("Earliest start").fill("07:00")
        desk.get_by_label("Latest end").fill("21:00")
        if client == client_of_therapist:
            page_check(desk, "/waitlist/add/")
        desk.get_by_role("button", name="Add to the waitlist").click()
        expect(desk.get_by_role("alert")).to_have_text("Added to the waitlist.")
    rows = desk.locator("#waitlist-entries tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Robin Reed")
    page_check(desk, "/waitlist/ (two waiting)")
    # Robin only wants their own therapist: editing keeps their place in line.
    desk.get_by_role("link", name="Edit Robin Reed").click()
    expect(desk.get_by_role("heading", name="Waitlist: Robin Reed")).to_be_visible()
    desk.get_by_label(therapist.get_full_name()).check()
    page_check(desk, "/waitlist/{pk}/")
    desk.get_by_role("button", name="Save").click()
    expect(desk.get_by_role("alert")).to_have_text("Waitlist entry saved.")
    expect(rows.first).to_contain_text(therapist.get_full_name())

    # A session tomorrow at 10:00 is cancelled: the time is offered, first to the two who wait, in order.
    slot = cancelled_slot(practice, therapist)
    assert waitlist_tasks.sweep_waitlist() == 2
    assert aftercare_tasks.sweep_followups() == 2

    robin = new_page()
    robin.goto(_link_path(client_of_therapist.email))
    expect(robin.get_by_role("heading", name="Hi Robin, a time has come free")).to_be_visible()
    page_check(robin, "/w/{token}/ (open)")
    assert not Appointment.objects.filter(start=slot.start, status="scheduled").exists()
    robin.get_by_role("button", name="Take this time").click()
    expect(robin.get_by_role("status")).to_have_text("This time is yours. We look forward to seeing you.")
    page_check(robin, "/w/{token}/ (booked)")

    other = new_page()
    other.goto(_link_path(sam.email))
    expect(other.get_by_role("heading", name="That time has been taken")).to_be_visible()
    page_check(other, "/w/{token}/ (taken)")
    other.get_by_role("button", name="Leave the waitlist").click()
    expect(other.get_by_role("heading", name="You're no longer on the waitlist")).to_be_visible()
    page_check(other, "/w/{token}/ (left)")
    assert WaitlistEntry.objects.get(client=sam).left_how == WaitlistEntry.Left.CLIENT

    desk.reload()
    expect(desk.locator("#waitlist-entries tbody tr")).to_have_text(re.compile("Nobody is waiting"))
    freed = desk.locator(f"#slot-{slot.pk}")
    expect(freed).to_contain_text("Taken from the waitlist: Robin Reed")
    freed.get_by_role("link").click()
    offers = desk.locator("#offers tbody tr")
    expect(offers).to_have_count(2)
    expect(offers.first).to_contain_text("Accepted")
    expect(offers.nth(1)).to_contain_text("Taken by someone else")
    page_check(desk, "/waitlist/freed/{pk}/")
    assert FreedSlot.objects.get(pk=slot.pk).booked.client == client_of_therapist

    admin = new_page()
    log_in(admin, practice_admin)
    admin.goto("/waitlist/")
    admin.get_by_label("Hold each offer for (minutes)").fill("45")
    admin.get_by_role("button", name="Save the waitlist settings").click()
    expect(admin.get_by_role("alert")).to_have_text("Waitlist settings saved.")
    page_check(admin, "/waitlist/ (admin)")
