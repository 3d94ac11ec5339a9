"""The default cross-sell path for every existing store, disabled: the classic cadence of a soft
upsell within the first hour, a bundle at 24 hours and a loyalty nudge at 7 days, by email.
(Stores created later get the same path when they are created.)"""

from datetime import timedelta

from django.db import migrations

NAME = "Classic follow-up (1 hour, 24 hours, 7 days)"
STEPS = (
    (1, "Soft upsell", timedelta(hours=1), "soft_upsell", "Picked for you after your order"),
    (2, "Bundle", timedelta(hours=24), "bundle", "Complete your collection"),
    (3, "Loyalty nudge", timedelta(days=7), "loyalty", "Something new for you"),
)


def install(apps, schema_editor):
    Store = apps.get_model("crosssell", "Store")
    Path = apps.get_model("crosssell", "Path")
    Step = apps.get_model("crosssell", "Step")
    for store in Store.objects.all():
        path, created = Path.objects.get_or_create(store=store, name=NAME, defaults={"enabled": False})
        if created:
            Step.objects.bulk_create(
                Step(path=path, position=n, name=name, delay=delay, channel="email", template=template, subject=subject)
                for n, name, delay, template, subject in STEPS
            )


def uninstall(apps, schema_editor):
    apps.get_model("crosssell", "Path").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crosssell", "0007_followups"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
