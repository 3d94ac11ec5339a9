"""The demo store's data: the catalogue fixture, the seeded history generator, seed_demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from io import StringIO
from itertools import combinations
from pathlib import Path

import pytest
from django.contrib.sites.models import Site
from django.core.management import call_command
from oscar.core.loading import get_model

from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME
from crosssell_plugin.models import Customer, CustomerConsent, Item, Order, ScheduledMessage
from crosssell_plugin.models import Path as FollowupPath
from demo.history import generate_history, load_catalog
from shop.addr import allowed_hosts, demo_url

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"

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
def test_seed_demo_builds_the_store_once(client, settings) -> None:
    Site.objects.filter(pk=settings.SITE_ID).update(domain="example.com")  # Django's default
    out = StringIO()
    call_command("seed_demo", stdout=out)
    # the demo's address everywhere, and its follow-up path on, planning nothing for the history
    assert Site.objects.get_current().domain == "127.0.0.1:8000"
    assert FollowupPath.objects.get(name=DEFAULT_PATH_NAME).enabled
    assert not ScheduledMessage.objects.exists()
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

    # Served at another address: the next run moves the Site and the items' links there.
    settings.DEMO_URL = "http://127.0.0.1:8123"
    settings.CROSSSELL = {**settings.CROSSSELL, "PLATFORMS": {"oscar": {"BASE_URL": settings.DEMO_URL}}}
    FollowupPath.objects.filter(name=DEFAULT_PATH_NAME).update(enabled=False)
    call_command("seed_demo", "--if-empty", stdout=StringIO())
    assert Site.objects.get_current().domain == "127.0.0.1:8123"
    assert Item.objects.get(title="Inception").url.startswith("http://127.0.0.1:8123/catalogue/")
    assert not Item.objects.filter(url__startswith="http://127.0.0.1:8000").exists()
    assert FollowupPath.objects.get(name=DEFAULT_PATH_NAME).enabled


@pytest.mark.parametrize(
    ("addr", "url", "hosts"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000", ["127.0.0.1", "localhost", "testserver"]),
        ("8080", "http://127.0.0.1:8080", ["127.0.0.1", "localhost", "testserver"]),
        ("192.0.2.10:8080", "http://192.0.2.10:8080", ["127.0.0.1", "localhost", "testserver", "192.0.2.10"]),
        ("localhost:9000", "http://localhost:9000", ["127.0.0.1", "localhost", "testserver"]),
        ("0.0.0.0:8080", "http://127.0.0.1:8080", ["*"]),
        ("[::1]:8000", "http://[::1]:8000", ["127.0.0.1", "localhost", "testserver", "::1"]),
    ],
)
def test_the_demo_links_follow_the_address_it_listens_on(addr, url, hosts) -> None:
    assert demo_url(addr) == url
    assert allowed_hosts(addr, url) == hosts


def test_a_wrong_demo_address_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError, match="CROSSSELL_DEMO_ADDR"):
        demo_url("127.0.0.1:")
    with pytest.raises(ValueError, match="CROSSSELL_DEMO_URL"):
        demo_url("8000", "shop.example.com")
    assert demo_url("0.0.0.0:8000", "https://demo.example.com/") == "https://demo.example.com"


def _demo_settings(env: dict[str, str], argv: tuple[str, ...] = ("manage.py", "runserver")) -> dict:
    """The demo's settings as a process started with ``env`` and ``argv`` reads them."""
    code = (
        f"import json, sys; sys.argv = {list(argv)!r}; import shop.settings as s; "
        "print(json.dumps({'CROSSSELL': s.CROSSSELL, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, "
        "'level': s.LOGGING['loggers']['crosssell_plugin']['level']}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CROSSSELL_DEMO", "DJANGO_SETTINGS"))}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=EXAMPLE, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_crosssell_demo_addr_moves_every_link_of_the_demo() -> None:
    found = _demo_settings({"CROSSSELL_DEMO_ADDR": "127.0.0.1:8123"})
    assert found["CROSSSELL"]["SITE_URL"] == "http://127.0.0.1:8123"
    assert found["CROSSSELL"]["PLATFORMS"]["oscar"]["BASE_URL"] == "http://127.0.0.1:8123"
    assert "FAST_CADENCE" not in found["CROSSSELL"]  # the real cadence unless the demo script asks
    fast = _demo_settings({"CROSSSELL_DEMO_FAST_CADENCE": "1"})["CROSSSELL"]
    assert (fast["SITE_URL"], fast["FAST_CADENCE"], fast["QUIET_HOURS"]) == ("http://127.0.0.1:8000", True, None)


def test_one_off_commands_print_their_report_once() -> None:
    """crosssell_train and crosssell_oscar_sync write their report on the terminal; the same lines
    logged at INFO to the demo's console printed every line twice."""
    assert _demo_settings({}, ("manage.py", "crosssell_train"))["level"] == "WARNING"
    assert _demo_settings({}, ("manage.py", "crosssell_oscar_sync", "--catalog"))["level"] == "WARNING"
    assert _demo_settings({}, ("manage.py", "runserver"))["level"] == "INFO"
    assert _demo_settings({}, ("manage.py", "crosssell_dispatch", "--loop"))["level"] == "INFO"
    assert _demo_settings({}, ("celery", "-A", "shop", "worker"))["level"] == "INFO"
