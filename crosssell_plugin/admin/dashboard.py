"""The store owner's dashboard: what cross-sell earned, read from the daily rollups.

One page per store, in Django's admin (``/admin/crosssell/store/<id>/dashboard/``, for staff who
may view the store) and in Oscar's dashboard (``integrations.oscar.dashboard``). Both render the
partial ``crosssell/dashboard/report.html`` with the context of :func:`dashboard_context`, built
from :func:`crosssell_plugin.experiments.report.build` over a date range (``?since=`` and
``?until=``, ``YYYY-MM-DD``, by default the last 90 days):

- a headline card per currency: what a customer who saw cross-sell spent more than a customer of
  the holdout (who saw none), with its 95 % interval and the verdict in one sentence;
- treatment vs holdout side by side (cross-sell rate, average order value, revenue per customer)
  and a chart of them day by day;
- the follow-up funnel per step, the top recommended pairs, the arms of the store's experiments
  and the revenue attributed to each placement.

Every table has a "Download CSV" link to :func:`csv_response`, which streams
``report.tables(report)[name]``. Nothing here reads raw orders: an empty rollup shows a "No data
yet" notice that names the command that fills it.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.text import slugify

from ..models import Store
from ..money import format_price

DASH = "\u2013"  # an en dash: no value
MINUS = "\u2212"  # a minus sign, as wide as the plus sign
#: the range shown when the page is opened without ``since``/``until``
DEFAULT_DAYS = 90
#: the longest range one page answers (the daily chart has one point per day)
MAX_DAYS = 3 * 366
#: the tables of ``report.tables()``, in the page's order, with the link's label
TABLES: dict[str, str] = {
    "uplift": "Cross-sell vs holdout",
    "daily": "Day by day",
    "funnel": "Follow-up messages",
    "pairs": "Top recommended pairs",
    "arms": "Experiments",
    "placements": "Where recommendations were shown",
}
PLACEMENT_LABELS: dict[str, str] = {
    "thank_you": "Thank-you page (after checkout)",
    "order_detail": "Order page (customer account)",
    "item_page": "Product page",
    "email": "Follow-up email",
    "sms": "Follow-up text message (SMS)",
    "in_app": "In-app message",
    "inbox": "Customer inbox",
}


class DateRangeError(ValueError):
    """A ``since``/``until`` the dashboard cannot read; the message is shown to the store owner."""


@dataclass(frozen=True)
class DateRange:
    since: date
    until: date
    errors: tuple[str, ...] = ()


def parse_range(params: QueryDict | dict[str, str], *, today: date | None = None) -> DateRange:
    """The range asked for by ``since`` and ``until`` (``YYYY-MM-DD``, both included).

    Missing values default to the last :data:`DEFAULT_DAYS` days up to today (UTC). A value that
    is not a date, a start after the end or a range longer than :data:`MAX_DAYS` is reported in
    ``errors`` (one readable sentence each) and the default range is used instead."""
    today = today or timezone.now().date()
    default = DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today)
    errors: list[str] = []
    values: dict[str, date | None] = {}
    for name, label in (("since", "From"), ("until", "To")):
        raw = (params.get(name) or "").strip()
        if not raw:
            values[name] = None
            continue
        try:
            values[name] = date.fromisoformat(raw)
        except ValueError:
            errors.append(
                f'"{label}" ({name}) must be a date written YYYY-MM-DD, such as {today:%Y-%m-%d}; got "{raw}".'
            )
            values[name] = None
    if errors:
        return DateRange(default.since, default.until, tuple(errors))
    until = values["until"] or today
    since = values["since"] or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        errors.append(f'"From" ({since:%Y-%m-%d}) is after "To" ({until:%Y-%m-%d}): pick a start before the end.')
    elif (until - since).days + 1 > MAX_DAYS:
        errors.append(
            f"The range {since:%Y-%m-%d} to {until:%Y-%m-%d} is {(until - since).days + 1} days long; "
            f"the dashboard shows at most {MAX_DAYS} days at a time."
        )
    if errors:
        return DateRange(default.since, default.until, tuple(errors))
    return DateRange(since, until)


# --- formatting ----------------------------------------------------------------------------------


def money(amount: Decimal | None, currency: str) -> str:
    """An amount as the store owner reads it ("€12.50"), or a dash when there is none."""
    return DASH if amount is None else format_price(amount, currency)


def signed_money(amount: Decimal, currency: str) -> str:
    text = format_price(abs(amount), currency)
    return f"{MINUS}{text}" if amount < 0 else f"+{text}"


def percent(value: float | Decimal | None, places: int = 1) -> str:
    return DASH if value is None else f"{float(value) * 100:.{places}f} %"


def share_of(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` ("42.0 %"), a dash when ``whole`` is 0."""
    return percent(part / whole) if whole else DASH


def revenue_text(revenue: dict[str, Any] | None) -> str:
    """Revenue per currency ("€12.00 · $3.50"), never summed across currencies."""
    if not revenue:
        return DASH
    return " · ".join(format_price(Decimal(str(amount)), currency) for currency, amount in sorted(revenue.items()))


def placement_label(placement: str) -> str:
    return PLACEMENT_LABELS.get(placement, placement.replace("_", " ").capitalize())


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else round(float(value), 4)


# --- the context ---------------------------------------------------------------------------------


def _headline(uplift: Any) -> dict[str, Any]:
    currency = uplift.currency
    rpc = uplift.revenue_per_customer
    if rpc is None:
        title = f"Not enough orders yet to tell what cross-sell earns per customer ({currency})."
        interval = ""
    else:
        amount = format_price(abs(rpc.estimate), currency)
        if rpc.estimate >= 0:
            title = f"Cross-sell earned you {amount} more per customer"
        else:
            title = f"Customers who saw cross-sell spent {amount} less each"
        interval = f"(95 % interval {signed_money(rpc.low, currency)} to {signed_money(rpc.high, currency)})"
    incremental = None
    if uplift.incremental_revenue is not None and rpc is not None:
        total, customers = uplift.incremental_revenue, uplift.treatment.customers
        more_or_less = "of extra revenue" if total >= 0 else "less revenue"
        incremental = (
            f"In total about {format_price(abs(total), currency)} {more_or_less} from the {customers} customers "
            "who got cross-sell, compared with what they would have spent without it."
        )
    return {
        "currency": currency,
        "title": title,
        "interval": interval,
        "verdict": uplift.verdict.sentence,
        "verdict_code": uplift.verdict.code,
        "incremental": incremental,
    }


def _comparison(uplift: Any) -> dict[str, Any]:
    currency, t, h = uplift.currency, uplift.treatment, uplift.holdout

    def diff(interval: Any, *, rate: bool = False) -> str:
        if interval is None:
            return "not enough data"
        if rate:
            points = lambda v: f"{float(v) * 100:+.1f} points"  # noqa: E731
            return f"{points(interval.estimate)} ({points(interval.low)} to {points(interval.high)})"
        return (
            f"{signed_money(interval.estimate, currency)} ({signed_money(interval.low, currency)} "
            f"to {signed_money(interval.high, currency)})"
        )

    rows = [
        ("Customers", str(t.customers), str(h.customers), ""),
        (
            "Ordered again (cross-sell rate)",
            f"{percent(t.cross_sell_rate)} ({t.converted})",
            f"{percent(h.cross_sell_rate)} ({h.converted})",
            diff(uplift.cross_sell_rate, rate=True),
        ),
        ("Average order value", money(t.aov, currency), money(h.aov, currency), diff(uplift.aov)),
        (
            "Revenue per customer",
            money(t.revenue_per_customer, currency),
            money(h.revenue_per_customer, currency),
            diff(uplift.revenue_per_customer),
        ),
        ("Orders after their first", str(t.orders), str(h.orders), ""),
        ("Revenue (after refunds)", money(t.revenue, currency), money(h.revenue, currency), ""),
        ("Refunded", money(t.refunded, currency), money(h.refunded, currency), ""),
    ]
    return {
        "currency": currency,
        "rows": [dict(zip(("label", "treatment", "holdout", "difference"), r, strict=True)) for r in rows],
    }


def _chart(uplift: Any, since: date, until: date) -> dict[str, Any]:
    """One point per day of the range (an empty day is a gap, not a zero)."""
    points = {point.day: point for point in uplift.daily}
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]

    def series(name: str) -> list[float | None]:
        return [_float(getattr(points[d], name)) if d in points else None for d in days]

    return {
        "currency": uplift.currency,
        "id": f"crosssell-chart-{uplift.currency.lower()}",
        "data_id": f"crosssell-chart-{uplift.currency.lower()}-data",
        "labels": [d.isoformat() for d in days],
        "series": {name: series(name) for name in ("treatment_aov", "holdout_aov", "treatment_rpc", "holdout_rpc")},
    }


def _funnel(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        out.append(
            {
                "path": row.path,
                "step": row.step,
                "position": row.position,
                "channel": row.channel,
                "planned": row.planned,
                "sent": row.sent,
                "sent_share": share_of(row.sent, row.planned),
                "clicked": row.clicked,
                "clicked_share": share_of(row.clicked, row.sent),
                "converted": row.converted,
                "converted_share": share_of(row.converted, row.sent),
                "not_sent": row.skipped + row.cancelled + row.failed,
                "not_sent_detail": f"{row.skipped} skipped, {row.cancelled} cancelled, {row.failed} failed",
                "pending": row.pending,
                "revenue": revenue_text(row.revenue),
            }
        )
    return out


def _arms(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        f = row.figures
        posterior = DASH
        if row.posterior_mean is not None:
            low, high = percent(row.posterior_low), percent(row.posterior_high)
            posterior = f"{percent(row.posterior_mean)} ({low} to {high})"
        out.append(
            {
                "experiment": row.experiment,
                "kind": row.kind,
                "kind_label": {"split": "A/B test", "bandit": "self-adjusting test"}.get(row.kind, row.kind),
                "status": row.status,
                "arm": row.arm,
                "holdout": row.holdout,
                "share": percent(row.share),
                "currency": row.currency,
                "customers": f.customers,
                "converted": f.converted,
                "rate": percent(f.cross_sell_rate),
                "posterior": posterior,
                "revenue_per_customer": money(f.revenue_per_customer, row.currency),
                "revenue": money(f.revenue, row.currency),
            }
        )
    return out


def _placements(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "placement": placement_label(row.placement),
            "code": row.placement,
            "impressions": row.impressions,
            "clicks": row.clicks,
            "ctr": percent(row.ctr),
            "conversions": row.conversions,
            "revenue": revenue_text(row.revenue),
        }
        for row in rows
    ]


def _pairs(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {
            "source": row.source,
            "target": row.target,
            "impressions": row.impressions,
            "clicks": row.clicks,
            "ctr": share_of(row.clicks, row.impressions),
            "conversions": row.conversions,
            "revenue": revenue_text(row.revenue),
        }
        for row in rows
    ]


def dashboard_context(
    store: Store, params: QueryDict | dict[str, str], csv_url: Callable[[str], str]
) -> dict[str, Any]:
    """Everything the dashboard partial shows for ``store`` over the range in ``params``.

    ``csv_url(table)`` gives the download link of a table (the admin and Oscar mount the CSV view
    at different URLs); the link keeps the page's range."""
    from ..experiments import report as reports

    dates = parse_range(params)
    built = reports.build(store, since=dates.since, until=dates.until)
    query = f"?since={dates.since:%Y-%m-%d}&until={dates.until:%Y-%m-%d}"
    uplifts = [u for u in built.uplift if u.treatment.customers or u.holdout.customers]
    arms_with_customers = [row for row in built.arms if row.figures.customers]
    has_rows = bool(uplifts or arms_with_customers or built.funnel or built.placements or built.pairs)
    charts = [_chart(u, dates.since, dates.until) for u in uplifts if u.daily]
    today = timezone.now().date()
    return {
        "store": store,
        "report": built,
        "since": dates.since,
        "until": dates.until,
        "range_errors": dates.errors,
        "quick_ranges": [
            {
                "label": f"Last {n} days",
                "query": f"?since={today - timedelta(days=n - 1):%Y-%m-%d}&until={today:%Y-%m-%d}",
            }
            for n in (30, 90, 365)
        ],
        "as_of": built.as_of,
        "never_rolled_up": built.as_of is None,
        "has_rows": has_rows,
        "headlines": [_headline(u) for u in uplifts],
        "comparisons": [_comparison(u) for u in uplifts],
        "charts": charts,
        "funnel": _funnel(built.funnel),
        "arms": _arms(built.arms),
        "placements": _placements(built.placements),
        "pairs": _pairs(built.pairs),
        "csv": {name: csv_url(name) + query for name in TABLES},
        "table_labels": TABLES,
    }


# --- CSV -----------------------------------------------------------------------------------------


class _Echo:
    """A file-like object whose ``write`` hands the line back, for streaming ``csv.writer`` output."""

    def write(self, value: str) -> str:
        return value


def _lines(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def csv_response(store: Store, params: QueryDict | dict[str, str], table: str) -> HttpResponse:
    """``report.tables(report)[table]`` of ``store`` over the range in ``params``, as a CSV download
    named after the store, the table and the range. An unknown table is a 404; a range the
    dashboard cannot read is a 400 that says why."""
    from ..experiments import report as reports

    if table not in TABLES:
        raise Http404(f'There is no table "{table}"; the tables are {", ".join(TABLES)}.')
    dates = parse_range(params)
    if dates.errors:
        return HttpResponseBadRequest(" ".join(dates.errors), content_type="text/plain; charset=utf-8")
    tables = reports.tables(reports.build(store, since=dates.since, until=dates.until))
    if table not in tables:
        raise Http404(f'The report has no table "{table}".')
    header, rows = tables[table]
    name = f"crosssell-{slugify(store.name) or store.pk}-{table}-{dates.since:%Y%m%d}-{dates.until:%Y%m%d}.csv"
    response = StreamingHttpResponse(_lines(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- the admin's views ---------------------------------------------------------------------------


def _store_for(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> Store:
    store = get_object_or_404(Store, pk=object_id) if str(object_id).isdigit() else None
    if store is None:
        raise Http404(f'There is no store with id "{object_id}".')
    if not model_admin.has_view_permission(request, store):
        raise PermissionDenied
    return store


def admin_dashboard_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The store's dashboard in Django's admin (staff who may view the store)."""
    store = _store_for(model_admin, request, object_id)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Store._meta,
        "title": f"Dashboard: {store.name}",
        "store_url": reverse("admin:crosssell_store_change", args=[store.pk]),
        **dashboard_context(
            store, request.GET, lambda table: reverse("admin:crosssell_store_dashboard_csv", args=[store.pk, table])
        ),
    }
    return TemplateResponse(request, "admin/crosssell/dashboard.html", context)


def admin_csv_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str, table: str) -> HttpResponse:
    """One table of the store's dashboard as CSV (staff who may view the store)."""
    return csv_response(_store_for(model_admin, request, object_id), request.GET, table)


def admin_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """The dashboard's URLs, for ``StoreAdmin.get_urls`` (before the admin's own)."""
    site = model_admin.admin_site
    return [
        path(
            "<path:object_id>/dashboard/",
            site.admin_view(partial(admin_dashboard_view, model_admin)),
            name="crosssell_store_dashboard",
        ),
        path(
            "<path:object_id>/dashboard/csv/<slug:table>/",
            site.admin_view(partial(admin_csv_view, model_admin)),
            name="crosssell_store_dashboard_csv",
        ),
    ]
