"""Moved to :mod:`crosssell_plugin.tracking.views` (the click redirect); importable from here as before."""

from .tracking.views import click

__all__ = ["click"]
