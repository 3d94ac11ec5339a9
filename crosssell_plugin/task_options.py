"""Retry options the core's Celery tasks share (a database that is briefly unavailable)."""

from __future__ import annotations

from django.db import OperationalError

#: errors a task is retried on, with exponential backoff
RETRY_ON = (OperationalError,)
MAX_RETRIES = 5
