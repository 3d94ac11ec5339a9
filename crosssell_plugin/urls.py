"""crosssell's URLs. Include them in the project: ``path("crosssell/", include("crosssell_plugin.urls"))``."""

from django.urls import include, path

from . import platforms
from .channels import unsubscribe_views
from .channels.sms.inbound import inbound as sms_inbound
from .tracking import views as tracking_views

app_name = "crosssell"

urlpatterns = [
    path("r/<str:token>/", tracking_views.click, name="click"),
    path("u/<str:token>/", unsubscribe_views.unsubscribe, name="unsubscribe"),
    path("s/<str:code>/", tracking_views.short_click, name="short-click"),
    path("api/v1/", include("crosssell_plugin.api.urls")),
    path("sms/inbound/", sms_inbound, name="sms-inbound"),
    path("webhooks/<slug:platform>/<str:store_key>/", platforms.webhook, name="webhook"),
]
