"""The URLs ``manage.py crosssell_shopify_demo`` serves its requests from: the Shopify app's, with
the extension endpoint giving a 10 % offer (as a project that wants offers routes it), and
crosssell's own (the tracked click links)."""

from decimal import Decimal

from django.urls import include, path

from .extension_views import ExtensionRecommendations

urlpatterns = [
    path(
        "shopify/extension/recommendations/",
        ExtensionRecommendations.as_view(offer_percent=Decimal("10"), offer_days=7),
        name="demo_extension_recommendations",
    ),
    path("shopify/", include("integrations.shopify.urls")),
    path("crosssell/", include("crosssell_plugin.urls")),
]
