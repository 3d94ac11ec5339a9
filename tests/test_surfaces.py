"""Post-purchase surfaces on a real database: the recommendation block and its template tags,
impressions, the signed click redirect, attribution of later purchases, and the block on Oscar's
thank-you and order pages after a real checkout. Nothing of ours is mocked."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from oscar.core.loading import get_model

from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Click, Conversion, Customer, Impression, Item, ModelVersion, Order, Store
from crosssell_plugin.receivers import attribute_order
from crosssell_plugin.recommend import compute_ahead
from crosssell_plugin.recommend import for_order as recommend_for_order
from crosssell_plugin.templatetags.crosssell import format_price, render_ahead
from crosssell_plugin.tracking import CLICK_SALT, click_token, plan_impressions
from crosssell_plugin.training import train_store
from integrations.base import get_adapter
from tests.integrations.oscar.conftest import Catalogue, Checkout

from .conftest import STORE_REF
from .test_recommend import T0, add_catalog, buy, seed_history, snapshot

pytestmark = pytest.mark.django_db

_CLICK_HREF = re.compile(r'href="(/crosssell/r/([^"/]+)/)"')


def click_links(html: str) -> dict[str, str]:
    """Impression key (hex) -> the click link of the page that names it. A token carries the
    time it was signed, so links are read back from the page, never recomputed and compared."""
    links = {}
    for href, token in _CLICK_HREF.findall(html):
        payload = signing.loads(token, salt=CLICK_SALT)
        links[payload["k"]] = href
    return links


HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> None:
    """Every test gets fresh model storage and no cached model (see tests/conftest.py)."""


@pytest.fixture
def trained(store: Store) -> ModelVersion:
    add_catalog(store)
    seed_history(STORE_REF)
    for item in Item.objects.for_store(store):
        item.url = f"/films/{item.external_id}/"
        item.image_url = f"/media/{item.external_id}.jpg"
        item.save(update_fields=["url", "image_url"])
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    return version


def item(store: Store, external_id: str) -> Item:
    return Item.objects.for_store(store).get(external_id=external_id)


def render(source: str, **context: Any) -> str:
    return Template("{% load crosssell %}" + source).render(Context(context))


def impression(store: Store, item: Item, **fields: Any) -> Impression:
    return Impression.objects.create(store=store, item=item, placement="thank_you", rank=1, score=1.0, **fields)


# --- the block --------------------------------------------------------------------------


def test_block_escapes_hostile_titles_and_explains_why(trained: ModelVersion) -> None:
    store = trained.store
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    Item.objects.filter(pk=item(store, "interstellar").pk).update(title=HOSTILE)
    Item.objects.filter(pk=item(store, "inception").pk).update(title=f"Inception {HOSTILE}")

    html = render('{% crosssell_block order placement="thank_you" limit=4 %}', order=order)

    assert 'class="crosssell-block"' in html and "<ul" in html and "<li" in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'alt="{"&lt;script&gt;alert(1)&lt;/script&gt;"}"' in html  # the image's alt text, escaped too
    assert "<details" in html and "Why this?" in html
    assert "Customers who bought Inception &lt;script&gt;alert(1)&lt;/script&gt; also bought this" in html
    assert 'href="/crosssell/r/' in html and "javascript:" not in html
    assert "€9.99" in html


def test_block_never_shows_owned_or_unavailable_items(trained: ModelVersion) -> None:
    store = trained.store
    buy(STORE_REF, "old-1", "owner@example.com", ["dune"], 20)
    order = buy(STORE_REF, "new-1", "owner@example.com", ["inception"], 30)
    Item.objects.filter(pk=item(store, "interstellar").pk).update(available=False)

    html = render("{% crosssell_block order limit=6 %}", order=order)

    shown = set(Impression.objects.values_list("item__external_id", flat=True))
    assert shown and not shown & {"inception", "dune", "interstellar"}
    for external_id in ("inception", "dune", "interstellar"):
        assert f"/films/{external_id}/" not in html
    assert "Interstellar" not in html


def test_price_follows_the_currency_and_the_active_language(trained: ModelVersion) -> None:
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    with translation.override("en"):
        assert format_price(Decimal("9.99"), "EUR") == "€9.99"
        html_en = render("{% crosssell_block order %}", order=order)
    with translation.override("fr"):
        french = format_price(Decimal("1234.5"), "EUR")
        html_fr = render("{% crosssell_block order %}", order=order)
    assert french.startswith("1") and "234,50" in french and french.endswith("€")
    assert "€9.99" in html_en
    assert "9,99" in html_fr and "€9.99" not in html_fr


def test_one_impression_per_item_in_one_insert(trained: ModelVersion) -> None:
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    with CaptureQueriesContext(connection) as queries:
        html = render('{% crosssell_block order placement="thank_you" limit=3 %}', order=order)
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "crosssell_impression"')]
    assert len(inserts) == 1

    impressions = list(Impression.objects.order_by("rank"))
    assert len(impressions) == 3 == html.count('class="crosssell-block__item"')
    assert [i.rank for i in impressions] == [1, 2, 3]
    assert {(i.store_id, i.order_id, i.customer_id, i.placement) for i in impressions} == {
        (order.store_id, order.pk, order.customer_id, "thank_you")
    }
    assert {i.model_version_id for i in impressions} == {trained.pk}
    assert all(i.reason and i.score > 0 for i in impressions)
    links = click_links(html)
    for i in impressions:  # each item links through its own signed redirect
        assert i.key.hex in links


def test_customer_and_item_blocks(trained: ModelVersion) -> None:
    store = trained.store
    customer = Customer.objects.for_store(store).get(email="denis0@example.com")
    html = render('{% crosssell_customer_block customer placement="email" limit=2 %}', customer=customer)
    assert html.count('class="crosssell-block__item"') == 2
    assert set(Impression.objects.values_list("placement", "customer_id", "order_id")) == {("email", customer.pk, None)}

    html = render("{% crosssell_item_block film %}", film=item(store, "dune"))
    assert 'class="crosssell-block__item"' in html and "Why this?" in html
    assert Impression.objects.filter(placement="item_page", customer=None).count() == 4


def test_a_reload_serves_the_cached_block_until_a_new_model_version(trained: ModelVersion) -> None:
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    first = render('{% crosssell_block order placement="thank_you" limit=3 %}', order=order)
    assert Impression.objects.count() == 3

    with CaptureQueriesContext(connection) as queries:
        again = render('{% crosssell_block order placement="thank_you" limit=3 %}', order=order)
    assert again == first  # the same tracked links, no new impressions, no recommendation queries
    assert Impression.objects.count() == 3
    assert not [q for q in queries.captured_queries if "crosssell_orderline" in q["sql"]]

    # another placement, limit or language is another block
    render('{% crosssell_block order placement="account" limit=3 %}', order=order)
    assert Impression.objects.filter(placement="account").count() == 3
    with translation.override("fr"):
        assert render('{% crosssell_block order placement="thank_you" limit=3 %}', order=order) != first
    assert Impression.objects.count() == 9

    newer = train_store(trained.store)
    assert newer.status == ModelVersion.Status.ACTIVE and newer.version == trained.version + 1
    fresh = render('{% crosssell_block order placement="thank_you" limit=3 %}', order=order)
    assert fresh != first and Impression.objects.count() == 12
    assert set(Impression.objects.order_by("-pk")[:3].values_list("model_version_id", flat=True)) == {newer.pk}


def test_the_thank_you_block_is_rendered_ahead_and_its_impressions_written_when_shown(
    trained: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # recording runs the compute_ahead task
        order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    assert not Impression.objects.exists()  # rendered, not shown yet

    with CaptureQueriesContext(connection) as queries:
        html = render("{% crosssell_block order %}", order=order)
    assert html.count('class="crosssell-block__item"') == 4
    assert not [q for q in queries.captured_queries if "crosssell_orderline" in q["sql"]]  # nothing computed
    shown = list(Impression.objects.order_by("rank"))
    assert [(i.order_id, i.placement, i.rank) for i in shown] == [(order.pk, "thank_you", r) for r in (1, 2, 3, 4)]
    links = click_links(html)
    for i in shown:
        assert i.key.hex in links  # its link names its key
    assert render("{% crosssell_block order %}", order=order) == html  # a reload logs nothing more
    assert Impression.objects.count() == 4
    # other arguments than the defaults are rendered on demand
    assert render('{% crosssell_block order limit=2 placement="account" %}', order=order).count("__item") == 2
    assert Impression.objects.count() == 6


def test_the_block_is_rendered_ahead_in_the_customers_language(
    trained: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    snap = snapshot("inception")
    event = PurchaseEvent(
        STORE_REF,
        "fr-1",
        T0 + timedelta(days=30),
        "EUR",
        CustomerData("amelie@example.com", locale="fr-FR"),
        (PurchaseLine(snap, 1, snap.price),),
    )
    with django_capture_on_commit_callbacks(execute=True):
        order = record_purchase(event).order
    with translation.override("fr"), CaptureQueriesContext(connection) as queries:
        html = render("{% crosssell_block order %}", order=order)
    assert "9,99" in html and "€9.99" not in html
    assert not [q for q in queries.captured_queries if "crosssell_orderline" in q["sql"]]  # served as rendered ahead


def test_block_cache_off_renders_every_time(trained: ModelVersion, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "BLOCK_CACHE_SECONDS": 0}
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    first = render("{% crosssell_block order limit=2 %}", order=order)
    second = render("{% crosssell_block order limit=2 %}", order=order)
    assert first != second and Impression.objects.count() == 4


def test_nothing_to_recommend_renders_nothing(store: Store) -> None:
    order = buy(STORE_REF, "only-1", "lonely@example.com", ["inception"], 0)  # no other item was ever ordered
    assert render("{% crosssell_block order %}", order=order).strip() == ""
    assert render("{% crosssell_block missing %}").strip() == ""
    assert not Impression.objects.exists()


# --- the click redirect -----------------------------------------------------------------


@pytest.fixture
def shown(store: Store) -> Impression:
    add_catalog(store)
    film = item(store, "dune")
    film.url = "/films/dune/"
    film.save(update_fields=["url"])
    return impression(store, film)


def click_path(token: str) -> str:
    return reverse("crosssell:click", args=[token])


def test_a_valid_link_logs_a_click_per_request_and_redirects_to_the_item(client: Any, shown: Impression) -> None:
    path = click_path(click_token(shown))
    assert path.startswith("/crosssell/r/")
    for n in (1, 2):
        response = client.get(path, HTTP_USER_AGENT="Mozilla/5.0 test")
        assert response.status_code == 302 and response["Location"] == "/films/dune/"
        assert Click.objects.filter(impression=shown).count() == n
    assert len(Click.objects.first().user_agent_hash) == 64


@pytest.mark.parametrize("url", ["https://shop.example.com/films/dune/", "http://127.0.0.1:8000/films/dune/?x=1"])
def test_absolute_http_item_urls_are_followed(client: Any, shown: Impression, url: str) -> None:
    Item.objects.filter(pk=shown.item_id).update(url=url)
    response = client.get(click_path(click_token(shown)))
    assert response.status_code == 302 and response["Location"] == url


def key_payload(impression: Impression) -> dict[str, Any]:
    """A well-formed token payload for a new impression key (as if its row were not written yet)."""
    payload = signing.loads(click_token(impression), salt=CLICK_SALT)
    return {**payload, "k": uuid.uuid4().hex}


def test_a_click_before_the_impression_is_written_records_it_from_the_token(client: Any, shown: Impression) -> None:
    payload = key_payload(shown)
    response = client.get(click_path(signing.dumps(payload, salt=CLICK_SALT, compress=True)))
    assert response.status_code == 302 and response["Location"] == shown.item.url
    written = Impression.objects.get(key=uuid.UUID(hex=payload["k"]))
    assert (written.store_id, written.item_id, written.placement, written.rank) == (
        shown.store_id,
        shown.item_id,
        shown.placement,
        shown.rank,
    )
    assert Click.objects.get().impression == written


def test_a_variant_is_recorded_with_each_impression_and_by_a_click_that_comes_first(
    client: Any, trained: ModelVersion, settings: Any
) -> None:
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    a = render('{% crosssell_block order limit=2 variant="big-images" %}', order=order)
    b = render('{% crosssell_block order limit=2 variant="<b>" %}', order=order)
    assert 'data-variant="big-images"' in a and 'data-variant="&lt;b&gt;"' in b  # escaped like every text
    assert render('{% crosssell_block order limit=2 variant="big-images" %}', order=order) == a  # cached per variant
    assert sorted(Impression.objects.values_list("variant", flat=True)) == ["<b>", "<b>", "big-images", "big-images"]

    # the token carries the variant: a click that beats the impression's write records it too
    recs = recommend_for_order(order, limit=1)
    settings.CROSSSELL = {**settings.CROSSSELL, "IMPRESSION_FLUSH_SECONDS": 0}
    (planned,) = plan_impressions(order.store, recs, "email", order=order, variant="subject-b")
    assert client.get(click_path(click_token(planned))).status_code == 302
    assert Impression.objects.get(key=planned.key).variant == "subject-b"


def tampered(token: str) -> str:
    value, _, signature = token.rpartition(":")
    return f"{value}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda imp: tampered(click_token(imp)), id="tampered-signature"),
        pytest.param(lambda imp: click_token(imp).replace(":", ":x", 1), id="tampered-payload"),
        pytest.param(lambda imp: signing.dumps({"i": imp.pk}, salt="another.salt"), id="other-salt"),
        pytest.param(lambda imp: signing.dumps({"x": imp.pk}, salt=CLICK_SALT), id="no-impression-key"),
        pytest.param(lambda imp: signing.dumps({"i": imp.pk + 1000}, salt=CLICK_SALT), id="unknown-impression"),
        pytest.param(
            lambda imp: signing.dumps({**key_payload(imp), "it": imp.item_id + 1000}, salt=CLICK_SALT),
            id="unknown-item",
        ),
        pytest.param(
            lambda imp: signing.dumps({**key_payload(imp), "r": "1; DROP TABLE"}, salt=CLICK_SALT), id="bad-field"
        ),
        pytest.param(lambda imp: "not-a-token", id="malformed"),
    ],
)
def test_a_bad_link_is_a_400_page_and_no_click(client: Any, shown: Impression, make: Any) -> None:
    response = client.get(click_path(make(shown)))
    assert response.status_code == 400 and "Location" not in response
    assert b"This link no longer works" in response.content
    assert not Click.objects.exists()


class SignedDaysAgo(signing.TimestampSigner):
    def __init__(self, days: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.days = days

    def timestamp(self) -> str:
        return signing.b62_encode(int(time.time() - self.days * 86400))


def test_an_expired_link_is_a_400_page(client: Any, shown: Impression, settings: Any) -> None:
    old = SignedDaysAgo(31, salt=CLICK_SALT).sign_object({"i": shown.pk})
    assert client.get(click_path(old)).status_code == 400
    recent = SignedDaysAgo(29, salt=CLICK_SALT).sign_object({"i": shown.pk})
    assert client.get(click_path(recent)).status_code == 302
    settings.CROSSSELL = {**settings.CROSSSELL, "CLICK_TOKEN_MAX_AGE_DAYS": 1}
    two_days = SignedDaysAgo(2, salt=CLICK_SALT).sign_object({"i": shown.pk})
    assert client.get(click_path(two_days)).status_code == 400
    assert Click.objects.count() == 1


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "//evil.example", "/\\evil.example", "ftp://files.example/x", "films/dune", ""]
)
def test_unsafe_item_urls_are_never_redirected_to(client: Any, shown: Impression, url: str) -> None:
    Item.objects.filter(pk=shown.item_id).update(url=url)
    response = client.get(click_path(click_token(shown)))
    assert response.status_code == 400 and "Location" not in response
    assert not Click.objects.exists()


# --- attribution ------------------------------------------------------------------------


def purchase(order_id: str, email: str, items: list[str], day: float, capture: Any) -> Order:
    with capture(execute=True):
        return buy(STORE_REF, order_id, email, items, day)


def test_a_purchase_within_the_window_converts_the_latest_impression(
    store: Store, django_capture_on_commit_callbacks: Any
) -> None:
    add_catalog(store)
    first = purchase("a-1", "ann@example.com", ["inception"], 0, django_capture_on_commit_callbacks)
    dune = item(store, "dune")
    older = impression(store, dune, order=first, customer=first.customer, created_at=T0 + timedelta(days=1))
    latest = impression(store, dune, order=first, customer=first.customer, created_at=T0 + timedelta(days=2))
    other_customer = Customer.objects.create(store=store, email="bob@example.com")
    impression(store, dune, customer=other_customer, created_at=T0 + timedelta(days=2))

    second = purchase("a-2", "ann@example.com", ["dune", "tenet"], 5, django_capture_on_commit_callbacks)

    conversion = Conversion.objects.get()
    assert (conversion.impression, conversion.order, conversion.item) == (latest, second, dune)
    assert older.conversions.count() == 0
    attribute_order(second)  # idempotent
    assert Conversion.objects.count() == 1


def test_no_conversion_outside_the_window_or_from_the_same_order(
    store: Store, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "ATTRIBUTION_WINDOW_DAYS": 7}
    add_catalog(store)
    first = purchase("b-1", "ann@example.com", ["inception"], 0, django_capture_on_commit_callbacks)
    impression(store, item(store, "dune"), order=first, customer=first.customer, created_at=T0 + timedelta(days=1))

    late = purchase("b-2", "ann@example.com", ["dune"], 9, django_capture_on_commit_callbacks)
    assert not Conversion.objects.exists()

    impression(store, item(store, "arrival"), order=late, customer=late.customer, created_at=T0 + timedelta(days=8))
    event = PurchaseEvent(  # a re-delivery of the same order never counts its own impressions
        store=STORE_REF,
        order_id="b-2",
        occurred_at=T0 + timedelta(days=9),
        currency="EUR",
        customer=CustomerData(email="ann@example.com"),
        lines=(PurchaseLine(snapshot("arrival"), 1, Decimal("9.99")),),
    )
    with django_capture_on_commit_callbacks(execute=True):
        record_purchase(event)
    assert attribute_order(Order.objects.get(external_id="b-2")) == []
    assert not Conversion.objects.exists()


# --- Oscar: a real checkout ---------------------------------------------------------------


@pytest.fixture
def oscar_shop(db: Any, settings: Any) -> tuple[Any, Any, Store]:
    """Two Oscar films that five earlier customers bought together, and a model trained on it."""
    settings.CROSSSELL = {**settings.CROSSSELL, "PLATFORMS": {"oscar": {"STORE_NAME": "Reel & Learn"}}}
    catalogue = Catalogue()
    cleo = catalogue.product("film", "Cléo from 5 to 7", upc="FILM-CLEO", price="7.50", director="Agnès Varda")
    gleaners = catalogue.product(
        "film", "The Gleaners and I", upc="FILM-GLEANERS", price="8.00", director="Agnès Varda"
    )
    heat = catalogue.product("film", "Heat", upc="FILM-HEAT", price="9.00", director="Michael Mann")
    adapter = get_adapter("oscar")
    store = adapter.store()
    ref = StoreRef("oscar", store.external_id)
    snapshots = {p.pk: adapter.product_to_item(p) for p in (cleo, gleaners, heat)}
    for n in range(5):
        lines = [PurchaseLine(snapshots[p.pk], 1, snapshots[p.pk].price) for p in (cleo, gleaners)]
        record_purchase(
            PurchaseEvent(
                ref, f"past-{n}", T0 + timedelta(days=n), "EUR", CustomerData(f"c{n}@example.com"), tuple(lines)
            )
        )
    heat_line = PurchaseLine(snapshots[heat.pk], 1, snapshots[heat.pk].price)
    record_purchase(PurchaseEvent(ref, "past-h", T0, "EUR", CustomerData("h@example.com"), (heat_line,)))
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    return cleo, gleaners, store


OscarOrder = get_model("order", "Order")


def test_oscar_thank_you_page_shows_the_block_and_logs_impressions(
    client: Any, oscar_shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    cleo, gleaners, store = oscar_shop
    Checkout(client).buy_as_guest(cleo, "agnes@example.com", django_capture_on_commit_callbacks)

    page = client.get(reverse("checkout:thank-you"))

    assert page.status_code == 200
    html = page.content.decode()
    oscar_order = OscarOrder.objects.get()
    order = Order.objects.for_store(store).get(external_id=oscar_order.number)
    assert 'class="crosssell-block"' in html and "The Gleaners and I" in html and "Why this?" in html
    assert "Customers who bought Cléo from 5 to 7 also bought this (5)" in html
    assert (
        html.index('class="crosssell-block"') < html.index("Tracking your order")
        if "Tracking your order" in html
        else True
    )
    shown = Impression.objects.get(order=order, item__external_id=str(gleaners.pk))
    assert (shown.placement, shown.customer_id, shown.rank) == ("thank_you", order.customer_id, 1)

    link = click_links(html)[shown.key.hex]
    followed = client.get(link)
    assert followed.status_code == 302 and followed["Location"].endswith(gleaners.get_absolute_url())
    assert Click.objects.filter(impression=shown).count() == 1


def test_oscar_account_order_page_shows_the_block(
    client: Any, oscar_shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.contrib.auth import get_user_model

    cleo, _gleaners, _store = oscar_shop
    user = get_user_model().objects.create_user(username="claire", email="claire@example.com", password="s3cret-pass")
    client.force_login(user)
    checkout = Checkout(client)
    checkout.add_to_basket(cleo)
    checkout.start_logged_in()
    checkout.choose_method_and_pay()
    with django_capture_on_commit_callbacks(execute=True):
        assert checkout.place_order().status_code == 302
    oscar_order = OscarOrder.objects.get()

    page = client.get(reverse("customer:order", kwargs={"order_number": oscar_order.number}))

    assert page.status_code == 200
    assert 'class="crosssell-block"' in page.content.decode() and "The Gleaners and I" in page.content.decode()
    assert Impression.objects.filter(placement="order_detail", order__external_id=oscar_order.number).exists()


def test_an_oscar_block_rendered_ahead_is_shown_without_reading_the_order(
    client: Any, oscar_shop: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from crosssell_plugin import recommend

    cleo, gleaners, store = oscar_shop
    # recording the order renders its block ahead
    oscar_order = Checkout(client).buy_as_guest(cleo, "agnes@example.com", django_capture_on_commit_callbacks)
    settings.CROSSSELL = {**settings.CROSSSELL, "MODEL_CHECK_SECONDS": 30}  # as in production
    assert recommend.store_of("oscar", "default") == store and recommend.get_model(store) is not None

    with CaptureQueriesContext(connection) as queries:
        html = render("{% crosssell_block order %}", order=oscar_order)

    assert "The Gleaners and I" in html
    # the only queries are the impressions being written (eager tasks here; a broker takes them otherwise)
    assert [q["sql"] for q in queries.captured_queries if "crosssell_impression" not in q["sql"]] == []
    order = Order.objects.for_store(store).get(external_id=oscar_order.number)
    assert Impression.objects.filter(order=order, placement="thank_you", item__external_id=str(gleaners.pk)).exists()


def test_a_store_created_after_a_lookup_found_nothing_is_found_at_once(db: Any, settings: Any) -> None:
    from crosssell_plugin import recommend

    settings.CROSSSELL = {**settings.CROSSSELL, "MODEL_CHECK_SECONDS": 30}
    assert recommend.store_of("oscar", "late") is None
    late = Store.objects.create(platform="oscar", external_id="late", name="Late", currency="EUR")
    assert recommend.store_of("oscar", "late") == late
    with CaptureQueriesContext(connection) as queries:
        assert recommend.store_of("oscar", "late") == late  # remembered for MODEL_CHECK_SECONDS
    assert queries.captured_queries == []


def test_a_thank_you_page_faster_than_the_worker_records_the_order_and_shows_the_block(
    client: Any, oscar_shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    cleo, gleaners, store = oscar_shop
    checkout = Checkout(client)  # the recording task has not run yet
    number = checkout.buy_as_guest(
        cleo, "agnes@example.com", django_capture_on_commit_callbacks, run_on_commit=False
    ).number
    assert not Order.objects.filter(external_id=number).exists()

    page = client.get(reverse("checkout:thank-you"))

    html = page.content.decode()
    assert page.status_code == 200 and "The Gleaners and I" in html
    order = Order.objects.for_store(store).get(external_id=number)  # recorded by the page's request
    assert order.customer.email == "agnes@example.com" and order.lines.count() == 1
    assert Impression.objects.filter(order=order, placement="thank_you", item__external_id=str(gleaners.pk)).exists()
    shown = Impression.objects.count()

    for task in checkout.queued:  # the worker's recording comes later and changes nothing
        task()
    assert Order.objects.filter(external_id=number).count() == 1
    # nor does the compute_ahead task the page's recording queued: the block shown is kept
    assert render_ahead(order, compute_ahead(order)) is False
    again = client.get(reverse("checkout:thank-you")).content.decode()
    assert block_of(again) == block_of(html)  # the same block and links, cached
    assert Impression.objects.count() == shown


def block_of(page: str) -> str:
    start = page.index('<section class="crosssell-block"')
    return page[start : page.index("</section>", start)]


def test_an_old_order_that_was_never_recorded_is_not_recorded_by_its_page(
    client: Any, oscar_shop: Any, django_capture_on_commit_callbacks: Any
) -> None:
    import time_machine
    from django.utils import timezone

    cleo, _gleaners, store = oscar_shop
    # never recorded (placed before crosssell ran, say)
    oscar_order = Checkout(client).buy_as_guest(
        cleo, "agnes@example.com", django_capture_on_commit_callbacks, run_on_commit=False
    )
    with time_machine.travel(timezone.now() + timedelta(hours=2), tick=False):  # the customer looks later
        assert render('{% crosssell_block order placement="order_detail" %}', order=oscar_order) == ""
    assert not Order.objects.for_store(store).filter(external_id=oscar_order.number).exists()
