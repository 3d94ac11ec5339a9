"""The install flow's URLs. The project includes them where Shopify's app URL and redirect URI
point, e.g. ``path("shopify/", include("integrations.shopify.urls"))`` gives
``/shopify/install/`` (the App URL) and ``/shopify/callback/`` (the allowed redirection URL)."""

from django.urls import path

from . import views

app_name = "crosssell_shopify"

urlpatterns = [
    path("install/", views.install, name="install"),
    path("callback/", views.callback, name="callback"),
]
