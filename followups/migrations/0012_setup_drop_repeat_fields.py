"""Drop the follow-up plan's repeat threshold and window: the ladder (policies.EscalationStep) replaced them.

After policies.0004_insight_ladder_from_plan, which copies them into each
practice's first ladder step and so must read them first.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0011_resp_reason_appointment_required"),
        ("policies", "0004_insight_ladder_from_plan"),
    ]

    operations = [
        migrations.RemoveField(model_name="followupplan", name="repeat_threshold"),
        migrations.RemoveField(model_name="followupplan", name="repeat_window_days"),
    ]
