"""``crosssell_oscar_sync`` is ``crosssell_sync --store oscar:<id>`` under another name: the same
options, the same rows and the same report from the same Oscar data, plus a notice naming
``crosssell_sync``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models, transaction
from oscar.apps.partner.strategy import Default
from oscar.core.loading import get_model
from oscar.test.factories import create_order

from crosssell_plugin import recommend
from crosssell_plugin.models import Item, Order, Store
from crosssell_plugin.platforms import get_platform
from integrations.oscar.management.commands import crosssell_oscar_sync

from .conftest import Catalogue

Basket = get_model("basket", "Basket")
OscarOrder = get_model("order", "Order")

pytestmark = pytest.mark.django_db

NOTICE = "crosssell_oscar_sync runs crosssell_sync --store oscar:{id}: use that command.\n"
EARLY = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def without_timings(report: str) -> str:
    return re.sub(r" in \d+\.\d+s", " in <t>", report)


def natural(value: Any) -> Any:
    """A row another run would also write, named by its natural key instead of its pk."""
    if isinstance(value, Store):
        return (value.platform, value.external_id)
    if isinstance(value, Item | Order):
        return value.external_id
    if isinstance(value, models.Model):  # a customer by email, a path by name...
        return (type(value).__name__, str(value))
    return value


def rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every crosssell row, without pks, FKs by natural key, and no value taken from the clock."""
    snapshot = {}
    for model in apps.get_app_config("crosssell").get_models():
        fields = [
            field
            for field in model._meta.concrete_fields
            if not field.primary_key
            and not getattr(field, "auto_now", False)
            and not getattr(field, "auto_now_add", False)
            and not (isinstance(field, models.DateTimeField) and field.has_default())
        ]
        values = [tuple(natural(getattr(row, field.name)) for field in fields) for row in model.objects.all()]
        snapshot[model.__name__] = sorted(values, key=repr)
    return snapshot


class Rollback(Exception):
    pass


def in_rollback(command: str, *args: str) -> tuple[dict[str, list[tuple[Any, ...]]], str, str]:
    """The rows and the report of ``command``, whose writes are then undone."""
    try:
        with transaction.atomic():
            out, err = run(command, *args)
            written = rows()
            raise Rollback
    except Rollback:
        pass
    recommend.clear_cache()  # the Stores a process remembers were rolled back too
    return written, out, err


@pytest.fixture
def shop(catalogue: Catalogue) -> Store:
    """Oscar products and orders, one order placed early, one product gone (an item left over)."""
    films = [catalogue.product("film", f"Film {n}", upc=f"film-{n}", genre="Drama") for n in range(3)]
    catalogue.product("merch", "Poster", upc="poster", price="15.00")
    catalogue.product("film", "Unpriced", upc="no-price", price=None)
    for n, film in enumerate(films):
        basket = Basket.objects.create()
        basket.strategy = Default()
        basket.add_product(film, quantity=n + 1)
        create_order(basket=basket, guest_email=f"buyer{n}@example.com")
    OscarOrder.objects.filter(guest_email="buyer0@example.com").update(date_placed=EARLY)
    store = get_platform("oscar").get_store("default")
    Item.objects.create(
        store=store, external_id="gone", title="A deleted product", kind="film", price=Decimal("5"), currency="EUR"
    )
    return store


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--catalog",),
        ("--orders",),
        ("--catalog", "--orders", "--deactivate-missing"),
        ("--orders", "--since", (EARLY + timedelta(days=1)).date().isoformat()),
    ],
    ids=lambda args: " ".join(args) or "no options",
)
def test_the_alias_writes_the_rows_and_report_of_crosssell_sync(shop: Store, args: tuple[str, ...]) -> None:
    before = rows()
    by_alias, alias_out, alias_err = in_rollback("crosssell_oscar_sync", *args)
    assert rows() == before
    by_sync, sync_out, sync_err = in_rollback("crosssell_sync", "--store", "oscar:default", *args)

    assert by_alias == by_sync
    assert by_alias != before  # something was synced
    assert without_timings(alias_out) == without_timings(sync_out)
    assert alias_err == NOTICE.format(id="default") + sync_err


def test_what_each_option_syncs(shop: Store) -> None:
    """The options reach the sync: catalogue by default, --orders, --since, --deactivate-missing."""
    run("crosssell_oscar_sync")
    assert Item.objects.for_store(shop).count() == 5 and not Order.objects.exists()
    assert Item.objects.get(external_id="gone").available

    run("crosssell_oscar_sync", "--orders", "--since", (EARLY + timedelta(days=1)).date().isoformat())
    assert Order.objects.for_store(shop).count() == 2  # not the early one
    assert not Order.objects.filter(customer__email="buyer0@example.com").exists()

    out, _ = run("crosssell_oscar_sync", "--catalog", "--orders", "--deactivate-missing")
    assert not Item.objects.get(external_id="gone").available
    assert "0 created, 4 updated, 1 deactivated" in out
    assert "1 recorded, 0 updated, 2 unchanged, 0 failed" in out


def test_the_alias_then_crosssell_sync_finds_nothing_new(shop: Store) -> None:
    run("crosssell_oscar_sync", "--catalog", "--orders")
    synced = rows()
    out, _ = run("crosssell_sync", "--store", "oscar:default", "--catalog", "--orders")
    assert rows() == synced
    assert "0 created, 4 updated, 0 deactivated" in out and "0 recorded, 0 updated, 3 unchanged" in out


def test_the_alias_syncs_the_store_of_the_configured_external_id(catalogue: Catalogue, settings: Any) -> None:
    platforms = settings.CROSSSELL["PLATFORMS"]
    settings.CROSSSELL = {
        **settings.CROSSSELL,
        "PLATFORMS": {**platforms, "oscar": {**platforms["oscar"], "STORE_EXTERNAL_ID": "reel-shop"}},
    }
    catalogue.product("film", "Le Bonheur", upc="film-bonheur")

    out, err = run("crosssell_oscar_sync")

    assert err == NOTICE.format(id="reel-shop")
    store = Store.objects.get()
    assert (store.platform, store.external_id) == ("oscar", "reel-shop")
    assert Item.objects.for_store(store).count() == 1 and "1 created" in out


def test_the_alias_has_the_options_of_crosssell_sync_but_the_store() -> None:
    from crosssell_plugin.management.commands import crosssell_sync

    def options(command: Any) -> set[str]:
        parser = command.create_parser("manage.py", "sync")
        return {option for action in parser._actions for option in action.option_strings}

    assert options(crosssell_oscar_sync.Command()) == options(crosssell_sync.Command()) - {"--store"}
    assert isinstance(crosssell_oscar_sync.Command(), crosssell_sync.Command)  # one code path


def test_a_bad_since_is_refused_as_by_crosssell_sync(shop: Store) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--since 'yesterday' is not an ISO 8601 date-time"):
        run("crosssell_oscar_sync", "--orders", "--since", "yesterday")
    assert not Order.objects.exists()
