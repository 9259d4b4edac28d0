"""seed_demo gives every chart on Insights something to show."""

import os
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from insights import selectors
from practice.models import Membership

pytestmark = pytest.mark.django_db


def test_the_demo_makes_every_insights_figure_meaningful():
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    front = Membership.objects.get(user__username="frontdesk")
    today = timezone.localdate()
    scope = selectors.scope_for(front, first=today - timedelta(days=89), last=today, clinician_id=None)
    figures = {f.key: f for f in selectors.insights(scope, compare=True)}
    assert len(figures["weekly"].rows) >= 10
    for key, figure in figures.items():
        assert figure.rows, key
        assert any(not rate.too_few for row in figure.rows for rate in row.rates), key
    assert len(figures["followups"].rows) >= 3  # all misses, and messages by step and wording version
    assert {row.label.split(":")[0] for row in figures["fees"].rows} >= {"Charged", "Not charged"}
    confirmed, _, when_confirmed, when_not = figures["reminders"].rows
    assert confirmed.rates[0].count and when_confirmed.rates[0].total and when_not.rates[0].total
