"""The Shopify GraphQL Admin API, on a per-shop :class:`ShopifyClient` (never ShopifyAPI's global session).

A client holds one shop's domain, its token (or a callable returning it) and a pinned API version,
and posts to ``https://{shop}/admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``.

**Threads.** A client is safe to share between threads: it keeps no module-level state, each
thread gets its own ``requests.Session`` (unless one is passed in, which is then shared: pass one
only if it may be), and the shop's query-cost bucket is tracked under a lock, so threads working
for the same shop wait for each other's budget instead of all being throttled. Clients of two
shops share nothing.

**Throttling.** Every answer carries ``extensions.cost``; the client remembers the bucket
(``currentlyAvailable``, ``restoreRate``, ``maximumAvailable``) and the ``requestedQueryCost`` of
each query text, and sleeps before a query that would cost more than is available now. A
``THROTTLED`` error (HTTP 200 or 429) waits for the points to be restored and retries; a 429
honours ``Retry-After``; 5xx answers and network errors are retried with exponential backoff
(1, 2, 4 ... s). All of it is bounded by ``max_retries``; then :class:`ShopifyThrottled` or
:class:`ShopifyAPIError`. A retried mutation may have run once already, so mutations sent
through the client must be idempotent (``offers.py`` looks a code up before creating it).

**Tokens** are read from the provider on every HTTP attempt (an expiring token refreshed by the
caller is used at once) and never logged; 401/403 raise :class:`ShopifyAuthError` (refresh the
token, or mark the shop uninstalled). The signed URL of a bulk result is downloaded without it.

**Bulk operations** (a first full import): :meth:`ShopifyClient.run_bulk_query`, then
:meth:`~ShopifyClient.wait_for_bulk_operation` (polls ``node(id:)``, which every API version
answers, unlike ``currentBulkOperation``, deprecated from 2026-04 and ambiguous once 2026-01 lets
five operations run at once), then :meth:`~ShopifyClient.iter_bulk_results`; or all three with
:meth:`~ShopifyClient.bulk_query`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from crosssell_plugin.exceptions import PlatformAPIError

logger = logging.getLogger(__name__)

PLATFORM = "Shopify"
#: the only hosts the Admin API is served from (custom domains are not)
SHOP_DOMAIN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*\.myshopify\.com$")
#: quarterly versions (``2026-07``) or ``unstable``; another month would silently "fall forward"
API_VERSION = re.compile(r"^(?:\d{4}-(?:01|04|07|10)|unstable)$")

#: (connect, read) seconds
TIMEOUT = (5.0, 30.0)
#: retries of one call after THROTTLED, 429, 5xx or a network error
MAX_RETRIES = 3
BACKOFF_BASE = 1.0
BACKOFF_CAP = 30.0
#: a longer ``Retry-After`` is cut to this (the caller's task can retry later)
MAX_RETRY_AFTER = 60.0
BULK_POLL_INTERVAL = 5.0
#: Shopify stops a bulk query after 10 days; an import should not wait that long
BULK_MAX_WAIT = 6 * 3600.0

BULK_FAILED = frozenset({"FAILED", "CANCELED", "CANCELING", "EXPIRED"})


class ShopifyAPIError(PlatformAPIError):
    """Shopify answered with an error (or not at all). ``errors`` holds the GraphQL errors, if any."""

    def __init__(
        self,
        message: str,
        *,
        shop: str,
        status_code: int | None = None,
        response_text: str = "",
        errors: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.shop = shop
        self.errors = [dict(error) for error in errors]
        self.attempts = 1
        super().__init__(message, platform=PLATFORM, status_code=status_code, response_text=response_text)

    @property
    def codes(self) -> list[str]:
        """The error codes (``extensions.code`` of GraphQL errors, ``code`` of user errors)."""
        return [code for error in self.errors if (code := _error_code(error))]

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} [gave up after {self.attempts} attempts]" if self.attempts > 1 else text


class ShopifyAuthError(ShopifyAPIError):
    """401/403: the token is invalid, expired or lacks a scope. Refresh it, or mark the shop uninstalled."""


class ShopifyThrottled(ShopifyAPIError):
    """Shopify kept throttling (``THROTTLED`` or 429) after every retry."""


class ShopifyUserError(ShopifyAPIError):
    """A mutation answered ``userErrors``: ``errors`` holds them (``field``, ``message``, ``code``)."""

    def __init__(self, mutation: str, user_errors: Sequence[Mapping[str, Any]], *, shop: str) -> None:
        self.mutation = mutation
        described = "; ".join(describe_user_error(error) for error in user_errors)
        super().__init__(f"Shopify {mutation} refused the input for {shop}: {described}", shop=shop, errors=user_errors)


class ShopifyBulkOperationFailed(ShopifyAPIError):
    """A bulk operation ended FAILED, CANCELED or EXPIRED; ``operation`` has its ``error_code``."""

    def __init__(self, operation: BulkOperation, *, shop: str) -> None:
        self.operation = operation
        partial = "; partial data at partial_data_url" if operation.partial_data_url else ""
        super().__init__(
            f"Shopify bulk operation {operation.id} for {shop} ended {operation.status} "
            f"(errorCode {operation.error_code or 'none'}){partial}",
            shop=shop,
        )


class ShopifyBulkOperationTimeout(ShopifyAPIError, TimeoutError):
    """A bulk operation was still running when ``max_wait`` ran out (poll it again later by id)."""


def describe_user_error(error: Mapping[str, Any]) -> str:
    """``basicCodeDiscount.code: Code must be unique (TAKEN)``."""
    field = error.get("field")
    where = ".".join(str(part) for part in field) if isinstance(field, list) and field else "input"
    code = error.get("code")
    return f"{where}: {error.get('message') or 'rejected'}" + (f" ({code})" if code else "")


def _error_list(errors: Any) -> list[Mapping[str, Any]]:
    """GraphQL ``errors`` as a list of objects (a 401 answers ``{"errors": "[API] Invalid ..."}``)."""
    if not errors:
        return []
    items = errors if isinstance(errors, list) else [errors]
    return [error if isinstance(error, Mapping) else {"message": str(error)} for error in items]


def _error_code(error: Mapping[str, Any]) -> str | None:
    extensions = error.get("extensions")
    code = extensions.get("code") if isinstance(extensions, Mapping) else error.get("code")
    return code if isinstance(code, str) else None


@dataclass(frozen=True)
class BulkOperation:
    """A bulk operation as Shopify reports it (counts are ``UnsignedInt64`` strings on the wire)."""

    id: str
    status: str
    error_code: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    url: str | None = None
    partial_data_url: str | None = None

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> BulkOperation:
        return cls(
            id=str(node["id"]),
            status=str(node.get("status") or "CREATED"),
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            root_object_count=int(node.get("rootObjectCount") or 0),
            file_size=int(node["fileSize"]) if node.get("fileSize") is not None else None,
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
        )


BULK_FIELDS = "id status errorCode objectCount rootObjectCount fileSize url partialDataUrl"
RUN_BULK_QUERY = f"""
mutation CrosssellBulkQuery($query: String!) {{
  bulkOperationRunQuery(query: $query) {{
    bulkOperation {{ {BULK_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}"""
BULK_OPERATION = f"""
query CrosssellBulkOperation($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {BULK_FIELDS} }} }}
}}"""


class _Bucket:
    """This shop's query-cost bucket as Shopify last reported it, restored over time, minus what
    threads have reserved since. Shared by the threads of one client, under a lock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._maximum = 0.0
        self._available: float | None = None
        self._rate = 0.0
        self._at = 0.0
        self._costs: dict[str, float] = {}

    def reserve(self, query: str, expected_cost: float | None) -> float:
        """Seconds to wait before sending ``query``; its cost is taken from the bucket now."""
        with self._lock:
            cost = expected_cost if expected_cost is not None else self._costs.get(query)
            if cost is None or self._available is None or self._rate <= 0:
                return 0.0
            now = self._clock()
            level = min(self._maximum, self._available + self._rate * (now - self._at))
            cost = min(cost, self._maximum)
            self._available, self._at = level - cost, now
            return max(0.0, (cost - level) / self._rate)

    def observe(self, query: str, cost: Any) -> None:
        """Take Shopify's figures from an answer's ``extensions.cost``."""
        if not isinstance(cost, Mapping) or not isinstance(cost.get("throttleStatus"), Mapping):
            return
        status = cost["throttleStatus"]
        try:
            maximum, available = float(status["maximumAvailable"]), float(status["currentlyAvailable"])
            rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            self._maximum, self._available, self._rate, self._at = maximum, available, rate, self._clock()
            requested = cost.get("requestedQueryCost")
            if isinstance(requested, int | float) and (query in self._costs or len(self._costs) < 512):
                self._costs[query] = float(requested)


class _Retry(Exception):
    """An attempt that may be repeated: after ``retry_after`` s, the cost-based wait, or backoff."""

    def __init__(self, error: ShopifyAPIError, *, retry_after: float | None = None, throttled: bool = False) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.throttled = throttled


class ShopifyClient:
    """One shop's GraphQL Admin API. See the module docstring for threads, throttling and tokens.

    ``access_token`` is the token, or a callable returning the current one (called per request).
    ``sleep`` and ``clock`` are injectable so waits can be observed instead of slept.
    """

    def __init__(
        self,
        shop_domain: str,
        access_token: str | Callable[[], str],
        api_version: str,
        *,
        timeout: float | tuple[float, float] = TIMEOUT,
        session: requests.Session | None = None,
        max_retries: int = MAX_RETRIES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(shop_domain, str) or not SHOP_DOMAIN.match(shop_domain):
            raise ValueError(f"shop_domain must be the shop's {{handle}}.myshopify.com host, not {shop_domain!r}")
        if not isinstance(api_version, str) or not API_VERSION.match(api_version):
            raise ValueError(f"api_version must be a quarterly YYYY-MM (2026-07) or 'unstable', not {api_version!r}")
        if isinstance(access_token, str):
            if not access_token:
                raise ValueError("access_token is empty")
            token = access_token
            self._token_provider: Callable[[], str] = lambda: token
        elif callable(access_token):
            self._token_provider = access_token
        else:
            raise TypeError("access_token must be a token string or a callable returning one")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.shop_domain = shop_domain.lower()
        self.api_version = api_version
        self.endpoint = f"https://{self.shop_domain}/admin/api/{api_version}/graphql.json"
        self.timeout = timeout
        self.max_retries = max_retries
        self._sleep = sleep
        self._clock = clock
        self._bucket = _Bucket(clock)
        self._shared_session = session
        self._local = threading.local()
        self._own_sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ShopifyClient {self.shop_domain} {self.api_version}>"

    def __enter__(self) -> ShopifyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the sessions this client opened (a session passed in is left to its owner)."""
        with self._sessions_lock:
            sessions, self._own_sessions = self._own_sessions, []
        for session in sessions:
            session.close()

    # --- one GraphQL call ------------------------------------------------------------------

    def execute(
        self, query: str, variables: Mapping[str, Any] | None = None, *, expected_cost: float | None = None
    ) -> dict[str, Any]:
        """Run ``query`` and return its ``data``; ``expected_cost`` overrides the remembered cost."""
        data = self._request(query, variables, expected_cost).get("data")
        return data if isinstance(data, dict) else {}

    def _request(self, query: str, variables: Mapping[str, Any] | None, expected_cost: float | None) -> dict[str, Any]:
        payload = {"query": query, "variables": dict(variables or {})}
        wait = self._bucket.reserve(query, expected_cost)
        failure: ShopifyAPIError | None = None
        attempt = 0
        while True:
            if wait > 0:
                logger.info("Shopify %s: waiting %.2f s for the API (%s)", self.shop_domain, wait, _reason(failure))
                self._sleep(wait)
            try:
                return self._attempt(query, payload)
            except _Retry as retry:
                failure = retry.error
                if attempt >= self.max_retries:
                    failure.attempts = attempt + 1
                    logger.warning(
                        "Shopify %s: giving up after %d attempts: %s", self.shop_domain, attempt + 1, failure
                    )
                    raise failure from retry.__cause__
                wait = self._retry_wait(retry, query, expected_cost, attempt)
                attempt += 1

    def _retry_wait(self, retry: _Retry, query: str, expected_cost: float | None, attempt: int) -> float:
        if retry.retry_after is not None:
            return retry.retry_after
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2.0**attempt)
        if retry.throttled:
            return self._bucket.reserve(query, expected_cost) or backoff
        return backoff

    def _attempt(self, query: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._session().post(self.endpoint, json=payload, headers=self._headers(), timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as err:
            error = ShopifyAPIError(
                f"Shopify did not answer for {self.shop_domain}: {type(err).__name__}", shop=self.shop_domain
            )
            raise _Retry(error) from err
        status = response.status_code
        if status in (401, 403):
            raise self._error(ShopifyAuthError, f"Shopify refused the token for {self.shop_domain}", response)
        if status == 429:
            body = _json_or_none(response)
            self._bucket.observe(query, _cost(body))
            error = self._error(ShopifyThrottled, f"Shopify throttled {self.shop_domain} (HTTP 429)", response)
            raise _Retry(error, retry_after=_retry_after(response.headers.get("Retry-After")), throttled=True)
        if status >= 500:
            raise _Retry(self._error(ShopifyAPIError, f"Shopify failed for {self.shop_domain}", response))
        if status >= 400:
            raise self._error(ShopifyAPIError, f"Shopify rejected the request for {self.shop_domain}", response)
        return self._body(query, response)

    def _body(self, query: str, response: requests.Response) -> dict[str, Any]:
        body = _json_or_none(response)
        if not isinstance(body, dict):
            raise self._error(
                ShopifyAPIError, f"Shopify answered {self.shop_domain}'s query with no JSON object", response
            )
        self._bucket.observe(query, _cost(body))
        errors = body.get("errors")
        if not errors:
            return body
        errors = _error_list(errors)
        if any(_error_code(error) == "THROTTLED" for error in errors):
            raise _Retry(
                ShopifyThrottled(f"Shopify throttled {self.shop_domain}", shop=self.shop_domain, errors=errors),
                throttled=True,
            )
        messages = "; ".join(_describe_error(error) for error in errors)
        raise ShopifyAPIError(
            f"Shopify GraphQL error for {self.shop_domain}: {messages}", shop=self.shop_domain, errors=errors
        )

    def _error(self, kind: type[ShopifyAPIError], message: str, response: requests.Response) -> ShopifyAPIError:
        body = _json_or_none(response)
        errors = _error_list(body.get("errors")) if isinstance(body, dict) else []
        return kind(
            message,
            shop=self.shop_domain,
            status_code=response.status_code,
            response_text=response.text[:500],
            errors=errors,
        )

    def _headers(self) -> dict[str, str]:
        token = self._token_provider()
        if not isinstance(token, str) or not token:
            raise ShopifyAuthError(
                f"the token provider returned no token for {self.shop_domain}", shop=self.shop_domain
            )
        return {"X-Shopify-Access-Token": token, "Content-Type": "application/json", "Accept": "application/json"}

    def _session(self) -> requests.Session:
        if self._shared_session is not None:
            return self._shared_session
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._sessions_lock:
                self._own_sessions.append(session)
        return session

    # --- cursor pagination -----------------------------------------------------------------

    def paginate(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        path: Sequence[str] = ("products",),
        *,
        cursor_variable: str = "after",
        expected_cost: float | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield the nodes of the connection at ``path`` in ``data``, page after page.

        The query declares ``$after: String`` (or ``cursor_variable``), passes it to the connection
        and selects ``pageInfo { hasNextPage endCursor }`` with ``nodes`` or ``edges { node }``.
        """
        if f"${cursor_variable}" not in query:
            raise ValueError(
                f"the query must declare ${cursor_variable}: String and pass it to the connection as after:"
            )
        if isinstance(path, str) or not path:
            raise ValueError("path must be a non-empty sequence of field names, e.g. ('products',)")
        page_variables = dict(variables or {})
        seen: set[str] = set()
        while True:
            connection = _dig(self.execute(query, page_variables, expected_cost=expected_cost), path)
            if connection is None:
                return
            yield from _nodes(connection, path)
            info = connection.get("pageInfo")
            if not isinstance(info, Mapping):
                raise ValueError(f"select pageInfo {{ hasNextPage endCursor }} on {'.'.join(path)} to paginate it")
            if not info.get("hasNextPage"):
                return
            cursor = info.get("endCursor")
            if not isinstance(cursor, str) or not cursor or cursor in seen:
                raise ShopifyAPIError(
                    f"Shopify said {'.'.join(path)} has a next page but gave no new endCursor ({cursor!r})",
                    shop=self.shop_domain,
                )
            seen.add(cursor)
            page_variables[cursor_variable] = cursor

    # --- bulk operations -------------------------------------------------------------------

    def run_bulk_query(self, query: str) -> BulkOperation:
        """Start ``bulkOperationRunQuery``; userErrors (e.g. one already running) raise ShopifyUserError."""
        payload = self.execute(RUN_BULK_QUERY, {"query": query}).get("bulkOperationRunQuery") or {}
        if payload.get("userErrors"):
            raise ShopifyUserError("bulkOperationRunQuery", payload["userErrors"], shop=self.shop_domain)
        if not isinstance(payload.get("bulkOperation"), Mapping):
            raise ShopifyAPIError(
                f"bulkOperationRunQuery returned no operation for {self.shop_domain}", shop=self.shop_domain
            )
        return BulkOperation.from_node(payload["bulkOperation"])

    def bulk_operation(self, operation_id: str) -> BulkOperation:
        """The operation's current state (``node(id:)``)."""
        node = self.execute(BULK_OPERATION, {"id": operation_id}).get("node")
        if not isinstance(node, Mapping) or "id" not in node:
            raise ShopifyAPIError(f"no bulk operation {operation_id} on {self.shop_domain}", shop=self.shop_domain)
        return BulkOperation.from_node(node)

    def wait_for_bulk_operation(
        self,
        operation_id: str,
        *,
        poll_interval: float = BULK_POLL_INTERVAL,
        max_wait: float = BULK_MAX_WAIT,
        on_progress: Callable[[BulkOperation], None] | None = None,
    ) -> BulkOperation:
        """Poll until COMPLETED (returned); FAILED/CANCELED/EXPIRED raise ShopifyBulkOperationFailed.

        ``on_progress`` gets every polled state (``object_count`` grows while it runs).
        """
        started = self._clock()
        while True:
            operation = self.bulk_operation(operation_id)
            if on_progress is not None:
                on_progress(operation)
            if operation.status == "COMPLETED":
                return operation
            if operation.status in BULK_FAILED:
                raise ShopifyBulkOperationFailed(operation, shop=self.shop_domain)
            if self._clock() - started + poll_interval > max_wait:
                raise ShopifyBulkOperationTimeout(
                    f"bulk operation {operation_id} for {self.shop_domain} still {operation.status} "
                    f"after {max_wait:.0f} s; poll it again with bulk_operation()",
                    shop=self.shop_domain,
                )
            self._sleep(poll_interval)

    def iter_bulk_results(
        self, source: BulkOperation | str, *, join_children: bool = False
    ) -> Iterator[dict[str, Any]]:
        """The JSONL result of a completed operation (or its URL), streamed line by line.

        By default each line is yielded as Shopify wrote it: a nested connection's objects are
        lines of their own with ``__parentId`` naming their parent. ``join_children=True`` reads
        the whole file first (Shopify does not promise children follow their parent) and yields
        only the top-level objects, each child appended to its parent's ``__children`` list.
        """
        url = source.url if isinstance(source, BulkOperation) else source
        if url is None:  # a completed operation that matched nothing has no file
            return
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ValueError(f"a bulk result URL is an https:// URL, not {url!r}")
        lines = self._jsonl(url)
        yield from join_bulk_lines(lines, shop=self.shop_domain) if join_children else lines

    def bulk_query(
        self,
        query: str,
        *,
        join_children: bool = False,
        poll_interval: float = BULK_POLL_INTERVAL,
        max_wait: float = BULK_MAX_WAIT,
        on_progress: Callable[[BulkOperation], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Run ``query`` in bulk, wait for it, and yield its result lines (see iter_bulk_results)."""
        operation = self.run_bulk_query(query)
        done = self.wait_for_bulk_operation(
            operation.id, poll_interval=poll_interval, max_wait=max_wait, on_progress=on_progress
        )
        yield from self.iter_bulk_results(done, join_children=join_children)

    def _jsonl(self, url: str) -> Iterator[dict[str, Any]]:
        # a signed storage URL: the shop's token must not travel with it
        with self._session().get(url, stream=True, timeout=self.timeout) as response:
            if response.status_code != 200:
                raise ShopifyAPIError(
                    f"the bulk result of {self.shop_domain} could not be downloaded",
                    shop=self.shop_domain,
                    status_code=response.status_code,
                    response_text=response.text[:500],
                )
            for number, line in enumerate(response.iter_lines(), start=1):
                if line.strip():
                    yield _jsonl_object(line, number, self.shop_domain)


def join_bulk_lines(lines: Iterable[dict[str, Any]], *, shop: str = "") -> Iterator[dict[str, Any]]:
    """Nest bulk result lines: each line with ``__parentId`` goes into its parent's ``__children``.

    Yields the top-level objects in file order; a line whose parent is not in the file raises
    ShopifyAPIError (a truncated file) rather than being dropped.
    """
    by_id: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    for line in lines:
        if isinstance(line.get("id"), str):
            by_id[line["id"]] = line
        (children if "__parentId" in line else roots).append(line)
    for child in children:
        parent = by_id.get(child["__parentId"])
        if parent is None:
            raise ShopifyAPIError(
                f"{shop} bulk result line {child.get('id')!r} names a parent not in the file", shop=shop
            )
        parent.setdefault("__children", []).append(child)
    yield from roots


def _jsonl_object(line: bytes, number: int, shop: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except ValueError as err:
        raise ShopifyAPIError(f"line {number} of {shop}'s bulk result is not JSON", shop=shop) from err
    if not isinstance(obj, dict):
        raise ShopifyAPIError(f"line {number} of {shop}'s bulk result is not a JSON object", shop=shop)
    return obj


def _dig(data: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any] | None:
    value: Any = data
    for depth, key in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(f"the response has no {'.'.join(path[: depth + 1])}: check path against the query")
        value = value[key]
    if value is not None and not isinstance(value, Mapping):
        raise ValueError(f"{'.'.join(path)} is not a connection")
    return value


def _nodes(connection: Mapping[str, Any], path: Sequence[str]) -> Iterator[dict[str, Any]]:
    if isinstance(connection.get("nodes"), list):
        yield from connection["nodes"]
    elif isinstance(connection.get("edges"), list):
        yield from (edge["node"] for edge in connection["edges"])
    else:
        raise ValueError(f"select nodes {{ ... }} or edges {{ node {{ ... }} }} on {'.'.join(path)}")


def _cost(body: Any) -> Any:
    extensions = body.get("extensions") if isinstance(body, Mapping) else None
    return extensions.get("cost") if isinstance(extensions, Mapping) else None


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (``2.0``) or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def _describe_error(error: Mapping[str, Any]) -> str:
    code = _error_code(error)
    return f"{error.get('message') or 'error'}" + (f" ({code})" if code else "")


def _reason(failure: ShopifyAPIError | None) -> str:
    if failure is None:
        return "query cost above the points available"
    return failure.codes[0] if failure.codes else f"HTTP {failure.status_code}" if failure.status_code else "no answer"
