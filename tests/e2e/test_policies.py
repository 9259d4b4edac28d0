"""The Policies and Fees pages, fees on the client page, and the safety-check banner."""

import re
from datetime import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import Appointment, NoShowEvent
from followups.models import FollowUpPlan, OutboxMessage
from policies.models import Acknowledgement, FeeAssessment, FeeChange, PolicyVersion, SafetyCheck
from policies.services import acknowledgement_record
from tests.factories import AppointmentFactory, ClientFactory, make_policy

from .helpers import log_in, started_minutes_ago

pytestmark = pytest.mark.browser


def _field(page: Page, field_id: str):
    """A crispy field's wrapper: the label, the input and the message beside it."""
    return page.locator(f"#div_id_{field_id}")


def _row(page: Page, appointment: Appointment):
    return page.locator(f"tr#appt-{appointment.pk}")


def _no_show(appointment: Appointment, actor) -> NoShowEvent:
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


@pytest.fixture
def casey(practice, therapist):
    """A second client of the therapist, who has not acknowledged any policy."""
    return ClientFactory(practice=practice, clinician=therapist, first_name="Casey", last_name="Cole")


def test_admin_saves_a_new_version_and_the_old_one_stays_listed(page, practice, practice_admin):
    first = make_policy(practice, no_show_fee=Decimal("60.00"), notice_hours=24)
    log_in(page, practice_admin)

    page.get_by_role("navigation").get_by_role("link", name="Policies", exact=True).click()

    expect(page.get_by_role("heading", level=1, name="Cancellation policy")).to_be_visible()
    expect(page).to_have_title("Policies · Reconnect")
    terms = page.locator("#policy-terms")
    expect(terms).to_contain_text("v1, from")
    page.get_by_role("spinbutton", name=re.compile(r"^No-show fee")).fill("75.50")
    page.get_by_label("Notice window (hours)").fill("48")
    page.get_by_role("button", name="Save as a new version").click()

    expect(page.get_by_role("alert")).to_have_text("Saved as version 2.")
    expect(terms).to_contain_text("v2, from")
    expect(terms).to_contain_text("48 hours")
    expect(terms).to_contain_text("$75.50")
    versions = page.locator("#policy-versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.filter(has_text="v2")).to_contain_text("in force")
    expect(versions.filter(has_text="v2")).to_contain_text("48 h")
    old = versions.filter(has_text="v1")
    expect(old).to_contain_text("$60.00")
    expect(old).to_contain_text("24 h")
    expect(old).not_to_contain_text("in force")

    second = PolicyVersion.objects.get(practice=practice, number=2)
    assert (second.no_show_fee, second.notice_hours, second.created_by) == (Decimal("75.50"), 48, practice_admin)
    # The other terms were carried over from the version in force.
    assert (second.late_cancel_fee, second.hold_hours, second.currency) == (Decimal("40.00"), 48, "USD")
    first.refresh_from_db()
    assert (first.no_show_fee, first.notice_hours) == (Decimal("60.00"), 24)


def test_bad_policy_input_is_refused_beside_the_field_and_nothing_is_saved(page, practice, practice_admin):
    make_policy(practice)
    log_in(page, practice_admin)
    page.get_by_role("link", name="Policies", exact=True).click()
    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    save = page.get_by_role("button", name="Save as a new version")
    fee = page.get_by_role("spinbutton", name=re.compile(r"^No-show fee"))
    notice = page.get_by_label("Notice window (hours)")

    # The fields are number inputs with the form's bounds, so Chromium itself
    # stops these at the field, before anything is sent. The server's own
    # wording for the same input is covered in tests/policies/test_views.py.
    for field, typed, message in [
        (fee, "-5", "Value must be greater than or equal to 0."),
        (notice, "0", "Value must be greater than or equal to 1."),
    ]:
        kept = field.input_value()
        field.fill(typed)
        save.click()
        expect(field).to_have_js_property("validationMessage", message)
        field.fill(kept)

    # A word: Chromium drops letters typed into a number field, all but the "e"
    # of an exponent, and what is left is not a number.
    notice.fill("")
    notice.press_sequentially("twelve")
    save.click()
    expect(notice).to_have_js_property("validationMessage", "Please enter a number.")
    assert posts == []
    notice.fill("36")

    # What only the server can judge comes back with the message under the field.
    page.get_by_label("Takes effect").fill("2020-01-01T09:00")
    save.click()

    effective = _field(page, "effective_at")
    expect(effective).to_contain_text("A new version cannot take effect in the past")
    expect(page.get_by_label("Takes effect")).to_have_class(re.compile(r"\bis-invalid\b"))
    # What was typed is kept.
    expect(notice).to_have_value("36")
    assert len(posts) == 1
    assert list(PolicyVersion.objects.filter(practice=practice).values_list("number", "notice_hours")) == [(1, 24)]


def test_front_desk_filters_fees_and_waives_one_only_with_a_reason(
    page, practice, therapist, front_desk, client_of_therapist, casey
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    charged = _no_show(
        AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60)), therapist
    )
    not_charged = _no_show(AppointmentFactory(client=casey, start=started_minutes_ago(practice, 30)), therapist)
    for event in (charged, not_charged):
        tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get(missed_session=charged)
    assert fee.state == FeeAssessment.State.PROPOSED
    log_in(page, front_desk)

    page.get_by_role("navigation").get_by_role("link", name="Fees", exact=True).click()

    expect(page.get_by_role("heading", level=1, name="Fees")).to_be_visible()
    rows = page.locator("table.fees tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("State").select_option(label="Proposed (in review)")
    page.get_by_role("button", name="Filter").click()

    expect(page).to_have_url(re.compile(r"[?&]state=proposed\b"))
    expect(rows).to_have_count(1)
    row = page.locator(f"tr#fee-{fee.pk}")
    expect(row).to_contain_text("Robin Reed")
    expect(row).to_contain_text("$60.00")
    expect(row).to_contain_text("Proposed (in review)")

    row.get_by_role("button", name="Waive").click()

    expect(page.get_by_role("alert")).to_have_text("Nothing was changed: A waiver needs a reason.")
    # Back on the same filtered list.
    expect(page).to_have_url(re.compile(r"[?&]state=proposed\b"))
    expect(row).to_contain_text("Proposed (in review)")
    fee.refresh_from_db()
    assert fee.state == FeeAssessment.State.PROPOSED
    assert list(fee.changes.values_list("to_state", flat=True)) == ["proposed"]

    row.get_by_label("Waiver reason").select_option(label="Illness or medical reason")
    row.get_by_label("Note").fill("Called in with flu that morning")
    row.get_by_role("button", name="Waive").click()

    expect(page.get_by_role("alert")).to_have_text("Fee waived.")
    # It has left the "proposed" list; the "waived" one has it.
    expect(rows).to_have_text(["No fees."])
    page.get_by_label("State").select_option(label="Waived")
    page.get_by_role("button", name="Filter").click()
    expect(row.locator(".badge")).to_have_text("Waived")
    # A waived fee can still be voided, but not waived or paid again.
    expect(row.get_by_role("button", name="Void")).to_be_visible()
    expect(row.get_by_role("button", name="Waive")).to_have_count(0)

    fee.refresh_from_db()
    assert fee.state == FeeAssessment.State.WAIVED
    change = fee.changes.last()
    assert (change.actor, change.from_state, change.to_state, change.reason_code, change.note) == (
        front_desk,
        "proposed",
        "waived",
        "illness",
        "Called in with flu that morning",
    )
    assert FeeChange.objects.filter(fee=fee).count() == 2
    # The other client's fee was not touched.
    assert FeeAssessment.objects.get(missed_session=not_charged).state == FeeAssessment.State.NOT_CHARGED


def test_acknowledgement_recorded_in_person_or_accepted_through_an_emailed_link(
    new_page, smtp_settings, practice, front_desk, client_of_therapist, casey
):
    make_policy(practice, summary="Please give us a day's notice if you cannot come.")
    FollowUpPlan.objects.update_or_create(practice=practice, defaults={"quiet_start": time(0), "quiet_end": time(0)})
    desk = new_page()
    log_in(desk, front_desk)
    desk.get_by_role("link", name="Clients", exact=True).click()
    desk.get_by_role("link", name="Reed, Robin").click()
    policy = desk.locator("#client-policy")
    expect(policy).to_contain_text("Has not acknowledged the policy in force (v1): missed sessions are not charged.")

    policy.get_by_label("How it was acknowledged").select_option(label="Signed in person")
    policy.get_by_role("button", name="Record acknowledgement").click()

    expect(desk.get_by_role("alert")).to_have_text("Recorded: Robin Reed acknowledged policy version 1.")
    expect(policy).to_contain_text("Acknowledged policy v1 on")
    expect(policy).to_contain_text("(signed in person)")
    expect(policy.get_by_role("button")).to_have_count(0)
    ack = Acknowledgement.objects.get(client=client_of_therapist)
    assert (ack.version.number, ack.method, ack.recorded_by) == (1, "in_person", front_desk)

    desk.goto(casey.get_absolute_url())
    policy.get_by_role("button", name="Email the client a link to acknowledge it").click()

    expect(desk.get_by_role("alert")).to_have_text(
        "The acknowledgement link will be emailed to the client within a minute."
    )
    # Not inside the request: an outbox row, which the minute sweep sends.
    assert smtp_settings.messages == []
    assert tasks.sweep_followups() == 1
    [received] = smtp_settings.messages
    assert received.envelope_to == ["casey@example.com"]
    assert received.message["Subject"] == "Please review our cancellation policy"
    text = received.message.get_body(preferencelist=("plain",)).get_content()
    assert not Acknowledgement.objects.filter(client=casey).exists()

    # Casey opens it at home: no login.
    home = new_page()
    home.goto(urlsplit(re.search(r"https?://\S+/policy/ack/\S+/", text).group(0)).path)
    expect(home.get_by_role("heading", name="Riverside Office: cancellation policy")).to_be_visible()
    expect(home.locator("#client-terms")).to_contain_text(
        "If you miss a session without letting us know, there is a $60.00 fee."
    )
    expect(home.get_by_text("Please give us a day's notice if you cannot come.")).to_be_visible()
    home.get_by_role("button", name="I have read and accept this policy").click()

    expect(home.get_by_role("status")).to_have_text("Thank you, Casey. We have a record that you've read this policy.")
    expect(home.get_by_role("button")).to_have_count(0)
    ack = Acknowledgement.objects.get(client=casey)
    assert (ack.version.number, ack.method, ack.recorded_by) == (1, "link", None)
    desk.reload()
    expect(policy).to_contain_text("(accepted through a link)")


def test_no_show_marked_by_therapist_is_charged_only_to_a_client_who_acknowledged(
    page, practice, therapist, front_desk, client_of_therapist, casey
):
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="in_person", actor=front_desk)
    robins = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 60))
    caseys = AppointmentFactory(client=casey, start=started_minutes_ago(practice, 30))
    log_in(page, therapist)

    for appointment in (robins, caseys):
        row = _row(page, appointment)
        row.get_by_role("button", name="No-show").click()
        expect(row.locator(".status-badge")).to_have_text("No-show")

    # As the worker would, once the marks have committed (the first wake-up may take both: a batch).
    for appointment in (robins, caseys):
        tasks.process_missed_session(NoShowEvent.objects.get(appointment=appointment).pk)
    assert not NoShowEvent.objects.filter(appointment__in=(robins, caseys), processed_at=None).exists()

    _row(page, robins).get_by_role("link", name="Robin Reed").click()
    expect(page.get_by_role("heading", name="Robin Reed")).to_be_visible()
    fees = page.locator("#client-fees tbody tr")
    expect(fees).to_have_count(1)
    expect(fees).to_contain_text("Proposed (in review)")
    expect(fees).to_contain_text("$60.00")
    expect(fees).to_contain_text("no-show fee")
    expect(fees).to_contain_text("Charged under v1")
    # A clinician sees the fee but does not handle it.
    expect(fees.get_by_role("button")).to_have_count(0)

    page.go_back()
    _row(page, caseys).get_by_role("link", name="Casey Cole").click()
    expect(page.get_by_role("heading", name="Casey Cole")).to_be_visible()
    expect(page.locator("#client-policy")).to_contain_text("Has not acknowledged the policy in force (v1)")
    fees = page.locator("#client-fees tbody tr")
    expect(fees).to_have_count(1)
    expect(fees).to_contain_text("Not charged")
    expect(fees).to_contain_text("not charged: policy not acknowledged")

    robins_fee = FeeAssessment.objects.get(missed_session__appointment=robins)
    assert (robins_fee.state, robins_fee.amount, robins_fee.policy_version) == (
        FeeAssessment.State.PROPOSED,
        Decimal("60.00"),
        version,
    )
    caseys_fee = FeeAssessment.objects.get(missed_session__appointment=caseys)
    assert (caseys_fee.state, caseys_fee.amount, caseys_fee.rule) == (
        FeeAssessment.State.NOT_CHARGED,
        Decimal("0.00"),
        "not_acknowledged",
    )


def test_safety_check_banner_holds_the_fee_until_the_check_is_done(
    page, practice, therapist, front_desk, client_of_therapist
):
    client_of_therapist.needs_safety_check = True
    client_of_therapist.save(update_fields=["needs_safety_check"])
    version = make_policy(practice)
    acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    appointment = AppointmentFactory(client=client_of_therapist, start=started_minutes_ago(practice, 30))
    log_in(page, therapist)
    _row(page, appointment).get_by_role("button", name="No-show").click()
    expect(_row(page, appointment).locator(".status-badge")).to_have_text("No-show")
    event = NoShowEvent.objects.get(appointment=appointment)

    assert tasks.process_missed_session(event.pk)
    page.reload()

    banner = page.locator("#safety-checks")
    expect(banner).to_have_class(re.compile(r"\balert-danger\b"))
    expect(banner.get_by_role("heading", name="Safety check needed")).to_be_visible()
    expect(banner).to_contain_text("Robin Reed")
    check = SafetyCheck.objects.get(missed_session=event)
    assert check.clinician == therapist and check.completed_at is None
    # Held: nothing charged, nothing planned to be sent.
    assert not FeeAssessment.objects.filter(missed_session=event).exists()
    assert not OutboxMessage.objects.filter(missed_session=event).exists()

    banner.get_by_label("Safety check note").fill("Phoned; they are safe and will rebook.")
    banner.get_by_role("button", name="Check done").click()

    expect(page.get_by_role("alert")).to_have_text("Safety check recorded as done.")
    expect(page.locator("#safety-checks")).to_have_count(0)
    check.refresh_from_db()
    assert check.completed_at is not None
    assert (check.completed_by, check.note) == (therapist, "Phoned; they are safe and will rebook.")
    fee = FeeAssessment.objects.get(missed_session=event)
    assert (fee.state, fee.amount) == (FeeAssessment.State.PROPOSED, Decimal("60.00"))
    # And the follow-ups that were held are planned now.
    assert set(OutboxMessage.objects.filter(missed_session=event).values_list("status", flat=True)) == {"pending"}
