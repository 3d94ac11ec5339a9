"""``crosssell_oscar_sync`` and the product receivers turn Oscar's catalogue into crosssell Items."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from oscar.core.loading import get_model

import integrations.oscar.adapter
import integrations.oscar.receivers
import integrations.oscar.tasks
from crosssell_plugin.models import Item, Store
from integrations.oscar.management.commands import crosssell_oscar_sync

Product = get_model("catalogue", "Product")
StockRecord = get_model("partner", "StockRecord")

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = StringIO()
    call_command("crosssell_oscar_sync", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def item_of(product: Any) -> Item:
    return Item.objects.get(store__platform="oscar", store__external_id="default", external_id=str(product.pk))


def test_sync_maps_product_classes_attributes_categories_and_prices(catalogue: Any) -> None:
    # The module is created before its course, so its parent only exists once the whole catalog is synced.
    module = catalogue.product(
        "module",
        "Lesson 2: Framing",
        upc="MOD-2",
        price="4.00",
        part_of="COURSE-1",
        position=2,
        level="beginner",
        unit_cost="0.40",
        category="Courses > Cinema 101",
    )
    course = catalogue.product(
        "course",
        "Cinema 101",
        upc="COURSE-1",
        price="49.00",
        instructor="Agnès Varda",
        level="beginner",
        language="en",
        tags="editing, sound",
        unit_cost="12.00",
        category="Courses",
    )
    film = catalogue.product(
        "film",
        "Cléo from 5 to 7",
        upc="FILM-CLEO",
        price="7.99",
        description="<p>Paris, <b>1961</b></p>",
        genre="Drama, Comedy",
        director="Agnès Varda",
        cast="Corinne Marchand, Antoine Bourseiller",
        runtime=90,
        language="fr",
        year=1962,
        unit_cost="2.50",
        category="Films > Drama",
    )
    shirt = catalogue.product(
        "merch",
        "Cléo T-shirt",
        upc="MERCH-CLEO",
        price="25.00",
        stock=5,
        tags="cotton",
        film="FILM-CLEO",
        unit_cost="9.00",
        category="Merchandise",
    )
    sold_out = catalogue.product("merch", "Vagabond poster", upc="MERCH-POSTER", price="15.00", stock=0)
    unpriced = catalogue.product("film", "Not for sale yet", upc="FILM-DRAFT", price=None)

    output = sync()

    assert "5 created, 0 updated, 0 deactivated" in output
    store = Store.objects.get(platform="oscar", external_id="default")
    assert (store.name, store.currency) == ("Reel & Learn", "EUR")
    assert not Item.objects.filter(external_id=str(unpriced.pk)).exists()

    film_item = item_of(film)
    assert film_item.kind == "film"
    assert film_item.title == "Cléo from 5 to 7"
    assert film_item.description == "Paris, 1961"
    assert film_item.genres == ["Drama", "Comedy"]
    assert film_item.people == {"director": ["Agnès Varda"], "cast": ["Corinne Marchand", "Antoine Bourseiller"]}
    assert film_item.runtime_minutes == 90
    assert film_item.language == "fr"
    assert film_item.tags == ["Drama"]  # the category's name
    assert (film_item.price, film_item.currency) == (Decimal("7.99"), "EUR")
    assert film_item.unit_cost == Decimal("2.50")
    assert film_item.unit_margin == Decimal("5.49")
    assert film_item.available is True
    assert film_item.attributes == {"year": 1962}
    assert film_item.url == f"http://127.0.0.1:8000{film.get_absolute_url()}"
    assert film_item.raw == {"upc": "FILM-CLEO", "product_class": "film", "structure": "standalone"}
    assert film_item.parent is None

    course_item = item_of(course)
    assert course_item.kind == "course"
    assert course_item.people == {"instructor": ["Agnès Varda"]}
    assert (course_item.level, course_item.language) == ("beginner", "en")
    assert course_item.tags == ["editing", "sound", "Courses"]
    assert course_item.unit_cost == Decimal("12.00")

    module_item = item_of(module)
    assert module_item.kind == "module"
    assert module_item.parent == course_item
    assert module_item.position == 2
    assert module_item.tags == ["Cinema 101"]
    assert list(course_item.children.all()) == [module_item]

    shirt_item = item_of(shirt)
    assert shirt_item.kind == "merch"
    assert (shirt_item.price, shirt_item.unit_cost) == (Decimal("25.00"), Decimal("9.00"))
    assert shirt_item.tags == ["cotton", "Merchandise"]
    assert shirt_item.attributes == {"film": "FILM-CLEO"}
    assert shirt_item.available is True
    assert item_of(sold_out).available is False  # tracked stock, none left

    # Idempotent: a second run creates nothing.
    assert "0 created, 5 updated, 0 deactivated" in sync("--catalog")
    assert Item.objects.count() == 5


def test_price_and_currency_come_from_the_stock_record_through_oscars_strategy(catalogue: Any) -> None:
    film = catalogue.product("film", "Le Bonheur", upc="FILM-BONHEUR", price="6.50")
    other = catalogue.product("film", "Kung-fu Master", upc="FILM-KUNGFU", price=None)
    StockRecord.objects.create(
        product=other, partner=catalogue.partner, partner_sku="KF", price_currency="GBP", price=Decimal("5.25")
    )

    sync()

    assert (item_of(film).price, item_of(film).currency) == (Decimal("6.50"), "EUR")
    assert (item_of(other).price, item_of(other).currency) == (Decimal("5.25"), "GBP")


def test_kind_by_product_class_and_unknown_classes(catalogue: Any, settings: Any) -> None:
    ProductClass = get_model("catalogue", "ProductClass")
    catalogue.classes["dvd"] = ProductClass.objects.create(slug="dvd", name="DVD", track_stock=False)
    catalogue.classes["episodes"] = ProductClass.objects.create(slug="episodes", name="Episodes", track_stock=False)
    catalogue.classes["poster"] = ProductClass.objects.create(slug="poster", name="Poster", track_stock=False)
    catalogue.classes["t-shirt"] = ProductClass.objects.create(slug="t-shirt", name="T-shirt", track_stock=False)
    dvd = catalogue.product("dvd", "Jacquot de Nantes (DVD)", upc="DVD-1")
    episode = catalogue.product("episodes", "Episode 1", upc="EP-1")
    poster = catalogue.product("poster", "Poster", upc="POSTER-1")
    shirt = catalogue.product("t-shirt", "Cléo T-shirt", upc="TEE-1")
    settings.CROSSSELL = {"PLATFORMS": {**settings.CROSSSELL["PLATFORMS"]}}
    settings.CROSSSELL["PLATFORMS"]["oscar"] = {
        **settings.CROSSSELL["PLATFORMS"]["oscar"],
        "KIND_BY_PRODUCT_CLASS": {"dvd": "film", "t-shirt": "merch"},
    }

    sync()

    assert item_of(dvd).kind == "film"
    assert item_of(shirt).kind == "merch"
    assert item_of(episode).kind == "episode"  # plural slug of a known kind
    assert item_of(poster).kind == "product"  # anything else: a product, not merchandise


def test_a_child_product_inherits_its_parents_attributes(catalogue: Any) -> None:
    """Oscar's own ``product.attr`` falls back to the parent's values; the synced item must too."""
    parent = Product.objects.create(
        product_class=catalogue.classes["merch"], title="Cléo T-shirt", upc="TEE", structure=Product.PARENT
    )
    parent.attr.tags = "cotton, organic"
    parent.attr.unit_cost = "6.00"
    parent.attr.film = "FILM-CLEO"
    parent.save()
    child = Product.objects.create(parent=parent, title="Cléo T-shirt (M)", upc="TEE-M", structure=Product.CHILD)
    child.attr.unit_cost = "6.50"  # the child's own value wins
    child.save()
    StockRecord.objects.create(
        product=child,
        partner=catalogue.partner,
        partner_sku="TEE-M",
        price_currency="EUR",
        price=Decimal("25.00"),
        num_in_stock=3,
    )
    child.refresh_from_db()
    assert child.attr.tags == "cotton, organic"  # what Oscar itself shows for the variant

    sync()

    assert not Item.objects.filter(external_id=str(parent.pk)).exists()
    item = item_of(child)
    assert item.kind == "merch"
    assert item.tags == ["cotton", "organic"]
    assert item.unit_cost == Decimal("6.50")
    assert item.attributes == {"film": "FILM-CLEO"}
    assert item.raw["product_class"] == "merch"


def test_deactivate_missing_marks_items_of_deleted_products_unavailable(catalogue: Any) -> None:
    kept = catalogue.product("film", "Cléo from 5 to 7", upc="FILM-CLEO")
    gone = catalogue.product("film", "Lions Love", upc="FILM-LIONS")
    sync()
    gone_pk = gone.pk
    gone.delete()

    assert "0 deactivated" in sync()
    assert Item.objects.get(external_id=str(gone_pk)).available is True  # only with the flag

    assert "1 deactivated" in sync("--deactivate-missing")
    assert Item.objects.get(external_id=str(gone_pk)).available is False
    assert item_of(kept).available is True


def test_saving_a_product_or_its_stock_record_updates_its_item(
    catalogue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        film = catalogue.product("film", "Documenteur", upc="FILM-DOC", price="6.00")
    assert callbacks  # the receivers deferred their work to on_commit
    assert item_of(film).title == "Documenteur"

    film.title = "Documenteur (restored)"
    with django_capture_on_commit_callbacks(execute=True):
        film.save()
    assert item_of(film).title == "Documenteur (restored)"

    record = film.stockrecords.get()
    record.price = Decimal("4.50")
    with django_capture_on_commit_callbacks(execute=True):
        record.save()
    assert item_of(film).price == Decimal("4.50")
    assert Item.objects.filter(external_id=str(film.pk)).count() == 1


def test_no_item_is_written_before_the_transaction_commits(catalogue: Any) -> None:
    catalogue.product("film", "Mur murs", upc="FILM-MURS")
    assert not Item.objects.exists()


def test_sync_on_save_can_be_turned_off(catalogue: Any, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"oscar": {"SYNC_CATALOG_ON_SAVE": False}}}
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.product("film", "Mur murs", upc="FILM-MURS")
    assert not Item.objects.exists()


def test_markup_in_titles_is_stored_verbatim(catalogue: Any) -> None:
    title = "<script>alert(1)</script> Amélie"
    product = catalogue.product("film", title, upc="FILM-XSS")

    sync()

    assert item_of(product).title == title


@pytest.mark.parametrize(
    "module", [integrations.oscar.adapter, integrations.oscar.receivers, integrations.oscar.tasks, crosssell_oscar_sync]
)
def test_oscar_models_are_loaded_through_get_model_so_forked_apps_work(module: Any) -> None:
    tree = ast.parse(inspect.getsource(module))
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not isinstance(node, ast.ImportFrom) or node.module
    ]
    assert not [name for name in imported if name.startswith("oscar.apps.")], imported
    if module is integrations.oscar.adapter:
        assert "get_model" in imported_names(tree, "oscar.core.loading")
        assert "get_class" in imported_names(tree, "oscar.core.loading")


def imported_names(tree: ast.AST, module: str) -> set[str]:
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }
