"""Event validation: every malformed value raises InvalidEvent naming its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.events import (
    CatalogItem,
    Consent,
    ConsumptionEvent,
    CustomerData,
    PurchaseEvent,
    PurchaseLine,
    RefundEvent,
    StoreRef,
)
from crosssell_plugin.exceptions import InvalidEvent

from .conftest import STORE_REF, catalog_item, purchase_event


def _with_line(**line: Any) -> dict[str, Any]:
    values = {"item": catalog_item(), "quantity": 1, "unit_price": Decimal("9.99")}
    values.update(line)
    return {"lines": (PurchaseLine(**values),)}


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"customer": CustomerData(email="")}, "customer.email", "required"),
        ({"customer": None}, "customer", "required"),
        ({"customer": CustomerData(email="not-an-email")}, "customer.email", "not a valid email"),
        (_with_line(quantity=-1), "lines[0].quantity", "at least 1"),
        (_with_line(quantity=0), "lines[0].quantity", "at least 1"),
        (_with_line(quantity=1.5), "lines[0].quantity", "whole number"),
        (_with_line(unit_price=Decimal("-1.00")), "lines[0].unit_price", "negative"),
        (_with_line(unit_price=9.99), "lines[0].unit_price", "not float"),
        (_with_line(unit_price=Decimal("9.999")), "lines[0].unit_price", "more decimal places than EUR"),
        ({"currency": "XYZ"}, "currency", "ISO 4217"),
        ({"currency": "eur"}, "currency", "ISO 4217"),
        ({"lines": ()}, "lines", "at least one line"),
        ({"order_id": "  "}, "order_id", "required"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at", "timezone-aware"),  # noqa: DTZ001
        ({"occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
        ({"total": Decimal("NaN")}, "total", "finite"),
        ({"raw": {"when": datetime.now(UTC)}}, "raw", "JSON-serializable"),
        ({"customer": CustomerData(email="a@b.co", country="France")}, "customer.country", "characters long"),
        ({"customer": CustomerData(email="a@b.co", timezone="Mars/Olympus")}, "customer.timezone", "IANA"),
        (
            {"customer": CustomerData(email="a@b.co", consents=(Consent("fax", True, "x", datetime.now(UTC)),))},
            "customer.consents[0].channel",
            "email, sms, in_app",
        ),
    ],
)
def test_malformed_purchase_names_the_field(overrides: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        purchase_event(**overrides)
    assert err.value.field == field
    assert words in str(err.value)
    assert isinstance(err.value, ValueError)  # callers that only know built-ins still catch it


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"title": ""}, "item.title", "required"),
        ({"title": "x" * 501}, "item.title", "limit is 500"),
        ({"title": "Bad\x00title"}, "item.title", "U+0000"),
        ({"title": "Bad \ud800 surrogate"}, "item.title", "surrogate"),
        ({"title": "Line\nbreak"}, "item.title", "U+000A"),
        ({"kind": "vhs"}, "item.kind", "film, series"),
        ({"currency": "EURO"}, "item.currency", "ISO 4217"),
        ({"margin_rate": Decimal("1.5")}, "item.margin_rate", "between 0 and 1"),
        ({"margin_rate": 0.3}, "item.margin_rate", "between 0 and 1"),
        ({"genres": "Drama"}, "item.genres", "list of strings"),
        ({"people": ["Varda"]}, "item.people", "map a role"),
        ({"position": -1}, "item.position", "0 or more"),
        ({"available": "yes"}, "item.available", "true or false"),
    ],
)
def test_malformed_catalog_item_names_the_field(overrides: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        catalog_item(**overrides)
    assert (err.value.field, words in str(err.value)) == (field, True)


def test_html_and_unicode_text_is_accepted_verbatim() -> None:
    title = '<img src=x onerror="alert(1)"> Ōkami & “Amélie” 🎬'
    item = catalog_item(title=title, description="Two\nlines\twith a tab")
    assert item.title == title and item.description == "Two\nlines\twith a tab"


def test_normalization() -> None:
    paris = timezone(timedelta(hours=1))
    event = purchase_event(
        occurred_at=datetime(2026, 3, 1, 10, 0, tzinfo=paris),
        customer=CustomerData(email="  Ann@Example.COM ", country="fr"),
        lines=(PurchaseLine(catalog_item(), 2, "4.5"),),
    )
    assert event.occurred_at == datetime(2026, 3, 1, 9, 0, tzinfo=UTC) and event.occurred_at.tzinfo is UTC
    assert event.customer.email == "ann@example.com" and event.customer.country == "FR"
    assert event.lines[0].unit_price == Decimal("4.50") and event.total == Decimal("9.00")


def test_zero_decimal_currency() -> None:
    item = catalog_item(currency="JPY", price="1200")
    event = purchase_event(currency="JPY", lines=(PurchaseLine(item, 1, "1200"),))
    assert event.total == Decimal("1200")
    with pytest.raises(InvalidEvent, match="more decimal places than JPY"):
        purchase_event(currency="JPY", lines=(PurchaseLine(item, 1, "1200.50"),))


def test_from_dict_reports_nested_paths_and_unknown_fields() -> None:
    data = purchase_event().to_dict()
    data["lines"][1]["item"]["price"] = "abc"
    with pytest.raises(InvalidEvent) as err:
        PurchaseEvent.from_dict(data)
    assert err.value.field == "lines[1].item.price"
    data = purchase_event().to_dict()
    data["customer"]["favourite_colour"] = "blue"
    with pytest.raises(InvalidEvent, match="unknown field"):
        PurchaseEvent.from_dict(data)
    del data["customer"]
    with pytest.raises(InvalidEvent) as err:
        PurchaseEvent.from_dict(data)
    assert (err.value.field, err.value.message) == ("customer", "is required")
    data = purchase_event().to_dict()
    del data["lines"][0]["item"]["title"]
    with pytest.raises(InvalidEvent) as err:
        PurchaseEvent.from_dict(data)
    assert err.value.field == "lines[0].item.title"


def test_other_events_round_trip_through_json() -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    consumption = ConsumptionEvent(STORE_REF, CustomerData(email="a@b.co"), "film-1", Decimal("0.5"), now, 300)
    refund = RefundEvent(STORE_REF, "1001", "r-1", Decimal("5.00"), "EUR", now, reason="Faulty\nstream")
    for event in (consumption, refund):
        assert type(event).from_dict(json.loads(json.dumps(event.to_dict()))) == event
    with pytest.raises(InvalidEvent, match="between 0 and 1"):
        ConsumptionEvent(STORE_REF, CustomerData(email="a@b.co"), "film-1", Decimal("1.2"), now)
    with pytest.raises(InvalidEvent) as err:
        StoreRef("magento", "x")
    assert err.value.field == "store.platform"


_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=40).filter(str.strip)
_money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    title=_text,
    prices=st.lists(_money, min_size=1, max_size=5),
    quantities=st.lists(st.integers(min_value=1, max_value=50), min_size=5, max_size=5),
    genres=st.lists(_text, max_size=3),
)
def test_purchase_round_trips_through_json(title, prices, quantities, genres) -> None:
    lines = tuple(
        PurchaseLine(CatalogItem(f"i{i}", title, "film", p, "EUR", genres=tuple(genres)), quantities[i], p)
        for i, p in enumerate(prices)
    )
    event = purchase_event(lines=lines)
    again = PurchaseEvent.from_dict(json.loads(json.dumps(event.to_dict())))
    assert again == event
    assert again.total == sum((p * q for p, q in zip(prices, quantities, strict=False)), Decimal(0))
