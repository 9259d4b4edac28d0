"""Reasons told after a miss get a session of their own (package resp): the data migration fills it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("followups", "0009_catch_up_after_an_outage"), ("appointments", "0008_resp_client_responses")]
AFTER = [("followups", "0011_resp_reason_appointment_required")]


@pytest.mark.django_db(transaction=True)
def test_each_old_reason_gets_its_missed_session_s_appointment(practice, therapist, client_of_therapist):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Appointment = old.get_model("appointments", "Appointment")
    NoShowEvent = old.get_model("appointments", "NoShowEvent")
    MissReason = old.get_model("followups", "MissReason")
    now = timezone.now()
    appointment = Appointment.objects.create(
        practice_id=practice.pk,
        client_id=client_of_therapist.pk,
        clinician_id=therapist.pk,
        start=now - timedelta(hours=2),
        end=now - timedelta(hours=1),
        status="no_show",
    )
    event = NoShowEvent.objects.create(
        practice_id=practice.pk, appointment=appointment, kind="no_show", recorded_at=now
    )
    MissReason.objects.create(practice_id=practice.pk, missed_session=event, reason="forgot")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    # Leave the schema as the other tests expect it.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    [reason] = new.get_model("followups", "MissReason").objects.all()
    assert (reason.appointment_id, reason.missed_session_id, reason.reason) == (appointment.pk, event.pk, "forgot")
