"""Moved to :mod:`crosssell_plugin.channels.unsubscribe_views`; importable from here as before."""

from .channels.unsubscribe_views import (
    TEMPLATE,
    unsubscribe,
)

__all__ = [
    "TEMPLATE",
    "unsubscribe",
]
