"""Version 1 of the API, included by ``crosssell_plugin.urls`` under ``api/v1/``."""

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView

from . import inbox, views
from .views import metrics

app_name = "api"

urlpatterns = [
    path("recommendations/order/<path:external_id>/", views.OrderRecommendations.as_view(), name="order-recs"),
    # path: an address may contain a slash, and any text gets the API's JSON 404, not the site's page
    path("recommendations/customer/<path:email>/", views.CustomerRecommendations.as_view(), name="customer-recs"),
    path("recommendations/item/<path:external_id>/", views.ItemRecommendations.as_view(), name="item-recs"),
    path("catalog/items/", views.CatalogItems.as_view(), name="catalog-items"),
    path("events/click/", views.ClickEvent.as_view(), name="click-event"),
    path("events/impressions/", views.ImpressionEvent.as_view(), name="impression-event"),
    path("customers/<path:email>/messages/", inbox.CustomerMessages.as_view(), name="customer-messages"),
    path(
        "customers/<path:email>/messages/<str:message_id>/read/", inbox.MarkMessageRead.as_view(), name="message-read"
    ),
    path("metrics/", metrics.Metrics.as_view(), name="metrics"),
    path("metrics/<str:table>.csv", metrics.MetricsTable.as_view(), name="metrics-table"),
    # schema=None: the schema document is not itself an operation of the API it describes
    path("schema/", SpectacularAPIView.as_view(schema=None), name="schema"),
    # anything else under the API (an id with a line break, say) is the API's JSON 404, not the site's page
    re_path(r"^[\s\S]*\Z", csrf_exempt(lambda request, *args, **kwargs: not_found(request)), name="not-found"),
]


def not_found(request: HttpRequest) -> JsonResponse:
    """Any method: the API takes no cookie-authenticated writes here, so no CSRF page either."""
    return JsonResponse({"detail": "Not found."}, status=404)
