"""Checking the rows of ``items.csv`` and ``orders.csv`` against the store, before anything is written
(see :mod:`.csv_import`)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from ..exceptions import InvalidEvent
from ..models import Item, Order, OrderLine, Store
from .csv_reading import (
    _CHUNK,
    _ITEM_PATHS,
    _ORDER_PATHS,
    ITEM_COLUMNS,
    ITEM_REQUIRED,
    ORDER_COLUMNS,
    ORDER_OPTIONAL_COLUMNS,
    PLACEHOLDER_DOMAIN,
    RAW_SOURCE,
    Problem,
    Row,
    _blanks,
    _chunks,
    _column_error,
    _fits,
    _problems,
    _split_tags,
    _stored_items,
    placeholder_email,
    read_rows,
)

# --- items.csv ------------------------------------------------------------------------------


@dataclass
class ItemCheck:
    """Result of validating items.csv against the store."""

    #: every valid item of the file, by id (existing items merged with the file's columns)
    items: dict[str, CatalogItem] = field(default_factory=dict)
    #: the valid items that are new or differ from the stored ones
    to_write: list[CatalogItem] = field(default_factory=list)
    #: id -> line of its bad row, for ids without a valid row
    rejected: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    file: str = "items.csv"

    @property
    def unchanged(self) -> int:
        return len(self.items) - len(self.to_write)


def check_items(path: Path, store: Store) -> ItemCheck:
    """Validate items.csv, streaming it and looking up existing items a chunk at a time."""
    check = ItemCheck(file=path.name)
    lines: dict[str, int] = {}  # id -> line of the row that defines it
    for rows in _chunks(read_rows(path, ITEM_COLUMNS), _CHUNK):
        stored = _stored_items(store, {r.get("item_id").strip() for r in rows})
        for row in rows:
            _check_item_row(check, row, store.currency, stored, lines)
    return check


def _check_item_row(
    check: ItemCheck,
    row: Row,
    currency: str,
    stored: Mapping[str, CatalogItem | InvalidEvent],
    lines: dict[str, int],
) -> None:
    item_id = row.get("item_id").strip()
    if item_id and item_id in lines:
        check.problems.append(
            Problem(check.file, row.line, "item_id", f"{item_id!r} is already on line {lines[item_id]}")
        )
        return
    previous = stored.get(item_id)
    result = _item_from_row(row, currency, previous if isinstance(previous, CatalogItem) else None)
    if isinstance(result, CatalogItem):
        lines[item_id] = row.line
        check.items[item_id] = result
        if result != previous:
            check.to_write.append(result)
    else:
        check.problems.extend(_problems(check.file, row.line, result))
        if item_id:
            lines[item_id] = row.line
            check.rejected[item_id] = row.line


def _item_from_row(row: Row, currency: str, stored: CatalogItem | None) -> CatalogItem | list[InvalidEvent]:
    """The row as a CatalogItem (an existing item keeps the fields the file has no column for)."""
    errors = row.shape_errors() or _blanks(row, ITEM_REQUIRED)
    if errors:
        return errors
    values: dict[str, Any] = {
        "external_id": row.get("item_id"),
        "title": row.get("title"),
        "kind": row.get("kind").strip(),
        "price": row.get("price"),
        "currency": currency,
        "description": row.get("description"),
        "tags": _split_tags(row.get("tags")),
    }
    try:
        if stored is not None:
            item = dataclasses.replace(stored, **values)  # validates again
        else:
            item = CatalogItem(**values, raw={"source": RAW_SOURCE, "row": row.as_dict()})
        _fits(Item, "price", item.price, "price")
    except InvalidEvent as err:
        return [_column_error(err, _ITEM_PATHS)]
    return item


# --- orders.csv -----------------------------------------------------------------------------


class ItemLookup:
    """Where an order line's item comes from: items.csv, else the store's existing items."""

    def __init__(self, store: Store, items: ItemCheck) -> None:
        self.store = store
        self.items = items
        self.stored: dict[str, CatalogItem | InvalidEvent | None] = {}

    def prefetch(self, ids: Iterable[str]) -> None:
        wanted = {i for i in ids if i and i not in self.items.items and i not in self.stored}
        if wanted:
            found = _stored_items(self.store, wanted)
            self.stored.update({i: found.get(i) for i in wanted})

    def get(self, item_id: str) -> CatalogItem | InvalidEvent:
        if item_id in self.items.items:
            return self.items.items[item_id]
        if item_id in self.items.rejected:
            line = self.items.rejected[item_id]
            return InvalidEvent("item_id", f"unknown item {item_id!r}: its row ({self.items.file}:{line}) is bad")
        stored = self.stored.get(item_id)
        if stored is None:
            return InvalidEvent("item_id", f"unknown item {item_id!r}: not in items.csv nor in the store's catalogue")
        return stored


@dataclass(frozen=True)
class OrderContext:
    ref: StoreRef
    currency: str
    timezone: ZoneInfo | None
    lookup: ItemLookup
    file: str


@dataclass
class OrderCheck:
    """Result of validating orders.csv: the rows by order id, and which orders are bad."""

    context: OrderContext
    groups: dict[str, list[Row]] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def good(self) -> Iterator[tuple[str, list[Row]]]:
        return ((order_id, rows) for order_id, rows in self.groups.items() if order_id not in self.bad)


def check_orders(path: Path, store: Store, lookup: ItemLookup, timezone: ZoneInfo | None) -> OrderCheck:
    """Group orders.csv by order id, then validate each order as the PurchaseEvent it becomes."""
    ref = StoreRef(store.platform, store.external_id)
    check = OrderCheck(OrderContext(ref, store.currency, timezone, lookup, path.name))
    for rows in _chunks(read_rows(path, ORDER_COLUMNS, ORDER_OPTIONAL_COLUMNS), _CHUNK):
        lookup.prefetch(r.get("item_id").strip() for r in rows)
        for row in rows:
            _add_to_group(check, row)
    owners: dict[str, tuple[str, int]] = {}  # placeholder email -> (customer id, line)
    for order_id, rows in check.groups.items():
        result = order_event(order_id, rows, check.context)
        if isinstance(result, PurchaseEvent):
            result = _placeholder_clash(result, rows[0], owners, check.context.file)
        if not isinstance(result, PurchaseEvent):
            check.bad.add(order_id)
            check.problems.extend(result)
    check.problems.sort(key=lambda p: p.line)
    return check


def _add_to_group(check: OrderCheck, row: Row) -> None:
    """File a row under its order id (even a malformed one: it spoils its order); no id is a problem."""
    order_id = row.get("order_id").strip()
    if order_id:
        check.groups.setdefault(order_id, []).append(row)
    else:
        errors = row.shape_errors() or _blanks(row, ["order_id"])
        check.problems.extend(_problems(check.context.file, row.line, errors))


def order_event(order_id: str, rows: Sequence[Row], ctx: OrderContext) -> PurchaseEvent | list[Problem]:
    """The order's PurchaseEvent, or every problem of its rows."""
    problems: list[Problem] = []
    lines: list[PurchaseLine] = []
    first: tuple[Row, PurchaseEvent] | None = None  # the first valid row: the order's customer and time
    head = next((row for row in rows if not row.shape_errors()), rows[0])  # the row others must agree with
    for row in rows:
        result = _row_event(row, ctx)
        errors = [*(result if isinstance(result, list) else []), *_disagreements(row, head, result, first)]
        problems.extend(_problems(ctx.file, row.line, errors))
        if isinstance(result, PurchaseEvent):
            first = first or (row, result)
            lines.append(result.lines[0])
    if problems or first is None:
        return sorted(problems, key=lambda p: p.line)
    raw = {"source": RAW_SOURCE, "rows": [row.as_dict() for row in rows]}
    customer, occurred_at = first[1].customer, first[1].occurred_at
    try:
        event = PurchaseEvent(ctx.ref, order_id, occurred_at, ctx.currency, customer, tuple(lines), raw=raw)
        _fits(Order, "total", event.total, "unit_price")
    except InvalidEvent as err:
        return [Problem(ctx.file, rows[0].line, None, f"order {order_id}: {err}")]
    return event


def _row_event(row: Row, ctx: OrderContext) -> PurchaseEvent | list[InvalidEvent]:
    """The row as a one-line order, so that events.py validates every value of it."""
    errors = row.shape_errors() or _blanks(row, ORDER_COLUMNS)
    if errors:
        return errors
    item = ctx.lookup.get(row.get("item_id").strip())
    ordered_at = _ordered_at(row.get("ordered_at"), ctx.timezone)
    errors = [e for e in (item, ordered_at) if isinstance(e, InvalidEvent)]
    if errors or isinstance(item, InvalidEvent) or isinstance(ordered_at, InvalidEvent):
        return errors
    email = row.get("customer_email").strip()
    paths = {**_ORDER_PATHS, "customer.email": "customer_email" if email else "customer_id"}
    customer_id = row.get("customer_id")
    customer = CustomerData(email=email or placeholder_email(customer_id), external_id=customer_id)
    # Text the CSV layer cannot read as a number or a time goes in as is: events.py refuses it with its message.
    line = PurchaseLine(item, _quantity(row.get("quantity")), row.get("unit_price"))  # type: ignore[arg-type]
    for check in (lambda: _check_line(line, ctx.currency), lambda: customer.validate("customer")):
        try:
            check()
        except InvalidEvent as err:
            errors.append(_column_error(err, paths))
    try:
        event = PurchaseEvent(ctx.ref, row.get("order_id"), ordered_at, ctx.currency, customer, (line,))  # type: ignore[arg-type]
    except InvalidEvent as err:
        renamed = _column_error(err, paths)
        if renamed.field not in {e.field for e in errors}:
            errors.append(renamed)
        return errors
    return errors or event


def _check_line(line: PurchaseLine, currency: str) -> None:
    line.validate("lines[0]", currency)
    _fits(OrderLine, "quantity", line.quantity, "quantity")
    _fits(OrderLine, "unit_price", line.unit_price, "unit_price")


def _quantity(text: str) -> int | str:
    """A whole number as an int; anything else stays text for events.py to refuse."""
    text = text.strip()
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else text


def _ordered_at(text: str, zone: ZoneInfo | None) -> datetime | str | InvalidEvent:
    """An aware datetime, or the text itself when it is no ISO 8601 date-time (events.py says so).

    A naive time is read in ``zone``; without one it is refused. A local time that does not exist
    (skipped by a daylight-saving change) is refused; an ambiguous one is read as the first of the two.
    """
    text = text.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is not None:
        return parsed
    if zone is None:
        return InvalidEvent(
            "ordered_at",
            f"{text!r} has no UTC offset; write one (2026-01-31T12:00:00+01:00) "
            "or pass --timezone to read naive times in a time zone",
        )
    local = parsed.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
        return InvalidEvent("ordered_at", f"{text!r} does not exist in {zone.key} (a daylight-saving gap)")
    return local


def _disagreements(
    row: Row, head: Row, event: PurchaseEvent | list[InvalidEvent], first: tuple[Row, PurchaseEvent] | None
) -> list[InvalidEvent]:
    """Where a row names another customer than the order's first row, or another time (as an
    instant: ``10:00+01:00`` and ``09:00Z`` agree) than its first valid row."""
    errors = []
    if row is not head and not row.shape_errors():
        for column, same in (("customer_id", str.__eq__), ("customer_email", _same_email)):
            mine, theirs = row.get(column).strip(), head.get(column).strip()
            if not same(mine, theirs):
                errors.append(InvalidEvent(column, f"{mine!r} differs from line {head.line} ({theirs!r})"))
    if isinstance(event, PurchaseEvent) and first is not None and event.occurred_at != first[1].occurred_at:
        mine, theirs = row.get("ordered_at").strip(), first[0].get("ordered_at").strip()
        errors.append(InvalidEvent("ordered_at", f"{mine!r} differs from line {first[0].line} ({theirs!r})"))
    return errors


def _same_email(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _placeholder_clash(
    event: PurchaseEvent, row: Row, owners: dict[str, tuple[str, int]], file: str
) -> PurchaseEvent | list[Problem]:
    """Refuse customer ids that differ only in case: their placeholder addresses are the same."""
    customer = event.customer
    if not customer.email.endswith("@" + PLACEHOLDER_DOMAIN):
        return event
    owner, line = owners.setdefault(customer.email, (customer.external_id, row.line))
    if owner == customer.external_id:
        return event
    message = f"{customer.external_id!r} and {owner!r} (line {line}) would be one customer {customer.email!r}"
    return [Problem(file, row.line, "customer_id", message + "; add a customer_email column")]
