"""The admin a store owner uses to see what crosssell recorded, one module per area.

Importing this package registers every ModelAdmin (Django's admin autodiscovery imports
``crosssell_plugin.admin``); the names below are importable from here as before.
"""

from .catalog import ConsumptionAdmin, ItemAdmin, OrderAdmin, OrderLineInline, RefundAdmin, RefundInline
from .common import FullyReadOnlyMixin, RawPayloadMixin, ReadOnlyMixin
from .customers import ConsentListFilter, CustomerAdmin, CustomerConsentInline
from .deliveries import WebhookDeliveryAdmin
from .experiments import ArmInline, AssignmentAdmin, ExperimentAdmin
from .followups import PREVIEW_ORDER_CHOICES, PathAdmin, ScheduledMessageAdmin, StepAdmin, StepInline, build_preview
from .forms import PathForm, StepForm, StoreForm, format_delay, parse_delay
from .recommend import ModelVersionAdmin, PairCountAdmin
from .stores import ApiKeyAdmin, StoreAdmin
from .tracking import ClickAdmin, ConversionAdmin, ImpressionAdmin, ImpressionFactsMixin

__all__ = [
    "PREVIEW_ORDER_CHOICES",
    "ApiKeyAdmin",
    "ArmInline",
    "AssignmentAdmin",
    "ClickAdmin",
    "ConsentListFilter",
    "ConsumptionAdmin",
    "ConversionAdmin",
    "CustomerAdmin",
    "CustomerConsentInline",
    "ExperimentAdmin",
    "FullyReadOnlyMixin",
    "ImpressionAdmin",
    "ImpressionFactsMixin",
    "ItemAdmin",
    "ModelVersionAdmin",
    "OrderAdmin",
    "OrderLineInline",
    "PairCountAdmin",
    "PathAdmin",
    "PathForm",
    "RawPayloadMixin",
    "ReadOnlyMixin",
    "RefundAdmin",
    "RefundInline",
    "ScheduledMessageAdmin",
    "StepAdmin",
    "StepForm",
    "StepInline",
    "StoreAdmin",
    "StoreForm",
    "WebhookDeliveryAdmin",
    "build_preview",
    "format_delay",
    "parse_delay",
]
