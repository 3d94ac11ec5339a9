"""A local fake of Shopify for ``manage.py crosssell_shopify_demo`` (and its test): no network.

:class:`FakeShopify` is a small threaded HTTP server on 127.0.0.1 that answers what the app asks
Shopify during the demo, for any ``*.myshopify.com`` shop (read from the ``Host`` header):

* ``POST /admin/oauth/access_token``: the authorization-code grant, answered with an expiring
  offline token pair when the client id and secret are the app's and the code is one
  :meth:`FakeShopify.authorize` handed out (each used once); ``invalid_grant`` otherwise;
* ``POST /admin/api/<version>/graphql.json`` with the token: the offer-code lookup
  (``codeDiscountNodeByCode``: the codes created so far) and ``discountCodeBasicCreate``; and the
  sync's queries (:mod:`.sync`), which the sync an install starts asks: the shop's details (in
  USD, UTC), no products and no orders (the demo records its own).

:func:`routed_to` sends every request the ``requests`` library makes to a ``*.myshopify.com`` host
to the fake instead, for as long as the ``with`` block lasts (the demo's HTTP calls are made by
:mod:`.auth` and :mod:`.client` through ``requests``); a request to any other host fails.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

SHOP_HOST = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
COST = {
    "requestedQueryCost": 1,
    "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 1999, "restoreRate": 100},
}

_EMPTY_PAGE = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
#: the sync's GraphQL operations -> the data of their answer, for a shop
SYNC_ANSWERS: dict[str, Any] = {
    "CrosssellSyncShop": lambda shop: {
        "shop": {
            "name": shop.removesuffix(".myshopify.com"),
            "currencyCode": "USD",
            "ianaTimezone": "UTC",
            "primaryDomain": {"url": f"https://{shop}"},
        }
    },
    "CrosssellSyncProductsCount": lambda shop: {"productsCount": {"count": 0}},
    "CrosssellSyncProducts": lambda shop: {"products": _EMPTY_PAGE},
    "CrosssellSyncOrders": lambda shop: {"orders": _EMPTY_PAGE},
}


@dataclass
class FakeState:
    api_key: str
    secret: str = field(repr=False)
    #: code -> shop it was handed out for (spent on use)
    codes: dict[str, str] = field(default_factory=dict)
    #: shop -> access token issued
    tokens: dict[str, str] = field(default_factory=dict)
    #: (shop, discount code) -> discount node
    discounts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (method, shop, path, operation) of every request, in order
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints what matters
        return

    def do_POST(self) -> None:
        state = self.server.state
        shop = (self.headers.get("Host") or "").split(":")[0].lower()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        path = urlsplit(self.path).path
        operation = ""
        if isinstance(data, dict) and isinstance(data.get("query"), str):
            found = re.search(r"(?:query|mutation)\s+(\w+)", data["query"])
            operation = found.group(1) if found else ""
        with state.lock:
            state.calls.append(("POST", shop, path, operation))
        if not SHOP_HOST.match(shop):
            self._send(404, {"errors": "Not Found"})
        elif path == "/admin/oauth/access_token":
            self._token(state, shop, data)
        elif re.fullmatch(r"/admin/api/[0-9a-z-]+/graphql\.json", path):
            self._graphql(state, shop, data, operation)
        else:
            self._send(404, {"errors": "Not Found"})

    def _token(self, state: FakeState, shop: str, data: Any) -> None:
        good_app = isinstance(data, dict) and data.get("client_id") == state.api_key
        good_app = good_app and data.get("client_secret") == state.secret
        with state.lock:
            code_shop = state.codes.pop(str(data.get("code")), None) if good_app else None
            if code_shop != shop:
                self._send(400, {"error": "invalid_grant", "error_description": "The code is not valid."})
                return
            token = state.tokens[shop] = "shpat_" + secrets.token_hex(16)
        self._send(
            200,
            {
                "access_token": token,
                "scope": "read_products,read_orders,read_customers,write_discounts",
                "expires_in": 3600,
                "refresh_token": "shprt_" + secrets.token_hex(16),
                "refresh_token_expires_in": 7776000,
            },
        )

    def _graphql(self, state: FakeState, shop: str, data: Any, operation: str) -> None:
        if not state.tokens.get(shop) or self.headers.get("X-Shopify-Access-Token") != state.tokens[shop]:
            self._send(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})
            return
        variables = data.get("variables") or {}
        if operation == "CrosssellOfferCode":
            node = state.discounts.get((shop, str(variables.get("code"))))
            self._send(200, {"data": {"codeDiscountNodeByCode": node}, "extensions": {"cost": COST}})
        elif operation == "CrosssellOfferCodeCreate":
            discount = variables.get("basicCodeDiscount") or {}
            node = {
                "id": f"gid://shopify/DiscountCodeNode/{len(state.discounts) + 1}",
                "codeDiscount": {
                    "__typename": "DiscountCodeBasic",
                    "title": discount.get("title"),
                    "status": "ACTIVE",
                    "startsAt": discount.get("startsAt"),
                    "endsAt": discount.get("endsAt"),
                },
            }
            with state.lock:
                state.discounts[(shop, str(discount.get("code")))] = node
            payload = {"codeDiscountNode": node, "userErrors": []}
            self._send(200, {"data": {"discountCodeBasicCreate": payload}, "extensions": {"cost": COST}})
        elif operation in SYNC_ANSWERS:
            self._send(200, {"data": SYNC_ANSWERS[operation](shop), "extensions": {"cost": COST}})
        else:
            self._send(200, {"errors": [{"message": f"The fake Shopify does not answer {operation or 'this'}."}]})

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeState


class FakeShopify:
    """The fake, serving from a thread while used as a context manager."""

    def __init__(self, api_key: str, secret: str) -> None:
        self.state = FakeState(api_key=api_key, secret=secret)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-shopify", daemon=True)

    @property
    def base_url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> FakeShopify:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def authorize(self, shop: str) -> str:
        """What Shopify does when the merchant approves the install: a one-time code for ``shop``."""
        code = secrets.token_hex(16)
        with self.state.lock:
            self.state.codes[code] = shop
        return code


@contextmanager
def routed_to(fake: FakeShopify) -> Iterator[None]:
    """Requests to ``*.myshopify.com`` go to ``fake`` while the block runs; other hosts fail."""
    original = HTTPAdapter.send
    target = urlsplit(fake.base_url)

    def send(adapter: HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url or "")
        if not SHOP_HOST.match(parts.hostname or ""):
            raise requests.ConnectionError(f"The Shopify demo makes no request to {parts.hostname}.")
        request.headers["Host"] = parts.hostname or ""
        request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
        return original(adapter, request, *args, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        HTTPAdapter.send = original  # type: ignore[method-assign]
