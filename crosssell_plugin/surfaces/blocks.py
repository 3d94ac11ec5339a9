"""Recommendation blocks for an order, a customer or an item: rendering, and the cache of blocks
(those rendered ahead among them). The ``{% load crosssell %}`` tags are thin wrappers of these:

::

    {% crosssell_block order placement="thank_you" limit=4 %}
    {% crosssell_customer_block customer placement="email" limit=4 %}
    {% crosssell_item_block item placement="item_page" limit=4 %}

Each also takes ``heading="..."`` (the block's title) and ``variant="..."`` (recorded with each
impression and click, for the page's own A/B tests; another variant is another cached block).

Recommendations come from, and impressions go to, :mod:`.serve`. Each renders
``crosssell/block.html`` (override it at the same path to restyle) and logs one
:class:`~crosssell_plugin.models.Impression` per item shown, in one query. With no
recommendations, or when anything goes wrong, it renders nothing: a recommendation block never
breaks the page around it.

A rendered block is kept in Django's default cache for ``CROSSSELL["BLOCK_CACHE_SECONDS"]``
(900), keyed by store, order (customer, item), placement, limit, heading, variant, language and the
model version that produced it: reloading the thank-you page serves the same block, with the
same tracked links, without logging its impressions again; training a new model version
changes the key, so the next render is fresh.

The thank-you block is usually ready before the page asks: when a purchase is recorded, the
``crosssell.compute_ahead`` task computes the order's recommendations and renders the block as
``{% crosssell_block order %}`` with its default arguments would (:func:`render_ahead`). Its
cache key names the store and the order's external id (not its primary key), so the page finds
it without a query, and hands its impressions to the process's impression buffer
(:func:`~crosssell_plugin.surfaces.serve.publish`, which publishes them off the request).

``crosssell_block`` takes a crosssell :class:`~crosssell_plugin.models.Order` or a platform's
own order object (a django-oscar order): the installed integration that knows the object says
which store it belongs to and its external id
(:func:`crosssell_plugin.platforms.platform_order_ref`); the Store is found once per
``MODEL_CHECK_SECONDS`` per process, and the crosssell Order with that external id is read only
when the block has to be computed. The core does not import the integration to do this. A
platform's order that is not recorded yet (the page was faster than the worker) is recorded now
by its integration (:data:`~crosssell_plugin.signals.order_not_recorded`) and its block computed
in the request.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import get_language

from .. import platforms
from ..conf import crosssell_settings
from ..models import Customer, Impression, Item, Order, Store
from ..money import format_price
from ..signals import order_not_recorded
from . import serve
from .serve import Recommendation

logger = logging.getLogger(__name__)

_block_ids = itertools.count(1)


def _platform_order(platform_order: Any) -> tuple[Store, str] | None:
    """(Store, external id) of a platform's own order object, as its integration names them
    (:func:`~crosssell_plugin.platforms.platform_order_ref`); None when no installed integration
    knows the object or its store does not exist yet."""
    found = platforms.platform_order_ref(platform_order)
    if found is None:
        return None
    ref, external_id = found
    store = serve.store_of(ref.platform, ref.external_id)
    return (store, external_id) if store is not None else None


def _order_by_external_id(store: Store, external_id: str) -> Order | None:
    # unique per store: no ORDER BY (which could make the database walk every order)
    found = (
        Order.objects.for_store(store).filter(external_id=external_id).select_related("store", "customer").order_by()
    )
    return next(iter(found[:1]), None)


def _recorded_now(store: Store, platform_order: Any, external_id: str) -> Order | None:
    """Ask the platform's integration to record an order the page is faster than the worker for
    (:data:`~crosssell_plugin.signals.order_not_recorded`); the order if it is recorded now."""
    for receiver, error in order_not_recorded.send_robust(Order, store=store, platform_order=platform_order):
        if error is not None:
            logger.error(
                "Order %s of store %s could not be recorded for its page by %r",
                external_id,
                store.pk,
                receiver,
                exc_info=(type(error), error, error.__traceback__),
            )
    return _order_by_external_id(store, external_id)


def _order_subject(external_id: str) -> str:
    """What an order's block is about, by the order's external id (the platform's number), so the page
    can find the block rendered ahead without reading the order (any characters, fixed length)."""
    return "order:" + hashlib.sha256(external_id.encode()).hexdigest()[:24]


def _cache_key(store: Store, subject: str, placement: str, limit: int, heading: str | None, variant: str = "") -> str:
    """store, what the block is about ("order:<hash>"), placement, limit, heading, variant, language,
    model version. The texts a template passes are hashed (any characters, bounded length)."""
    version = serve.model_version(store)
    try:  # "en-us" and "en" are one language to a project that offers "en"
        language = translation.get_supported_language_variant(get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        language = get_language() or settings.LANGUAGE_CODE
    texts = hashlib.sha256("\x00".join((placement, heading or "", variant)).encode()).hexdigest()[:24]
    return f"crosssell:block:{store.pk}:{subject}:{limit}:{texts}:{language}:v{version}"


@dataclass(frozen=True)
class _Computed:
    """What a block shows, and for whom its impressions are logged."""

    recommendations: list[Recommendation]
    order: Order | None = None
    customer: Customer | None = None


def _render(
    request: Any,
    compute: Callable[[], _Computed],
    store: Store,
    placement: str,
    subject: str,
    limit: int,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """The block about ``subject`` from the cache, else ``compute()``d, rendered and cached."""
    try:
        seconds = crosssell_settings.BLOCK_CACHE_SECONDS
        key = _cache_key(store, subject, placement, limit, heading, variant) if seconds else ""
        if key:
            cached = cache.get(key)
            if cached is not None:
                if cached["pending"]:  # rendered ahead and shown now for the first time
                    serve.publish(cached["pending"])
                    cache.set(key, {"html": cached["html"], "pending": []}, seconds)
                return cached["html"]
        computed = compute()
        if not computed.recommendations:
            return ""  # not cached: the store may have something to show a moment later
        impressions = serve.show(
            store,
            computed.recommendations,
            placement,
            order=computed.order,
            customer=computed.customer,
            variant=variant or None,  # none named: the customer's experiment arm's
        )
        html = _html(computed.recommendations, impressions, placement, heading, request, variant)
        if key:
            cache.set(key, {"html": html, "pending": []}, seconds)
        return html
    except Exception:
        logger.exception("The %s recommendation block of store %s could not be rendered", placement, store.pk)
        return ""


def _html(
    recommendations: list[Recommendation],
    impressions: list[Impression],
    placement: str,
    heading: str | None,
    request: Any = None,
    variant: str = "",
) -> str:
    entries = [_entry(rec, impression) for rec, impression in zip(recommendations, impressions, strict=True)]
    return render_to_string(
        "crosssell/block.html",
        {
            "recommendations": entries,
            "placement": placement,
            "variant": variant,
            "heading": heading,
            "heading_id": f"crosssell-heading-{next(_block_ids)}",
        },
        request=request,
    )


def _language_of(customer: Customer) -> str:
    """The language a page for ``customer`` is likely shown in, as Django's LocaleMiddleware
    would pick it: the customer's locale when the project offers it, else ``LANGUAGE_CODE``."""
    for candidate in (customer.locale, settings.LANGUAGE_CODE):
        if candidate:
            try:
                return translation.get_supported_language_variant(candidate.replace("_", "-").lower())
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


def render_ahead(order: Order, recommendations: list[Recommendation]) -> bool:
    """Render ``order``'s thank-you block now, as ``{% crosssell_block order %}`` with its default
    arguments (placement "thank_you", limit 4, no heading) would, in the customer's language when
    the project offers it; keep it for ``BLOCK_CACHE_SECONDS``. Its impressions are planned now
    and written when the page first shows the block. Called by the ``crosssell.compute_ahead``
    task; True when a block was rendered."""
    seconds = crosssell_settings.BLOCK_CACHE_SECONDS
    shown = recommendations[:4]
    if not seconds or not shown:
        return False
    with translation.override(_language_of(order.customer)):
        key = _cache_key(order.store, _order_subject(order.external_id), "thank_you", 4, None)
        impressions = serve.plan(order.store, shown, "thank_you", order=order, customer=order.customer)
        html = _html(shown, impressions, "thank_you", None)
    # add, not set: a block a page has rendered (and shown) meanwhile is kept, not replaced
    return bool(cache.add(key, {"html": html, "pending": serve.pending_rows(impressions)}, seconds))


def _entry(rec: Recommendation, impression: Any) -> dict[str, Any]:
    item = rec.item
    return {
        "item": item,
        "price": format_price(item.price, item.currency),
        "reasons": rec.reason_texts,
        "link": serve.link(impression),
    }


def _variant(variant: Any) -> str:
    """The variant a template names (any value, as text, at most 50 characters; None = none)."""
    return "" if variant is None else str(variant)[:50]


def _limit(limit: Any) -> int:
    try:
        return max(0, min(int(limit), 24))
    except (TypeError, ValueError):
        return 4


def order_block(
    request: Any,
    order: Any,
    placement: str = "thank_you",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """Recommendations after ``order`` (a crosssell Order, or a platform's own order object that its
    integration recognises).

    A block rendered ahead (or cached) is found by the store and the order's external id, without
    reading the order; the order is read only when the block has to be computed."""
    n = _limit(limit)
    found: Order | None = None
    if isinstance(order, Order):
        found, store, external_id = order, order.store, order.external_id
    else:
        try:
            platform_order = _platform_order(order)
        except Exception:
            logger.exception("The store of the platform order %r could not be read", type(order).__name__)
            return ""
        if platform_order is None:
            return ""
        store, external_id = platform_order

    def compute() -> _Computed:
        recorded = found if found is not None else _order_by_external_id(store, external_id)
        if recorded is None:  # a platform's order whose recording task has not run yet
            recorded = _recorded_now(store, order, external_id)
        if recorded is None:
            return _Computed([])
        recommendations = serve.for_order(recorded, limit=n, placement=placement)
        return _Computed(recommendations, recorded, recorded.customer)

    return _render(request, compute, store, placement, _order_subject(external_id), n, heading, _variant(variant))


def customer_block(
    request: Any,
    customer: Any,
    placement: str = "next_order",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """What a crosssell Customer may buy next (an account page, an email)."""
    if not isinstance(customer, Customer):
        return ""
    n = _limit(limit)
    return _render(
        request,
        lambda: _Computed(serve.for_customer(customer, limit=n, placement=placement), customer=customer),
        customer.store,
        placement,
        f"customer:{customer.pk}",
        n,
        heading,
        _variant(variant),
    )


def item_block(
    request: Any,
    item: Any,
    placement: str = "item_page",
    limit: Any = 4,
    heading: str | None = None,
    variant: str = "",
) -> str:
    """What goes with a crosssell Item (an item page, for anyone)."""
    if not isinstance(item, Item):
        return ""
    n = _limit(limit)
    return _render(
        request,
        lambda: _Computed(serve.for_item(item, limit=n, placement=placement)),
        item.store,
        placement,
        f"item:{item.pk}",
        n,
        heading,
        _variant(variant),
    )
