"""The data step of 0004_insight_ladder_from_plan: each practice's repeat threshold becomes its first ladder step.

The plan's repeat columns are gone since followups.0012_setup_drop_repeat_fields,
so the test takes the database back to just before 0004, runs it, and goes
forward again (a transactional test: schema changes cannot be rolled back).
"""

from importlib import import_module

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from policies.models import EscalationStep as Step

# The practice app at its newest: its later columns (sms_from_number) exist in the database either way.
PRACTICE = ("practice", "0007_prov_sms_from_number")
BEFORE = [
    ("policies", "0003_insight_escalation_steps"),
    ("followups", "0011_resp_reason_appointment_required"),
    PRACTICE,
]
AT = [("policies", "0004_insight_ladder_from_plan"), PRACTICE]


@pytest.mark.django_db(transaction=True)
def test_each_practice_gets_its_plans_threshold_or_the_old_default_once():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Practice = old.get_model("practice", "Practice")
    FollowUpPlan = old.get_model("followups", "FollowUpPlan")
    EscalationStep = old.get_model("policies", "EscalationStep")
    with_plan = Practice.objects.create(name="With plan", sender_name="Office A")
    without = Practice.objects.create(name="Without plan", sender_name="Office B")
    already = Practice.objects.create(name="Already", sender_name="Office C")
    # The old form allowed 366 days: clamped to the ladder's 365.
    FollowUpPlan.objects.create(practice=with_plan, repeat_threshold=4, repeat_window_days=366)
    EscalationStep.objects.create(practice=already, count=2, window_days=30, title="Check in")

    executor = MigrationExecutor(connection)
    executor.migrate(AT)
    migrated = executor.loader.project_state(AT).apps
    import_module("policies.migrations.0004_insight_ladder_from_plan").forwards(migrated, None)  # again: nothing added
    steps = migrated.get_model("policies", "EscalationStep").objects.all()
    got = {(s.practice_id, s.count, s.window_days) for s in steps}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert got == {(with_plan.pk, 4, 365), (without.pk, 3, 90), (already.pk, 2, 30)}
    step = Step.objects.get(practice_id=with_plan.pk)
    assert step.title and "{first_name}" in step.script
