"""Load a store's past catalogue and order history from CSV files (``manage.py crosssell_import``).

Two files, both UTF-8 (a byte-order mark is fine), comma-separated, header on line 1, header
names exactly as below (a missing or unknown column stops the import before anything is read):

``items.csv``: ``item_id,title,kind,price,description,tags``
    ``kind`` is one of film, series, episode, course, module, merch, bundle, subscription, product;
    ``price`` is a decimal string in the store's currency (``9.99``; ``9.999`` is refused in EUR);
    ``tags`` are separated by ``|``. ``description`` and ``tags`` may be blank. An item already in
    the store keeps everything the file has no column for (genres, people, parent, raw payload...).

``orders.csv``: ``order_id,customer_id,item_id,ordered_at,quantity,unit_price[,customer_email]``
    One row per order line; the rows of one order share ``order_id`` (and must agree on
    ``customer_id``, ``ordered_at`` and ``customer_email``). ``ordered_at`` is ISO 8601 with an
    offset (``2025-03-01T14:05:00+01:00`` or ``...Z``); a naive time is refused unless a time zone
    is given to read it in. A line's item comes from ``items.csv``, else from the store's
    existing items; an item in neither is a bad row.

Customers without an email (no ``customer_email`` column, or a blank cell) are stored with the
placeholder address ``<customer_id>@import.invalid``. ``.invalid`` is a reserved top-level domain
(RFC 6761): mail to it can never be delivered, so these customers can never be messaged, and the
import records no marketing consent for anyone, with or without a real address. Placeholder
addresses are lower-cased like every email, so two customer ids that differ only in case are
refused rather than merged.

Everything runs in one database transaction: validation first, then items
(:func:`~crosssell_plugin.ingest.sync_catalog`), then orders
(:func:`~crosssell_plugin.ingest.record_purchase`, idempotent on the order id). With
``OnError.REJECT`` any bad row stops the import and nothing is written; with ``OnError.SKIP``
bad item rows and every order with a bad row are left out (never half an order). Values are
validated by the events themselves (:mod:`crosssell_plugin.events`) and by the model fields'
validators; their field paths are mapped back to CSV columns. Order rows are held in memory
grouped by order id (as tuples of strings); events are built one order at a time.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models, transaction

from .events import CatalogItem, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from .exceptions import CrossSellError, InvalidEvent, UnknownStore
from .ingest import catalog_item_of, ensure_store, get_store, record_purchase, sync_catalog
from .models import Item, Order, OrderLine, Store

logger = logging.getLogger(__name__)

ITEM_COLUMNS = ("item_id", "title", "kind", "price", "description", "tags")
ITEM_REQUIRED = ("item_id", "title", "kind", "price")  # must not be blank
ORDER_COLUMNS = ("order_id", "customer_id", "item_id", "ordered_at", "quantity", "unit_price")
ORDER_OPTIONAL_COLUMNS = ("customer_email",)
PLACEHOLDER_DOMAIN = "import.invalid"
TAG_SEPARATOR = "|"
PROGRESS_EVERY = 500
RAW_SOURCE = "crosssell_import"  # ``raw["source"]`` of imported orders and items
_CHUNK = 500  # rows per database look-up of existing items

#: event field path -> CSV column (a path also covers everything below it)
_ITEM_PATHS = {
    "item.external_id": "item_id",
    "item.title": "title",
    "item.kind": "kind",
    "item.price": "price",
    "item.currency": "price",
    "item.description": "description",
    "item.tags": "tags",
}
_ORDER_PATHS = {
    "order_id": "order_id",
    "occurred_at": "ordered_at",
    "currency": "unit_price",
    "customer.external_id": "customer_id",
    "customer.email": "customer_email",
    "lines[0].quantity": "quantity",
    "lines[0].unit_price": "unit_price",
    "lines[0].item": "item_id",
}

T = TypeVar("T")


class OnError(StrEnum):
    REJECT = "reject"  # any bad row: import nothing
    SKIP = "skip"  # import the good rows and orders, report the others


class CsvImportError(CrossSellError, ValueError):
    """The import cannot start or cannot read a file (missing file, bad header, broken CSV)."""


class ImportRejected(CrossSellError, ValueError):
    """``OnError.REJECT`` found bad rows; the transaction was rolled back and nothing was written."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the CSV files; nothing was imported")


@dataclass(frozen=True)
class Problem:
    """One bad row: ``orders.csv:17: quantity: must be at least 1, got -2``."""

    file: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass(frozen=True)
class NewStore:
    """What ``--create-store`` creates the store with."""

    name: str
    currency: str
    #: None: UTC for a new store, and not compared with an existing one
    timezone: str | None = None


@dataclass(frozen=True)
class ImportOptions:
    items: Path | None = None
    orders: Path | None = None
    on_error: OnError = OnError.REJECT
    #: the zone naive ``ordered_at`` values are read in; None refuses naive times
    timezone: ZoneInfo | None = None
    dry_run: bool = False


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, {self.skipped} skipped"


@dataclass
class ImportReport:
    items: Counts = field(default_factory=Counts)
    orders: Counts = field(default_factory=Counts)
    problems: list[Problem] = field(default_factory=list)
    #: seconds per phase: validate, items, orders, commit (with the after-commit signals), total
    timings: dict[str, float] = field(default_factory=dict)
    dry_run: bool = False


#: called with ("items" or "orders", done, total) every ``progress_every`` records and at the end
Progress = Callable[[str, int, int], None]


# --- command-line values -------------------------------------------------------------------


def parse_store_ref(text: str) -> StoreRef:
    """``PLATFORM:EXTERNAL_ID`` (``import:main``) as a StoreRef."""
    platform, sep, external_id = text.partition(":")
    if not sep:
        raise CsvImportError(f"--store {text!r} must be PLATFORM:EXTERNAL_ID, for example import:main")
    try:
        return StoreRef(platform.strip(), external_id)
    except InvalidEvent as err:
        raise CsvImportError(f"--store {text!r}: {err}") from None


def parse_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CsvImportError(f"--timezone {name!r} is not an IANA time zone such as Europe/Paris") from None


def placeholder_email(customer_id: str) -> str:
    """The reserved, never-deliverable address of a customer imported without an email."""
    return f"{customer_id.strip()}@{PLACEHOLDER_DOMAIN}"


# --- reading CSV ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One CSV record: where it starts in the file and its cells (``header`` is shared)."""

    line: int
    cells: tuple[str, ...]
    header: Mapping[str, int]

    def get(self, column: str) -> str:
        index = self.header.get(column)
        return self.cells[index] if index is not None and index < len(self.cells) else ""

    def as_dict(self) -> dict[str, str]:
        return dict(zip(self.header, self.cells, strict=False))

    def shape_errors(self) -> list[InvalidEvent]:
        """A record with more or fewer fields than the header (reported without a column)."""
        if len(self.cells) == len(self.header):
            return []
        return [InvalidEvent("", f"has {len(self.cells)} fields; the header has {len(self.header)}")]


def read_rows(path: Path, columns: Sequence[str], optional: Sequence[str] = ()) -> Iterator[Row]:
    """Stream a CSV file's records after checking its header.

    Line numbers are those of the first line of each record (a quoted cell may span lines).
    """
    name = path.name
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as err:
        raise CsvImportError(f"{path}: cannot be read ({err.strerror or err})") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        end = 0  # the last line of the last complete record
        try:
            header = _check_header(name, next(reader, None), columns, optional)
            end = reader.line_num
            for cells in reader:
                start, end = end + 1, reader.line_num
                if cells:  # a blank line is not a record
                    yield Row(start, tuple(cells), header)
        except UnicodeDecodeError as err:
            raise CsvImportError(
                f"{name}: is not UTF-8 text (near line {reader.line_num + 1}: {err.reason}); save it as UTF-8"
            ) from None
        except csv.Error as err:  # reported where the broken record starts (an unclosed quote, say)
            raise CsvImportError(f"{name}:{end + 1}: is not valid CSV: {err}") from None


def _check_header(
    name: str, header: list[str] | None, columns: Sequence[str], optional: Sequence[str]
) -> dict[str, int]:
    expected = ",".join(columns)
    if not header:
        raise CsvImportError(f"{name}: is empty; line 1 must be the header {expected}")
    faults = []
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns and c not in optional]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if missing:
        faults.append("missing column(s): " + ", ".join(missing))
    if unknown:
        faults.append("unknown column(s): " + ", ".join(map(repr, unknown)))
    if duplicated:
        faults.append("repeated column(s): " + ", ".join(duplicated))
    if faults:
        extra = f" (optional: {','.join(optional)})" if optional else ""
        raise CsvImportError(f"{name}:1: {'; '.join(faults)}; the header must be {expected}{extra}")
    return {column: index for index, column in enumerate(header)}


def _chunks(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- validation helpers ---------------------------------------------------------------------


def _column_error(err: InvalidEvent, paths: Mapping[str, str]) -> InvalidEvent:
    """The event's error, renamed from its field path to the CSV column it came from."""
    for path, column in paths.items():
        if err.field == path or err.field.startswith((f"{path}.", f"{path}[")):
            return InvalidEvent(column, err.message)
    return err


def _blanks(row: Row, columns: Iterable[str]) -> list[InvalidEvent]:
    return [InvalidEvent(c, "is required and must not be blank") for c in columns if not row.get(c).strip()]


def _fits(model: type[models.Model], name: str, value: Any, column: str) -> None:
    """Run the model field's own validators (digits of a money field, range of an integer)."""
    try:
        model._meta.get_field(name).run_validators(value)
    except ValidationError as err:
        raise InvalidEvent(column, "does not fit the database: " + " ".join(err.messages)) from None


def _problems(name: str, line: int, errors: Iterable[InvalidEvent]) -> list[Problem]:
    return [Problem(name, line, err.field or None, err.message) for err in errors]


def _split_tags(text: str) -> tuple[str, ...]:
    return tuple(tag for tag in (t.strip() for t in text.split(TAG_SEPARATOR)) if tag)


def _stored_items(store: Store, ids: Iterable[str]) -> dict[str, CatalogItem | InvalidEvent]:
    """The store's existing items among ``ids``; one that no longer validates maps to its error."""
    found: dict[str, CatalogItem | InvalidEvent] = {}
    for item in Item.objects.for_store(store).filter(external_id__in=list(ids)).select_related("parent"):
        try:
            found[item.external_id] = catalog_item_of(item)
        except InvalidEvent as err:
            found[item.external_id] = InvalidEvent("item_id", f"the stored item {item.external_id!r} is invalid: {err}")
    return found


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


# --- the import -----------------------------------------------------------------------------


def resolve_store(ref: StoreRef, new_store: NewStore | None) -> Store:
    """The store to import into; created with ``new_store`` if missing (never silently changed)."""
    try:
        store = get_store(ref)
    except UnknownStore:
        if new_store is None:
            raise
        try:
            return ensure_store(
                ref, name=new_store.name, currency=new_store.currency, timezone=new_store.timezone or "UTC"
            )
        except ValidationError as err:
            raise CsvImportError(f"cannot create store {ref.platform}:{ref.external_id}: {_messages(err)}") from None
    if new_store is not None:
        wanted = {k: v for k, v in dataclasses.asdict(new_store).items() if v is not None}
        differs = [f"its {k} is {getattr(store, k)!r}, not {v!r}" for k, v in wanted.items() if getattr(store, k) != v]
        if differs:
            raise CsvImportError(
                f"store {ref.platform}:{ref.external_id} already exists and {'; '.join(differs)}; "
                "drop --create-store, or change the store in the admin first"
            )
    return store


def _messages(err: ValidationError) -> str:
    if hasattr(err, "error_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in err.message_dict.items())
    return " ".join(err.messages)


def import_csv(
    ref: StoreRef,
    options: ImportOptions,
    *,
    new_store: NewStore | None = None,
    progress: Progress | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> ImportReport:
    """Validate and import the files in one transaction (rolled back on rejection or dry run).

    Raises :class:`UnknownStore`, :class:`CsvImportError`, or :class:`ImportRejected` (whose
    ``problems`` list every bad row).
    """
    for path in (options.items, options.orders):
        if path is not None and not path.is_file():
            raise CsvImportError(f"{path}: no such file")
    report = ImportReport(dry_run=options.dry_run)
    clock = _Clock(report.timings)
    try:
        with transaction.atomic():
            store = resolve_store(ref, new_store)
            _run(store, options, report, clock, _ticker(progress, progress_every))
            if options.dry_run:
                transaction.set_rollback(True)
        clock.lap("commit")  # includes the purchase_recorded receivers, run after commit
    except ImportRejected:
        clock.total()
        logger.warning("CSV import into %s:%s rejected: %s", ref.platform, ref.external_id, _timings(report))
        raise
    clock.total()
    logger.info(
        "CSV import into %s:%s%s: items %s; orders %s; %d problem(s); %s",
        ref.platform,
        ref.external_id,
        " (dry run, rolled back)" if options.dry_run else "",
        report.items,
        report.orders,
        len(report.problems),
        _timings(report),
    )
    return report


def _run(
    store: Store, options: ImportOptions, report: ImportReport, clock: _Clock, tick: Callable[[str, int, int], None]
) -> None:
    """Validate, then write (inside the caller's transaction)."""
    items = check_items(options.items, store) if options.items else ItemCheck()
    lookup = ItemLookup(store, items)
    orders = check_orders(options.orders, store, lookup, options.timezone) if options.orders else None
    report.problems = items.problems + (orders.problems if orders else [])
    clock.lap("validate")
    if report.problems and options.on_error is OnError.REJECT:
        raise ImportRejected(report.problems)
    _write_items(store, items, report, tick)
    clock.lap("items")
    if orders is not None:
        _write_orders(orders, report, tick)
    clock.lap("orders")
    if report.problems and options.on_error is OnError.REJECT:  # refused by record_purchase
        raise ImportRejected(report.problems)


def _write_items(store: Store, check: ItemCheck, report: ImportReport, tick: Callable[[str, int, int], None]) -> None:
    skipped = len({p.line for p in check.problems})
    report.items = Counts(unchanged=check.unchanged, skipped=skipped)
    if check.to_write:
        total = len(check.to_write)
        result = sync_catalog(store, check.to_write, progress=lambda done: tick("items", done, total))
        report.items.new, report.items.updated = result.created, result.updated


def _write_orders(check: OrderCheck, report: ImportReport, tick: Callable[[str, int, int], None]) -> None:
    counts = report.orders
    counts.skipped = len(check.bad)
    total = len(check.groups) - len(check.bad)
    for done, (order_id, rows) in enumerate(check.good(), start=1):
        outcome = _record_order(order_id, rows, check.context)
        if isinstance(outcome, Problem):
            counts.skipped += 1
            report.problems.append(outcome)
        else:
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        tick("orders", done, total)


def _record_order(order_id: str, rows: Sequence[Row], ctx: OrderContext) -> str | Problem:
    """Record one validated order: "new", "updated" or "unchanged", or the Problem that refused it."""
    event = order_event(order_id, rows, ctx)  # built again rather than keeping every event in memory
    if not isinstance(event, PurchaseEvent):  # cannot happen: the order was validated
        return event[0]
    try:
        result = record_purchase(event)  # its own savepoint: a refused order leaves nothing
    except InvalidEvent as err:  # more lines or bytes than the CROSSSELL limits allow
        return Problem(ctx.file, rows[0].line, None, f"order {order_id}: {err}")
    return "new" if result.created else "updated" if result.updated else "unchanged"


def _ticker(progress: Progress | None, every: int) -> Callable[[str, int, int], None]:
    def tick(noun: str, done: int, total: int) -> None:
        if progress is not None and (done % every == 0 or done == total):
            progress(noun, done, total)

    return tick


class _Clock:
    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.started = self.last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = now - self.last
        self.last = now

    def total(self) -> None:
        self.timings["total"] = time.monotonic() - self.started


def _timings(report: ImportReport) -> str:
    return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in report.timings.items())
