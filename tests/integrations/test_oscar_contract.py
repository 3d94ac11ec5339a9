"""The django-oscar adapter against the shared contract: its non-webhook part (catalogue, orders, sync)."""

from __future__ import annotations

from typing import Any

import pytest
from oscar.apps.partner.strategy import Default
from oscar.core.loading import get_model
from oscar.test.factories import create_order

from crosssell_plugin.models import Store
from crosssell_plugin.platforms import Capability, get_platform

from .contract import SyncContract
from .oscar.conftest import Catalogue

Basket = get_model("basket", "Basket")


def _order(product: Any, email: str) -> Any:
    basket = Basket.objects.create()
    basket.strategy = Default()
    basket.add_product(product)
    return create_order(basket=basket, guest_email=email)


class TestOscarSync(SyncContract):
    @pytest.fixture
    def sync_store(self, db: Any) -> Store:
        catalogue = Catalogue()
        films = [catalogue.product("film", f"Film {n}", upc=f"film-{n}", genre="Drama") for n in range(3)]
        catalogue.product("merch", "Poster", upc="poster", price="15.00")
        catalogue.product("film", "Unpriced", upc="no-price", price=None)  # not sellable: not an item
        for n, film in enumerate(films):
            _order(film, f"buyer{n}@example.com")
        return get_platform("oscar").get_store("default")

    @pytest.fixture
    def expected(self) -> dict[str, int]:
        return {"items": 4, "orders": 3}


def test_the_oscar_adapter_declares_what_it_can_do() -> None:
    adapter = get_platform("oscar")
    assert adapter.capabilities == {Capability.CATALOG_SYNC, Capability.ORDER_BACKFILL}
    assert adapter.site_store_external_id() == "default"
