"""Signals of a shop's lifecycle, for the parts that act on it (webhook subscriptions, catalogue sync,
follow-up schedules); the receivers connected here start a shop's sync when it installs and cancel its
follow-ups when it uninstalls. Both are sent after the transaction commits, with ``send_robust``: a failing
receiver is logged and undoes nothing."""

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

#: A shop finished an install (the callback or a token exchange) and its tokens are saved.
#: Sent with ``sender=ShopifyShop``, ``shop`` (the ShopifyShop) and ``fresh``: True for a first
#: install or a return after an uninstall, False when an installed shop authorized again (new scopes).
shop_installed = Signal()

#: A shop uninstalled the app (:func:`integrations.shopify.auth.revoke`): its tokens are gone and its
#: Store is inactive. Sent with ``sender=ShopifyShop`` and ``shop``.
shop_uninstalled = Signal()


def cancel_followups_of_uninstalled_shop(sender: Any, shop: Any, **kwargs: Any) -> int:
    """``shop_uninstalled``: every still-planned follow-up of that shop's Store is cancelled
    ("app uninstalled"), through the core's ``followups.guards.cancel``; the query is the Store's
    own (``ScheduledMessage.objects.for_store``). Messages already sent or claimed are left alone.
    Connected here, next to the signal, so that it is connected wherever ``revoke`` sends it."""
    from crosssell_plugin.followups.guards import cancel
    from crosssell_plugin.models import ScheduledMessage

    count = cancel(ScheduledMessage.objects.for_store(shop.store_id), "app uninstalled")
    if count:
        logger.info("Cancelled %d planned follow-up(s) of uninstalled Shopify shop %s", count, shop.domain)
    return count


shop_uninstalled.connect(cancel_followups_of_uninstalled_shop, dispatch_uid="crosssell_shopify_cancel_followups")


def sync_installed_shop(sender: Any, shop: Any, **kwargs: Any) -> bool:
    """``shop_installed``: enqueue ``crosssell.shopify.sync_shop`` for the shop (its first full
    import, or what changed while it was away), unless ``SYNC_ON_INSTALL`` is off or a sync of it
    is running (the task also checks, under its claim). True when enqueued. A broker that is down
    drops it with a warning: ``manage.py crosssell_sync --store shopify:<shop>`` runs it by hand."""
    from crosssell_plugin.queueing import Drop, enqueue

    from . import conf, sync_state
    from .tasks import sync_shop

    if not conf.options()["SYNC_ON_INSTALL"]:
        return False
    if sync_state.is_running(shop):
        logger.info("Shopify shop %s installed while a sync of it runs: no second sync", shop.domain)
        return False
    enqueue(sync_shop, shop.pk, fallback=Drop(f"run manage.py crosssell_sync --store shopify:{shop.domain}"))
    return True


shop_installed.connect(sync_installed_shop, dispatch_uid="crosssell_shopify_sync_on_install")
