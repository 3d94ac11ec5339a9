"""Webhook deliveries are kept for WEBHOOK_RETENTION_DAYS: older processed, ignored and failed
ones are deleted, store by store; pending ones are kept and reported."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from crosssell_plugin import deliveries
from crosssell_plugin.models import Store, WebhookDelivery
from crosssell_plugin.tasks import purge_deliveries_task

Status = WebhookDelivery.Status
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _delivery(store: Store, n: int, status: str, age_days: float) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.create(
        store=store,
        platform=store.platform,
        topic="checkout.session.completed",
        delivery_id=f"{store.external_id}-{n}",
        body_sha256="0" * 64,
        body='{"customer_email": "ann@example.com"}',
        status=status,
    )
    # received_at is auto_now_add: set the age afterwards
    WebhookDelivery.objects.filter(pk=delivery.pk).update(received_at=NOW - timedelta(days=age_days))
    return delivery


@pytest.fixture
def other_store(db: Any) -> Store:
    return Store.objects.create(platform="custom", external_id="other-store", name="Other", currency="EUR")


def _left(store: Store) -> set[str]:
    return set(WebhookDelivery.objects.for_store(store).values_list("delivery_id", flat=True))


@pytest.mark.django_db
def test_old_finished_deliveries_go_young_and_pending_ones_stay(
    store: Store, other_store: Store, settings: Any, caplog: Any
) -> None:
    settings.CROSSSELL = {"WEBHOOK_RETENTION_DAYS": 30}
    for n, (status, age) in enumerate(
        [
            (Status.PROCESSED, 31),
            (Status.IGNORED, 45),
            (Status.FAILED, 400),
            (Status.PENDING, 60),  # never processed: kept, reported
            (Status.PROCESSED, 29),  # young
            (Status.FAILED, 1),
        ]
    ):
        _delivery(store, n, status, age)
    _delivery(other_store, 0, Status.PROCESSED, 31)
    _delivery(other_store, 1, Status.PROCESSED, 2)

    with caplog.at_level(logging.WARNING, logger="crosssell_plugin.deliveries"):
        results = deliveries.purge_deliveries(now=NOW)

    assert _left(store) == {"test-store-3", "test-store-4", "test-store-5"}
    assert _left(other_store) == {"other-store-1"}
    by_store = {r.store.pk: (r.deleted, r.pending_kept) for r in results}
    assert by_store == {store.pk: (3, 1), other_store.pk: (1, 0)}
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "1 pending webhook deliveries" in warning and "crosssell_replay --status pending" in warning


@pytest.mark.django_db
def test_the_retention_setting_and_one_store_only(store: Store, other_store: Store, settings: Any) -> None:
    settings.CROSSSELL = {"WEBHOOK_RETENTION_DAYS": 7}
    _delivery(store, 0, Status.PROCESSED, 8)
    _delivery(store, 1, Status.PROCESSED, 6)
    _delivery(other_store, 0, Status.PROCESSED, 8)
    deliveries.purge_deliveries(store=store, now=NOW)
    assert _left(store) == {"test-store-1"}
    assert _left(other_store) == {"other-store-0"}  # another store's rows are not touched


@pytest.mark.django_db
def test_batches_delete_everything_past_the_cutoff(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliveries, "PURGE_BATCH", 3)
    for n in range(10):
        _delivery(store, n, Status.PROCESSED, 40)
    [result] = deliveries.purge_deliveries(now=NOW)
    assert result.deleted == 10 and _left(store) == set()


@pytest.mark.django_db
def test_the_command_counts_with_dry_run_then_deletes(store: Store) -> None:
    for n in range(3):
        _delivery(store, n, Status.PROCESSED, 40)
    _delivery(store, 3, Status.PENDING, 40)
    out = StringIO()
    call_command("crosssell_purge_deliveries", "--dry-run", stdout=out)
    assert "would delete 3" in out.getvalue() and "kept 1 pending" in out.getvalue()
    assert len(_left(store)) == 4  # nothing deleted

    out = StringIO()
    call_command("crosssell_purge_deliveries", "--older-than-days", "30", "--store", "custom:test-store", stdout=out)
    assert "Deleted 3 webhook deliveries older than 30 days in 1 stores; 1 pending kept." in out.getvalue()
    assert _left(store) == {"test-store-3"}


@pytest.mark.django_db
def test_the_command_refuses_bad_arguments(store: Store) -> None:
    with pytest.raises(CommandError, match="--older-than-days must be 1 or more, not 0"):
        call_command("crosssell_purge_deliveries", "--older-than-days", "0")
    with pytest.raises(CommandError, match="No store custom:nope"):
        call_command("crosssell_purge_deliveries", "--store", "custom:nope")


@pytest.mark.django_db
def test_the_daily_task_purges_with_the_default_retention(store: Store, settings: Any) -> None:
    settings.CROSSSELL = {}
    old = _delivery(store, 0, Status.PROCESSED, 0)
    WebhookDelivery.objects.filter(pk=old.pk).update(received_at=datetime.now(UTC) - timedelta(days=31))
    WebhookDelivery.objects.create(  # received just now
        store=store, platform="custom", topic="t", delivery_id="young", body_sha256="0" * 64, body="{}"
    )
    WebhookDelivery.objects.filter(delivery_id="young").update(status=Status.PROCESSED)
    assert purge_deliveries_task.delay().get() == 1
    assert _left(store) == {"young"}


def test_a_wrong_retention_is_refused_with_the_setting_named(settings: Any) -> None:
    from crosssell_plugin.conf import validation_errors

    settings.CROSSSELL = {"WEBHOOK_RETENTION_DAYS": 0}
    [(_check_id, message, hint)] = validation_errors()
    assert "WEBHOOK_RETENTION_DAYS" in message and "between 1 and 3650" in hint
