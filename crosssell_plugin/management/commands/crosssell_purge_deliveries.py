"""Delete stored webhook deliveries past their retention, store by store.

    manage.py crosssell_purge_deliveries                       # older than WEBHOOK_RETENTION_DAYS
    manage.py crosssell_purge_deliveries --older-than-days 7 --store stripe:acct_1
    manage.py crosssell_purge_deliveries --dry-run             # count only

A delivery's raw body holds customer data (emails, addresses), so it is kept only as long as
``CROSSSELL["WEBHOOK_RETENTION_DAYS"]`` says (30 by default). Processed, ignored and failed
deliveries are deleted; pending ones are kept (they still hold work: ``crosssell_replay --status
pending``) and reported. The ``crosssell.purge_deliveries`` task does the same daily from beat.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crosssell_plugin.conf import crosssell_settings
from crosssell_plugin.deliveries import purge_deliveries
from crosssell_plugin.exceptions import CrossSellError
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import parse_store_arg


class Command(BaseCommand):
    help = "Delete stored webhook deliveries received more than WEBHOOK_RETENTION_DAYS ago (pending ones are kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            metavar="DAYS",
            help="Delete deliveries received more than DAYS days ago (default: WEBHOOK_RETENTION_DAYS).",
        )
        parser.add_argument("--store", metavar="PLATFORM:EXTERNAL_ID", help="Only this store's deliveries.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["older_than_days"]
        if days is not None and days < 1:
            raise CommandError(f"--older-than-days must be 1 or more, not {days}.")
        if days is None:
            days = crosssell_settings.WEBHOOK_RETENTION_DAYS
        store = None
        if options["store"]:
            try:
                platform, external_id = parse_store_arg(options["store"])
            except CrossSellError as err:
                raise CommandError(str(err)) from None
            store = Store.objects.filter(platform=platform, external_id=external_id).first()
            if store is None:
                raise CommandError(f"No store {options['store']}.")
        results = purge_deliveries(older_than=timedelta(days=days), store=store, dry_run=options["dry_run"])
        verb = "would delete" if options["dry_run"] else "deleted"
        for result in results:
            if result.deleted or result.pending_kept:
                line = f"{result.store} [{result.store.platform}:{result.store.external_id}]: {verb} {result.deleted}"
                if result.pending_kept:
                    line += f", kept {result.pending_kept} pending (run crosssell_replay --status pending)"
                self.stdout.write(line)
        total = sum(r.deleted for r in results)
        pending = sum(r.pending_kept for r in results)
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb.capitalize()} {total} webhook deliveries older than {days} days in {len(results)} stores"
                + (f"; {pending} pending kept." if pending else ".")
            )
        )
