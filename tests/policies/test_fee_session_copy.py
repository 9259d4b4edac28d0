"""Fees carry their session's start and clinician (issue 11), so the Fees page sorts and filters without a join."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from policies.models import FeeAssessment
from tests.factories import AppointmentFactory, ClientFactory, make_policy

pytestmark = pytest.mark.django_db

copy_migration = importlib.import_module("policies.migrations.0005_speed_fee_session_copy")


def _fee_for_no_show(client, actor, *, hours_ago):
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=hours_ago))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event
    tasks.process_missed_session(event.pk)
    return appointment, FeeAssessment.objects.get(missed_session=event)


def test_the_service_that_writes_a_fee_copies_the_sessions_start_and_clinician(
    therapist, client_of_therapist, practice
):
    make_policy(practice)
    appointment, fee = _fee_for_no_show(client_of_therapist, therapist, hours_ago=2)
    assert fee.session_start == appointment.start
    assert fee.clinician_id == appointment.clinician_id == therapist.pk


def test_the_migration_fills_fees_written_before_the_copies(therapist, client_of_therapist, practice):
    make_policy(practice)
    appointment, fee = _fee_for_no_show(client_of_therapist, therapist, hours_ago=3)
    FeeAssessment.objects.filter(pk=fee.pk).update(session_start=None, clinician=None)
    copy_migration.copy_session_onto_fees(apps, None)
    fee.refresh_from_db()
    assert (fee.session_start, fee.clinician_id) == (appointment.start, therapist.pk)


def test_fees_page_sorts_by_session_and_filters_by_clinician_on_the_copies(
    client, front_desk, therapist, therapist2, practice
):
    make_policy(practice)
    mine = ClientFactory(practice=practice, clinician=therapist)
    theirs = ClientFactory(practice=practice, clinician=therapist2)
    _, older = _fee_for_no_show(mine, therapist, hours_ago=30)
    _, newer = _fee_for_no_show(theirs, therapist2, hours_ago=5)
    client.force_login(front_desk)
    page = client.get(reverse("policies:fees")).context["page"]
    assert [f.pk for f in page.object_list] == [newer.pk, older.pk]
    page = client.get(reverse("policies:fees"), {"clinician": therapist.pk}).context["page"]
    assert [f.pk for f in page.object_list] == [older.pk]
