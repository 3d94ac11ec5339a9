"""Recompute the daily rollups (the dashboard's, the API's and the bandits' figures), store by store.

    manage.py crosssell_rollup                          # every active store, the days still open
    manage.py crosssell_rollup --store 3 --store oscar:default
    manage.py crosssell_rollup --full                   # every day since the store's first data
    manage.py crosssell_rollup --today 2026-11-30       # as of that day (which days are open, complete)

The nightly ``crosssell.rollup_all_stores`` task does the same for every active store.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crosssell_plugin.experiments import rollup
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import parse_store_arg

logger = logging.getLogger("crosssell.rollup")


class Command(BaseCommand):
    help = (
        "Recompute the rollups (arm cohorts, follow-up funnel, placements, pairs) of each active store "
        "(or the ones given): the days that can still change, or every day with --full."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--store",
            action="extend",
            nargs="+",
            default=[],
            metavar="ID",
            help="A store's id or PLATFORM:EXTERNAL_ID (for example 3 or oscar:default); repeat for several.",
        )
        parser.add_argument("--full", action="store_true", help="Recompute every day since the store's first data.")
        parser.add_argument("--today", metavar="YYYY-MM-DD", help="Compute as of this UTC day (default: today).")

    def handle(self, *args: Any, **options: Any) -> None:
        today = self._today(options["today"])
        stores = [self._store(ref) for ref in options["store"]] or list(
            Store.objects.filter(is_active=True).order_by("pk")
        )
        if not stores:
            self.stdout.write("No store to roll up.")
            return
        started = time.monotonic()
        failed = []
        for store in stores:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{store} [{store.pk}, {store.platform}:{store.external_id}]"))
            store_started = time.monotonic()
            try:
                run = rollup.run(store, full=options["full"], today=today, progress=self._progress(store))
            except Exception as err:  # recorded on the store's RollupRun; the other stores still run
                failed.append(store)
                self.stderr.write(f"  failed: {type(err).__name__}: {err}")
                continue
            line = (
                f"  {run.rows:,} rows written for {run.first_day} to {run.last_day} "
                f"in {time.monotonic() - store_started:.2f}s"
            )
            logger.info("Store %s:%s", store.pk, line)
            self.stdout.write(self.style.SUCCESS(line))
        summary = f"{len(stores) - len(failed)} of {len(stores)} stores rolled up in {time.monotonic() - started:.1f}s"
        logger.info(summary)
        if failed:
            raise CommandError(f"{summary}; failed: {', '.join(str(s) for s in failed)} (see the errors above)")
        self.stdout.write(self.style.SUCCESS(summary))

    def _progress(self, store: Store) -> rollup.Progress:
        def report(done: int, total: int, message: str) -> None:
            line = f"  {done}/{total} days: {message}"
            logger.info("Store %s:%s", store.pk, line)
            self.stdout.write(line)

        return report

    def _today(self, value: str | None) -> date | None:
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise CommandError(f"--today {value!r} is not a date like 2026-11-30.") from None

    def _store(self, ref: str) -> Store:
        if ref.isdigit():
            store = Store.objects.filter(pk=int(ref)).first()
        else:
            try:
                platform, external_id = parse_store_arg(ref)
            except Exception as err:
                raise CommandError(f"--store {ref!r}: give a store id or {err}") from None
            store = Store.objects.filter(platform=platform, external_id=external_id).first()
        if store is None:
            raise CommandError(f"No store {ref!r}.")
        return store
