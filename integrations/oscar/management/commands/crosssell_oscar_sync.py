"""``manage.py crosssell_oscar_sync``: another name for ``crosssell_sync`` with the Oscar store.

    manage.py crosssell_oscar_sync [--catalog] [--orders] [--since DATE] [--deactivate-missing]

runs ``manage.py crosssell_sync --store oscar:<id> ...`` with the same options, where ``<id>`` is
this project's one Oscar store (``CROSSSELL["PLATFORMS"]["oscar"]["STORE_EXTERNAL_ID"]``,
``"default"`` unless set): the same code, the same rows, the same report. It is kept so that
existing cron jobs and scripts go on working, and says on stderr that ``crosssell_sync`` is the
command to use.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from crosssell_plugin.management.commands import crosssell_sync
from integrations.oscar.adapter import OscarAdapter


def store_arg() -> str:
    """``"oscar:<external id>"``: the ``--store`` of this project's Oscar store."""
    return f"{OscarAdapter.platform_id}:{OscarAdapter().site_store_external_id()}"


class Command(crosssell_sync.Command):
    help = "crosssell_sync --store oscar:<the Oscar store's id>, under its old name (same options)."

    def add_arguments(self, parser: CommandParser) -> None:
        crosssell_sync.add_sync_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        store = store_arg()
        self.stderr.write(f"crosssell_oscar_sync runs crosssell_sync --store {store}: use that command.")
        super().handle(*args, **{**options, "store": store})
