"""Shopify webhook bodies -> the core's events (integrations.shopify.payloads): exact events for
each fixture, their JSON round trip, what the core records from them, and property tests that a
body of any shape raises only InvalidEvent."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosssell_plugin.deliveries import record_event
from crosssell_plugin.events import (
    CancelEvent,
    CatalogChangeEvent,
    CatalogItem,
    Consent,
    ConsentEvent,
    CustomerData,
    CustomerRedactEvent,
    PurchaseEvent,
    PurchaseLine,
    RefundEvent,
    StoreRef,
)
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.ingest import ensure_store
from crosssell_plugin.models import Customer, CustomerConsent, Order
from integrations.shopify import payloads
from integrations.shopify.payloads import (
    AppUninstalled,
    CollectionChange,
    CustomerDataRequest,
    DeliveryMeta,
    ShopifyPayloadError,
    ShopRedactRequest,
    UnsupportedTopic,
)

FIXTURES = Path(__file__).parent / "fixtures"
SHOP = "demo-merch.myshopify.com"
STORE = StoreRef("shopify", SHOP)
#: when the deliveries without a time of their own were triggered (a fixed value, not the clock)
TRIGGERED = datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"webhook_{name}.json").read_text())
    return data


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def round_trips(event: Any) -> None:
    again = type(event).from_dict(json.loads(json.dumps(event.to_dict(), ensure_ascii=False)))
    assert again == event


def parse(topic: str, name: str, **options: Any) -> list[Any]:
    options.setdefault("shop_currency", "USD")
    options.setdefault("received_at", TRIGGERED)
    return payloads.parse(topic, load(name), STORE, **options)


def line(
    product_id: str, title: str, price: str, quantity: int, *, vendor: str, variant: str, sku: str, variant_title: str
) -> PurchaseLine:
    item = CatalogItem(
        external_id=product_id,
        title=title,
        kind="product",
        price=Decimal(price),
        currency="USD",
        attributes={"vendor": vendor},
        raw={"product_id": product_id, "variant_id": variant, "sku": sku, "variant_title": variant_title},
    )
    return PurchaseLine(item=item, quantity=quantity, unit_price=Decimal(price))


LINES = (
    line(
        "7001",
        "Crosssell logo tee",
        "25.00",
        2,
        vendor="Crosssell Merch",
        variant="41002",
        sku="TEE-LOGO-M",
        variant_title="M",
    ),
    line(
        "7002",
        "Le Bonheur",
        "12.99",
        1,
        vendor="Ciné-Tamaris",
        variant="41010",
        sku="FILM-BONHEUR-HD",
        variant_title="HD download",
    ),
    line(
        "7003",
        "Le Bonheur poster",
        "15.00",
        1,
        vendor="Crosssell Merch",
        variant="41020",
        sku="POSTER-BONHEUR",
        variant_title="",
    ),
)


def order_raw(customer_id: str) -> dict[str, Any]:
    return {
        "id": "5001001001",
        "name": "#1001",
        "order_number": 1001,
        "financial_status": "paid",
        "test": False,
        "source_name": "web",
        "currency": "USD",
        "presentment_currency": "USD",
        "total_price": "85.83",
        "subtotal_price": "72.99",
        "total_discounts": "5.00",
        "total_tax": "5.84",
        "discount_codes": [{"code": "WELCOME5", "amount": "5.00", "type": "fixed_amount"}],
        "customer_id": customer_id,
        "lines": [
            {
                "id": "13001",
                "product_id": "7001",
                "variant_id": "41002",
                "sku": "TEE-LOGO-M",
                "quantity": 2,
                "price": "25.00",
                "discount": "5.00",
            },
            {
                "id": "13002",
                "product_id": "7002",
                "variant_id": "41010",
                "sku": "FILM-BONHEUR-HD",
                "quantity": 1,
                "price": "12.99",
                "discount": "0.00",
            },
            {
                "id": "13003",
                "product_id": "7003",
                "variant_id": "41020",
                "sku": "POSTER-BONHEUR",
                "quantity": 1,
                "price": "15.00",
                "discount": "0.00",
            },
        ],
    }


def paid_order(customer: CustomerData, customer_id: str) -> PurchaseEvent:
    return PurchaseEvent(
        store=STORE,
        order_id="5001001001",
        occurred_at=utc(2026, 3, 1, 15, 15),  # processed_at 10:15 at -05:00
        currency="USD",
        customer=customer,
        lines=LINES,
        total=Decimal("85.83"),
        updated_at=utc(2026, 3, 1, 15, 15, 3),
        raw=order_raw(customer_id),
    )


# --- orders -----------------------------------------------------------------------------------


class TestOrders:
    def test_orders_paid_is_the_exact_purchase(self) -> None:
        [event] = parse("orders/paid", "orders_paid")
        consent = Consent("email", True, "shopify confirmed_opt_in", utc(2026, 2, 20, 7, 0))
        customer = CustomerData(
            email="ada.lovelace@example.com",
            external_id="6201",
            first_name="Ada",
            last_name="Lovelace",
            locale="en-US",
            phone="+14155550123",
            consents=(consent,),
        )
        assert event == paid_order(customer, "6201")
        round_trips(event)

    def test_money_is_the_shops_currency_with_the_discount_kept(self) -> None:
        body = load("orders_paid")
        body["presentment_currency"] = "CAD"
        for money_set in (body["total_price_set"], body["line_items"][0]["price_set"]):
            money_set["presentment_money"] = {"amount": "34.00", "currency_code": "CAD"}
        event = payloads.purchase_event(body, STORE)
        assert (event.currency, event.total) == ("USD", Decimal("85.83"))
        assert event.lines[0].unit_price == Decimal("25.00")
        assert event.raw["presentment_currency"] == "CAD"
        assert event.raw["lines"][0]["discount"] == "5.00"
        assert sum(line.unit_price * line.quantity for line in event.lines) - Decimal("5.00") == Decimal("72.99")

    def test_shop_money_in_another_currency_is_refused(self) -> None:
        body = load("orders_paid")
        body["line_items"][1]["price_set"]["shop_money"]["currency_code"] = "EUR"
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.purchase_event(body, STORE)
        assert err.value.field == "line_items[1].price_set.shop_money.currency_code"

    def test_no_customer_and_no_email_still_records_the_purchase(self) -> None:
        [event] = parse("orders/paid", "orders_paid_no_customer")
        customer = CustomerData(email="order-5001001001@shopify.invalid", locale="en-US")
        assert event == paid_order(customer, "")
        round_trips(event)

    def test_a_guest_with_an_email_is_named_by_it(self) -> None:
        body = load("orders_paid_no_customer")
        body["email"] = "Guest@Example.com"
        event = payloads.purchase_event(body, STORE)
        assert event.customer == CustomerData(email="guest@example.com", locale="en-US")

    def test_a_redacted_email_keeps_the_customer_id_and_drops_email_consent(self) -> None:
        [event] = parse("orders/paid", "orders_paid_redacted_email")
        sms = Consent("sms", True, "shopify single_opt_in", utc(2026, 3, 1, 15, 14, 40))
        customer = CustomerData(
            email="customer-6201@shopify.invalid", external_id="6201", locale="en-US", consents=(sms,)
        )
        assert event == paid_order(customer, "6201")
        assert payloads.is_placeholder(event.customer.email)
        round_trips(event)

    def test_orders_create_is_ignored_until_paid(self) -> None:
        assert parse("orders/create", "orders_create_pending") == []
        for status in ("authorized", "partially_paid", "voided", None):
            body = load("orders_create_pending")
            body["financial_status"] = status
            assert payloads.order_purchase("orders/create", body, STORE) is None

    def test_orders_create_paid_is_a_purchase(self) -> None:
        [event] = parse("orders/create", "orders_create_paid")
        item = CatalogItem(
            external_id="7101",
            title="Python for filmmakers",
            kind="course",
            price=Decimal("149.00"),
            currency="EUR",
            attributes={"vendor": "Crosssell School", "product_type": "Course"},
            raw={"product_id": "7101", "variant_id": "41101", "sku": "COURSE-PY-FILM", "variant_title": ""},
        )
        assert event == PurchaseEvent(
            store=STORE,
            order_id="5001001003",
            # processed 03:30 at +02:00, the night the clocks went forward in Paris
            occurred_at=utc(2026, 3, 29, 1, 30),
            currency="EUR",
            customer=CustomerData(
                email="grace@example.com", external_id="6202", first_name="Grace", last_name="Hopper", locale="fr"
            ),
            lines=(PurchaseLine(item=item, quantity=1, unit_price=Decimal("149.00")),),
            total=Decimal("149.00"),
            updated_at=utc(2026, 3, 29, 1, 30, 2),
            raw={
                "id": "5001001003",
                "name": "#1003",
                "order_number": 1003,
                "financial_status": "paid",
                "test": False,
                "source_name": "web",
                "currency": "EUR",
                "presentment_currency": "EUR",
                "total_price": "149.00",
                "subtotal_price": "149.00",
                "total_discounts": "0.00",
                "total_tax": "0.00",
                "discount_codes": [],
                "customer_id": "6202",
                "lines": [
                    {
                        "id": "13011",
                        "product_id": "7101",
                        "variant_id": "41101",
                        "sku": "COURSE-PY-FILM",
                        "quantity": 1,
                        "price": "149.00",
                        "discount": "0.00",
                    }
                ],
            },
        )
        round_trips(event)

    def test_no_personal_data_in_the_orders_raw(self) -> None:
        [event] = parse("orders/paid", "orders_paid")
        text = json.dumps(event.raw)
        for personal in ("Lovelace", "example.com", "+1415", "St James", "203.0.113.7"):
            assert personal not in text

    def test_a_line_without_a_product_is_a_custom_item_off_sale(self) -> None:
        body = load("orders_paid")
        body["line_items"][2]["product_id"] = None
        event = payloads.purchase_event(body, STORE)
        assert (event.lines[2].item.external_id, event.lines[2].item.available) == ("custom:13003", False)

    def test_the_kinds_mapping_names_a_lines_kind(self) -> None:
        body = load("orders_paid")
        body["line_items"][1]["product_type"] = "Digital film"
        event = payloads.purchase_event(body, STORE, kinds={"digital film": "film"})
        assert [line.item.kind for line in event.lines] == ["product", "film", "product"]

    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            (("id",), None, "id"),
            (("id",), True, "id"),
            (("id",), "gid://shopify/Order/1", "id"),
            (("currency",), "usd", "currency"),
            (("processed_at",), "2026-03-01T10:15:00", "processed_at"),
            (("line_items",), [], "line_items"),
            (("line_items",), {"id": 1}, "line_items"),
            (("line_items", 1, "price"), 12.99, "line_items[1].price"),
            (
                ("line_items", 1, "price_set"),
                {"shop_money": {"amount": 12.99}},
                "line_items[1].price_set.shop_money.amount",
            ),
            (("line_items", 1, "price"), "12.999", "line_items[1].price"),
            (("line_items", 1, "price"), "-1.00", "line_items[1].price"),
            (("line_items", 0, "quantity"), 0, "line_items[0].quantity"),
            (("line_items", 0, "quantity"), "2", "line_items[0].quantity"),
            pytest.param(("line_items", 0, "quantity"), 10**5000, "line_items[0].quantity", id="5001-digit-quantity"),
            (("order_number",), 2**64, "order_number"),
            (("line_items", 0, "product_id"), -5, "line_items[0].product_id"),
            (("line_items", 0, "title"), 5, "line_items[0].title"),
            (("line_items", 0, "title"), "Tee\x00", "line_items[0].title"),
            (("customer", "id"), "abc", "customer.id"),
            (("customer", "email"), "not an email", "customer.email"),
            (("customer", "email_marketing_consent", "state"), "maybe", "customer.email_marketing_consent.state"),
            (
                ("customer", "sms_marketing_consent", "consent_updated_at"),
                "yesterday",
                "customer.sms_marketing_consent.consent_updated_at",
            ),
            (("discount_codes", 0, "amount"), "five", "discount_codes[0].amount"),
            (("total_price_set", "shop_money", "amount"), None, "total_price_set.shop_money.amount"),
        ],
    )
    def test_a_malformed_field_is_named(self, path: tuple[Any, ...], value: Any, field: str) -> None:
        body = load("orders_paid")
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(InvalidEvent) as err:
            payloads.purchase_event(body, STORE)
        assert err.value.field == field

    def test_a_body_that_is_not_an_object(self) -> None:
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.purchase_event([], STORE)  # type: ignore[arg-type]
        assert err.value.field == "body"


# --- consent ------------------------------------------------------------------------------------


class TestConsent:
    def test_customers_update_subscribed(self) -> None:
        [event] = parse("customers/update", "customers_update_subscribed")
        when = utc(2026, 3, 7, 17, 19, 58)
        consents = (
            Consent("email", True, "shopify single_opt_in", when),
            Consent("sms", True, "shopify single_opt_in", when),
        )
        assert event == ConsentEvent(
            store=STORE,
            customer=CustomerData(
                email="grace@example.com",
                external_id="6202",
                first_name="Grace",
                last_name="Hopper",
                phone="+33612345678",
                consents=consents,
            ),
            occurred_at=utc(2026, 3, 7, 17, 20),
            raw={
                "customer_id": "6202",
                "consents": [
                    {
                        "channel": "email",
                        "granted": True,
                        "source": "shopify single_opt_in",
                        "recorded_at": when.isoformat(),
                    },
                    {
                        "channel": "sms",
                        "granted": True,
                        "source": "shopify single_opt_in",
                        "recorded_at": when.isoformat(),
                    },
                ],
            },
        )
        round_trips(event)

    def test_customers_update_unsubscribed_withdraws_both(self) -> None:
        [event] = parse("customers/update", "customers_update_unsubscribed")
        when = utc(2026, 3, 9, 6, 4, 59)
        assert event.customer.consents == (
            Consent("email", False, "shopify single_opt_in", when),
            Consent("sms", False, "shopify single_opt_in", when),
        )
        assert event.occurred_at == utc(2026, 3, 9, 6, 5)
        round_trips(event)

    def test_customers_create_reads_the_same(self) -> None:
        body = load("customers_update_subscribed")
        assert payloads.parse("customers/create", body, STORE, shop_currency="USD", received_at=TRIGGERED) == [
            payloads.consent_event(body, STORE)
        ]

    def test_states_that_say_nothing(self) -> None:
        body = load("customers_update_subscribed")
        body["email_marketing_consent"] = {"state": "redacted", "opt_in_level": None, "consent_updated_at": None}
        body["sms_marketing_consent"] = {"state": "not_subscribed", "opt_in_level": None, "consent_updated_at": None}
        assert payloads.consent_event(body, STORE) is None

    def test_pending_double_opt_in_is_not_consent(self) -> None:
        body = load("customers_update_subscribed")
        body["email_marketing_consent"]["state"] = "pending"
        body["email_marketing_consent"]["opt_in_level"] = "confirmed_opt_in"
        event = payloads.consent_event(body, STORE)
        assert event is not None
        assert event.customer.consents[0] == Consent(
            "email", False, "shopify confirmed_opt_in", utc(2026, 3, 7, 17, 19, 58)
        )

    def test_a_redacted_customer_keeps_only_sms_consent(self) -> None:
        body = load("customers_update_subscribed")
        body["email"] = None
        event = payloads.consent_event(body, STORE)
        assert event is not None
        assert event.customer.email == "customer-6202@shopify.invalid"
        assert [c.channel for c in event.customer.consents] == ["sms"]
        body["sms_marketing_consent"] = None
        assert payloads.consent_event(body, STORE) is None

    def test_a_consent_without_a_time_takes_the_customers(self) -> None:
        body = load("customers_update_subscribed")
        body["email_marketing_consent"]["consent_updated_at"] = None
        event = payloads.consent_event(body, STORE)
        assert event is not None
        assert event.customer.consents[0].recorded_at == utc(2026, 3, 7, 17, 20)

    def test_a_bad_email_is_named_as_shopify_names_it(self) -> None:
        body = load("customers_update_subscribed")
        body["email"] = "grace@"
        with pytest.raises(InvalidEvent) as err:
            payloads.consent_event(body, STORE)
        assert err.value.field == "email"


# --- refunds and cancellations --------------------------------------------------------------------


class TestRefunds:
    def test_refunds_create_partial(self) -> None:
        [event] = parse("refunds/create", "refunds_create")
        assert event == RefundEvent(
            store=STORE,
            order_id="5001001001",
            refund_id="9001",
            amount=Decimal("16.20"),
            currency="USD",
            occurred_at=utc(2026, 3, 3, 14, 30),
            reason="Poster arrived damaged",
            raw={
                "id": "9001",
                "order_id": "5001001001",
                "restock": True,
                "line_items": [
                    {
                        "line_item_id": "13003",
                        "product_id": "7003",
                        "variant_id": "41020",
                        "quantity": 1,
                        "subtotal": "15.00",
                        "total_tax": "1.20",
                    }
                ],
                "transactions": [{"id": "8801", "status": "success", "amount": "16.20", "currency": "USD"}],
            },
        )
        round_trips(event)

    def test_only_money_returned_counts(self) -> None:
        body = load("refunds_create")
        failed = {**body["transactions"][0], "id": 8802, "status": "failure", "amount": "99.00"}
        pending = {**body["transactions"][0], "id": 8803, "status": "pending", "amount": "1.00"}
        capture = {**body["transactions"][0], "id": 8804, "kind": "capture", "amount": "50.00"}
        body["transactions"] += [failed, pending, capture]
        event = payloads.refund_event(body, STORE, shop_currency="USD")
        assert event.amount == Decimal("17.20")

    def test_a_restock_without_money_is_a_zero_refund(self) -> None:
        body = load("refunds_create")
        body["transactions"] = []
        event = payloads.refund_event(body, STORE, shop_currency="USD")
        assert (event.amount, event.currency) == (Decimal("0.00"), "USD")

    def test_a_refund_in_the_buyers_currency_is_converted_to_the_shops(self) -> None:
        body = load("refunds_create")
        body["transactions"][0].update(amount="22.03", currency="CAD")
        for key in ("subtotal_set", "total_tax_set"):
            body["refund_line_items"][0][key]["presentment_money"]["currency_code"] = "CAD"
        body["refund_line_items"][0]["subtotal_set"]["presentment_money"]["amount"] = "20.40"
        event = payloads.refund_event(body, STORE, shop_currency="USD")
        # 22.03 CAD at the lines' own rate (15.00 USD for 20.40 CAD) = 16.1985 USD
        assert (event.amount, event.currency) == (Decimal("16.20"), "USD")

    def test_a_foreign_refund_with_nothing_to_convert_with_is_refused(self) -> None:
        body = load("refunds_create")
        body["transactions"][0].update(amount="22.03", currency="CAD")
        body["refund_line_items"] = []
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.refund_event(body, STORE, shop_currency="USD")
        assert err.value.field == "transactions[0].currency"

    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            (("order_id",), None, "order_id"),
            (("transactions", 0, "amount"), 16.2, "transactions[0].amount"),
            (("transactions", 0, "currency"), "dollars", "transactions[0].currency"),
            (
                ("refund_line_items", 0, "subtotal_set", "shop_money", "currency_code"),
                "EUR",
                "refund_line_items[0].subtotal_set.shop_money.currency_code",
            ),
            (("processed_at",), "2026-03-03 09:30", "processed_at"),
        ],
    )
    def test_a_malformed_field_is_named(self, path: tuple[Any, ...], value: Any, field: str) -> None:
        body = load("refunds_create")
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(InvalidEvent) as err:
            payloads.refund_event(body, STORE, shop_currency="USD")
        assert err.value.field == field

    def test_orders_cancelled(self) -> None:
        [event] = parse("orders/cancelled", "orders_cancelled")
        assert event == CancelEvent(
            store=STORE,
            order_id="5001001001",
            occurred_at=utc(2026, 3, 4, 12, 0),
            reason="customer",
            raw={"id": "5001001001", "name": "#1001", "financial_status": "refunded"},
        )
        round_trips(event)

    @pytest.mark.parametrize("status", ["pending", "authorized", "voided", "expired"])
    def test_cancelling_an_order_never_paid_says_nothing(self, status: str) -> None:
        body = load("orders_cancelled")
        body["financial_status"] = status
        assert payloads.cancel_event(body, STORE) is None


# --- catalog --------------------------------------------------------------------------------------


class TestCatalog:
    def test_products_update(self) -> None:
        [event] = parse("products/update", "products_update", base_url="https://shop.example.com/")
        item = CatalogItem(
            external_id="7001",
            title="Crosssell logo tee",
            kind="product",
            price=Decimal("25.00"),
            currency="USD",
            description="Organic cotton & soft print.\nUnisex fit\nMachine wash at 30°C",
            url="https://shop.example.com/products/crosssell-logo-tee",
            image_url="https://cdn.shopify.com/s/files/1/0001/products/tee-front.jpg?v=1741210000",
            tags=("cotton", "logo", "summer"),
            available=True,
            attributes={"vendor": "Crosssell Merch", "product_type": "T-Shirt"},
            raw={
                "handle": "crosssell-logo-tee",
                "status": "active",
                "updated_at": "2026-03-05T21:45:10+00:00",
                "variant_ids": ["41001", "41002", "41003"],
            },
        )
        assert event == CatalogChangeEvent(store=STORE, occurred_at=utc(2026, 3, 5, 21, 45, 10), item=item)
        round_trips(event)

    def test_a_draft_course(self) -> None:
        [event] = parse("products/create", "products_create_draft")
        assert event.item == CatalogItem(
            external_id="7102",
            title="Editing documentaries: a course",
            kind="course",
            price=Decimal("89.00"),
            currency="USD",
            url=f"https://{SHOP}/products/editing-documentaries",
            available=False,
            attributes={"vendor": "Crosssell School", "product_type": "Courses"},
            raw={
                "handle": "editing-documentaries",
                "status": "draft",
                "updated_at": "2026-03-06T09:00:00+00:00",
                "variant_ids": ["41201"],
            },
        )
        round_trips(event)

    @pytest.mark.parametrize(
        ("status", "available"), [("active", True), ("draft", False), ("archived", False), ("ACTIVE", True)]
    )
    def test_status_decides_availability(self, status: str, available: bool) -> None:
        body = load("products_update")
        body["status"] = status
        assert payloads.catalog_item(body, currency="USD", base_url="https://s.example").available is available

    def test_sold_out_everywhere_is_unavailable(self) -> None:
        body = load("products_update")
        body["variants"][1]["inventory_quantity"] = 0
        assert payloads.catalog_item(body, currency="USD", base_url="https://s.example").available is True
        body["variants"][2]["inventory_policy"] = "deny"  # XXL no longer sold when out of stock
        assert payloads.catalog_item(body, currency="USD", base_url="https://s.example").available is False

    def test_collections_become_tags_and_the_kind_tag_wins(self) -> None:
        body = load("products_update")
        body["tags"] = ["kind:merch", "cotton"]
        item = payloads.catalog_item(
            body, currency="USD", base_url="https://s.example", collections=["summer-collection"]
        )
        assert item.tags == ("kind:merch", "cotton", "collection:summer-collection")
        assert item.kind == "merch"

    @pytest.mark.parametrize(
        ("product_type", "kind"),
        [
            ("Film", "film"),
            ("Movies", "film"),
            ("Course", "course"),
            ("Merchandise", "merch"),
            ("Poster", "product"),
            ("", "product"),
        ],
    )
    def test_kind_of_a_product_type(self, product_type: str, kind: str) -> None:
        assert payloads.kind_of(product_type) == kind

    def test_products_delete_takes_the_item_off_sale(self) -> None:
        [event] = parse("products/delete", "products_delete")
        assert event == CatalogChangeEvent(store=STORE, occurred_at=TRIGGERED, removed_external_id="7003")
        round_trips(event)

    @pytest.mark.parametrize(
        ("path", "value", "field"),
        [
            (("variants",), [], "variants"),
            (("variants", 2, "price"), 27.5, "variants[2].price"),
            (("variants", 2, "price"), None, "variants[2].price"),
            (("status",), "hidden", "status"),
            (("title",), "", "title"),
            (("tags",), ["ok", 3], "tags[1]"),
            (("body_html",), ["<p>"], "body_html"),
            (("id",), 0, "id"),
            (("images", 0, "src"), "https://cdn.example/a\x07.jpg", "images[0].src"),
        ],
    )
    def test_a_malformed_field_is_named(self, path: tuple[Any, ...], value: Any, field: str) -> None:
        body = load("products_update")
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(InvalidEvent) as err:
            payloads.catalog_item(body, currency="USD", base_url="https://s.example")
        assert err.value.field == field

    def test_a_storefront_url_is_required(self) -> None:
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.catalog_item(load("products_update"), currency="USD", base_url="shop.example.com")
        assert err.value.field == "base_url"

    def test_plain_text_of_body_html(self) -> None:
        html = "<h2>Le&nbsp;Bonheur</h2><p>Agn&egrave;s   Varda,<br>1965</p><style>p{}</style>\x0b"
        assert payloads.plain_text(html) == "Le Bonheur\nAgnès Varda,\n1965"
        body = load("products_update")
        body["body_html"] = "<p>" + "word " * 10_000 + "</p>"  # 50,000 characters: cut, not refused
        description = payloads.catalog_item(body, currency="USD", base_url="https://s.example").description
        assert 19_990 < len(description) <= 20_000
        assert description.startswith("word word")

    def test_collections_update_and_delete(self) -> None:
        [changed] = parse("collections/update", "collections_update")
        assert changed == CollectionChange(
            store=STORE,
            collection_id="3001",
            occurred_at=utc(2026, 3, 5, 16, 0),
            handle="summer-collection",
            title="Summer collection",
        )
        assert changed.tag == "collection:summer-collection"
        [deleted] = parse("collections/delete", "collections_delete")
        assert deleted == CollectionChange(store=STORE, collection_id="3001", occurred_at=TRIGGERED, deleted=True)
        assert deleted.tag == ""


# --- privacy and the app's lifecycle ---------------------------------------------------------------


class TestPrivacy:
    def test_customers_redact(self) -> None:
        [event] = parse("customers/redact", "customers_redact")
        assert event == CustomerRedactEvent(
            store=STORE,
            email="ada.lovelace@example.com",
            occurred_at=TRIGGERED,
            external_id="6201",
            raw={"customer_id": "6201", "orders_to_redact": ["5001001001", "5001001004"]},
        )
        round_trips(event)

    def test_a_redact_without_an_email_names_the_placeholder(self) -> None:
        body = load("customers_redact")
        body["customer"] = {"id": 6201, "email": None, "phone": None}
        event = payloads.redact_event(body, STORE, occurred_at=TRIGGERED)
        assert (event.email, event.external_id) == ("customer-6201@shopify.invalid", "6201")
        body["customer"] = {"email": "ada@example.com"}
        event = payloads.redact_event(body, STORE, occurred_at=TRIGGERED)
        assert (event.email, event.external_id) == ("ada@example.com", "")
        body["customer"] = {"id": None, "email": None, "phone": "+14155550123"}
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.redact_event(body, STORE, occurred_at=TRIGGERED)
        assert err.value.field == "customer"

    def test_another_shops_request_is_refused(self) -> None:
        for topic, name, field in (
            ("customers/redact", "customers_redact", "shop_domain"),
            ("customers/data_request", "customers_data_request", "shop_domain"),
            ("shop/redact", "shop_redact", "shop_domain"),
            ("app/uninstalled", "app_uninstalled", "myshopify_domain"),
        ):
            body = load(name)
            body[field] = "other-shop.myshopify.com"
            with pytest.raises(ShopifyPayloadError) as err:
                payloads.parse(topic, body, STORE, shop_currency="USD", received_at=TRIGGERED)
            assert err.value.field == field

    def test_customers_data_request(self) -> None:
        assert parse("customers/data_request", "customers_data_request") == [
            CustomerDataRequest(
                store=STORE,
                request_id="9999",
                received_at=TRIGGERED,
                shop_id="70001",
                customer_id="6201",
                email="ada.lovelace@example.com",
                phone="+14155550123",
                order_ids=("5001001001",),
            )
        ]

    def test_shop_redact(self) -> None:
        assert parse("shop/redact", "shop_redact") == [
            ShopRedactRequest(store=STORE, received_at=TRIGGERED, shop_id="70001")
        ]

    def test_app_uninstalled(self) -> None:
        assert parse("app/uninstalled", "app_uninstalled") == [
            AppUninstalled(store=STORE, received_at=TRIGGERED, shop_id="70001", shop_name="Demo Merch")
        ]

    def test_a_naive_received_at_is_refused(self) -> None:
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.shop_redact(load("shop_redact"), STORE, received_at=datetime(2026, 3, 10))  # noqa: DTZ001
        assert err.value.field == "received_at"


# --- deliveries: topic, duplicate keys, staleness --------------------------------------------------

HEADERS = {
    "X-Shopify-Topic": "orders/paid",
    "X-Shopify-Hmac-Sha256": "c2lnbmF0dXJl",
    "X-Shopify-Shop-Domain": "Demo-Merch.myshopify.com",
    "X-Shopify-API-Version": "2026-01",
    "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
    "X-Shopify-Triggered-At": "2026-03-01T15:15:04.877041743Z",
}


class TestDeliveryMeta:
    def test_the_headers(self) -> None:
        meta = payloads.delivery_meta(HEADERS)
        assert meta == DeliveryMeta(
            topic="orders/paid",
            webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
            shop_domain=SHOP,
            api_version="2026-01",
            event_id="98880550-7158-44d4-b7cd-2c97c8a091b5",
            triggered_at=datetime(2026, 3, 1, 15, 15, 4, 877041, tzinfo=UTC),
        )
        assert meta.store == STORE
        assert meta.dedupe_key == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
        assert meta.event_key == "orders/paid:98880550-7158-44d4-b7cd-2c97c8a091b5"

    def test_names_in_any_case_and_without_the_x_prefix(self) -> None:
        lowered = {name.lower(): value for name, value in HEADERS.items()}
        unprefixed = {name.removeprefix("X-"): value for name, value in HEADERS.items()}
        assert payloads.delivery_meta(lowered) == payloads.delivery_meta(HEADERS)
        assert payloads.delivery_meta(unprefixed) == payloads.delivery_meta(HEADERS)

    def test_optional_headers(self) -> None:
        headers = {k: v for k, v in HEADERS.items() if k not in ("X-Shopify-Event-Id", "X-Shopify-Triggered-At")}
        meta = payloads.delivery_meta(headers)
        assert (meta.event_id, meta.event_key, meta.triggered_at) == ("", "", None)

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("X-Shopify-Topic", None),
            ("X-Shopify-Topic", "orders paid"),
            ("X-Shopify-Webhook-Id", None),
            ("X-Shopify-Webhook-Id", "  "),
            ("X-Shopify-Shop-Domain", None),
            ("X-Shopify-Shop-Domain", "shop.example.com"),
            ("X-Shopify-Shop-Domain", "evil.myshopify.com.example.net"),
            ("X-Shopify-API-Version", None),
            ("X-Shopify-API-Version", "latest"),
            ("X-Shopify-Triggered-At", "2026-03-01T15:15:04"),
            ("X-Shopify-Event-Id", "x" * 201),
        ],
    )
    def test_a_missing_or_bad_header_is_named(self, name: str, value: str | None) -> None:
        headers = {k: v for k, v in HEADERS.items() if k != name}
        if value is not None:
            headers[name] = value
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.delivery_meta(headers)
        assert err.value.field == name

    def test_unknown_topics(self) -> None:
        with pytest.raises(UnsupportedTopic) as err:
            payloads.parse("orders/fulfilled", load("orders_paid"), STORE, shop_currency="USD", received_at=TRIGGERED)
        assert err.value.field == "X-Shopify-Topic"
        assert "orders/fulfilled" not in payloads.TOPICS

    @pytest.mark.parametrize(
        ("payload", "held", "stale"),
        [
            ("2026-03-01T10:00:00-05:00", "2026-03-01T16:00:01+01:00", True),
            ("2026-03-01T10:00:00-05:00", "2026-03-01T16:00:00+01:00", False),  # the same instant
            ("2026-03-01T10:00:01-05:00", "2026-03-01T16:00:00+01:00", False),
            (utc(2026, 3, 1), utc(2026, 3, 2), True),
            (utc(2026, 3, 2), "2026-03-01T23:00:00-02:00", True),  # held: 01:00 UTC on the 2nd
            (utc(2026, 3, 2), "2026-03-02T00:30:00+01:00", False),  # held: 23:30 UTC on the 1st
            (None, utc(2026, 3, 2), False),
            (utc(2026, 3, 2), None, False),
        ],
    )
    def test_is_stale(self, payload: Any, held: Any, stale: bool) -> None:
        assert payloads.is_stale(payload, held) is stale

    def test_is_stale_refuses_naive_times(self) -> None:
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.is_stale(datetime(2026, 3, 1), utc(2026, 3, 1))  # noqa: DTZ001
        assert err.value.field == "payload_updated_at"
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.is_stale(utc(2026, 3, 1), "2026-03-01T10:00:00")
        assert err.value.field == "held_updated_at"


# --- times ----------------------------------------------------------------------------------------


class TestTimes:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-03-01T10:15:00-05:00", utc(2026, 3, 1, 15, 15)),
            ("2026-03-01T10:15:00+05:30", utc(2026, 3, 1, 4, 45)),
            ("2026-03-01T00:30:00+14:00", utc(2026, 2, 28, 10, 30)),  # the previous day in UTC
            ("2026-12-31T23:30:00-10:00", utc(2027, 1, 1, 9, 30)),  # the next year
            ("2026-03-01T10:15:00Z", utc(2026, 3, 1, 10, 15)),
            ("2026-03-01T10:15:00.123456789+00:00", datetime(2026, 3, 1, 10, 15, 0, 123456, tzinfo=UTC)),
        ],
    )
    def test_offsets_become_utc(self, text: str, expected: datetime) -> None:
        parsed = payloads.parse_time(text, "created_at")
        assert parsed == expected
        assert parsed.tzinfo is UTC

    @pytest.mark.parametrize(
        "text", ["2026-03-01T10:15:00", "2026-03-01", "yesterday", "", "0001-01-01T00:30:00+01:00", 1_740_000_000]
    )
    def test_what_is_not_an_aware_time(self, text: Any) -> None:
        with pytest.raises(ShopifyPayloadError) as err:
            payloads.parse_time(text, "created_at")
        assert err.value.field == "created_at"

    @settings(max_examples=80, deadline=None)
    @given(
        moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),  # noqa: DTZ001
        minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
    )
    def test_any_offset_is_the_same_instant_in_utc(self, moment: datetime, minutes: int) -> None:
        local = moment.replace(tzinfo=timezone(timedelta(minutes=minutes)))
        body = load("orders_paid")
        body["processed_at"] = local.isoformat()
        event = payloads.purchase_event(body, STORE)
        assert event.occurred_at == local
        assert event.occurred_at.utcoffset() == timedelta(0)
        assert event.occurred_at.replace(tzinfo=None) == moment - timedelta(minutes=minutes)


# --- what the core records from them ---------------------------------------------------------------


@pytest.mark.django_db
class TestRecorded:
    def test_purchase_refund_then_cancel(self) -> None:
        ensure_store(STORE, name="Demo Merch", currency="USD", timezone="America/New_York")
        [purchase] = parse("orders/paid", "orders_paid")
        assert record_event(purchase) == "created"
        assert record_event(purchase) == "same"  # a duplicate delivery
        [refund] = parse("refunds/create", "refunds_create")
        assert record_event(refund) == "refunded"
        [cancel] = parse("orders/cancelled", "orders_cancelled")
        assert record_event(cancel) == "cancelled"
        order = Order.objects.get(external_id="5001001001")
        assert (order.total, order.refunded_total, order.status) == (
            Decimal("85.83"),
            Decimal("85.83"),
            Order.Status.REFUNDED,
        )
        assert list(order.refunds.order_by("occurred_at").values_list("amount", flat=True)) == [
            Decimal("16.20"),
            Decimal("69.63"),
        ]

    def test_an_older_delivery_of_an_order_is_stale(self) -> None:
        ensure_store(STORE, name="Demo Merch", currency="USD")
        newer = load("orders_paid")
        older = copy.deepcopy(newer)
        older["updated_at"] = "2026-03-01T10:15:01-05:00"
        older["line_items"] = older["line_items"][:1]
        record_event(payloads.purchase_event(newer, STORE))
        assert record_event(payloads.purchase_event(older, STORE)) == "stale"

    def test_a_redacted_buyer_is_one_customer_without_email_consent(self) -> None:
        ensure_store(STORE, name="Demo Merch", currency="USD")
        first = load("orders_paid_redacted_email")
        second = copy.deepcopy(first)
        second["id"] = 5001001009
        for body in (first, second):
            record_event(payloads.purchase_event(body, STORE))
        customer = Customer.objects.get(external_id="6201")
        assert customer.email == "customer-6201@shopify.invalid"
        assert Order.objects.filter(customer=customer).count() == 2
        assert list(CustomerConsent.objects.filter(customer=customer).values_list("channel", "granted")) == [
            ("sms", True)
        ]

    def test_redacting_finds_the_customer_by_id(self) -> None:
        ensure_store(STORE, name="Demo Merch", currency="USD")
        record_event(payloads.purchase_event(load("orders_paid"), STORE))
        body = load("customers_redact")
        body["customer"]["email"] = None
        assert record_event(payloads.redact_event(body, STORE, occurred_at=TRIGGERED)) == "redacted 1"
        assert not Customer.objects.filter(email="ada.lovelace@example.com").exists()
        assert Order.objects.get(external_id="5001001001").raw == {}


# --- bodies of any shape ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "12.99", "-1", "1e9999", "NaN", "2026-03-01T10:15:00-05:00", "paid", "USD", "subscribed"])
    | st.sampled_from([2**63, "9" * 5000, "\ud800", "a\x00b"])
    # 5,001 digits, past Python's limit for turning an int into text (built, so that no repr is needed)
    | st.builds(lambda sign: sign * 10**5000, st.sampled_from([1, -1])),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replaced(body: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


ORDER_PATHS = _paths(load("orders_paid"))
#: fixture -> topic, for the mutated bodies of every topic
FIXTURE_TOPICS = {
    "orders_paid": "orders/paid",
    "orders_paid_redacted_email": "orders/paid",
    "orders_create_paid": "orders/create",
    "orders_cancelled": "orders/cancelled",
    "refunds_create": "refunds/create",
    "products_update": "products/update",
    "products_delete": "products/delete",
    "collections_update": "collections/update",
    "customers_update_subscribed": "customers/update",
    "customers_redact": "customers/redact",
    "customers_data_request": "customers/data_request",
    "shop_redact": "shop/redact",
    "app_uninstalled": "app/uninstalled",
}


def _only_invalid_event(call: Any) -> Any:
    """``call()``; anything it raises must be an InvalidEvent naming a field. What it returns must
    travel as JSON the way the core stores it (UTF-8, no unpaired surrogates)."""
    try:
        result = call()
    except InvalidEvent as err:
        assert err.field
        return None
    for found in result if isinstance(result, list) else [result]:
        if hasattr(found, "to_dict"):
            json.dumps(found.to_dict(), ensure_ascii=False).encode()
            round_trips(found)
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.text(max_size=20), json_values, max_size=8) | json_values)
def test_an_order_of_any_shape_raises_only_invalid_event(body: Any) -> None:
    _only_invalid_event(lambda: payloads.purchase_event(body, STORE))
    _only_invalid_event(lambda: payloads.order_purchase("orders/create", body, STORE))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(ORDER_PATHS), value=json_values, delete=st.booleans())
def test_an_order_with_any_field_changed_raises_only_invalid_event(
    path: tuple[Any, ...], value: Any, delete: bool
) -> None:
    body = _replaced(load("orders_paid"), path, value, delete)
    _only_invalid_event(lambda: payloads.purchase_event(body, STORE))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(FIXTURE_TOPICS)), value=json_values, delete=st.booleans())
def test_any_topic_with_any_field_changed_raises_only_invalid_event(
    data: Any, name: str, value: Any, delete: bool
) -> None:
    fixture = load(name)
    paths = _paths(fixture)
    body: Any = _replaced(fixture, data.draw(st.sampled_from(paths)), value, delete) if paths else value
    _only_invalid_event(
        lambda: payloads.parse(
            FIXTURE_TOPICS[name], body, STORE, shop_currency="USD", received_at=TRIGGERED, base_url="https://s.example"
        )
    )


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from([*payloads.WEBHOOK_HEADERS, "x-shopify-topic", "Other"]), st.text(max_size=40)
    )
)
def test_headers_of_any_value_raise_only_invalid_event(headers: dict[str, str]) -> None:
    _only_invalid_event(lambda: payloads.delivery_meta({**HEADERS, **headers}))
