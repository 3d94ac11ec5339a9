"""Stripe integration: Checkout webhooks become purchases, refunds and email consent.

Add ``"integrations.stripe"`` to INSTALLED_APPS, run migrate, and create a
:class:`~integrations.stripe.models.StripeAccount` for each merchant's Store (in the admin).
Point the merchant's Stripe webhook endpoint at ``/crosssell/webhooks/stripe/<store external id>/``
with the events ``checkout.session.completed``, ``checkout.session.async_payment_succeeded`` and
``charge.refunded``. Requires the ``stripe`` extra: ``pip install "crosssell[stripe]"``.
"""
