"""Shopify's GraphQL Admin API, faked for the client and offer tests: the fixtures (shaped as
Shopify documents its answers), a clock that only moves when the client sleeps, and helpers that
read back what the client sent."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import responses

from integrations.shopify.client import ShopifyClient

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHOP = "film-club.myshopify.com"
TOKEN = "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"
VERSION = "2026-07"
ENDPOINT = f"https://{SHOP}/admin/api/{VERSION}/graphql.json"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def with_throttle(body: dict[str, Any], *, requested: float, available: float, rate: float) -> dict[str, Any]:
    """``body`` with other figures in its ``extensions.cost``."""
    changed = copy.deepcopy(body)
    cost = changed["extensions"]["cost"]
    cost["requestedQueryCost"] = requested
    cost["throttleStatus"].update(currentlyAvailable=available, restoreRate=rate)
    return changed


class FakeTime:
    """``sleep`` records each wait and moves ``clock`` on by it; nothing really sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def make_client(fake: FakeTime | None = None, **options: Any) -> ShopifyClient:
    fake = fake or FakeTime()
    options.setdefault("access_token", TOKEN)
    return ShopifyClient(
        SHOP, api_version=options.pop("api_version", VERSION), sleep=fake.sleep, clock=fake.clock, **options
    )


def sent(call: Any) -> dict[str, Any]:
    """The JSON a recorded call posted."""
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def operation(call: Any) -> str:
    """The operation name of a recorded GraphQL call (``CrosssellOfferCode``)."""
    match = re.search(r"(?:query|mutation)\s+(\w+)", sent(call)["query"])
    return match.group(1) if match else ""


def ordered() -> responses.RequestsMock:
    """A mock that answers in the order the answers were added, and fails on any other request."""
    return responses.RequestsMock(registry=responses.registries.OrderedRegistry)
