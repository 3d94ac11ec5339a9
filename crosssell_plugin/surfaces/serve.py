"""THE one seam between the recommender and what shows its recommendations.

Every block (:mod:`.blocks`, the ``{% crosssell_block %}`` tags), API answer
(:mod:`crosssell_plugin.api.views.recommendations`) and message (the follow-up dispatcher and the channels that
build its email, SMS or in-app message) gets its recommendations here and logs the impressions
of what it shows here. They never call :mod:`crosssell_plugin.recommend` or the impression
writers of :mod:`crosssell_plugin.tracking` themselves (an import-linter contract says so), so
what "showing a recommendation" means (which cache is asked first, how an impression is
planned, published and linked) is decided in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .. import recommend, tracking
from ..experiments import assignment as experiments
from ..experiments.assignment import Treatment
from ..models import Arm, Customer, Impression, Item, Order, ScheduledMessage, Store
from ..recommend import CustomerHistory, Recommendation, SharedReads

__all__ = [
    "CustomerHistory",
    "Recommendation",
    "SharedReads",
    "compute_ahead",
    "for_customer",
    "for_customer_from",
    "for_item",
    "for_order",
    "for_order_from",
    "histories",
    "impression_of",
    "link",
    "model_version",
    "pending_rows",
    "plan",
    "publish",
    "record",
    "shared_reads",
    "short_link",
    "show",
    "store_of",
    "summary",
    "token_and_link",
    "treatment",
]

# --- getting recommendations ----------------------------------------------------------------


def treatment(store: Store, customer: Customer | None, *, order: Order | None = None) -> Treatment:
    """What ``customer`` gets from the store's experiments (assigned now if they have not met one):
    the holdout gets nothing on any surface; an arm may change the strategy or the copy variant."""
    return experiments.treatment_for(store, customer, order=order)


def for_order(order: Order, limit: int = 4, placement: str = "thank_you") -> list[Recommendation]:
    """What to show after ``order``: what was computed ahead when the purchase was recorded (by the
    same model version, within ``BLOCK_CACHE_SECONDS``), else computed now. Nothing for a customer
    in the holdout."""
    arm = treatment(order.store, order.customer, order=order)
    if arm.held_out:
        return []
    if arm.strategy != Arm.Strategy.MODEL:
        return recommend.for_order(order, limit=limit, placement=placement, strategy=arm.strategy)
    return recommend.for_order_ahead(order, limit=limit, placement=placement)


def for_customer(customer: Customer, limit: int = 4, placement: str = "") -> list[Recommendation]:
    """What ``customer`` may buy next, from everything they bought and watched (nothing for the holdout)."""
    arm = treatment(customer.store, customer)
    if arm.held_out:
        return []
    return recommend.for_customer(customer, limit=limit, placement=placement, strategy=arm.strategy)


def for_item(
    item: Item, limit: int = 4, placement: str = "", *, customer: Customer | None = None
) -> list[Recommendation]:
    """What goes with ``item``: for anyone (an item page, a guest), or for ``customer`` when the
    caller knows who is looking (nothing for the holdout)."""
    arm = treatment(item.store, customer)
    if arm.held_out:
        return []
    return recommend.for_item(item, limit=limit, placement=placement, strategy=arm.strategy)


def histories(store: Store | int, customer_ids: Iterable[int]) -> dict[int, CustomerHistory]:
    """The histories of several customers in two queries, for :func:`for_order_from` and
    :func:`for_customer_from` (the dispatcher reads a chunk's at once)."""
    return recommend.customer_histories(store, customer_ids)


def shared_reads(store: Store | int) -> SharedReads:
    """Rows of one store read once for several calls made in a row (see :class:`SharedReads`)."""
    return recommend.SharedReads(store)


def for_order_from(
    order: Order,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "thank_you",
    *,
    reads: SharedReads | None = None,
    arm: Treatment | None = None,
) -> list[Recommendation]:
    """What to show after ``order`` now, from the customer's history read beforehand (a message);
    nothing for the holdout. ``arm``: the customer's experiment arms read beforehand (else read here)."""
    arm = arm or treatment(order.store, order.customer, order=order)
    if arm.held_out:
        return []
    return recommend.for_order_from(
        order, history, limit=limit, placement=placement, reads=reads, strategy=arm.strategy
    )


def for_customer_from(
    customer: Customer,
    history: CustomerHistory,
    limit: int = 4,
    placement: str = "",
    *,
    reads: SharedReads | None = None,
    arm: Treatment | None = None,
) -> list[Recommendation]:
    """What ``customer`` may buy next, from their history read beforehand (a message); nothing for
    the holdout; ``arm`` as for :func:`for_order_from`."""
    arm = arm or treatment(customer.store, customer)
    if arm.held_out:
        return []
    return recommend.for_customer_from(
        customer, history, limit=limit, placement=placement, reads=reads, strategy=arm.strategy
    )


def compute_ahead(order: Order) -> list[Recommendation]:
    """Compute ``order``'s recommendations now and keep them for its thank-you page and its messages
    (the ``crosssell.compute_ahead`` task, when the purchase is recorded). Nothing for the holdout;
    an arm with another strategy than the model's computes its recommendations when they are shown."""
    arm = treatment(order.store, order.customer, order=order)
    if arm.held_out or arm.strategy != Arm.Strategy.MODEL:
        return []
    return recommend.compute_ahead(order)


def summary(order: Order, limit: int = 4, *, arm: Treatment | None = None) -> list[tuple[int, float, list[str]]]:
    """(item pk, score, reason texts) of ``order``'s first recommendations, for a record of what was
    recommended (a planned follow-up's snapshot), from what was computed ahead when there is one.
    Nothing for the holdout; ``arm``: the customer's experiment arms read beforehand (else read here)."""
    arm = arm or treatment(order.store, order.customer, order=order)
    if arm.held_out:
        return []
    if arm.strategy != Arm.Strategy.MODEL:
        recs = recommend.for_order(order, limit=limit, strategy=arm.strategy)
        return [(r.item.pk, r.score, list(r.reason_texts)) for r in recs]
    return recommend.summary_ahead(order, limit=limit)


def store_of(platform: str, external_id: str) -> Store | None:
    """The Store of a platform's shop, read at most every ``MODEL_CHECK_SECONDS`` per process."""
    return recommend.store_of(platform, external_id)


def model_version(store: Store) -> int:
    """The version of the store's active model (0 before the first training): what a cached block
    or answer depends on."""
    loaded = recommend.get_model(store)
    return loaded.version if loaded is not None else 0


# --- logging what is shown ------------------------------------------------------------------


def _variant_of(store: Store, customer: Customer | None) -> str:
    """The copy variant of the customer's arms, recorded on impressions when the caller names none
    (``variant=None``; "" records none)."""
    if customer is None or not experiments.has_variants(store):
        return ""
    return treatment(store, customer).variant


def show(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
    variant: str | None = None,
) -> list[Impression]:
    """The impressions of recommendations shown now (a page, an API answer), in rank order, each
    with its random key (so its link can be made); written off the request."""
    variant = _variant_of(store, customer) if variant is None else variant
    return tracking.log_impressions(store, recommendations, placement, order=order, customer=customer, variant=variant)


def plan(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
    variant: str | None = None,
    message: ScheduledMessage | None = None,
) -> list[Impression]:
    """Unsaved impressions of recommendations that may be shown later (a block rendered ahead, a
    message being built, an API answer whose client reports what it showed): written by
    :func:`publish` (as :func:`pending_rows`) or :func:`record`, or from their tokens on a click."""
    variant = _variant_of(store, customer) if variant is None else variant
    return tracking.plan_impressions(
        store, recommendations, placement, order=order, customer=customer, variant=variant, message=message
    )


def pending_rows(impressions: Sequence[Impression]) -> list[dict[str, Any]]:
    """Planned impressions as plain rows, to keep (in a cache) until they are shown."""
    return [tracking.impression_row(impression) for impression in impressions]


def publish(rows: list[dict[str, Any]]) -> None:
    """Planned impressions (:func:`pending_rows`) shown now: written off the request."""
    tracking.publish_impressions(rows)


def record(impressions: Sequence[Impression]) -> None:
    """Planned impressions written now, in one insert (a message, with its send)."""
    tracking.save_impressions(impressions)


def impression_of(token: str, store_id: int | None = None) -> Impression | None:
    """The impression a client reports by its token (written now from the token if its row is not
    there yet), or None for a bad token (see :func:`crosssell_plugin.tracking.impression_of`)."""
    return tracking.impression_of(token, store_id)


def link(impression: Impression) -> str:
    """The tracked link of an impression (site-relative)."""
    return tracking.click_url(impression)


def token_and_link(impression: Impression) -> tuple[str, str]:
    """The signed token of an impression and its tracked link."""
    return tracking.tracked_link(impression)


def short_link(impression: Impression) -> str:
    """The short link of an impression, for an SMS."""
    return tracking.short_click_url(impression)
