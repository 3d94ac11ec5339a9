"""Import a store's past catalogue and orders from CSV files: the formats are described in
:mod:`crosssell_plugin.csv_import`. Everything happens in one transaction; idempotent.

    manage.py crosssell_import --store import:main --items items.csv --orders orders.csv
    manage.py crosssell_import --store import:main --create-store --name "My shop" --currency EUR \\
        --orders orders.csv --timezone Europe/Paris --on-error skip --dry-run
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crosssell_plugin.exceptions import UnknownStore
from crosssell_plugin.ingest.csv_import import (
    CsvImportError,
    ImportOptions,
    ImportRejected,
    ImportReport,
    NewStore,
    OnError,
    Problem,
    import_csv,
    parse_store_ref,
    parse_timezone,
)


class Command(BaseCommand):
    help = (
        "Load a store's past catalogue (items.csv) and orders (orders.csv) into crosssell. Customers without a "
        "customer_email get the undeliverable address <customer_id>@import.invalid and are never messaged; "
        "no marketing consent is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, metavar="PLATFORM:EXTERNAL_ID", help="e.g. import:main")
        parser.add_argument("--items", type=Path, help="items.csv: item_id,title,kind,price,description,tags")
        parser.add_argument(
            "--orders",
            type=Path,
            help="orders.csv: order_id,customer_id,item_id,ordered_at,quantity,unit_price[,customer_email]",
        )
        parser.add_argument(
            "--on-error",
            choices=[o.value for o in OnError],
            default=OnError.REJECT.value,
            help="reject (default): any bad row imports nothing; skip: import the good items and orders",
        )
        parser.add_argument("--timezone", help="read naive ordered_at times in this zone, e.g. Europe/Paris")
        parser.add_argument("--dry-run", action="store_true", help="validate and count, then roll back")
        create = parser.add_argument_group("creating the store if it does not exist")
        create.add_argument("--create-store", action="store_true")
        create.add_argument("--name", help="the store's name")
        create.add_argument("--currency", help="ISO 4217 code, e.g. EUR (prices in the files are in it)")
        create.add_argument("--store-timezone", help="IANA time zone of the store (default UTC)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["items"] and not options["orders"]:
            raise CommandError("nothing to import: give --items and/or --orders")
        try:
            ref = parse_store_ref(options["store"])
            import_options = ImportOptions(
                items=options["items"],
                orders=options["orders"],
                on_error=OnError(options["on_error"]),
                timezone=parse_timezone(options["timezone"]) if options["timezone"] else None,
                dry_run=options["dry_run"],
            )
            report = import_csv(ref, import_options, new_store=self._new_store(options), progress=self._progress)
        except UnknownStore:
            raise CommandError(
                f"there is no store {options['store']}; create it by adding "
                '--create-store --name "My shop" --currency EUR [--store-timezone Europe/Paris]'
            ) from None
        except ImportRejected as err:
            self._problems(err.problems)
            raise CommandError(f"{err} (fix the rows, or pass --on-error skip to import the good ones)") from None
        except CsvImportError as err:
            raise CommandError(str(err)) from None
        self._problems(report.problems)
        self._summary(report)

    def _new_store(self, options: dict[str, Any]) -> NewStore | None:
        if not options["create_store"]:
            if options["name"] or options["currency"] or options["store_timezone"]:
                raise CommandError("--name, --currency and --store-timezone only go with --create-store")
            return None
        if not options["name"] or not options["currency"]:
            raise CommandError("--create-store needs --name and --currency (and optionally --store-timezone)")
        return NewStore(options["name"], options["currency"], options["store_timezone"])

    def _progress(self, noun: str, done: int, total: int) -> None:
        if self.stdout.isatty():
            self.stdout.write(f"\r{done}/{total} {noun}", ending="\n" if done == total else "")
            self.stdout.flush()
        else:
            self.stdout.write(f"{done}/{total} {noun}")

    def _problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            self.stderr.write(str(problem))

    def _summary(self, report: ImportReport) -> None:
        self.stdout.write(f"Items: {report.items}")
        self.stdout.write(f"Orders: {report.orders}")
        if report.problems:
            self.stdout.write(self.style.WARNING(f"{len(report.problems)} problem(s) listed above were skipped"))
        seconds = report.timings.get("total", 0.0)
        if report.dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run in {seconds:.1f}s: nothing was written"))
        else:
            self.stdout.write(self.style.SUCCESS(f"Imported in {seconds:.1f}s"))
