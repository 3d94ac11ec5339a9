"""Create an API key for a store and print it, once.

manage.py crosssell_api_key --store oscar:default --name "mobile app"
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crosssell_plugin.models import ApiKey, Store


class Command(BaseCommand):
    help = (
        "Create an API key of the REST API (/crosssell/api/v1/) for one store and print it. The key is shown "
        "only now: crosssell stores its SHA-256, not the key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", required=True, metavar="PLATFORM:EXTERNAL_ID", help="e.g. oscar:default")
        parser.add_argument("--name", required=True, help="what will use the key, e.g. 'mobile app'")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["store"]
        platform, sep, external_id = ref.partition(":")
        if not sep or not platform or not external_id:
            raise CommandError(f"--store {ref!r} must look like PLATFORM:EXTERNAL_ID, for example oscar:default")
        store = Store.objects.filter(platform=platform, external_id=external_id).first()
        if store is None:
            raise CommandError(f"No store {ref!r}.")
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        api_key, key = ApiKey.create_key(store, name)
        self.stdout.write(f"API key {api_key.name!r} for {store} (prefix {api_key.prefix}):")
        self.stdout.write(key)
        self.stdout.write("Copy it now: it is not stored and will not be shown again.")
