"""The purchase pipeline: everything that happens once a purchase is recorded, in one explicit order.

:func:`~crosssell_plugin.ingest.record_purchase` sends ``purchase_recorded`` once per order, after
its transaction has committed; the core's one receiver (:mod:`crosssell_plugin.receivers`) runs
:func:`after_purchase`, which takes these steps in this order:

0. **assignment**: the customer assigned to the store's running experiments (the store's holdout
   created with its first purchase; :func:`crosssell_plugin.experiments.assignment.assign`), the
   order as the trigger, so that what follows knows whether they are held out;
1. **pair counts**: enqueue ``crosssell.update_pair_counts`` (the order's item pairs, counted
   between two trainings);
2. **recommendations ahead**: enqueue ``crosssell.compute_ahead`` (the order's recommendations
   and its thank-you block, ready before the page asks). After 1, so that with eager tasks they
   include the order's own pair counts;
3. **attribution**: a Conversion for each line item that was recommended to the customer
   (:func:`~crosssell_plugin.tracking.attribute_order`). A conversion cancels the customer's
   pending follow-ups that stop on a conversion, so this comes before 4;
4. **follow-ups**: plan the order's follow-up messages (:mod:`crosssell_plugin.followups.planning`).

Steps 1 and 2 are derivable: when the broker cannot be reached they are dropped with a warning
(:func:`crosssell_plugin.queueing.enqueue`), never run in the request that recorded the purchase
(often the checkout). The next training learns the order's pairs (activating a version recounts
the pairs of every order placed since), and the thank-you page computes the block that was not
rendered ahead.

The purchase is recorded whatever happens here: a step that fails is logged with the order and the
next step still runs. Other receivers of ``purchase_recorded`` (an integration's, a project's) run
independently of these steps, in whatever order Django calls them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..experiments.assignment import assign as assign_experiments
from ..followups.planning import plan_followups
from ..models import Order
from ..queueing import Drop, enqueue
from ..recommend.tasks import update_pair_counts_task
from ..surfaces.tasks import compute_ahead_task
from ..tracking.attribution import attribute_order

logger = logging.getLogger(__name__)

#: without a broker, the order's pair counts wait for the next training
PAIR_COUNTS_FALLBACK = Drop("the next training learns this order's pairs")
#: without a broker, the thank-you page computes the order's block itself
AHEAD_FALLBACK = Drop("the thank-you page computes the block when it is shown")


def assign(order: Order) -> None:
    """Step 0: the customer's arms in the store's experiments."""
    assign_experiments(order)


def count_pairs(order: Order) -> None:
    """Step 1: ``crosssell.update_pair_counts`` for the order (dropped if the broker is down)."""
    enqueue(update_pair_counts_task, order.pk, fallback=PAIR_COUNTS_FALLBACK)


def compute_ahead(order: Order) -> None:
    """Step 2: ``crosssell.compute_ahead`` for the order (dropped if the broker is down)."""
    enqueue(compute_ahead_task, order.pk, fallback=AHEAD_FALLBACK)


def attribute(order: Order) -> None:
    """Step 3: the order's Conversions."""
    attribute_order(order)


def plan(order: Order) -> None:
    """Step 4: the order's follow-ups (planning logs its own failures)."""
    plan_followups(Order, order)


#: the steps of :func:`after_purchase`, in order, with what the log says when one fails
PURCHASE_STEPS: tuple[tuple[str, Callable[[Order], None]], ...] = (
    ("assign the customer to the experiments", assign),
    ("enqueue the pair counts", count_pairs),
    ("enqueue the recommendations", compute_ahead),
    ("attribute", attribute),
    ("plan the follow-ups", plan),
)


def after_purchase(order: Order) -> None:
    """Run :data:`PURCHASE_STEPS` for a newly recorded ``order``, in order. Never raises."""
    for description, step in PURCHASE_STEPS:
        try:
            step(order)
        except Exception:
            logger.exception("Could not %s of order %s (store %s)", description, order.external_id, order.store_id)
