"""The API's views, by area: :mod:`.recommendations`, :mod:`.catalog`, :mod:`.events` (clicks and
impressions), on :mod:`.base`. Every query is scoped to ``request.store`` (set by
:class:`~crosssell_plugin.api.authentication.HasStore`). Everything is importable from here as before."""

from .base import ERRORS, NOT_FOUND, RETRY_AFTER, StoreAPIView, StoreAutoSchema, documented, first_match, invalid
from .catalog import CatalogItems, CatalogPagination
from .events import BAD_LINK, ClickEvent, ImpressionEvent
from .recommendations import CustomerRecommendations, ItemRecommendations, OrderRecommendations

__all__ = [
    "BAD_LINK",
    "ERRORS",
    "NOT_FOUND",
    "RETRY_AFTER",
    "CatalogItems",
    "CatalogPagination",
    "ClickEvent",
    "CustomerRecommendations",
    "ImpressionEvent",
    "ItemRecommendations",
    "OrderRecommendations",
    "StoreAPIView",
    "StoreAutoSchema",
    "documented",
    "first_match",
    "invalid",
]
