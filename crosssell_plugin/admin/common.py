"""What the admin pages share: read-only mixins and the formatted JSON of raw payloads."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html


def _pretty_json(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return format_html(
        '<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>',
        text,
    )


class RawPayloadMixin:
    @admin.display(description="Raw payload")
    def raw_payload(self, obj: Any) -> str:
        return _pretty_json(obj.raw)


class ReadOnlyMixin:
    """Rows that only the platform writes: viewable, not editable or addable by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FullyReadOnlyMixin(ReadOnlyMixin):
    """Rows only the recommender writes (training runs, pair counts): viewable, never edited or deleted."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
