"""The demo's URLs plus the Shopify install flow, as a host project includes it (the demo itself
does not install the Shopify app)."""

from django.urls import include, path

from shop.urls import urlpatterns as demo_urlpatterns

urlpatterns = [path("shopify/", include("integrations.shopify.urls")), *demo_urlpatterns]
