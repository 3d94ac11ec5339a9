"""Signals of a shop's lifecycle, for the parts that act on it (webhook subscriptions, catalogue sync,
follow-up schedules). Both are sent after the transaction commits, with ``send_robust``: a failing
receiver is logged and undoes nothing."""

from django.dispatch import Signal

#: A shop finished an install (the callback or a token exchange) and its tokens are saved.
#: Sent with ``sender=ShopifyShop``, ``shop`` (the ShopifyShop) and ``fresh``: True for a first
#: install or a return after an uninstall, False when an installed shop authorized again (new scopes).
shop_installed = Signal()

#: A shop uninstalled the app (:func:`integrations.shopify.auth.revoke`): its tokens are gone and its
#: Store is inactive. Sent with ``sender=ShopifyShop`` and ``shop``.
shop_uninstalled = Signal()
