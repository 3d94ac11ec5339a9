"""A store's business rules on a real database with trained models: lists are always filled,
the kind cap only reorders (and only when the store sells more than one kind), exclusions
remove, and the rules come from the settings and, above them, the Store's admin page."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from crosssell_plugin import recommend
from crosssell_plugin.engine.rules import Rules
from crosssell_plugin.events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine
from crosssell_plugin.ingest import record_catalog_item, record_purchase
from crosssell_plugin.models import Customer, Item, ModelVersion, Order, Store
from crosssell_plugin.rules_config import rules_for
from crosssell_plugin.training import train_store

from .conftest import STORE_REF, catalog_item

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
LIMIT = 4


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Fresh model storage, no cached model, the active version checked on every call."""


def goods(kind: str, n: int = 10) -> list[CatalogItem]:
    return [
        catalog_item(f"{kind}-{i}", title=f"{kind.title()} {i}", kind=kind, price=Decimal("15"), genres=(), people={})
        for i in range(n)
    ]


def buy(order_id: str, email: str, items: list[CatalogItem], day: float) -> Order:
    event = PurchaseEvent(
        store=STORE_REF,
        order_id=order_id,
        occurred_at=T0 + timedelta(days=day),
        currency="EUR",
        customer=CustomerData(email=email),
        lines=tuple(PurchaseLine(item, 1, item.price) for item in items),
    )
    return record_purchase(event).order


def one_kind_history(items: list[CatalogItem]) -> None:
    """Twenty customers: each buys two neighbouring items, then the one three further on."""
    n = len(items)
    for c in range(20):
        buy(f"o-{c}", f"c{c}@example.com", [items[c % n], items[(c + 1) % n]], c)
        buy(f"p-{c}", f"c{c}@example.com", [items[(c + 3) % n]], c + 30)


def trained(store: Store) -> ModelVersion:
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    return version


def item(store: Store, external_id: str) -> Item:
    return Item.objects.for_store(store).get(external_id=external_id)


def ids(recs: list[recommend.Recommendation]) -> list[str]:
    return [r.item.external_id for r in recs]


def owned_by(customer: Customer) -> set[str]:
    return set(Item.objects.filter(order_lines__order__customer=customer).values_list("external_id", flat=True))


# --- stores of one kind -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["merch", "product"])
def test_a_store_of_one_kind_gets_full_lists_from_its_model(store: Store, kind: str) -> None:
    items = goods(kind)
    one_kind_history(items)
    trained(store)
    order = Order.objects.for_store(store).get(external_id="o-4")
    customer = order.customer

    for recs in (
        recommend.for_order(order, limit=LIMIT),
        recommend.for_customer(customer, limit=LIMIT),
        recommend.for_item(item(store, f"{kind}-0"), limit=LIMIT),
    ):
        assert len(recs) == LIMIT and len(set(ids(recs))) == LIMIT
        assert {r.item.kind for r in recs} == {kind}
    assert not set(ids(recommend.for_order(order, limit=LIMIT))) & owned_by(customer)
    assert f"{kind}-0" not in ids(recommend.for_item(item(store, f"{kind}-0"), limit=LIMIT))
    # as long as the store has items left: 10 items, the customer owns 3
    assert len(recommend.for_customer(customer, limit=10)) == 7


@pytest.mark.parametrize("kind", ["merch", "product"])
def test_a_store_of_one_kind_gets_full_popular_lists_before_its_first_model(store: Store, kind: str) -> None:
    items = goods(kind)
    one_kind_history(items)
    assert recommend.get_model(store) is None
    order = Order.objects.for_store(store).get(external_id="o-4")
    recs = recommend.for_order(order, limit=LIMIT)
    assert len(recs) == LIMIT and not set(ids(recs)) & owned_by(order.customer)
    assert all(r.model_version is None and r.reasons[0].signal == "popular" for r in recs)
    assert len(recommend.for_item(item(store, f"{kind}-0"), limit=LIMIT)) == LIMIT


def test_items_nobody_bought_yet_fill_the_rest_of_the_list(store: Store) -> None:
    items = goods("merch", 8)
    for snapshot in items:
        record_catalog_item(store, snapshot)
    for c in range(3):
        buy(f"o-{c}", f"c{c}@example.com", items[:2], c)  # only two items ever sold
    recs = recommend.for_item(item(store, "merch-0"), limit=LIMIT)
    assert ids(recs) == ["merch-1", "merch-7", "merch-6", "merch-5"]  # the popular one, then the newest
    assert recs[0].reason_texts == ["Popular right now (3 buyers)"] and all(r.reason_texts == [] for r in recs[1:])
    trained(store)
    recs = recommend.for_item(item(store, "merch-0"), limit=LIMIT)
    assert ids(recs)[0] == "merch-1" and len(set(ids(recs))) == LIMIT and "merch-0" not in ids(recs)


def test_with_the_model_loaded_a_one_kind_store_takes_four_queries(
    store: Store, django_assert_num_queries: Any, settings: Any
) -> None:
    """No query is added to fill the list: the model fills it and one kind is never capped."""
    one_kind_history(goods("merch"))
    trained(store)
    settings.CROSSSELL = {**settings.CROSSSELL, "MODEL_CHECK_SECONDS": 3600}
    order = Order.objects.for_store(store).select_related("store").get(external_id="o-4")
    recommend.for_order(order)  # loads the model
    with django_assert_num_queries(4):  # purchases, progress, pair counts since training, items
        recs = recommend.for_order(order, limit=LIMIT)
    assert len(recs) == LIMIT and {r.model_version for r in recs} == {1}


# --- a film store with merchandise --------------------------------------------------------

FILMS = [catalog_item(f"film-{i}", title=f"Film {i}", people={"director": (f"Director {i}",)}) for i in range(4)]
MERCH = [catalog_item(f"tee-{i}", title=f"T-shirt {i}", kind="merch", price=Decimal("25.00")) for i in range(2)]


@pytest.fixture
def film_store(store: Store) -> Store:
    """Film 0 is mostly bought with both T-shirts, sometimes with film 1; films 2 and 3 sell alone."""
    n = 0
    for c in range(8):
        buy(f"o-{(n := n + 1)}", f"fan{c}@example.com", [FILMS[0], *MERCH], c)
    for c in range(3):
        buy(f"o-{(n := n + 1)}", f"cinephile{c}@example.com", [FILMS[0], FILMS[1]], c)
    for c in range(2):
        buy(f"o-{(n := n + 1)}", f"other{c}@example.com", [FILMS[2]], c)
        buy(f"o-{(n := n + 1)}", f"other{c}@example.com", [FILMS[3]], c + 5)
    return store


def kinds(recs: list[recommend.Recommendation]) -> list[str]:
    return [r.item.kind for r in recs]


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "cold-start"])
def test_a_second_merch_item_comes_after_the_films_and_stays_when_nothing_else_is_left(
    film_store: Store, with_model: bool
) -> None:
    if with_model:
        trained(film_store)
    film = item(film_store, "film-0")
    four = recommend.for_item(film, limit=4)
    assert kinds(four).count("merch") == 1 and len(four) == 4
    assert set(ids(four)) - {"tee-0", "tee-1"} == {"film-1", "film-2", "film-3"}
    five = recommend.for_item(film, limit=5)
    assert len(five) == 5 and kinds(five)[-1] == "merch" and kinds(five).count("merch") == 2  # last, not gone
    for other in FILMS[1:]:
        record_catalog_item(film_store, replace(other, available=False))
    assert sorted(ids(recommend.for_item(film, limit=4))) == ["tee-0", "tee-1"]


def test_excluded_kinds_and_items_are_never_recommended(film_store: Store, settings: Any) -> None:
    trained(film_store)
    film = item(film_store, "film-0")
    settings.CROSSSELL = {**settings.CROSSSELL, "RULES": {"EXCLUDED_KINDS": ["merch"]}}
    assert sorted(ids(recommend.for_item(film, limit=4))) == ["film-1", "film-2", "film-3"]  # shorter: nothing else
    order = Order.objects.for_store(film_store).get(external_id="o-1")
    assert "merch" not in kinds(recommend.for_order(order, limit=4))

    settings.CROSSSELL = {**settings.CROSSSELL, "RULES": {}}
    film_store.rules = {"EXCLUDED_ITEMS": [item(film_store, "tee-0").pk, item(film_store, "film-2").pk]}
    film_store.save()
    film = item(film_store, "film-0")  # with the store as saved
    for cold in (False, True):
        if cold:  # a process that finds no active model
            ModelVersion.objects.for_store(film_store).update(status=ModelVersion.Status.RETIRED)
            recommend.clear_cache()
        recs = recommend.for_item(film, limit=4)
        assert sorted(ids(recs)) == ["film-1", "film-3", "tee-1"], cold


# --- where the rules come from ------------------------------------------------------------


def test_rules_come_from_the_defaults_the_settings_and_the_store_and_cost_no_query(
    store: Store, settings: Any, django_assert_num_queries: Any
) -> None:
    settings.CROSSSELL = {}
    assert rules_for(store) == Rules()
    settings.CROSSSELL = {"MARGIN_WEIGHT": 0.3, "RULES": {"MAX_PER_KIND": {"merch": 2}, "PRICE_BAND": None}}
    site = rules_for(store)
    assert (site.margin_weight, dict(site.max_per_kind), site.price_band, site.price_penalty) == (
        0.3,
        {"merch": 2},
        None,
        0.5,
    )
    store.rules = {"MAX_PER_KIND": {}, "MARGIN_WEIGHT": 0.0, "EXCLUDED_KINDS": ["bundle"]}
    store.save()
    with django_assert_num_queries(0):
        own = rules_for(store)
    assert (dict(own.max_per_kind), own.margin_weight, own.excluded_kinds, own.price_band) == (
        {},
        0.0,
        {"bundle"},
        None,  # not overridden by the store: the site's
    )


def test_bad_store_rules_are_refused_and_rules_written_around_the_check_are_ignored(
    film_store: Store, caplog: Any
) -> None:
    film_store.rules = {"MAX_PER_KIND": {"tshirt": 1}}
    with pytest.raises(ValidationError) as refused:
        film_store.full_clean()
    assert refused.value.message_dict["rules"][0].startswith(
        """The rules["MAX_PER_KIND"] has unknown kinds ['tshirt'] (kinds: film, series,"""
    )
    with pytest.raises(ValidationError) as refused:
        film_store.save()
    assert "unknown kinds ['tshirt']" in refused.value.messages[0]
    Store.objects.filter(pk=film_store.pk).update(rules={"PRICE_BAND": "cheap"})  # bypasses save()
    film_store.refresh_from_db()
    with caplog.at_level(logging.ERROR, logger="crosssell_plugin.rules_config"):
        recs = recommend.for_item(item(film_store, "film-0"), limit=4)
    assert len(recs) == 4 and kinds(recs).count("merch") == 1  # the site's rules
    assert f'Store {film_store.pk}: its own rules are ignored: rules["PRICE_BAND"] must be None' in caplog.text


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("merch", 'CROSSSELL["RULES"] must be a dict of rules'),
        ({"MAX_PER_KIND": {"merchandise": 1}}, """["MAX_PER_KIND"] has unknown kinds ['merchandise']"""),
        ({"MAX_PER_KIND": {"merch": -1}}, 'CROSSSELL["RULES"]["MAX_PER_KIND"]["merch"] must be a whole number'),
        ({"EXCLUDED_KIND": ["merch"]}, "unknown key 'EXCLUDED_KIND'; did you mean \"EXCLUDED_KINDS\"?"),
        ({"EXCLUDED_KINDS": "merch"}, 'CROSSSELL["RULES"]["EXCLUDED_KINDS"] must be a list of kinds'),
        ({"PRICE_BAND": [3, 1]}, 'CROSSSELL["RULES"]["PRICE_BAND"] must be None or [low, high]'),
        ({"PRICE_PENALTY": 2}, 'CROSSSELL["RULES"]["PRICE_PENALTY"] must be a number from 0 to 1'),
        ({"SEQUENCE_FIRST": "yes"}, 'CROSSSELL["RULES"]["SEQUENCE_FIRST"] must be True or False'),
        ({"MARGIN_WEIGHT": 0.3}, 'write CROSSSELL["MARGIN_WEIGHT"]'),
        ({"EXCLUDED_ITEMS": [1]}, "has the key 'EXCLUDED_ITEMS', which only a store's own rules may have"),
    ],
)
def test_bad_rules_settings_fail_manage_py_check_with_a_named_error(settings: Any, rules: Any, message: str) -> None:
    settings.CROSSSELL = {"RULES": rules}
    with pytest.raises(SystemCheckError) as failed:
        call_command("check")
    assert "crosssell.E003" in str(failed.value) and message in str(failed.value)
    assert '"RULES": {"MAX_PER_KIND": {"merch": 1}' in str(failed.value)  # the hint


def test_the_default_rules_pass_the_check(settings: Any) -> None:
    settings.CROSSSELL = {"RULES": {"MAX_PER_KIND": {"merch": 1, "product": 0}, "PRICE_BAND": None}}
    call_command("check")


# --- the Store admin page -----------------------------------------------------------------


def store_form(store: Store, **rules: Any) -> dict[str, Any]:
    values = {
        "platform": store.platform,
        "external_id": store.external_id,
        "name": store.name,
        "currency": store.currency,
        "timezone": store.timezone,
        "is_active": "on",
        "margin_weight": "0",
        "price_band_low": "0",
        "price_band_high": "3",
        "price_penalty": "0.5",
        "sequence_first": "on",
        "cap_merch": "1",
    }
    values.update(rules)
    return {k: v for k, v in values.items() if v is not None}


def test_the_store_admin_page_shows_and_saves_the_rules(admin_client: Any, film_store: Store, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "RULES": {"EXCLUDED_KINDS": ["merch"]}}
    trained(film_store)
    url = reverse("admin:crosssell_store_change", args=[film_store.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "Recommendation rules" in html
    form = page.context["adminform"].form
    assert form["cap_merch"].value() == 1 and form["excluded_kinds"].value() == ["merch"]  # the site's
    assert form["own_rules"].value() is False and form["price_band_high"].value() == 3.0
    for name in ("cap_merch", "cap_product", "margin_weight", "price_band_low", "price_penalty", "excluded_items"):
        assert f'name="{name}"' in html, name
    assert 'type="checkbox" name="excluded_kinds" value="merch"' in html and 'value="product"' in html
    film = item(film_store, "film-0")
    assert "merch" not in kinds(recommend.for_item(film, limit=5))

    # this store's own rules win over the settings: merchandise shown, two T-shirts before the films
    response = admin_client.post(
        url, store_form(film_store, own_rules="on", cap_merch="2", excluded_items="film-3", margin_weight="0.2")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    film_store.refresh_from_db()
    assert film_store.rules == {
        "MAX_PER_KIND": {"merch": 2},
        "EXCLUDED_KINDS": [],
        "PRICE_BAND": [0.0, 3.0],
        "PRICE_PENALTY": 0.5,
        "SEQUENCE_FIRST": True,
        "MARGIN_WEIGHT": 0.2,
        "EXCLUDED_ITEMS": [item(film_store, "film-3").pk],
    }
    film = item(film_store, "film-0")
    recs = recommend.for_item(film, limit=4)
    assert kinds(recs)[:2] == ["merch", "merch"] and "film-3" not in ids(recs) and len(recs) == 4
    again = admin_client.get(url).context["adminform"].form
    assert again["own_rules"].value() is True and again["excluded_items"].value() == "film-3"

    # unticked: back to the site's rules
    assert admin_client.post(url, store_form(film_store, cap_merch="5")).status_code == 302
    film_store.refresh_from_db()
    assert film_store.rules == {}


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"price_band_high": ""}, "price_band_high", "Give both ends of the price band"),
        ({"price_band_low": "4"}, "price_band_high", "above its start"),
        ({"excluded_items": "film-1, nope"}, "excluded_items", "no item with the id nope"),
        ({"cap_merch": "-1"}, "cap_merch", "greater than or equal to 0"),
        ({"price_penalty": ""}, "price_penalty", "Required when the store has its own rules"),
    ],
)
def test_the_store_admin_page_refuses_bad_rules(
    admin_client: Any, film_store: Store, fields: dict[str, str], field: str, error: str
) -> None:
    url = reverse("admin:crosssell_store_change", args=[film_store.pk])
    response = admin_client.post(url, store_form(film_store, own_rules="on", **fields))
    assert response.status_code == 200
    assert any(error in e for e in response.context["adminform"].form.errors[field]), response.context[
        "adminform"
    ].form.errors
    film_store.refresh_from_db()
    assert film_store.rules == {}
