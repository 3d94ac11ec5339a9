"""Translate django-oscar orders and products into crosssell events.

Oscar classes are loaded with Oscar's own ``get_model``/``get_class`` so that a project
that forked Oscar's apps gets its own models and pricing strategy.

Product attributes the catalog sync understands (by attribute code; all optional):

=================  ================================================================
``kind``           film, series, episode, course, module, merch, bundle, subscription, product
``genre(s)``       text (comma-separated) or multi-option
``director(s)``    people who made it; also ``cast``, ``instructor``, ``creator``
``runtime``        integer minutes
``level``          beginner / intermediate / advanced ...
``language``       ISO 639-1 code
``tags``           comma-separated; category names are added as tags too
``part_of``        UPC of the course or series a module or episode belongs to
``position``       integer: module or episode number
``unit_cost``      what one sale costs the store (for margin-aware ranking)
=================  ================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from oscar.core.loading import get_class, get_model

from crosssell_plugin.events import (
    CatalogItem,
    CustomerData,
    ItemKind,
    Platform,
    PurchaseEvent,
    PurchaseLine,
    StoreRef,
)
from crosssell_plugin.exceptions import InvalidEvent
from crosssell_plugin.ingest import ensure_store
from crosssell_plugin.models import Store
from crosssell_plugin.platforms import Capability, PlatformAdapter, Unreadable

_PEOPLE_ROLES = {
    "director": "director",
    "directors": "director",
    "cast": "cast",
    "instructor": "instructor",
}
_PEOPLE_ROLES |= {
    "instructors": "instructor",
    "creator": "creator",
    "creators": "creator",
}
_LIST_ATTRIBUTES = {"genre": "genres", "genres": "genres", "tags": "tags"}
_KINDS = {k.value for k in ItemKind}


class OscarAdapter(PlatformAdapter):
    platform_id = Platform.OSCAR.value
    platform_name = "django-oscar"
    capabilities = frozenset({Capability.CATALOG_SYNC, Capability.ORDER_BACKFILL})
    option_defaults: ClassVar[dict[str, Any]] = {
        #: Store.external_id of this shop (one Oscar project is one store)
        "STORE_EXTERNAL_ID": "default",
        #: shown in the admin; defaults to OSCAR_SHOP_NAME
        "STORE_NAME": None,
        #: defaults to OSCAR_DEFAULT_CURRENCY
        "CURRENCY": None,
        #: prefix for item URLs in emails, e.g. "https://shop.example.com"; relative if empty
        "BASE_URL": "",
        #: product class slug -> item kind, for classes whose slug is not already a kind
        "KIND_BY_PRODUCT_CLASS": {},
        #: re-sync an item whenever its product or stock record is saved
        "SYNC_CATALOG_ON_SAVE": True,
    }

    # -- the store ------------------------------------------------------------------------

    def store_ref(self, external_id: str | None = None) -> StoreRef:
        return StoreRef(self.platform_id, external_id or self.options()["STORE_EXTERNAL_ID"])

    def get_store(self, external_id: str) -> Store:
        """This project's Store (created on first use) when ``external_id`` is its id."""
        if external_id == self.options()["STORE_EXTERNAL_ID"]:
            return self.store()
        return super().get_store(external_id)

    def site_store_external_id(self) -> str:
        """One Oscar project is one store, and this site serves its pages."""
        return str(self.options()["STORE_EXTERNAL_ID"])

    def platform_order_ref(self, platform_order: Any) -> tuple[StoreRef, str] | None:
        """An Oscar order handed to ``{% crosssell_block %}`` belongs to this project's store."""
        if isinstance(platform_order, get_model("order", "Order")) and platform_order.number:
            return self.store_ref(), str(platform_order.number)
        return None

    def store(self) -> Store:
        """This Oscar project's Store, created on first use and kept in line with settings."""
        options = self.options()
        return ensure_store(
            self.store_ref(),
            name=options["STORE_NAME"] or getattr(settings, "OSCAR_SHOP_NAME", "Oscar shop"),
            currency=options["CURRENCY"] or getattr(settings, "OSCAR_DEFAULT_CURRENCY", "GBP"),
            timezone=settings.TIME_ZONE or "UTC",
        )

    # -- catalog --------------------------------------------------------------------------

    def iter_catalog(self, store: Store | None = None) -> Iterator[CatalogItem]:
        Product = get_model("catalogue", "Product")
        strategy = get_class("partner.strategy", "Selector")().strategy()
        products = (
            Product.objects.exclude(structure=Product.PARENT)
            .select_related("product_class", "parent")
            .prefetch_related("attribute_values__attribute", "categories", "stockrecords", "images")
            .order_by("pk")
        )
        for product in products.iterator(chunk_size=500):
            item = self.product_to_item(product, strategy)
            if item is not None:
                yield item

    def product_to_item(self, product: Any, strategy: Any = None) -> CatalogItem | None:
        """The CatalogItem for an Oscar product, or None if it has no price (not sellable)."""
        if strategy is None:
            strategy = get_class("partner.strategy", "Selector")().strategy()
        info = strategy.fetch_for_product(product)
        if not info.price.exists:
            return None
        price = info.price.incl_tax if info.price.is_tax_known else info.price.excl_tax
        attrs = self._attributes(product)
        people: dict[str, list[str]] = {}
        for code, role in _PEOPLE_ROLES.items():
            if code in attrs:
                people.setdefault(role, []).extend(_as_list(attrs[code]))
        genres = [g for code, field in _LIST_ATTRIBUTES.items() if field == "genres" for g in _as_list(attrs.get(code))]
        tags = _as_list(attrs.get("tags")) + [c.name for c in product.get_categories()]
        image = product.primary_image()
        image_url = "" if isinstance(image, dict) else image.original.url
        known = set(_PEOPLE_ROLES) | set(_LIST_ATTRIBUTES) | {"kind", "runtime", "level", "language"}
        known |= {"part_of", "position", "unit_cost"}
        return CatalogItem(
            external_id=str(product.pk),
            title=product.get_title(),
            kind=self._kind(product, attrs),
            price=Decimal(price),
            currency=info.price.currency,
            description=_plain(product.description),
            url=self._absolute(product.get_absolute_url()),
            image_url=self._absolute(image_url) if image_url else "",
            unit_cost=_decimal(attrs.get("unit_cost")),
            genres=tuple(genres),
            people={role: tuple(names) for role, names in people.items()},
            tags=tuple(tags),
            runtime_minutes=_int(attrs.get("runtime")),
            level=str(attrs.get("level") or ""),
            language=str(attrs.get("language") or ""),
            parent_external_id=self._parent_id(product, attrs),
            position=_int(attrs.get("position")),
            available=bool(info.availability.is_available_to_buy),
            attributes={k: _jsonable(v) for k, v in attrs.items() if k not in known},
            raw={
                "upc": product.upc,
                "product_class": product.get_product_class().slug,
                "structure": product.structure,
            },
        )

    def _attributes(self, product: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for value in product.get_attribute_values():  # a child inherits its parent's values, as in Oscar
            raw = value.value
            if hasattr(raw, "all"):  # multi-option: a queryset of options
                raw = [str(option) for option in raw.all()]
            elif raw is not None and not isinstance(raw, str | int | float | bool | Decimal | list):
                raw = str(raw)
            values[value.attribute.code] = raw
        return values

    def _kind(self, product: Any, attrs: dict[str, Any]) -> str:
        if str(attrs.get("kind", "")).lower() in _KINDS:
            return str(attrs["kind"]).lower()
        slug = product.get_product_class().slug
        mapped = self.options()["KIND_BY_PRODUCT_CLASS"].get(slug)
        if mapped:
            return mapped
        singular = slug.rstrip("s") if slug not in _KINDS else slug
        return singular if singular in _KINDS else ItemKind.PRODUCT.value

    def _parent_id(self, product: Any, attrs: dict[str, Any]) -> str:
        part_of = attrs.get("part_of")
        if part_of:
            Product = get_model("catalogue", "Product")
            parent = Product.objects.filter(upc=str(part_of)).values_list("pk", flat=True).first()
            return str(parent) if parent else ""
        return ""

    def _absolute(self, url: str) -> str:
        base = self.options()["BASE_URL"].rstrip("/")
        return f"{base}{url}" if base and url.startswith("/") else url

    # -- orders ---------------------------------------------------------------------------

    def order_to_event(self, order: Any) -> PurchaseEvent:
        """The PurchaseEvent for a placed Oscar order (idempotency key: the order number)."""
        strategy = get_class("partner.strategy", "Selector")().strategy()
        lines = []
        for line in order.lines.select_related("product", "product__product_class").all():
            unit_price = line.unit_price_incl_tax if line.unit_price_incl_tax is not None else line.unit_price_excl_tax
            lines.append(
                PurchaseLine(
                    item=self._line_item(line, strategy, order.currency),
                    quantity=line.quantity,
                    unit_price=Decimal(unit_price),
                )
            )
        address = order.shipping_address or order.billing_address
        user = order.user
        first, last = (user.first_name, user.last_name) if user else ("", "")
        if not first and address is not None:
            first, last = address.first_name, address.last_name
        customer = CustomerData(
            email=order.email,
            external_id=str(user.pk) if user else "",
            first_name=first or "",
            last_name=last or "",
            country=address.country_id if address is not None else "",
            phone=str(getattr(address, "phone_number", "") or "") if address is not None else "",
        )
        return PurchaseEvent(
            store=self.store_ref(),
            order_id=order.number,
            occurred_at=order.date_placed,
            currency=order.currency,
            customer=customer,
            lines=tuple(lines),
            total=Decimal(order.total_incl_tax),
            raw=_order_raw(order),
            # Oscar's users are this site's accounts: the signed-in account may see its own orders
            account_id=str(order.user_id) if order.user_id is not None else "",
        )

    def _line_item(self, line: Any, strategy: Any, currency: str) -> CatalogItem:
        if line.product is not None:
            item = self.product_to_item(line.product, strategy)
            if item is not None and item.currency == currency:
                return item
        # The product was deleted or is no longer priced: keep what the line itself says.
        unit = line.unit_price_incl_tax if line.unit_price_incl_tax is not None else line.unit_price_excl_tax
        return CatalogItem(
            external_id=str(line.product_id) if line.product_id else f"deleted:{line.partner_sku or line.upc}",
            title=line.title,
            kind=ItemKind.PRODUCT.value,
            price=Decimal(unit),
            currency=currency,
            available=line.product_id is not None,
        )

    def orders(self, since: datetime | None = None) -> Iterator[Any]:
        """Placed Oscar orders, oldest first (those placed at or after ``since`` if given)."""
        Order = get_model("order", "Order")
        orders = Order.objects.select_related("user", "shipping_address", "billing_address").order_by("date_placed")
        if since is not None:
            orders = orders.filter(date_placed__gte=since)
        return orders.iterator(chunk_size=200)

    def iter_orders(
        self, store: Store | None = None, since: datetime | None = None
    ) -> Iterable[PurchaseEvent | Unreadable]:
        for order in self.orders(since):
            try:
                yield self.order_to_event(order)
            except InvalidEvent as err:
                yield Unreadable(order.number, str(err))


def _order_raw(order: Any) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "currency": order.currency,
        "total_incl_tax": str(order.total_incl_tax),
        "total_excl_tax": str(order.total_excl_tax),
        "shipping_incl_tax": str(order.shipping_incl_tax),
        "shipping_code": order.shipping_code,
        "date_placed": order.date_placed.isoformat(),
        "guest": order.user_id is None,
        "lines": [
            {
                "product_id": line.product_id,
                "title": line.title,
                "upc": line.upc,
                "partner_sku": line.partner_sku,
                "quantity": line.quantity,
                "unit_price_incl_tax": str(line.unit_price_incl_tax),
                "line_price_incl_tax": str(line.line_price_incl_tax),
            }
            for line in order.lines.all()
        ],
    }


def _as_list(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except ArithmeticError:
        return None


def _plain(html: str) -> str:
    from django.utils.html import strip_tags

    return strip_tags(html or "").strip()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value
