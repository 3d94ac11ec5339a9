"""The REST API (/crosssell/api/v1/) on a real database: API keys and staff sessions, store scoping,
every endpoint, validation, pagination, the click event, the rate limit, and the committed OpenAPI
schema. Nothing of ours is mocked."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crosssell_plugin import recommend
from crosssell_plugin.events import StoreRef
from crosssell_plugin.models import ApiKey, Click, Customer, Impression, InAppMessage, Item, ModelVersion, Store
from crosssell_plugin.models.api import hash_key
from crosssell_plugin.tracking import CLICK_SALT, click_token
from crosssell_plugin.training import train_store

from .conftest import STORE_REF
from .test_recommend import add_catalog, buy, seed_history

pytestmark = pytest.mark.django_db

API = "/crosssell/api/v1/"
OTHER_REF = StoreRef("custom", "other-store")
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"


@pytest.fixture(autouse=True)
def isolated(isolated_models: None) -> Iterator[None]:
    """Fresh model storage, no cached model (tests/conftest.py), and no throttle history."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def trained(store: Store) -> ModelVersion:
    add_catalog(store)
    seed_history(STORE_REF)
    for item in Item.objects.for_store(store):
        item.url = f"/films/{item.external_id}/"
        item.save(update_fields=["url"])
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    return version


@pytest.fixture
def other_store(db: Any) -> Store:
    other = Store.objects.create(
        platform=OTHER_REF.platform, external_id=OTHER_REF.external_id, name="Other store", currency="EUR"
    )
    add_catalog(other)
    return other


def key_for(store: Store, name: str = "test") -> str:
    return ApiKey.create_key(store, name)[1]


def api(key: str | None) -> Client:
    return Client(headers={"Authorization": f"Bearer {key}"} if key else {})


# --- authentication ------------------------------------------------------------------------


def test_the_key_is_stored_as_a_hash_only(store: Store) -> None:
    api_key, key = ApiKey.create_key(store, "app")
    api_key.refresh_from_db()
    assert api_key.prefix == key[:8] and api_key.key_hash == hash_key(key)
    assert key not in {api_key.prefix, api_key.key_hash, api_key.name}
    assert len(key) >= 40


@pytest.mark.parametrize(
    "headers, message",
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer cs_wrong-key-0123456789"}, "Invalid API key."),
        ({"Authorization": "Bearer"}, "Malformed Authorization header"),
        ({"Authorization": "Bearer a b"}, "Malformed Authorization header"),
    ],
)
def test_missing_or_wrong_key_is_401_json(store: Store, headers: dict[str, str], message: str) -> None:
    key_for(store)
    response = Client(headers=headers).get(API + "catalog/items/")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_with_the_right_prefix_but_wrong_rest_is_rejected(store: Store) -> None:
    key = key_for(store)
    response = api(key[:8] + "x" * (len(key) - 8)).get(API + "catalog/items/")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid API key."}


def test_revoked_key_is_401_and_last_used_is_recorded(store: Store) -> None:
    api_key, key = ApiKey.create_key(store, "app")
    assert api(key).get(API + "catalog/items/").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    response = api(key).get(API + "catalog/items/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has been revoked."}


def test_a_key_never_sees_another_stores_data(trained: ModelVersion, other_store: Store) -> None:
    store = trained.store
    order = buy(STORE_REF, "mine-1", "ann@example.com", ["inception"], 30)
    buy(OTHER_REF, "theirs-1", "bob@example.com", ["dune"], 30)
    Item.objects.for_store(other_store).filter(external_id="dune").update(title="Other Dune")
    other = api(key_for(other_store))

    for path in (
        f"recommendations/order/{order.external_id}/",
        "recommendations/customer/ann@example.com/",
    ):
        response = other.get(API + path)
        assert response.status_code == 404, path
        assert "detail" in response.json()
    mine = api(key_for(store))
    assert mine.get(API + "recommendations/order/theirs-1/").status_code == 404
    assert mine.get(API + "recommendations/customer/bob@example.com/").status_code == 404
    # the same external id in both stores: each key gets its own store's item
    titles = {i["title"] for i in mine.get(API + "catalog/items/", {"q": "dune"}).json()["results"]}
    assert titles == {"Dune"}
    titles = {i["title"] for i in other.get(API + "catalog/items/", {"q": "dune"}).json()["results"]}
    assert titles == {"Other Dune"}
    recs = other.get(API + "recommendations/item/inception/").json()["results"]
    assert all(Item.objects.filter(store=other_store, external_id=r["item"]["external_id"]).exists() for r in recs)
    assert not Impression.objects.filter(store=store).exclude(order__isnull=True).exists()


def test_staff_session_needs_a_store_param_and_a_customer_only_gets_the_sites_store(trained: ModelVersion) -> None:
    store = trained.store
    user_model = get_user_model()
    staff = user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    plain = user_model.objects.create_user("plain", "plain@example.com", "pw")
    client = Client()
    client.force_login(plain)  # a customer, on a site whose own store (the Oscar store) does not exist here
    response = client.get(API + "catalog/items/", {"store": store.pk})
    assert response.status_code == 403 and "SITE_STORE" in response.json()["detail"]

    client.force_login(staff)
    response = client.get(API + "catalog/items/")
    assert response.status_code == 400 and "store" in response.json()
    assert client.get(API + "catalog/items/", {"store": 999_999}).status_code == 400
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename="view_store"))
    response = client.get(API + "catalog/items/", {"store": store.pk})
    assert response.status_code == 200 and response.json()["count"] == Item.objects.for_store(store).count()
    response = client.get(API + "recommendations/item/inception/", {"store": store.pk, "limit": 2})
    assert response.status_code == 200 and len(response.json()["results"]) == 2


# --- recommendations -----------------------------------------------------------------------


def test_order_recommendations(trained: ModelVersion) -> None:
    store = trained.store
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    response = api(key_for(store)).get(API + f"recommendations/order/{order.external_id}/", {"placement": "app"})

    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == trained.version
    results = body["results"]
    assert 1 <= len(results) <= 4
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    assert "inception" not in {r["item"]["external_id"] for r in results}
    first = results[0]
    assert set(first) == {"item", "score", "reasons", "link", "token", "rank"}
    assert first["link"].endswith(f"/r/{first['token']}/")
    assert set(first["item"]) >= {"external_id", "kind", "title", "price", "currency", "url", "available"}
    assert first["reasons"] and all(isinstance(text, str) for text in first["reasons"])
    assert first["link"].startswith("http://testserver/crosssell/r/")

    impressions = list(Impression.objects.for_store(store).order_by("rank"))
    assert [i.item.external_id for i in impressions] == [r["item"]["external_id"] for r in results]
    assert {i.placement for i in impressions} == {"app"}
    assert {i.order_id for i in impressions} == {order.pk}
    assert {i.customer_id for i in impressions} == {order.customer_id}

    # the link is the real redirect: following it records a click
    redirect = Client().get(first["link"].removeprefix("http://testserver"))
    assert redirect.status_code == 302 and redirect["Location"] == first["item"]["url"]
    assert Click.objects.filter(impression=impressions[0]).count() == 1


def test_order_recommendations_computed_ahead_are_served_without_recomputing(
    trained: ModelVersion, django_capture_on_commit_callbacks: Any
) -> None:
    store = trained.store
    with django_capture_on_commit_callbacks(execute=True):  # recording runs crosssell.compute_ahead
        order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    fresh = [(r.item.external_id, r.reason_texts) for r in recommend.for_order(order, limit=3)]
    with CaptureQueriesContext(connection) as queries:
        response = api(key_for(store)).get(API + f"recommendations/order/{order.external_id}/", {"limit": 3})
    assert response.status_code == 200
    assert [(r["item"]["external_id"], r["reasons"]) for r in response.json()["results"]] == fresh
    assert not [q for q in queries.captured_queries if "crosssell_orderline" in q["sql"]]


def test_customer_recommendations(trained: ModelVersion) -> None:
    store = trained.store
    client = api(key_for(store))
    response = client.get(API + "recommendations/customer/NOLAN0@example.com/", {"limit": 3})
    assert response.status_code == 200
    results = response.json()["results"]
    assert 1 <= len(results) <= 3
    owned = {"inception", "interstellar", "tenet"}
    assert not owned & {r["item"]["external_id"] for r in results}
    assert set(Impression.objects.for_store(store).values_list("placement", flat=True)) == {"api"}
    assert Impression.objects.for_store(store).filter(customer__email="nolan0@example.com").count() == len(results)

    response = client.get(API + "recommendations/customer/nobody@example.com/")
    assert response.status_code == 404 and "detail" in response.json()


def test_item_recommendations_and_unknown_item(trained: ModelVersion) -> None:
    client = api(key_for(trained.store))
    response = client.get(API + "recommendations/item/inception/", {"limit": 2})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2 and "inception" not in {r["item"]["external_id"] for r in results}

    response = client.get(API + "recommendations/item/no-such-item/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No item 'no-such-item' in this store."}
    assert client.get(API + "recommendations/order/no-such-order/").status_code == 404


def test_cold_start_has_a_null_model_version(store: Store) -> None:
    add_catalog(store)
    buy(STORE_REF, "o-1", "ann@example.com", ["inception", "interstellar"], 1)
    response = api(key_for(store)).get(API + "recommendations/item/inception/")
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] is None
    results = body["results"]
    # the one item bought with it first, then the store's other items: the list is always full
    assert [r["item"]["external_id"] for r in results][:1] == ["interstellar"] and len(results) == 4
    assert results[0]["reasons"] == ["Popular right now (1 buyer)"]
    assert "inception" not in {r["item"]["external_id"] for r in results}


@pytest.mark.parametrize("limit", ["0", "51", "-1", "many", "2.5"])
def test_limit_is_validated(trained: ModelVersion, limit: str) -> None:
    client = api(key_for(trained.store))
    for path in ("recommendations/item/inception/", "recommendations/customer/nolan0@example.com/"):
        response = client.get(API + path, {"limit": limit})
        assert response.status_code == 400, path
        assert list(response.json()) == ["limit"] and response.json()["limit"][0]
    assert not Impression.objects.exists()


def test_limit_bounds_are_accepted(trained: ModelVersion) -> None:
    client = api(key_for(trained.store))
    assert len(client.get(API + "recommendations/item/inception/", {"limit": 1}).json()["results"]) == 1
    assert client.get(API + "recommendations/item/inception/", {"limit": 50}).status_code == 200


# --- catalogue -----------------------------------------------------------------------------


def test_catalog_pagination_and_filters(store: Store) -> None:
    for n in range(120):
        Item.objects.create(
            store=store,
            external_id=f"item-{n:03}",
            kind="merch" if n % 3 == 0 else "film",
            title=f"Poster {n:03}" if n % 3 == 0 else f"Film {n:03}",
            price="5.00",
            currency="EUR",
            available=n % 2 == 0,
        )
    client = api(key_for(store))

    page1 = client.get(API + "catalog/items/").json()
    assert page1["count"] == 120 and len(page1["results"]) == 50 and page1["previous"] is None
    assert page1["next"].endswith("/crosssell/api/v1/catalog/items/?page=2")
    page3 = client.get(API + "catalog/items/", {"page": 3}).json()
    assert len(page3["results"]) == 20 and page3["next"] is None
    titles = [i["title"] for i in page1["results"] + client.get(page1["next"]).json()["results"] + page3["results"]]
    assert titles == sorted(titles) and len(set(titles)) == 120
    assert len(client.get(API + "catalog/items/", {"page_size": 500}).json()["results"]) == 120  # capped at 200
    assert len(client.get(API + "catalog/items/", {"page_size": 10}).json()["results"]) == 10
    assert client.get(API + "catalog/items/", {"page": 9}).status_code == 404

    merch = client.get(API + "catalog/items/", {"kind": "merch"}).json()
    assert merch["count"] == 40 and {i["kind"] for i in merch["results"]} == {"merch"}
    available = client.get(API + "catalog/items/", {"available": "true", "kind": "merch"}).json()
    assert available["count"] == 20 and all(i["available"] for i in available["results"])
    unavailable = client.get(API + "catalog/items/", {"available": "false"}).json()
    assert unavailable["count"] == 60 and not any(i["available"] for i in unavailable["results"])
    found = client.get(API + "catalog/items/", {"q": "poster 01"}).json()
    assert [i["title"] for i in found["results"]] == [f"Poster {n}" for n in ("012", "015", "018")]

    response = client.get(API + "catalog/items/", {"kind": "spaceship"})
    assert response.status_code == 400 and "kind" in response.json()
    assert client.get(API + "catalog/items/", {"available": "maybe"}).status_code == 400


# --- impression events ---------------------------------------------------------------------


def post_impressions(key: str, tokens: Any) -> Any:
    return api(key).post(API + "events/impressions/", {"tokens": tokens}, content_type="application/json")


def test_impressions_deferred_by_the_client_are_recorded_when_it_reports_them(trained: ModelVersion) -> None:
    store = trained.store
    key = key_for(store)
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    response = api(key).get(
        API + f"recommendations/order/{order.external_id}/",
        {"limit": 4, "placement": "app", "record_impressions": "false"},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 4 and not Impression.objects.exists()  # fetched, not shown yet

    shown = [results[0]["token"], results[2]["token"]]  # the app showed two of them
    recorded = post_impressions(key, shown)
    assert recorded.status_code == 201
    ids = recorded.json()["impressions"]
    impressions = [Impression.objects.select_related("item").get(pk=pk) for pk in ids]
    assert [(i.item.external_id, i.rank, i.placement) for i in impressions] == [
        (results[0]["item"]["external_id"], 1, "app"),
        (results[2]["item"]["external_id"], 3, "app"),
    ]
    assert {(i.order_id, i.customer_id) for i in impressions} == {(order.pk, order.customer_id)}
    assert impressions[0].score == pytest.approx(results[0]["score"], rel=1e-5)

    again = post_impressions(key, shown)  # a retried report records nothing twice
    assert again.status_code == 201 and again.json() == {"impressions": ids}
    assert Impression.objects.count() == 2

    # a click on a result whose impression was never reported records both
    click = api(key).post(API + "events/click/", {"token": results[1]["token"]}, content_type="application/json")
    assert click.status_code == 201 and Impression.objects.count() == 3


def test_an_impression_report_with_any_bad_token_records_nothing(trained: ModelVersion, other_store: Store) -> None:
    store = trained.store
    order = buy(STORE_REF, "new-1", "new@example.com", ["inception"], 30)
    key = key_for(store)
    results = (
        api(key)
        .get(API + f"recommendations/order/{order.external_id}/", {"record_impressions": "false"})
        .json()["results"]
    )
    buy(OTHER_REF, "theirs-1", "bob@example.com", ["dune", "arrival"], 1)  # something to recommend there
    theirs = (
        api(key_for(other_store))
        .get(API + "recommendations/item/dune/", {"record_impressions": "false"})
        .json()["results"]
    )
    good = results[0]["token"]

    for tokens, errors in (
        ([good, "garbage"], {"1": ["invalid"]}),
        ([good + "x"], {"0": ["invalid"]}),
        ([good, theirs[0]["token"]], {"1": ["invalid"]}),  # another store's token, even a genuine one
    ):
        response = post_impressions(key, tokens)
        assert response.status_code == 400, tokens
        got = response.json()["tokens"]
        assert set(got) == set(errors) and all("invalid" in got[n][0] for n in got)
    assert not Impression.objects.exists()  # neither store's

    for body in ([], [good] * 51, "not a list", None):
        response = post_impressions(key, body)
        assert response.status_code == 400 and "tokens" in response.json(), body
    assert not Impression.objects.exists()


# --- click events --------------------------------------------------------------------------


def test_click_event_records_a_click(trained: ModelVersion) -> None:
    store = trained.store
    item = Item.objects.for_store(store).get(external_id="dune")
    impression = Impression.objects.create(store=store, item=item, placement="api", rank=1, score=1.0)
    client = api(key_for(store))

    response = client.post(API + "events/click/", {"token": click_token(impression)}, content_type="application/json")
    assert response.status_code == 201
    click = Click.objects.get(impression=impression)
    assert response.json() == {"click": click.pk, "impression": impression.pk, "url": "/films/dune/"}
    assert click.user_agent_hash == ""

    response = client.post(
        API + "events/click/",
        {"token": click_token(impression), "user_agent": "Firefox"},
        content_type="application/json",
    )
    assert response.status_code == 201 and Click.objects.filter(impression=impression).count() == 2
    assert Click.objects.filter(impression=impression, user_agent_hash__regex=r"^[0-9a-f]{64}$").count() == 1


def test_click_event_rejects_bad_tokens(trained: ModelVersion, other_store: Store) -> None:
    store = trained.store
    item = Item.objects.for_store(store).get(external_id="dune")
    impression = Impression.objects.create(store=store, item=item, placement="api", rank=1, score=1.0)
    theirs = Impression.objects.create(
        store=other_store, item=Item.objects.for_store(other_store).first(), placement="api", rank=1, score=1.0
    )
    client = api(key_for(store))

    def post(body: dict[str, Any]) -> Any:
        return client.post(API + "events/click/", body, content_type="application/json")

    for token in (
        "garbage",
        click_token(impression) + "x",
        click_token(theirs),
        signing.dumps({"i": 999_999}, salt=CLICK_SALT),
    ):
        response = post({"token": token})
        assert response.status_code == 400, token
        assert "invalid" in response.json()["token"][0]
    response = post({})
    assert response.status_code == 400 and "token" in response.json()
    assert not Click.objects.filter(impression=theirs).exists()


# --- rate limit ----------------------------------------------------------------------------


def test_rate_limit_comes_from_the_setting_and_is_per_key(store: Store, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "API_RATE": "2/min"}
    first, second = api(key_for(store, "a")), api(key_for(store, "b"))
    assert [first.get(API + "catalog/items/").status_code for _ in range(3)] == [200, 200, 429]
    assert "Retry-After" in first.get(API + "catalog/items/")
    assert second.get(API + "catalog/items/").status_code == 200


def test_api_rate_setting_is_checked(settings: Any) -> None:
    from crosssell_plugin.conf import validation_errors

    settings.CROSSSELL = {"API_RATE": "lots"}
    ((check_id, message, hint),) = validation_errors()
    assert check_id == "crosssell.E003" and "API_RATE" in message and "600/min" in hint
    settings.CROSSSELL = {"API_RATE": "20/s"}
    assert validation_errors() == []


# --- key management ------------------------------------------------------------------------


def test_management_command_prints_a_working_key_once(store: Store) -> None:
    out = StringIO()
    call_command("crosssell_api_key", "--store", "custom:test-store", "--name", "mobile app", stdout=out)
    lines = out.getvalue().splitlines()
    key = lines[1]
    api_key = ApiKey.objects.get()
    assert api_key.name == "mobile app" and api_key.store == store and api_key.key_hash == hash_key(key)
    assert api(key).get(API + "catalog/items/").status_code == 200


def test_admin_creates_a_key_shows_it_once_and_revokes(admin_client: Client, store: Store) -> None:
    response = admin_client.post("/admin/crosssell/apikey/add/", {"store": store.pk, "name": "from admin"}, follow=True)
    assert response.status_code == 200
    api_key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"] if "API key is" in str(m)]
    key = shown[0].split("API key is ", 1)[1].split(" ", 1)[0]
    assert hash_key(key) == api_key.key_hash and api_key.prefix == key[:8]
    assert admin_client.get("/admin/crosssell/apikey/").status_code == 200
    assert key not in admin_client.get(f"/admin/crosssell/apikey/{api_key.pk}/change/").content.decode()

    admin_client.post("/admin/crosssell/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}, follow=True)
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api(key).get(API + "catalog/items/").status_code == 401


# --- schema --------------------------------------------------------------------------------


def test_committed_openapi_schema_is_in_sync(tmp_path: Path) -> None:
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated), "--validate", "--fail-on-warn")
    assert generated.read_text() == SCHEMA_FILE.read_text(), (
        "docs/openapi.yaml is out of date: cd example_project && "
        "../.venv/bin/python manage.py spectacular --file ../docs/openapi.yaml --validate"
    )


def test_schema_is_served(store: Store) -> None:
    response = Client().get(API + "schema/")
    assert response.status_code == 200
    assert b"/crosssell/api/v1/recommendations/order/{external_id}/" in response.content


# --- awkward input (found by fuzzing the API: tests/test_api_fuzz.py) -------------------


@pytest.mark.parametrize("path", ["item/{}/", "order/{}/", "customer/{}@example.com/"])
def test_an_id_with_a_nul_character_is_a_json_404_on_every_database(trained: ModelVersion, path: str) -> None:
    # PostgreSQL refuses NUL in a query parameter: the lookup was a 500 there
    response = api(key_for(trained.store)).get(API + "recommendations/" + path.format("in%00ception"))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and "detail" in response.json()


def test_an_email_with_a_slash_is_looked_up_not_the_sites_404_page(trained: ModelVersion) -> None:
    buy(STORE_REF, "slash-1", "o/neil@example.com", ["dune"], 40)
    client = api(key_for(trained.store))
    assert client.get(API + "recommendations/customer/O/Neil@example.com/").status_code == 200
    response = client.get(API + "recommendations/customer/no/body@example.com/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No customer with this email in this store."}


@pytest.mark.parametrize("key", ["cs_\x00abcdefghij", "\x00", "cs_abc\x7fdef", "cs_äbcdefghij", "cs_abc.def"])
def test_a_key_with_characters_no_key_has_is_401_without_a_query(store: Store, key: str) -> None:
    key_for(store)
    response = Client(headers={"Authorization": f"Bearer {key}"}).get(API + "catalog/items/")
    assert response.status_code == 401 and response.json() == {"detail": "Invalid API key."}


@pytest.mark.parametrize("raw", ["²", "\u0661", "1\x00", "99999999999999999999999"])
def test_a_staff_store_param_that_is_no_store_id_is_400(trained: ModelVersion, raw: str) -> None:
    # "²".isdigit() is true but int("²") raises: that was a 500
    client = Client()
    client.force_login(get_user_model().objects.create_user("staff", "s@example.com", "pw", is_staff=True))
    response = client.get(API + "catalog/items/", {"store": raw})
    assert response.status_code == 400 and response.json() == {"store": [f"No store with id {raw!r}."]}


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "last"}, {"page_size": "0"}, {"page_size": "-5"}, {"page_size": "null"}],
    ids=lambda params: "&".join(f"{name}={value}" for name, value in params.items()),
)
def test_catalog_page_and_page_size_must_be_positive_integers(store: Store, params: dict[str, str]) -> None:
    # the schema says integer >= 1; DRF's paginator quietly used its default instead of refusing
    response = api(key_for(store)).get(API + "catalog/items/", params)
    assert response.status_code == 400 and list(response.json()) == list(params)


def test_text_is_taken_as_sent_and_nul_is_refused(trained: ModelVersion) -> None:
    # the schema's minLength/maxLength count what is sent, so nothing is trimmed first
    client = api(key_for(trained.store))
    response = client.get(API + "recommendations/item/inception/", {"placement": " ", "limit": 1})
    assert response.status_code == 200
    assert list(Impression.objects.values_list("placement", flat=True)) == [" "]
    assert client.get(API + "catalog/items/", {"q": " "}).status_code == 200
    nul = ["Null characters are not allowed."]
    assert client.get(API + "catalog/items/", {"q": "a\x00"}).json() == {"q": nul}
    assert client.get(API + "recommendations/item/inception/", {"placement": "\x00"}).json() == {"placement": nul}
    response = client.post(API + "events/click/", {"token": "x\x00"}, content_type="application/json")
    assert response.status_code == 400 and response.json() == {"token": nul}


def test_the_schema_documents_only_the_api_and_each_error_answer() -> None:
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    assert API + "recommendations/item/{external_id}/" in schema["paths"]
    assert all(path.startswith(API) for path in schema["paths"]) and API + "schema/" not in schema["paths"]
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if operation["tags"] == ["inbox"]:
                continue  # crosssell_plugin/api/inbox.py: not yet
            assert {"400", "401", "403", "429"} <= set(operation["responses"]), path
            assert "Retry-After" in operation["responses"]["429"]["headers"], path
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "cookieAuth"}


def test_inbox_answers_json_for_any_message_id_or_email_and_checks_unread(trained: ModelVersion) -> None:
    store = trained.store
    customer = Customer.objects.for_store(store).get(email="nolan0@example.com")
    message = InAppMessage.objects.create(store=store, customer=customer, title="For you")
    client = api(key_for(store))
    inbox = API + "customers/nolan0@example.com/messages/"
    # any text the route takes is this API's JSON 404 (a message_id that is no number was the site's HTML page)
    for url in (f"{inbox}abc/read/", f"{inbox}²/read/", f"{inbox}{10**30}/read/", API + "customers/a/b/messages/"):
        response = client.post(url) if url.endswith("/read/") else client.get(url)
        assert response.status_code == 404 and response["Content-Type"] == "application/json", url
    assert client.post(f"{inbox}{message.pk}/read/").status_code == 200
    # ?unread= is a boolean: anything else was quietly read as false
    assert client.get(inbox, {"unread": "maybe"}).status_code == 400
    assert client.get(inbox, {"unread": "false"}).json()["results"][0]["id"] == message.pk
    assert client.get(inbox, {"unread": "true"}).json() == {"results": [], "unread": 0}


@pytest.mark.parametrize(
    "url", ["customers/%0A/messages/", "recommendations/order/%0A/", "no-such-endpoint/", "catalog/items/%0A/"]
)
def test_any_other_api_url_is_a_json_404(store: Store, url: str) -> None:
    client = api(key_for(store))
    client.handler.enforce_csrf_checks = True  # as a browser-less client meets it
    for response in (client.get(API + url), client.post(API + url + "read/", {})):
        assert response.status_code == 404 and response["Content-Type"] == "application/json"
        assert response.json() == {"detail": "Not found."}


def test_a_variant_named_by_the_caller_is_recorded_with_the_impressions(trained: ModelVersion) -> None:
    store = trained.store
    key = key_for(store)
    response = api(key).get(API + "recommendations/item/inception/", {"limit": 2, "variant": "carousel"})
    assert response.status_code == 200 and len(response.json()["results"]) == 2
    assert list(Impression.objects.for_store(store).values_list("variant", flat=True)) == ["carousel", "carousel"]
    too_long = api(key).get(API + "recommendations/item/inception/", {"variant": "x" * 51})
    assert too_long.status_code == 400 and "variant" in too_long.json()
