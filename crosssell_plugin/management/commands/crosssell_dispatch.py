"""Send the follow-ups that are due: once, or in a loop (the no-broker default of the dispatcher)."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from crosssell_plugin.followups.dispatch import default_worker_id, dispatch_until_empty


class Command(BaseCommand):
    help = (
        "Send the cross-sell follow-ups that are due, then stop (or, with --loop, keep checking every "
        "--interval seconds). Several can run at once: each follow-up is claimed by one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep running until interrupted.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between checks (default 5).")
        parser.add_argument("--batch", type=int, default=None, help="Rows per claim (default DISPATCH_BATCH_SIZE).")
        parser.add_argument("--worker-id", default=None, help="Name in claimed_by (default host:pid).")

    def handle(self, *args: Any, **options: Any) -> None:
        self._stop = False
        signal.signal(signal.SIGTERM, self._request_stop)
        worker = options["worker_id"] or default_worker_id()
        totals: dict[str, int] = {}
        while True:
            for report in dispatch_until_empty(options["batch"], worker):
                for key in ("claimed", "sent", "skipped", "postponed", "retried", "failed", "lost"):
                    totals[key] = totals.get(key, 0) + getattr(report, key)
                if report.claimed and options["verbosity"] >= 1:
                    self.stdout.write(f"{worker}: {report}")
            if not options["loop"] or self._stop:
                break
            close_old_connections()
            deadline = time.monotonic() + options["interval"]
            while not self._stop and time.monotonic() < deadline:
                time.sleep(min(0.2, options["interval"]))
            if self._stop:
                break
        if options["verbosity"] >= 1:
            self.stdout.write(f"{worker} done: " + ", ".join(f"{k} {v}" for k, v in totals.items()))

    def _request_stop(self, signum: int, frame: Any) -> None:
        self._stop = True
