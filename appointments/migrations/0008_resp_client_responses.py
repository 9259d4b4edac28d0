from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("appointments", "0007_wpk_confirmed_and_reminder_opt_out"),
    ]

    operations = [
        migrations.AddField(
            model_name="appointment",
            name="client_responded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="appointment",
            name="client_response",
            field=models.CharField(
                blank=True,
                choices=[("", "No answer"), ("cant_make_it", "Can't make it"), ("moved", "Moved by client")],
                db_default="",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="noshowevent",
            name="told_by_client",
            field=models.BooleanField(db_default=False, default=False),
        ),
    ]
