"""The install flow's URLs. The project includes them where Shopify's app URL and redirect URI
point, e.g. ``path("shopify/", include("integrations.shopify.urls"))`` gives
``/shopify/install/`` (the App URL) and ``/shopify/callback/`` (the allowed redirection URL), the
endpoint of the Thank-you and Order-status blocks, ``/shopify/extension/recommendations/``, and the
App Proxy's ``/shopify/proxy/recommendations/`` (proxy URL ``{APP_URL}/shopify/proxy/``)."""

from django.urls import path

from . import extension_views, proxy, views

app_name = "crosssell_shopify"

urlpatterns = [
    path("install/", views.install, name="install"),
    path("callback/", views.callback, name="callback"),
    path("extension/recommendations/", extension_views.recommendations, name="extension_recommendations"),
    path("proxy/recommendations/", proxy.recommendations, name="proxy_recommendations"),
]
