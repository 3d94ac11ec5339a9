"""Celery tasks a Stripe worker runs: the webhook pipeline's ``crosssell.process_delivery``."""

from integrations.webhooks import process_delivery_task

__all__ = ["process_delivery_task"]
