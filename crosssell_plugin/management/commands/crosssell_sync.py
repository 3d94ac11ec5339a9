"""Copy a store's catalogue and/or past orders from its platform, for every installed platform.

    manage.py crosssell_sync --store oscar:default              # the catalogue (the default)
    manage.py crosssell_sync --store oscar:default --orders --since 2026-01-01

Idempotent and safe to re-run: items are upserted, orders recorded once. Progress is written to
the terminal; the outcome of each part goes to the ``crosssell_plugin.sync`` log as well.
A platform's own name for it (``crosssell_oscar_sync``) subclasses :class:`Command` with the
store filled in and the options of :func:`add_sync_options`, so there is one code path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from crosssell_plugin.exceptions import CrossSellError, InvalidEvent
from crosssell_plugin.ingest import record_purchase, sync_catalog
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import PlatformAdapter, Unreadable, get_platform, parse_store_arg

logger = logging.getLogger("crosssell_plugin.sync")

#: how often progress is written: every this many records on the terminal, 20 times that in the log
EVERY = 50


class Command(BaseCommand):
    help = "Sync a store's catalogue (default) and/or record its past orders from its platform."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--store", required=True, metavar="PLATFORM:EXTERNAL_ID", help="The store, e.g. oscar:default."
        )
        add_sync_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            platform_id, external_id = parse_store_arg(options["store"])
            adapter = get_platform(platform_id)
            store = adapter.get_store(external_id)
        except CrossSellError as err:
            raise CommandError(str(err)) from None
        since = _since(options["since"])
        try:
            if options["catalog"] or not options["orders"]:
                self._catalog(adapter, store, deactivate_missing=options["deactivate_missing"])
            if options["orders"]:
                self._orders(adapter, store, since)
        except CrossSellError as err:  # UnsupportedFeature, a platform API error...
            raise CommandError(str(err)) from None

    def _catalog(self, adapter: PlatformAdapter, store: Store, *, deactivate_missing: bool) -> None:
        started = time.monotonic()
        self.stdout.write(f"{store} [{store.platform}:{store.external_id}]: catalogue")
        result = sync_catalog(
            store,
            adapter.iter_catalog(store),
            deactivate_missing=deactivate_missing,
            progress=self._progress(store, "items"),
        )
        message = (
            f"catalogue: {result.created} created, {result.updated} updated, {result.deactivated} deactivated "
            f"in {time.monotonic() - started:.1f}s"
        )
        self._done(store, message)

    def _orders(self, adapter: PlatformAdapter, store: Store, since: datetime | None) -> None:
        started = time.monotonic()
        self.stdout.write(f"{store} [{store.platform}:{store.external_id}]: orders")
        counts = {"recorded": 0, "updated": 0, "unchanged": 0, "failed": 0}
        progress = self._progress(store, "orders")
        for n, event in enumerate(adapter.iter_orders(store, since), start=1):
            error = event.error if isinstance(event, Unreadable) else None
            if error is None and not isinstance(event, Unreadable):
                try:
                    result = record_purchase(event)
                except InvalidEvent as err:
                    error = str(err)
                else:
                    counts["recorded" if result.created else "updated" if result.updated else "unchanged"] += 1
            if error is not None:
                order_id = event.external_id if isinstance(event, Unreadable) else event.order_id
                counts["failed"] += 1
                logger.error("Order %s of store %s was not recorded: %s", order_id, store.pk, error)
                self.stderr.write(f"\norder {order_id}: {error}")
            progress(n)
        message = ", ".join(f"{v} {k}" for k, v in counts.items())
        self._done(store, f"orders: {message} in {time.monotonic() - started:.1f}s")

    def _done(self, store: Store, message: str) -> None:
        self.stdout.write("")
        logger.info("Sync of store %s (%s:%s): %s", store.pk, store.platform, store.external_id, message)
        self.stdout.write(self.style.SUCCESS(message))

    def _progress(self, store: Store, noun: str) -> Callable[[int], None]:
        def report(count: int) -> None:
            if count % EVERY == 0:
                self.stdout.write(f"\r  {count:,} {noun}...", ending="")
                self.stdout.flush()
            if count % (EVERY * 20) == 0:
                logger.info("Sync of store %s: %d %s so far", store.pk, count, noun)

        return report


def add_sync_options(parser: CommandParser) -> None:
    """The options of a sync besides ``--store``: what to sync, and how."""
    parser.add_argument("--catalog", action="store_true", help="Sync the catalogue (the default).")
    parser.add_argument("--orders", action="store_true", help="Record past orders crosssell has missed.")
    parser.add_argument("--since", help="Only orders placed at or after this ISO 8601 date(-time).")
    parser.add_argument(
        "--deactivate-missing", action="store_true", help="Mark items no longer in the catalogue unavailable."
    )


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value) if "T" in value or " " in value else parse_datetime(value + "T00:00:00+00:00")
    if parsed is None or parsed.tzinfo is None:
        raise CommandError(f"--since {value!r} is not an ISO 8601 date-time with a time zone, e.g. 2026-01-31")
    return parsed
