"""Concurrent deliveries of one order, in threads and in separate processes, on the real
database (SQLite file or PostgreSQL): exactly one Order and one purchase_recorded signal."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
from django.db import connection, connections

from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Customer, Item, Order, OrderLine, Store
from crosssell_plugin.signals import purchase_recorded

from .conftest import STORE_REF, purchase_event

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 8
WORKERS = 4


@pytest.fixture
def live_store(transactional_db: Any) -> Store:
    return Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Race store", currency="EUR"
    )


def test_threads_racing_on_the_same_orders(live_store: Store) -> None:
    signals: list[str] = []
    lock = threading.Lock()

    def count(sender: Any, order: Order, **kwargs: Any) -> None:
        with lock:
            signals.append(order.external_id)

    purchase_recorded.connect(count, weak=False)
    errors: list[BaseException] = []
    created: list[bool] = []
    try:
        for n in range(ROUNDS):
            barrier = threading.Barrier(WORKERS)
            event = purchase_event(f"race-{n}")

            def deliver(event: Any = event, barrier: threading.Barrier = barrier) -> None:
                try:
                    barrier.wait(timeout=10)
                    created.append(record_purchase(event).created)
                except BaseException as err:  # reported below, with the round
                    errors.append(err)
                finally:
                    connection.close()

            threads = [threading.Thread(target=deliver) for _ in range(WORKERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    finally:
        purchase_recorded.disconnect(count)
    assert errors == []
    assert created.count(True) == ROUNDS and len(created) == ROUNDS * WORKERS
    assert Order.objects.count() == ROUNDS and OrderLine.objects.count() == 2 * ROUNDS
    assert Customer.objects.count() == 1 and Item.objects.count() == 2
    assert sorted(signals) == sorted(f"race-{n}" for n in range(ROUNDS))


def _deliver_in_child(order_id: str, barrier: Any, signals: Any, results: Any) -> None:
    # A forked child: open its own database connection, never the parent's.
    for conn in connections.all(initialized_only=True):
        conn.inc_thread_sharing()  # the inherited object belongs to another process now
        conn.connection = None
    ok = False
    try:
        barrier.wait(timeout=20)
        result = record_purchase(purchase_event(order_id))
        results.put(("created" if result.created else "existing", order_id))
        ok = True
    except BaseException as err:
        results.put(("error", repr(err)))
    finally:
        connections.close_all()
    if not ok:
        raise SystemExit(1)


def test_processes_racing_on_the_same_order(live_store: Store) -> None:
    ctx = multiprocessing.get_context("fork")
    signals = ctx.Value("i", 0)

    def count(sender: Any, **kwargs: Any) -> None:
        with signals.get_lock():
            signals.value += 1

    purchase_recorded.connect(count, weak=False)
    results = ctx.Queue()
    try:
        for n in range(3):
            connections.close_all()  # children must not share the parent's socket
            barrier = ctx.Barrier(2)
            procs = [
                ctx.Process(target=_deliver_in_child, args=(f"proc-{n}", barrier, signals, results)) for _ in range(2)
            ]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(timeout=60)
            assert [p.exitcode for p in procs] == [0, 0]
    finally:
        purchase_recorded.disconnect(count)
    outcomes = [results.get(timeout=5) for _ in range(6)]
    assert sorted(o[0] for o in outcomes) == ["created"] * 3 + ["existing"] * 3
    assert Order.objects.filter(external_id__startswith="proc-").count() == 3
    assert signals.value == 3
