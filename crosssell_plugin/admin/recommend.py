"""The admin of what the recommender writes: model versions (with their tuning report), pair counts."""

from __future__ import annotations

from django.contrib import admin

from ..models import (
    ModelVersion,
    PairCount,
)
from .common import FullyReadOnlyMixin, _pretty_json


@admin.register(ModelVersion)
class ModelVersionAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "version",
        "store",
        "status",
        "created_at",
        "trained_until",
        "n_items",
        "n_interactions",
        "fit_seconds_display",
        "size_display",
    ]
    list_filter = ["store", "status"]
    search_fields = ["sha256", "artifact_path", "error"]
    date_hierarchy = "created_at"
    exclude = ["metrics"]
    readonly_fields = ["metrics_display"]
    list_select_related = ["store"]

    @admin.display(description="Fit", ordering="fit_seconds")
    def fit_seconds_display(self, obj: ModelVersion) -> str:
        return "-" if obj.fit_seconds is None else f"{obj.fit_seconds:.1f} s"

    @admin.display(description="Size", ordering="size")
    def size_display(self, obj: ModelVersion) -> str:
        return f"{obj.size / 1_048_576:.2f} MiB" if obj.size >= 1_048_576 else f"{obj.size / 1024:.1f} KiB"

    @admin.display(description="Metrics (tuning report)")
    def metrics_display(self, obj: ModelVersion) -> str:
        return _pretty_json(obj.metrics)


@admin.register(PairCount)
class PairCountAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    list_display = ["item_a", "item_b", "kind", "count", "store", "updated_at"]
    list_filter = ["store", "kind"]
    search_fields = ["item_a__title", "item_b__title"]
    list_select_related = ["store", "item_a", "item_b"]
    raw_id_fields = ["item_a", "item_b"]
    ordering = ["-count", "item_a", "item_b"]
