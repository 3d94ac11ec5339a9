"""Fill the demo store: Oscar catalogue from demo/data/catalog.json, then a simulated history.

Safe to run twice: products are matched by UPC and history orders by their id, so a second
run changes nothing. ``--if-empty`` skips the seeding when the history is already there.

Every run also points the demo at its address (``DEMO_URL``, from ``CROSSSELL_DEMO_ADDR``): the
Site's domain, and the items' links when an earlier run seeded them for another address; and
switches on the store's classic follow-up path, after the history (whose orders are in the past:
they plan no follow-ups).
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.sites.models import Site
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from oscar.apps.catalogue.categories import create_from_breadcrumbs
from oscar.core.loading import get_model

from crosssell_plugin.events import Consent, CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.followups.defaults import DEFAULT_PATH_NAME, install_default_path
from crosssell_plugin.ingest import catalog_item_of, record_purchase, sync_catalog
from crosssell_plugin.models import Item, Path
from demo.history import generate_history, load_catalog
from integrations.oscar.adapter import OscarAdapter

logger = logging.getLogger(__name__)

Product = get_model("catalogue", "Product")
ProductClass = get_model("catalogue", "ProductClass")
ProductAttribute = get_model("catalogue", "ProductAttribute")
ProductCategory = get_model("catalogue", "ProductCategory")
Partner = get_model("partner", "Partner")
StockRecord = get_model("partner", "StockRecord")
Country = get_model("address", "Country")

CLASSES: dict[str, dict[str, Any]] = {
    "film": {"name": "Film", "digital": True, "attributes": [
        ("genre", "text"), ("director", "text"), ("cast", "text"), ("runtime", "integer"),
        ("language", "text"), ("year", "integer"), ("unit_cost", "text")]},
    "course": {"name": "Course", "digital": True, "attributes": [
        ("instructor", "text"), ("level", "text"), ("language", "text"), ("tags", "text"), ("unit_cost", "text")]},
    "module": {"name": "Module", "digital": True, "attributes": [
        ("part_of", "text"), ("position", "integer"), ("level", "text"), ("unit_cost", "text")]},
    "merch": {"name": "Merchandise", "digital": False, "attributes": [
        ("tags", "text"), ("film", "text"), ("unit_cost", "text")]},
}  # fmt: skip
COUNTRIES = [
    ("GB", "United Kingdom"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("US", "United States"),
    ("ES", "Spain"),
]


class Command(BaseCommand):
    help = "Create the demo catalogue (173 items) and a simulated history of 2,400 orders."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--orders",
            type=int,
            default=2400,
            help="How many history orders (default 2400).",
        )
        parser.add_argument("--seed", type=int, default=7, help="Random seed of the history generator.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if a history is already recorded.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        adapter = OscarAdapter()
        store = adapter.store()
        self._site()
        if options["if_empty"] and store.orders.filter(external_id__startswith="H").exists():
            self.stdout.write("Demo data already present; nothing to seed.")
            self._links_follow_the_address(adapter, store)
            self._followups_on(store, [])
            return
        started = time.monotonic()
        data = load_catalog()
        with transaction.atomic():
            self._countries()
            count = self._catalogue(data)
        self.stdout.write(f"Oscar catalogue: {count} products")
        result = sync_catalog(store, adapter.iter_catalog(store), progress=self._progress("items synced"))
        self.stdout.write(f"\ncrosssell items: {result.created} created, {result.updated} updated")
        paused = list(Path.objects.for_store(store).filter(enabled=True).values_list("pk", flat=True))
        Path.objects.for_store(store).filter(pk__in=paused).update(enabled=False)
        self._history(store, data, options["orders"], options["seed"])
        self._followups_on(store, paused)
        self.stdout.write(self.style.SUCCESS(f"Demo store ready in {time.monotonic() - started:.1f}s"))

    def _site(self) -> None:
        """The Site's domain is the demo's address (not Django's example.com)."""
        domain = urlsplit(settings.DEMO_URL).netloc
        Site.objects.update_or_create(
            pk=settings.SITE_ID, defaults={"domain": domain, "name": settings.OSCAR_SHOP_NAME}
        )
        self.stdout.write(f"Site: {domain}")

    def _links_follow_the_address(self, adapter: OscarAdapter, store: Any) -> None:
        """Items synced for another address (an earlier CROSSSELL_DEMO_ADDR) are synced again."""
        base = adapter.options()["BASE_URL"].rstrip("/")
        stale = Item.objects.for_store(store).filter(url__startswith="http").exclude(url__startswith=base + "/")
        if base and stale.exists():
            result = sync_catalog(store, adapter.iter_catalog(store))
            self.stdout.write(f"crosssell items: {result.updated} now link to {base}")

    def _followups_on(self, store: Any, paused: list[int]) -> None:
        """The classic path on (and any path the history run paused back on): a demo checkout with
        the opt-in ticked gets its follow-ups."""
        install_default_path(store)
        Path.objects.for_store(store).filter(pk__in=paused).update(enabled=True)
        Path.objects.for_store(store).filter(name=DEFAULT_PATH_NAME).update(enabled=True)
        fast = "minutes apart (FAST_CADENCE)" if settings.CROSSSELL.get("FAST_CADENCE") else "1 hour, 24 hours, 7 days"
        self.stdout.write(f"Follow-up path on: {DEFAULT_PATH_NAME}, by email, {fast}")

    def _countries(self) -> None:
        for code, name in COUNTRIES:
            Country.objects.update_or_create(
                iso_3166_1_a2=code,
                defaults={
                    "name": name,
                    "printable_name": name,
                    "is_shipping_country": True,
                },
            )

    def _catalogue(self, data: dict[str, Any]) -> int:
        classes = {slug: self._product_class(slug, spec) for slug, spec in CLASSES.items()}
        partner, _ = Partner.objects.get_or_create(name="Reel & Learn")
        count = 0
        for film in data["films"]:
            attrs = {
                "genre": ", ".join(film["genres"]), "director": film["director"], "cast": ", ".join(film["cast"]),
                "runtime": film["runtime"], "language": film["language"], "year": film["year"],
                "unit_cost": film["unit_cost"],
            }  # fmt: skip
            self._product(classes["film"], partner, film, attrs, f"Films > {film['genres'][0]}")
            count += 1
        for course in data["courses"]:
            attrs = {
                "instructor": course["instructor"], "level": course["level"], "language": course["language"],
                "tags": ", ".join(course["tags"]), "unit_cost": course["unit_cost"],
            }  # fmt: skip
            self._product(classes["course"], partner, course, attrs, "Courses")
            count += 1
            for position, module in enumerate(course["modules"], start=1):
                attrs = {
                    "part_of": course["upc"],
                    "position": position,
                    "level": course["level"],
                }
                attrs["unit_cost"] = module["unit_cost"]
                self._product(
                    classes["module"],
                    partner,
                    module,
                    attrs,
                    f"Courses > {course['title']}",
                )
                count += 1
        for merch in data["merch"]:
            attrs = {
                "tags": ", ".join(merch["tags"]),
                "film": merch["film"],
                "unit_cost": merch["unit_cost"],
            }
            self._product(classes["merch"], partner, merch, attrs, "Merchandise", stock=500)
            count += 1
        return count

    def _product_class(self, slug: str, spec: dict[str, Any]) -> Any:
        product_class, _ = ProductClass.objects.update_or_create(
            slug=slug,
            defaults={
                "name": spec["name"],
                "requires_shipping": not spec["digital"],
                "track_stock": not spec["digital"],
            },
        )
        for code, kind in spec["attributes"]:
            ProductAttribute.objects.get_or_create(
                product_class=product_class,
                code=code,
                defaults={"name": code.replace("_", " ").title(), "type": kind},
            )
        return product_class

    def _product(
        self,
        product_class: Any,
        partner: Any,
        spec: dict[str, Any],
        attrs: dict[str, Any],
        category: str,
        stock: int = 0,
    ) -> None:
        product = Product.objects.filter(upc=spec["upc"]).first() or Product(upc=spec["upc"])
        product.title = spec["title"]
        product.description = spec.get("description", "")
        product.product_class = product_class
        product.structure = Product.STANDALONE
        for code, value in attrs.items():
            setattr(product.attr, code, value)
        product.save()
        ProductCategory.objects.get_or_create(product=product, category=create_from_breadcrumbs(category))
        StockRecord.objects.update_or_create(
            product=product,
            partner=partner,
            defaults={
                "partner_sku": spec["upc"],
                "price_currency": "EUR",
                "price": Decimal(spec["price"]),
                "num_in_stock": stock or None,
            },
        )

    def _history(self, store: Any, data: dict[str, Any], orders: int, seed: int) -> None:
        items = {i.raw.get("upc"): i for i in Item.objects.for_store(store).select_related("parent")}
        history = generate_history(data, orders=orders, seed=seed)
        progress = self._progress("history orders")
        created = 0
        with transaction.atomic():
            for n, order in enumerate(history, start=1):
                c = order.customer
                consents = (Consent("email", c.email_consent, "demo seed", order.placed_at),)
                event = PurchaseEvent(
                    store=StoreRef(store.platform, store.external_id),
                    order_id=order.order_id,
                    occurred_at=order.placed_at,
                    currency=store.currency,
                    customer=CustomerData(
                        email=c.email,
                        first_name=c.first_name,
                        country=c.country,
                        locale=c.locale,
                        timezone=c.timezone,
                        consents=consents,
                    ),
                    lines=tuple(
                        PurchaseLine(
                            item=catalog_item_of(items[upc]),
                            quantity=1,
                            unit_price=items[upc].price,
                        )
                        for upc in order.upcs
                    ),
                    raw={"source": "demo.history", "persona": c.persona},
                )
                created += record_purchase(event).created
                progress(n)
        self.stdout.write(f"\nHistory: {created} new orders of {len(history)}")

    def _progress(self, noun: str) -> Any:
        def report(count: int) -> None:
            if count % 100 == 0:
                self.stdout.write(f"\r{count} {noun}...", ending="")
                self.stdout.flush()

        return report
