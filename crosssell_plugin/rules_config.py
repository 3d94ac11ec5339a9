"""Moved to :mod:`crosssell_plugin.recommend.rules_config`; importable from here as before."""

from .recommend.rules_config import (
    effective_rules,
    rules_for,
)

__all__ = [
    "effective_rules",
    "rules_for",
]
