"""``manage.py crosssell_shopify_demo`` end to end: install against the fake Shopify, catalogue,
orders, the Thank-you block's answer (valid against the contract) with an offer code minted there."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError

from crosssell_plugin.models import Impression, Order, WebhookDelivery
from integrations.shopify.management.commands.crosssell_shopify_demo import ORDERS
from integrations.shopify.models import ShopifyShop

from .test_extension_contract import errors

SHOP = "crosssell-demo.myshopify.com"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


@pytest.mark.django_db(transaction=True)
def test_the_demo_installs_records_and_prints_the_thank_you_items() -> None:
    out = StringIO()
    call_command("crosssell_shopify_demo", stdout=out)
    text = out.getvalue()
    shop = ShopifyShop.objects.get(domain=SHOP)
    assert shop.is_installed and shop.access_token.startswith("shpat_") and shop.has_expiring_token
    assert Order.objects.for_store(shop.store).count() == len(ORDERS)
    deliveries = WebhookDelivery.objects.filter(store=shop.store, topic="orders/paid")
    assert set(deliveries.values_list("status", flat=True)) == {"processed"}
    assert deliveries.count() == len(ORDERS)
    assert f"Installed the app on {SHOP}" in text
    assert "Thank-you block of gid://shopify/Order/6100000004: 4 items" in text
    assert "  1. Spirited Away Poster (A2) - 12.00 USD - " in text  # bought with the T-shirt twice
    assert "offer XS-" in text and "10% off this item" in text
    assert text.count("https://crosssell.example.com/crosssell/r/") == 4
    assert Impression.objects.for_store(shop.store).filter(placement="thank_you").count() == 4

    again = StringIO()
    call_command("crosssell_shopify_demo", "--json", stdout=again)
    answer = json.loads(again.getvalue()[again.getvalue().index("{") :])
    assert errors(answer, "response") == []
    assert answer["items"][0]["offer"]["code"] in text  # the same code (derived from the shop and the offer key)
    assert ShopifyShop.objects.filter(domain=SHOP).count() == 1
    assert Order.objects.for_store(shop.store).count() == len(ORDERS)  # the re-sent events change nothing
    assert deliveries.count() == len(ORDERS)  # stored once per event id


def test_a_bad_shop_domain_is_refused_naming_it() -> None:
    with pytest.raises(CommandError, match=re.escape("not a *.myshopify.com domain")):
        call_command("crosssell_shopify_demo", "--shop", "shop.example.com", stdout=StringIO())
