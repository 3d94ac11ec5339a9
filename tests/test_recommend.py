"""Training, serving and explaining recommendations on a real database with the real engine.

The data is a small film/course/merch store with clear habits: Nolan fans buy Inception and
Interstellar together and Tenet later, Villeneuve fans buy Dune then Arrival, learners take the
editing course's modules in order, comedy fans buy Amélie with Clueless, crime fans Heat with
Sicario. Nothing of ours is mocked; the storage is a fresh directory per test.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crosssell_plugin import recommend
from crosssell_plugin.engine import artifact
from crosssell_plugin.events import ConsumptionEvent, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import ensure_store, record_catalog_item, record_consumption, record_purchase
from crosssell_plugin.models import (
    Customer,
    Item,
    ModelVersion,
    Order,
    OrderLine,
    PairCount,
    PairCountedOrder,
    Store,
)
from crosssell_plugin.tasks import train_all_stores_task, update_pair_counts_task
from crosssell_plugin.training import count_order_pairs, load_training_data, train_store

from .conftest import STORE_REF, catalog_item

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)

FILMS = {
    "inception": ("Inception", "Christopher Nolan", "Sci-Fi"),
    "interstellar": ("Interstellar", "Christopher Nolan", "Sci-Fi"),
    "tenet": ("Tenet", "Christopher Nolan", "Action"),
    "dune": ("Dune", "Denis Villeneuve", "Sci-Fi"),
    "arrival": ("Arrival", "Denis Villeneuve", "Sci-Fi"),
    "sicario": ("Sicario", "Denis Villeneuve", "Crime"),
    "amelie": ("Amélie", "Jean-Pierre Jeunet", "Comedy"),
    "heat": ("Heat", "Michael Mann", "Crime"),
    "clueless": ("Clueless", "Amy Heckerling", "Comedy"),
}


def snapshot(external_id: str) -> Any:
    """The catalog entry of one item of the test store (the same in every store)."""
    if external_id in FILMS:
        title, director, genre = FILMS[external_id]
        return catalog_item(external_id, title=title, genres=(genre,), people={"director": (director,)})
    if external_id == "editing":
        return catalog_item(
            "editing",
            title="Film Editing",
            kind="course",
            price=Decimal("90.00"),
            people={"instructor": ("Walter Murch",)},
        )
    if external_id.startswith("editing-"):
        n = int(external_id.rsplit("-", 1)[1])
        return catalog_item(
            external_id,
            title=f"Film Editing, module {n}",
            kind="module",
            price=Decimal("20.00"),
            genres=(),
            people={"instructor": ("Walter Murch",)},
            parent_external_id="editing",
            position=n,
        )
    return catalog_item(
        external_id, title=external_id.title(), kind="merch", price=Decimal("15.00"), genres=(), people={}
    )


CATALOG = [*FILMS, "editing", "editing-1", "editing-2", "editing-3", "mug", "poster"]


def add_catalog(store: Store) -> None:
    for external_id in CATALOG:
        record_catalog_item(store, snapshot(external_id))


def buy(ref: StoreRef, order_id: str, email: str, items: list[str], day: float) -> Order:
    event = PurchaseEvent(
        store=ref,
        order_id=order_id,
        occurred_at=T0 + timedelta(days=day),
        currency="EUR",
        customer=CustomerData(email=email),
        lines=tuple(PurchaseLine(snapshot(i), 1, snapshot(i).price) for i in items),
    )
    return record_purchase(event).order


def seed_history(ref: StoreRef) -> None:
    """Thirty customers with the habits described at the top of the module."""
    n = 0

    def order(email: str, items: list[str], day: float) -> None:
        nonlocal n
        n += 1
        buy(ref, f"o-{n}", email, items, day)

    for c in range(8):
        order(f"nolan{c}@example.com", ["inception", "interstellar"], c)
        order(f"nolan{c}@example.com", ["tenet"], c + 10)
    for c in range(3):
        order(f"fan{c}@example.com", ["inception", "mug"], c + 1)
    for c in range(6):
        order(f"denis{c}@example.com", ["dune"], c)
        order(f"denis{c}@example.com", ["arrival"], c + 7)
    for c in range(2):
        order(f"denis{c}@example.com", ["sicario"], c + 15)
    for c in range(5):
        for m in (1, 2, 3):
            order(f"learner{c}@example.com", [f"editing-{m}"], c + 4 * m)
    for c in range(4):
        order(f"comedy{c}@example.com", ["amelie", "clueless"], c + 2)
    for c in range(3):
        order(f"crime{c}@example.com", ["heat", "sicario"], c + 3)


def item(store: Store, external_id: str) -> Item:
    return Item.objects.for_store(store).get(external_id=external_id)


def ids(recommendations: list[recommend.Recommendation]) -> list[str]:
    return [r.item.external_id for r in recommendations]


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Every test gets fresh model storage and no cached model (see tests/conftest.py)."""


@pytest.fixture
def shop(store: Store) -> Store:
    add_catalog(store)
    seed_history(STORE_REF)
    return store


@pytest.fixture
def trained(shop: Store) -> ModelVersion:
    version = train_store(shop)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    return version


# --- training and the swap ----------------------------------------------------------------


def test_training_data_is_the_stores_orders_and_progress(shop: Store) -> None:
    record_consumption(
        ConsumptionEvent(
            STORE_REF, CustomerData("learner0@example.com"), "editing-3", Decimal("0.5"), T0 + timedelta(days=30)
        )
    )
    interactions, items, texts, catalog = load_training_data(shop)
    assert [i.pk for i in items] == sorted(Item.objects.for_store(shop).values_list("pk", flat=True))
    assert len(interactions) == OrderLine.objects.for_store(shop).count() + 1
    assert interactions.n_users == Customer.objects.for_store(shop).count()
    assert sorted(interactions.weights.tolist()).count(0.5) == 1  # the half-watched module
    dune = [i.external_id for i in items].index("dune")
    assert texts[dune].people == {"director": ("Denis Villeneuve",)} and texts[dune].tags == ("Sci-Fi",)
    module2 = [i.external_id for i in items].index("editing-2")
    course = [i.external_id for i in items].index("editing")
    assert (catalog.parents[module2], catalog.positions[module2], catalog.kinds[module2]) == (course, 2, "module")
    assert catalog.prices[module2] == 20.0 and catalog.available.all()


def test_training_creates_an_active_version_and_a_retrain_swaps(shop: Store, settings: Any) -> None:
    first = train_store(shop)
    assert first.status == ModelVersion.Status.ACTIVE and first.version == 1
    with default_storage.open(first.artifact_path) as fh:
        blob = fh.read()
    assert first.artifact_path == f"crosssell/models/{shop.pk}/1.model"
    assert first.sha256 == hashlib.sha256(blob).hexdigest() and first.size == len(blob)
    _, meta = artifact.loads(blob)
    assert meta["item_ids"] == sorted(Item.objects.for_store(shop).values_list("pk", flat=True))
    newest = Order.objects.for_store(shop).order_by("-placed_at").first().placed_at
    assert first.trained_until == newest and meta["trained_until"] == newest.isoformat()
    assert first.n_items == len(CATALOG) and first.fit_seconds is not None and first.fit_seconds >= 0
    assert isinstance(first.metrics, dict)
    assert {r.model_version for r in recommend.for_item(item(shop, "inception"))} == {1}

    buy(STORE_REF, "late-1", "late@example.com", ["dune", "arrival"], 40)
    settings.CROSSSELL = {**settings.CROSSSELL, "MODEL_CHECK_SECONDS": 3600}
    second = train_store(shop)
    first.refresh_from_db()
    assert (first.status, second.status, second.version) == ("retired", "active", 2)
    assert ModelVersion.objects.for_store(shop).filter(status="active").count() == 1
    assert second.trained_until == T0 + timedelta(days=40)
    # this process checked less than MODEL_CHECK_SECONDS ago: it still serves version 1...
    assert {r.model_version for r in recommend.for_item(item(shop, "inception"))} == {1}
    settings.CROSSSELL = {**settings.CROSSSELL, "MODEL_CHECK_SECONDS": 0}
    # ...and switches to version 2 at its next check
    assert {r.model_version for r in recommend.for_item(item(shop, "inception"))} == {2}


def test_a_failed_training_is_rejected_and_the_active_version_keeps_serving(trained: ModelVersion, settings, tmp_path):
    shop = trained.store
    before = ids(recommend.for_item(item(shop, "inception")))
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage expects a directory")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**settings.STORAGES["default"], "OPTIONS": {"location": str(blocker)}},
    }
    failed = train_store(shop)
    trained.refresh_from_db()
    assert failed.status == ModelVersion.Status.REJECTED and "Error" in failed.error
    assert trained.status == ModelVersion.Status.ACTIVE
    served = recommend.for_item(item(shop, "inception"))
    assert ids(served) == before and {r.model_version for r in served} == {1}


def test_a_corrupt_artifact_is_rejected_and_the_previous_model_keeps_serving(trained: ModelVersion, caplog) -> None:
    shop = trained.store
    before = ids(recommend.for_item(item(shop, "dune")))
    second = train_store(shop)
    assert second.status == ModelVersion.Status.ACTIVE
    default_storage.delete(second.artifact_path)
    default_storage.save(second.artifact_path, ContentFile(b"crosssell-model/1\n" + b"0" * 64 + b"\nnot a model"))
    with caplog.at_level(logging.ERROR, logger="crosssell_plugin.recommend"):
        served = recommend.for_item(item(shop, "dune"))
    assert ids(served) == before and {r.model_version for r in served} == {1}
    assert "corrupt" in caplog.text
    second.refresh_from_db()
    trained.refresh_from_db()
    assert second.status == ModelVersion.Status.REJECTED and "SHA-256" in second.error
    assert trained.status == ModelVersion.Status.ACTIVE  # rolled back: every process serves it again
    recommend.clear_cache()  # a fresh process loads the rolled-back version
    assert {r.model_version for r in recommend.for_item(item(shop, "dune"))} == {1}

    # With no intact version left, the store falls back to popular items.
    default_storage.delete(trained.artifact_path)
    default_storage.save(trained.artifact_path, ContentFile(b"garbage"))
    recommend.clear_cache()
    fallback = recommend.for_item(item(shop, "dune"))
    assert fallback and {r.model_version for r in fallback} == {None}
    assert all(r.reasons[0].signal == "popular" for r in fallback)
    assert not ModelVersion.objects.for_store(shop).filter(status="active").exists()


# --- what is never shown ------------------------------------------------------------------


def test_owned_unavailable_and_trigger_never_appear(trained: ModelVersion) -> None:
    shop = trained.store
    gone = snapshot("arrival")
    record_catalog_item(shop, type(gone)(**{**gone.__dict__, "available": False}))
    record_consumption(
        ConsumptionEvent(
            STORE_REF, CustomerData("nolan0@example.com"), "dune", Decimal("0.95"), T0 + timedelta(days=30)
        )
    )
    arrival = item(shop, "arrival")
    checked = 0
    for order in Order.objects.for_store(shop).select_related("customer"):
        owned = set(
            OrderLine.objects.for_store(shop).filter(order__customer=order.customer).values_list("item_id", flat=True)
        )
        if order.customer.email == "nolan0@example.com":
            owned.add(item(shop, "dune").pk)
        trigger = OrderLine.objects.for_store(shop).filter(order=order).order_by("position").first().item_id
        for recs in (recommend.for_order(order, limit=10), recommend.for_customer(order.customer, limit=10)):
            shown = {r.item.pk for r in recs}
            assert not shown & owned and arrival.pk not in shown and trigger not in shown
            checked += len(recs)
    for trigger in Item.objects.for_store(shop):
        shown = {r.item.pk for r in recommend.for_item(trigger, limit=10)}
        assert trigger.pk not in shown and arrival.pk not in shown
        assert all(i.available for i in Item.objects.filter(pk__in=shown))
    assert checked > 100


def test_recommendations_are_deterministic(trained: ModelVersion) -> None:
    shop = trained.store
    order = Order.objects.for_store(shop).filter(customer__email="nolan3@example.com").order_by("placed_at").first()
    runs = [[(r.item.pk, r.score, r.reason_texts) for r in recommend.for_order(order)] for _ in range(3)]
    recommend.clear_cache()
    runs.append([(r.item.pk, r.score, r.reason_texts) for r in recommend.for_order(order)])
    assert runs[0] and all(run == runs[0] for run in runs)


def test_margin_weight_lifts_the_better_margin(trained: ModelVersion, settings: Any) -> None:
    shop = trained.store
    record_catalog_item(shop, type(snapshot("mug"))(**{**snapshot("mug").__dict__, "unit_cost": Decimal("1.00")}))
    thin = snapshot("interstellar")
    record_catalog_item(shop, type(thin)(**{**thin.__dict__, "margin_rate": Decimal("0.05")}))
    inception = item(shop, "inception")
    assert ids(recommend.for_item(inception, limit=2)) == ["interstellar", "tenet"]
    settings.CROSSSELL = {**settings.CROSSSELL, "MARGIN_WEIGHT": 10}
    assert ids(recommend.for_item(inception, limit=2))[0] == "mug"


# --- explanations -------------------------------------------------------------------------


def _buyers(store: Store, pk: int) -> set[int]:
    return set(OrderLine.objects.for_store(store).filter(item_id=pk).values_list("order__customer_id", flat=True))


def _bought_later(store: Store, a: int, b: int, window: int = 5) -> int:
    """Customers who bought b in one of the ``window`` orders after an order with a."""
    orders: dict[int, list[set[int]]] = defaultdict(list)
    for order in Order.objects.for_store(store).order_by("placed_at", "pk").prefetch_related("lines"):
        orders[order.customer_id].append({line.item_id for line in order.lines.all()})
    return sum(
        any(a in items and any(b in later for later in seq[n + 1 : n + 1 + window]) for n, items in enumerate(seq))
        for seq in orders.values()
    )


def test_explanations_are_true(trained: ModelVersion) -> None:
    shop = trained.store
    item_ids = recommend.get_model(shop).item_ids
    seen: dict[str, int] = defaultdict(int)
    for trigger in Item.objects.for_store(shop):
        for rec in recommend.for_item(trigger, limit=6):
            assert len(rec.reasons) == len(rec.reason_texts)
            seen["none"] += not rec.reasons
            for reason, text in zip(rec.reasons, rec.reason_texts, strict=True):
                seen[reason.signal] += 1
                evidence = Item.objects.get(pk=item_ids[reason.evidence]) if reason.evidence is not None else None
                if reason.signal == "bought_together":
                    assert reason.count == len(_buyers(shop, evidence.pk) & _buyers(shop, rec.item.pk))
                    assert text == f"Customers who bought {evidence.title} also bought this ({reason.count})"
                elif reason.signal == "bought_next":
                    assert reason.count == _bought_later(shop, evidence.pk, rec.item.pk)
                    assert text == f"Customers who bought {evidence.title} bought this next ({reason.count})"
                elif reason.signal == "popular":
                    buyers = len(_buyers(shop, rec.item.pk))
                    assert reason.count == buyers and text.startswith(f"Popular right now ({buyers} buyer")
                elif reason.signal == "next_in_sequence":
                    assert rec.item.parent == evidence and text == f"Next in {evidence.title}"
                else:
                    assert reason.signal == "similar"
                if text.startswith("Same director: "):
                    director = text.removeprefix("Same director: ")
                    assert director in rec.item.people["director"] and director in evidence.people["director"]
    assert seen["bought_together"] and seen["similar"] and seen["bought_next"] and seen["popular"]
    assert seen["none"] <= 2  # only content neighbours sharing no person, tag or level (the two merch items)


def test_same_director_is_named(trained: ModelVersion) -> None:
    shop = trained.store
    # A new customer buys Sicario (Villeneuve) and nothing else: Dune is shown, and why.
    order = buy(STORE_REF, "new-1", "new@example.com", ["sicario"], 50)
    texts = {r.item.external_id: r.reason_texts for r in recommend.for_order(order, limit=6)}
    assert any("Same director: Denis Villeneuve" in t for t in texts.values()), texts
    for external_id, reason_texts in texts.items():
        if "Same director: Denis Villeneuve" in reason_texts:
            assert item(shop, external_id).people["director"] == ["Denis Villeneuve"]


# --- requests -----------------------------------------------------------------------------


def test_a_new_customer_gets_trigger_based_results(trained: ModelVersion) -> None:
    shop = trained.store
    order = buy(STORE_REF, "new-1", "first-timer@example.com", ["dune"], 50)
    recs = recommend.for_order(order)
    assert recs[0].item.external_id == "arrival" and recs[0].task == "post_purchase"
    assert "Customers who bought Dune bought this next (6)" in recs[0].reason_texts
    assert [r.item.external_id for r in recommend.for_customer(order.customer)][:1] == ["arrival"]
    assert ids(recommend.for_item(item(shop, "inception")))[0] == "interstellar"


def test_the_next_module_comes_first_after_buying_module_1(trained: ModelVersion) -> None:
    order = buy(STORE_REF, "new-1", "student@example.com", ["editing-1"], 50)
    recs = recommend.for_order(order)
    assert recs[0].item.external_id == "editing-2"
    assert recs[0].reason_texts[0] == "Next in Film Editing"
    assert "editing-3" not in ids(recs)[:1]
    # and after module 2, module 3
    later = buy(STORE_REF, "new-2", "student@example.com", ["editing-2"], 51)
    assert ids(recommend.for_order(later))[0] == "editing-3"
    assert ids(recommend.for_item(trained.store.items.get(external_id="editing-1")))[0] == "editing-2"


def test_cold_start_without_a_model_returns_popular_items(shop: Store) -> None:
    assert recommend.get_model(shop) is None
    order = buy(STORE_REF, "new-1", "nolan0@example.com", ["sicario"], 50)
    recs = recommend.for_order(order, limit=3)
    # by number of orders: Inception (11), Interstellar (8), Tenet (8); nolan0 owns all three
    assert ids(recs) == ["dune", "arrival", "editing-1"]
    assert all(r.model_version is None and r.reasons[0].signal == "popular" for r in recs)
    assert recs[0].reason_texts == ["Popular right now (6 buyers)"]
    assert ids(recommend.for_item(item(shop, "heat"), limit=3)) == ["inception", "interstellar", "tenet"]
    # a brand-new item once a model exists: popular items of its kind first, then the others
    train_store(shop)
    record_catalog_item(shop, catalog_item("new-film", title="Brand new"))
    record_catalog_item(shop, catalog_item("new-mug", title="New mug", kind="merch"))
    assert ids(recommend.for_item(item(shop, "new-film"), limit=2)) == ["inception", "interstellar"]
    assert ids(recommend.for_item(item(shop, "new-mug"), limit=3)) == ["mug", "inception", "interstellar"]


def test_two_stores_with_the_same_item_ids_never_mix(trained: ModelVersion) -> None:
    shop = trained.store
    other_ref = StoreRef("custom", "other-store")
    other = ensure_store(other_ref, name="Other", currency="EUR")
    add_catalog(other)
    for c in range(6):  # here Inception goes with Amélie
        buy(other_ref, f"x-{c}", f"nolan{c}@example.com", ["inception", "amelie"], c)
    assert train_store(other).status == ModelVersion.Status.ACTIVE
    mine = recommend.for_item(item(shop, "inception"))
    theirs = recommend.for_item(item(other, "inception"))
    assert ids(mine)[0] == "interstellar" and ids(theirs)[0] == "amelie"
    assert {r.item.store_id for r in mine} == {shop.pk} and {r.item.store_id for r in theirs} == {other.pk}
    assert "(6)" in theirs[0].reason_texts[0]  # six customers of *that* store
    customer = Customer.objects.for_store(other).get(email="nolan0@example.com")
    assert {r.item.store_id for r in recommend.for_customer(customer, limit=10)} == {other.pk}
    order = Order.objects.for_store(other).get(external_id="x-0")
    recs = recommend.for_order(order, limit=10)
    assert recs and {r.item.store_id for r in recs} == {other.pk}
    # Interstellar may come as a content neighbour (same director), never from the first store's sales.
    assert {reason.signal for r in recs for reason in r.reasons} <= {"similar", "popular"}
    assert all(reason.count in (None, 6) for r in recs for reason in r.reasons)
    # A store with no model and no orders has nothing popular to show, whatever the others sell.
    empty = ensure_store(StoreRef("custom", "empty"), name="Empty", currency="EUR")
    record_catalog_item(empty, snapshot("inception"))
    assert recommend.for_item(item(empty, "inception")) == []


# --- between trainings --------------------------------------------------------------------


def test_new_orders_count_before_the_next_training(trained: ModelVersion, django_capture_on_commit_callbacks) -> None:
    shop = trained.store
    amelie, heat = item(shop, "amelie"), item(shop, "heat")
    assert "heat" not in ids(recommend.for_item(amelie))
    with django_capture_on_commit_callbacks(execute=True):
        for c in range(4):
            buy(STORE_REF, f"new-{c}", f"pair{c}@example.com", ["amelie", "heat"], 40 + c)
        buy(STORE_REF, "new-9", "pair0@example.com", ["tenet"], 50)
    counts = {(p.item_a_id, p.item_b_id, p.kind): p.count for p in PairCount.objects.for_store(shop)}
    assert counts[(amelie.pk, heat.pk, "together")] == counts[(heat.pk, amelie.pk, "together")] == 4
    assert counts[(amelie.pk, item(shop, "tenet").pk, "next")] == 1
    recs = recommend.for_item(amelie)
    assert "heat" in ids(recs)
    shown = next(r for r in recs if r.item == heat)
    assert "Customers who bought Amélie also bought this (4)" in shown.reason_texts

    # Counting the same order again changes nothing (a retried task, a second delivery).
    order = Order.objects.for_store(shop).get(external_id="new-0")
    assert update_pair_counts_task.delay(order.pk).get() == 0
    assert PairCount.objects.for_store(shop).get(item_a=amelie, item_b=heat, kind="together").count == 4
    # An order the model already learned from is never counted.
    old = Order.objects.for_store(shop).get(external_id="o-1")
    assert update_pair_counts_task.delay(old.pk).get() == 0

    # The next training learns these orders: the counts start again from its trained_until.
    retrained = train_store(shop)
    assert retrained.status == ModelVersion.Status.ACTIVE
    assert not PairCount.objects.for_store(shop).exists() and not PairCountedOrder.objects.for_store(shop).exists()
    assert "heat" in ids(recommend.for_item(amelie))


@pytest.mark.django_db(transaction=True)
def test_concurrent_counting_of_the_same_orders_counts_each_once(transactional_db: Any) -> None:
    store = Store.objects.create(platform="custom", external_id=STORE_REF.external_id, name="Race", currency="EUR")
    add_catalog(store)
    orders = [buy(STORE_REF, f"race-{n}", f"racer{n}@example.com", ["amelie", "heat", "mug"], n) for n in range(3)]
    PairCountedOrder.objects.all().delete()  # committed orders were counted on commit: start again
    PairCount.objects.all().delete()
    barrier = threading.Barrier(9)
    added: list[int] = []
    errors: list[BaseException] = []

    def work(order_pk: int) -> None:
        try:
            barrier.wait(timeout=10)
            added.append(count_order_pairs(order_pk))
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(order.pk,)) for order in orders for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(added) == [0, 0, 0, 0, 0, 0, 6, 6, 6]  # 3 items: 6 ordered pairs, once per order
    assert PairCountedOrder.objects.count() == 3
    assert {p.count for p in PairCount.objects.all()} == {3} and PairCount.objects.count() == 6


# --- operations ---------------------------------------------------------------------------


def test_crosssell_train_command_shows_progress_and_timings(shop: Store, caplog) -> None:
    out = StringIO()
    with caplog.at_level(logging.INFO, logger="crosssell_plugin.training"):
        call_command("crosssell_train", stdout=out)
    text = out.getvalue()
    assert f"[custom:{STORE_REF.external_id}]" in text
    interactions = OrderLine.objects.for_store(shop).count()
    assert f"loaded {len(CATALOG)} items, {interactions} interactions" in text
    for stage in ("fitting", "fitted in", "saved crosssell/models/", "version 1 active", "1 of 1 stores trained in"):
        assert stage in text, stage
    assert "fitted in" in caplog.text and "is active" in caplog.text

    out = StringIO()
    call_command("crosssell_train", "--store", "custom:test-store", stdout=out)
    assert "version 2 active" in out.getvalue()
    with pytest.raises(CommandError, match="No store"):
        call_command("crosssell_train", "--store", "custom:nope", stdout=StringIO())
    with pytest.raises(CommandError, match="PLATFORM:EXTERNAL_ID"):
        call_command("crosssell_train", "--store", "nope", stdout=StringIO())


def test_nightly_task_trains_every_active_store(shop: Store) -> None:
    ensure_store(StoreRef("custom", "closed"), name="Closed", currency="EUR")
    Store.objects.filter(external_id="closed").update(is_active=False)
    assert train_all_stores_task.delay().get() == [shop.pk]
    assert ModelVersion.objects.get().status == ModelVersion.Status.ACTIVE
    assert not ModelVersion.objects.filter(store__external_id="closed").exists()


def test_admin_lists_model_versions_and_pair_counts(admin_client, trained: ModelVersion) -> None:
    for model, filters in ((ModelVersion, {"status__exact": "active"}), (PairCount, {"kind__exact": "together"})):
        url = reverse(f"admin:crosssell_{model._meta.model_name}_changelist")
        assert admin_client.get(url, {"store__id__exact": trained.store_id, **filters}).status_code == 200
    page = admin_client.get(reverse("admin:crosssell_modelversion_change", args=[trained.pk]))
    assert page.status_code == 200 and trained.sha256 in page.content.decode()
    assert admin_client.post(reverse("admin:crosssell_modelversion_delete", args=[trained.pk])).status_code == 403


# --- serving cost and freshness -----------------------------------------------------------


def test_an_item_withdrawn_since_the_last_check_is_replaced_by_the_next_ranked(trained: ModelVersion, settings) -> None:
    settings.CROSSSELL = {"MODEL_CHECK_SECONDS": 3600}  # the loaded model's catalog facts stay as they are
    shop = trained.store
    order = Order.objects.for_store(shop).filter(customer__email="nolan3@example.com").order_by("placed_at").first()
    four = recommend.for_order(order, limit=4)
    assert len(four) == 4 and all(r.model_version == trained.version for r in four)
    withdrawn = four[0].item
    snap = snapshot(withdrawn.external_id)
    record_catalog_item(shop, type(snap)(**{**snap.__dict__, "available": False}))
    three = recommend.for_order(order, limit=3)
    assert [r.item.pk for r in three] == [r.item.pk for r in four[1:]]
    assert all(r.model_version == trained.version for r in three)


def test_a_recommendation_call_takes_four_queries_with_the_model_loaded(
    trained: ModelVersion, django_assert_num_queries, settings
) -> None:
    """The customer's purchases, their progress, the pair counts since training, the items."""
    settings.CROSSSELL = {"MODEL_CHECK_SECONDS": 3600}
    order = (
        Order.objects.for_store(trained.store)
        .filter(customer__email="nolan3@example.com")
        .select_related("store")
        .order_by("placed_at")
        .first()
    )
    recommend.for_order(order)  # loads the model
    with django_assert_num_queries(4):
        recs = recommend.for_order(order)
    assert len(recs) == 4


def test_the_batch_entry_points_recommend_exactly_what_for_order_and_for_customer_do(
    trained: ModelVersion, django_capture_on_commit_callbacks, settings: Any
) -> None:
    """customer_histories + for_order_from / for_customer_from (the dispatcher's way, many
    customers at once) give the same results, and rows read once are not read again."""
    settings.CROSSSELL = {"MODEL_CHECK_SECONDS": 3600}
    shop = trained.store
    with django_capture_on_commit_callbacks(execute=True):  # pair counts since training, too
        for c in range(3):
            buy(STORE_REF, f"new-{c}", f"pair{c}@example.com", ["amelie", "heat"], 40 + c)
    orders = list(Order.objects.for_store(shop).select_related("store", "customer", "customer__store").order_by("pk"))
    histories = recommend.customer_histories(shop, [o.customer_id for o in orders])
    reads = recommend.SharedReads(shop)

    def facts(recs: list[recommend.Recommendation]) -> list[tuple[Any, ...]]:
        return [(r.item.pk, r.score, r.reason_texts, r.task, r.placement, r.model_version_pk) for r in recs]

    for order in orders:
        history = histories[order.customer_id]
        assert facts(recommend.for_order_from(order, history, reads=reads)) == facts(recommend.for_order(order))
        assert facts(recommend.for_customer_from(order.customer, history, limit=3, reads=reads)) == facts(
            recommend.for_customer(order.customer, limit=3)
        )
    with CaptureQueriesContext(connection) as again:
        for order in orders:
            recommend.for_order_from(order, histories[order.customer_id], reads=reads)
    read_again = [q["sql"] for q in again.captured_queries if "crosssell_item" in q["sql"].split(" WHERE ")[0]]
    assert not read_again and not [q for q in again.captured_queries if "crosssell_paircount" in q["sql"]]


def test_the_popularity_ranking_is_computed_once_per_loaded_model(trained: ModelVersion) -> None:
    shop = trained.store
    record_catalog_item(shop, catalog_item("brand-new", title="Brand new"))
    new = item(shop, "brand-new")  # unknown to the model: popular films are shown
    with CaptureQueriesContext(connection) as first:
        popular = recommend.for_item(new)
    with CaptureQueriesContext(connection) as second:
        assert [r.item.pk for r in recommend.for_item(new)] == [r.item.pk for r in popular]
    counting = [q["sql"] for q in first.captured_queries if "COUNT(DISTINCT" in q["sql"]]
    assert len(counting) == 1
    assert not [q["sql"] for q in second.captured_queries if "COUNT(DISTINCT" in q["sql"]]
    assert popular and all(r.reasons[0].signal == "popular" for r in popular)
