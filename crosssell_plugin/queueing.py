"""Handing work to Celery without making a request wait on a broker that is down.

Every place the plugin enqueues a task goes through :func:`enqueue`. It publishes with a short,
bounded retry policy (:data:`PUBLISH_RETRY_POLICY`) and without subscribing to a result (nobody
waits for one); when publishing fails with a broker error (the broker refuses or does not answer)
it applies the call site's fallback:

* :data:`INLINE` (or ``RunInline(func)``): run the work here and now, for work that must not be
  lost (recording an order, processing a stored webhook delivery). The work must be idempotent:
  the message may have reached the broker after all;
* ``Drop(recovered_by)``: log and drop, for derivable work that a later job recomputes (pair
  counts learned by the next training, a thank-you block the page computes itself).

Either way a warning names the task and the broker error. A process that has just seen the broker
fail remembers it for :data:`BREAKER_SECONDS` (a circuit breaker per broker URL): meanwhile every
:func:`enqueue` goes straight to its fallback without paying the connection timeout again; the
first call after that tries the broker once more (the others keep skipping until it answers), and
a success closes the breaker.

How long one failed publish can take is the retry policy times the broker's own timeouts, which
are the Celery settings of the project (with Redis: ``broker_transport_options``
``socket_connect_timeout`` and ``socket_timeout``; see the README, "When the broker is down").
With eager tasks (``CELERY_TASK_ALWAYS_EAGER``, no broker) the task simply runs, as before.

The policy and the breaker's memory are module constants (``PUBLISH_RETRY_POLICY``,
``BREAKER_SECONDS``): set them from a project's ``AppConfig.ready()`` if the defaults do not fit.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kombu.exceptions

logger = logging.getLogger(__name__)

#: kombu's retry policy for one publish: one retry (a pooled connection the broker dropped is
#: reconnected), no waiting in between. With a refused connection it fails in a few
#: milliseconds; with a broker that does not answer, in twice the transport's connect timeout.
PUBLISH_RETRY_POLICY: dict[str, float] = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}

#: seconds a process remembers a failed publish before it tries the broker again
BREAKER_SECONDS = 5.0


def _broker_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        kombu.exceptions.OperationalError,  # kombu re-raises the transports' connection errors as this
        kombu.exceptions.ConnectionError,  # amqp's
        OSError,  # ConnectionError, TimeoutError, socket.gaierror: the network itself
    ]
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis is the usual broker, not a dependency
        pass
    else:
        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    return tuple(errors)


#: what counts as "the broker is unreachable" (anything else, such as a message that cannot be
#: serialized, is a bug and propagates)
BROKER_ERRORS = _broker_errors()


class Outcome(enum.StrEnum):
    """What :func:`enqueue` did."""

    QUEUED = "queued"
    RAN_INLINE = "ran inline"
    DROPPED = "dropped"


@dataclass(frozen=True)
class RunInline:
    """Fallback: run the work in this process now. ``func`` (called with the task's arguments)
    replaces the task's own body, for a call site that needs to handle failures itself."""

    func: Callable[..., Any] | None = None


@dataclass(frozen=True)
class Drop:
    """Fallback: log and drop the task; ``recovered_by`` says, in the warning, what makes up for it."""

    recovered_by: str


#: run the task's own body in this process
INLINE = RunInline()

Fallback = RunInline | Drop


@dataclass
class _Failure:
    error: str
    #: monotonic time until which publishing is skipped
    until: float


class CircuitBreaker:
    """Failed publishes remembered per broker URL for :data:`BREAKER_SECONDS` (thread-safe).

    ``clock`` is the monotonic clock it reads (replaceable, for tests that move it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failure] = {}

    def skip(self, broker: str) -> str | None:
        """The remembered error if publishing to ``broker`` should be skipped now, else None.
        Once the memory has expired, the first caller gets None (it tries the broker) and the
        others keep skipping until that attempt has succeeded or failed."""
        with self._lock:
            failure = self._failures.get(broker)
            if failure is None:
                return None
            now = self.clock()
            if now < failure.until:
                return failure.error
            failure.until = now + BREAKER_SECONDS  # this caller probes; the others wait for it
            return None

    def failed(self, broker: str, error: BaseException) -> None:
        with self._lock:
            self._failures[broker] = _Failure(_describe_error(error), self.clock() + BREAKER_SECONDS)

    def succeeded(self, broker: str) -> None:
        if broker in self._failures:
            with self._lock:
                self._failures.pop(broker, None)

    def reset(self) -> None:
        """Forget every remembered failure (the next publish tries the broker)."""
        with self._lock:
            self._failures.clear()


#: this process's circuit breaker
breaker = CircuitBreaker()


def enqueue(
    task: Any,
    *args: Any,
    fallback: Fallback,
    retry_policy: dict[str, float] | None = None,
) -> Outcome:
    """Publish ``task`` with ``args`` (fire and forget); on a broker error apply ``fallback``.

    ``task`` is a Celery task (``@shared_task``); ``retry_policy`` replaces
    :data:`PUBLISH_RETRY_POLICY` for this call. Errors of the task itself are not caught: those
    of an eager task, and those of the fallback's inline run, reach the caller."""
    app = task.app
    if app.conf.task_always_eager:
        task.apply_async(args)
        return Outcome.QUEUED
    broker = _broker_of(app)
    remembered = breaker.skip(broker)
    if remembered is not None:
        return _fall_back(task, args, fallback, remembered, skipped=True)
    try:
        task.apply_async(
            args,
            ignore_result=True,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY if retry_policy is None else retry_policy,
        )
    except BROKER_ERRORS as err:
        breaker.failed(broker, err)
        return _fall_back(task, args, fallback, _describe_error(err), skipped=False)
    breaker.succeeded(broker)
    return Outcome.QUEUED


def _broker_of(app: Any) -> str:
    return str(app.conf.broker_url or app.conf.broker_read_url or "")


def _fall_back(task: Any, args: tuple[Any, ...], fallback: Fallback, error: str, *, skipped: bool) -> Outcome:
    why = f"the broker failed less than {BREAKER_SECONDS:g} s ago ({error})" if skipped else f"the broker: {error}"
    call = _describe_call(task, args)
    if isinstance(fallback, Drop):
        logger.warning("Could not queue %s (%s); dropped: %s", call, why, fallback.recovered_by)
        return Outcome.DROPPED
    logger.warning("Could not queue %s (%s); running it here", call, why)
    (fallback.func or task)(*args)
    return Outcome.RAN_INLINE


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _describe_call(task: Any, args: tuple[Any, ...]) -> str:
    """``crosssell.record_order(42)``; arguments other than numbers and short strings are named
    by type and length (impression rows are long and the log need not hold them)."""
    shown = []
    for arg in args:
        if isinstance(arg, int | float) or (isinstance(arg, str) and len(arg) <= 40):
            shown.append(repr(arg))
        elif hasattr(arg, "__len__"):
            shown.append(f"<{type(arg).__name__} of {len(arg)}>")
        else:
            shown.append(f"<{type(arg).__name__}>")
    return f"{task.name}({', '.join(shown)})"
