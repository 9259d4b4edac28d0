from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from appointments.models import NoShowEvent
from appointments.services import client_update
from policies import services
from policies.models import FeeAssessment, FeeChange, SafetyCheck
from practice.models import AuditEvent
from tests.concurrency import run_concurrently
from tests.factories import AppointmentFactory, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(practice):
    return make_policy(practice)


@pytest.fixture
def acknowledged(policy, client_of_therapist, front_desk):
    services.acknowledgement_record(client=client_of_therapist, version=policy, method="in_person", actor=front_desk)
    return client_of_therapist


def no_show(client, actor, hours_ago=1):
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=hours_ago))
    return aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event


def test_a_no_show_under_an_acknowledged_policy_proposes_the_fee(therapist, acknowledged, policy):
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get(missed_session=event)
    assert (fee.state, fee.amount, fee.policy_version, fee.rule) == ("proposed", Decimal("60.00"), policy, "charged")
    assert fee.charged_under == policy
    assert fee.due_at == pytest.approx(timezone.now() + timedelta(hours=48), abs=timedelta(seconds=30))
    assert list(fee.changes.values_list("from_state", "to_state")) == [("", "proposed")]


def test_running_twice_assesses_once(therapist, acknowledged, policy):
    event = no_show(acknowledged, therapist)
    assert tasks.process_missed_session(event.pk) is True
    assert tasks.process_missed_session(event.pk) is False
    # Even calling the fee service directly again returns the same row.
    first = FeeAssessment.objects.get()
    assert services.fee_assess(event=event) == first
    assert FeeAssessment.objects.count() == 1 and FeeChange.objects.count() == 1


def test_consent_missing_records_why_nothing_was_charged(therapist, client_of_therapist, policy):
    event = no_show(client_of_therapist, therapist)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.state, fee.amount, fee.rule_detail) == ("not_charged", 0, "not charged: policy not acknowledged")


def test_a_lower_new_version_charges_a_client_who_accepted_v1_the_lesser_fee(therapist, acknowledged, policy, practice):
    # The bug: saving any new version, even a lower fee, made every client "not charged".
    v2 = make_policy(practice, effective_at=timezone.now() - timedelta(days=1), no_show_fee=Decimal("45.00"))
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.state, fee.amount, fee.policy_version, fee.charged_under) == ("proposed", Decimal("45.00"), v2, v2)
    assert fee.rule_detail == "no-show fee, charged under v2, less than under v1, the terms the client accepted"


def test_a_higher_new_version_charges_the_terms_the_client_accepted(therapist, acknowledged, policy, practice):
    v2 = make_policy(practice, effective_at=timezone.now() - timedelta(days=1), no_show_fee=Decimal("75.00"))
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.amount, fee.policy_version, fee.charged_under) == (Decimal("60.00"), v2, policy)
    assert fee.rule_detail == "no-show fee, charged under v1, the terms the client accepted; v2 not yet acknowledged"


def test_acknowledging_the_new_version_charges_it_in_full(therapist, acknowledged, policy, practice, front_desk):
    v2 = make_policy(practice, effective_at=timezone.now() - timedelta(days=1), no_show_fee=Decimal("75.00"))
    services.acknowledgement_record(client=acknowledged, version=v2, method="paper", actor=front_desk)
    tasks.process_missed_session(no_show(acknowledged, therapist).pk)
    fee = FeeAssessment.objects.get()
    assert (fee.amount, fee.charged_under, fee.rule_detail) == (Decimal("75.00"), v2, "no-show fee")


def test_an_acknowledgement_given_after_the_miss_was_recorded_does_not_count(
    therapist, client_of_therapist, policy, practice, front_desk
):
    event = no_show(client_of_therapist, therapist)
    services.acknowledgement_record(
        client=client_of_therapist,
        version=policy,
        method="paper",
        actor=front_desk,
        at=event.recorded_at + timedelta(seconds=1),
    )
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.state, fee.rule, fee.charged_under) == ("not_charged", "not_acknowledged", None)


def test_a_later_acknowledgement_of_a_higher_version_does_not_raise_the_fee(
    therapist, acknowledged, policy, practice, front_desk
):
    v2 = make_policy(practice, effective_at=timezone.now() - timedelta(days=1), no_show_fee=Decimal("75.00"))
    event = no_show(acknowledged, therapist)
    services.acknowledgement_record(
        client=acknowledged, version=v2, method="paper", actor=front_desk, at=event.recorded_at + timedelta(minutes=5)
    )
    tasks.process_missed_session(event.pk)
    assert FeeAssessment.objects.get().charged_under == policy


def test_an_acknowledged_version_not_yet_in_effect_is_for_later_sessions(
    therapist, client_of_therapist, policy, practice, front_desk
):
    v2 = make_policy(practice, effective_at=timezone.now() + timedelta(days=3), no_show_fee=Decimal("10.00"))
    services.acknowledgement_record(client=client_of_therapist, version=v2, method="paper", actor=front_desk)
    tasks.process_missed_session(no_show(client_of_therapist, therapist).pk)
    fee = FeeAssessment.objects.get()
    assert (fee.rule, fee.policy_version, fee.charged_under) == ("not_acknowledged", policy, None)


def test_grace_of_the_accepted_terms_lets_the_first_miss_off(therapist, client_of_therapist, practice, front_desk):
    v1 = make_policy(practice, grace_count=1, grace_days=90)
    services.acknowledgement_record(client=client_of_therapist, version=v1, method="paper", actor=front_desk)
    v2 = make_policy(
        practice, effective_at=timezone.now() - timedelta(days=5), grace_count=0, no_show_fee=Decimal("50")
    )
    first = no_show(client_of_therapist, therapist, hours_ago=50)
    second = no_show(client_of_therapist, therapist, hours_ago=26)
    tasks.process_missed_session(first.pk)
    tasks.process_missed_session(second.pk)
    first_fee = FeeAssessment.objects.get(missed_session=first)
    assert (first_fee.state, first_fee.rule, first_fee.charged_under) == ("not_charged", "grace", v1)
    # Grace used up under v1: v2's lower fee is now the lesser.
    second_fee = FeeAssessment.objects.get(missed_session=second)
    assert (second_fee.amount, second_fee.charged_under) == (Decimal("50.00"), v2)


def test_a_makeup_waiver_uses_the_terms_charged_under(therapist, acknowledged, policy, practice):
    # Same fee, but v2 has no make-up waiver: the kinder v1 is charged under, and its 7 days apply.
    v2 = make_policy(practice, effective_at=timezone.now() - timedelta(days=1), makeup_days=0)
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.policy_version, fee.charged_under, fee.state) == (v2, policy, "proposed")
    start = timezone.now() + timedelta(days=3)
    aftercare.makeup_book(
        missed=event.appointment, actor=therapist, clinician=therapist, start=start, end=start + timedelta(minutes=50)
    )
    fee.refresh_from_db()
    assert (fee.state, fee.changes.last().reason_code) == ("waived", "makeup")


def test_versions_in_two_currencies_charge_only_the_accepted_terms(therapist, acknowledged, policy, practice):
    make_policy(practice, effective_at=timezone.now() - timedelta(days=1), currency="EUR", no_show_fee=Decimal("5"))
    tasks.process_missed_session(no_show(acknowledged, therapist).pk)
    fee = FeeAssessment.objects.get()
    assert (fee.amount, fee.currency, fee.charged_under) == (Decimal("60.00"), "USD", policy)


def test_the_version_in_force_at_the_start_applies(therapist, acknowledged, policy, practice):
    # A version taking effect after the session started does not judge it.
    make_policy(practice, effective_at=timezone.now() - timedelta(minutes=30), no_show_fee=Decimal("99.00"))
    event = no_show(acknowledged, therapist, hours_ago=2)
    tasks.process_missed_session(event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.policy_version, fee.amount) == (policy, Decimal("60.00"))


def test_grace_then_grace_exhausted(therapist, client_of_therapist, practice, front_desk):
    version = make_policy(practice, grace_count=1, grace_days=90)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    first = no_show(client_of_therapist, therapist, hours_ago=50)
    second = no_show(client_of_therapist, therapist, hours_ago=26)
    tasks.process_missed_session(first.pk)
    tasks.process_missed_session(second.pk)
    assert FeeAssessment.objects.get(missed_session=first).rule_detail == "grace: 1 of 1 used in 90 days"
    second_fee = FeeAssessment.objects.get(missed_session=second)
    assert (second_fee.state, second_fee.amount) == ("proposed", Decimal("60.00"))


def test_intake_is_exempt(therapist, acknowledged, policy):
    appointment = AppointmentFactory(client=acknowledged, session_type="intake")
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=therapist).event
    tasks.process_missed_session(event.pk)
    assert FeeAssessment.objects.get().rule_detail == "not charged: intake exemption"


def test_no_hold_means_due_at_once(therapist, client_of_therapist, practice, front_desk):
    version = make_policy(practice, hold_hours=0)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    tasks.process_missed_session(no_show(client_of_therapist, therapist).pk)
    assert FeeAssessment.objects.get().state == "due"


def test_the_hold_sweep_makes_proposed_fees_due_once(therapist, acknowledged, policy):
    tasks.process_missed_session(no_show(acknowledged, therapist).pk)
    assert tasks.sweep_fee_holds() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert tasks.sweep_fee_holds() == 1
        assert tasks.sweep_fee_holds() == 0
    fee = FeeAssessment.objects.get()
    assert fee.state == "due"
    assert list(fee.changes.values_list("to_state", flat=True)) == ["proposed", "due"]


def test_a_waiver_needs_a_reason_and_is_recorded(therapist, acknowledged, policy, front_desk):
    tasks.process_missed_session(no_show(acknowledged, therapist).pk)
    fee = FeeAssessment.objects.get()
    with pytest.raises(ValidationError):
        services.fee_waive(fee=fee, actor=front_desk, reason_code="")
    services.fee_waive(fee=fee, actor=front_desk, reason_code="hardship", note="Lost job")
    fee.refresh_from_db()
    change = fee.changes.last()
    assert (fee.state, change.actor, change.from_state, change.to_state, change.reason_code, change.note) == (
        "waived",
        front_desk,
        "proposed",
        "waived",
        "hardship",
        "Lost job",
    )
    assert AuditEvent.objects.filter(action="fee.waived", object_id=fee.pk).exists()
    # The hold sweep leaves a waived fee alone.
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        assert tasks.sweep_fee_holds() == 0


def test_paid_fees_cannot_be_waived_or_voided(therapist, acknowledged, policy, front_desk):
    tasks.process_missed_session(no_show(acknowledged, therapist).pk)
    fee = services.fee_mark_paid(fee=FeeAssessment.objects.get(), actor=front_desk)
    with pytest.raises(ValidationError, match="paid"):
        services.fee_void(fee=fee, actor=front_desk)
    with pytest.raises(ValidationError):
        services.fee_waive(fee=fee, actor=front_desk, reason_code="other")


def test_undo_voids_an_unpaid_fee(therapist, acknowledged, policy):
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)
    fee = FeeAssessment.objects.get()
    assert fee.state == "void"
    assert fee.changes.last().note == "The missed-session mark was undone."


def test_undo_keeps_a_paid_fee(therapist, acknowledged, policy, front_desk):
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    services.fee_mark_paid(fee=FeeAssessment.objects.get(), actor=front_desk)
    aftercare.attendance_undo(appointment_id=event.appointment_id, actor=therapist)
    assert FeeAssessment.objects.get().state == "paid"


def test_a_makeup_inside_the_window_waives_the_fee(therapist, acknowledged, policy):
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    missed = event.appointment
    start = timezone.now() + timedelta(days=3)
    aftercare.makeup_book(
        missed=missed, actor=therapist, clinician=therapist, start=start, end=start + timedelta(minutes=50)
    )
    fee = FeeAssessment.objects.get()
    assert (fee.state, fee.changes.last().reason_code) == ("waived", "makeup")


def test_a_makeup_outside_the_window_leaves_the_fee(therapist, acknowledged, policy):
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    start = timezone.now() + timedelta(days=20)
    aftercare.makeup_book(
        missed=event.appointment, actor=therapist, clinician=therapist, start=start, end=start + timedelta(minutes=50)
    )
    assert FeeAssessment.objects.get().state == "proposed"


def test_a_client_cancelling_inside_the_window_is_a_late_cancel(therapist, acknowledged, policy):
    appointment = AppointmentFactory(client=acknowledged, start=timezone.now() + timedelta(hours=5))
    result = aftercare.attendance_record(
        appointment_id=appointment.pk, outcome="cancelled", initiated_by="client", actor=therapist
    )
    assert result.appointment.status == "late_cancel"
    tasks.process_missed_session(result.event.pk)
    fee = FeeAssessment.objects.get()
    assert (fee.amount, fee.state) == (Decimal("40.00"), "proposed")


def test_a_client_cancelling_in_time_is_not_a_miss(therapist, acknowledged, policy):
    appointment = AppointmentFactory(client=acknowledged, start=timezone.now() + timedelta(hours=30))
    result = aftercare.attendance_record(
        appointment_id=appointment.pk, outcome="cancelled", initiated_by="client", actor=therapist
    )
    assert result.appointment.status == "cancelled_in_time" and result.event is None


def test_a_late_cancel_button_with_enough_notice_is_not_charged(therapist, acknowledged, policy):
    appointment = AppointmentFactory(client=acknowledged, start=timezone.now() + timedelta(hours=30))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="late_cancel", actor=therapist).event
    tasks.process_missed_session(event.pk)
    assert FeeAssessment.objects.get().rule == "enough_notice"


# -------------------------------------------------------------- safety first


def test_a_flagged_clients_miss_opens_a_check_alerts_and_charges_nothing(
    therapist, acknowledged, policy, mailoutbox, django_capture_on_commit_callbacks
):
    client_update(client=acknowledged, actor=therapist, needs_safety_check=True)
    event = no_show(acknowledged, therapist)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tasks.process_missed_session(event.pk)
    check = SafetyCheck.objects.get(missed_session=event)
    assert check.clinician == therapist and check.completed_at is None
    assert not FeeAssessment.objects.exists()
    assert len(callbacks) == 1
    # The alert task, run as the worker would run it: once.
    assert tasks.send_safety_alert(check.pk) is True
    assert tasks.send_safety_alert(check.pk) is False
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [therapist.email]
    assert "safety check" in mail.subject
    assert acknowledged.first_name not in mail.body and acknowledged.last_name not in mail.body


def test_the_fee_is_assessed_only_once_the_check_is_done(therapist, acknowledged, policy):
    client_update(client=acknowledged, actor=therapist, needs_safety_check=True)
    event = no_show(acknowledged, therapist)
    tasks.process_missed_session(event.pk)
    check = SafetyCheck.objects.get()
    aftercare.safety_check_done(check=check, actor=therapist, note="Spoke on the phone; safe.")
    aftercare.safety_check_done(check=check, actor=therapist)
    fee = FeeAssessment.objects.get()
    assert fee.state == "proposed"
    check.refresh_from_db()
    assert check.completed_by == therapist and check.note == "Spoke on the phone; safe."


def test_the_sweep_resends_a_lost_safety_alert(therapist, client_of_therapist, mailoutbox):
    client_update(client=client_of_therapist, actor=therapist, needs_safety_check=True)
    event = no_show(client_of_therapist, therapist)
    tasks.process_missed_session(event.pk)  # on-commit enqueue of the alert never fires here
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        tasks.sweep_missed_sessions()
    assert len(mailoutbox) == 1
    assert SafetyCheck.objects.get().alert_sent_at is not None


# ------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_assessment_yields_one_fee(therapist, practice, client_of_therapist, front_desk):
    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    event = no_show(client_of_therapist, therapist)

    results = run_concurrently(lambda: services.fee_assess(event=NoShowEvent.objects.get(pk=event.pk)).pk, times=4)

    assert len(results) == 4 and len(set(results)) == 1 and isinstance(results[0], int), results
    assert FeeAssessment.objects.count() == 1
    assert FeeChange.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_pipeline_runs_process_once(therapist, practice, client_of_therapist, front_desk):
    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    event = no_show(client_of_therapist, therapist)

    outcomes = run_concurrently(lambda: aftercare.missed_session_process(event_id=event.pk), times=3)

    assert sorted(outcomes) == [False, False, True], outcomes
    assert FeeAssessment.objects.count() == 1
