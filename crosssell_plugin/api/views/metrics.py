"""The store's measurement report (:mod:`crosssell_plugin.experiments.report`): the uplift of
cross-sell over the holdout, the experiments' arms, the follow-up funnel, the placements and
the top pairs, as JSON or as one CSV table. For the store's API key or staff only: a visitor of
the site's pages (a shopper) never sees them."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from ...experiments import report
from ...shoppers import is_shopper
from ..authentication import HasStore
from ..serializers import ErrorSerializer
from .base import RETRY_AFTER, StoreAPIView, StoreAutoSchema, documented, invalid

# --- the query -----------------------------------------------------------------------------------


class MetricsQuerySerializer(serializers.Serializer):
    since = serializers.DateField(
        required=False, help_text="First UTC day (cohort day) included, YYYY-MM-DD; default 89 days before `until`."
    )
    until = serializers.DateField(required=False, help_text="Last UTC day included, YYYY-MM-DD; default today.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since > until:
            raise serializers.ValidationError({"since": [f"since ({since}) must not be after until ({until})."]})
        if since is not None and until is None:
            today = timezone.now().astimezone(UTC).date()
            if since > today:
                raise serializers.ValidationError({"since": [f"since ({since}) must not be after today ({today})."]})
        return attrs


# --- the answer's shape (for the schema; the data comes from report.as_json) ---------------------

_MONEY = {"help_text": "An amount in the row's currency, as a decimal string."}
_REVENUE = serializers.DictField(
    child=serializers.CharField(), help_text='Attributed revenue per currency, {"EUR": "12.5000"}.'
)


class ArmFiguresSerializer(serializers.Serializer):
    customers = serializers.IntegerField()
    converted = serializers.IntegerField(help_text="Customers with a further order within the window.")
    exposed = serializers.IntegerField(help_text="Customers shown at least one recommendation.")
    attributed = serializers.IntegerField(help_text="Customers who bought a recommended item.")
    orders = serializers.IntegerField(help_text="Further orders within the window, in the currency.")
    revenue = serializers.CharField(help_text="Those orders' totals net of refunds.")
    refunded = serializers.CharField(**_MONEY)
    attributed_revenue = serializers.CharField(**_MONEY)
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    cross_sell_rate = serializers.FloatField(allow_null=True, help_text="converted / customers.")
    aov = serializers.CharField(allow_null=True, help_text="revenue / orders.")
    revenue_per_customer = serializers.CharField(allow_null=True, help_text="revenue / customers.")
    ctr = serializers.FloatField(allow_null=True, help_text="clicks / impressions.")


class IntervalSerializer(serializers.Serializer):
    estimate = serializers.CharField(help_text="Treatment minus holdout.")
    low = serializers.CharField()
    high = serializers.CharField()
    n_treatment = serializers.IntegerField()
    n_control = serializers.IntegerField()
    method = serializers.CharField()
    confidence = serializers.FloatField()
    kind = serializers.CharField(help_text="absolute (an amount), relative (a fraction) or rate (of proportions).")


class VerdictSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=["not_enough_data", "positive", "negative", "inconclusive"])
    sentence = serializers.CharField()


class DayPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    treatment_aov = serializers.CharField(allow_null=True)
    holdout_aov = serializers.CharField(allow_null=True)
    treatment_rpc = serializers.CharField(allow_null=True)
    holdout_rpc = serializers.CharField(allow_null=True)
    treatment_rate = serializers.FloatField(allow_null=True)
    holdout_rate = serializers.FloatField(allow_null=True)


class UpliftSerializer(serializers.Serializer):
    currency = serializers.CharField()
    treatment = ArmFiguresSerializer()
    holdout = ArmFiguresSerializer()
    revenue_per_customer = IntervalSerializer(allow_null=True)
    aov = IntervalSerializer(allow_null=True)
    cross_sell_rate = IntervalSerializer(allow_null=True)
    incremental_revenue = serializers.CharField(allow_null=True, help_text="(rpc_t - rpc_h) x treated customers.")
    verdict = VerdictSerializer()
    daily = DayPointSerializer(many=True)


class ArmRowSerializer(serializers.Serializer):
    experiment = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    arm = serializers.CharField()
    holdout = serializers.BooleanField()
    share = serializers.CharField(allow_null=True, help_text="A bandit's current share, else the weight's share.")
    figures = ArmFiguresSerializer()
    currency = serializers.CharField()
    posterior_mean = serializers.FloatField(
        allow_null=True, help_text="Of Beta(1 + converted, 1 + customers - converted)."
    )
    posterior_low = serializers.FloatField(allow_null=True)
    posterior_high = serializers.FloatField(allow_null=True)


class StepRowSerializer(serializers.Serializer):
    path = serializers.CharField()
    step = serializers.CharField()
    position = serializers.IntegerField()
    channel = serializers.CharField()
    planned = serializers.IntegerField()
    sent = serializers.IntegerField()
    skipped = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    clicked = serializers.IntegerField()
    converted = serializers.IntegerField()
    revenue = _REVENUE


class PlacementRowSerializer(serializers.Serializer):
    placement = serializers.CharField()
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    ctr = serializers.FloatField(allow_null=True)
    conversions = serializers.IntegerField()
    revenue = _REVENUE


class PairRowSerializer(serializers.Serializer):
    source = serializers.CharField(help_text="The title of the item bought.")
    target = serializers.CharField(help_text="The title of the item recommended.")
    source_id = serializers.IntegerField()
    target_id = serializers.IntegerField()
    impressions = serializers.IntegerField()
    clicks = serializers.IntegerField()
    conversions = serializers.IntegerField()
    revenue = _REVENUE


class ReportStoreSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    currency = serializers.CharField()


class MetricsSerializer(serializers.Serializer):
    store = ReportStoreSerializer()
    since = serializers.DateField()
    until = serializers.DateField()
    as_of = serializers.DateTimeField(allow_null=True, help_text="When the last rollup run finished.")
    uplift = UpliftSerializer(many=True, help_text="One per currency, the store's first.")
    arms = ArmRowSerializer(many=True)
    funnel = StepRowSerializer(many=True)
    placements = PlacementRowSerializer(many=True)
    pairs = PairRowSerializer(many=True, help_text="The top 20 by conversions, then clicks.")


# --- the views -----------------------------------------------------------------------------------


class NotShopper(BasePermission):
    """The store's figures are for its API key and its staff, not for a visitor of its pages."""

    message = "The store's metrics need the store's API key (or a staff session naming the store)."

    def has_permission(self, request: Request, view: Any) -> bool:
        return not is_shopper(request)


class StaffOrKeySchema(StoreAutoSchema):
    """An operation a shopper's session cannot call: an API key or a staff session only."""

    def get_auth(self) -> list[dict[str, list[str]]]:
        return AutoSchema.get_auth(self)


_PERIOD = [MetricsQuerySerializer, RETRY_AFTER]
_INVALID = invalid(
    "Invalid dates.", {"since": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}
)


class MetricsView(StoreAPIView):
    """What the store's rollups say, over ``since``..``until``."""

    permission_classes = [HasStore, NotShopper]
    schema = StaffOrKeySchema()

    def report(self) -> report.StoreReport:
        query = MetricsQuerySerializer(data=self.request.query_params.dict())
        query.is_valid(raise_exception=True)
        period = query.validated_data
        return report.build(self.store, since=period.get("since"), until=period.get("until"))


class Metrics(MetricsView):
    """The store's whole report as JSON."""

    @extend_schema(
        operation_id="metrics",
        summary="The store's uplift, experiments, funnel, placements and pairs",
        description="Read from the daily rollups (see `as_of`). Amounts are decimal strings and are never "
        "added across currencies. The verdict reads the revenue per customer of treatment vs holdout.",
        parameters=_PERIOD,
        responses=documented({200: MetricsSerializer, 400: _INVALID}),
        tags=["metrics"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(report.as_json(self.report()))


class MetricsTable(MetricsView):
    """One table of the report as CSV."""

    @extend_schema(
        operation_id="metrics_table",
        summary="One table of the store's report, as CSV",
        description=f"`table` is one of {', '.join(report.TABLES)}. Rows with amounts carry their currency in "
        "a `currency` column; the funnel, placements and pairs have one `revenue_<CURRENCY>` column per currency.",
        parameters=[
            OpenApiParameter("table", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(report.TABLES)),
            *_PERIOD,
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The table, with a header row."),
            **{
                (code, "application/json"): answer
                for code, answer in documented(
                    {400: _INVALID, 404: OpenApiResponse(ErrorSerializer, description="No such table.")}
                ).items()
            },
        },
        tags=["metrics"],
    )
    def get(self, request: Request, table: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if table not in report.TABLES:
            raise exceptions.NotFound(f"No table {table!r}: the tables are {', '.join(report.TABLES)}.")
        built = self.report()
        header, rows = report.tables(built)[table]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        name = f"crosssell-{table}-{built.since.isoformat()}-{built.until.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
