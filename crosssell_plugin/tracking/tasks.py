"""Celery tasks of tracking: writing the impressions the blocks and messages showed."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..task_options import MAX_RETRIES, RETRY_ON


@shared_task(
    name="crosssell.log_impressions",
    ignore_result=True,
    autoretry_for=RETRY_ON,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def log_impressions_task(rows: list[dict[str, Any]]) -> int:
    """Write impressions published together (one block, or every block a process showed in one
    ``IMPRESSION_FLUSH_SECONDS``) in one insert, idempotent on each impression's key."""
    from .impressions import impression_from_row, save_impressions

    save_impressions([impression_from_row(row) for row in rows])
    return len(rows)
