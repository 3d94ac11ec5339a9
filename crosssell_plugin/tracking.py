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
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core import signing
from django.db import IntegrityError, connections, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from .conf import crosssell_settings
from .models import Customer, Impression, Item, ModelVersion, Order, Store

if TYPE_CHECKING:
    from .recommend import Recommendation

logger = logging.getLogger(__name__)

CLICK_SALT = "crosssell.click"


def click_token(impression: Impression) -> str:
    """The signed token of an impression's link (the impression need not be saved yet)."""
    return signing.dumps(
        {
            "k": impression.key.hex,
            "s": impression.store_id,
            "it": impression.item_id,
            "o": impression.order_id,
            "c": impression.customer_id,
            "p": impression.placement,
            "r": impression.rank,
            "v": impression.model_version_id,
            "sc": round(impression.score, 6),
            "t": int(impression.created_at.timestamp()),
            **({"va": impression.variant} if impression.variant else {}),
        },
        salt=CLICK_SALT,
        compress=True,
    )


def _payload(token: str) -> dict[str, Any] | None:
    max_age = timedelta(days=crosssell_settings.CLICK_TOKEN_MAX_AGE_DAYS)
    try:
        payload = signing.loads(token, salt=CLICK_SALT, max_age=max_age)
    except (signing.BadSignature, ValueError, TypeError):  # SignatureExpired is a BadSignature
        return None
    return payload if isinstance(payload, dict) else None


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _optional(value: Any) -> bool:
    return value is None or _positive(value)


def impression_of(token: str, store_id: int | None = None) -> Impression | None:
    """The impression a token names (with its item), written now from the token if its row is
    not there yet; None if the token is tampered, malformed, older than
    ``CLICK_TOKEN_MAX_AGE_DAYS``, names an item that is gone, or (with ``store_id``) belongs to
    another store, which is checked before anything is written."""
    payload = _payload(token)
    if payload is None:
        return None
    if "k" not in payload and _positive(payload.get("i")):  # a link rendered before keys existed
        found = Impression.objects.select_related("item").filter(pk=payload["i"])
        return (found if store_id is None else found.filter(store_id=store_id)).first()
    if store_id is not None and payload.get("s") != store_id:
        return None
    try:
        key = uuid.UUID(hex=payload["k"])
        store, item, order, customer, version = (payload[f] for f in ("s", "it", "o", "c", "v"))
        placement, rank, score, when = payload["p"], payload["r"], float(payload["sc"]), int(payload["t"])
        variant = payload.get("va", "")
    except (KeyError, TypeError, ValueError):
        return None
    if not (_positive(store) and _positive(item) and _positive(rank) and isinstance(placement, str)):
        return None
    if not isinstance(variant, str):
        return None
    if not (_optional(order) and _optional(customer) and _optional(version)):
        return None
    found = Impression.objects.select_related("item").filter(key=key).first()
    if found is not None:
        return found if (found.store_id, found.item_id) == (store, item) else None
    if not Item.objects.for_store(store).filter(pk=item).exists():
        return None
    row = Impression(
        key=key,
        store_id=store,
        item_id=item,
        order_id=order if Order.objects.for_store(store).filter(pk=order).exists() else None,
        customer_id=customer if Customer.objects.for_store(store).filter(pk=customer).exists() else None,
        model_version_id=version if ModelVersion.objects.for_store(store).filter(pk=version).exists() else None,
        placement=placement[:50],
        variant=variant[:50],
        rank=rank,
        score=score,
        created_at=datetime.fromtimestamp(when, tz=UTC),
    )
    save_impressions([row])
    return Impression.objects.select_related("item").filter(key=key).first()


def impression_pk_of(token: str, store_id: int | None = None) -> int | None:
    """The pk of the impression a token names (see :func:`impression_of`), or None."""
    impression = impression_of(token, store_id)
    return impression.pk if impression is not None else None


def is_safe_target(url: str) -> bool:
    """A path on this site (``/x``, not ``//host``) or an absolute http(s) URL; nothing else
    (no ``javascript:``, no scheme-relative URL, no backslashes, spaces or control characters)."""
    if not url or "\\" in url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def click_url(impression: Impression) -> str:
    """The tracked link of an impression; the item's own URL (if safe) when the project does not
    include ``crosssell_plugin.urls``."""
    return tracked_link(impression)[1]


def tracked_link(impression: Impression) -> tuple[str, str]:
    """The token of an impression and its tracked link (which carries that token); the token and
    the item's own URL (if safe) when the project does not include ``crosssell_plugin.urls``."""
    token = click_token(impression)
    try:
        return token, reverse("crosssell:click", args=[token])
    except NoReverseMatch:
        url = impression.item.url
        return token, url if is_safe_target(url) else ""


def plan_impressions(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
    variant: str = "",
) -> list[Impression]:
    """One unsaved Impression per recommendation, in rank order, each with its random key (so
    its link can be made now); write them with :func:`save_impressions` or :func:`log_impressions`."""
    now = timezone.now()
    return [
        Impression(
            key=uuid.uuid4(),
            store=store,
            order=order,
            customer=customer,
            item=rec.item,
            placement=placement,
            rank=rank,
            score=rec.score,
            model_version_id=rec.model_version_pk,
            reason="\n".join(rec.reason_texts),
            variant=variant[:50],
            created_at=now,
        )
        for rank, rec in enumerate(recommendations, start=1)
    ]


_FIELDS = (
    "store_id",
    "order_id",
    "customer_id",
    "item_id",
    "placement",
    "rank",
    "score",
    "model_version_id",
    "reason",
    "variant",
)


def save_impressions(impressions: Sequence[Impression]) -> None:
    """Write planned impressions in one insert; a key already written (a click got there first,
    a task ran twice) is updated, never duplicated."""
    if not impressions:
        return
    try:
        Impression.objects.bulk_create(
            list(impressions), update_conflicts=True, unique_fields=["key"], update_fields=["reason", "score"]
        )
    except IntegrityError:  # an order, customer or model version deleted in the meantime
        for impression in impressions:
            try:
                with transaction.atomic():
                    Impression.objects.bulk_create(
                        [impression], update_conflicts=True, unique_fields=["key"], update_fields=["reason", "score"]
                    )
            except IntegrityError:
                logger.warning("Impression %s of store %s could not be written", impression.key, impression.store_id)


def impression_row(impression: Impression) -> dict[str, Any]:
    """An unsaved impression as a plain dict (the payload of the ``crosssell.log_impressions`` task)."""
    row = {field: getattr(impression, field) for field in _FIELDS}
    row["key"] = impression.key.hex
    row["created_at"] = impression.created_at.isoformat()
    return row


def impression_from_row(row: dict[str, Any]) -> Impression:
    fields = {field: row.get(field, "") if field == "variant" else row[field] for field in _FIELDS}
    return Impression(key=uuid.UUID(hex=row["key"]), created_at=datetime.fromisoformat(row["created_at"]), **fields)


def log_impressions(
    store: Store,
    recommendations: Sequence[Recommendation],
    placement: str,
    *,
    order: Order | None = None,
    customer: Customer | None = None,
    variant: str = "",
) -> list[Impression]:
    """:func:`plan_impressions`, then :func:`publish_impressions`: written by the
    ``crosssell.log_impressions`` task, off the request."""
    impressions = plan_impressions(store, recommendations, placement, order=order, customer=customer, variant=variant)
    publish_impressions([impression_row(i) for i in impressions])
    return impressions


def publish_impressions(rows: list[dict[str, Any]]) -> None:
    """Have planned impressions (as :func:`impression_row`) written by ``crosssell.log_impressions``.

    With a broker, the rows go to this process's :class:`ImpressionBuffer`, which publishes what
    has gathered every ``IMPRESSION_FLUSH_SECONDS`` from a background thread (one message for
    all the blocks shown meanwhile), so a page that shows a block only appends to a list. With
    ``IMPRESSION_FLUSH_SECONDS = 0``, or with eager tasks (no broker: the demo, tests), they are
    published (written) here and now."""
    if not rows:
        return
    if crosssell_settings.IMPRESSION_FLUSH_SECONDS and not _eager():
        buffer.add(rows)
    else:
        publish_now(rows)


def _eager() -> bool:
    from .tasks import log_impressions_task

    return bool(log_impressions_task.app.conf.task_always_eager)


def publish_now(rows: list[dict[str, Any]]) -> None:
    """Enqueue ``crosssell.log_impressions`` for ``rows`` (of any stores), at most
    ``ImpressionBuffer.MESSAGE_ROWS`` per message; written here and now when the broker cannot be
    reached, rather than lost."""
    from .tasks import log_impressions_task

    for start in range(0, len(rows), ImpressionBuffer.MESSAGE_ROWS):
        chunk = rows[start : start + ImpressionBuffer.MESSAGE_ROWS]
        try:
            log_impressions_task.delay(chunk)
        except Exception:
            logger.warning("Could not enqueue %d impressions; writing them now", len(chunk))
            save_impressions([impression_from_row(row) for row in chunk])


class ImpressionBuffer:
    """Impression rows of this process waiting to be published.

    :meth:`add` appends (under a lock) and starts the flushing thread on first use;
    the thread publishes everything gathered every ``IMPRESSION_FLUSH_SECONDS``, or as soon as
    ``FLUSH_ROWS`` rows are waiting. What is left is published when the process exits (``atexit``),
    and a forked child starts empty (its parent publishes what it had). If neither the broker nor
    the database takes a batch, its rows are kept for the next flush, up to ``KEEP_ROWS``.

    A process killed outright (SIGKILL) loses the impressions of at most its last
    ``IMPRESSION_FLUSH_SECONDS``; a click on one of their links still records the impression
    from its token. Where threads never run (uWSGI without ``--enable-threads``) or cannot be
    started, rows waiting longer than ``STALLED_SECONDS`` past the interval are published by the
    next :meth:`add` itself, and a warning says why."""

    FLUSH_ROWS = 200
    MESSAGE_ROWS = 500
    KEEP_ROWS = 50_000
    STALLED_SECONDS = 5.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[dict[str, Any]] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: when the oldest waiting row was added (monotonic), 0 when none waits
        self._since = 0.0
        #: when the thread last woke up to flush (monotonic)
        self._beat = 0.0
        self._warned = False

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._rows:
                self._since = now
            self._rows.extend(rows)
            waiting, since = len(self._rows), self._since
            started = self._thread is not None or self._start_thread()
        late = crosssell_settings.IMPRESSION_FLUSH_SECONDS + self.STALLED_SECONDS
        if not started or (now - since > late and now - self._beat > late):  # the thread is not flushing
            if not self._warned:
                self._warned = True
                logger.warning(
                    "The impression buffer's thread is not running (under uWSGI, use --enable-threads); "
                    "impressions are published from the requests instead"
                )
            self.flush()
        elif waiting >= self.FLUSH_ROWS:
            self._wake.set()

    def _start_thread(self) -> bool:
        thread = threading.Thread(target=self._run, name="crosssell-impressions", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no more threads can be started
            logger.exception("The impression buffer could not start its thread")
            return False
        self._thread = thread
        self._beat = time.monotonic()
        return True

    def flush(self) -> int:
        """Publish every waiting row now (this thread); the number of rows published."""
        with self._lock:
            rows, self._rows, self._since = self._rows, [], 0.0
        if not rows:
            return 0
        try:
            publish_now(rows)
        except Exception:
            with self._lock:
                kept = rows[: max(0, self.KEEP_ROWS - len(self._rows))]
                self._rows[:0] = kept
                self._since = self._since or time.monotonic()
            logger.exception(
                "%d impressions could not be published or written; %d kept for the next try", len(rows), len(kept)
            )
            return 0
        return len(rows)

    def _run(self) -> None:
        while True:
            self._wake.wait(crosssell_settings.IMPRESSION_FLUSH_SECONDS or 1.0)
            self._wake.clear()
            self._beat = time.monotonic()
            try:
                self.flush()
            except Exception:  # pragma: no cover - flush logs its own failures
                logger.exception("The impression buffer could not flush")
            finally:
                connections.close_all()  # this thread's connections, if the fallback opened one


#: this process's impression buffer
buffer = ImpressionBuffer()
os.register_at_fork(after_in_child=buffer._reset)
atexit.register(buffer.flush)


def flush_impressions() -> int:
    """Publish this process's buffered impressions now (see :class:`ImpressionBuffer`)."""
    return buffer.flush()
