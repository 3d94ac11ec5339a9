"""Publishing impressions off the page's path: the process's :class:`ImpressionBuffer` and the
``crosssell.log_impressions`` task it enqueues (written here and now with eager tasks)."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import connections

from ..conf import crosssell_settings
from ..models import Customer, Impression, Order, Store
from ..queueing import INLINE, enqueue
from .impressions import impression_row, plan_impressions

if TYPE_CHECKING:
    from ..recommend import Recommendation

logger = logging.getLogger(__name__)


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
    reached (:func:`~crosssell_plugin.queueing.enqueue`), rather than lost: no later job could
    recompute them, and one insert is cheap (from the buffer's thread, off the page's path)."""
    from .tasks import log_impressions_task

    for start in range(0, len(rows), ImpressionBuffer.MESSAGE_ROWS):
        chunk = rows[start : start + ImpressionBuffer.MESSAGE_ROWS]
        enqueue(log_impressions_task, chunk, fallback=INLINE)


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
