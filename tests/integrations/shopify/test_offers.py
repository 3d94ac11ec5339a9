"""Offer codes on Shopify faked with ``responses``: the exact discountCodeBasicCreate input,
idempotency (looked up before created, never a second discount), userErrors, and the codes an
order used read back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import responses

from crosssell_plugin.exceptions import InvalidEvent
from integrations.shopify.client import ShopifyUserError
from integrations.shopify.offers import (
    FixedAmount,
    OfferCodeTaken,
    Percentage,
    create_offer_code,
    offer_code_for,
    redeemed_offer_codes,
)

from .graphql_fakes import ENDPOINT, SHOP, fixture, make_client, operation, ordered, sent

SECRET = "offers-test-secret-0123456789"
KEY = "order-1001-step-2"
#: offer_code_for(SHOP, KEY, secret=SECRET): pinned, since a code that changed would break idempotency
CODE = "XS-TXNGL4KV5KHA"
STARTS = datetime(2030, 1, 15, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
ENDS = datetime(2030, 1, 29, 9, 0, tzinfo=UTC)


def create(**changes: Any) -> Any:
    client = changes.pop("client", None) or make_client(api_version=changes.pop("api_version", "2026-07"))
    arguments: dict[str, Any] = {
        "starts_at": STARTS,
        "ends_at": ENDS,
        "customer_id": 7012345678,
        "secret": SECRET,
        **changes,
    }
    value = arguments.pop("value", Percentage(Decimal("15")))
    return create_offer_code(client, arguments.pop("offer_key", KEY), value, **arguments)


def expected_input(**changes: Any) -> dict[str, Any]:
    discount: dict[str, Any] = {
        "title": f"Crosssell offer {CODE}",
        "code": CODE,
        "startsAt": "2030-01-15T09:00:00Z",
        "endsAt": "2030-01-29T09:00:00Z",
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "customerGets": {"value": {"percentage": 0.15}, "items": {"all": True}},
        "context": {"customers": {"add": ["gid://shopify/Customer/7012345678"]}},
    }
    discount.update(changes)
    return discount


# --- the code --------------------------------------------------------------------------------


def test_the_code_is_derived_from_shop_and_offer_key_and_is_stable() -> None:
    assert offer_code_for(SHOP, KEY, secret=SECRET) == CODE
    assert offer_code_for(SHOP.upper().replace(".MYSHOPIFY.COM", ".myshopify.com"), KEY, secret=SECRET) == CODE
    others = {
        offer_code_for("merch-shop.myshopify.com", KEY, secret=SECRET),
        offer_code_for(SHOP, "order-1001-step-3", secret=SECRET),
        offer_code_for(SHOP, KEY, secret="another-secret-9876543210"),
    }
    assert CODE not in others and len(others) == 3


def test_the_code_uses_the_sites_secret_key_by_default(settings: Any) -> None:
    settings.SECRET_KEY = SECRET
    assert offer_code_for(SHOP, KEY) == CODE
    settings.SECRET_KEY = "a-different-site-secret-key-0000"
    assert offer_code_for(SHOP, KEY) != CODE


@pytest.mark.parametrize(("key", "prefix"), [("", "XS"), ("  ", "XS"), (KEY, "xs"), (KEY, "TOO-LONG-PREFIX")])
def test_a_blank_offer_key_or_a_bad_prefix_is_refused(key: str, prefix: str) -> None:
    with pytest.raises(ValueError):
        offer_code_for(SHOP, key, prefix=prefix, secret=SECRET)


# --- creating --------------------------------------------------------------------------------


def test_a_percentage_code_for_one_customer_is_created_with_these_exact_variables() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create"))
        offer = create()
        calls = list(rsps.calls)
    assert [operation(call) for call in calls] == ["CrosssellOfferCode", "CrosssellOfferCodeCreate"]
    assert sent(calls[0])["variables"] == {"code": CODE}
    assert sent(calls[1])["variables"] == {"basicCodeDiscount": expected_input()}
    assert offer.code == CODE and offer.created is True
    assert offer.discount_id == "gid://shopify/DiscountCodeNode/1057371201"
    assert offer.title == f"Crosssell offer {CODE}" and offer.status == "SCHEDULED"


def test_before_2025_10_the_customer_goes_in_customer_selection() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT.replace("2026-07", "2025-07"), json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT.replace("2026-07", "2025-07"), json=fixture("graphql_discount_create"))
        create(api_version="2025-07")
        discount = sent(rsps.calls[1])["variables"]["basicCodeDiscount"]
    assert "context" not in discount
    assert discount["customerSelection"] == {"customers": {"add": ["gid://shopify/Customer/7012345678"]}}


def test_a_guest_code_is_open_to_all_buyers_and_products_can_be_named() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create"))
        create(
            customer_id=None,
            product_ids=["gid://shopify/Product/8011002"],
            variant_ids=["gid://shopify/ProductVariant/4402009"],
            title="Thanks for your order",
        )
        discount = sent(rsps.calls[1])["variables"]["basicCodeDiscount"]
    assert discount == expected_input(
        title=f"Thanks for your order {CODE}",
        context={"all": "ALL"},
        customerGets={
            "value": {"percentage": 0.15},
            "items": {
                "products": {
                    "productsToAdd": ["gid://shopify/Product/8011002"],
                    "productVariantsToAdd": ["gid://shopify/ProductVariant/4402009"],
                }
            },
        },
    )


def test_a_fixed_amount_is_sent_as_a_decimal_string_in_the_shops_currency() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_shop_currency"))  # EUR, asked since it was not given
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create"))
        create(value=FixedAmount(Decimal("10"), "EUR"), customer_id="gid://shopify/Customer/7012345678")
        discount = sent(rsps.calls[2])["variables"]["basicCodeDiscount"]
    assert discount["customerGets"]["value"] == {"discountAmount": {"amount": "10.00", "appliesOnEachItem": False}}


@responses.activate
def test_a_fixed_amount_in_another_currency_is_refused_before_anything_is_created() -> None:
    with pytest.raises(ValueError, match="sells in EUR: a fixed amount in USD"):
        create(value=FixedAmount(Decimal("10.00"), "USD"), shop_currency="EUR")
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"starts_at": datetime(2030, 1, 15, 9, 0)}, "starts_at must be timezone-aware"),  # noqa: DTZ001
        ({"ends_at": STARTS - timedelta(hours=1)}, "must be after starts_at"),
        ({"customer_id": "someone@example.com"}, "customer_id must be"),
        ({"customer_id": "gid://shopify/Order/5501002003"}, "customer_id must be"),
        ({"product_ids": ["8011002"]}, "product_ids must be a list of gid://shopify/Product/"),
        ({"offer_key": ""}, "offer_key"),
    ],
)
@responses.activate
def test_bad_input_is_refused_naming_the_problem_before_calling_shopify(changes: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        create(**changes)
    assert len(responses.calls) == 0


@pytest.mark.parametrize("percent", [Decimal("0"), Decimal("100.5"), Decimal("NaN"), 15.0])
def test_a_percentage_outside_0_to_100_or_a_float_is_refused(percent: Any) -> None:
    with pytest.raises(ValueError, match="percent must be"):
        Percentage(percent)


@pytest.mark.parametrize(
    ("amount", "currency"), [(Decimal("0"), "EUR"), (Decimal("1.005"), "EUR"), (10.0, "EUR"), (Decimal("5"), "EURO")]
)
def test_a_fixed_amount_must_be_positive_exact_money(amount: Any, currency: str) -> None:
    with pytest.raises(ValueError):
        FixedAmount(amount, currency)


def test_an_end_in_the_past_is_refused_once_no_code_exists() -> None:
    past = datetime(2020, 1, 1, tzinfo=UTC)
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        with pytest.raises(ValueError, match="has passed"):
            create(starts_at=past - timedelta(days=1), ends_at=past)
        assert [operation(call) for call in rsps.calls] == ["CrosssellOfferCode"]


# --- idempotency -----------------------------------------------------------------------------


def test_a_second_call_finds_the_code_and_creates_nothing() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code"))
        first = create()
        again = create()
        assert [operation(call) for call in rsps.calls] == [
            "CrosssellOfferCode",
            "CrosssellOfferCodeCreate",
            "CrosssellOfferCode",
        ]
    assert first.created is True and again.created is False
    assert (again.code, again.discount_id) == (first.code, first.discount_id)
    assert again.status == "ACTIVE"


def test_a_create_whose_answer_was_lost_is_not_created_twice() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, status=502, body="<html>502 Bad Gateway</html>")  # created, but the answer is lost
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create_taken"))  # the client's retry
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code"))
        offer = create()
        assert [operation(call) for call in rsps.calls] == [
            "CrosssellOfferCode",
            "CrosssellOfferCodeCreate",
            "CrosssellOfferCodeCreate",
            "CrosssellOfferCode",
        ]
    assert offer.created is False and offer.discount_id == "gid://shopify/DiscountCodeNode/1057371201"


def test_a_code_held_by_a_discount_that_is_not_ours_is_not_handed_out() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_foreign"))
        with pytest.raises(OfferCodeTaken) as raised:
            create()
        assert len(rsps.calls) == 1
    assert raised.value.discount_id == "gid://shopify/DiscountCodeNode/1057370007"
    assert CODE in str(raised.value) and "did not create" in str(raised.value)


def test_taken_by_someone_else_at_create_time_raises_offer_code_taken() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create_taken"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_foreign"))
        with pytest.raises(OfferCodeTaken):
            create()


def test_user_errors_raise_naming_field_and_message() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_discount_by_code_absent"))
        rsps.post(ENDPOINT, json=fixture("graphql_discount_create_invalid"))
        with pytest.raises(ShopifyUserError) as raised:
            create()
    assert raised.value.mutation == "discountCodeBasicCreate"
    assert raised.value.codes == ["INVALID"]
    assert "basicCodeDiscount.context.customers.add: Customer does not exist. (INVALID)" in str(raised.value)


# --- redemptions -----------------------------------------------------------------------------


def webhook_order(*codes: str) -> dict[str, Any]:
    """The part of an ``orders/paid`` body that names its discount codes."""
    return {
        "id": 5501002003,
        "admin_graphql_api_id": "gid://shopify/Order/5501002003",
        "currency": "EUR",
        "discount_codes": [{"code": code, "amount": "4.50", "type": "percentage"} for code in codes],
    }


def test_the_crosssell_codes_of_a_webhook_order_are_read_back() -> None:
    order = webhook_order("SUMMER10", CODE.lower(), "XS-SHORT")
    assert redeemed_offer_codes(order) == [CODE]


def test_the_crosssell_codes_of_a_graphql_order_are_read_back_once() -> None:
    order = fixture("graphql_order_discount_codes")["data"]["order"]
    assert redeemed_offer_codes(order) == [offer_code_for(SHOP, "order-1002-step-1", secret=SECRET)]


def test_an_order_without_codes_has_none() -> None:
    assert redeemed_offer_codes({"id": 1, "discount_codes": []}) == []
    assert redeemed_offer_codes({"id": 1}) == []


def test_another_prefix_reads_only_its_codes() -> None:
    ours = offer_code_for(SHOP, KEY, prefix="FILM", secret=SECRET)
    assert redeemed_offer_codes(webhook_order(CODE, ours), prefix="FILM") == [ours]


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({"discount_codes": "XS-TXNGL4KV5KHA"}, "discount_codes"),
        ({"discount_codes": [{"amount": "4.50"}]}, r"discount_codes\[0\]\.code"),
        ({"discountCodes": [None]}, r"discountCodes\[0\]"),
    ],
)
def test_a_malformed_order_is_refused_naming_the_field(order: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidEvent, match=field):
        redeemed_offer_codes(copy.deepcopy(order))
