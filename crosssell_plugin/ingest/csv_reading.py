"""The CSV import's vocabulary and its reading: columns, options, reports, problems, the rows of a
file, and the helpers that map an event's errors back to CSV columns (see :mod:`.csv_import`)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models

from ..events import CatalogItem, StoreRef
from ..exceptions import CrossSellError, InvalidEvent
from ..models import Item, Store
from .recording import catalog_item_of

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
