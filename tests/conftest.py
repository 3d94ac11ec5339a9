"""Shared fixtures: a store and builders of valid events that a test then bends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.models import Store

ROOT = Path(__file__).resolve().parent.parent

STORE_REF = StoreRef("custom", "test-store")


@pytest.fixture(autouse=True)
def _no_holdout_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """No customer is held out unless a test asks for a holdout (``CROSSSELL["HOLDOUT_SHARE"]`` or
    a store's experiment): the product's default (10 %) with a random salt per store would make
    blocks and messages come and go in tests that replace ``CROSSSELL`` with their own dict."""
    from dataclasses import replace

    from crosssell_plugin import conf

    monkeypatch.setitem(conf.SETTINGS, "HOLDOUT_SHARE", replace(conf.SETTINGS["HOLDOUT_SHARE"], default=0.0))


@pytest.fixture(autouse=True)
def _no_remembered_stores_or_models() -> Iterator[None]:
    """Each test starts without the Stores and models a process remembers (``store_of``,
    ``get_model``): another test's rows, rolled back, are not this test's."""
    from crosssell_plugin import recommend
    from crosssell_plugin.experiments import assignment

    recommend.clear_cache()
    assignment.clear_cache()
    yield


@pytest.fixture(autouse=True)
def _no_remembered_broker_failures() -> Iterator[None]:
    """Each test starts without the broker failures a process remembers (the circuit breaker of
    ``crosssell_plugin.queueing``): another test's unreachable broker is not this test's."""
    from crosssell_plugin import queueing

    queueing.breaker.reset()
    yield
    queueing.breaker.reset()


@pytest.fixture(autouse=True)
def _celery_join_guard_reset() -> Iterator[None]:
    """Each test starts with Celery's "a task is running here" flag down.

    In eager mode Celery raises that process-global flag around every task it runs inline and
    restores the value it saw on entry; when two threads run eager tasks at once (the live
    server's request threads, the concurrency tests) the last one out can restore the other's
    raised value and leave it up for good. A later ``AsyncResult.get()`` in this process (the
    real-worker tests) would then refuse to wait with "Never call result.get() within a task!"."""
    from celery import _state

    _state._set_task_join_will_block(False)
    yield


@pytest.fixture
def store(db: Any) -> Store:
    return Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Test store", currency="EUR"
    )


def catalog_item(external_id: str = "film-1", **overrides: Any) -> CatalogItem:
    values: dict[str, Any] = {
        "external_id": external_id,
        "title": f"Film {external_id}",
        "kind": "film",
        "price": Decimal("9.99"),
        "currency": "EUR",
        "genres": ("Drama",),
        "people": {"director": ("Agnès Varda",)},
    }
    values.update(overrides)
    return CatalogItem(**values)


def purchase_event(order_id: str = "1001", *, lines: Any = None, **overrides: Any) -> PurchaseEvent:
    values: dict[str, Any] = {
        "store": STORE_REF,
        "order_id": order_id,
        "occurred_at": datetime(2026, 11, 1, 12, 30, tzinfo=UTC),
        "currency": "EUR",
        "customer": CustomerData(email="ann@example.com", first_name="Ann"),
        "lines": lines
        if lines is not None
        else (
            PurchaseLine(catalog_item("film-1"), 1, Decimal("9.99")),
            PurchaseLine(catalog_item("merch-1", kind="merch", price=Decimal("25.00")), 2, Decimal("25.00")),
        ),
        "raw": {"id": order_id},
    }
    values.update(overrides)
    return PurchaseEvent(**values)


_UNSET = object()


@contextmanager
def celery_configured(**conf: Any) -> Iterator[Any]:
    """Reconfigure the project's Celery app (broker, eagerness...) and restore it afterwards.

    The app caches its connection pool, producer pool and result backend, each bound to the broker
    and backend of the moment it was first used (even an eager ``.delay()`` creates them): they are
    cleared on the way in so the new configuration takes effect, and put back on the way out. Pools
    are not closed: kombu keeps them in process-wide registries and would hand a closed one out again.
    """
    from shop.celery import app

    local = app._local.__dict__  # a non-thread-safe result backend is cached per thread
    saved_state = (app._pool, app.amqp._producer_pool, app._backend_cache, local.get("backend", _UNSET))
    saved_conf = {key: app.conf[key] for key in conf}
    app.conf.update(conf)
    app._pool = app.amqp._producer_pool = app._backend_cache = None
    local.pop("backend", None)
    try:
        yield app
    finally:
        app.conf.update(saved_conf)
        app._pool, app.amqp._producer_pool, app._backend_cache, backend = saved_state
        if backend is _UNSET:
            local.pop("backend", None)
        else:
            local["backend"] = backend


@contextmanager
def celery_worker(
    node: str, queue: str, env: dict[str, str], *, quiet: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """A real Celery worker process (``celery -A shop worker``, solo pool) serving ``queue`` as
    ``node``, with ``env`` (database name, broker...); waits until it answers a ping, stops it after.
    ``quiet`` discards its output (for long runs whose log would fill the pipe)."""
    from shop.celery import app

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "shop",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-n",
            node,
            "-Q",
            queue,
        ],
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}", **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=1):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.communicate()[0] or "(output discarded)"
                raise RuntimeError("the Celery worker did not start:\n" + output)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture
def record(django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """``record_purchase(event).order`` with its on-commit signals run, as after a real commit."""
    from crosssell_plugin.ingest import record_purchase

    def run(purchase: PurchaseEvent) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return record_purchase(purchase).order

    return run


@pytest.fixture
def isolated_models(settings: Any, tmp_path: Any) -> Iterator[None]:
    """Model artifacts in a fresh directory, the active version checked on every call, no cached
    model and no cached recommendation block."""
    from django.core.cache import cache

    from crosssell_plugin import recommend

    cache.clear()

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.CROSSSELL = {**getattr(settings, "CROSSSELL", {}), "MODEL_CHECK_SECONDS": 0}
    recommend.clear_cache()
    yield
    recommend.clear_cache()
