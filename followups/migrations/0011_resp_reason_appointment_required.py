# A migration of its own after the data step: PostgreSQL refuses to alter a table
# with pending trigger events from updates in the same transaction.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("followups", "0010_resp_reasons_for_any_session"),
    ]

    operations = [
        migrations.AlterField(
            model_name="missreason",
            name="appointment",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="client_reasons",
                to="appointments.appointment",
            ),
        ),
    ]
