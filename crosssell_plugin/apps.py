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
        # one receiver: the purchase pipeline runs its steps in a fixed order (ingest/pipeline.py)
        purchase_recorded.connect(receivers.run_purchase_pipeline, dispatch_uid="crosssell.purchase_pipeline")
        self._connect_followups()

    def _connect_followups(self) -> None:
        """Follow-up paths (planned by the purchase pipeline): cancel on refunds, conversions and
        withdrawn consent, a default path per new store."""
        from django.db.models.signals import post_save

        from .followups import defaults, guards
        from .models import Conversion, Store
        from .signals import consent_withdrawn, refund_recorded

        refund_recorded.connect(guards.cancel_on_refund, dispatch_uid="crosssell.followups_refund")
        consent_withdrawn.connect(guards.cancel_on_consent_withdrawn, dispatch_uid="crosssell.followups_consent")
        post_save.connect(guards.cancel_on_conversion, sender=Conversion, dispatch_uid="crosssell.followups_conversion")
        post_save.connect(defaults.store_created, sender=Store, dispatch_uid="crosssell.default_path")
