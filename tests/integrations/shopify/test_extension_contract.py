"""The contract between the Shopify post-purchase extensions and the endpoint they call.

``integrations/shopify/extensions/contract.schema.json`` is what the endpoint must answer; the
examples beside it must satisfy it; the extensions' own checks (``shared/contract.js``, run by
Node's test runner) must pass, build requests the schema accepts and know the same field names;
and the JSX must read no field the schema does not have, nor translate a string its locales lack.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parents[3]
EXTENSIONS = ROOT / "integrations" / "shopify" / "extensions"
SHARED = EXTENSIONS / "shared"
SCHEMA = json.loads((EXTENSIONS / "contract.schema.json").read_text())
EXAMPLES = sorted((EXTENSIONS / "examples").glob("*.json"))
#: extension folder -> (its JSX entry, its target)
BLOCKS = {
    "thank-you": ("src/ThankYou.jsx", "purchase.thank-you.block.render"),
    "order-status": ("src/OrderStatus.jsx", "customer-account.order-status.block.render"),
}
NODE_MISSING = (
    "Node.js 20 or newer is not installed: the Shopify extensions' contract tests run `node` from PATH. "
    "Install Node.js 20+ (nodejs.org or NodeSource; Debian 12's own nodejs package is 18) and run them again."
)


def validator(definition: str | None = None) -> Draft202012Validator:
    """A validator of the whole schema (a response or an error body) or of one of its ``$defs``."""
    schema = SCHEMA if definition is None else {**SCHEMA, "$ref": f"#/$defs/{definition}"}
    if definition is not None:
        schema = {key: value for key, value in schema.items() if key != "oneOf"}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(instance: Any, definition: str | None = None) -> list[ValidationError]:
    return list(validator(definition).iter_errors(instance))


@functools.cache
def node_executable() -> str | None:
    """``node`` if it is on PATH and 20 or newer (its test runner and ``--input-type``), else None."""
    executable = shutil.which("node")
    if executable is None:
        return None
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30, check=False)
    major = re.match(r"v(\d+)\.", version.stdout)
    return executable if major and int(major.group(1)) >= 20 else None


def node(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    executable = node_executable()
    if executable is None:
        pytest.fail(NODE_MISSING)
    return subprocess.run([executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def node_json(script: str) -> Any:
    """What an ES module run in ``shared/`` prints as JSON."""
    done = node("--input-type=module", "-e", script, cwd=SHARED)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def properties(definition: str) -> list[str]:
    return list(SCHEMA["$defs"][definition]["properties"])


# --- (a) the schema and its examples ----------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_the_three_examples_are_there() -> None:
    assert [path.name for path in EXAMPLES] == ["customer-less-session.json", "empty.json", "order-with-offer.json"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_is_a_valid_response(path: Path) -> None:
    body = json.loads(path.read_text())
    assert errors(body, "response") == []
    assert errors(body) == []


def test_the_examples_cover_an_offer_an_empty_list_and_a_session_without_customer() -> None:
    bodies = {path.stem: json.loads(path.read_text()) for path in EXAMPLES}
    assert any(item["offer"] for item in bodies["order-with-offer"]["items"])
    assert bodies["empty"]["items"] == []
    guest = bodies["customer-less-session"]["items"]
    assert guest and all(item["offer"] is None for item in guest)


def _example() -> dict[str, Any]:
    return json.loads((EXTENSIONS / "examples" / "order-with-offer.json").read_text())


BROKEN: dict[str, tuple[str, Any]] = {
    # id of the case: (where, the bad value); None as the value deletes the field
    "missing item field": ("items.0.reason", None),
    "http url": ("items.0.url", "http://shop.example.com/products/poster"),
    "relative click_url": ("items.0.click_url", "/crosssell/r/abc/"),
    "javascript image_url": ("items.0.image_url", "javascript:alert(1)"),
    "numeric amount": ("items.0.price.amount", 12.0),
    "comma amount": ("items.0.price.amount", "12,00"),
    "negative amount": ("items.0.price.amount", "-1.00"),
    "lowercase currency": ("items.0.price.currency", "eur"),
    "expiry without Z": ("items.0.offer.expires_at", "2026-12-10T23:59:59+01:00"),
    "blank reason": ("items.0.reason", "  "),
    "REST order id": ("order_id", "5829175681234"),
    "OrderIdentity id": ("order_id", "gid://shopify/OrderIdentity/5829175681234"),
    "unknown surface": ("surface", "checkout"),
    "impressions not logged": ("impressions_logged", False),
    "missing heading": ("heading", None),
    "unknown field": ("items.0.score", 0.9),
}


@pytest.mark.parametrize(("where", "value"), BROKEN.values(), ids=BROKEN.keys())
def test_the_schema_refuses_a_broken_response(where: str, value: Any) -> None:
    body = _example()
    *parents, last = where.split(".")
    target: Any = body
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    assert errors(body, "response")
    assert errors(body)


def test_the_error_shape_is_the_core_apis() -> None:
    assert errors({"detail": "No order gid://shopify/Order/1 in this shop."}) == []
    assert errors({"detail": "No order."}, "error") == []
    assert errors({}, "error")
    assert errors({"detail": ""}, "error")


def test_the_schema_names_the_core_api_fields_it_reuses() -> None:
    """The core's REST API and Item model already name these; the contract keeps their names."""
    from crosssell_plugin.api.serializers import ItemSerializer

    item_fields = set(ItemSerializer.Meta.fields)
    assert {"title", "url", "image_url"} <= item_fields & set(properties("item"))
    assert "currency" in item_fields and "currency" in properties("price")


# --- (b) the extensions' own tests ---------------------------------------------------------------


@pytest.mark.slow
def test_the_node_tests_of_the_shared_contract_pass() -> None:
    done = node("--test", "integrations/shopify/extensions/shared/")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 40, output
    assert failed and int(failed.group(1)) == 0, output


# --- (c) one set of field names ------------------------------------------------------------------


@pytest.mark.slow
def test_contract_js_knows_the_schemas_field_names() -> None:
    exported = node_json(
        "import * as c from './contract.js';"
        "console.log(JSON.stringify({response: c.RESPONSE_FIELDS, item: c.ITEM_FIELDS,"
        " price: c.PRICE_FIELDS, offer: c.OFFER_FIELDS, surfaces: c.SURFACES, path: c.ENDPOINT_PATH}))"
    )
    for definition in ("response", "item", "price", "offer"):
        assert exported[definition] == properties(definition), definition
        assert sorted(exported[definition]) == sorted(SCHEMA["$defs"][definition]["required"]), definition
    assert exported["surfaces"] == SCHEMA["$defs"]["surface"]["enum"]
    assert exported["path"] == SCHEMA["$defs"]["request"]["properties"]["path"]["const"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_the_requests_contract_js_builds_are_valid(method: str) -> None:
    built = node_json(
        "import {buildRequest} from './contract.js';"
        "const r = buildRequest({appUrl: 'https://crosssell.example.com/', orderId: 'gid://shopify/OrderIdentity/42',"
        f" surface: 'order_status', locale: 'fr-CA', token: 'aaa.bbb.ccc', method: '{method}'}});"
        "const url = new URL(r.url);"
        "console.log(JSON.stringify({method: r.method, path: url.pathname, headers: r.headers,"
        " query: url.search ? Object.fromEntries(url.searchParams) : null,"
        " body: r.body === undefined ? null : JSON.parse(r.body)}));"
    )
    request = {key: value for key, value in built.items() if value is not None}
    assert errors(request, "request") == []
    parameters = request["query"] if method == "GET" else request["body"]
    assert parameters == {"order_id": "gid://shopify/Order/42", "surface": "order_status", "locale": "fr-CA"}
    broken = copy.deepcopy(request)
    broken["headers"]["Authorization"] = "aaa.bbb.ccc"
    assert errors(broken, "request")


def _jsx(folder: str) -> str:
    """A block's JSX: its entry and the rendering both blocks share (shared/Block.jsx)."""
    return (EXTENSIONS / folder / BLOCKS[folder][0]).read_text() + (EXTENSIONS / "shared" / "Block.jsx").read_text()


def fields_read(source: str) -> dict[str, set[str]]:
    """The answer's fields a block's JSX reads, by the names it gives them: ``recommendations``
    (the answer), ``item`` (each item, ``item.price``) and ``offer`` (an item's offer)."""
    read: dict[str, set[str]] = {"response": set(), "item": set(), "price": set(), "offer": set()}
    for field, sub in re.findall(r"\bitem\.(\w+)(?:\.(\w+))?", source):
        read["item"].add(field)
        if field in {"price", "offer"} and sub:
            read[field].add(sub)
    read["offer"] |= set(re.findall(r"\boffer\.(\w+)", source))
    read["response"] |= set(re.findall(r"\brecommendations\.(\w+)", source))
    return read


@pytest.mark.parametrize("folder", BLOCKS)
def test_the_jsx_reads_only_fields_of_the_schema(folder: str) -> None:
    read = fields_read(_jsx(folder))
    for definition, fields in read.items():
        unknown = fields - set(properties(definition))
        assert not unknown, f"{folder} reads {definition} fields the schema lacks: {sorted(unknown)}"
    # the parse found what the block shows (a pattern that matched nothing would pass the above)
    assert {"id", "title", "image_url", "price", "reason", "offer", "click_url"} <= read["item"]
    assert {"amount", "currency"} <= read["price"]
    assert {"code", "description", "expires_at"} <= read["offer"]
    assert {"heading", "items"} <= read["response"]


def test_fields_read_sees_a_field_the_schema_lacks() -> None:
    read = fields_read("<s-text>{item.subtitle}</s-text>{item.price.formatted}{offer.percent}")
    assert read["item"] == {"subtitle", "price"}
    assert read["price"] == {"formatted"}
    assert read["offer"] == {"percent"}


@pytest.mark.parametrize("folder", BLOCKS)
def test_every_string_the_jsx_translates_is_in_every_locale(folder: str) -> None:
    keys = set(re.findall(r"\bt\('(\w+)'", _jsx(folder)))
    assert {"heading", "offer", "editorError", "editorEmpty"} <= keys
    locales = sorted((EXTENSIONS / folder / "locales").glob("*.json"))
    assert (EXTENSIONS / folder / "locales" / "en.default.json") in locales
    for path in locales:
        strings = json.loads(path.read_text())
        assert set(strings) == keys, path.name
        assert all(isinstance(text, str) and text.strip() for text in strings.values()), path.name
        assert set(re.findall(r"{{(\w+)}}", strings["offer"])) == {"description", "code", "date"}, path.name


@pytest.mark.parametrize("folder", BLOCKS)
def test_each_extension_targets_its_page_with_network_access(folder: str) -> None:
    config = tomllib.loads((EXTENSIONS / folder / "shopify.extension.toml").read_text())
    (extension,) = config["extensions"]
    assert extension["type"] == "ui_extension"
    assert extension["capabilities"]["network_access"] is True
    (targeting,) = extension["targeting"]
    assert (targeting["target"], targeting["module"]) == (BLOCKS[folder][1], f"./{BLOCKS[folder][0]}")
    # the @shopify/ui-extensions release is the one of the API version (2026-07 -> 2026.7.x)
    year, month = config["api_version"].split("-")
    dependencies = json.loads((EXTENSIONS / folder / "package.json").read_text())["dependencies"]
    assert dependencies["@shopify/ui-extensions"] == f">={year}.{int(month)}.0 <{year}.{int(month) + 1}.0"
    assert set(dependencies) == {"@shopify/ui-extensions", "preact", "@preact/signals"}
    assert all(spec.startswith(">=") for spec in dependencies.values()), dependencies
