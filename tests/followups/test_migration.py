"""The one-outbox migration maps old-shaped rows and never fails on odd ones."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("followups", "0002_alter_followupplan_mention_exercises")]
AFTER = [("followups", "0003_wpa_one_outbox_one_link")]


@pytest.mark.django_db(transaction=True)
def test_old_outbox_rows_and_rescheduling_links_are_mapped(practice, therapist, client_of_therapist):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Appointment = old.get_model("appointments", "Appointment")
    NoShowEvent = old.get_model("appointments", "NoShowEvent")
    OutboxMessage = old.get_model("followups", "OutboxMessage")
    RescheduleLink = old.get_model("followups", "RescheduleLink")
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
    common = {"practice_id": practice.pk, "missed_session": event, "client_id": client_of_therapist.pk}
    OutboxMessage.objects.create(
        **common,
        step="first",
        kind="first",
        channel="email",
        status="cancelled",
        due_at=now,
        cancel_reason="The client rescheduled",
    )
    OutboxMessage.objects.create(
        **common,
        step="second",
        kind="second",
        channel="email",
        status="cancelled",
        due_at=now,
        cancel_reason="Something nobody wrote down",
    )
    RescheduleLink.objects.create(
        practice_id=practice.pk, missed_session=event, token_hash="a" * 64, expires_at=now + timedelta(days=14)
    )
    RescheduleLink.objects.update(created_at=now - timedelta(days=2))

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    # Leave the schema as the other tests expect it, whatever migrations come after this one.
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    rows = {m.step: m for m in new.get_model("followups", "OutboxMessage").objects.all()}
    assert rows["first"].idempotency_key == f"followup:{event.pk}:first"
    assert (rows["first"].purpose, rows["first"].cancel_code) == ("followup", "rebooked")
    assert rows["second"].cancel_code == "other"
    [link] = new.get_model("followups", "ClientLink").objects.all()
    assert link.created_at == now - timedelta(days=2)
    assert (link.purpose, link.client_id, link.missed_session_id, link.token_hash) == (
        "rebook",
        client_of_therapist.pk,
        event.pk,
        "a" * 64,
    )
