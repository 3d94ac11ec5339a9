"""One delivery processed by several workers at once (a redelivered Celery message, a replay during
a retry), on the real database: one Order, one purchase_recorded signal, one counted attempt."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from crosssell_plugin.deliveries import process_delivery
from crosssell_plugin.events import StoreRef
from crosssell_plugin.models import Order, WebhookDelivery
from crosssell_plugin.platforms import get_platform
from crosssell_plugin.signals import purchase_recorded

from ..conftest import purchase_event
from .stripe.conftest import make_store

WORKERS = 4


@pytest.mark.django_db(transaction=True)
def test_workers_racing_on_one_delivery_record_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()
    event = purchase_event("cs_test_race", store=StoreRef("stripe", store.external_id))
    barrier = threading.Barrier(WORKERS)

    def parse(self: Any, delivery: Any) -> list[Any]:
        barrier.wait(timeout=20)  # every worker has read the delivery as pending before any locks it
        return [event]

    monkeypatch.setattr(type(get_platform("stripe")), "parse_webhook", parse)
    delivery = WebhookDelivery.objects.create(
        store=store,
        platform="stripe",
        topic="checkout.session.completed",
        delivery_id="evt_race",
        body_sha256="0",
        body="{}",
    )
    signals: list[str] = []

    def count(sender: Any, order: Order, **kwargs: Any) -> None:
        signals.append(order.external_id)

    purchase_recorded.connect(count, dispatch_uid="test-delivery-race")
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            outcomes.append(process_delivery(delivery.pk))
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=work) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        purchase_recorded.disconnect(dispatch_uid="test-delivery-race")
    assert errors == []
    assert outcomes == ["processed"] * WORKERS
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.events) == ("processed", 1, 1)
    assert Order.objects.filter(external_id="cs_test_race").count() == 1
    assert signals == ["cs_test_race"]
