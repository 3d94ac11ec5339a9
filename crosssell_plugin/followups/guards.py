"""The guards of a follow-up, and the receivers that cancel pending ones.

At send time (:func:`blocking_reason`, checked by the dispatcher for every claimed message, in
this order): the customer is in the holdout of a running experiment (planned before it); the
customer unsubscribed; the triggering order was refunded (steps with
``skip_if_refunded``); the customer converted since (steps with ``cancel_on_conversion``); no
marketing consent on the channel (transactional-only customers get nothing). Quiet hours and the
frequency cap do not skip: they postpone (:func:`postponed_until`).

The frequency cap counts the follow-ups *sent* to the customer in the store during the last
``FREQUENCY_WINDOW_DAYS``, across every path and channel. Over the cap, a message waits until the
oldest counted send leaves the window; if that is more than ``FREQUENCY_WINDOW_DAYS`` after the time
it was planned for, it is skipped ("frequency cap") instead of going out long after its moment.
The dispatcher reads the recent sends (and the consents and conversions) of a chunk of up to
20 customers at once, just before sending to them (:class:`Facts`). Two workers sending to one
customer at nearly the same time (within one chunk, a fraction of a second) can each see the cap
not yet reached: the cap can be exceeded by at most one message per concurrent worker.

Cancellation happens at once, on signals: a refund (``refund_recorded``), a conversion (a new
Conversion row) and a withdrawn consent (``consent_withdrawn``) turn the matching *planned* rows
into ``cancelled`` with a reason. A row a worker has already claimed is caught by the send-time
guards above instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max, Q
from django.utils import timezone

from ..conf import crosssell_settings, followup_delay
from ..experiments.assignment import Treatment, treatment_for, treatments_for
from ..models import Conversion, CustomerConsent, Order, ScheduledMessage
from .timing import customer_zone, out_of_quiet_hours

logger = logging.getLogger(__name__)

Status = ScheduledMessage.Status


@dataclass
class Facts:
    """What the guards read for a chunk of claimed messages, in a few queries (:func:`read_facts`),
    instead of a few queries per message.

    The dispatcher puts at most one message per customer in a chunk. Should a customer have a
    second one, it counts the frequency cap afresh (:func:`sent_in_window`): the sends read for
    a customer serve one decision only, so the cap stays exceeded by at most one message per
    concurrent worker.
    """

    #: (customer pk, channel) of every granted marketing consent
    consents: set[tuple[int, str]] = field(default_factory=set)
    #: customer pk -> when their counted follow-ups were sent (oldest first), as read for the chunk
    sent: dict[int, list[datetime]] = field(default_factory=dict)
    #: customer pk -> the latest placed_at of an order that converted one of their impressions
    converted: dict[int, datetime] = field(default_factory=dict)
    #: customers whose ``sent`` was used already (their next message counts afresh)
    counted: set[int] = field(default_factory=set)
    #: customer pk -> what their experiment arms give them (read, or assigned, for the chunk)
    treatments: dict[int, Treatment] = field(default_factory=dict)

    def has_consent(self, customer: Any, channel: str) -> bool:
        """As ``Customer.has_marketing_consent``, from the consents read for the chunk."""
        return customer.unsubscribed_at is None and (customer.pk, channel) in self.consents

    def sent_in_window(self, message: ScheduledMessage, now: datetime) -> list[datetime]:
        if message.customer_id in self.counted or message.customer_id not in self.sent:
            return sent_in_window(message, now)
        self.counted.add(message.customer_id)
        since = now - timedelta(days=crosssell_settings.FREQUENCY_WINDOW_DAYS)
        return [when for when in self.sent[message.customer_id] if when > since]


def read_facts(messages: Sequence[ScheduledMessage], now: datetime) -> Facts:
    """The consents, recent sends and conversions of the customers of ``messages`` (one query
    each per store; the conversions only when a step cancels on conversion)."""
    facts = Facts()
    by_store: dict[int, set[int]] = {}
    for message in messages:
        by_store.setdefault(message.store_id, set()).add(message.customer_id)
    ids = sorted({m.customer_id for m in messages})
    facts.consents = set(
        CustomerConsent.objects.filter(customer_id__in=ids, granted=True).values_list("customer_id", "channel")
    )
    since = now - timedelta(days=crosssell_settings.FREQUENCY_WINDOW_DAYS)
    conversions = {m.store_id for m in messages if m.step.cancel_on_conversion}
    for store_id, customers in by_store.items():
        facts.treatments.update(treatments_for(store_id, sorted(customers)))
        facts.sent.update((pk, []) for pk in customers)
        sent = (
            ScheduledMessage.objects.for_store(store_id)
            .filter(customer_id__in=customers, status=Status.SENT, sent_at__gt=since)
            .order_by("sent_at")
            .values_list("customer_id", "sent_at")
        )
        for customer_id, when in sent:
            facts.sent[customer_id].append(when)
        if store_id in conversions:
            latest = (
                Conversion.objects.for_store(store_id)
                .filter(impression__customer_id__in=customers)
                .values("impression__customer_id")
                .annotate(latest=Max("order__placed_at"))
                .values_list("impression__customer_id", "latest")
            )
            facts.converted.update(latest)
    return facts


def blocking_reason(message: ScheduledMessage, facts: Facts | None = None) -> str | None:
    """Why ``message`` must not be sent at all (a reason to record), or None."""
    customer, step, order = message.customer, message.step, message.order
    arm = facts.treatments.get(customer.pk) if facts is not None else None
    if (arm or treatment_for(message.store, customer)).held_out:
        return "customer is in the holdout"
    if customer.unsubscribed_at is not None:
        return "customer unsubscribed"
    if step.skip_if_refunded and order.status != Order.Status.PLACED:
        return "order refunded"
    if step.cancel_on_conversion and converted_since(message, facts):
        return "customer bought a recommended item"
    return None


def converted_since(message: ScheduledMessage, facts: Facts | None = None) -> bool:
    """Did the customer buy something recommended to them after the triggering order?"""
    if facts is not None:
        latest = facts.converted.get(message.customer_id)
        return latest is not None and latest > message.order.placed_at
    return (
        Conversion.objects.for_store(message.store_id)
        .filter(impression__customer_id=message.customer_id, order__placed_at__gt=message.order.placed_at)
        .exists()
    )


def sent_in_window(message: ScheduledMessage, now: datetime) -> list[datetime]:
    """When the follow-ups counted by the frequency cap were sent, oldest first."""
    since = now - timedelta(days=crosssell_settings.FREQUENCY_WINDOW_DAYS)
    return list(
        ScheduledMessage.objects.for_store(message.store_id)
        .filter(customer_id=message.customer_id, status=Status.SENT, sent_at__gt=since)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
    )


def postponed_until(message: ScheduledMessage, now: datetime, facts: Facts | None = None) -> datetime | str | None:
    """None when ``message`` may go out now; else when to try again (quiet hours, frequency cap),
    or a skip reason when the cap would delay it too far (module docstring)."""
    zone = customer_zone(message.customer, message.store)
    morning = out_of_quiet_hours(now, zone)
    if morning > now:
        return morning
    cap = crosssell_settings.FREQUENCY_CAP
    sent = facts.sent_in_window(message, now) if facts is not None else sent_in_window(message, now)
    if len(sent) < cap:
        return None
    window = timedelta(days=crosssell_settings.FREQUENCY_WINDOW_DAYS)
    if cap == 0:
        return "frequency cap"
    free = out_of_quiet_hours(sent[len(sent) - cap] + window + timedelta(seconds=1), zone)
    planned_for = message.order.placed_at + followup_delay(message.step.delay)
    if free > planned_for + window:
        return "frequency cap"
    return free


# --- cancellation receivers -----------------------------------------------------------------


def cancel(queryset: Any, reason: str) -> int:
    """Cancel the still-planned rows of ``queryset`` with ``reason``; how many."""
    return queryset.filter(status=Status.PLANNED).update(
        status=Status.CANCELLED, skip_reason=reason[:200], updated_at=timezone.now()
    )


def cancel_on_refund(sender: Any, order: Order, **kwargs: Any) -> None:
    """``refund_recorded``: the order's pending steps with ``skip_if_refunded`` are cancelled."""
    try:
        count = cancel(
            ScheduledMessage.objects.for_store(order.store_id).filter(order=order, step__skip_if_refunded=True),
            "order refunded",
        )
    except Exception:
        logger.exception("Could not cancel the follow-ups of refunded order %s", order.pk)
        return
    if count:
        logger.info("Cancelled %d follow-up(s) of refunded order %s (store %s)", count, order.pk, order.store_id)


def cancel_on_conversion(sender: Any, instance: Conversion, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """``post_save`` of Conversion: the customer's pending steps with ``cancel_on_conversion``,
    planned after earlier orders, are cancelled."""
    if not created or raw:
        return
    try:
        order = instance.order
        count = cancel(
            ScheduledMessage.objects.for_store(order.store_id).filter(
                customer_id=order.customer_id,
                step__cancel_on_conversion=True,
                order__placed_at__lt=order.placed_at,
            ),
            "customer bought a recommended item",
        )
    except Exception:
        logger.exception("Could not cancel follow-ups after conversion %s", instance.pk)
        return
    if count:
        logger.info("Cancelled %d follow-up(s) after a conversion (store %s)", count, order.store_id)


def cancel_on_consent_withdrawn(sender: Any, customer: Any, channel: str, **kwargs: Any) -> None:
    """``consent_withdrawn``: the customer's pending messages on ``channel`` are cancelled at once
    ("all": every pending message). An ``auto`` message stays: it is sent on a channel that still
    has consent, or skipped, when its time comes."""
    rows = ScheduledMessage.objects.for_store(customer.store_id).filter(customer=customer)
    if channel != "all":
        rows = rows.filter(Q(channel=channel))
    try:
        count = cancel(rows, "consent withdrawn" + ("" if channel == "all" else f" ({channel})"))
    except Exception:
        logger.exception("Could not cancel the follow-ups of customer %s", customer.pk)
        return
    if count:
        logger.info("Cancelled %d follow-up(s) of customer %s on %s", count, customer.pk, channel)
