"""Request bodies and query strings that are too deep, too large or not JSON, at every endpoint
that reads one: a clear 400/413 naming the problem, never a 500, and nothing written.

The JSON endpoints are the operations with a request body in the committed schema
(docs/openapi.yaml); every DRF view under crosssell's URLs must read bodies with
:class:`crosssell_plugin.api.parsers.JSONBodyParser`. The form endpoints (the unsubscribe page,
Twilio's inbound SMS webhook) read ``request.POST`` through :func:`crosssell_plugin.jsonbody.form`.
Each bad body carries what would otherwise be a valid request (a real click token), so "nothing
written" means something: the same body without its defect records a row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
import yaml
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import strategies as st
from rest_framework.views import APIView

from crosssell_plugin import jsonbody
from crosssell_plugin.api.parsers import JSONBodyParser
from crosssell_plugin.channels.sms_inbound import twilio_signature
from crosssell_plugin.channels.unsubscribe import unsubscribe_token
from crosssell_plugin.models import ApiKey, Customer, CustomerConsent, Impression, InAppMessage, Store

from .conftest import STORE_REF
from .test_api import SCHEMA_FILE
from .test_recommend import add_catalog, buy

pytestmark = pytest.mark.django_db

API = "/crosssell/api/v1/"
PREFIX = "/crosssell/api/v1/"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
AUTH_TOKEN = "s3cr3t-auth-token-0123456789abcdef"
PHONE = "+14155550100"


def nested(depth: int, inner: str = "1") -> str:
    """``inner`` inside ``depth`` arrays, as JSON text."""
    return "[" * depth + inner + "]" * depth


def row_counts() -> dict[str, int]:
    """The number of rows of every crosssell model."""
    return {model.__name__: model.objects.count() for model in apps.get_app_config("crosssell").get_models()}


def json_operations() -> list[str]:
    """The API paths whose operation takes a JSON request body, from the committed schema."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if "requestBody" in operation:
                assert method == "post" and list(operation["requestBody"]["content"]) == [JSON], (path, operation)
                found.append(path.removeprefix(PREFIX))
    return found


#: a valid body for each JSON operation, from the store's real tokens; a new operation needs one here
VALID_BODIES: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "events/click/": lambda tokens: {"token": tokens[0]},
    "events/impressions/": lambda tokens: {"tokens": tokens[:2]},
}
OPERATIONS = json_operations()


@dataclass
class Shop:
    store: Store
    key: str
    tokens: list[str]  # of planned impressions (nothing written until a click or a report)

    def client(self) -> Client:
        return Client(headers={"Authorization": f"Bearer {self.key}"})

    def post(self, path: str, body: str | bytes, content_type: str = JSON) -> Any:
        return self.client().post(API + path, body, content_type=content_type)


@pytest.fixture
def shop(store: Store, settings: Any) -> Iterator[Shop]:
    """A store with a catalogue and one order (recommendations by popularity), an API key and
    the tokens of four planned impressions."""
    settings.CROSSSELL = {**settings.CROSSSELL, "API_RATE": "100000/min"}
    cache.clear()
    add_catalog(store)
    buy(STORE_REF, "o-1", "ann@example.com", ["inception", "interstellar"], 1)
    key = ApiKey.create_key(store, "bodies")[1]
    answer = Client(headers={"Authorization": f"Bearer {key}"}).get(
        API + "recommendations/item/inception/", {"record_impressions": "false"}
    )
    assert answer.status_code == 200
    tokens = [result["token"] for result in answer.json()["results"]]
    assert len(tokens) == 4 and not Impression.objects.exists()
    yield Shop(store, key, tokens)
    cache.clear()


def test_the_json_operations_are_the_event_reports() -> None:
    assert sorted(OPERATIONS) == sorted(VALID_BODIES)


def drf_views(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, type[APIView]]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from drf_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            view = getattr(pattern.callback, "cls", None)
            if isinstance(view, type) and issubclass(view, APIView):
                yield prefix + str(pattern.pattern), view


def test_every_api_view_reads_bodies_with_the_guarded_json_parser() -> None:
    views = dict(drf_views(get_resolver().url_patterns))
    api_views = {route: view for route, view in views.items() if route.startswith("crosssell/api/")}
    assert len(api_views) >= 8, sorted(views)  # recommendations x3, catalogue, events x2, inbox x2
    for route, view in api_views.items():
        if route.endswith("schema/"):  # drf-spectacular's own view: GET only, reads no body
            continue
        assert view.parser_classes == [JSONBodyParser], route


# --- the JSON operations ----------------------------------------------------------------------


@pytest.mark.parametrize("path", OPERATIONS)
def test_the_valid_body_records_rows(shop: Shop, path: str) -> None:
    """The control: without a defect, the bodies used below do write."""
    before = row_counts()
    response = shop.post(path, json.dumps(VALID_BODIES[path](shop.tokens)))
    assert response.status_code == 201, response.content
    assert row_counts() != before


@pytest.mark.parametrize("depth", [65, 1_000, 100_000])
@pytest.mark.parametrize("path", OPERATIONS)
def test_a_deeply_nested_body_is_400_naming_the_nesting(shop: Shop, path: str, depth: int) -> None:
    valid = json.dumps(VALID_BODIES[path](shop.tokens))
    body = valid[:-1] + f', "extra": {nested(depth - 1)}}}'  # the object, and depth - 1 arrays in it
    before = row_counts()

    response = shop.post(path, body)

    assert response.status_code == 400, response.content
    assert response.json() == {"detail": "The JSON body nests deeper than 64 levels."}
    assert row_counts() == before


@pytest.mark.parametrize("path", OPERATIONS)
def test_nesting_up_to_the_limit_is_accepted(shop: Shop, path: str) -> None:
    valid = json.dumps(VALID_BODIES[path](shop.tokens))
    body = valid[:-1] + f', "extra": {nested(63)}}}'
    assert jsonbody.depth(json.loads(body)) == jsonbody.MAX_DEPTH
    assert shop.post(path, body).status_code == 201


@pytest.mark.parametrize("path", OPERATIONS)
def test_a_body_over_the_size_limit_is_413_and_one_at_it_is_read(shop: Shop, path: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    valid = json.dumps(VALID_BODIES[path](shop.tokens))
    padded = valid[:-1] + ', "pad": "'
    at_limit = padded + "x" * (2_000 - len(padded) - 2) + '"}'
    assert len(at_limit.encode()) == 2_000
    before = row_counts()

    response = shop.post(path, at_limit[:-2] + 'x"}')

    assert response.status_code == 413, response.content
    assert response.json() == {"detail": "The body is 2,001 bytes; the limit is 2,000 (DATA_UPLOAD_MAX_MEMORY_SIZE)."}
    assert row_counts() == before
    assert shop.post(path, at_limit).status_code == 201


@pytest.mark.parametrize("path", OPERATIONS)
def test_without_djangos_limit_the_default_limit_still_holds(shop: Shop, path: str, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    valid = json.dumps(VALID_BODIES[path](shop.tokens))
    body = valid[:-1] + ', "pad": "' + "x" * jsonbody.DEFAULT_MAX_BYTES + '"}'
    before = row_counts()

    response = shop.post(path, body)

    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The body is {len(body):,} bytes; the limit is 2,621,440 "
        "(crosssell's default, as DATA_UPLOAD_MAX_MEMORY_SIZE is None)."
    )
    assert row_counts() == before


@pytest.mark.parametrize(
    "defect, detail",
    [
        (lambda body: body[:-1], "The body is not valid JSON: Expecting ',' delimiter"),
        (lambda body: body[:-1] + ', "n": NaN}', "The body is not valid JSON: NaN is not valid JSON."),
        (lambda body: body[:-1] + ', "n": -Infinity}', "The body is not valid JSON: -Infinity is not valid JSON."),
        (lambda body: body[:-1] + ', "n": ' + "9" * 5_000 + "}", "a number has 5,000 digits (at most 4,300)"),
        (lambda body: body.encode() + b"\xff", "The body is not UTF-8 text"),
    ],
    ids=["truncated", "nan", "infinity", "huge-integer", "not-utf8"],
)
@pytest.mark.parametrize("path", OPERATIONS)
def test_a_body_that_is_no_json_is_400_naming_the_problem(
    shop: Shop, path: str, defect: Callable[[str], str | bytes], detail: str
) -> None:
    before = row_counts()

    response = shop.post(path, defect(json.dumps(VALID_BODIES[path](shop.tokens))))

    assert response.status_code == 400, response.content
    assert detail in response.json()["detail"]
    assert row_counts() == before


@pytest.mark.parametrize("content_type", [FORM, "multipart/form-data; boundary=x", "text/plain"])
@pytest.mark.parametrize("path", OPERATIONS)
def test_a_body_that_is_not_json_media_is_415(shop: Shop, path: str, content_type: str) -> None:
    # a form was read by DRF's FormParser: a list index of 5,000 digits reached int() (a 500)
    before = row_counts()
    body = urlencode({"token": shop.tokens[0], "tokens[" + "9" * 5_000 + "]": shop.tokens[0]})

    response = shop.post(path, body, content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"detail": f'Unsupported media type "{content_type}" in request.'}
    assert row_counts() == before


def test_an_operation_that_takes_no_body_ignores_one(shop: Shop) -> None:
    customer = Customer.objects.get(email="ann@example.com")
    message = InAppMessage.objects.create(store=shop.store, customer=customer, title="For you", payload={})
    response = shop.post(f"customers/ann@example.com/messages/{message.pk}/read/", nested(1_000))
    assert response.status_code == 200 and response.json()["read_at"] is not None


def test_a_key_is_checked_before_the_body_is_read(shop: Shop, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = Client().post(API + "events/click/", nested(1_000), content_type=JSON)
    assert response.status_code == 401


# --- query strings ----------------------------------------------------------------------------

GET_PATHS = [
    "catalog/items/",
    "recommendations/item/inception/",
    "recommendations/order/o-1/",
    "recommendations/customer/ann@example.com/",
    "customers/ann@example.com/messages/",
]


@pytest.mark.parametrize("path", GET_PATHS)
def test_too_many_query_parameters_are_a_json_400(shop: Shop, path: str) -> None:
    query = "&".join(f"p{n}=1" for n in range(1_001))
    response = shop.client().get(API + path + "?" + query)
    assert response.status_code == 400
    assert response.json() == {"detail": "The request has more than 1,000 parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS)."}


@pytest.mark.parametrize("path", GET_PATHS)
def test_nested_looking_and_huge_query_parameters_are_no_error(shop: Shop, path: str) -> None:
    query = "a" + "[b]" * 1_000 + "=1&limit[0][0][0]=2&" + "9" * 5_000 + "=9"
    assert shop.client().get(API + path + "?" + query).status_code == 200


#: the query parameters each GET operation reads (others are ignored)
READS = {
    "catalog/items/": {"page", "page_size"},
    "recommendations/item/inception/": {"limit"},
    "recommendations/order/o-1/": {"limit"},
    "recommendations/customer/ann@example.com/": {"limit"},
    "customers/ann@example.com/messages/": {"unread"},
}


@pytest.mark.parametrize("path", GET_PATHS)
def test_a_number_of_5000_digits_in_the_query_is_a_400_where_it_is_read(shop: Shop, path: str) -> None:
    for name in ("limit", "page", "page_size", "unread"):
        response = shop.client().get(API + path, {name: "9" * 5_000})
        if name in READS[path]:
            assert response.status_code == 400 and list(response.json()) == [name], (name, response.content)
        else:
            assert response.status_code == 200, (name, response.content)


def test_a_staff_store_id_of_5000_digits_is_a_400(shop: Shop) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_user("staff", "s@example.com", "pw", is_staff=True))
    raw = "9" * 5_000
    response = client.get(API + "catalog/items/", {"store": raw})
    assert response.status_code == 400 and response.json() == {"store": [f"No store with id {raw!r}."]}


def test_a_message_id_of_5000_digits_is_a_404(shop: Shop) -> None:
    response = shop.client().post(API + "customers/ann@example.com/messages/" + "9" * 5_000 + "/read/")
    assert response.status_code == 404 and response.json() == {"detail": "No such message for this customer."}


def test_the_click_redirects_ignore_any_query(shop: Shop) -> None:
    query = "?" + "&".join(f"p{n}=1" for n in range(1_001)) + "&a" + "[b]" * 1_000 + "=1"
    assert Client().get("/crosssell/r/garbage/" + query).status_code == 400
    assert Client().get("/crosssell/s/garbage/" + query).status_code == 400


# --- form bodies: the unsubscribe page --------------------------------------------------------


def consenting(channel: str) -> Customer:
    """The shop's customer, who granted marketing on ``channel`` at checkout."""
    customer = Customer.objects.get(email="ann@example.com")
    CustomerConsent.objects.create(
        customer=customer, channel=channel, granted=True, source="checkout", recorded_at=timezone.now()
    )
    return customer


@pytest.fixture
def unsubscribe_url(shop: Shop) -> str:
    return f"/crosssell/u/{unsubscribe_token(consenting('email'))}/"


FORM_LIMIT = 10_000  # DATA_UPLOAD_MAX_MEMORY_SIZE in these tests
FORM_DEFECTS = [
    pytest.param(
        lambda: ("List-Unsubscribe=One-Click&pad=" + "x" * FORM_LIMIT, FORM),
        413,
        "The body is {size:,} bytes; the limit is 10,000 (DATA_UPLOAD_MAX_MEMORY_SIZE).",
        id="too-large",
    ),
    pytest.param(
        lambda: ("a=1&" * 1_001, FORM),
        400,
        "The request has more than 1,000 parameters (DATA_UPLOAD_MAX_NUMBER_FIELDS).",
        id="too-many-fields",
    ),
    pytest.param(
        lambda: ("List-Unsubscribe=One-Click", "multipart/form-data"),
        400,
        "The form body cannot be read: Invalid boundary in multipart: None",
        id="broken-multipart",
    ),
    pytest.param(
        lambda: ("List-Unsubscribe=One-Click", "application/x-www-form-urlencoded; charset=latin-1"),
        400,
        "The form body cannot be read: HTTP requests with the 'application/x-www-form-urlencoded' "
        "content type must be UTF-8 encoded.",
        id="not-utf8",
    ),
]


@pytest.mark.parametrize("make, status, message", FORM_DEFECTS)
def test_an_unreadable_unsubscribe_form_names_the_problem_and_unsubscribes_nobody(
    unsubscribe_url: str, settings: Any, make: Callable[[], tuple[str, str]], status: int, message: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = FORM_LIMIT
    body, content_type = make()
    before = row_counts()

    response = Client().post(unsubscribe_url, body, content_type=content_type)

    assert response.status_code == status
    assert response.content.decode() == message.format(size=len(body))
    assert Customer.objects.get(email="ann@example.com").has_marketing_consent("email")
    assert row_counts() == before


def test_a_json_body_to_the_unsubscribe_page_is_no_form_and_unsubscribes(
    unsubscribe_url: str, django_capture_on_commit_callbacks: Any
) -> None:
    """The page reads forms only: any POST with its signed token unsubscribes (as from the link)."""
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(unsubscribe_url, nested(1_000), content_type=JSON)
    assert response.status_code == 200
    assert Customer.objects.get(email="ann@example.com").unsubscribed_at is not None
    assert set(CustomerConsent.objects.values_list("source", flat=True)) == {"unsubscribe link"}


# --- form bodies: Twilio's inbound SMS webhook ------------------------------------------------


@pytest.fixture
def sms_customer(shop: Shop, settings: Any) -> Customer:
    settings.CROSSSELL = {**settings.CROSSSELL, "SMS": {"AUTH_TOKEN": AUTH_TOKEN}}
    customer = consenting("sms")
    customer.phone = PHONE
    customer.save(update_fields=["phone"])
    return customer


def post_sms(body: str, content_type: str = FORM, params: dict[str, str] | None = None) -> Any:
    url = "http://testserver/crosssell/sms/inbound/"
    signature = twilio_signature(AUTH_TOKEN, url, params or {})
    return Client().post(url, body, content_type=content_type, headers={"X-Twilio-Signature": signature})


def test_a_signed_stop_withdraws_consent(sms_customer: Customer) -> None:
    """The control: the webhook below does act on a readable body."""
    params = {"Body": "STOP", "From": PHONE, "MessageSid": "SM1"}
    assert post_sms(urlencode(params), params=params).status_code == 200
    assert sms_customer.has_marketing_consent("sms") is False
    assert CustomerConsent.objects.get(customer=sms_customer, channel="sms").source == "sms STOP"


@pytest.mark.parametrize("make, status, message", FORM_DEFECTS)
def test_an_unreadable_sms_webhook_body_names_the_problem_and_changes_nothing(
    sms_customer: Customer, settings: Any, make: Callable[[], tuple[str, str]], status: int, message: str
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = FORM_LIMIT
    body, content_type = make()
    body = f"Body=STOP&From={PHONE.replace('+', '%2B')}&" + body
    before = row_counts()

    response = post_sms(body, content_type)

    assert response.status_code == status
    assert response.content.decode() == message.format(size=len(body))
    assert sms_customer.has_marketing_consent("sms")
    assert row_counts() == before


# --- fuzzing the JSON operations --------------------------------------------------------------

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn, path: str, tokens: list[str]) -> tuple[str, bool, int]:
    """(a JSON body, whether its fields are valid, how deep it nests): the operation's real
    fields or fuzzed ones, with an extra field of any value nested in 0 to 2,000 arrays."""
    real = draw(st.booleans(), label="real fields")
    fields = VALID_BODIES[path](tokens) if real else {name: draw(json_values) for name in ("token", "tokens")}
    arrays = draw(st.integers(0, 2_000) | st.integers(50, 70), label="arrays")
    inner = draw(json_values, label="extra")
    body = json.dumps(fields, allow_nan=False)[:-1] + f', "extra": {nested(arrays, json.dumps(inner))}}}'
    return body, real, max(jsonbody.depth(fields), 1 + arrays + jsonbody.depth(inner))


@pytest.mark.parametrize("path", OPERATIONS)
def test_fuzzed_bodies_are_answered_as_documented_and_write_only_when_accepted(shop: Shop, path: str) -> None:
    """Any body: 201 when its fields are valid and it nests at most 64 levels, otherwise a 400
    (the nesting named when too deep) and nothing written; never anything else."""
    seen: set[str] = set()

    @hypothesis.settings(
        max_examples=100,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(drawn=bodies(path, shop.tokens))
    def check(drawn: tuple[str, bool, int]) -> None:
        body, real, depth = drawn
        before = row_counts()
        response = shop.post(path, body)
        seen.add("too deep" if depth > jsonbody.MAX_DEPTH else "accepted" if real else "refused")
        if depth > jsonbody.MAX_DEPTH:
            assert (response.status_code, response.json()) == (
                400,
                {"detail": "The JSON body nests deeper than 64 levels."},
            )
        else:
            assert response.status_code == (201 if real else 400), response.content
        if response.status_code != 201:
            assert row_counts() == before

    check()
    assert seen == {"too deep", "accepted", "refused"}  # the examples reached every outcome


@pytest.mark.parametrize("path", OPERATIONS)
def test_fuzzed_bytes_are_a_400_and_write_nothing(shop: Shop, path: str) -> None:
    @hypothesis.settings(
        max_examples=100,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(raw=st.binary(max_size=64) | st.text(alphabet='[]{}":,0-9eE.ntrufalsNI ', max_size=64))
    def check(raw: bytes | str) -> None:
        before = row_counts()
        response = shop.post(path, raw)
        assert response.status_code == 400, (raw, response.content)
        assert row_counts() == before

    check()
