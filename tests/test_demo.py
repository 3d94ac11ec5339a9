"""The demo store's data: the catalogue fixture, the seeded history generator, seed_demo."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO
from itertools import combinations

import pytest
from django.core.management import call_command
from oscar.core.loading import get_model

from crosssell_plugin.models import Customer, CustomerConsent, Item, Order
from demo.history import generate_history, load_catalog

END = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> dict:
    return load_catalog()


@pytest.fixture(scope="module")
def history(catalog):
    return generate_history(catalog, end=END)


def test_catalogue_fixture(catalog) -> None:
    upcs = [f["upc"] for f in catalog["films"]] + [m["upc"] for m in catalog["merch"]]
    upcs += [c["upc"] for c in catalog["courses"]] + [m["upc"] for c in catalog["courses"] for m in c["modules"]]
    assert len(upcs) >= 150 and len(set(upcs)) == len(upcs)
    films = {f["upc"] for f in catalog["films"]}
    assert all(m["film"] in films for m in catalog["merch"])
    assert all(f["director"] and f["cast"] and f["genres"] and f["runtime"] > 0 for f in catalog["films"])


def test_history_is_large_recent_and_deterministic(history, catalog) -> None:
    assert len(history) >= 2000
    assert all(o.placed_at <= END for o in history)
    assert [o.placed_at for o in history] == sorted(o.placed_at for o in history)
    again = generate_history(catalog, end=END)
    assert [(o.order_id, o.customer.email, o.upcs) for o in again] == [
        (o.order_id, o.customer.email, o.upcs) for o in history
    ]
    assert len({o.order_id for o in history}) == len(history)
    other_seed = generate_history(catalog, end=END, seed=8)
    assert [o.upcs for o in other_seed] != [o.upcs for o in history]


def _by_customer(history) -> dict[str, list[str]]:
    bought: dict[str, list[str]] = defaultdict(list)
    for order in history:
        bought[order.customer.email].extend(order.upcs)
    return bought


def test_director_fans_buy_the_same_directors_films(history, catalog) -> None:
    director = {f["upc"]: f["director"] for f in catalog["films"]}
    pairs = same = 0
    for order_upcs in _by_customer([o for o in history if o.customer.persona == "director"]).values():
        films = sorted({u for u in order_upcs if u in director})
        for a, b in combinations(films, 2):
            pairs += 1
            same += director[a] == director[b]
    # Random pairs share a director about 1 time in 25; fans do so most of the time.
    assert pairs > 500 and same / pairs > 0.5


def test_merch_follows_the_film_it_belongs_to(history, catalog) -> None:
    film_of = {m["upc"]: m["film"] for m in catalog["merch"]}
    seen: dict[str, set[str]] = defaultdict(set)
    merch_orders = 0
    for order in history:
        for upc in order.upcs:
            if upc in film_of:
                merch_orders += 1
                assert film_of[upc] in seen[order.customer.email], (order.order_id, upc)
        seen[order.customer.email].update(order.upcs)
    assert merch_orders > 100


def test_learners_take_modules_in_order(history, catalog) -> None:
    position = {m["upc"]: (c["upc"], i) for c in catalog["courses"] for i, m in enumerate(c["modules"], start=1)}
    progress: dict[tuple[str, str], int] = {}
    moves = 0
    for order in history:
        for upc in order.upcs:
            if upc in position:
                course, n = position[upc]
                key = (order.customer.email, course)
                assert n == progress.get(key, 0) + 1 or (n == 1 and key not in progress), (order.order_id, upc)
                moves += n > 1
                progress[key] = n
    assert moves > 100


@pytest.mark.django_db
def test_seed_demo_builds_the_store_once(client) -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    Product = get_model("catalogue", "Product")
    assert Product.objects.count() == 173
    assert Item.objects.count() == 173 and Item.objects.filter(kind="module", parent__kind="course").count() == 40
    inception = Item.objects.get(title="Inception")
    assert inception.people["director"] == ["Christopher Nolan"] and "Science Fiction" in inception.genres
    assert inception.unit_margin is not None and inception.url.startswith("http://127.0.0.1:8000/catalogue/")
    orders = Order.objects.filter(external_id__startswith="H")
    assert orders.count() >= 2000 and Customer.objects.count() > 500
    assert (
        CustomerConsent.objects.filter(granted=True).exists() and CustomerConsent.objects.filter(granted=False).exists()
    )
    # Oscar browses through Haystack (Whoosh in the demo): the catalogue page lists every product.
    call_command("rebuild_index", interactive=False, verbosity=0)
    page = client.get("/catalogue/").content.decode()
    assert "<strong>173</strong> results" in page and "product_pod" in page
    before = Order.objects.count()
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "already present" in out.getvalue() and Order.objects.count() == before
