from django.apps import AppConfig
from django.core import checks


class CrossSellConfig(AppConfig):
    name = "crosssell_plugin"
    label = "crosssell"
    verbose_name = "Cross-sell"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers
        from .checks import check_settings
        from .signals import purchase_recorded

        checks.register(check_settings, checks.Tags.compatibility)
        purchase_recorded.connect(receivers.count_new_purchase, dispatch_uid="crosssell.count_new_purchase")
        purchase_recorded.connect(receivers.compute_ahead, dispatch_uid="crosssell.compute_ahead")
        purchase_recorded.connect(receivers.attribute_purchase, dispatch_uid="crosssell.attribute_purchase")
