"""crosssell's models, one module per aggregate. Every row belongs to a Store (the tenant)."""

from .api import ApiKey
from .catalog import Item
from .customer import Customer, CustomerConsent
from .experiment import HOLDOUT_LAYER, Arm, Assignment, Experiment
from .followup import ChannelChoice, InAppMessage, Path, ScheduledMessage, Step
from .metrics import ArmDay, PairStat, PlacementDay, RollupRun, StepDay
from .order import Consumption, Order, OrderLine, Refund
from .recommendation import ModelVersion, PairCount, PairCountedOrder
from .store import Store
from .tracking import Click, Conversion, Impression
from .webhooks import WebhookDelivery

__all__ = [
    "HOLDOUT_LAYER",
    "ApiKey",
    "Arm",
    "ArmDay",
    "Assignment",
    "ChannelChoice",
    "Click",
    "Consumption",
    "Conversion",
    "Customer",
    "CustomerConsent",
    "Experiment",
    "Impression",
    "InAppMessage",
    "Item",
    "ModelVersion",
    "Order",
    "OrderLine",
    "PairCount",
    "PairCountedOrder",
    "PairStat",
    "Path",
    "PlacementDay",
    "Refund",
    "RollupRun",
    "ScheduledMessage",
    "Step",
    "StepDay",
    "Store",
    "WebhookDelivery",
]
