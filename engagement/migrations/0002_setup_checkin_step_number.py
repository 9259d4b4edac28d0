"""Each check-in task says which step of the ladder gave it (Today shows "Step 2")."""

from django.db import migrations, models


def backfill(apps, schema_editor):
    """Tasks given before this field: the step's place on its ladder now (1 if the step was removed)."""
    CheckInTask = apps.get_model("engagement", "CheckInTask")
    EscalationStep = apps.get_model("policies", "EscalationStep")
    places = {}
    for practice_id in CheckInTask.objects.values_list("practice_id", flat=True).distinct():
        steps = EscalationStep.objects.filter(practice_id=practice_id).order_by("count", "window_days", "id")
        places.update({pk: n for n, pk in enumerate(steps.values_list("pk", flat=True), start=1)})
    for task in CheckInTask.objects.exclude(step=None).only("pk", "step_id"):
        CheckInTask.objects.filter(pk=task.pk).update(step_number=places.get(task.step_id, 1))


class Migration(migrations.Migration):
    dependencies = [
        ("engagement", "0001_insight_engagement"),
        ("policies", "0004_insight_ladder_from_plan"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkintask",
            name="step_number",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
