from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crosssell_shopify", "0004_shopifydatarequest"),
    ]

    operations = [
        migrations.AddField(
            model_name="shopifysyncstate",
            name="running_since",
            field=models.DateTimeField(
                blank=True, help_text="When the sync running now started (empty = none is running).", null=True
            ),
        ),
    ]
