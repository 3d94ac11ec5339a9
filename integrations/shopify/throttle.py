"""A per-shop limit on the storefront endpoints: the Checkout/Customer Account UI extension's
endpoint and the App Proxy. Every buyer's thank-you page of a shop calls them, unauthenticated
buyers included, so one shop (or someone replaying its tokens) must not take the host's whole
capacity: ``STOREFRONT_RATE`` requests per shop and endpoint (default ``"6000/min"``, about 100
a second), counted in the project's cache in fixed windows. Past it the answer is ``429`` with
``Retry-After`` (seconds to the window's end), which the extension shows as no block.

The count is shared by every process that shares the cache (Redis, Memcached, the database
cache); with Django's default per-process local-memory cache it is per process."""

from __future__ import annotations

import math
import time

from django.core.cache import cache

from . import conf

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_PERIODS |= {"d": 86_400, "day": 86_400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/min"`` -> (600, 60): requests and the window in seconds."""
    count, _, unit = rate.partition("/")
    return int(count), _PERIODS[unit]


def retry_after(domain: str, endpoint: str, now: float | None = None) -> int | None:
    """Count one request of ``domain`` on ``endpoint``: None while the shop is within its rate,
    else the whole seconds until its window ends (at least 1)."""
    allowed, period = parse_rate(conf.options()["STOREFRONT_RATE"])
    now = time.time() if now is None else now
    window = int(now // period)
    key = f"crosssell:shopify:rate:{endpoint}:{domain}:{period}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        used = 1
    else:
        try:
            used = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=period + 1)
            used = 1
    if used <= allowed:
        return None
    return max(1, math.ceil((window + 1) * period - now))
