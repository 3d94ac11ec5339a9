"""The metrics API (/crosssell/api/v1/metrics/): the report of the store of the API key as JSON and
its tables as CSV, the period's parameters, and who may read it. Real database, rollup rows
written here; nothing of ours is mocked."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client

from crosssell_plugin.experiments import report
from crosssell_plugin.experiments.assignment import ensure_holdout
from crosssell_plugin.models import ApiKey, ArmDay, PlacementDay, Store

from .conftest import STORE_REF

pytestmark = pytest.mark.django_db

API = "/crosssell/api/v1/"
METRICS = API + "metrics/"
D1, D2 = date(2026, 11, 2), date(2026, 11, 3)


@pytest.fixture(autouse=True)
def no_throttle_history() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def key_for(store: Store) -> str:
    return ApiKey.create_key(store, "dashboard")[1]


def api(key: str | None) -> Client:
    return Client(headers={"Authorization": f"Bearer {key}"} if key else {})


def cohort(store: Store, holdout: bool, day: date, currency: str, customers: int, revenue: str, orders: int) -> None:
    experiment = ensure_holdout(store)
    arm = experiment.arms.get(holdout=holdout)
    ArmDay.objects.create(
        store=store,
        experiment=experiment,
        arm=arm,
        day=day,
        currency=currency,
        customers=customers,
        converted=orders,
        orders=orders,
        revenue=Decimal(revenue),
        # one order per converted customer, all of the same value
        revenue_squares=float(orders * (Decimal(revenue) / orders) ** 2) if orders else 0.0,
        order_value_squares=float(orders * (Decimal(revenue) / orders) ** 2) if orders else 0.0,
    )


@pytest.fixture
def figures(store: Store) -> Store:
    cohort(store, False, D1, "EUR", 10, "50.00", 5)
    cohort(store, True, D1, "EUR", 4, "8.00", 2)
    cohort(store, False, D2, "USD", 3, "30.00", 3)
    PlacementDay.objects.create(store=store, day=D1, placement="email", impressions=4, clicks=1, revenue={"EUR": "2"})
    return store


@pytest.fixture
def other_store(db: Any) -> Store:
    other = Store.objects.create(platform="custom", external_id="other-store", name="Other store", currency="USD")
    cohort(other, False, D1, "EUR", 99, "9999.00", 9)
    return other


def test_the_report_as_json(figures: Store) -> None:
    response = api(key_for(figures)).get(METRICS, {"since": "2026-11-01", "until": "2026-11-30"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data == report.as_json(report.build(figures, since=date(2026, 11, 1), until=date(2026, 11, 30)))
    assert (data["since"], data["until"], data["store"]["id"]) == ("2026-11-01", "2026-11-30", figures.pk)
    eur, usd = data["uplift"]
    assert (eur["currency"], eur["treatment"]["revenue"], eur["holdout"]["revenue"]) == ("EUR", "50.0000", "8.0000")
    assert eur["treatment"]["revenue_per_customer"] == "5.0000" and eur["incremental_revenue"] == "30.0000"
    assert eur["verdict"]["code"] == "not_enough_data"
    assert (usd["currency"], usd["treatment"]["customers"], usd["holdout"]["customers"]) == ("USD", 3, 0)
    assert data["placements"] == [
        {"placement": "email", "impressions": 4, "clicks": 1, "ctr": 0.25, "conversions": 0, "revenue": {"EUR": "2"}}
    ]


def test_a_key_never_sees_another_store(figures: Store, other_store: Store) -> None:
    mine = api(key_for(figures)).get(METRICS, {"since": "2026-11-01", "until": "2026-11-30"}).json()
    assert mine["uplift"][0]["treatment"]["customers"] == 10
    theirs = api(key_for(other_store)).get(METRICS, {"since": "2026-11-01", "until": "2026-11-30"}).json()
    assert theirs["store"]["id"] == other_store.pk
    assert [u["currency"] for u in theirs["uplift"]] == ["USD", "EUR"]  # its own currency first
    assert theirs["uplift"][1]["treatment"]["customers"] == 99 and theirs["placements"] == []
    # a staff session names a store; ?store= means nothing to a key
    staff_view = api(key_for(other_store)).get(METRICS, {"store": figures.pk, "since": "2026-11-01"}).json()
    assert staff_view["store"]["id"] == other_store.pk


@pytest.mark.parametrize("path", ["", "uplift.csv"])
def test_without_a_key_it_is_401_and_a_bad_key_too(figures: Store, path: str) -> None:
    response = api(None).get(METRICS + path)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert api("cs_wrong-key-0123456789").get(METRICS + path).status_code == 401


def test_a_shopper_of_the_sites_store_never_sees_its_metrics(settings: Any, figures: Store) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "SITE_STORE": f"{STORE_REF.platform}:{STORE_REF.external_id}"}
    assert api(None).get(METRICS).status_code == 401  # a guest
    client = Client()
    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    for path in ("", "uplift.csv"):
        response = client.get(METRICS + path)
        assert response.status_code == 403 and "API key" in response.json()["detail"], path


def test_staff_with_the_permission_read_the_store_they_name(figures: Store, other_store: Store) -> None:
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(METRICS, {"store": figures.pk}).status_code == 403
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="crosssell", codename="view_store"))
    response = client.get(METRICS, {"store": figures.pk, "since": "2026-11-01", "until": "2026-11-30"})
    assert response.status_code == 200 and response.json()["uplift"][0]["treatment"]["customers"] == 10


@pytest.mark.parametrize(
    "params, field, message",
    [
        ({"since": "yesterday"}, "since", "Date has wrong format"),
        ({"until": "2026-13-01"}, "until", "Date has wrong format"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "since", "must not be after until (2026-11-01)"),
        ({"since": "2999-01-01"}, "since", "must not be after today"),
    ],
)
@pytest.mark.parametrize("path", ["", "daily.csv"])
def test_bad_dates_are_400_naming_the_parameter(
    figures: Store, params: dict[str, str], field: str, message: str, path: str
) -> None:
    response = api(key_for(figures)).get(METRICS + path, params)
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert list(response.json()) == [field] and message in response.json()[field][0]


def test_a_table_as_csv(figures: Store) -> None:
    response = api(key_for(figures)).get(METRICS + "uplift.csv", {"since": "2026-11-01", "until": "2026-11-30"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="crosssell-uplift-2026-11-01-2026-11-30.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, expected = report.tables(report.build(figures, since=date(2026, 11, 1), until=date(2026, 11, 30)))["uplift"]
    assert rows == [header, *expected]
    eur = dict(zip(rows[0], rows[1], strict=True))
    assert (eur["currency"], eur["treatment_revenue"], eur["holdout_customers"]) == ("EUR", "50.0000", "4")
    assert rows[2][0] == "USD"
    placements = api(key_for(figures)).get(METRICS + "placements.csv", {"since": "2026-11-01"})
    assert placements.content.decode().splitlines() == [
        "placement,impressions,clicks,ctr,conversions,revenue_EUR",
        "email,4,1,0.25,0,2",
    ]


def test_an_unknown_table_is_a_404_naming_the_tables(figures: Store) -> None:
    response = api(key_for(figures)).get(METRICS + "orders.csv")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "No table 'orders': the tables are uplift, daily, arms, funnel, placements, pairs."
    }
