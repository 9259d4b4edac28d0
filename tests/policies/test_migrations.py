"""The data step of 0002_wpc_fee_charged_under, run on rows as the old rule left them."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from aftercare import services as aftercare
from aftercare import tasks
from policies import services
from policies.models import FeeAssessment
from tests.factories import AppointmentFactory, ClientFactory, make_policy

pytestmark = pytest.mark.django_db

migration = importlib.import_module("policies.migrations.0002_wpc_fee_charged_under")


def fee(client, actor):
    appointment = AppointmentFactory(client=client, start=timezone.now() - timedelta(hours=1))
    event = aftercare.attendance_record(appointment_id=appointment.pk, outcome="no_show", actor=actor).event
    tasks.process_missed_session(event.pk)
    return FeeAssessment.objects.get(missed_session=event)


def test_old_fees_are_charged_under_their_version_unless_nothing_was_acknowledged(
    therapist, practice, client_of_therapist, front_desk
):
    no_policy = fee(ClientFactory(practice=practice, clinician=therapist), therapist)
    version = make_policy(practice)
    services.acknowledgement_record(client=client_of_therapist, version=version, method="paper", actor=front_desk)
    charged = fee(client_of_therapist, therapist)
    not_acknowledged = fee(ClientFactory(practice=practice, clinician=therapist), therapist)
    FeeAssessment.objects.update(charged_under=None)  # as the old schema left them

    migration.charged_under_from_version(apps, None)
    migration.charged_under_from_version(apps, None)  # and again: nothing changes

    got = {f.pk: f.charged_under_id for f in FeeAssessment.objects.all()}
    assert got == {no_policy.pk: None, charged.pk: version.pk, not_acknowledged.pk: None}
