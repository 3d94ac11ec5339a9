"""The demo's URLs plus the Shopify app's (install flow, extension endpoint, App Proxy), as a host
project includes them (the demo itself does not install the Shopify app); and the extension
endpoint once more, as a project that gives offers routes it (and as one that got the offer wrong)."""

from decimal import Decimal

from django.urls import include, path

from integrations.shopify.extension_views import ExtensionRecommendations
from shop.urls import urlpatterns as demo_urlpatterns

urlpatterns = [
    path("shopify/", include("integrations.shopify.urls")),
    path(
        "offers/shopify/extension/recommendations/",
        ExtensionRecommendations.as_view(offer_percent=Decimal("10"), offer_days=7),
        name="extension_with_offers",
    ),
    path(  # a misconfigured offer: more than 100 %
        "bad-offer/shopify/extension/recommendations/",
        ExtensionRecommendations.as_view(offer_percent=Decimal("150")),
        name="extension_with_a_bad_offer",
    ),
    *demo_urlpatterns,
]
