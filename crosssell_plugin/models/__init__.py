"""crosssell's models, one module per aggregate. Every row belongs to a Store (the tenant)."""

from .api import ApiKey
from .catalog import Item
from .customer import Customer, CustomerConsent
from .order import Consumption, Order, OrderLine, Refund
from .recommendation import ModelVersion, PairCount, PairCountedOrder
from .store import Store
from .tracking import Click, Conversion, Impression

__all__ = [
    "ApiKey",
    "Click",
    "Consumption",
    "Conversion",
    "Customer",
    "CustomerConsent",
    "Impression",
    "Item",
    "ModelVersion",
    "Order",
    "OrderLine",
    "PairCount",
    "PairCountedOrder",
    "Refund",
    "Store",
]
