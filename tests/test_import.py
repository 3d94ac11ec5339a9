"""manage.py crosssell_import: CSV history into the core models, validated, transactional, idempotent."""

from __future__ import annotations

import csv
import logging
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save
from hypothesis import given, settings
from hypothesis import strategies as st

from crosssell_plugin.csv_import import ITEM_COLUMNS, ImportOptions, OnError, import_csv, read_rows
from crosssell_plugin.ingest import record_catalog_item
from crosssell_plugin.models import Customer, Item, Order, OrderLine, Store

from .conftest import STORE_REF, catalog_item

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "import"
STORE_ARG = f"{STORE_REF.platform}:{STORE_REF.external_id}"


def _fixtures(args: tuple[str, ...]) -> list[str]:
    """A bare ``name.csv`` argument is a file of tests/fixtures/import/."""
    return [str(FIXTURES / a) if a.endswith(".csv") and "/" not in a else a for a in args]


def run(*args: str, store: str = STORE_ARG) -> tuple[str, str]:
    """Run the command; returns (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("crosssell_import", "--store", store, *_fixtures(args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str, store: str = STORE_ARG) -> tuple[str, str]:
    """Run the command expecting CommandError; returns (its message, stderr)."""
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("crosssell_import", "--store", store, *_fixtures(args), stdout=StringIO(), stderr=err)
    return str(exc.value), err.getvalue()


def nothing_written() -> bool:
    return not (Item.objects.exists() or Order.objects.exists() or Customer.objects.exists())


def lines_of(order_id: str) -> list[tuple[str, int, Decimal]]:
    return [
        (line.item.external_id, line.quantity, line.unit_price)
        for line in OrderLine.objects.filter(order__external_id=order_id).select_related("item")
    ]


# --- a clean import -------------------------------------------------------------------------


def test_clean_import_writes_items_orders_customers_and_lines(store, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out, err = run("--items", "items.csv", "--orders", "orders.csv")
    assert err == ""
    assert "Items: 4 new, 0 updated, 0 unchanged, 0 skipped" in out
    assert "Orders: 3 new, 0 updated, 0 unchanged, 0 skipped" in out
    assert "3/3 orders" in out
    assert len(callbacks) == 3  # one purchase_recorded per new order, sent after commit

    film = Item.objects.for_store(store).get(external_id="film-1")
    assert (film.title, film.kind, film.price, film.currency) == ("Cléo de 5 à 7", "film", Decimal("9.99"), "EUR")
    assert isinstance(film.price, Decimal) and film.tags == ["new wave", "paris"]
    course = Item.objects.get(external_id="course-1")
    assert course.description == "Three acts,\ntwo turning points." and course.tags == ["writing", "beginner"]
    poster = Item.objects.get(external_id="merch-1")
    assert (poster.title, poster.price, poster.tags) == ("Poster <Cléo>", Decimal("25.00"), [])
    assert poster.raw["source"] == "crosssell_import" and poster.raw["row"]["item_id"] == "merch-1"

    first = Order.objects.for_store(store).get(external_id="1001")
    assert first.placed_at == datetime(2025, 3, 1, 13, 5, tzinfo=UTC)
    assert first.placed_at.utcoffset().total_seconds() == 0
    assert (first.total, first.currency) == (Decimal("59.99"), "EUR")
    assert lines_of("1001") == [("film-1", 1, Decimal("9.99")), ("merch-1", 2, Decimal("25.00"))]
    assert first.raw == {
        "source": "crosssell_import",
        "rows": [
            {
                "order_id": "1001",
                "customer_id": "c1",
                "item_id": "film-1",
                "ordered_at": "2025-03-01T14:05:00+01:00",
                "quantity": "1",
                "unit_price": "9.99",
            },
            {
                "order_id": "1001",
                "customer_id": "c1",
                "item_id": "merch-1",
                "ordered_at": "2025-03-01T14:05:00+01:00",
                "quantity": "2",
                "unit_price": "25.00",
            },
        ],
    }
    assert Order.objects.get(external_id="1002").placed_at == datetime(2025, 3, 2, 9, 0, tzinfo=UTC)
    assert Order.objects.get(external_id="1003").placed_at == datetime(2025, 4, 10, 18, 30, tzinfo=UTC)
    assert lines_of("1003") == [("film-2", 1, Decimal("7.50"))]

    customers = {c.email: c for c in Customer.objects.for_store(store)}
    assert sorted(customers) == ["c1@import.invalid", "c2@import.invalid"]
    assert customers["c1@import.invalid"].external_id == "c1"
    assert customers["c1@import.invalid"].orders.count() == 2
    assert not customers["c1@import.invalid"].consents.exists()
    assert not customers["c1@import.invalid"].has_marketing_consent("email")


def test_customer_email_column_gives_real_addresses_and_blank_cells_placeholders(store):
    run("--items", "items.csv", "--orders", "orders_emails.csv")
    ann = Order.objects.get(external_id="2001").customer
    assert (ann.email, ann.external_id) == ("ann@example.com", "c10")
    assert not ann.has_marketing_consent("email")  # a real address, still no consent
    assert Order.objects.get(external_id="2002").customer.email == "c11@import.invalid"
    assert Customer.objects.count() == 2


def test_an_order_may_use_an_item_already_in_the_store_and_existing_items_keep_other_fields(store):
    record_catalog_item(store, catalog_item("legacy-1", title="Old film", price=Decimal("4.99")))
    record_catalog_item(store, catalog_item("film-1", title="Cleo", genres=("Drama",), url="https://x.example/1"))
    out, _ = run("--items", "items.csv", "--orders", "orders_existing_item.csv")
    assert "Items: 3 new, 1 updated, 0 unchanged, 0 skipped" in out
    assert lines_of("7001") == [("legacy-1", 1, Decimal("4.99")), ("film-1", 1, Decimal("9.99"))]
    film = Item.objects.get(external_id="film-1")
    assert film.title == "Cléo de 5 à 7" and film.tags == ["new wave", "paris"]  # the file's columns
    assert film.genres == ["Drama"] and film.people == {"director": ["Agnès Varda"]}  # kept
    assert film.url == "https://x.example/1"


def test_bom_and_crlf_line_endings_are_read(store):
    out, err = run("--items", "items_bom_crlf.csv", "--orders", "orders_bom_crlf.csv")
    assert err == "" and "Orders: 1 new" in out
    assert Item.objects.get(external_id="film-1").title == "Cléo de 5 à 7"
    assert Order.objects.get(external_id="1001").customer.email == "celine@example.com"


# --- bad rows -------------------------------------------------------------------------------

ORDERS_BAD_PROBLEMS = [
    "orders_bad.csv:3: item_id: unknown item 'nope-9': not in items.csv nor in the store's catalogue",
    "orders_bad.csv:4: ordered_at: 'yesterday' is not an ISO 8601 date-time",
    "orders_bad.csv:5: quantity: must be at least 1, got -2",
    "orders_bad.csv:6: ordered_at: '2025-03-04 10:00:00' has no UTC offset; write one (2026-01-31T12:00:00+01:00) "
    "or pass --timezone to read naive times in a time zone",
    "orders_bad.csv:7: unit_price: 9.999 has more decimal places than EUR allows (2)",
    "orders_bad.csv:8: quantity: must be a whole number, got '1.5'",
    "orders_bad.csv:10: customer_id: 'c8' differs from line 9 ('c7')",
    "orders_bad.csv:10: ordered_at: '2025-03-07T11:00:00Z' differs from line 9 ('2025-03-07T10:00:00Z')",
    "orders_bad.csv:11: customer_id: is required and must not be blank",
    "orders_bad.csv:11: unit_price: is required and must not be blank",
    "orders_bad.csv:15: quantity: must be at least 1, got 0",
    "orders_bad.csv:16: has 5 fields; the header has 6",
    "orders_bad.csv:18: quantity: must be at most 1,000,000, got 100,000,000,000,000,000,000",
    "orders_bad.csv:19: unit_price: 12345678901.00 is too large (the limit is below 10,000,000,000)",
    "orders_bad.csv:20: order_id: is required and must not be blank",
]


def problems(stderr: str) -> list[str]:
    return stderr.splitlines()


def test_reject_reports_every_bad_row_with_its_line_and_writes_nothing(store):
    message, err = run_failing("--items", "items.csv", "--orders", "orders_bad.csv")
    assert "15 problem(s)" in message and "nothing was imported" in message and "--on-error skip" in message
    assert problems(err) == ORDERS_BAD_PROBLEMS
    assert nothing_written()  # not even the items of the valid items.csv


def test_reject_reports_bad_item_rows(store):
    message, err = run_failing("--items", "items_bad.csv")
    assert err.splitlines() == [
        "items_bad.csv:3: kind: 'flim' is not one of: film, series, episode, course, module, merch, bundle, "
        "subscription, product",
        "items_bad.csv:4: price: 9.999 has more decimal places than EUR allows (2)",
        "items_bad.csv:5: item_id: 'film-1' is already on line 2",
        "items_bad.csv:6: item_id: is required and must not be blank",
        "items_bad.csv:7: price: 'abc' is not a number",
        "items_bad.csv:8: title: is required and must not be blank",
    ]
    assert "6 problem(s)" in message and nothing_written()


def test_skip_imports_good_orders_whole_and_skips_bad_ones_whole(store):
    out, err = run("--items", "items.csv", "--orders", "orders_bad.csv", "--on-error", "skip")
    assert problems(err) == ORDERS_BAD_PROBLEMS
    assert "Orders: 2 new, 0 updated, 0 unchanged, 12 skipped" in out
    assert "15 problem(s) listed above were skipped" in out
    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["3009", "3010"]
    assert lines_of("3010") == [("film-1", 1, Decimal("9.99")), ("film-2", 3, Decimal("7.50"))]
    # line 2 of order 3001 is fine, line 3 is not: never half an order
    assert not Order.objects.filter(external_id="3001").exists()
    assert not Customer.objects.filter(email="c1@import.invalid").exists()


def test_skip_drops_bad_item_rows_and_the_orders_that_use_them(store):
    out, err = run("--items", "items_bad.csv", "--orders", "orders_using_bad_items.csv", "--on-error", "skip")
    assert "Items: 1 new, 0 updated, 0 unchanged, 6 skipped" in out
    assert "Orders: 1 new, 0 updated, 0 unchanged, 2 skipped" in out
    assert err.splitlines()[-2:] == [
        "orders_using_bad_items.csv:3: item_id: unknown item 'film-3': its row (items_bad.csv:3) is bad",
        "orders_using_bad_items.csv:5: item_id: unknown item 'film-4': its row (items_bad.csv:4) is bad",
    ]
    assert list(Item.objects.values_list("external_id", "title")) == [("film-1", "Cléo de 5 à 7")]
    assert list(Order.objects.values_list("external_id", flat=True)) == ["4001"]


def test_customer_ids_that_cannot_make_a_placeholder_address_are_refused(store):
    _, err = run_failing("--items", "items.csv", "--orders", "orders_case.csv")
    assert err.splitlines() == [
        # placeholder addresses are lower-cased like every email: these two would merge
        "orders_case.csv:3: customer_id: 'ABC' and 'abc' (line 2) would be one customer 'abc@import.invalid'; "
        "add a customer_email column",
        "orders_case.csv:4: customer_id: 'Jean Dupont@import.invalid' is not a valid email address",
    ]


# --- time zones -----------------------------------------------------------------------------


def test_timezone_reads_naive_times_in_that_zone(store):
    run("--items", "items.csv", "--orders", "orders_naive.csv", "--timezone", "Europe/Paris")
    placed = dict(Order.objects.values_list("external_id", "placed_at"))
    assert placed == {
        "5001": datetime(2025, 1, 15, 9, 0, tzinfo=UTC),  # CET, UTC+1
        "5002": datetime(2025, 7, 15, 8, 0, tzinfo=UTC),  # CEST, UTC+2
        "5003": datetime(2025, 7, 15, 10, 0, tzinfo=UTC),  # had an offset: the option does not apply
        "5004": datetime(2025, 10, 26, 0, 30, tzinfo=UTC),  # 02:30 happened twice: the first one
    }


def test_a_local_time_skipped_by_daylight_saving_is_a_bad_row(store):
    _, err = run_failing("--items", "items.csv", "--orders", "orders_dst_gap.csv", "--timezone", "Europe/Paris")
    assert err.strip() == (
        "orders_dst_gap.csv:2: ordered_at: '2025-03-30T02:30:00' does not exist in Europe/Paris (a daylight-saving gap)"
    )


def test_unknown_timezone_is_refused(store):
    message, _ = run_failing("--orders", "orders.csv", "--timezone", "Mars/Olympus")
    assert "--timezone 'Mars/Olympus' is not an IANA time zone" in message


# --- dry run, idempotency, transaction ------------------------------------------------------


def test_dry_run_counts_and_writes_nothing(store, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out, _ = run("--items", "items.csv", "--orders", "orders.csv", "--dry-run")
    assert "Orders: 3 new, 0 updated, 0 unchanged, 0 skipped" in out
    assert "Dry run" in out and "nothing was written" in out
    assert nothing_written() and callbacks == []


def test_second_import_of_the_same_files_changes_nothing(store):
    run("--items", "items.csv", "--orders", "orders.csv")
    before = {
        "orders": list(Order.objects.values_list("external_id", "updated_at", "revision")),
        "items": list(Item.objects.values_list("external_id", "updated_at")),
        "lines": list(OrderLine.objects.values_list("pk", flat=True)),
        "customers": list(Customer.objects.values_list("pk", "updated_at")),
    }
    out, err = run("--items", "items.csv", "--orders", "orders.csv")
    assert err == ""
    assert "Items: 0 new, 0 updated, 4 unchanged, 0 skipped" in out
    assert "Orders: 0 new, 0 updated, 3 unchanged, 0 skipped" in out
    assert before == {
        "orders": list(Order.objects.values_list("external_id", "updated_at", "revision")),
        "items": list(Item.objects.values_list("external_id", "updated_at")),
        "lines": list(OrderLine.objects.values_list("pk", flat=True)),
        "customers": list(Customer.objects.values_list("pk", "updated_at")),
    }


def test_an_order_with_other_lines_is_updated(store):
    run("--items", "items.csv", "--orders", "orders.csv")
    out, _ = run("--orders", "orders_changed.csv")
    assert "Orders: 0 new, 1 updated, 2 unchanged, 0 skipped" in out
    assert lines_of("1001") == [("film-1", 1, Decimal("9.99")), ("merch-1", 3, Decimal("25.00"))]
    assert Order.objects.get(external_id="1001").revision == 2


def test_a_crash_part_way_leaves_nothing_written(store):
    """Ctrl-C (KeyboardInterrupt) while the second order is being written: nothing of the import stays."""
    saved: list[str] = []

    def interrupt(sender: Any, instance: Order, created: bool, **kwargs: Any) -> None:
        saved.append(instance.external_id)
        if len(saved) == 2:
            raise KeyboardInterrupt

    post_save.connect(interrupt, sender=Order, weak=False)
    try:
        with pytest.raises(KeyboardInterrupt):
            run("--items", "items.csv", "--orders", "orders.csv")
    finally:
        post_save.disconnect(interrupt, sender=Order)
    assert saved == ["1001", "1002"] and nothing_written()


# --- files, headers, stores -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--items", "items_bad_header.csv"),
            "items_bad_header.csv:1: missing column(s): kind; unknown column(s): 'type', 'colour'; "
            "the header must be item_id,title,kind,price,description,tags",
        ),
        (
            ("--orders", "orders_missing_column.csv"),
            "orders_missing_column.csv:1: missing column(s): unit_price; the header must be "
            "order_id,customer_id,item_id,ordered_at,quantity,unit_price (optional: customer_email)",
        ),
        (("--orders", "no-such.csv"), "no-such.csv: no such file"),
        (("--orders", "orders.csv", "--store", "import"), "must be PLATFORM:EXTERNAL_ID"),
        (("--orders", "orders.csv", "--store", "ebay:main"), "store.platform: 'ebay' is not one of"),
        ((), "nothing to import: give --items and/or --orders"),
        (("--orders", "orders.csv", "--name", "Shop"), "only go with --create-store"),
    ],
)
def test_unusable_arguments_and_headers_are_errors(store, args, expected):
    message, _ = run_failing(*args)
    assert expected in message
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "bad.csv: is empty; line 1 must be the header item_id,title,kind,price,description,tags"),
        (
            b'item_id,title,kind,price,description,tags\nfilm-1,"Open quote,film,9.99,,\n',
            "bad.csv:2: is not valid CSV: unexpected end of data",
        ),
        (
            "item_id,title,kind,price,description,tags\nfilm-1,Cléo,film,9.99,,\n".encode("latin-1"),
            "bad.csv: is not UTF-8 text",
        ),
        (b"item_id,title,kind,kind,price,description,tags\n", "repeated column(s): kind"),
    ],
)
def test_unreadable_files_are_errors(store, tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    message, _ = run_failing("--items", str(path))
    assert expected in message
    assert nothing_written()


def test_missing_store_says_how_to_create_it(db):
    message, _ = run_failing("--orders", "orders.csv", store="import:main")
    assert message == (
        'there is no store import:main; create it by adding --create-store --name "My shop" --currency EUR '
        "[--store-timezone Europe/Paris]"
    )


def test_create_store_creates_it_in_the_same_transaction(db):
    args = ("--create-store", "--name", "Reel & Learn", "--currency", "EUR", "--store-timezone", "Europe/Paris")
    # a rejected import does not leave the new store behind
    run_failing("--items", "items.csv", "--orders", "orders_bad.csv", *args, store="import:main")
    assert not Store.objects.exists()

    run("--items", "items.csv", "--orders", "orders.csv", *args, store="import:main")
    store = Store.objects.get()
    assert (store.platform, store.external_id, store.name, store.currency, store.timezone) == (
        "import",
        "main",
        "Reel & Learn",
        "EUR",
        "Europe/Paris",
    )
    assert Order.objects.for_store(store).count() == 3
    run("--orders", "orders.csv", *args, store="import:main")  # same values: nothing to change

    message, _ = run_failing(
        "--orders", "orders.csv", "--create-store", "--name", "x", "--currency", "USD", store="import:main"
    )
    assert "already exists and its name is 'Reel & Learn', not 'x'; its currency is 'EUR', not 'USD'" in message
    message, _ = run_failing("--orders", "orders.csv", "--create-store", "--name", "x", store="import:other")
    assert "--create-store needs --name and --currency" in message
    message, _ = run_failing(
        "--orders", "orders.csv", "--create-store", "--name", "x", "--currency", "EURO", store="import:other"
    )
    assert message.startswith("cannot create store import:other: currency: 'EURO' is not an ISO 4217 currency code")


# --- progress and logging -------------------------------------------------------------------


def test_progress_every_n_records_and_timings_logged(store, caplog):
    calls: list[tuple[str, int, int]] = []
    options = ImportOptions(items=FIXTURES / "items.csv", orders=FIXTURES / "orders.csv", on_error=OnError.SKIP)
    with caplog.at_level(logging.INFO, logger="crosssell_plugin.csv_import"):
        report = import_csv(STORE_REF, options, progress=lambda *call: calls.append(call), progress_every=2)
    assert calls == [("items", 2, 4), ("items", 4, 4), ("orders", 2, 3), ("orders", 3, 3)]
    assert set(report.timings) == {"validate", "items", "orders", "commit", "total"}
    [record] = [r for r in caplog.records if r.name == "crosssell_plugin.csv_import"]
    message = record.getMessage()
    assert message.startswith("CSV import into custom:test-store: items 4 new, 0 updated, 0 unchanged, 0 skipped;")
    assert "validate " in message and "total " in message


# --- a property of the CSV reader -----------------------------------------------------------

_cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from([",", '"', "\n", "|", " "]),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_cell, min_size=6, max_size=6), min_size=1, max_size=8))
def test_reader_returns_each_record_with_the_line_it_starts_on(records):
    """Whatever the cells hold (commas, quotes, line breaks), a record reads back as written, and
    its line number is the file line its first cell is on."""
    serialized = []
    for record in records:
        buffer = StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(record)
        serialized.append(buffer.getvalue())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "items.csv"
        path.write_text(",".join(ITEM_COLUMNS) + "\n" + "".join(serialized), encoding="utf-8")
        rows = list(read_rows(path, ITEM_COLUMNS))
    expected_lines = [2 + sum(text.count("\n") for text in serialized[:i]) for i in range(len(records))]
    assert [list(row.cells) for row in rows] == records
    assert [row.line for row in rows] == expected_lines
