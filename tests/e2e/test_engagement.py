"""A client's engagement on the client page: the strip, the rates with their denominators, a private note."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from appointments.models import NoShowEvent
from engagement.models import ReflectionNote
from followups.models import MissReason
from practice.models import AuditEvent
from tests.browser_fixtures import page_check
from tests.factories import AppointmentFactory

from .helpers import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def history(practice, client_of_therapist):
    """Six weekly sessions: attended ×3, a no-show with a reason, a late cancel, one cancelled in time."""
    made = {}
    for weeks, status in (
        (6, "attended"),
        (5, "attended"),
        (4, "no_show"),
        (3, "late_cancel"),
        (2, "attended"),
        (1, "cancelled_in_time"),
    ):
        start = timezone.now() - timedelta(weeks=weeks)
        made[weeks] = AppointmentFactory(client=client_of_therapist, start=start, status=status)
        if status in ("no_show", "late_cancel"):
            event = NoShowEvent.objects.create(practice=practice, appointment=made[weeks], kind=status)
            if status == "no_show":
                MissReason.objects.create(practice=practice, missed_session=event, reason="transport", text="The bus")
    return made


def test_the_clinician_reads_the_strip_and_writes_a_private_note(
    new_page, practice, therapist, front_desk, client_of_therapist, history
):
    page = new_page()
    log_in(page, therapist)
    page.goto(client_of_therapist.get_absolute_url())
    section = page.locator("#engagement")
    expect(section.get_by_role("heading", name="Engagement")).to_be_visible()
    expect(page.locator("#engagement-strip li")).to_have_count(6)
    rates = page.locator("#engagement-rates")
    expect(rates).to_contain_text("Attended: 3 of 6 sessions (50%)")
    expect(rates).to_contain_text("Missed (no-show or late cancel): 2 of 6 sessions (33%)")
    expect(rates).to_contain_text("Longest run of misses (in these 6): 2")
    expect(page.locator("#engagement-misses")).to_contain_text("Transport “The bus”")
    page_check(page, "/clients/<id>/ (engagement)")

    notes = page.locator("#reflection-notes")
    notes.get_by_label("About the missed session").select_option(index=2)
    notes.get_by_label("What I will try").fill("Offer telehealth on Thursday evenings; a check-in call first.")
    notes.get_by_role("button", name="Save the note").click()
    expect(page.get_by_role("alert")).to_have_text("Note saved. Only you and practice admins can read it.")
    note = ReflectionNote.objects.get()
    expect(page.locator(f"#reflection-note-{note.pk}")).to_contain_text("Offer telehealth on Thursday evenings")
    assert note.missed_session is not None and note.author == therapist
    page_check(page, "/clients/<id>/ (a note)")

    page.locator(f"#reflection-note-{note.pk}").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reflection note on Robin Reed")
    page_check(page, "/reflection-notes/<id>/")
    page.get_by_label("What I will try").fill("A check-in call first, then telehealth.")
    page.get_by_role("button", name="Save the note").click()
    expect(page.locator(f"#reflection-note-{note.pk}")).to_contain_text("A check-in call first, then telehealth.")

    # Front desk sees the strip, never the note, and has no form to write one.
    desk = new_page()
    log_in(desk, front_desk)
    desk.goto(client_of_therapist.get_absolute_url())
    expect(desk.locator("#engagement-strip li")).to_have_count(6)
    expect(desk.locator("#reflection-notes")).to_have_count(0)
    expect(desk.get_by_text("A check-in call first")).to_have_count(0)
    page_check(desk, "/clients/<id>/ (front desk)")
    assert AuditEvent.objects.filter(action="reflection_note.changed", actor=therapist).count() == 1


def test_a_new_client_shows_too_few_to_tell(page, practice, therapist, client_of_therapist):
    AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(days=7), status="attended")
    log_in(page, therapist)
    page.goto(client_of_therapist.get_absolute_url())
    expect(page.locator("#engagement-rates")).to_contain_text("Attended: 1 of 1 session: too few to tell")
    expect(page.locator("#engagement-misses")).to_have_count(0)
    page_check(page, "/clients/<id>/ (too few to tell)")


def test_front_desk_reads_what_the_client_told_us_in_the_practice_zone(page, practice, front_desk, client_of_therapist):
    from practice.timefmt import local
    from tests.engagement.replies import KINDS, every_kind_of_reply

    practice.time_zone = "Pacific/Auckland"
    practice.save(update_fields=["time_zone"])
    made = every_kind_of_reply(client_of_therapist)
    log_in(page, front_desk)
    page.goto(client_of_therapist.get_absolute_url())
    replies = page.locator("#client-replies")
    expect(page.get_by_role("heading", name="What the client told us")).to_be_visible()
    expect(replies.locator("tbody tr")).to_have_count(len(KINDS))
    # Newest first: the STOP and START texts were recorded last.
    expect(replies.locator("tbody tr").first).to_contain_text("Texted START")
    confirmed = replies.locator('tr[data-kind="confirmed"]')
    expect(confirmed).to_contain_text("Confirmed the session")
    at = local(made["confirmed"].confirmed_at, practice)
    start = local(made["confirmed"].start, practice)
    expect(confirmed).to_contain_text(f"{at.day} {at:%b %Y %H:%M}")
    expect(confirmed).to_contain_text(f"{start:%a} {start.day} {start:%b %Y %H:%M}")
    expect(replies.locator('tr[data-kind="reason"]')).to_contain_text("Transport: “The bus was late”")
    expect(replies.locator('tr[data-kind="acknowledged"]')).to_contain_text("not about one session")
    expect(page.locator("#client-replies-note")).to_contain_text("Reply-To")
    page_check(page, "/clients/<id>/ (what the client told us)")


def test_a_client_who_told_us_nothing_yet_says_so(page, therapist, client_of_therapist):
    log_in(page, therapist)
    page.goto(client_of_therapist.get_absolute_url())
    expect(page.locator("#client-replies-empty")).to_have_text("Nothing from the client yet.")
    expect(page.locator("#client-replies-note")).to_contain_text("not shown here")
    page_check(page, "/clients/<id>/ (nothing told yet)")
