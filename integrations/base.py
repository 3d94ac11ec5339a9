"""The adapter contract, at the path integrations import it from.

Everything here lives in :mod:`crosssell_plugin.platforms` (the core owns the contract and the
registry); this module only re-exports it.
"""

from crosssell_plugin.platforms import (
    Capability,
    DeliveryInfo,
    Event,
    InboundDelivery,
    PlatformAdapter,
    RetryLater,
    Unreadable,
    WebhookValidationFailure,
    adapter_classes,
    get_adapter,
    get_platform,
    installed_platforms,
    parse_store_arg,
    platform_order_ref,
    site_store_ref,
)

__all__ = [
    "Capability",
    "DeliveryInfo",
    "Event",
    "InboundDelivery",
    "PlatformAdapter",
    "RetryLater",
    "Unreadable",
    "WebhookValidationFailure",
    "adapter_classes",
    "get_adapter",
    "get_platform",
    "installed_platforms",
    "parse_store_arg",
    "platform_order_ref",
    "site_store_ref",
]
