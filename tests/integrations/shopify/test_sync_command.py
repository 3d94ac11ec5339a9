"""``manage.py crosssell_sync --store shopify:<shop> --catalog --orders`` end to end: the core's
one sync command, the Shopify adapter, the GraphQL Admin API (faked) and a real database."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from crosssell_plugin.models import Customer, Item, Order
from integrations.shopify.models import ShopifyShop

from .conftest import DOMAIN, store_of
from .graphql_fakes import ordered
from .test_sync import catalog_answers, order_answers

pytestmark = pytest.mark.usefixtures("shopify_app")


def test_crosssell_sync_records_the_shop_end_to_end_and_a_rerun_changes_nothing(installed: ShopifyShop) -> None:
    out = StringIO()
    with ordered() as rsps:
        catalog_answers(rsps, installed)
        order_answers(rsps, installed)
        call_command("crosssell_sync", "--store", f"shopify:{DOMAIN}", "--catalog", "--orders", stdout=out, stderr=out)
    store = store_of(DOMAIN)
    assert "catalogue: 3 created, 0 updated" in out.getvalue()
    assert "orders: 3 recorded, 0 updated, 0 unchanged, 1 failed" in out.getvalue()
    assert Item.objects.filter(store=store).count() == 4  # three products and the custom gift wrapping line
    snapshot = (
        sorted(Order.objects.filter(store=store).values_list("external_id", "total", "currency")),
        sorted(Customer.objects.filter(store=store).values_list("email", flat=True)),
    )
    assert snapshot[1] == ["ana.devries@example.nl", "bram@example.be", "customer-7710002@shopify.invalid"]

    again = StringIO()
    with ordered() as rsps:
        catalog_answers(rsps, installed, first=False)
        order_answers(rsps, installed)
        call_command(
            "crosssell_sync", "--store", f"shopify:{DOMAIN}", "--catalog", "--orders", stdout=again, stderr=again
        )
    assert "catalogue: 0 created, 3 updated" in again.getvalue()
    assert "orders: 0 recorded, 0 updated, 3 unchanged, 1 failed" in again.getvalue()
    assert (
        sorted(Order.objects.filter(store=store).values_list("external_id", "total", "currency")),
        sorted(Customer.objects.filter(store=store).values_list("email", flat=True)),
    ) == snapshot
    assert Item.objects.filter(store=store).count() == 4
