from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from appointments.models import Appointment, NoShowEvent
from appointments.services import (
    Outcome,
    appointment_book,
    appointment_move,
    appointment_record_outcome,
    appointment_undo_outcome,
    client_create,
    client_update,
)
from practice.models import AuditEvent
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_no_show_sets_status_and_writes_one_missed_session_record(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    result = appointment_record_outcome(appointment_id=appointment.pk, outcome=Outcome.NO_SHOW, actor=therapist)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.NO_SHOW
    assert appointment.status_changed_by == therapist
    assert result.changed
    event = NoShowEvent.objects.get(appointment=appointment)
    assert event == result.event
    assert (event.kind, event.recorded_by, event.processed_at) == ("no_show", therapist, None)
    assert AuditEvent.objects.filter(action="appointment.outcome_recorded", object_id=appointment.pk).count() == 1


def test_double_submission_records_once(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    first = appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    second = appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    assert first.changed and not second.changed
    assert second.event == first.event
    assert NoShowEvent.objects.filter(appointment=appointment).count() == 1
    assert AuditEvent.objects.filter(action="appointment.outcome_recorded").count() == 1


def test_a_different_outcome_must_be_undone_first(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    appointment_record_outcome(appointment_id=appointment.pk, outcome="attended", actor=therapist)
    with pytest.raises(ValidationError, match="already marked attended"):
        appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    assert not NoShowEvent.objects.exists()


def test_no_show_before_the_session_starts_is_refused(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist, start=timezone.now() + timedelta(hours=2))
    with pytest.raises(ValidationError, match="not started"):
        appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED


def test_late_cancel_is_a_missed_session_initiated_by_the_client(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist, start=timezone.now() + timedelta(hours=2))
    result = appointment_record_outcome(appointment_id=appointment.pk, outcome="late_cancel", actor=therapist)
    assert result.appointment.initiated_by == "client"
    assert result.event.kind == "late_cancel"


@pytest.mark.parametrize(
    ("initiated_by", "status"),
    [
        ("client", "cancelled_in_time"),
        ("clinician", "cancelled_by_clinician"),
        ("practice", "cancelled_by_clinician"),
    ],
)
def test_cancel_records_who_cancelled_and_no_missed_session(therapist, client_of_therapist, initiated_by, status):
    appointment = AppointmentFactory(client=client_of_therapist)
    appointment_record_outcome(
        appointment_id=appointment.pk,
        outcome="cancelled",
        initiated_by=initiated_by,
        reason_code="illness",
        actor=therapist,
    )
    appointment.refresh_from_db()
    assert (appointment.status, appointment.initiated_by, appointment.reason_code) == (
        status,
        initiated_by,
        "illness",
    )
    assert not NoShowEvent.objects.exists()


def test_cancel_without_saying_who_is_refused(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    with pytest.raises(ValidationError, match="who cancelled"):
        appointment_record_outcome(appointment_id=appointment.pk, outcome="cancelled", actor=therapist)


def test_unknown_outcome_and_reason_code_are_refused(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    with pytest.raises(ValidationError):
        appointment_record_outcome(appointment_id=appointment.pk, outcome="vanished", actor=therapist)
    with pytest.raises(ValidationError):
        appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", reason_code="x", actor=therapist)
    appointment.refresh_from_db()
    assert appointment.status == "scheduled"


def test_undo_within_the_window_restores_the_session_and_closes_the_record(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    with time_machine.travel(timezone.now() + timedelta(minutes=9)):
        undone, event = appointment_undo_outcome(appointment_id=appointment.pk, actor=therapist)
    assert undone.status == "scheduled" and undone.status_changed_at is None
    event.refresh_from_db()
    assert event.undone_at is not None and event.undone_by == therapist
    # Marking again after the undo starts a fresh record.
    again = appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    assert again.event.pk != event.pk
    assert NoShowEvent.objects.filter(appointment=appointment, undone_at=None).count() == 1


def test_undo_after_the_window_is_refused(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    appointment_record_outcome(appointment_id=appointment.pk, outcome="no_show", actor=therapist)
    with (
        time_machine.travel(timezone.now() + timedelta(minutes=11)),
        pytest.raises(ValidationError, match="within 10 minutes"),
    ):
        appointment_undo_outcome(appointment_id=appointment.pk, actor=therapist)
    appointment.refresh_from_db()
    assert appointment.status == "no_show"


def test_undo_with_nothing_to_undo_is_refused(therapist, client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    with pytest.raises(ValidationError, match="nothing to undo"):
        appointment_undo_outcome(appointment_id=appointment.pk, actor=therapist)


def test_booking_a_clash_is_refused_and_books_nothing(practice, therapist, client_of_therapist):
    start = timezone.now() + timedelta(days=1)
    appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
        actor=therapist,
    )
    with pytest.raises(ValidationError, match="already has a session"):
        appointment_book(
            practice=practice,
            client=client_of_therapist,
            clinician=therapist,
            start=start + timedelta(minutes=20),
            end=start + timedelta(minutes=70),
            actor=therapist,
        )
    assert Appointment.objects.count() == 1


def test_a_cancelled_session_frees_the_time(practice, therapist, client_of_therapist):
    start = timezone.now() + timedelta(days=1)
    [first] = appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
    )
    appointment_record_outcome(appointment_id=first.pk, outcome="cancelled", initiated_by="client", actor=therapist)
    appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
    )
    assert Appointment.objects.count() == 2


def test_weekly_series_keeps_local_time_across_dst(practice, therapist, client_of_therapist):
    tz = ZoneInfo("America/New_York")
    start = datetime(2026, 10, 26, 17, 0, tzinfo=tz)  # clocks go back on 1 November
    booked = appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
        weeks=3,
    )
    assert [a.start.astimezone(tz).strftime("%Y-%m-%d %H:%M") for a in booked] == [
        "2026-10-26 17:00",
        "2026-11-02 17:00",
        "2026-11-09 17:00",
    ]
    assert booked[0].series_id == booked[2].series_id is not None
    assert {a.end - a.start for a in booked} == {timedelta(minutes=50)}


def test_series_clash_books_none_of_the_weeks(practice, therapist, client_of_therapist):
    tz = ZoneInfo("America/New_York")
    start = datetime(2027, 1, 4, 9, 0, tzinfo=tz)
    appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start + timedelta(weeks=2),
        end=start + timedelta(weeks=2, minutes=50),
    )
    with pytest.raises(ValidationError):
        appointment_book(
            practice=practice,
            client=client_of_therapist,
            clinician=therapist,
            start=start,
            end=start + timedelta(minutes=50),
            weeks=4,
        )
    assert Appointment.objects.count() == 1


def test_booking_with_a_clinician_of_another_practice_is_refused(
    practice, client_of_therapist, other_practice_therapist
):
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError):
        appointment_book(
            practice=practice,
            client=client_of_therapist,
            clinician=other_practice_therapist,
            start=start,
            end=start + timedelta(minutes=50),
        )
    assert not Appointment.objects.exists()


def test_booking_for_an_archived_client_is_refused(practice, therapist, client_of_therapist):
    client_update(client=client_of_therapist, actor=therapist, is_archived=True)
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError, match="archived"):
        appointment_book(
            practice=practice,
            client=client_of_therapist,
            clinician=therapist,
            start=start,
            end=start + timedelta(minutes=50),
        )


def test_move_checks_clashes_but_not_against_itself(practice, therapist, client_of_therapist):
    start = timezone.now() + timedelta(days=1)
    [a] = appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start,
        end=start + timedelta(minutes=50),
    )
    [b] = appointment_book(
        practice=practice,
        client=client_of_therapist,
        clinician=therapist,
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=2, minutes=50),
    )
    appointment_move(
        appointment=a, start=start + timedelta(minutes=10), end=start + timedelta(minutes=60), actor=therapist
    )
    with pytest.raises(ValidationError):
        appointment_move(appointment=a, start=b.start, end=b.end, actor=therapist)
    a.refresh_from_db()
    assert a.start == start + timedelta(minutes=10)


def test_client_update_audits_field_names_not_values(practice, therapist, client_of_therapist):
    client_update(client=client_of_therapist, actor=therapist, email="new@example.com", needs_safety_check=True)
    audit = AuditEvent.objects.get(action="client.updated")
    assert audit.changes == {"fields": ["email", "needs_safety_check"]}
    assert "new@example.com" not in str(audit.changes)


def test_client_create_refuses_a_clinician_from_another_practice(practice, therapist, other_practice_therapist):
    with pytest.raises(ValidationError):
        client_create(
            practice=practice,
            actor=therapist,
            first_name="A",
            last_name="B",
            clinician=other_practice_therapist,
        )
