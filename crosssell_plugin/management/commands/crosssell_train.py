"""Train the recommender of one, several or all stores, with progress and timings on the terminal."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crosssell_plugin.models import ModelVersion, Store
from crosssell_plugin.recommend.training import stores_to_train, train_store

logger = logging.getLogger("crosssell_plugin.training")


class Command(BaseCommand):
    help = (
        "Train the cross-sell recommender of each active store (or the ones given) and activate the new "
        "model versions. A failed training leaves the previous version serving."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--store",
            action="append",
            metavar="PLATFORM:EXTERNAL_ID",
            help="Train this store (for example oscar:default); repeat for several.",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            help="Train every store, including inactive ones (default: every active store).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["store"] and options["all"]:
            raise CommandError("Give --store or --all, not both.")
        stores = (
            [self._store(ref) for ref in options["store"]]
            if options["store"]
            else list(stores_to_train(include_inactive=options["all"]))
        )
        if not stores:
            self.stdout.write("No store to train.")
            return
        started = time.monotonic()
        failed = []
        for store in stores:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{store} [{store.platform}:{store.external_id}]"))
            version = train_store(store, progress=self._progress)
            if version.status == ModelVersion.Status.REJECTED:
                failed.append(store)
        summary = f"{len(stores) - len(failed)} of {len(stores)} stores trained in {time.monotonic() - started:.1f}s"
        logger.info(summary)
        if failed:
            raise CommandError(f"{summary}; failed: {', '.join(str(s) for s in failed)} (see the errors above)")
        self.stdout.write(self.style.SUCCESS(summary))

    def _store(self, ref: str) -> Store:
        platform, sep, external_id = ref.partition(":")
        if not sep or not platform or not external_id:
            raise CommandError(f"--store {ref!r} must look like PLATFORM:EXTERNAL_ID, for example oscar:default")
        store = Store.objects.filter(platform=platform, external_id=external_id).first()
        if store is None:
            raise CommandError(f"No store {ref!r}.")
        return store

    def _progress(self, stage: str, **info: Any) -> None:
        write = self.stdout.write
        if stage == "loading":
            write(f"  version {info['version']}: loading orders and progress reports...")
        elif stage == "loaded":
            write(
                f"  loaded {info['items']:,} items, {info['interactions']:,} interactions, "
                f"{info['customers']:,} customers in {info['seconds']:.2f}s"
            )
        elif stage == "fitting":
            write("  fitting and tuning...")
        elif stage == "tuning":
            write(f"    {info['message']}")
        elif stage == "fitted":
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(info["metrics"].items())) or "no hold-out"
            write(f"  fitted in {info['seconds']:.2f}s ({metrics})")
        elif stage == "saving":
            write("  saving the artifact...")
        elif stage == "saved":
            write(f"  saved {info['path']} ({info['bytes'] / 1024:,.1f} KiB) in {info['seconds']:.2f}s")
        elif stage == "activated":
            write(self.style.SUCCESS(f"  version {info['version']} active ({info['seconds']:.2f}s in all)"))
        elif stage == "superseded":
            write(self.style.WARNING(f"  version {info['version']} not activated: {info['error']}"))
        elif stage == "rejected":
            self.stderr.write(f"  rejected after {info['seconds']:.2f}s: {info['error']}")
