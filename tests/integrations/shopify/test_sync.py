"""Catalogue and order sync of a Shopify shop through the GraphQL Admin API (faked with
``responses``, answers shaped as Shopify returns them), recorded on a real database."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses

from crosssell_plugin.models import Order
from crosssell_plugin.platforms import Unreadable
from integrations.shopify import sync, tasks
from integrations.shopify.client import ShopifyAPIError, ShopifyClient
from integrations.shopify.models import ShopifyShop
from integrations.shopify.sync_state import ShopifySyncState, last_synced

from .conftest import DOMAIN, T0, fixture, store_of
from .graphql_fakes import FIXTURES, operation, ordered, sent

pytestmark = pytest.mark.usefixtures("shopify_app")

BULK_URL = fixture("graphql_bulk_completed")["data"]["node"]["url"]


def endpoint(shop: ShopifyShop) -> str:
    return f"https://{shop.domain}/admin/api/{shop.api_version}/graphql.json"


def answer(rsps: responses.RequestsMock, shop: ShopifyShop, *names: str) -> None:
    for name in names:
        rsps.post(endpoint(shop), json=fixture(name))


def catalog_answers(rsps: responses.RequestsMock, shop: ShopifyShop, *, first: bool = True) -> None:
    answer(rsps, shop, "graphql_sync_shop")
    if first:
        answer(rsps, shop, "graphql_sync_products_count")
    answer(rsps, shop, "graphql_sync_products_page1", "graphql_sync_products_page2")


def bulk_answers(rsps: responses.RequestsMock, shop: ShopifyShop) -> None:
    answer(rsps, shop, "graphql_sync_shop", "graphql_sync_products_count_large")
    answer(rsps, shop, "graphql_bulk_run", "graphql_bulk_completed")
    rsps.get(BULK_URL, body=(FIXTURES / "graphql_sync_bulk_products.jsonl").read_bytes())


def order_answers(rsps: responses.RequestsMock, shop: ShopifyShop) -> None:
    answer(rsps, shop, "graphql_sync_orders_page1", "graphql_sync_orders_page2")


def search_of(call: Any) -> str:
    """The ``query:`` search string an orders request sent."""
    assert operation(call) == "CrosssellSyncOrders"
    found: str = sent(call)["variables"]["query"]
    return found


def grant(shop: ShopifyShop, scopes: str) -> None:
    shop.scopes = scopes
    shop.save(update_fields=["scopes"])


# --- catalogue -----------------------------------------------------------------------------------


def test_the_catalogue_is_read_page_by_page_in_the_shops_currency(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        items = list(sync.iter_catalog(installed))
        second_page = sent(rsps.calls[3])["variables"]

    assert second_page["after"] == fixture("graphql_sync_products_page1")["data"]["products"]["pageInfo"]["endCursor"]
    assert [item.external_id for item in items] == ["9120001", "9120002", "9120003"]
    film, course, tote = items
    assert (film.kind, film.price, film.currency) == ("film", Decimal("9.99"), "EUR")
    assert film.tags == ("noir", "Restored", "collection:film-noir", "collection:staff-picks")
    assert film.url == "https://films-on-demand.example/products/the-third-man"
    assert film.image_url == "https://cdn.shopify.com/s/files/1/0701/files/third-man.jpg?v=1764324077"
    assert film.description == "Vienna, 1948.\nA 4K restoration & extras."
    assert film.attributes == {"vendor": "Criterion", "product_type": "Film"}
    assert film.raw["variant_ids"] == ["5230001", "5230002"]
    assert (course.kind, course.price, course.image_url, course.available) == ("course", Decimal("149.00"), "", True)
    assert (tote.kind, tote.available) == ("merch", False)  # no variant for sale
    store = store_of(DOMAIN)
    assert (store.currency, store.timezone, store.name) == ("EUR", "Europe/Amsterdam", "Films on Demand")
    assert last_synced(installed, "catalog") == T0


def test_a_store_with_its_own_details_keeps_them(installed: ShopifyShop) -> None:
    store = installed.store
    store.name, store.timezone = "Film Club NL", "Europe/Brussels"
    store.save()
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        list(sync.iter_catalog(installed))
    store.refresh_from_db()
    assert (store.name, store.timezone, store.currency) == ("Film Club NL", "Europe/Brussels", "EUR")


def test_without_a_primary_domain_item_urls_use_the_myshopify_domain(installed: ShopifyShop) -> None:
    shop_answer = fixture("graphql_sync_shop")
    shop_answer["data"]["shop"]["primaryDomain"] = None
    with ordered() as rsps:
        rsps.post(endpoint(installed), json=shop_answer)
        answer(rsps, installed, "graphql_sync_products_count")
        answer(rsps, installed, "graphql_sync_products_page1", "graphql_sync_products_page2")
        items = list(sync.iter_catalog(installed))
    assert items[0].url == f"https://{DOMAIN}/products/the-third-man"


def test_a_store_with_recorded_orders_keeps_its_currency(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        order_answers(rsps, installed)
        tasks.record_orders(installed, sync.iter_orders(installed))
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        list(sync.iter_catalog(installed))
    assert store_of(DOMAIN).currency == "USD"  # the install's default: recorded amounts keep theirs


def test_a_large_first_import_runs_a_bulk_operation_and_gives_the_same_items(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        bulk_answers(rsps, installed)
        bulk_items = list(sync.iter_catalog(installed))
        posted = [sent(call) for call in rsps.calls if call.request.method == "POST"]
        downloaded = [call.request.url for call in rsps.calls if call.request.method == "GET"]
    assert "bulkOperationRunQuery" in posted[2]["query"]
    assert "variants" in posted[2]["variables"]["query"] and "collections" in posted[2]["variables"]["query"]
    assert downloaded == [BULK_URL]

    with ordered() as rsps:
        catalog_answers(rsps, installed, first=False)
        paged_items = list(sync.iter_catalog(installed, bulk=False))

    assert len(bulk_items) == 3
    assert bulk_items == paged_items
    assert bulk_items[0].tags[-2:] == ("collection:film-noir", "collection:staff-picks")
    assert bulk_items[0].raw["variant_ids"] == ["5230001", "5230002"]  # children listed after another product


def test_a_later_catalogue_sync_does_not_count_products(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        list(sync.iter_catalog(installed))
    with ordered() as rsps:  # no productsCount: the fake fails on any request not listed
        catalog_answers(rsps, installed, first=False)
        assert len(list(sync.iter_catalog(installed))) == 3


# --- orders --------------------------------------------------------------------------------------


def test_without_read_all_orders_the_read_starts_60_days_ago_and_says_so(
    installed: ShopifyShop, caplog: pytest.LogCaptureFixture
) -> None:
    assert "read_all_orders" not in installed.granted_scopes()
    with ordered() as rsps, caplog.at_level(logging.WARNING, logger="integrations.shopify.sync"):
        order_answers(rsps, installed)
        list(sync.iter_orders(installed, datetime(2026, 1, 1, tzinfo=UTC)))
        search = search_of(rsps.calls[0])
    assert search.endswith("AND updated_at:>='2026-10-04T12:00:00Z'")  # T0 - 60 days
    assert "financial_status:paid" in search and "financial_status:refunded" in search
    assert any("read_all_orders" in record.getMessage() for record in caplog.records)


def test_with_read_all_orders_the_read_is_not_clamped(installed: ShopifyShop) -> None:
    grant(installed, "read_products,read_orders,read_all_orders,read_customers")
    with ordered() as rsps:
        order_answers(rsps, installed)
        order_answers(rsps, installed)
        list(sync.iter_orders(installed))
        list(sync.iter_orders(installed, datetime(2025, 6, 1, 8, 30, tzinfo=UTC)))
        everything, since = search_of(rsps.calls[0]), search_of(rsps.calls[2])
    assert "updated_at" not in everything
    assert since.endswith("AND updated_at:>='2025-06-01T08:30:00Z'")


def test_orders_become_purchases_an_unmappable_one_is_unreadable_and_an_unpaid_one_is_skipped(
    installed: ShopifyShop,
) -> None:
    with ordered() as rsps:
        order_answers(rsps, installed)
        found = list(sync.iter_orders(installed))
    purchases = [event for event in found if not isinstance(event, Unreadable)]
    unreadable = [event for event in found if isinstance(event, Unreadable)]
    assert [event.order_id for event in purchases] == ["6010001", "6010002", "6010005"]  # 6010003 is pending
    assert [event.external_id for event in unreadable] == ["6010004"]
    assert "order.lineItems" in unreadable[0].error

    first = purchases[0]
    assert (first.currency, first.total) == ("EUR", Decimal("46.99"))
    assert [(line.item.external_id, line.quantity, line.unit_price) for line in first.lines] == [
        ("9120001", 1, Decimal("9.99")),
        ("9120003", 2, Decimal("18.50")),
    ]
    assert first.occurred_at == datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert first.customer.email == "ana.devries@example.nl"
    assert [(c.channel, c.granted, c.source) for c in first.customer.consents] == [
        ("email", True, "shopify single_opt_in")
    ]
    custom = purchases[2].lines[1].item
    assert (custom.external_id, custom.available) == ("custom:1510007", False)


def test_a_customer_without_an_email_gets_the_placeholder_and_no_email_consent(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        order_answers(rsps, installed)
        found = list(sync.iter_orders(installed))
    redacted = next(e for e in found if getattr(e, "order_id", "") == "6010002")
    assert isinstance(redacted, sync.PurchaseEvent)
    assert redacted.customer.email == "customer-7710002@shopify.invalid"
    assert redacted.customer.external_id == "7710002"
    assert [(c.channel, c.granted) for c in redacted.customer.consents] == [("sms", True)]


def test_the_unreadable_order_is_logged_and_the_others_are_recorded(
    installed: ShopifyShop, caplog: pytest.LogCaptureFixture
) -> None:
    with ordered() as rsps, caplog.at_level(logging.ERROR, logger="integrations.shopify.tasks"):
        order_answers(rsps, installed)
        counts = tasks.record_orders(installed, sync.iter_orders(installed))
    assert (counts.recorded, counts.failed, counts.failures) == (3, 1, ["6010004"])
    store = store_of(DOMAIN)
    assert sorted(Order.objects.filter(store=store).values_list("external_id", flat=True)) == [
        "6010001",
        "6010002",
        "6010005",
    ]
    assert any("6010004" in record.getMessage() for record in caplog.records)


def test_the_next_sync_asks_only_for_orders_changed_since_the_last_one(installed: ShopifyShop, clock: Any) -> None:
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        order_answers(rsps, installed)
        done = tasks.sync_shop.apply(args=[installed.pk]).result
    assert done == {"catalog": "3 created, 0 updated", "orders": "3 recorded, 0 updated, 0 unchanged, 1 failed"}
    assert last_synced(installed, "orders") == T0

    clock.move_to(T0 + timedelta(minutes=30))  # the access token is still usable
    with ordered() as rsps:
        catalog_answers(rsps, installed, first=False)
        answer(rsps, installed, "graphql_sync_orders_recent")
        done = tasks.sync_shop.apply(args=[installed.pk]).result
        search = search_of(rsps.calls[-1])
    assert search.endswith("AND updated_at:>='2026-12-03T11:55:00Z'")  # the last sync, less the overlap
    assert done["orders"] == "1 recorded, 0 updated, 1 unchanged, 0 failed"
    assert ShopifySyncState.objects.get(shop=installed).orders_synced_at == T0 + timedelta(minutes=30)


def test_a_failed_read_leaves_the_last_sync_time(installed: ShopifyShop) -> None:
    with ordered() as rsps:
        answer(rsps, installed, "graphql_sync_orders_page1")
        rsps.post(endpoint(installed), status=500, json={"errors": "Internal error"})
        rsps.post(endpoint(installed), status=500, json={"errors": "Internal error"})
        rsps.post(endpoint(installed), status=500, json={"errors": "Internal error"})
        rsps.post(endpoint(installed), status=500, json={"errors": "Internal error"})
        client = ShopifyClient(installed.domain, "shpat_test", installed.api_version, sleep=lambda seconds: None)
        with pytest.raises(ShopifyAPIError):
            list(sync.iter_orders(installed, client=client))
    assert last_synced(installed, "orders") is None


# --- the sync command and the reconcile task -------------------------------------------------------


def test_reconcile_records_an_order_whose_webhook_was_missed(installed: ShopifyShop) -> None:
    delivered = fixture("graphql_sync_orders_recent")["data"]["orders"]["nodes"][0]
    event = sync.purchase_event(delivered, sync.shop_store(DOMAIN))
    from crosssell_plugin.ingest import record_purchase

    record_purchase(event)  # its webhook arrived; the next order's did not
    with ordered() as rsps:
        answer(rsps, installed, "graphql_sync_orders_recent")
        done = tasks.reconcile.apply(kwargs={"hours": 6}).result
        search = search_of(rsps.calls[0])
    assert search.endswith("AND updated_at:>='2026-12-03T06:00:00Z'")
    assert done == {DOMAIN: "1 recorded, 0 updated, 1 unchanged, 0 failed"}
    assert sorted(Order.objects.filter(store=store_of(DOMAIN)).values_list("external_id", flat=True)) == [
        "6010005",
        "6010006",
    ]
    assert last_synced(installed, "orders") is None  # a window, not a full read: the sync state is left


def test_reconcile_refuses_a_window_that_is_not_a_number_of_hours() -> None:
    with pytest.raises(ValueError, match="hours must be a whole number"):
        tasks.reconcile(hours=0)
    with pytest.raises(ValueError, match="hours must be a whole number"):
        tasks.reconcile(hours="6")  # type: ignore[arg-type]


def test_the_fixtures_are_shaped_as_the_admin_api_answers() -> None:
    for path in sorted(FIXTURES.glob("graphql_sync_*.json")):
        body = json.loads(path.read_text())
        assert set(body) == {"data", "extensions"}, path.name
        assert {"requestedQueryCost", "actualQueryCost", "throttleStatus"} <= set(body["extensions"]["cost"])
