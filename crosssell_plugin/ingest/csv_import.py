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

The vocabulary and the reading are in :mod:`.csv_reading`, the checks of each file in
:mod:`.csv_checks`; everything is importable from here (and from ``crosssell_plugin.csv_import``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from ..events import PurchaseEvent, StoreRef
from ..exceptions import InvalidEvent, UnknownStore
from ..models import Store
from .csv_checks import (
    ItemCheck,
    ItemLookup,
    OrderCheck,
    OrderContext,
    check_items,
    check_orders,
    order_event,
)
from .csv_reading import (
    ITEM_COLUMNS,
    ITEM_REQUIRED,
    ORDER_COLUMNS,
    ORDER_OPTIONAL_COLUMNS,
    PLACEHOLDER_DOMAIN,
    PROGRESS_EVERY,
    RAW_SOURCE,
    TAG_SEPARATOR,
    Counts,
    CsvImportError,
    ImportOptions,
    ImportRejected,
    ImportReport,
    NewStore,
    OnError,
    Problem,
    Progress,
    Row,
    parse_store_ref,
    parse_timezone,
    placeholder_email,
    read_rows,
)
from .recording import ensure_store, get_store, record_purchase, sync_catalog

__all__ = [
    "ITEM_COLUMNS",
    "ITEM_REQUIRED",
    "ORDER_COLUMNS",
    "ORDER_OPTIONAL_COLUMNS",
    "PLACEHOLDER_DOMAIN",
    "PROGRESS_EVERY",
    "RAW_SOURCE",
    "TAG_SEPARATOR",
    "Counts",
    "CsvImportError",
    "ImportOptions",
    "ImportRejected",
    "ImportReport",
    "ItemCheck",
    "ItemLookup",
    "NewStore",
    "OnError",
    "OrderCheck",
    "OrderContext",
    "Problem",
    "Progress",
    "Row",
    "check_items",
    "check_orders",
    "import_csv",
    "order_event",
    "parse_store_ref",
    "parse_timezone",
    "placeholder_email",
    "read_rows",
    "resolve_store",
]

# its name before it moved here (a LOGGING config may name it)
logger = logging.getLogger("crosssell_plugin.csv_import")


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
