"""Impression.key: a random UUID per impression, unique (added empty, filled, then required)."""

import uuid

from django.db import migrations, models


def fill_keys(apps, schema_editor):
    Impression = apps.get_model("crosssell", "Impression")
    rows = list(Impression.objects.filter(key__isnull=True).only("pk"))
    for row in rows:
        row.key = uuid.uuid4()
    Impression.objects.bulk_update(rows, ["key"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("crosssell", "0005_item_unavailable_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="impression",
            name="key",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="impression",
            name="key",
            field=models.UUIDField(
                default=uuid.uuid4,
                editable=False,
                help_text="Chosen when the block is rendered; in its links.",
                unique=True,
            ),
        ),
    ]
