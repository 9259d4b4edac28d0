import django.db.models.deletion
from django.db import migrations, models
from django.db.models import F


def charged_under_from_version(apps, schema_editor):
    """Under the old rule a fee was judged only under the version in force, and
    only if the client had acknowledged it: that version is the one charged
    under, except where nothing was acknowledged or no policy was in force.
    A single UPDATE: it cannot fail on odd rows (a null version stays null)."""
    FeeAssessment = apps.get_model("policies", "FeeAssessment")
    FeeAssessment.objects.filter(charged_under__isnull=True, policy_version__isnull=False).exclude(
        rule__in=["not_acknowledged", "no_policy"]
    ).update(charged_under=F("policy_version"))


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="feeassessment",
            name="charged_under",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="fees_charged",
                to="policies.policyversion",
            ),
        ),
        migrations.RunPython(charged_under_from_version, migrations.RunPython.noop),
    ]
