"""Planning: a recorded purchase becomes ScheduledMessage rows, one per step of each matching path.

The union rule (a customer in several paths): the steps of every enabled path whose trigger
matches are planned together, in due order. A step is left out when an earlier-kept step of
*another* path has the same template and channel and is due less than an hour apart from it
(:data:`SAME_MESSAGE_WITHIN`): both would send the same message, so it goes once. Steps of one
path are never merged with each other. The rule is deterministic, so a re-delivered purchase
plans exactly the same rows, and the idempotency key (customer : order : step, unique) makes the
second ``bulk_create`` a no-op.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..conf import followup_delay
from ..experiments.assignment import Treatment
from ..models import Order, OrderLine, Path, ScheduledMessage, Step
from .timing import customer_zone, out_of_quiet_hours

logger = logging.getLogger(__name__)

#: two steps of different paths with the same template and channel due closer than this are one message
SAME_MESSAGE_WITHIN = timedelta(hours=1)


def idempotency_key(customer_pk: int, order_pk: int, step_pk: int) -> str:
    return f"{customer_pk}:{order_pk}:{step_pk}"


@dataclass(frozen=True)
class _Bought:
    """What the trigger of a path looks at in an order."""

    kinds: frozenset[str]
    categories: frozenset[str]


def _bought(order: Order) -> _Bought:
    rows = (
        OrderLine.objects.for_store(order.store_id)
        .filter(order=order)
        .values_list("item__kind", "item__genres", "item__tags")
    )
    kinds: set[str] = set()
    categories: set[str] = set()
    for kind, genres, tags in rows:
        kinds.add(str(kind).casefold())
        for value in [*(genres or []), *(tags or [])]:
            categories.add(str(value).casefold())
    return _Bought(frozenset(kinds), frozenset(categories))


def _is_repeat(order: Order) -> bool:
    """True when the customer had an order in this store before this one."""
    return (
        Order.objects.for_store(order.store_id)
        .filter(customer_id=order.customer_id, placed_at__lt=order.placed_at)
        .exclude(pk=order.pk)
        .exists()
    )


def path_matches(path: Path, order: Order, bought: _Bought, repeat: bool | None) -> bool:
    """Does ``order`` trigger ``path``? Every condition that is set must hold.

    A minimum order value in another currency than the order's never matches (no conversion).
    ``repeat`` may be None when no path asks (then it is not looked at).
    """
    if path.platform and path.platform != order.store.platform:
        return False
    if path.item_kinds and not bought.kinds & {str(k).casefold() for k in path.item_kinds}:
        return False
    if path.categories and not bought.categories & {str(c).casefold() for c in path.categories}:
        return False
    if path.min_order_value is not None:
        currency = path.min_order_currency or order.store.currency
        if currency != order.currency or Decimal(order.total) < path.min_order_value:
            return False
    if path.buyers == Path.Buyers.FIRST and repeat:
        return False
    return not (path.buyers == Path.Buyers.REPEAT and not repeat)


def union(candidates: Iterable[tuple[datetime, Step]]) -> list[tuple[datetime, Step]]:
    """The steps to plan, in due order, without the duplicates of other paths (module docstring)."""
    kept: list[tuple[datetime, Step]] = []
    for due, step in sorted(candidates, key=lambda c: (c[0], c[1].path_id, c[1].position, c[1].pk)):
        duplicate = any(
            other.path_id != step.path_id
            and (other.template, other.channel) == (step.template, step.channel)
            and abs(due - other_due) < SAME_MESSAGE_WITHIN
            for other_due, other in kept
        )
        if not duplicate:
            kept.append((due, step))
    return kept


def snapshot(order: Order, limit: int, arm: Treatment | None = None) -> list[dict[str, Any]]:
    """The order's recommendations as planned: those computed ahead when the purchase was recorded
    (no query), else computed now; ``arm``: the customer's experiment arms, read by the caller."""
    from ..surfaces.serve import summary as summary_ahead

    return [
        {"item": pk, "score": round(float(score), 6), "reasons": texts}
        for pk, score, texts in summary_ahead(order, limit, arm=arm)
    ]


def _treatment(order: Order) -> Treatment:
    from ..surfaces.serve import treatment

    return treatment(order.store, order.customer, order=order)


def _scaled(delay: timedelta, scale: Decimal) -> timedelta:
    """A step's delay under an experiment arm's cadence factor (1 = as designed)."""
    return delay if scale == 1 else timedelta(seconds=delay.total_seconds() * float(scale))


def plan_order(order: Order) -> list[ScheduledMessage]:
    """Plan the follow-ups of ``order`` (idempotent); returns the rows planned by this call's plan
    (already planned ones included, as they would be; only new ones are written). Nothing for a
    customer in the holdout; a customer's experiment arms may set the channel, scale the delays,
    leave the offers out and name the copy variant."""
    steps_by_path: dict[int, list[Step]] = {}
    # one query; ordered by path pk, not by the models' default (which joins the store for its name)
    enabled = Step.objects.filter(path__store_id=order.store_id, path__enabled=True).select_related("path")
    for step in enabled.order_by("path_id", "position"):
        steps_by_path.setdefault(step.path_id, []).append(step)
    if not steps_by_path:
        return []
    arm = _treatment(order)
    if arm.held_out:  # the holdout gets no follow-up at all
        return []
    paths: Sequence[Path] = [steps[0].path for steps in steps_by_path.values()]
    needs_lines = any(p.item_kinds or p.categories for p in paths)
    bought = _bought(order) if needs_lines else _Bought(frozenset(), frozenset())
    repeat = _is_repeat(order) if any(p.buyers != Path.Buyers.ANY for p in paths) else None
    matching = [p for p in paths if path_matches(p, order, bought, repeat)]
    customer = order.customer
    zone = customer_zone(customer, order.store)
    candidates = [step for path in matching for step in steps_by_path[path.pk]]
    steps = union(
        (out_of_quiet_hours(order.placed_at + followup_delay(_scaled(step.delay, arm.delay_scale)), zone), step)
        for step in candidates
    )
    if not steps:
        return []
    recs = snapshot(order, max(step.limit for _, step in steps), arm)
    rows = [
        ScheduledMessage(
            store_id=order.store_id,
            customer_id=order.customer_id,
            order=order,
            path_id=step.path_id,
            step=step,
            idempotency_key=idempotency_key(order.customer_id, order.pk, step.pk),
            channel=arm.channel or step.channel,
            due_at=due,
            recommendation_snapshot=recs[: step.limit],
            variant=arm.variant,
            with_offer=arm.offers,
        )
        for due, step in steps
    ]
    ScheduledMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def plan_followups(sender: Any, order: Order, **kwargs: Any) -> None:
    """``purchase_recorded`` -> the order's follow-ups. Never raises: the purchase is recorded."""
    started = time.perf_counter()
    try:
        rows = plan_order(order)
    except Exception:
        logger.exception("Could not plan the follow-ups of order %s (store %s)", order.external_id, order.store_id)
        return
    if rows:
        logger.info(
            "Planned %d follow-up(s) for order %s (store %s) in %.1f ms",
            len(rows),
            order.external_id,
            order.store_id,
            (time.perf_counter() - started) * 1000,
        )
