"""Recommendations for an order, a customer or an item: the trained model plus the store's rules.

``for_order`` (the thank-you page), ``for_customer`` (the next order, e.g. in a follow-up email)
and ``for_item`` (an item page, a guest) return :class:`Recommendation` objects with the item,
its score and true reasons in data and in plain English.

How a call is served:

1. :func:`get_model` returns the store's active model from a per-process cache. At most every
   ``CROSSSELL["MODEL_CHECK_SECONDS"]`` (30; 0 = every call) it asks the database which version
   is active and loads a new one lazily from ``default_storage``, checking its SHA-256 and the
   artifact's own checksum. A corrupt artifact is logged, its version marked ``rejected`` and the
   previous version re-activated (rollback); the process keeps serving what it had loaded.
2. The request (trigger, history) is scored by the engine with the pair counts recorded since the
   model's ``trained_until`` added (``Request.extra``), restricted to items available *now* and
   not owned, then re-ranked by :func:`crosssell_plugin.engine.rules.rerank` and explained.
3. Cold start: with no trained model (or when the trigger is an item newer than the model and
   there is no other evidence) the store's most popular available items are returned (by number
   of orders; those of the trigger's kind first when there is one), each with a "popular" reason.
4. Every list is filled to ``limit`` while the store has eligible items (the store's rules,
   :func:`crosssell_plugin.recommend.rules_config.rules_for`, reorder and never shorten it): the model's
   results, then popular items, then the store's other available items (newest first, no
   reason). Items beyond their kind's soft cap come after the others, so a popular film takes
   the place of a second T-shirt; a store selling one kind is not capped at all.

Every query is scoped to the store of the order, customer or item. Results are deterministic.

The package, by step: :mod:`.loading` (the model cache), :mod:`.history` (what a customer
bought and watched), :mod:`.scoring` (the calls and the engine's pool), :mod:`.reasons`
(explanations), :mod:`.popular` (cold start and filling), :mod:`.ahead` (computed when a
purchase is recorded), :mod:`.training` and :mod:`.rules_config`; its Celery tasks in
:mod:`.tasks`. Pages, the API and messages ask through :mod:`crosssell_plugin.surfaces.serve`.
"""

from .ahead import AHEAD, compute_ahead, for_order_ahead, summary_ahead
from .history import CustomerHistory, SharedReads, customer_histories
from .loading import LoadedModel, clear_cache, get_model, store_of
from .result import Recommendation
from .scoring import POOL_FACTOR, SPARE, for_customer, for_customer_from, for_item, for_order, for_order_from

__all__ = [
    "AHEAD",
    "POOL_FACTOR",
    "SPARE",
    "CustomerHistory",
    "LoadedModel",
    "Recommendation",
    "SharedReads",
    "clear_cache",
    "compute_ahead",
    "customer_histories",
    "for_customer",
    "for_customer_from",
    "for_item",
    "for_order",
    "for_order_ahead",
    "for_order_from",
    "get_model",
    "store_of",
    "summary_ahead",
]
