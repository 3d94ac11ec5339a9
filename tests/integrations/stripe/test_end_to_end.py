"""A Stripe checkout recorded end to end, with a real Celery worker over Redis: the signed webhook,
its stored delivery, the purchase the worker records from it, the follow-up it plans, and the
success page's block rendered from the Checkout Session id."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Order, ScheduledMessage, Store, WebhookDelivery

from ...conftest import catalog_item, celery_configured, celery_worker
from ...followups_support import enable_default_path
from .conftest import SESSION_ID, body_of, make_store, signature

REDIS_URL = os.environ.get("CROSSSELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
RUN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
QUEUE = f"crosssell-stripe-{RUN}"  # this run's own queue and node: runs sharing Redis never serve each other
NODE = f"crosssell-stripe-{RUN}@{socket.gethostname()}"


@pytest.fixture
def stripe_worker(transactional_db: Any) -> Iterator[None]:
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.integrations.stripe.worker_settings",
        "CROSSSELL_WORKER_DB_NAME": str(connection.settings_dict["NAME"]),
        "CROSSSELL_WORKER_BROKER_URL": REDIS_URL,
    }
    with (
        celery_configured(
            broker_url=REDIS_URL, result_backend=REDIS_URL, task_always_eager=False, task_default_queue=QUEUE
        ),
        celery_worker(NODE, QUEUE, env),
    ):
        yield


def _seed(store: Store) -> None:
    """Other customers' orders in the merchant's store, so there is something to recommend."""
    ref = StoreRef("stripe", store.external_id)
    for n in range(4):
        items = [catalog_item(f"prod_other_{i}", title=f"Other film {i}") for i in range(n, 4)]
        record_purchase(
            PurchaseEvent(
                store=ref,
                order_id=f"cs_test_seed{n}",
                occurred_at=timezone.now() - timedelta(days=10),
                currency="EUR",
                customer=CustomerData(email=f"seed{n}@example.com"),
                lines=tuple(PurchaseLine(item, 1, Decimal("9.99")) for item in items),
            )
        )


def _wait_for(condition: Any, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the worker did not get there in time")
        time.sleep(0.2)


@pytest.mark.slow
def test_a_stripe_checkout_is_recorded_end_to_end_by_a_real_worker(stripe_worker: None, settings: Any) -> None:
    settings.CROSSSELL = {**getattr(settings, "CROSSSELL", {}), "BLOCK_CACHE_SECONDS": 0}
    store = make_store()
    enable_default_path(store, channel="email")
    _seed(store)
    body = body_of("event_checkout_session_completed")
    url = reverse("crosssell:webhook", args=["stripe", store.external_id])

    response = Client().post(url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature(body))

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(delivery_id="evt_1QmR2vLkdIwHu7ixCs0mPlt1")
    _wait_for(lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="processed").exists())
    order = Order.objects.for_store(store).get(external_id=SESSION_ID)
    assert order.total == Decimal("44.98") and order.lines.count() == 2
    planned = ScheduledMessage.objects.for_store(store).filter(order=order).order_by("due_at")
    # planning runs once the purchase has committed, just after the delivery's status is set
    _wait_for(lambda: planned.count() == 3)
    assert [(m.channel, m.status) for m in planned] == [("email", "planned")] * 3
    assert planned[0].due_at == order.placed_at + timedelta(hours=1)

    request = RequestFactory().get("/thanks", {"session_id": SESSION_ID})
    page = Template("{% load crosssell_stripe %}{% crosssell_stripe_block request.GET.session_id %}").render(
        Context({"request": request})
    )
    assert 'class="crosssell-block"' in page
    assert "Other film" in page and "Cléo from 5 to 7" not in page  # what goes with it, not what was bought
