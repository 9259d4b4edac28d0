"""The data step of 0004_insight_ladder_from_plan: each practice's repeat threshold becomes its first ladder step."""

import importlib

import pytest
from django.apps import apps

from followups import services as followups
from policies.models import EscalationStep
from tests.factories import PracticeFactory, make_ladder

pytestmark = pytest.mark.django_db

migration = importlib.import_module("policies.migrations.0004_insight_ladder_from_plan")


def test_each_practice_gets_its_plans_threshold_or_the_old_default_once(practice, other_practice):
    plan = followups.plan_for(practice)
    plan.repeat_threshold, plan.repeat_window_days = 4, 366  # the old form allowed 366 days
    plan.save()
    already = PracticeFactory()
    make_ladder(already, (2, 30))

    migration.forwards(apps, None)
    migration.forwards(apps, None)  # and again: nothing added

    got = {(s.practice_id, s.count, s.window_days) for s in EscalationStep.objects.all()}
    assert got == {(practice.pk, 4, 365), (other_practice.pk, 3, 90), (already.pk, 2, 30)}
    step = EscalationStep.objects.get(practice=practice)
    assert step.title and "{first_name}" in step.script
