"""Copy Oscar's catalogue and/or past orders into crosssell (idempotent, safe to re-run)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.ingest import record_purchase, sync_catalog
from integrations.oscar.adapter import OscarAdapter

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Sync Oscar products into crosssell items and record Oscar orders crosssell has missed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--catalog",
            action="store_true",
            help="Sync products (the default when nothing is chosen).",
        )
        parser.add_argument("--orders", action="store_true", help="Record past Oscar orders.")
        parser.add_argument("--since", help="Only orders placed at or after this ISO 8601 date-time.")
        parser.add_argument(
            "--deactivate-missing",
            action="store_true",
            help="Mark items whose product is gone as unavailable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        do_catalog = options["catalog"] or not options["orders"]
        adapter = OscarAdapter()
        store = adapter.store()
        if do_catalog:
            started = time.monotonic()
            result = sync_catalog(
                store,
                adapter.iter_catalog(store),
                deactivate_missing=options["deactivate_missing"],
                progress=self._progress("products"),
            )
            self.stdout.write("")
            message = (
                f"Catalog: {result.created} created, {result.updated} updated, {result.deactivated} deactivated "
                f"in {time.monotonic() - started:.1f}s"
            )
            logger.info(message)
            self.stdout.write(self.style.SUCCESS(message))
        if options["orders"]:
            self._orders(adapter, store, self._since(options["since"]))

    def _since(self, value: str | None) -> datetime | None:
        if not value:
            return None
        parsed = parse_datetime(value) if "T" in value or " " in value else parse_datetime(value + "T00:00:00+00:00")
        if parsed is None or parsed.tzinfo is None:
            raise CommandError(f"--since {value!r} is not an ISO 8601 date-time with a time zone, e.g. 2026-01-31")
        return parsed

    def _orders(self, adapter: OscarAdapter, store: Any, since: datetime | None) -> None:
        started = time.monotonic()
        counts = {"recorded": 0, "updated": 0, "unchanged": 0, "failed": 0}
        progress = self._progress("orders")
        # The event is built inside the try: one order that cannot become a valid event (say, a deleted
        # customer's order without an email) is counted as failed instead of ending the whole backfill.
        for n, order in enumerate(adapter.orders(since), start=1):
            try:
                result = record_purchase(adapter.order_to_event(order))
            except InvalidEvent as err:
                counts["failed"] += 1
                logger.error("Oscar order %s was not recorded: %s", order.number, err)
                self.stderr.write(f"\norder {order.number}: {err}")
            else:
                counts["recorded" if result.created else "updated" if result.updated else "unchanged"] += 1
            progress(n)
        self.stdout.write("")
        message = ", ".join(f"{v} {k}" for k, v in counts.items()) + f" in {time.monotonic() - started:.1f}s"
        logger.info("Oscar orders: %s", message)
        self.stdout.write(self.style.SUCCESS(f"Orders: {message}"))

    def _progress(self, noun: str) -> Any:
        def report(count: int) -> None:
            if count % 50 == 0:
                self.stdout.write(f"\r{count} {noun}...", ending="")
                self.stdout.flush()

        return report
