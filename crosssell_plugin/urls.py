"""crosssell's URLs. Include them in the project: ``path("crosssell/", include("crosssell_plugin.urls"))``."""

from django.urls import include, path

from . import platforms, short_links, unsubscribe_views, views
from .channels import sms_inbound

app_name = "crosssell"

urlpatterns = [
    path("r/<str:token>/", views.click, name="click"),
    path("u/<str:token>/", unsubscribe_views.unsubscribe, name="unsubscribe"),
    path("s/<str:code>/", short_links.short_click, name="short-click"),
    path("api/v1/", include("crosssell_plugin.api.urls")),
    path("sms/inbound/", sms_inbound.inbound, name="sms-inbound"),
    path("webhooks/<slug:platform>/<str:store_key>/", platforms.webhook, name="webhook"),
]
