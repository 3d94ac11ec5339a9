"""The Shopify GraphQL client against Shopify faked with ``responses``: the request it sends,
cost-based waits, THROTTLED / 429 / 5xx retries, errors, tokens, pagination, bulk operations and
threads."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
import requests
import responses

from crosssell_plugin.exceptions import PlatformAPIError
from integrations.shopify.client import (
    BulkOperation,
    ShopifyAPIError,
    ShopifyAuthError,
    ShopifyBulkOperationFailed,
    ShopifyBulkOperationTimeout,
    ShopifyClient,
    ShopifyThrottled,
    ShopifyUserError,
    join_bulk_lines,
)

from .graphql_fakes import (
    ENDPOINT,
    SHOP,
    TOKEN,
    VERSION,
    FakeTime,
    fixture,
    fixture_bytes,
    make_client,
    ordered,
    sent,
    with_throttle,
)

PRODUCTS = """
query Products($after: String) {
  products(first: 2, after: $after) { nodes { id title handle updatedAt } pageInfo { hasNextPage endCursor } }
}"""
BULK_PRODUCTS = "{ products { edges { node { id title productType variants { edges { node { id sku price } } } } } } }"
RESULT_URL = fixture("graphql_bulk_completed")["data"]["node"]["url"]


# --- the request -----------------------------------------------------------------------------


@responses.activate
def test_a_query_is_posted_to_the_pinned_version_with_the_shops_token_and_timeouts() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_products_page3"))
    data = make_client(timeout=(3.0, 20.0)).execute(PRODUCTS, {"after": None})
    assert data["products"]["nodes"][0]["handle"] == "gift-card"
    request = responses.calls[0].request
    assert request.url == f"https://film-club.myshopify.com/admin/api/{VERSION}/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert sent(responses.calls[0]) == {"query": PRODUCTS, "variables": {"after": None}}
    assert request.req_kwargs["timeout"] == (3.0, 20.0)  # type: ignore[attr-defined]  # recorded by responses


@pytest.mark.parametrize(
    ("shop", "version", "problem"),
    [
        ("film-club.com", VERSION, "myshopify.com"),
        ("https://film-club.myshopify.com", VERSION, "myshopify.com"),
        (SHOP, "2026-06", "quarterly"),
        (SHOP, "latest", "quarterly"),
    ],
)
def test_a_shop_or_version_the_admin_api_does_not_serve_is_refused_at_once(
    shop: str, version: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ShopifyClient(shop, TOKEN, version)


def test_the_client_shows_no_token() -> None:
    client = make_client()
    assert TOKEN not in repr(client) and TOKEN not in str(vars(client))


# --- cost-based throttling -------------------------------------------------------------------


@responses.activate
def test_the_next_run_of_a_query_waits_for_the_points_its_last_run_requested() -> None:
    low = with_throttle(fixture("graphql_products_page3"), requested=212, available=12, rate=100.0)
    responses.post(ENDPOINT, json=low)
    fake = FakeTime()
    client = make_client(fake)
    client.execute(PRODUCTS)
    assert fake.sleeps == []  # nothing known before the first answer
    client.execute(PRODUCTS)
    assert fake.sleeps == [pytest.approx(2.0)]  # (212 requested - 12 available) / 100 restored per second


@responses.activate
def test_time_already_passed_counts_as_restored_points() -> None:
    responses.post(
        ENDPOINT, json=with_throttle(fixture("graphql_products_page3"), requested=212, available=12, rate=100.0)
    )
    fake = FakeTime()
    client = make_client(fake)
    client.execute(PRODUCTS)
    fake.now += 1.5  # 150 points restored meanwhile
    client.execute(PRODUCTS)
    assert fake.sleeps == [pytest.approx(0.5)]


@responses.activate
def test_no_wait_while_enough_points_are_available_and_an_expected_cost_overrides_the_last_one() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_products_page1"))  # 1996 of 2000 available, 52 requested
    fake = FakeTime()
    client = make_client(fake)
    client.execute(PRODUCTS)
    client.execute(PRODUCTS)
    assert fake.sleeps == []
    client.execute(PRODUCTS, expected_cost=2000)  # more than is left: wait for the bucket to refill
    assert fake.sleeps == [pytest.approx((2000 - 1996) / 100.0)]


@responses.activate
def test_threads_sharing_one_client_wait_for_each_others_points() -> None:
    responses.post(
        ENDPOINT, json=with_throttle(fixture("graphql_products_page3"), requested=100, available=0, rate=100.0)
    )
    fake = FakeTime()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            fake.sleeps.append(seconds)  # the clock stays put: every thread reserved at the same moment

    client = ShopifyClient(SHOP, TOKEN, VERSION, sleep=sleep, clock=fake.clock)
    client.execute(PRODUCTS)  # the bucket is empty, each run costs 100 and 100 come back per second
    responses.replace(responses.POST, ENDPOINT, json={"data": {"products": None}})  # answers without cost figures
    threads = [threading.Thread(target=client.execute, args=(PRODUCTS,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fake.sleeps) == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0), pytest.approx(4.0)]


# --- THROTTLED, 429, 5xx, network errors -----------------------------------------------------


def test_throttled_waits_for_the_missing_points_then_retries() -> None:
    fake = FakeTime()
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_throttled"))
        rsps.post(ENDPOINT, json=fixture("graphql_products_page1"))
        data = make_client(fake).execute(PRODUCTS)
        assert len(rsps.calls) == 2
    assert [node["handle"] for node in data["products"]["nodes"]] == ["canvas-tote", "enamel-mug"]
    assert fake.sleeps == [pytest.approx((752 - 666) / 50.0)]


def test_throttled_with_http_429_honours_retry_after() -> None:
    fake = FakeTime()
    with ordered() as rsps:
        rsps.post(ENDPOINT, status=429, json=fixture("graphql_throttled"), headers={"Retry-After": "2.0"})
        rsps.post(ENDPOINT, json=fixture("graphql_products_page1"))
        make_client(fake).execute(PRODUCTS)
    assert fake.sleeps == [2.0]


def test_a_bare_429_honours_retry_after() -> None:
    fake = FakeTime()
    with ordered() as rsps:
        rsps.post(
            ENDPOINT, status=429, body="Exceeded 2 calls per second for api client.", headers={"Retry-After": "4"}
        )
        rsps.post(ENDPOINT, json=fixture("graphql_products_page1"))
        make_client(fake).execute(PRODUCTS)
    assert fake.sleeps == [4.0]


@responses.activate
def test_throttled_every_time_raises_shopify_throttled_after_the_retries() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_throttled"))
    fake = FakeTime()
    with pytest.raises(ShopifyThrottled) as raised:
        make_client(fake, max_retries=2).execute(PRODUCTS)
    assert len(responses.calls) == 3
    assert len(fake.sleeps) == 2
    assert raised.value.codes == ["THROTTLED"] and raised.value.attempts == 3
    assert "gave up after 3 attempts" in str(raised.value)
    assert isinstance(raised.value, PlatformAPIError)


def test_a_5xx_is_retried_with_backoff() -> None:
    fake = FakeTime()
    with ordered() as rsps:
        rsps.post(ENDPOINT, status=502, body="<html>Bad gateway</html>")
        rsps.post(ENDPOINT, status=503, body="")
        rsps.post(ENDPOINT, json=fixture("graphql_products_page3"))
        data = make_client(fake).execute(PRODUCTS)
    assert data["products"]["pageInfo"]["hasNextPage"] is False
    assert fake.sleeps == [1.0, 2.0]


@responses.activate
def test_5xx_until_the_retries_run_out_raises_with_the_status() -> None:
    responses.post(ENDPOINT, status=503, body="Service Unavailable")
    fake = FakeTime()
    with pytest.raises(ShopifyAPIError) as raised:
        make_client(fake, max_retries=3).execute(PRODUCTS)
    assert not isinstance(raised.value, ShopifyThrottled)
    assert raised.value.status_code == 503 and raised.value.shop == SHOP
    assert len(responses.calls) == 4
    assert fake.sleeps == [1.0, 2.0, 4.0]


def test_a_network_error_is_retried() -> None:
    fake = FakeTime()
    with ordered() as rsps:
        rsps.post(ENDPOINT, body=requests.ConnectionError("connection reset by peer"))
        rsps.post(ENDPOINT, json=fixture("graphql_products_page3"))
        make_client(fake).execute(PRODUCTS)
    assert fake.sleeps == [1.0]


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_401_and_403_raise_an_auth_error_at_once(status: int) -> None:
    responses.post(ENDPOINT, status=status, json=fixture("graphql_unauthorized"))
    fake = FakeTime()
    with pytest.raises(ShopifyAuthError) as raised:
        make_client(fake).execute(PRODUCTS)
    assert len(responses.calls) == 1 and fake.sleeps == []
    assert raised.value.status_code == status
    assert "Invalid API key or access token" in str(raised.value)
    assert TOKEN not in str(raised.value)


@responses.activate
def test_graphql_errors_raise_an_api_error_naming_them() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_undefined_field"))
    with pytest.raises(ShopifyAPIError) as raised:
        make_client().execute("query { prodcts(first: 1) { nodes { id } } }")
    assert raised.value.codes == ["undefinedField"]
    assert "Field 'prodcts' doesn't exist on type 'QueryRoot'" in str(raised.value)
    assert len(responses.calls) == 1


# --- tokens ----------------------------------------------------------------------------------


@responses.activate
def test_the_token_provider_is_asked_on_every_request_so_a_refreshed_token_is_used_next() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_products_page3"))
    current = {"token": "shpat_old_token_0001"}
    asked: list[str] = []

    def provider() -> str:
        asked.append(current["token"])
        return current["token"]

    client = make_client(access_token=provider)
    client.execute(PRODUCTS)
    current["token"] = "shpat_refreshed_token_0002"
    client.execute(PRODUCTS)
    assert [call.request.headers["X-Shopify-Access-Token"] for call in responses.calls] == [
        "shpat_old_token_0001",
        "shpat_refreshed_token_0002",
    ]
    assert asked == ["shpat_old_token_0001", "shpat_refreshed_token_0002"]


def test_a_retry_asks_the_provider_again() -> None:
    tokens = iter(["shpat_first_0001", "shpat_second_0002"])
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_throttled"))
        rsps.post(ENDPOINT, json=fixture("graphql_products_page3"))
        make_client(access_token=lambda: next(tokens)).execute(PRODUCTS)
        assert [call.request.headers["X-Shopify-Access-Token"] for call in rsps.calls] == [
            "shpat_first_0001",
            "shpat_second_0002",
        ]


@responses.activate
def test_a_provider_without_a_token_raises_an_auth_error_without_calling_shopify() -> None:
    with pytest.raises(ShopifyAuthError, match="no token"):
        make_client(access_token=lambda: "").execute(PRODUCTS)
    assert len(responses.calls) == 0


@responses.activate
def test_no_token_is_logged_while_retrying_and_failing(caplog: pytest.LogCaptureFixture) -> None:
    responses.post(ENDPOINT, status=503, body="Service Unavailable")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ShopifyAPIError) as raised:
        make_client().execute(PRODUCTS)
    assert "film-club.myshopify.com" in caplog.text  # the retries were logged, naming the shop
    assert TOKEN not in caplog.text and TOKEN not in str(raised.value)


# --- pagination ------------------------------------------------------------------------------


def test_paginate_follows_end_cursors_across_three_pages() -> None:
    pages = [fixture(f"graphql_products_page{n}") for n in (1, 2, 3)]
    with ordered() as rsps:
        for page in pages:
            rsps.post(ENDPOINT, json=page)
        nodes = list(make_client().paginate(PRODUCTS, {"query": "status:active"}, path=("products",)))
        variables = [sent(call)["variables"] for call in rsps.calls]
    assert [node["id"] for node in nodes] == [f"gid://shopify/Product/801100{n}" for n in (1, 2, 3, 4, 5)]
    assert variables == [
        {"query": "status:active"},
        {"query": "status:active", "after": pages[0]["data"]["products"]["pageInfo"]["endCursor"]},
        {"query": "status:active", "after": pages[1]["data"]["products"]["pageInfo"]["endCursor"]},
    ]


@responses.activate
def test_paginate_reads_edges_under_a_nested_path() -> None:
    body = {
        "data": {
            "collection": {
                "products": {
                    "edges": [{"node": {"id": "gid://shopify/Product/8011001"}}],
                    "pageInfo": {"hasNextPage": False, "endCursor": "eyJsYXN0X2lkIjo4MDExMDAxfQ=="},
                }
            }
        }
    }
    responses.post(ENDPOINT, json=body)
    query = """query($id: ID!, $after: String) {
      collection(id: $id) {
        products(first: 50, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
      }
    }"""
    nodes = list(make_client().paginate(query, {"id": "gid://shopify/Collection/77"}, path=("collection", "products")))
    assert nodes == [{"id": "gid://shopify/Product/8011001"}]


def test_paginate_refuses_a_query_without_the_cursor_variable() -> None:
    with pytest.raises(ValueError, match=r"\$after"):
        list(make_client().paginate("{ products(first: 5) { nodes { id } } }"))


@responses.activate
def test_paginate_refuses_a_next_page_without_a_new_cursor() -> None:
    page = fixture("graphql_products_page1")
    responses.post(ENDPOINT, json=page)  # the same page again and again
    with pytest.raises(ShopifyAPIError, match="no new endCursor"):
        list(make_client().paginate(PRODUCTS))
    assert len(responses.calls) == 2


# --- bulk operations -------------------------------------------------------------------------


def test_bulk_run_poll_download_yields_the_jsonl_lines() -> None:
    fake = FakeTime()
    progress: list[tuple[str, int]] = []
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_bulk_run"))
        rsps.post(ENDPOINT, json=fixture("graphql_bulk_running"))
        rsps.post(ENDPOINT, json=fixture("graphql_bulk_completed"))
        rsps.get(RESULT_URL, body=fixture_bytes("graphql_bulk_products.jsonl"))
        client = make_client(fake)
        lines = list(
            client.bulk_query(
                BULK_PRODUCTS, poll_interval=3.0, on_progress=lambda op: progress.append((op.status, op.object_count))
            )
        )
        calls = list(rsps.calls)
    assert sent(calls[0])["variables"] == {"query": BULK_PRODUCTS}
    assert "bulkOperationRunQuery" in sent(calls[0])["query"]
    assert sent(calls[1])["variables"] == {"id": "gid://shopify/BulkOperation/720918"}
    assert progress == [("RUNNING", 3), ("COMPLETED", 7)]
    assert fake.sleeps == [3.0]
    assert len(lines) == 7
    assert lines[0] == {"id": "gid://shopify/Product/8011001", "title": "Canvas tote", "productType": "Bags"}
    assert lines[1]["__parentId"] == "gid://shopify/Product/8011001" and lines[1]["sku"] == "TOTE-NAT"
    download = calls[3].request
    assert download.url == RESULT_URL
    assert "X-Shopify-Access-Token" not in download.headers  # a signed storage URL: the token stays home


@responses.activate
def test_bulk_results_joined_put_each_variant_under_its_product() -> None:
    responses.get(RESULT_URL, body=fixture_bytes("graphql_bulk_products.jsonl"))
    done = BulkOperation.from_node(fixture("graphql_bulk_completed")["data"]["node"])
    products = list(make_client().iter_bulk_results(done, join_children=True))
    assert [p["title"] for p in products] == ["Canvas tote", "Enamel mug", "Gift card"]
    assert [v["sku"] for v in products[0]["__children"]] == ["TOTE-NAT", "TOTE-BLK"]
    assert [v["sku"] for v in products[2]["__children"]] == ["GIFT-50"]


def test_joining_keeps_children_that_come_before_their_parent_and_refuses_orphans() -> None:
    lines = [
        {"id": "gid://shopify/ProductVariant/2", "__parentId": "gid://shopify/Product/1"},
        {"id": "gid://shopify/Product/1"},
    ]
    assert list(join_bulk_lines(lines)) == [{"id": "gid://shopify/Product/1", "__children": [lines[0]]}]
    with pytest.raises(ShopifyAPIError, match="parent not in the file"):
        list(join_bulk_lines([{"id": "gid://shopify/ProductVariant/3", "__parentId": "gid://shopify/Product/9"}]))


def test_a_failed_bulk_operation_raises_with_its_error_code() -> None:
    with ordered() as rsps:
        rsps.post(ENDPOINT, json=fixture("graphql_bulk_run"))
        rsps.post(ENDPOINT, json=fixture("graphql_bulk_failed"))
        with pytest.raises(ShopifyBulkOperationFailed) as raised:
            list(make_client().bulk_query(BULK_PRODUCTS))
        assert len(rsps.calls) == 2  # nothing downloaded
    assert raised.value.operation.status == "FAILED"
    assert raised.value.operation.error_code == "TIMEOUT"
    assert (raised.value.operation.partial_data_url or "").startswith("https://storage.googleapis.com/")
    assert "FAILED (errorCode TIMEOUT)" in str(raised.value)


@responses.activate
def test_a_canceled_bulk_operation_raises() -> None:
    canceled = fixture("graphql_bulk_failed")
    canceled["data"]["node"].update(status="CANCELED", errorCode=None, partialDataUrl=None)
    responses.post(ENDPOINT, json=canceled)
    with pytest.raises(ShopifyBulkOperationFailed, match="ended CANCELED"):
        make_client().wait_for_bulk_operation("gid://shopify/BulkOperation/720918")


@responses.activate
def test_a_bulk_run_refused_raises_the_user_error() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_bulk_run_in_progress"))
    with pytest.raises(ShopifyUserError) as raised:
        make_client().run_bulk_query(BULK_PRODUCTS)
    assert raised.value.codes == ["OPERATION_IN_PROGRESS"]
    assert "input: A bulk query operation for this app and shop is already in progress" in str(raised.value)


@responses.activate
def test_a_completed_bulk_operation_without_a_file_yields_nothing() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_bulk_completed_empty"))
    client = make_client()
    done = client.wait_for_bulk_operation("gid://shopify/BulkOperation/720918")
    assert done.object_count == 0 and list(client.iter_bulk_results(done)) == []
    assert len(responses.calls) == 1


@responses.activate
def test_waiting_past_max_wait_raises_a_timeout() -> None:
    responses.post(ENDPOINT, json=fixture("graphql_bulk_running"))
    fake = FakeTime()
    with pytest.raises(ShopifyBulkOperationTimeout, match="still RUNNING"):
        make_client(fake).wait_for_bulk_operation("gid://shopify/BulkOperation/720918", poll_interval=10, max_wait=25)
    assert fake.sleeps == [10, 10]


@responses.activate
def test_a_line_that_is_not_json_raises_naming_it() -> None:
    responses.get(RESULT_URL, body=b'{"id":"gid://shopify/Product/1"}\n{"id": tr\n')
    with pytest.raises(ShopifyAPIError, match="line 2"):
        list(make_client().iter_bulk_results(RESULT_URL))


# --- two shops, two threads ------------------------------------------------------------------


@responses.activate
def test_two_clients_for_two_shops_in_threads_never_mix_shops_or_tokens() -> None:
    shops = {
        "film-club.myshopify.com": "shpat_film_club_token_01",
        "merch-shop.myshopify.com": "shpat_merch_shop_token_02",
    }
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        host = request.url.split("/")[2]
        with lock:
            seen.append((host, request.headers["X-Shopify-Access-Token"]))
        return 200, {}, json.dumps({"data": {"shop": {"myshopifyDomain": host}}})

    for shop in shops:
        responses.add_callback(responses.POST, f"https://{shop}/admin/api/{VERSION}/graphql.json", callback=answer)
    start = threading.Barrier(len(shops))
    answers: dict[str, list[str]] = {shop: [] for shop in shops}

    def work(shop: str) -> None:
        client = ShopifyClient(shop, shops[shop], VERSION)
        start.wait()
        for _ in range(25):
            answers[shop].append(client.execute("{ shop { myshopifyDomain } }")["shop"]["myshopifyDomain"])

    threads = [threading.Thread(target=work, args=(shop,)) for shop in shops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 50
    assert all(token == shops[host] for host, token in seen)
    assert {host for host, _ in seen} == set(shops)
    assert all(got == [shop] * 25 for shop, got in answers.items())
