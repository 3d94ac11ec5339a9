"""Fixtures shared across the integration tests: the Stripe merchant store and its faked API, which
the pipeline's own tests use as their webhook platform."""

from .stripe.conftest import stripe_api, stripe_store

__all__ = ["stripe_api", "stripe_store"]
