"""Moved to :mod:`crosssell_plugin.tracking` (the links in :mod:`~crosssell_plugin.tracking.tokens`, the
view in :mod:`~crosssell_plugin.tracking.views`); importable from here as before."""

from .tracking.tokens import key_of, short_click_url, short_code
from .tracking.views import short_click

__all__ = ["key_of", "short_click", "short_click_url", "short_code"]
