"""Session length, buffer and start-time grid apart (issue 7, item 9).

An existing window's `slot_minutes` was both its session length and its
grid; it becomes the window's session length, kept as it was. Its buffer and
grid are left empty, so they follow the practice's defaults (10 minutes, half
hour): offered times move from 09:00, 09:50, 10:40 to 09:00, 10:00, 11:00.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("appointments", "0003_client_mention_exercises"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="availability", name="availability_slot_minutes_range"),
        migrations.RenameField(model_name="availability", old_name="slot_minutes", new_name="session_minutes"),
        migrations.AlterField(
            model_name="availability",
            name="session_minutes",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(15),
                    django.core.validators.MaxValueValidator(240),
                ],
                verbose_name="session length (minutes)",
            ),
        ),
        migrations.AddField(
            model_name="availability",
            name="buffer_minutes",
            field=models.PositiveSmallIntegerField(
                blank=True,
                null=True,
                validators=[django.core.validators.MaxValueValidator(120)],
                verbose_name="buffer between sessions (minutes)",
            ),
        ),
        migrations.AddField(
            model_name="availability",
            name="grid_minutes",
            field=models.PositiveSmallIntegerField(
                blank=True,
                choices=[(15, "quarter hour"), (30, "half hour"), (60, "hour")],
                null=True,
                verbose_name="start times every",
            ),
        ),
        migrations.AddConstraint(
            model_name="availability",
            constraint=models.CheckConstraint(
                condition=models.Q(("session_minutes__isnull", True))
                | models.Q(("session_minutes__gte", 15), ("session_minutes__lte", 240)),
                name="availability_session_minutes_range",
            ),
        ),
    ]
