"""The admin a store owner uses to see what crosssell recorded, one module per area.

Importing this package registers every ModelAdmin (Django's admin autodiscovery imports
``crosssell_plugin.admin``); the names below are importable from here as before.
"""

from .catalog import ConsumptionAdmin, ItemAdmin, OrderAdmin, OrderLineInline, RefundAdmin, RefundInline
from .common import FullyReadOnlyMixin, RawPayloadMixin, ReadOnlyMixin
from .customers import ConsentListFilter, CustomerAdmin, CustomerConsentInline
from .deliveries import WebhookDeliveryAdmin
from .followups import PREVIEW_ORDER_CHOICES, PathAdmin, ScheduledMessageAdmin, StepAdmin, StepInline, build_preview
from .forms import StoreForm
from .recommend import ModelVersionAdmin, PairCountAdmin
from .stores import ApiKeyAdmin, StoreAdmin
from .tracking import ClickAdmin, ConversionAdmin, ImpressionAdmin, ImpressionFactsMixin

__all__ = [
    "PREVIEW_ORDER_CHOICES",
    "ApiKeyAdmin",
    "ClickAdmin",
    "ConsentListFilter",
    "ConsumptionAdmin",
    "ConversionAdmin",
    "CustomerAdmin",
    "CustomerConsentInline",
    "FullyReadOnlyMixin",
    "ImpressionAdmin",
    "ImpressionFactsMixin",
    "ItemAdmin",
    "ModelVersionAdmin",
    "OrderAdmin",
    "OrderLineInline",
    "PairCountAdmin",
    "PathAdmin",
    "RawPayloadMixin",
    "ReadOnlyMixin",
    "RefundAdmin",
    "RefundInline",
    "ScheduledMessageAdmin",
    "StepAdmin",
    "StepInline",
    "StoreAdmin",
    "StoreForm",
    "WebhookDeliveryAdmin",
    "build_preview",
]
