"""Never charged more than the acknowledged terms, as staff and clients see it in the browser."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from policies.models import Acknowledgement, FeeAssessment, PolicyVersion
from policies.services import acknowledgement_record
from tests.factories import AppointmentFactory, ack_token, make_policy
from tests.policies.test_terms import STAFF_WORDS

from .helpers import log_in

pytestmark = pytest.mark.browser


def test_a_new_version_charges_a_client_who_accepted_v1_the_lesser_of_the_two(
    new_page, practice, practice_admin, front_desk, therapist, client_of_therapist
):
    v1 = make_policy(practice, no_show_fee=Decimal("60.00"), late_cancel_fee=Decimal("40.00"))
    acknowledgement_record(client=client_of_therapist, version=v1, method="paper", actor=front_desk)

    # The admin saves v2: a lower no-show fee, a higher late-cancel fee.
    admin = new_page()
    log_in(admin, practice_admin)
    admin.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()
    admin.get_by_role("spinbutton", name=re.compile(r"^No-show fee")).fill("45")
    admin.get_by_role("spinbutton", name=re.compile(r"^Late-cancel fee")).fill("55")
    admin.get_by_role("button", name="Save as a new version").click()
    expect(admin.get_by_role("alert")).to_have_text("Saved as version 2.")
    clients_read = admin.locator("#what-clients-read")
    expect(clients_read).to_contain_text("If you miss a session without letting us know, there is a $45.00 fee.")
    v2 = PolicyVersion.objects.get(practice=practice, number=2)

    # Robin, who accepted v1 only, misses a session and late-cancels another.
    missed = AppointmentFactory(
        client=client_of_therapist, start=min(v2.effective_at + timedelta(seconds=1), timezone.now())
    )
    later = AppointmentFactory(client=client_of_therapist, start=timezone.now() + timedelta(hours=5))
    clinician = new_page()
    log_in(clinician, therapist)
    row = clinician.locator(f"tr#appt-{missed.pk}")
    row.get_by_role("button", name="No-show").click()
    expect(row.locator(".status-badge")).to_have_text("No-show")
    late = aftercare.attendance_record(
        appointment_id=later.pk, outcome="cancelled", initiated_by="client", actor=front_desk
    ).event
    events = [NoShowEvent.objects.get(appointment=missed), late]
    for event in events:
        # The first wake-up may take both (a batch of waiting misses); each is processed once.
        tasks.process_missed_session(event.pk)
    assert not NoShowEvent.objects.filter(pk__in=[e.pk for e in events], processed_at=None).exists()

    desk = new_page()
    log_in(desk, front_desk)
    desk.get_by_role("navigation").get_by_role("link", name="Fees", exact=True).click()
    no_show = FeeAssessment.objects.get(missed_session__appointment=missed)
    late_fee = FeeAssessment.objects.get(missed_session=late)
    no_show_row, late_row = desk.locator(f"tr#fee-{no_show.pk}"), desk.locator(f"tr#fee-{late_fee.pk}")
    expect(no_show_row).to_contain_text("$45.00")
    expect(no_show_row).to_contain_text("charged under v2, less than under v1, the terms the client accepted")
    expect(late_row).to_contain_text("$40.00")
    expect(late_row).to_contain_text("charged under v1, the terms the client accepted; v2 not yet acknowledged")
    expect(late_row).to_contain_text("Charged under v1 (v2 in force)")
    assert (no_show.amount, no_show.charged_under, no_show.policy_version) == (Decimal("45.00"), v2, v2)
    assert (late_fee.amount, late_fee.charged_under, late_fee.policy_version) == (Decimal("40.00"), v1, v2)

    # The client page says the same, and what Robin accepted.
    late_row.get_by_role("link", name="Robin Reed").click()
    expect(desk.locator("#client-policy")).to_contain_text("Acknowledged policy v1 on")
    expect(desk.locator("#client-policy")).to_contain_text("not yet v2")
    expect(desk.locator(f"#client-fees tr#fee-{late_fee.pk}")).to_contain_text("Charged under v1 (v2 in force)")


def test_a_waiver_shows_its_reason_and_an_undone_mark_moves_to_voided(
    page, practice, front_desk, therapist, client_of_therapist
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    first = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=3))
    second = AppointmentFactory(client=client_of_therapist, start=timezone.now() - timedelta(hours=1))
    events = [
        aftercare.attendance_record(appointment_id=a.pk, outcome="no_show", actor=therapist).event
        for a in (first, second)
    ]
    for event in events:
        tasks.process_missed_session(event.pk)
    aftercare.attendance_undo(appointment_id=second.pk, actor=therapist)
    kept, undone = (FeeAssessment.objects.get(missed_session=e) for e in events)
    log_in(page, front_desk)
    page.get_by_role("navigation").get_by_role("link", name="Fees", exact=True).click()

    rows = page.locator("table.fees tbody tr")
    expect(rows).to_have_count(1)
    row = page.locator(f"tr#fee-{kept.pk}")
    row.get_by_label("Waiver reason").select_option(label="Financial hardship")
    row.get_by_label("Note").fill("Between jobs")
    row.get_by_role("button", name="Waive").click()
    expect(page.get_by_role("alert")).to_have_text("Fee waived.")
    expect(row).to_contain_text("Waived: Financial hardship — “Between jobs”")
    # Read again with the page (the waiver and the version's number by the fees' ids, not the action's row).
    page.reload()
    expect(row).to_contain_text("Waived: Financial hardship — “Between jobs”")

    page.get_by_label("State").select_option(label="Voided (and undone marks)")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"tr#fee-{undone.pk}")).to_contain_text("Voided: Mark undone")


def test_the_acknowledgement_page_reads_as_plain_terms(page, practice, client_of_therapist):
    version = make_policy(
        practice,
        notice_hours=48,
        late_cancel_fee=Decimal("50.00"),
        no_show_fee=Decimal("75.00"),
        grace_count=1,
        summary="We keep this hour for you alone.",
        overrides={"couples": (Decimal("90.00"), None)},
    )
    token = ack_token(client_of_therapist, version)

    page.goto(f"/policy/ack/{token}/")

    terms = page.locator("#client-terms li")
    expect(terms).to_have_text(
        [
            "If you cancel with less than 48 hours' notice, there is a $50.00 fee.",
            "If you miss a session without letting us know, there is a $75.00 fee.",
            "For couples sessions: the fee for a missed session is $90.00.",
            "If you miss your first session with us (the intake), there is no fee.",
            "Your first missed or late-cancelled session in any 90 days has no fee.",
            "If you book a make-up session within 7 days of the one you missed, there is no fee.",
        ]
    )
    expect(page.locator("#practice-note")).to_have_text("We keep this hour for you alone.")
    shown = page.locator("main").inner_text().lower()
    for word in STAFF_WORDS:
        if word != "acknowledg":
            assert word.lower() not in shown, word
    page.get_by_role("button", name="I have read and accept this policy").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you, Robin.")
    assert Acknowledgement.objects.get(client=client_of_therapist).version == version
