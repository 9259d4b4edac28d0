"""What the database itself refuses, whatever the code above it does."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from appointments.models import NoShowEvent
from tests.factories import AppointmentFactory


@pytest.mark.django_db
def test_appointment_must_end_after_it_starts(client_of_therapist):
    start = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentFactory(client=client_of_therapist, start=start, end=start)
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentFactory(client=client_of_therapist, start=start, end=start - timedelta(minutes=1))


@pytest.mark.django_db
def test_one_live_missed_session_record_per_appointment(client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    NoShowEvent.objects.create(practice=appointment.practice, appointment=appointment, kind="no_show")
    with pytest.raises(IntegrityError), transaction.atomic():
        NoShowEvent.objects.create(practice=appointment.practice, appointment=appointment, kind="late_cancel")


@pytest.mark.django_db
def test_an_undone_record_makes_room_for_a_new_one(client_of_therapist):
    appointment = AppointmentFactory(client=client_of_therapist)
    NoShowEvent.objects.create(
        practice=appointment.practice, appointment=appointment, kind="no_show", undone_at=timezone.now()
    )
    NoShowEvent.objects.create(practice=appointment.practice, appointment=appointment, kind="no_show")
    assert NoShowEvent.objects.filter(appointment=appointment).count() == 2
