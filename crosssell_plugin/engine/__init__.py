"""Recommendation algorithms: pure numpy/scipy, no Django (benchmarkable on a CSV)."""

from .content import ItemText
from .interactions import Interactions
from .model import HybridModel, Params, Request, Task

__all__ = ["HybridModel", "Interactions", "ItemText", "Params", "Request", "Task"]
