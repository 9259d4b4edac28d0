"""Each practice's follow-up repeat threshold and window become the first step of its ladder.

Before the ladder, `FollowUpPlan.repeat_threshold` in `repeat_window_days`
(3 in 90 by default, also for a practice that never saved its plan) decided
the repeat-miss wording. The ladder is now the one definition, so every
practice starts with a step that keeps today's wording exactly as it was.
"""

from django.db import migrations

DEFAULT_COUNT, DEFAULT_WINDOW = 3, 90
TITLE = "Suggest a conversation about what would help"
SCRIPT = (
    "Hi {first_name}, I've noticed a few of our sessions haven't worked out lately, and I wanted to check in. "
    "Would something else suit you better: a different time, meeting by video, or meeting more or less often? "
    "There's no wrong answer; I'd like our sessions to fit your life."
)


def forwards(apps, schema_editor):
    Practice = apps.get_model("practice", "Practice")
    FollowUpPlan = apps.get_model("followups", "FollowUpPlan")
    EscalationStep = apps.get_model("policies", "EscalationStep")
    plans = {p.practice_id: p for p in FollowUpPlan.objects.all()}
    for practice in Practice.objects.all():
        if EscalationStep.objects.filter(practice=practice).exists():
            continue
        plan = plans.get(practice.pk)
        count = min(max(plan.repeat_threshold, 2), 20) if plan else DEFAULT_COUNT
        window = min(max(plan.repeat_window_days, 1), 365) if plan else DEFAULT_WINDOW
        EscalationStep.objects.create(practice=practice, count=count, window_days=window, title=TITLE, script=SCRIPT)


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0003_insight_escalation_steps"),
        ("followups", "0009_catch_up_after_an_outage"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
