"""The REST API against its committed schema (docs/openapi.yaml), with requests Schemathesis generates.

Every operation gets the schema's coverage cases (boundaries, empty and huge values, wrong types)
and fuzzed cases, valid and invalid, sent in-process to the real Django application on the test
database, authenticated with a real API key of a store with a trained model. Schemathesis' default
checks then hold for every answer: no 5xx, only documented status codes, content types, headers
and bodies, valid requests accepted and invalid ones refused, and a request without the key
refused. Fuzzed strings and integers are now and then taken from a dictionary of awkward values
(NUL, digits int() refuses, huge numbers, long text), path parameters from ids that exist and
click tokens from real links, so requests also get past the 404 into the recommendation code.

Bounded and deterministic: a fixed seed and at most ``MAX_EXAMPLES`` fuzzed cases per operation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from crosssell_plugin.models import ApiKey, Customer, Impression, InAppMessage, Item, ModelVersion, Store
from crosssell_plugin.tracking import click_url
from crosssell_plugin.training import train_store

from .conftest import STORE_REF
from .test_api import OTHER_REF, SCHEMA_FILE
from .test_recommend import add_catalog, buy, seed_history

MAX_EXAMPLES = 75
#: in-app messages the shop fixture creates with these ids, so that the fuzzed requests can name them
MESSAGE_IDS = {"nolan0@example.com": [900_001, 900_002], "bob@example.com": [900_003]}

AWKWARD_TEXT = [
    "\x00",
    "a\x00b",
    "²",  # str.isdigit() is true, int() refuses it
    "\u0661\u0662",  # Arabic-Indic digits: int() accepts them
    "\u202eevil",
    "\u200b",
    " ",
    "\t\n",
    "%00",
    "%2F..%2F",
    "..",
    "\\",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "Agnès Varda 👍🏽",
    "NaN",
    "-Infinity",
    "1e309",
    "0x1F",
    "9" * 30,
    "x" * 256,  # one more than the id columns hold
    "x" * 5000,
]
AWKWARD_INTEGERS = [0, -1, 2**31, 2**63, -(2**63) - 1, 10**30]


def bind(operation_id: str, dictionaries: dict[str, str]) -> dict[str, Any]:
    """Values for the operation's parameters (``path.<name>``) from these dictionaries, now and then."""
    return {
        "include-operation-id": operation_id,
        "parameters": {
            name: {"dictionary": dictionary, "probability": 0.4} for name, dictionary in dictionaries.items()
        },
    }


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261101,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "dictionaries": {
                "string": {"dictionary": "awkward-text", "probability": 0.15},
                "integer": {"dictionary": "awkward-integers", "probability": 0.15},
            },
        },
        "phases": {"stateful": {"enabled": False}},
        "dictionaries": {
            "awkward-text": {"values": AWKWARD_TEXT},
            "awkward-integers": {"values": AWKWARD_INTEGERS},
            "items": {"values": ["inception", "dune", "editing-2", "mug"]},
            "orders": {"values": ["o-1", "o-17", "o-40", "theirs-1"]},
            "emails": {"values": ["nolan0@example.com", "Denis3@Example.com", "bob@example.com"]},
            "message-ids": {"values": [pk for pks in MESSAGE_IDS.values() for pk in pks]},
        },
        "operations": [
            bind("recommendations_for_item", {"path.external_id": "items"}),
            bind("recommendations_for_order", {"path.external_id": "orders"}),
            bind("recommendations_for_customer", {"path.email": "emails"}),
            bind("customer_messages", {"path.email": "emails"}),
            bind("customer_message_read", {"path.email": "emails", "path.message_id": "message-ids"}),
        ],
    }
)
SCHEMA = schemathesis.openapi.from_path(SCHEMA_FILE, config=CONFIG)
SCHEMA.app = WSGIHandler()  # requests reach the application in-process, through its middleware


@dataclass
class Shop:
    key: str
    tokens: list[str]  # of the links of impressions of the store


@pytest.fixture
def shop(isolated_models: None, settings: Any) -> Iterator[Shop]:
    """A trained store with orders and impressions, another store (never to be seen), and a key."""
    settings.CROSSSELL = {**settings.CROSSSELL, "API_RATE": "100000/min"}  # the limit has its own test
    store = Store.objects.create(platform=STORE_REF.platform, external_id=STORE_REF.external_id, name="Shop")
    Store.objects.create(platform=OTHER_REF.platform, external_id=OTHER_REF.external_id, name="Other shop")
    add_catalog(store)
    seed_history(STORE_REF)
    Item.objects.for_store(store).filter(external_id="dune").update(url="/films/dune/")
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    buy(OTHER_REF, "theirs-1", "bob@example.com", ["dune", "arrival"], 1)
    dune = Item.objects.for_store(store).get(external_id="dune")
    shown = {"item": dune.pk, "external_id": "dune", "title": "Dune", "url": "/films/dune/", "image_url": ""}
    payload = {"recommendations": [{**shown, "price": "9.99", "currency": "EUR", "reasons": ["Popular"]}]}
    for email, pks in MESSAGE_IDS.items():
        customer = Customer.objects.get(email=email)
        for pk in pks:
            InAppMessage.objects.create(
                pk=pk, store=customer.store, customer=customer, title="For you", payload=payload
            )
    impressions = [
        Impression.objects.create(store=store, item=item, placement="api", rank=1, score=1.0)
        for item in Item.objects.for_store(store).filter(external_id__in=["dune", "heat"])
    ]
    cache.clear()
    yield Shop(
        key=ApiKey.create_key(store, "fuzz")[1],
        tokens=[click_url(impression).rstrip("/").rsplit("/", 1)[1] for impression in impressions],
    )
    cache.clear()


@pytest.mark.django_db(transaction=True)
# the Werkzeug test client warns when it sends a cookie larger than browsers keep; sending one is the point
@pytest.mark.filterwarnings("ignore:The 'sessionid' cookie is too large:UserWarning")
@SCHEMA.parametrize()
@SCHEMA.given(data=st.data())
@hypothesis.settings(
    # built once per operation on purpose: the examples read the store and only add impressions and clicks
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
def test_every_answer_is_documented_and_no_input_is_a_server_error(
    case: schemathesis.Case, data: st.DataObject, shop: Shop
) -> None:
    excluded = []
    operation = case.operation.definition.raw["operationId"]
    if operation in ("record_click", "record_impressions"):
        if case.meta.generation.mode.is_positive and data.draw(st.booleans(), label="real tokens"):
            if operation == "record_click":
                case.body["token"] = data.draw(st.sampled_from(shop.tokens), label="token")
            else:
                tokens = st.lists(st.sampled_from(shop.tokens), min_size=1, max_size=50)
                case.body["tokens"] = data.draw(tokens, label="tokens")
        else:
            # any string is a token to the schema, but only our signatures are valid ones: a documented 400
            excluded.append(positive_data_acceptance)
    if operation in ("metrics", "metrics_table"):
        # since <= until <= today ties two parameters and the clock, which the schema cannot say: a documented 400
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers={"Authorization": f"Bearer {shop.key}"}, excluded_checks=excluded)
