"""The core's own receiver of ``purchase_recorded``, connected in ``CrossSellConfig.ready()``.

It runs the purchase pipeline (:func:`crosssell_plugin.ingest.pipeline.after_purchase`): one
function whose steps run in a fixed order, rather than several receivers whose order would be the
order they were connected in. The purchase is already recorded: the pipeline logs its failures
with the order and never raises.
"""

from __future__ import annotations

from typing import Any

from .tracking.attribution import attribute_order

__all__ = ["attribute_order", "run_purchase_pipeline"]


def run_purchase_pipeline(sender: Any, order: Any, **kwargs: Any) -> None:
    """``purchase_recorded`` -> :func:`~crosssell_plugin.ingest.pipeline.after_purchase`."""
    from .ingest.pipeline import after_purchase

    after_purchase(order)
