import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crosssell_shopify", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ShopifySyncState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "catalog_synced_at",
                    models.DateTimeField(blank=True, help_text="When the last full catalogue read started.", null=True),
                ),
                (
                    "orders_synced_at",
                    models.DateTimeField(
                        blank=True, help_text="Orders updated before this time have been read.", null=True
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "shop",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sync_state",
                        to="crosssell_shopify.shopifyshop",
                    ),
                ),
            ],
            options={
                "verbose_name": "Shopify sync state",
            },
        ),
    ]
