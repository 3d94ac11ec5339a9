"""Recommendations computed ahead: when a purchase is recorded, the order's recommendations are kept
in Django's cache so its thank-you page (and a follow-up's snapshot) need not wait for them."""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

from django.core.cache import cache

from ..conf import crosssell_settings
from ..engine.explain import Reason
from ..models import Item, Order
from .loading import get_model
from .result import Recommendation
from .scoring import for_order

#: how many recommendations are computed ahead for a new order (a block shows at most this many
#: from them; a bigger ``limit`` computes afresh)
AHEAD = 8


def _ahead_key(order: Order) -> str:
    loaded = get_model(order.store)
    version = loaded.version if loaded is not None else 0
    return f"crosssell:ahead:{order.store_id}:{order.pk}:v{version}"


def compute_ahead(order: Order) -> list[Recommendation]:
    """Compute ``order``'s recommendations now and keep them in Django's cache for
    ``BLOCK_CACHE_SECONDS``, so the thank-you page (:func:`for_order_ahead`) does not wait for them.

    Called by the ``crosssell.compute_ahead`` task when a purchase is recorded.
    """
    recs = for_order(order, limit=AHEAD)
    seconds = crosssell_settings.BLOCK_CACHE_SECONDS
    if seconds and recs:
        kept = [
            (
                r.item.pk,
                r.score,
                [astuple(reason) for reason in r.reasons],
                r.reason_texts,
                r.model_version,
                r.model_version_pk,
            )
            for r in recs
        ]
        cache.set(_ahead_key(order), {"recs": kept, "task": recs[0].task, "all": len(recs) < AHEAD}, seconds)
    return recs


def _kept_ahead(order: Order, limit: int) -> dict[str, Any] | None:
    """What :func:`compute_ahead` kept for ``order`` under the current model version, if it can
    answer for ``limit`` recommendations; None otherwise."""
    kept = cache.get(_ahead_key(order)) if crosssell_settings.BLOCK_CACHE_SECONDS else None
    if kept is None or (limit > len(kept["recs"]) and not kept["all"]):
        return None
    return kept


def for_order_ahead(order: Order, limit: int = 4, placement: str = "thank_you") -> list[Recommendation]:
    """:func:`for_order`, from the recommendations computed ahead when the purchase was recorded
    (by the same model version, within ``BLOCK_CACHE_SECONDS``), else computed now.

    The items are read afresh (one query): one withdrawn since is left out.
    """
    kept = _kept_ahead(order, limit)
    if kept is None:
        return for_order(order, limit=limit, placement=placement)
    items = Item.objects.for_store(order.store).filter(available=True).in_bulk([pk for pk, *_ in kept["recs"]])
    results = [
        Recommendation(
            item=items[pk],
            score=score,
            reasons=[Reason(r[0], r[1], r[2], tuple(r[3])) for r in reasons],
            reason_texts=list(texts),
            task=kept["task"],
            placement=placement,
            model_version=version,
            model_version_pk=version_pk,
        )
        for pk, score, reasons, texts, version, version_pk in kept["recs"]
        if pk in items
    ]
    if len(results) < limit and not kept["all"]:
        return for_order(order, limit=limit, placement=placement)
    return results[:limit]


def summary_ahead(order: Order, limit: int = 4) -> list[tuple[int, float, list[str]]]:
    """(item pk, score, reason texts) of ``order``'s first ``limit`` recommendations, for a record
    of what was recommended (a follow-up's snapshot): from what was computed ahead when the
    purchase was recorded, without reading the items again (they were available then), else
    from :func:`for_order` now."""
    kept = _kept_ahead(order, limit)
    if kept is None:
        return [(r.item.pk, r.score, list(r.reason_texts)) for r in for_order(order, limit=limit)]
    return [(pk, score, list(texts)) for pk, score, _reasons, texts, *_ in kept["recs"][:limit]]
