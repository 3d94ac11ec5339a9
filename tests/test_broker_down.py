"""The broker (Redis) is down: nothing a shopper does waits on it, and nothing is lost.

The Celery app is pointed at a Redis URL on a local port where nothing listens (not eager), with
its result backend there too; every publish goes through ``crosssell_plugin.queueing.enqueue``.
Publish attempts are counted with Celery's own ``before_task_publish`` signal. Nothing of ours is
mocked; only Stripe's HTTP API is faked (``responses``), and the breaker's clock is moved forward
instead of waiting for it.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import redis
import responses
from celery.signals import before_task_publish
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from oscar.core.loading import get_model

from crosssell_plugin import queueing
from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
from crosssell_plugin.models import Impression, Order, PairCountedOrder, Path, ScheduledMessage, Store, WebhookDelivery
from crosssell_plugin.queueing import INLINE, Drop, Outcome, enqueue
from crosssell_plugin.recommend.tasks import update_pair_counts_task
from integrations.oscar.consent import FIELD
from integrations.webhooks import process_delivery_task
from shop.celery import app
from tests.integrations.oscar.conftest import Checkout
from tests.integrations.stripe.conftest import SESSION_ID, body_of, mock_stripe_api, signature, stripe_store

from .conftest import celery_configured
from .test_surfaces import oscar_shop

__all__ = ["oscar_shop", "stripe_store"]  # fixtures

pytestmark = pytest.mark.django_db

OscarOrder = get_model("order", "Order")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Fresh model storage, no cached model or block (see tests/conftest.py)."""


@pytest.fixture
def down_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def broker_down(down_url: str) -> Iterator[str]:
    """The broker and the result backend at ``down_url`` (nothing listens there), not eager;
    the demo's Celery settings otherwise (short timeouts, one retry)."""
    with celery_configured(
        broker_url=down_url,
        result_backend=down_url,
        task_always_eager=False,
        task_default_queue=f"crosssell-down-{uuid.uuid4().hex[:8]}",
    ):
        yield down_url


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The name of every task Celery is asked to publish (tried, whether or not it got through)."""
    names: list[str] = []

    def count(sender: Any = None, **kwargs: Any) -> None:
        names.append(sender)

    before_task_publish.connect(count, weak=False)
    try:
        yield names
    finally:
        before_task_publish.disconnect(count)


def warnings_of(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "crosssell_plugin.queueing"]


# --- Oscar: checkout and thank-you page ---------------------------------------------------------


def test_an_oscar_checkout_records_the_order_in_the_request_and_the_thank_you_page_shows_the_block(
    client: Client,
    oscar_shop: Any,
    broker_down: str,
    published: list[str],
    settings: Any,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cleo, gleaners, store = oscar_shop
    Path.objects.for_store(store).filter(name=DEFAULT_PATH_NAME).update(enabled=True)
    # the page's impressions are published from the request (no buffer thread in this test)
    settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 0}
    caplog.set_level(logging.WARNING)
    checkout = Checkout(client)
    checkout.add_to_basket(cleo)
    checkout.start_as_guest("agnes@example.com")
    checkout.choose_method_and_pay()

    with django_capture_on_commit_callbacks(execute=True):
        response = checkout.place_order(**{FIELD: "on"})

    assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you")
    number = OscarOrder.objects.get().number
    # recorded by the checkout's own request, before any page asks for it: nothing is lost
    order = Order.objects.for_store(store).get(external_id=number)
    assert order.customer.email == "agnes@example.com"
    assert [line.item.external_id for line in order.lines.select_related("item")] == [str(cleo.pk)]
    # the pipeline went on: the follow-ups are planned (the classic path's three steps)
    assert ScheduledMessage.objects.for_store(store).filter(order=order).count() == 3
    # derivable work was dropped: the pair counts wait for the next training
    assert not PairCountedOrder.objects.filter(order=order).exists()
    # one publish was tried; the breaker skipped the pair counts' and the block's
    assert published == ["crosssell.oscar.record_order"]
    logged = warnings_of(caplog)
    assert len(logged) == 3, logged
    assert logged[0].startswith(f"Could not queue crosssell.oscar.record_order({OscarOrder.objects.get().pk}) (")
    assert broker_down.split("/")[2] in logged[0] and "Connection refused" in logged[0]
    assert logged[0].endswith("running it here")
    assert logged[1].startswith(f"Could not queue crosssell.update_pair_counts({order.pk}) (the broker failed less")
    assert logged[1].endswith("dropped: the next training learns this order's pairs")
    assert logged[2].startswith(f"Could not queue crosssell.compute_ahead({order.pk})")

    page = client.get(response["Location"])

    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="crosssell-block"' in html and gleaners.title in html
    # the block's impressions were written by the request itself
    shown = Impression.objects.filter(order=order, placement="thank_you")
    assert shown.filter(item__external_id=str(gleaners.pk)).exists()
    assert published == ["crosssell.oscar.record_order"]
    assert warnings_of(caplog)[-1].startswith("Could not queue crosssell.log_impressions(<list of ")


# --- webhooks -------------------------------------------------------------------------------------


def _post_stripe_webhook(client: Client, store: Store, capture: Any) -> WebhookDelivery:
    body = body_of("event_checkout_session_completed")
    url = reverse("crosssell:webhook", args=["stripe", store.external_id])
    with capture(execute=True):
        response = client.post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body))
    assert response.status_code == 200
    return WebhookDelivery.objects.get()


def test_a_webhook_delivery_is_stored_and_processed_in_the_request(
    client: Client,
    stripe_store: Store,
    broker_down: str,
    published: list[str],
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.WARNING)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        delivery = _post_stripe_webhook(client, stripe_store, django_capture_on_commit_callbacks)

    assert (delivery.status, delivery.attempts, delivery.events) == ("processed", 1, 1)
    assert Order.objects.for_store(stripe_store).get().external_id == SESSION_ID
    assert published[0] == "crosssell.process_delivery"
    assert warnings_of(caplog)[0].startswith(f"Could not queue crosssell.process_delivery({delivery.pk}) (the broker: ")
    assert warnings_of(caplog)[0].endswith("running it here")


def test_a_webhook_whose_processing_fails_transiently_is_left_pending_for_replay(
    client: Client,
    stripe_store: Store,
    broker_down: str,
    caplog: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.WARNING)
    with responses.RequestsMock():  # Stripe's API unreachable too: every call fails
        delivery = _post_stripe_webhook(client, stripe_store, django_capture_on_commit_callbacks)

    assert delivery.status == "pending" and delivery.attempts == 1
    assert not Order.objects.exists()
    pending = [r.getMessage() for r in caplog.records if "left pending" in r.getMessage()]
    assert pending == [
        f"Webhook delivery {delivery.pk} left pending ({delivery.error.split(':')[0]}: "
        f"{delivery.error.split(': ', 1)[1]}); replay it with crosssell_replay --status pending"
    ]

    out = StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        call_command("crosssell_replay", "--status", "pending", stdout=out, stderr=StringIO())
    assert f"delivery {delivery.pk}: processed" in out.getvalue()
    assert Order.objects.for_store(stripe_store).get().external_id == SESSION_ID


# --- the circuit breaker and the broker coming back -----------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[Any]:
    """``start()`` runs a real Redis server on the port of ``down_url`` (stopped afterwards)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str) -> redis.Redis:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        procs.append(
            subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
            )
        )
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_breaker_skips_publishing_after_a_failure_and_publishes_again_when_the_broker_is_back(
    broker_down: str, published: list[str], redis_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING)
    recomputed = Drop("recomputed later")

    assert enqueue(update_pair_counts_task, 1, fallback=recomputed) == Outcome.DROPPED
    assert published == ["crosssell.update_pair_counts"]
    assert enqueue(update_pair_counts_task, 2, fallback=recomputed) == Outcome.DROPPED
    assert published == ["crosssell.update_pair_counts"]  # skipped: the breaker remembers the failure
    first, second = warnings_of(caplog)
    assert "(the broker: OperationalError: Error 111 connecting to" in first
    assert f"(the broker failed less than {queueing.BREAKER_SECONDS:g} s ago (OperationalError: Error 111" in second

    broker = redis_server(broker_down)
    assert enqueue(update_pair_counts_task, 3, fallback=recomputed) == Outcome.DROPPED
    assert published == ["crosssell.update_pair_counts"]  # still remembered

    later = time.monotonic() + queueing.BREAKER_SECONDS
    monkeypatch.setattr(queueing.breaker, "clock", lambda: later)
    assert enqueue(update_pair_counts_task, 4, fallback=recomputed) == Outcome.QUEUED
    assert enqueue(update_pair_counts_task, 5, fallback=recomputed) == Outcome.QUEUED
    assert published == ["crosssell.update_pair_counts"] * 3
    queue = app.conf.task_default_queue
    assert broker.llen(queue) == 2  # both messages are waiting for a worker
    assert len(warnings_of(caplog)) == 3


def test_once_the_memory_expires_one_caller_tries_the_broker_while_the_others_still_skip(
    down_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker = queueing.breaker
    now = [100.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    breaker.failed(down_url, ConnectionRefusedError(111, "Connection refused"))
    assert breaker.skip(down_url) == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert breaker.skip("redis://elsewhere:6379/0") is None  # per broker

    now[0] += queueing.BREAKER_SECONDS
    assert breaker.skip(down_url) is None  # this caller tries
    assert breaker.skip(down_url) is not None  # the others wait for its answer
    breaker.succeeded(down_url)
    assert breaker.skip(down_url) is None


def test_an_error_that_is_not_the_brokers_is_raised_and_not_remembered(broker_down: str, published: list[str]) -> None:
    import kombu.exceptions

    with pytest.raises(kombu.exceptions.EncodeError):  # a bug of the caller: not JSON
        enqueue(update_pair_counts_task, object(), fallback=INLINE)
    assert queueing.breaker.skip(broker_down) is None
    assert enqueue(update_pair_counts_task, 1, fallback=Drop("recomputed later")) == Outcome.DROPPED
    assert published == ["crosssell.update_pair_counts"] * 2


def test_the_inline_fallback_runs_the_task_here(
    stripe_store: Store, broker_down: str, django_capture_on_commit_callbacks: Any
) -> None:
    delivery = WebhookDelivery.objects.create(
        store=stripe_store,
        platform="stripe",
        topic="checkout.session.completed",
        delivery_id="evt_down",
        body_sha256="0" * 64,
        body=body_of("event_checkout_session_completed").decode(),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock_stripe_api(rsps)
        with django_capture_on_commit_callbacks(execute=True):
            assert enqueue(process_delivery_task, delivery.pk, fallback=INLINE) == Outcome.RAN_INLINE
    delivery.refresh_from_db()
    assert delivery.status == "processed"
    assert Order.objects.for_store(stripe_store).get().external_id == SESSION_ID


# --- results --------------------------------------------------------------------------------------

#: the tasks whose results a caller reads (``.get()``): a project's own enqueueing of an event,
#: the follow-up dispatcher's report
KEEP_RESULTS = {
    "crosssell.record_purchase",
    "crosssell.record_consumption",
    "crosssell.record_refund",
    "crosssell.dispatch_followups",
}


def test_every_fire_and_forget_task_ignores_its_result() -> None:
    app.loader.import_default_modules()
    ours = {name: task for name, task in app.tasks.items() if name.startswith("crosssell.")}
    assert KEEP_RESULTS < set(ours)
    assert {name for name, task in ours.items() if not task.ignore_result} == KEEP_RESULTS
