from django.apps import AppConfig
from django.core import checks


class CrossSellConfig(AppConfig):
    name = "crosssell_plugin"
    label = "crosssell"
    verbose_name = "Cross-sell"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .checks import check_settings

        checks.register(check_settings, checks.Tags.compatibility)
