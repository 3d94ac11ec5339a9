"""The admin a store owner uses: every page renders, searches and filters work, raw payloads are read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from crosssell_plugin.events import Consent, CustomerData, PurchaseLine
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Consumption, Customer, Item, Order, Refund, Store

from .conftest import catalog_item, purchase_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(store):
    consent = Consent("email", True, "checkout checkbox", datetime(2026, 1, 1, tzinfo=UTC))
    customer = CustomerData(email="ann@example.com", consents=(consent,))
    line = PurchaseLine(catalog_item("x", title="<script>alert(1)</script> Amélie"), 1, "9.99")
    return record_purchase(purchase_event(customer=customer, lines=(line,), raw={"note": "<b>raw</b>"})).order


MODELS = [Store, Customer, Item, Order, Refund, Consumption]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelists_render_with_search_and_filters(admin_client, recorded, model) -> None:
    url = reverse(f"admin:crosssell_{model._meta.model_name}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "ann"}).status_code == 200
    scope = {"platform__exact": "custom"} if model is Store else {"store__id__exact": recorded.store_id}
    response = admin_client.get(url, scope)
    assert response.status_code == 200 and "?e=1" not in response.get("Location", "")


def test_order_page_shows_lines_and_escaped_raw_payload(admin_client, recorded) -> None:
    response = admin_client.get(reverse("admin:crosssell_order_change", args=[recorded.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Amélie" in body and "<script>alert(1)" not in body
    assert "&lt;b&gt;raw&lt;/b&gt;" in body
    # Orders come from the platform: viewable, not editable, not addable.
    assert admin_client.post(reverse("admin:crosssell_order_change", args=[recorded.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:crosssell_order_add")).status_code == 403


def test_order_search_by_customer_email_and_item_title(admin_client, recorded) -> None:
    url = reverse("admin:crosssell_order_changelist")
    assert "1001" in admin_client.get(url, {"q": "ann@example.com"}).content.decode()
    assert "1001" in admin_client.get(url, {"q": "Amélie"}).content.decode()
    assert "1001" not in admin_client.get(url, {"q": "nobody@example.com"}).content.decode()


def test_customer_consent_filter(admin_client, recorded, store) -> None:
    Customer.objects.create(store=store, email="bob@example.com")
    url = reverse("admin:crosssell_customer_changelist")
    granted = admin_client.get(url, {"consent": "email"}).content.decode()
    none = admin_client.get(url, {"consent": "none"}).content.decode()
    assert "ann@example.com" in granted and "bob@example.com" not in granted
    assert "bob@example.com" in none and "ann@example.com" not in none


def test_item_list_shows_price_in_currency_precision(admin_client, recorded) -> None:
    body = admin_client.get(reverse("admin:crosssell_item_changelist")).content.decode()
    assert "9.99 EUR" in body and "9.9900" not in body


def test_impressions_clicks_and_conversions_are_listed_read_only(admin_client, recorded) -> None:
    from crosssell_plugin.models import Click, Conversion, Impression

    item = recorded.lines.get().item
    shown = Impression.objects.create(
        store=recorded.store,
        item=item,
        customer=recorded.customer,
        placement="thank_you",
        variant="blue-button",
        rank=1,
        score=0.8125,
    )
    Click.objects.create(impression=shown)
    Click.objects.create(impression=shown)
    Conversion.objects.create(impression=shown, order=recorded, item=item)

    url = reverse("admin:crosssell_impression_changelist")
    page = admin_client.get(url, {"variant": "blue-button", "store__id__exact": recorded.store_id})
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Amélie" in html and "<script>alert(1)" not in html
    assert "blue-button" in html and "0.812" in html
    row = page.context["cl"].result_list[0]
    assert (row.n_clicks, row.n_conversions) == (2, 1)
    assert admin_client.get(url, {"q": "ann@example.com"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "nobody@example.com"}).context["cl"].result_count == 0

    for model in ("click", "conversion"):
        changelist = reverse(f"admin:crosssell_{model}_changelist")
        response = admin_client.get(changelist, {"impression__store__id__exact": recorded.store_id})
        assert response.status_code == 200 and response.context["cl"].result_count == (2 if model == "click" else 1)
        assert admin_client.get(changelist, {"q": "Amélie"}).status_code == 200
    # recorded by crosssell only: no adding, changing or deleting by hand
    assert admin_client.get(reverse("admin:crosssell_impression_add")).status_code == 403
    change = admin_client.post(reverse("admin:crosssell_impression_change", args=[shown.pk]), {"rank": 9})
    assert change.status_code == 403
    assert admin_client.post(reverse("admin:crosssell_impression_delete", args=[shown.pk])).status_code == 403
    shown.refresh_from_db()
    assert shown.rank == 1
