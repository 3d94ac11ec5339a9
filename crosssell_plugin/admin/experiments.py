"""The admin of experiments: a store's holdout, A/B splits and bandits with their arms, started and
stopped from the list, and the read-only record of who was assigned to which arm.

The store's holdout experiment (created by crosssell with the store's first purchase) measures
the plugin's uplift as a whole: it cannot be deleted here, and its kind and layer stay as they are.
A stopped experiment does not start again (its results would mix two periods), except the
holdout, of which a store has one.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Prefetch, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html_join

from ..models import Arm, Assignment, Experiment
from .common import FullyReadOnlyMixin


def is_store_holdout(experiment: Experiment | None) -> bool:
    """Whether ``experiment`` is a store's holdout (kind holdout, on the layer ``holdout``)."""
    return experiment is not None and experiment.pk is not None and experiment.kind == Experiment.Kind.HOLDOUT


class ExperimentForm(forms.ModelForm):
    """An experiment; a store has one holdout experiment, and every error of the model's checks
    (a holdout's layer, a running experiment on the same layer) is shown on the form."""

    class Meta:
        model = Experiment
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        store = data.get("store") or getattr(self.instance, "store", None)
        if data.get("kind") == Experiment.Kind.HOLDOUT and store is not None:
            other = (
                Experiment.objects.for_store(store)
                .filter(kind=Experiment.Kind.HOLDOUT)
                .exclude(pk=self.instance.pk)
                .first()
            )
            if other is not None:
                self.add_error("kind", f"This store already has its holdout experiment (\u201c{other.name}\u201d).")
        return data

    def _update_errors(self, errors: ValidationError) -> None:
        """The model's errors on fields the form does not show (a read-only status) go to the top."""
        if hasattr(errors, "error_dict"):
            moved: dict[str, list[ValidationError]] = {}
            for field, field_errors in errors.error_dict.items():
                moved.setdefault(field if field in self.fields else NON_FIELD_ERRORS, []).extend(field_errors)
            errors = ValidationError(moved)
        super()._update_errors(errors)


class ArmFormSet(BaseInlineFormSet):
    """An arm that customers were assigned to is not deleted (their record would go with it)."""

    def clean(self) -> None:
        super().clean()
        for form in self.deleted_forms:
            arm = form.instance
            if arm.pk is not None and arm.assignments.exists():
                count = arm.assignments.count()
                raise ValidationError(
                    f"The arm \u201c{arm.name}\u201d has {count} customer(s) assigned: it cannot be deleted "
                    "(set its weight to 0 to give it no new customers)."
                )


class ArmInline(admin.TabularInline):
    model = Arm
    formset = ArmFormSet
    extra = 0
    fields = [
        "name",
        "weight",
        "holdout",
        "strategy",
        "channel",
        "delay_scale",
        "offers",
        "copy_variant",
        "share_display",
        "share_updated_at",
        "assigned",
    ]
    readonly_fields = ["share_display", "share_updated_at", "assigned"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Arm]:
        return super().get_queryset(request).annotate(n_assigned=Count("assignments"))

    @admin.display(description="Current share")
    def share_display(self, obj: Arm) -> str:
        """A bandit's current share of new customers, as a percentage; by weight until it has one."""
        if obj.share is None:
            return "by weight"
        return f"{obj.share * 100:.1f} %"

    @admin.display(description="Customers assigned")
    def assigned(self, obj: Arm) -> int:
        return getattr(obj, "n_assigned", 0)


def _clash(name: str, layer: str) -> str:
    who = f"\u201c{name}\u201d" if name else "Another experiment"
    return f"{who} is already running on the layer \u201c{layer}\u201d (one per layer): stop it first."


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """A store's experiments with their arms; *Start* and *Stop* from the list."""

    form = ExperimentForm
    inlines = [ArmInline]
    list_display = ["name", "store", "kind", "layer", "status", "started_at", "stopped_at", "arms_assigned"]
    list_filter = ["store", "kind", "status", "layer"]
    search_fields = ["name", "layer"]
    list_select_related = ["store"]
    actions = ["start", "stop", "delete_selected"]
    readonly_fields = ["status", "salt", "started_at", "stopped_at", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["store", "name", "kind", "layer", "status"]}),
        ("A bandit's settings", {"fields": ["metric", "exploration_floor", "window_days"]}),
        ("Record", {"fields": ["salt", "started_at", "stopped_at", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        arms = Arm.objects.annotate(n_assigned=Count("assignments")).order_by("pk")
        return super().get_queryset(request).prefetch_related(Prefetch("arms", queryset=arms))

    def get_readonly_fields(self, request: HttpRequest, obj: Experiment | None = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("store")
        if is_store_holdout(obj):
            fields += ["kind", "layer"]
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        if is_store_holdout(obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Customers assigned")
    def arms_assigned(self, obj: Experiment) -> str:
        """Each arm with the number of customers assigned to it."""
        arms = list(obj.arms.all())
        if not arms:
            return "no arms"
        return format_html_join(", ", "{}: {}", ((arm.name, getattr(arm, "n_assigned", 0)) for arm in arms))

    @admin.action(description="Delete the selected experiments (never a store's holdout)", permissions=["delete"])
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> HttpResponse | None:
        holdouts = [e for e in queryset.select_related("store") if is_store_holdout(e)]
        if holdouts:
            names = ", ".join(f"\u201c{e.name}\u201d ({e.store.name})" for e in holdouts)
            self.message_user(
                request,
                f"Nothing deleted: the selection holds the store's holdout experiment {names}, which measures the "
                "uplift of cross-selling and cannot be deleted (stop it instead).",
                messages.ERROR,
            )
            return None
        return django_delete_selected(self, request, queryset)

    @admin.action(
        description="Start the selected experiments (one running experiment per layer)", permissions=["change"]
    )
    def start(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        for experiment in queryset.select_related("store").prefetch_related("arms").order_by("pk"):
            problem = self._start(experiment)
            if problem:
                self.message_user(request, f"\u201c{experiment.name}\u201d not started: {problem}", messages.ERROR)
            else:
                self.message_user(request, f"Started \u201c{experiment.name}\u201d.", messages.SUCCESS)

    def _start(self, experiment: Experiment) -> str:
        """Start ``experiment``; the reason it cannot start, else ""."""
        if experiment.status == Experiment.Status.RUNNING:
            return "it is already running."
        if experiment.status == Experiment.Status.STOPPED and not is_store_holdout(experiment):
            return (
                "it was stopped, and a stopped experiment does not start again (its results would mix two periods): "
                "add a new one instead."
            )
        if not any(arm.weight > 0 for arm in experiment.arms.all()):
            return "it has no arm with a positive weight, so no customer could be assigned: add arms first."
        clash = self._running_on_layer(experiment)
        if clash is not None:
            return _clash(clash.name, experiment.layer)
        experiment.status, experiment.stopped_at = Experiment.Status.RUNNING, None
        try:
            with transaction.atomic():
                experiment.save()
        except IntegrityError:  # another experiment started on the layer meanwhile
            clash = self._running_on_layer(experiment)
            return _clash(clash.name if clash is not None else "", experiment.layer)
        return ""

    @staticmethod
    def _running_on_layer(experiment: Experiment) -> Experiment | None:
        return (
            Experiment.objects.for_store(experiment.store_id)
            .filter(layer=experiment.layer, status=Experiment.Status.RUNNING)
            .exclude(pk=experiment.pk)
            .first()
        )

    @admin.action(
        description="Stop the selected experiments (customers keep their arms' record)", permissions=["change"]
    )
    def stop(self, request: HttpRequest, queryset: QuerySet[Experiment]) -> None:
        stopped, skipped = [], []
        for experiment in queryset.order_by("pk"):
            if experiment.status != Experiment.Status.RUNNING:
                skipped.append(experiment.name)
                continue
            experiment.status, experiment.stopped_at = Experiment.Status.STOPPED, timezone.now()
            experiment.save()
            stopped.append(experiment.name)
        if stopped:
            self.message_user(
                request,
                f"Stopped {', '.join(stopped)}: no new customer is assigned, and the ones assigned get what a "
                "store without this experiment gives.",
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(request, f"Not running, so not stopped: {', '.join(skipped)}.", messages.WARNING)


class ExperimentListFilter(admin.SimpleListFilter):
    """Experiments named with their store (two stores may both have a "Holdout"), only the
    selected store's when one is."""

    title = "experiment"
    parameter_name = "experiment__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        experiments = Experiment.objects.select_related("store").order_by("store__name", "name")
        store = request.GET.get("store__id__exact", "")
        if store.isdigit():
            experiments = experiments.for_store(int(store))
        return [(str(e.pk), f"{e.store.name}: {e.name}") for e in experiments]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
        value = self.value()
        return queryset.filter(experiment_id=int(value)) if value and value.isdigit() else queryset


class ArmListFilter(admin.SimpleListFilter):
    """Arms named with their experiment, only the selected experiment's (or store's) when one is."""

    title = "arm"
    parameter_name = "arm__id__exact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        arms = Arm.objects.select_related("experiment").order_by("experiment__name", "pk")
        experiment = request.GET.get("experiment__id__exact", "")
        store = request.GET.get("store__id__exact", "")
        if experiment.isdigit():
            arms = arms.filter(experiment_id=int(experiment))
        elif store.isdigit():
            arms = arms.filter(experiment__store_id=int(store))
        return [(str(arm.pk), f"{arm.experiment.name}: {arm.name}") for arm in arms]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
        value = self.value()
        return queryset.filter(arm_id=int(value)) if value and value.isdigit() else queryset


@admin.register(Assignment)
class AssignmentAdmin(FullyReadOnlyMixin, admin.ModelAdmin):
    """Who was assigned to which arm, and at which purchase: recorded once, never changed here
    (changing it would move a customer between arms and spoil the comparison)."""

    list_display = ["assigned_at", "customer", "experiment", "arm", "trigger_order", "store"]
    list_filter = ["store", ExperimentListFilter, ArmListFilter, ("assigned_at", admin.DateFieldListFilter)]
    search_fields = ["customer__email", "customer__external_id", "customer__first_name", "customer__last_name"]
    list_select_related = ["customer", "experiment", "arm__experiment", "trigger_order", "store"]
    date_hierarchy = "assigned_at"
    show_full_result_count = False


__all__ = [
    "ArmInline",
    "ArmListFilter",
    "AssignmentAdmin",
    "ExperimentAdmin",
    "ExperimentForm",
    "ExperimentListFilter",
    "is_store_holdout",
]
