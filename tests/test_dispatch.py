"""The outbox dispatcher: claims and leases, provider failures and backoff, and exactly-once sending
with real worker processes racing (PostgreSQL: SKIP LOCKED; SQLite: the conditional-UPDATE fallback)
and a worker killed with SIGKILL in the middle of a batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import responses
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crosssell_plugin.followups.dispatch import backoff_seconds, claim, dispatch_due, finish, mark_sent
from crosssell_plugin.models import (
    Customer,
    CustomerConsent,
    Impression,
    Item,
    Order,
    OrderLine,
    ScheduledMessage,
    Step,
    Store,
)
from crosssell_plugin.models import (
    Path as FollowupPath,
)

from .conftest import STORE_REF
from .followups_support import T0, enable_default_path, event, seed_popular

Status = ScheduledMessage.Status
ROOT = Path(__file__).resolve().parent.parent
TWILIO = "https://twilio.test/2010-04-01/Accounts/AC123/Messages.json"
TOKEN = "secret-auth-token-0123456789"


# --- provider failures, retries and backoff (Twilio against `responses`) ------------------------


@pytest.fixture
def sms_shop(store: Store, record: Callable[..., Order], settings: Any, isolated_models: None) -> Store:
    settings.CROSSSELL = {
        **settings.CROSSSELL,
        "QUIET_HOURS": None,
        "MAX_ATTEMPTS": 3,
        "RETRY_BASE_SECONDS": 60,
        "RETRY_MAX_SECONDS": 600,
        "SMS": {
            "BACKEND": "crosssell_plugin.channels.sms.TwilioSmsBackend",
            "FROM": "+15005550006",
            "ACCOUNT_SID": "AC123",
            "AUTH_TOKEN": TOKEN,
            "BASE_URL": "https://twilio.test",
        },
    }
    seed_popular(record)
    enable_default_path(store, channel="sms")
    return store


def _first(order: Order) -> ScheduledMessage:
    return ScheduledMessage.objects.for_store(order.store_id).get(order=order, step__position=1)


def _run_at(when: Any) -> Any:
    with time_machine.travel(when, tick=False):
        return dispatch_due()


@responses.activate
def test_5xx_and_timeouts_retry_with_backoff_then_fail(sms_shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("t-1"))
    responses.post(TWILIO, json={"code": 20500, "message": "Internal Server Error"}, status=503)
    now = T0 + timedelta(hours=1, seconds=1)
    assert _run_at(now).retried == 1
    message = _first(order)
    assert (message.status, message.attempts) == (Status.PLANNED, 1)
    assert now + timedelta(seconds=30) <= message.next_attempt_at <= now + timedelta(seconds=60)
    assert "HTTP 503" in message.last_error and TOKEN not in message.last_error
    # not before its next attempt
    assert _run_at(now + timedelta(seconds=29)).claimed == 0
    responses.replace(responses.POST, TWILIO, body=requests.exceptions.ConnectTimeout("timed out"))
    now = message.next_attempt_at + timedelta(seconds=1)
    assert _run_at(now).retried == 1
    message.refresh_from_db()
    assert message.attempts == 2 and "could not be reached" in message.last_error
    assert now + timedelta(seconds=60) <= message.next_attempt_at <= now + timedelta(seconds=120)  # doubled
    report = _run_at(message.next_attempt_at + timedelta(seconds=1))
    message.refresh_from_db()
    assert report.failed == 1 and (message.status, message.attempts) == (Status.FAILED, 3)  # MAX_ATTEMPTS
    assert len(responses.calls) == 3
    assert all(
        call.request.headers["I-Twilio-Idempotency-Token"] == message.idempotency_key for call in responses.calls
    )


@responses.activate
def test_429_waits_for_retry_after_when_it_is_longer(sms_shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("t-2"))
    responses.post(
        TWILIO, json={"code": 20429, "message": "Too Many Requests"}, status=429, headers={"Retry-After": "900"}
    )
    now = T0 + timedelta(hours=1, seconds=1)
    _run_at(now)
    message = _first(order)
    assert message.status == Status.PLANNED and message.next_attempt_at == now + timedelta(seconds=900)
    responses.replace(responses.POST, TWILIO, json={"sid": "SM1"}, status=201)
    assert _run_at(now + timedelta(seconds=901)).sent == 1
    message.refresh_from_db()
    assert (message.status, message.provider_message_id, message.attempts) == (Status.SENT, "SM1", 2)


@responses.activate
def test_an_opted_out_recipient_fails_and_withdraws_sms_consent(sms_shop: Store, record: Callable[..., Order]) -> None:
    order = record(event("t-3"))
    responses.post(TWILIO, json={"code": 21610, "message": "Attempt to send to unsubscribed recipient"}, status=400)
    report = _run_at(T0 + timedelta(hours=1, seconds=1))
    assert report.failed == 1
    assert not order.customer.has_marketing_consent("sms")
    assert CustomerConsent.objects.get(customer=order.customer, channel="sms").granted is False
    statuses = list(
        ScheduledMessage.objects.filter(order=order).order_by("step__position").values_list("status", flat=True)
    )
    assert statuses == [Status.FAILED, Status.CANCELLED, Status.CANCELLED]


def test_backoff_is_capped_and_jittered(settings: Any) -> None:
    settings.CROSSSELL = {"RETRY_BASE_SECONDS": 10, "RETRY_MAX_SECONDS": 100}
    waits = [backoff_seconds(n) for n in range(1, 8)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and all(50 <= w <= 100 for w in waits[4:])
    assert backoff_seconds(1, retry_after=500) == 500


# --- claims and leases ------------------------------------------------------------------------------


def test_an_expired_lease_is_reclaimed_and_the_old_holder_cannot_record(
    sms_shop: Store, record: Callable[..., Order], settings: Any
) -> None:
    order = record(event("l-1"))
    settings.CROSSSELL = {**settings.CROSSSELL, "LEASE_SECONDS": 60}
    now = T0 + timedelta(hours=1, seconds=1)
    first = claim(10, "worker-a:1", now)
    assert [m.order_id for m in first] == [order.pk]
    assert claim(10, "worker-b:1", now + timedelta(seconds=59)) == []  # still leased
    second = claim(10, "worker-b:2", now + timedelta(seconds=61))  # worker a died
    assert [m.pk for m in second] == [first[0].pk]
    assert finish(first[0], "worker-a:1", status=Status.SENT) is False  # too late for a
    assert finish(second[0], "worker-b:2", status=Status.SENT) is True
    assert _first(order).status == Status.SENT


def _sent_outgoing(message: ScheduledMessage, items: list[Item], keys: list[Any] | None = None) -> Any:
    impressions = [
        Impression(
            store_id=message.store_id,
            order_id=message.order_id,
            customer_id=message.customer_id,
            item=item,
            placement="sms",
            rank=rank,
            score=0.5,
            reason="new",
            **({"key": keys[rank - 1]} if keys else {}),
        )
        for rank, item in enumerate(items, start=1)
    ]
    return SimpleNamespace(meta={"impressions": impressions}), SimpleNamespace(provider_message_id="SM1")


@pytest.mark.parametrize("autocommit", [False, True], ids=["in-a-transaction", "autocommit"])
def test_recording_a_send_writes_the_row_and_its_impressions_both_or_neither(
    sms_shop: Store, record: Callable[..., Order], request: Any, autocommit: bool
) -> None:
    if autocommit:
        request.getfixturevalue("transactional_db")
    order = record(event("m-1"))
    now = T0 + timedelta(hours=1, seconds=1)
    items = list(Item.objects.for_store(sms_shop).filter(external_id__startswith="pop-")[:2])
    (message,) = claim(10, "worker-a:1", now)
    assert claim(10, "worker-b:1", now + timedelta(seconds=400))  # the lease expired: b holds it now
    outgoing, result = _sent_outgoing(message, items)
    assert mark_sent(message, "worker-a:1", "sms", outgoing, result, []) is False
    assert _first(order).status == Status.CLAIMED and not Impression.objects.for_store(sms_shop).exists()

    existing = Impression.objects.create(
        store=sms_shop, item=items[0], placement="sms", rank=1, score=0.1, reason="old", customer=message.customer
    )
    outgoing, result = _sent_outgoing(message, items, keys=[existing.key, uuid.uuid4()])
    assert mark_sent(message, "worker-b:1", "sms", outgoing, result, []) is True
    row = _first(order)
    assert (row.status, row.sent_channel, row.sent_items, row.provider_message_id) == (
        Status.SENT,
        "sms",
        [i.pk for i in items],
        "SM1",
    )
    assert (row.attempts, row.lease_until, row.last_error) == (1, None, "")
    shown = Impression.objects.for_store(sms_shop).order_by("rank")
    assert [(i.item_id, i.rank, i.score, i.reason, i.order_id) for i in shown] == [
        (items[0].pk, 1, 0.5, "new", None),  # the key already written: updated, not duplicated
        (items[1].pk, 2, 0.5, "new", order.pk),
    ]


def test_a_batch_reads_per_chunk_and_a_customers_next_message_sees_the_first(
    store: Store, settings: Any, isolated_models: None
) -> None:
    """40 messages, two per customer: the guards' data and the histories are read for a chunk of
    customers at once (a few queries per chunk, not per message), and a customer's second message
    goes in a later chunk that counts the first one's send (a cap of 1: it is skipped)."""
    settings.CROSSSELL = {**settings.CROSSSELL, "QUIET_HOURS": None, "FREQUENCY_CAP": 1, "MODEL_CHECK_SECONDS": 3600}
    keys = _outbox(store, 20, steps=2)
    with CaptureQueriesContext(connection) as queries:
        report = dispatch_due(batch_size=100)
    assert (report.claimed, report.sent, report.skipped) == (40, 20, 20)
    assert report.skip_reasons == {"frequency cap": 20}
    rows = ScheduledMessage.objects.for_store(store)
    sent = rows.filter(status=Status.SENT)
    assert sorted(sent.values_list("step__position", flat=True)) == [1] * 20
    assert rows.count() == len(keys)
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    # the claim (2), the model check and the popularity ranking (2), the store's running
    # experiments (1, none here: no assignment to read), per chunk: consents, recent sends,
    # purchases, consumption, the items shown (5 each)
    assert len(selects) <= 15, "\n".join(selects)


# --- real worker processes: racing, and killed mid-batch ---------------------------------------------


def _outbox(store: Store, n_orders: int, steps: int = 4) -> list[str]:
    """``n_orders * steps`` SMS follow-ups due now, for customers who consented to SMS."""
    items = Item.objects.bulk_create(
        Item(store=store, external_id=f"i-{n}", kind="film", title=f"Film {n}", price=Decimal("5"), currency="EUR")
        for n in range(10)
    )
    path = FollowupPath.objects.create(store=store, name="race", enabled=True)
    step_rows = Step.objects.bulk_create(
        Step(path=path, position=p, name=f"s{p}", delay=timedelta(hours=p), channel="sms", template="soft_upsell")
        for p in range(1, steps + 1)
    )
    customers = Customer.objects.bulk_create(
        Customer(store=store, email=f"c{n}@example.com", phone=f"+1415555{n:04d}") for n in range(n_orders)
    )
    now = timezone.now()
    CustomerConsent.objects.bulk_create(
        CustomerConsent(customer=c, channel="sms", granted=True, source="test", recorded_at=now) for c in customers
    )
    orders = Order.objects.bulk_create(
        Order(store=store, customer=c, external_id=f"o-{n}", placed_at=now - timedelta(days=1), currency="EUR", total=5)
        for n, c in enumerate(customers)
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=o, position=1, item=items[n % 10], quantity=1, unit_price=Decimal("5"))
        for n, o in enumerate(orders)
    )
    messages = [
        ScheduledMessage(
            store=store,
            customer_id=o.customer_id,
            order=o,
            path=path,
            step=s,
            idempotency_key=f"{o.customer_id}:{o.pk}:{s.pk}",
            channel="sms",
            due_at=now - timedelta(minutes=1),
        )
        for o in orders
        for s in step_rows
    ]
    ScheduledMessage.objects.bulk_create(messages, batch_size=500)
    return [m.idempotency_key for m in messages]


def _dispatcher(
    sms_file: Path, *args: str, delay: float = 0.0, lease: int = 300, gate: Path | None = None
) -> subprocess.Popen[str]:
    overrides = {
        "SMS": {"BACKEND": "tests.followups_support.FileSmsBackend"},
        "QUIET_HOURS": None,
        "FREQUENCY_CAP": 1000,
        "LEASE_SECONDS": lease,
    }
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'example_project'}",
        "DJANGO_SETTINGS_MODULE": "tests.followups_worker_settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_TEST_OVERRIDES": json.dumps(overrides),
        "CROSSSELL_TEST_SMS_FILE": str(sms_file),
        "CROSSSELL_TEST_SMS_DELAY": str(delay),
        **({"CROSSSELL_TEST_SMS_GATE": str(gate)} if gate else {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "django", "crosssell_dispatch", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def race_store(transactional_db: Any) -> Iterator[Store]:
    yield Store.objects.create(
        platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Race store", currency="EUR"
    )


@pytest.mark.slow
def test_two_workers_racing_over_1000_messages_send_each_exactly_once(race_store: Store, tmp_path: Path) -> None:
    keys = _outbox(race_store, 250)
    sms_file = tmp_path / "sms.log"
    connection.close()
    # Each worker holds at its first claimed message until both have claimed one (the gate), then
    # both run on, 10 ms per send: they really race whatever the machine's load.
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = [
        _dispatcher(sms_file, "--batch", "25", "--worker-id", f"racer-{n}", delay=0.01, gate=gate) for n in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        if any(w.poll() is not None for w in workers):
            break  # one finished or failed before the other claimed anything: the asserts below say
        time.sleep(0.01)
    (gate / "go").touch()
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    sent = Counter(_lines(sms_file))
    assert sorted(sent) == sorted(keys) and set(sent.values()) == {1}, "every message sent exactly once"
    rows = ScheduledMessage.objects.for_store(race_store)
    assert rows.filter(status=Status.SENT).count() == 1000
    by_worker = Counter(claimed_by.split(":")[0] for claimed_by in rows.values_list("claimed_by", flat=True))
    assert by_worker["racer-0"] > 0 and by_worker["racer-1"] > 0, (by_worker, outputs)  # they really raced


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(race_store: Store, tmp_path: Path) -> None:
    keys = _outbox(race_store, 75)  # 300 messages
    sms_file = tmp_path / "sms.log"
    connection.close()
    victim = _dispatcher(sms_file, "--batch", "100", "--worker-id", "victim", delay=0.01, lease=3)
    deadline = time.monotonic() + 120
    while len(_lines(sms_file)) < 40:
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()[0] if victim.poll() else ""
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate()
    rows = ScheduledMessage.objects.for_store(race_store)
    stranded = rows.filter(status=Status.CLAIMED, claimed_by__startswith="victim").count()
    assert stranded > 0  # killed mid-batch: claimed rows left behind
    survivor = _dispatcher(sms_file, "--loop", "--interval", "0.5", "--batch", "50", "--worker-id", "survivor", lease=3)
    try:
        deadline = time.monotonic() + 180
        while rows.filter(status=Status.SENT).count() < len(keys):
            assert survivor.poll() is None and time.monotonic() < deadline, "the survivor did not finish"
            time.sleep(0.25)
    finally:
        survivor.send_signal(signal.SIGTERM)
        output = survivor.communicate(timeout=60)[0]
    sent = Counter(_lines(sms_file))
    assert sorted(sent) == sorted(keys), "none lost"
    # The one message in flight when the kill came may have reached the provider just before: it
    # is sent again with the same idempotency key (the documented window). Never more than that.
    assert sum(n - 1 for n in sent.values()) <= 1, (sent.most_common(3), output)
    assert rows.filter(claimed_by__startswith="survivor").count() >= stranded
