"""What the client told us reads a client's STOP / START texts without reading every view of their
record: each view is an audit row of the same client (issue 11, the client page at scale)."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from engagement import selectors
from practice.models import AuditEvent
from practice.services import audit_record
from tests.factories import ClientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's plan"),
]


def _audit_rows_read(plan: dict) -> int:
    """Rows the plan's nodes on the audit table returned or filtered away."""
    total = 0
    if plan.get("Relation Name") == "practice_auditevent":
        total += plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1) + plan.get("Rows Removed by Filter", 0)
    for child in plan.get("Plans", []):
        total += _audit_rows_read(child)
    return total


def test_a_much_viewed_client_s_replies_read_only_their_texts(practice, therapist):
    client = ClientFactory(practice=practice, clinician=therapist)
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            practice=practice,
            action="client.viewed",
            object_type="client",
            object_id=client.pk,
            client_ref=client.pk,
            at=now,
        )
        for _ in range(5000)
    )
    audit_record(practice=practice, actor=None, action="client.sms_opted_out", obj=client, client_id=client.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE practice_auditevent")
        query = selectors._replies_query(client_id=client.pk, practice_id=practice.pk)
        sql, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _audit_rows_read(plan[0]["Plan"]) <= 5
    assert [r.kind for r in selectors.client_replies(client=client)] == ["sms_opted_out"]
