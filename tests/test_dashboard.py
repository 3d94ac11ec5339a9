"""The store owner's dashboard (``crosssell_plugin.admin.dashboard``) in Django's admin and in Oscar's
dashboard, through Django's test client, over rollup rows written here as the rollup would write them.

Who may see it (anonymous -> login, customers refused, staff with the store's view permission),
the "No data yet" page before any rollup, the figures of the rows on the page (the headline per
currency, treatment vs holdout, the funnel, pairs, arms, placements), the CSV download of every
table, unreadable dates answered with a sentence instead of an error, and one store's rows never
shown on another's page.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crosssell_plugin.admin.dashboard import TABLES, parse_range
from crosssell_plugin.experiments.assignment import ensure_holdout
from crosssell_plugin.models import (
    Arm,
    ArmDay,
    Experiment,
    Item,
    PairStat,
    PlacementDay,
    RollupRun,
    Step,
    StepDay,
    Store,
)
from crosssell_plugin.models import Path as FollowupPath

#: days of cohorts written by :func:`write_rollups`, ending this many days before today
DAYS = 10
LAST_DAY_AGO = 11
#: per day: (customers, converted, orders, revenue, revenue_squares, order_value_squares)
TREATMENT_DAY = (30, 9, 10, Decimal("300.00"), 12000.0, 9500.0)
HOLDOUT_DAY = (25, 5, 5, Decimal("125.00"), 3500.0, 3300.0)


@dataclass
class Rollups:
    store: Store
    source: Item
    target: Item
    first_day: date
    last_day: date
    as_of: datetime


def _arm_day(store: Store, arm: Arm, day: date, figures: tuple[Any, ...], currency: str = "EUR") -> ArmDay:
    customers, converted, orders, revenue, squares, order_squares = figures
    return ArmDay(
        store=store,
        experiment=arm.experiment,
        arm=arm,
        day=day,
        currency=currency,
        customers=customers,
        converted=converted,
        exposed=customers if not arm.holdout else 0,
        attributed=converted // 3 if not arm.holdout else 0,
        orders=orders,
        revenue=revenue,
        revenue_squares=squares,
        order_value_squares=order_squares,
        attributed_revenue=Decimal("20.00") if not arm.holdout else Decimal(0),
        impressions=customers * 4 if not arm.holdout else 0,
        clicks=customers // 2 if not arm.holdout else 0,
        complete=True,
    )


def write_rollups(store: Store, *, prefix: str = "") -> Rollups:
    """The rows one rollup run of ``store`` would leave: ten days of holdout cohorts (300 customers
    with cross-sell, 250 without, in EUR), a split experiment on subject lines, a two-step follow-up
    path, two placements and one recommended pair, and the finished run."""
    today = timezone.now().date()
    last_day = today - timedelta(days=LAST_DAY_AGO)
    days = [last_day - timedelta(days=n) for n in range(DAYS)]
    holdout = ensure_holdout(store)
    treatment_arm = holdout.arms.get(holdout=False)
    holdout_arm = holdout.arms.get(holdout=True)
    split = Experiment.objects.create(
        store=store, name=f"{prefix}Subject lines", kind=Experiment.Kind.SPLIT, layer="copy", status="running"
    )
    plain = Arm.objects.create(experiment=split, name=f"{prefix}Plain subject", weight=Decimal("0.5"))
    playful = Arm.objects.create(experiment=split, name=f"{prefix}Playful subject", weight=Decimal("0.5"))
    rows = []
    for day in days:
        rows += [_arm_day(store, treatment_arm, day, TREATMENT_DAY), _arm_day(store, holdout_arm, day, HOLDOUT_DAY)]
        rows += [
            _arm_day(store, plain, day, (12, 3, 3, Decimal("90.00"), 3000.0, 2800.0)),
            _arm_day(store, playful, day, (12, 6, 6, Decimal("150.00"), 4200.0, 3900.0)),
        ]
    ArmDay.objects.bulk_create(rows)
    path = FollowupPath.objects.create(store=store, name=f"{prefix}After a film", enabled=True)
    first = Step.objects.create(
        path=path,
        position=1,
        name=f"{prefix}Soft nudge",
        delay=timedelta(days=1),
        channel="email",
        template="soft_upsell",
    )
    second = Step.objects.create(
        path=path, position=2, name=f"{prefix}Bundle offer", delay=timedelta(days=7), channel="sms", template="bundle"
    )
    StepDay.objects.bulk_create(
        [
            StepDay(
                store=store, path=path, step=first, day=days[0], planned=40, sent=32, skipped=6, failed=2, clicked=8,
                converted=4, revenue={"EUR": "48.00"},
            ),
            StepDay(
                store=store, path=path, step=second, day=days[0], planned=30, sent=20, skipped=5, cancelled=3,
                pending=2, clicked=2, converted=1, revenue={"EUR": "12.00"},
            ),
        ]
    )  # fmt: skip
    PlacementDay.objects.bulk_create(
        [
            PlacementDay(
                store=store, day=days[0], placement="thank_you", impressions=400, clicks=36, conversions=9,
                revenue={"EUR": "81.00"},
            ),
            PlacementDay(
                store=store, day=days[1], placement="email", impressions=120, clicks=15, conversions=3,
                revenue={"EUR": "27.00"},
            ),
        ]
    )  # fmt: skip
    source = Item.objects.create(
        store=store, external_id=f"{prefix}cleo", kind="film", title=f"{prefix}Cleo from 5 to 7",
        price=Decimal("7.50"), currency="EUR",
    )  # fmt: skip
    target = Item.objects.create(
        store=store, external_id=f"{prefix}gleaners", kind="film", title=f"{prefix}The Gleaners and I",
        price=Decimal("8.00"), currency="EUR",
    )  # fmt: skip
    PairStat.objects.create(
        store=store, source=source, target=target, impressions=90, clicks=17, conversions=6,
        revenue={"EUR": "48.00"}, since=today - timedelta(days=90),
    )  # fmt: skip
    as_of = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=3, minutes=7)
    RollupRun.objects.create(
        store=store, started_at=as_of - timedelta(minutes=2), finished_at=as_of, first_day=days[-1],
        last_day=today, rows=len(rows) + 6,
    )  # fmt: skip
    return Rollups(store, source, target, days[-1], last_day, as_of)


def make_user(username: str, *, staff: bool, perms: tuple[str, ...] = (), superuser: bool = False) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=staff, is_superuser=superuser)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename=codename))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def admin_url(store: Store, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("admin:crosssell_store_dashboard", args=[store.pk]) + (f"?{query}" if query else "")


def admin_csv_url(store: Store, table: str) -> str:
    return reverse("admin:crosssell_store_dashboard_csv", args=[store.pk, table])


def read_csv(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.fixture
def viewer(db: Any) -> Client:
    return client_for(make_user("viewer", staff=True, perms=("view_store",)))


# --- who may see it --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_the_admin_login(client: Client, store: Store) -> None:
    url = admin_url(store)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=" in response["Location"]


@pytest.mark.django_db
def test_a_customer_who_is_not_staff_is_refused(store: Store) -> None:
    response = client_for(make_user("shopper", staff=False)).get(admin_url(store))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    csv_response = client_for(make_user("shopper2", staff=False)).get(admin_csv_url(store, "pairs"))
    assert csv_response.status_code == 302


@pytest.mark.django_db
def test_staff_without_the_view_permission_on_stores_get_403(store: Store) -> None:
    client = client_for(make_user("clerk", staff=True))
    assert client.get(admin_url(store)).status_code == 403
    assert client.get(admin_csv_url(store, "pairs")).status_code == 403


@pytest.mark.django_db
def test_staff_who_may_view_stores_see_the_dashboard_and_the_store_list_links_to_it(
    viewer: Client, store: Store
) -> None:
    response = viewer.get(admin_url(store))
    assert response.status_code == 200
    assert "Dashboard: Test store" in response.content.decode()
    changelist = viewer.get(reverse("admin:crosssell_store_changelist")).content.decode()
    assert f'href="{admin_url(store)}"' in changelist
    superuser = client_for(make_user("owner", staff=True, superuser=True))
    change_page = superuser.get(reverse("admin:crosssell_store_change", args=[store.pk])).content.decode()
    assert f'href="{admin_url(store)}">Dashboard</a>' in change_page


@pytest.mark.django_db
def test_an_unknown_store_is_a_404(viewer: Client, store: Store) -> None:
    assert viewer.get(reverse("admin:crosssell_store_dashboard", args=[store.pk + 100])).status_code == 404


# --- empty state ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_before_any_rollup_the_page_says_no_data_yet_and_names_the_command(viewer: Client, store: Store) -> None:
    page = viewer.get(admin_url(store)).content.decode()
    assert "No data yet" in page
    assert "manage.py crosssell_rollup" in page
    assert "Cross-sell earned you" not in page
    assert "<canvas" not in page


@pytest.mark.django_db
def test_a_rollup_with_nothing_in_the_range_says_so(viewer: Client, store: Store) -> None:
    now = timezone.now()
    RollupRun.objects.create(store=store, started_at=now - timedelta(minutes=1), finished_at=now)
    page = viewer.get(admin_url(store)).content.decode()
    assert "Nothing recorded in this period" in page
    assert "No data yet" not in page


# --- the figures ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_shows_the_figures_of_the_rollup_rows(viewer: Client, store: Store) -> None:
    rollups = write_rollups(store)
    response = viewer.get(admin_url(store))
    assert response.status_code == 200
    page = response.content.decode()
    # headline: revenue per customer 3000/300 = 10.00 with cross-sell, 1250/250 = 5.00 without
    assert "Cross-sell earned you €5.00 more per customer" in page
    assert "95 % interval" in page
    headline = response.context["headlines"][0]
    assert headline["currency"] == "EUR"
    assert headline["verdict"] == response.context["report"].uplift[0].verdict.sentence
    assert headline["verdict"] in page
    rows = {row["label"]: row for row in response.context["comparisons"][0]["rows"]}
    assert (rows["Customers"]["treatment"], rows["Customers"]["holdout"]) == ("300", "250")
    assert (rows["Average order value"]["treatment"], rows["Average order value"]["holdout"]) == ("€30.00", "€25.00")
    assert rows["Ordered again (cross-sell rate)"]["treatment"] == "30.0 % (90)"
    assert rows["Ordered again (cross-sell rate)"]["holdout"] == "20.0 % (50)"
    assert (rows["Revenue per customer"]["treatment"], rows["Revenue per customer"]["holdout"]) == ("€10.00", "€5.00")
    # the chart: one point per day with the day's AOV, its data in a json_script block
    chart = response.context["charts"][0]
    since = response.context["since"]
    assert chart["labels"][0] == since.isoformat()
    assert chart["labels"][-1] == response.context["until"].isoformat()
    assert len(chart["labels"]) == 90
    first = chart["labels"].index(rollups.first_day.isoformat())
    assert chart["series"]["treatment_rpc"][first] == 10.0
    assert chart["series"]["treatment_rpc"][first - 1] is None  # no cohort that day: a gap
    day = chart["labels"].index(rollups.last_day.isoformat())
    assert (chart["series"]["treatment_aov"][day], chart["series"]["holdout_aov"][day]) == (30.0, 25.0)
    assert f'<script id="{chart["data_id"]}" type="application/json">' in page
    assert f'<canvas id="{chart["id"]}"' in page
    # funnel: planned -> sent -> clicked -> converted with shares
    funnel = {row["step"]: row for row in response.context["funnel"]}
    nudge = funnel["Soft nudge"]
    assert (nudge["planned"], nudge["sent"], nudge["clicked"], nudge["converted"]) == (40, 32, 8, 4)
    assert (nudge["sent_share"], nudge["clicked_share"], nudge["converted_share"]) == ("80.0 %", "25.0 %", "12.5 %")
    assert funnel["Bundle offer"]["not_sent"] == 8
    assert "After a film" in page and "€48.00" in page
    # pairs, arms, placements
    assert "Cleo from 5 to 7" in page and "The Gleaners and I" in page
    arms = {row["arm"]: row for row in response.context["arms"]}
    assert arms["Playful subject"]["customers"] == 120
    assert arms["Playful subject"]["rate"] == "50.0 %"
    assert "Playful subject" in page and "Plain subject" in page
    assert "Thank-you page (after checkout)" in page and "Follow-up email" in page
    assert "€81.00" in page
    assert f"Figures as of {rollups.as_of:%-d %b %Y}, 03:07 UTC" in page
    # every table links to its CSV, with the page's range
    for table in TABLES:
        assert response.context["csv"][table] in page.replace("&amp;", "&"), table


@pytest.mark.django_db
def test_the_range_comes_from_since_and_until(viewer: Client, store: Store) -> None:
    rollups = write_rollups(store)
    before = rollups.first_day - timedelta(days=5)
    response = viewer.get(
        admin_url(store, since=before.isoformat(), until=(rollups.first_day - timedelta(days=1)).isoformat())
    )
    assert response.status_code == 200
    assert response.context["since"] == before
    assert response.context["report"].since == before
    assert "Cross-sell earned you" not in response.content.decode()
    one_day = viewer.get(admin_url(store, since=rollups.last_day.isoformat(), until=rollups.last_day.isoformat()))
    rows = {row["label"]: row for row in one_day.context["comparisons"][0]["rows"]}
    assert (rows["Customers"]["treatment"], rows["Customers"]["holdout"]) == ("30", "25")
    assert f"since={rollups.last_day.isoformat()}" in one_day.context["csv"]["uplift"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "yesterday"}, '"From" (since) must be a date written YYYY-MM-DD'),
        ({"until": "2026-02-30"}, '"To" (until) must be a date written YYYY-MM-DD'),
        ({"since": "2026-05-02", "until": "2026-05-01"}, '"From" (2026-05-02) is after "To" (2026-05-01)'),
        ({"since": "1990-01-01", "until": "2026-01-01"}, "the dashboard shows at most"),
    ],
)
def test_dates_it_cannot_read_get_a_sentence_not_an_error(
    viewer: Client, store: Store, params: dict[str, str], message: str
) -> None:
    write_rollups(store)
    response = viewer.get(admin_url(store, **params))
    assert response.status_code == 200
    page = response.content.decode().replace("&quot;", '"')
    assert message in page
    assert "Showing" in page and "instead" in page
    default = parse_range({})
    assert (response.context["since"], response.context["until"]) == (default.since, default.until)
    csv_response = viewer.get(admin_csv_url(store, "uplift"), params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_parse_range_defaults_to_the_last_90_days() -> None:
    today = date(2026, 12, 5)
    assert parse_range({}, today=today) == parse_range({"since": "", "until": ""}, today=today)
    default = parse_range({}, today=today)
    assert (default.since, default.until, default.errors) == (date(2026, 9, 7), today, ())
    assert (default.until - default.since).days + 1 == 90
    only_until = parse_range({"until": "2026-06-30"}, today=today)
    assert (only_until.since, only_until.until) == (date(2026, 4, 2), date(2026, 6, 30))


# --- CSV -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_table_downloads_as_csv_named_after_the_store_and_the_table(viewer: Client, store: Store) -> None:
    write_rollups(store)
    from crosssell_plugin.experiments import report

    expected = report.tables(report.build(store))
    for table in TABLES:
        response = viewer.get(admin_csv_url(store, table))
        assert response.status_code == 200, table
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        disposition = response["Content-Disposition"]
        assert disposition.startswith('attachment; filename="crosssell-test-store-' + table + "-")
        assert disposition.endswith('.csv"')
        header, rows = expected[table]
        assert read_csv(response) == [header, *rows], table
    pairs = read_csv(viewer.get(admin_csv_url(store, "pairs")))
    assert any("Cleo from 5 to 7" in row and "The Gleaners and I" in row for row in pairs[1:])
    funnel = read_csv(viewer.get(admin_csv_url(store, "funnel")))
    assert any("Soft nudge" in row for row in funnel[1:])


@pytest.mark.django_db
def test_an_unknown_table_is_a_404(viewer: Client, store: Store) -> None:
    write_rollups(store)
    assert viewer.get(admin_csv_url(store, "orders")).status_code == 404


# --- store scoping -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_store_page_never_shows_another_stores_rows(viewer: Client, store: Store) -> None:
    write_rollups(store)
    other = Store.objects.create(platform="custom", external_id="other", name="Other shop", currency="EUR")
    write_rollups(other, prefix="Other ")
    page = viewer.get(admin_url(store)).content.decode()
    assert "Cleo from 5 to 7" in page
    assert "Other " not in page
    rows = {row["label"]: row for row in viewer.get(admin_url(store)).context["comparisons"][0]["rows"]}
    assert rows["Customers"]["treatment"] == "300"
    other_page = viewer.get(admin_url(other)).content.decode()
    assert "Other Cleo from 5 to 7" in other_page and "Other Playful subject" in other_page
    pairs = read_csv(viewer.get(admin_csv_url(store, "pairs")))
    assert not any("Other " in cell for row in pairs for cell in row)
    empty = Store.objects.create(platform="custom", external_id="empty", name="Empty shop", currency="EUR")
    assert "No data yet" in viewer.get(admin_url(empty)).content.decode()


# --- Oscar's dashboard ---------------------------------------------------------------------------


@pytest.fixture
def oscar_store(db: Any) -> Store:
    from integrations.base import get_adapter

    return get_adapter("oscar").store()


@pytest.mark.django_db
def test_oscar_dashboard_is_for_staff(client: Client, oscar_store: Store) -> None:
    url = reverse("crosssell_dashboard:index")
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("dashboard:login"))
    assert client_for(make_user("shopper", staff=False)).get(url).status_code == 403
    assert (
        client_for(make_user("shopper2", staff=False))
        .get(reverse("crosssell_dashboard:csv", args=["pairs"]))
        .status_code
        == 403
    )
    staff = client_for(make_user("manager", staff=True))
    response = staff.get(url)
    assert response.status_code == 200
    assert "No data yet" in response.content.decode()


@pytest.mark.django_db
def test_oscar_dashboard_shows_the_oscar_store_with_the_shared_partial_and_a_menu_entry(oscar_store: Store) -> None:
    write_rollups(oscar_store)
    other = Store.objects.create(platform="custom", external_id="other", name="Other shop", currency="EUR")
    write_rollups(other, prefix="Other ")
    staff = client_for(make_user("manager", staff=True))
    response = staff.get(reverse("crosssell_dashboard:index"))
    assert response.status_code == 200
    assert "crosssell/dashboard/report.html" in [t.name for t in response.templates]
    assert "oscar/dashboard/layout.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "Cross-sell earned you €5.00 more per customer" in page
    assert "Cleo from 5 to 7" in page and "Other " not in page
    assert f'href="{reverse("crosssell_dashboard:index")}"' in staff.get(reverse("dashboard:index")).content.decode()
    csv_response = staff.get(reverse("crosssell_dashboard:csv", args=["pairs"]))
    assert csv_response.status_code == 200
    assert any("Cleo from 5 to 7" in row for row in read_csv(csv_response)[1:])
    assert staff.get(reverse("crosssell_dashboard:csv", args=["nope"])).status_code == 404
    bad = staff.get(reverse("crosssell_dashboard:index"), {"since": "soon"})
    assert bad.status_code == 200
    assert "must be a date written YYYY-MM-DD" in bad.content.decode()
