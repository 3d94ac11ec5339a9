"""Moved to :mod:`crosssell_plugin.recommend.training`; importable from here as before."""

from .recommend.training import (
    NEXT_WINDOW_ORDERS,
    Progress,
    TrainingData,
    activate,
    artifact_name,
    catalog_arrays,
    count_order_pairs,
    item_text,
    load_training_data,
    rebase_pair_counts,
    stores_to_train,
    train_store,
)

__all__ = [
    "NEXT_WINDOW_ORDERS",
    "Progress",
    "TrainingData",
    "activate",
    "artifact_name",
    "catalog_arrays",
    "count_order_pairs",
    "item_text",
    "load_training_data",
    "rebase_pair_counts",
    "stores_to_train",
    "train_store",
]
