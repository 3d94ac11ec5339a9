"""Celery tasks of the surfaces: a new order's thank-you block, ready before its page asks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="crosssell.compute_ahead", ignore_result=True)
def compute_ahead_task(order_pk: int) -> int:
    """Compute a new order's recommendations, and render its thank-you block, ahead of the page."""
    from ..models import Order
    from .blocks import render_ahead
    from .serve import compute_ahead

    order = Order.objects.select_related("store", "customer").filter(pk=order_pk).first()
    if order is None:
        return 0
    recommendations = compute_ahead(order)
    render_ahead(order, recommendations)
    return len(recommendations)
