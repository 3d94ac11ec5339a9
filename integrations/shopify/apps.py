from django.apps import AppConfig
from django.core import checks


class ShopifyIntegrationConfig(AppConfig):
    name = "integrations.shopify"
    label = "crosssell_shopify"
    verbose_name = "Cross-sell for Shopify"
    default_auto_field = "django.db.models.BigAutoField"
    crosssell_adapter = "integrations.shopify.adapter.ShopifyAdapter"

    def ready(self) -> None:
        try:
            import cryptography  # noqa: F401  (tokens are encrypted at rest)
            import jwt  # noqa: F401  (session tokens; PyJWT comes with shopifyapi)
        except ImportError as err:
            from crosssell_plugin.exceptions import ImproperlyInstalled

            raise ImproperlyInstalled(err.name or "shopifyapi", "shopify") from None
        from . import sync_state  # noqa: F401  (its model, ShopifySyncState, lives outside models.py)
        from .checks import check_shopify_options

        checks.register(check_shopify_options, checks.Tags.compatibility)
