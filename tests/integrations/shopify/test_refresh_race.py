"""Two workers refreshing the same shop's token at once, on the real database (SQLite file or
PostgreSQL): exactly one refresh request reaches Shopify, and both workers get the new token.

Both workers hold the same stale row, so both decide to refresh. The first to lock the row asks
Shopify, and Shopify's answer is held back until the second worker is waiting for the lock (on
PostgreSQL: seen in ``pg_stat_activity``; on SQLite, where the lock is the write transaction, a
short pause after it reached it). Without the lock, the second worker would read the old refresh
token meanwhile and spend it in a second request.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import responses
import time_machine
from django.db import connection, connections

from integrations.shopify import auth
from integrations.shopify.models import ShopifyShop

from .conftest import DOMAIN, T0, fixture, install_shop, token_url

pytestmark = [pytest.mark.usefixtures("shopify_app"), pytest.mark.django_db(transaction=True)]

GRANTED = fixture("token_offline_expiring")
REFRESHED = fixture("token_refreshed")
NEAR_EXPIRY = T0 + timedelta(minutes=57)


@pytest.fixture
def live_shop(transactional_db: Any) -> Iterator[ShopifyShop]:
    """A shop installed at T0; the clock then runs from near its token's expiry (the margin is 5 min)."""
    with time_machine.travel(T0, tick=False):
        shop = install_shop(DOMAIN)
    with time_machine.travel(NEAR_EXPIRY, tick=True):
        yield shop


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_two_threads_refresh_once_and_both_get_the_new_token(live_shop: ShopifyShop) -> None:
    stale = [ShopifyShop.objects.get(pk=live_shop.pk) for _ in range(2)]
    reached_lock: list[str] = []
    second_is_waiting = threading.Event()
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def note_locking(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("BEGIN") or "FOR UPDATE" in sql:  # SQLite queues at BEGIN IMMEDIATE
            reached_lock.append(threading.current_thread().name)
        return execute(sql, params, many, context)

    def shopify_answers(request: Any) -> tuple[int, dict[str, str], str]:
        assert second_is_waiting.wait(timeout=30), "the second worker never reached the lock"
        return 200, {"Content-Type": "application/json"}, json.dumps(REFRESHED)

    def worker(index: int) -> None:
        try:
            with connection.execute_wrapper(note_locking):
                results[index] = auth.access_token(stale[index])
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            connection.close()

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, token_url(), callback=shopify_answers)
        threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(2)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(set(reached_lock)) == 2, "both workers to reach the lock")
        if connection.vendor == "postgresql":
            _wait_for(lambda: _lock_waiters() >= 1, "the second worker to wait on the row lock")
        else:
            time.sleep(0.3)  # the second BEGIN IMMEDIATE is queued behind the first transaction
        second_is_waiting.set()
        for thread in threads:
            thread.join(timeout=60)
        calls = len(rsps.calls)
        sent = [call.request.body for call in rsps.calls]
    assert errors == []
    assert calls == 1
    assert GRANTED["refresh_token"].encode() in sent[0]
    assert results == {0: REFRESHED["access_token"], 1: REFRESHED["access_token"]}
    saved = ShopifyShop.objects.get(pk=live_shop.pk)
    assert (saved.access_token, saved.refresh_token) == (REFRESHED["access_token"], REFRESHED["refresh_token"])
    assert all(shop.refresh_token == REFRESHED["refresh_token"] for shop in stale)


def _refresh_in_child(pk: int, barrier: Any, calls: Any, results: Any) -> None:
    # A forked child: its own database connections, Shopify faked inside it, counted in shared memory.
    for conn in connections.all(initialized_only=True):
        conn.inc_thread_sharing()
        conn.connection = None
    ok = False
    try:

        def shopify_answers(request: Any) -> tuple[int, dict[str, str], str]:
            with calls.get_lock():
                calls.value += 1
            time.sleep(0.5)  # answer slowly: the other process is queued on the lock meanwhile
            return 200, {"Content-Type": "application/json"}, json.dumps(REFRESHED)

        with responses.RequestsMock() as rsps:
            rsps.add_callback(responses.POST, token_url(), callback=shopify_answers)
            shop = ShopifyShop.objects.get(pk=pk)  # stale: both children read it before either refreshes
            barrier.wait(timeout=20)
            results.put(("token", auth.access_token(shop)))
            ok = True
    except BaseException as err:
        results.put(("error", repr(err)))
    finally:
        connections.close_all()
    if not ok:
        raise SystemExit(1)


def test_two_processes_refresh_once_and_both_get_the_new_token(live_shop: ShopifyShop) -> None:
    ctx = multiprocessing.get_context("fork")
    calls = ctx.Value("i", 0)
    results = ctx.Queue()
    barrier = ctx.Barrier(2)
    connections.close_all()  # the children must not share the parent's socket
    procs = [ctx.Process(target=_refresh_in_child, args=(live_shop.pk, barrier, calls, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=90)
    outcomes = [results.get(timeout=5) for _ in range(2)]
    assert [p.exitcode for p in procs] == [0, 0], outcomes
    assert outcomes == [("token", REFRESHED["access_token"])] * 2
    assert calls.value == 1
    saved = ShopifyShop.objects.get(pk=live_shop.pk)
    assert (saved.access_token, saved.refresh_token) == (REFRESHED["access_token"], REFRESHED["refresh_token"])
