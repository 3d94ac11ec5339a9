from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "integrations.stripe"
    label = "crosssell_stripe"
    verbose_name = "Cross-sell for Stripe Checkout"
    default_auto_field = "django.db.models.BigAutoField"
    crosssell_adapter = "integrations.stripe.adapter.StripeAdapter"

    def ready(self) -> None:
        try:
            import cryptography  # noqa: F401
            import stripe  # noqa: F401
        except ImportError as err:
            from crosssell_plugin.exceptions import ImproperlyInstalled

            raise ImproperlyInstalled(err.name or "stripe", "stripe") from None
        from . import tasks  # noqa: F401  (registers crosssell.process_delivery with the worker)
