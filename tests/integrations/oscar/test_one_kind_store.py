"""An Oscar shop that sells one kind of thing (T-shirts, or homeware of no known kind) shows a
full recommendation block on the thank-you page after a real guest checkout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.urls import reverse
from oscar.core.loading import get_model

from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Item, ModelVersion, Order
from crosssell_plugin.training import train_store
from integrations.base import get_adapter

pytestmark = pytest.mark.django_db

ProductClass = get_model("catalogue", "ProductClass")
T0 = datetime(2026, 2, 2, 9, tzinfo=UTC)
LIMIT = 4  # the thank-you block's default


@pytest.fixture(autouse=True)
def isolated(isolated_models: None, settings: Any) -> None:
    settings.CROSSSELL = {**settings.CROSSSELL, "PLATFORMS": {"oscar": {"STORE_NAME": "Tee Shop"}}}


@pytest.mark.parametrize(("product_class", "kind"), [("merch", "merch"), ("homeware", "product")])
def test_a_one_kind_shop_shows_a_full_block_on_the_thank_you_page(
    catalogue: Any,
    checkout: Any,
    client: Any,
    shipping_country: Any,
    django_capture_on_commit_callbacks: Any,
    product_class: str,
    kind: str,
) -> None:
    if product_class not in catalogue.classes:  # a product class no kind is named after
        catalogue.classes[product_class] = ProductClass.objects.create(slug=product_class, name="Homeware")
    products = [
        catalogue.product(product_class, f"Thing {n}", upc=f"THING-{n}", price="20.00", stock=50) for n in range(8)
    ]
    adapter = get_adapter("oscar")
    store = adapter.store()
    ref = StoreRef("oscar", store.external_id)
    snapshots = [adapter.product_to_item(p) for p in products]
    for c in range(16):  # each customer buys two neighbouring things, and later a third
        pair = [snapshots[c % 8], snapshots[(c + 1) % 8]]
        later = [snapshots[(c + 3) % 8]]
        for n, lines in enumerate((pair, later)):
            record_purchase(
                PurchaseEvent(
                    ref,
                    f"past-{c}-{n}",
                    T0 + timedelta(days=c + 20 * n),
                    "EUR",
                    CustomerData(f"c{c}@example.com"),
                    tuple(PurchaseLine(s, 1, s.price) for s in lines),
                )
            )
    assert set(Item.objects.for_store(store).values_list("kind", flat=True)) == {kind}
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error

    checkout.add_to_basket(products[0])
    checkout.start_as_guest("agnes@example.com")
    checkout.ship_to(first_name="Agnès", last_name="Varda", line1="86 rue Daguerre", line4="Paris", postcode="75014")
    checkout.choose_method_and_pay()
    with django_capture_on_commit_callbacks(execute=True):
        response = checkout.place_order()
    assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you")

    html = client.get(reverse("checkout:thank-you")).content.decode()

    block = html[html.index('<section class="crosssell-block"') :]
    block = block[: block.index("</section>")]
    assert block.count('class="crosssell-block__item"') == LIMIT
    titles = {p.title for p in products[1:]}
    shown = [t for t in titles if f'<h3 class="crosssell-block__title">{t}</h3>' in block]
    assert len(shown) == LIMIT and "Thing 0</h3>" not in block  # never the thing just bought
    order = Order.objects.for_store(store).get(customer__email="agnes@example.com")
    assert order.lines.get().item.kind == kind
