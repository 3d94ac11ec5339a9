"""Oscar fixtures built with Oscar's own models, the way the demo's seed_demo command does it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from oscar.apps.catalogue.categories import create_from_breadcrumbs
from oscar.core.loading import get_model

Product = get_model("catalogue", "Product")
ProductClass = get_model("catalogue", "ProductClass")
ProductAttribute = get_model("catalogue", "ProductAttribute")
ProductCategory = get_model("catalogue", "ProductCategory")
Partner = get_model("partner", "Partner")
StockRecord = get_model("partner", "StockRecord")
Country = get_model("address", "Country")

#: product class slug -> (digital, attribute codes and types), as in demo/management/commands/seed_demo.py
CLASSES: dict[str, tuple[bool, list[tuple[str, str]]]] = {
    "film": (
        True,
        [
            ("genre", "text"),
            ("director", "text"),
            ("cast", "text"),
            ("runtime", "integer"),
            ("language", "text"),
            ("year", "integer"),
            ("unit_cost", "text"),
        ],
    ),
    "course": (
        True,
        [("instructor", "text"), ("level", "text"), ("language", "text"), ("tags", "text"), ("unit_cost", "text")],
    ),
    "module": (True, [("part_of", "text"), ("position", "integer"), ("level", "text"), ("unit_cost", "text")]),
    "merch": (False, [("tags", "text"), ("film", "text"), ("unit_cost", "text")]),
}


class Catalogue:
    """Creates Oscar product classes, products, categories and stock records on demand."""

    def __init__(self) -> None:
        self.partner = Partner.objects.create(name="Reel & Learn")
        self.classes: dict[str, Any] = {}
        for slug, (digital, attributes) in CLASSES.items():
            product_class = ProductClass.objects.create(
                slug=slug, name=slug.title(), requires_shipping=not digital, track_stock=not digital
            )
            for code, kind in attributes:
                ProductAttribute.objects.create(
                    product_class=product_class, code=code, name=code.replace("_", " ").title(), type=kind
                )
            self.classes[slug] = product_class

    def product(
        self,
        slug: str,
        title: str,
        *,
        upc: str = "",
        price: str | None = "9.99",
        stock: int | None = None,
        description: str = "",
        category: str = "",
        **attrs: Any,
    ) -> Any:
        product = Product(
            product_class=self.classes[slug],
            title=title,
            upc=upc or None,
            description=description,
            structure=Product.STANDALONE,
        )
        for code, value in attrs.items():
            setattr(product.attr, code, value)
        product.save()
        if category:
            ProductCategory.objects.create(product=product, category=create_from_breadcrumbs(category))
        if price is not None:
            StockRecord.objects.create(
                product=product,
                partner=self.partner,
                partner_sku=upc or f"sku-{product.pk}",
                price_currency="EUR",
                price=Decimal(price),
                num_in_stock=stock,
            )
        return product


@pytest.fixture
def catalogue(db: Any) -> Catalogue:
    return Catalogue()


@pytest.fixture
def shipping_country(db: Any) -> Any:
    """Exactly one shipping country, so Oscar drops the country field from the address form."""
    return Country.objects.create(
        iso_3166_1_a2="FR",
        iso_3166_1_a3="FRA",
        iso_3166_1_numeric="250",
        name="France",
        printable_name="France",
        is_shipping_country=True,
    )


@pytest.fixture
def shopper(db: Any) -> Any:
    return get_user_model().objects.create_user(
        username="claire", email="claire@example.com", password="s3cret-pass", first_name="Claire", last_name="Denis"
    )


class Checkout:
    """Drives Oscar's checkout through Django's test client (STACK_NOTES section 4)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def add_to_basket(self, product: Any, quantity: int = 1) -> None:
        page = self.client.get(product.get_absolute_url())
        assert page.status_code == 200
        response = self.client.post(reverse("basket:add", args=[product.pk]), {"quantity": quantity})
        assert response.status_code == 302, response.content[:2000]
        assert response["Location"] == reverse("basket:summary")

    def start_as_guest(self, email: str) -> None:
        response = self.client.post(reverse("checkout:index"), {"username": email, "options": "anonymous"})
        assert response.status_code == 302, response.content[:2000]
        assert response["Location"] == reverse("checkout:shipping-address")

    def start_logged_in(self) -> None:
        response = self.client.get(reverse("checkout:index"))
        assert response.status_code == 302
        assert response["Location"] == reverse("checkout:shipping-address")

    def ship_to(self, **address: str) -> None:
        response = self.client.post(reverse("checkout:shipping-address"), address)
        assert response.status_code == 302, response.content[:4000]
        assert response["Location"] == reverse("checkout:shipping-method")

    def choose_method_and_pay(self) -> None:
        # The GET is needed even for digital goods: it stores "no-shipping-required" in the session.
        response = self.client.get(reverse("checkout:shipping-method"))
        assert response.status_code == 302
        assert response["Location"] == reverse("checkout:payment-method")
        response = self.client.get(reverse("checkout:payment-method"))
        assert response.status_code == 302
        assert response["Location"] == reverse("checkout:payment-details")
        assert self.client.get(reverse("checkout:payment-details")).status_code == 200
        assert self.client.get(reverse("checkout:preview")).status_code == 200

    def place_order(self, **fields: str) -> Any:
        """POST the preview (with ``fields``, such as the ticked opt-in box); returns the response
        (a 302 to the thank-you page on success)."""
        return self.client.post(reverse("checkout:preview"), {"action": "place_order", **fields})

    def buy_as_guest(self, product: Any, email: str, capture_on_commit: Any, *, run_on_commit: bool = True) -> Any:
        """The whole guest checkout of one digital product; returns Oscar's order. The on-commit
        work (crosssell's recording and computing ahead) is run, or with ``run_on_commit=False``
        kept in ``self.queued`` (as when the worker has not got to it yet)."""
        self.add_to_basket(product)
        self.start_as_guest(email)
        self.choose_method_and_pay()
        with capture_on_commit(execute=run_on_commit) as self.queued:
            response = self.place_order()
        assert response.status_code == 302 and response["Location"] == reverse("checkout:thank-you")
        return get_model("order", "Order").objects.order_by("-pk").first()


@pytest.fixture
def checkout(client: Any) -> Checkout:
    return Checkout(client)
