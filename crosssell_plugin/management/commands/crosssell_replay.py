"""Process stored webhook deliveries again: by id, status, platform, store and age.

    manage.py crosssell_replay --status failed                      # every failed delivery
    manage.py crosssell_replay --status pending --since 2026-12-01  # stuck ones (broker was down)
    manage.py crosssell_replay 41 42 --force                        # these two, even if processed

Processing is idempotent: replaying a processed delivery (``--force``) records nothing twice.
Deliveries are processed here, one by one, oldest first (no worker needed).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from crosssell_plugin.deliveries import process_delivery
from crosssell_plugin.exceptions import CrossSellError
from crosssell_plugin.models import WebhookDelivery
from crosssell_plugin.platforms import parse_store_arg

logger = logging.getLogger("crosssell_plugin.deliveries")


class Command(BaseCommand):
    help = "Process stored webhook deliveries again (failed ones by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="Delivery ids (default: by the filters below).")
        parser.add_argument(
            "--status",
            choices=[s.value for s in WebhookDelivery.Status],
            help="Only deliveries in this status (default: failed, unless ids are given).",
        )
        parser.add_argument("--platform", help="Only this platform's deliveries, e.g. stripe.")
        parser.add_argument("--store", metavar="PLATFORM:EXTERNAL_ID", help="Only this store's deliveries.")
        parser.add_argument("--since", help="Only deliveries received at or after this ISO 8601 date(-time).")
        parser.add_argument("--force", action="store_true", help="Also re-process processed/ignored deliveries.")

    def handle(self, *args: Any, **options: Any) -> None:
        deliveries = WebhookDelivery.objects.order_by("received_at", "pk")
        if options["ids"]:
            deliveries = deliveries.filter(pk__in=options["ids"])
        status = options["status"] or (None if options["ids"] else WebhookDelivery.Status.FAILED)
        if status:
            deliveries = deliveries.filter(status=status)
        if options["platform"]:
            deliveries = deliveries.filter(platform=options["platform"])
        if options["store"]:
            try:
                platform, external_id = parse_store_arg(options["store"])
            except CrossSellError as err:
                raise CommandError(str(err)) from None
            deliveries = deliveries.filter(store__platform=platform, store__external_id=external_id)
        if options["since"]:
            value = options["since"]
            since = parse_datetime(value if "T" in value else value + "T00:00:00+00:00")
            if since is None or since.tzinfo is None:
                raise CommandError(f"--since {value!r} is not an ISO 8601 date-time with a time zone")
            deliveries = deliveries.filter(received_at__gte=since)
        pks = list(deliveries.values_list("pk", flat=True))
        if not pks:
            self.stdout.write("No delivery to replay.")
            return
        outcomes: dict[str, int] = {}
        for pk in pks:
            outcome = process_delivery(pk, force=options["force"])
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            line = f"delivery {pk}: {outcome}"
            if outcome == WebhookDelivery.Status.FAILED:
                error = WebhookDelivery.objects.filter(pk=pk).values_list("error", flat=True).first()
                self.stderr.write(f"{line} ({error})")
            else:
                self.stdout.write(line)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items()))
        logger.info("Replayed %d webhook deliveries: %s", len(pks), summary)
        self.stdout.write(self.style.SUCCESS(f"{len(pks)} replayed: {summary}"))
