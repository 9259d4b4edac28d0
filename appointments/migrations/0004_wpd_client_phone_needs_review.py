"""Client phones in E.164; numbers that do not parse are kept and flagged for staff.

The normalising function copies practice/phones.py on purpose: a migration
must keep doing what it did when it was written, whatever that helper
becomes. It never fails: anything it cannot read it leaves as it was.
"""

import phonenumbers
from django.db import migrations, models

BATCH = 500


def normalise(raw, country):
    """(E.164, True) for a usable number; (raw, False) for one staff must check; ("", True) for a blank."""
    raw = (raw or "").strip()
    if not raw:
        return "", True
    region = (country or "US").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = "US"
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return raw, False
    # An extension cannot receive a text: a message would reach a switchboard.
    if number.extension or not phonenumbers.is_valid_number(number):
        return raw, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


def normalise_client_phones(apps, schema_editor):
    Client = apps.get_model("appointments", "Client")
    changed = []
    clients = Client.objects.exclude(phone="").select_related("practice").only("id", "phone", "practice__country")
    for client in clients.iterator(chunk_size=BATCH):
        try:
            value, ok = normalise(client.phone, client.practice.country)
        except Exception:  # noqa: BLE001 - never fail a deploy on odd data; keep it for staff
            value, ok = client.phone, False
        value = value[:40]
        if value != client.phone or not ok:
            client.phone, client.phone_needs_review = value, not ok
            changed.append(client)
        if len(changed) >= BATCH:
            Client.objects.bulk_update(changed, ["phone", "phone_needs_review"])
            changed = []
    if changed:
        Client.objects.bulk_update(changed, ["phone", "phone_needs_review"])


class Migration(migrations.Migration):
    dependencies = [
        ("appointments", "0003_client_mention_exercises"),
        ("practice", "0002_practice_settings"),
    ]

    operations = [
        migrations.AddField(
            model_name="client",
            name="phone_needs_review",
            field=models.BooleanField(
                default=False,
                help_text="The number on file could not be read; no text messages go to it until staff correct it.",
                verbose_name="phone number needs checking",
            ),
        ),
        # Going back leaves the numbers in E.164, which the old code reads as well.
        migrations.RunPython(normalise_client_phones, migrations.RunPython.noop, elidable=True),
    ]
