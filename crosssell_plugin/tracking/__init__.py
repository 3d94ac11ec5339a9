"""Impressions and the signed click links of the recommendation blocks and messages.

Each recommendation shown gets an :class:`~crosssell_plugin.models.Impression` with a random
``key``, chosen when the block is rendered (:func:`plan_impressions`). Its link is
``/crosssell/r/<token>/`` with ``token = signing.dumps({...}, salt="crosssell.click")`` naming
that key and the impression's facts (store, item, order, customer, placement, rank, model
version, score, time). The rows themselves are written off the page's path: the page hands
them to the process's :class:`ImpressionBuffer`, whose thread publishes one
``crosssell.log_impressions`` task (one ``bulk_create``) for all the blocks shown in each
``IMPRESSION_FLUSH_SECONDS``; with eager tasks they are written at once. A click that arrives
before its row is written creates it from the token. A token names an impression, never a URL:
the redirect can only go to the stored URL of the impression's item, and only when that URL is
a path on this site (``/films/cleo/``) or an ``http(s)://`` URL (see :func:`is_safe_target`).

The package: :mod:`.tokens` (signed tokens, tracked and short links), :mod:`.impressions`
(planning, writing, reading back), :mod:`.buffer` (publishing off the request),
:mod:`.attribution` (conversions), :mod:`.views` (the redirects) and :mod:`.tasks`.
"""

from ..absolute_urls import is_safe_target
from .attribution import attribute_order
from .buffer import ImpressionBuffer, buffer, flush_impressions, log_impressions, publish_impressions, publish_now
from .impressions import (
    impression_from_row,
    impression_of,
    impression_pk_of,
    impression_row,
    plan_impressions,
    save_impressions,
)
from .tokens import CLICK_SALT, click_token, click_url, key_of, short_click_url, short_code, tracked_link

__all__ = [
    "CLICK_SALT",
    "ImpressionBuffer",
    "attribute_order",
    "buffer",
    "click_token",
    "click_url",
    "flush_impressions",
    "impression_from_row",
    "impression_of",
    "impression_pk_of",
    "impression_row",
    "is_safe_target",
    "key_of",
    "log_impressions",
    "plan_impressions",
    "publish_impressions",
    "publish_now",
    "save_impressions",
    "short_click_url",
    "short_code",
    "tracked_link",
]
