"""Moved to :mod:`crosssell_plugin.channels.unsubscribe`; importable from here as before."""

from .channels.unsubscribe import (
    SOURCE_LINK,
    SOURCE_ONE_CLICK,
    UNSUBSCRIBE_SALT,
    customer_of,
    unsubscribe,
    unsubscribe_token,
    unsubscribe_url,
)

__all__ = [
    "SOURCE_LINK",
    "SOURCE_ONE_CLICK",
    "UNSUBSCRIBE_SALT",
    "customer_of",
    "unsubscribe",
    "unsubscribe_token",
    "unsubscribe_url",
]
