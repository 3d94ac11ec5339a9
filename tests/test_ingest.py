"""record_purchase and friends: idempotent, transactional, signals once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from crosssell_plugin.events import (
    CatalogItem,
    Consent,
    ConsumptionEvent,
    CustomerData,
    PurchaseLine,
    RefundEvent,
    StoreRef,
)
from crosssell_plugin.exceptions import InvalidEvent, PayloadTooLarge, UnknownStore
from crosssell_plugin.ingest import (
    ensure_store,
    record_catalog_item,
    record_consumption,
    record_purchase,
    record_refund,
    sync_catalog,
)
from crosssell_plugin.models import Consumption, Customer, CustomerConsent, Item, Order, OrderLine, Refund, Store
from crosssell_plugin.signals import purchase_recorded, purchase_updated, refund_recorded

from .conftest import STORE_REF, catalog_item, purchase_event

pytestmark = pytest.mark.django_db


class SignalLog:
    def __init__(self, signal: Any) -> None:
        self.signal = signal
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def __enter__(self) -> SignalLog:
        self.signal.connect(self, weak=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.signal.disconnect(self)


def test_records_order_customer_items_and_lines(store, django_capture_on_commit_callbacks):
    with SignalLog(purchase_recorded) as log, django_capture_on_commit_callbacks(execute=True):
        result = record_purchase(purchase_event())
    assert result.created and not result.updated
    order = Order.objects.get()
    assert (order.store, order.external_id, order.currency) == (store, "1001", "EUR")
    assert order.total == Decimal("59.99")
    assert order.placed_at == datetime(2026, 11, 1, 12, 30, tzinfo=UTC)
    assert order.customer.email == "ann@example.com" and order.customer.first_name == "Ann"
    lines = list(order.lines.select_related("item"))
    assert [(li.item.external_id, li.quantity, li.unit_price) for li in lines] == [
        ("film-1", 1, Decimal("9.99")),
        ("merch-1", 2, Decimal("25.00")),
    ]
    film = Item.objects.get(external_id="film-1")
    assert film.genres == ["Drama"] and film.people == {"director": ["Agnès Varda"]}
    assert order.raw == {"id": "1001"}
    assert len(log.calls) == 1 and log.calls[0]["order"] == order


def test_same_order_twice_is_one_order_and_one_signal(store, django_capture_on_commit_callbacks):
    with SignalLog(purchase_recorded) as log, django_capture_on_commit_callbacks(execute=True):
        first = record_purchase(purchase_event())
        second = record_purchase(purchase_event())
    assert first.created and not second.created and not second.updated
    assert second.order.pk == first.order.pk
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2 and Customer.objects.count() == 1
    assert len(log.calls) == 1


def test_changed_lines_update_the_order(store, django_capture_on_commit_callbacks):
    record_purchase(purchase_event())
    changed = purchase_event(lines=(PurchaseLine(catalog_item("film-1"), 3, Decimal("8.00")),))
    with SignalLog(purchase_updated) as updated, SignalLog(purchase_recorded) as recorded:
        with django_capture_on_commit_callbacks(execute=True):
            result = record_purchase(changed)
    assert result.updated and not result.created
    order = Order.objects.get()
    assert order.revision == 2 and order.total == Decimal("24.00")
    assert [(li.item.external_id, li.quantity) for li in order.lines.all()] == [("film-1", 3)]
    assert recorded.calls == []
    assert len(updated.calls) == 1
    assert updated.calls[0]["previous_lines"] == [("film-1", 1, Decimal("9.99")), ("merch-1", 2, Decimal("25.00"))]


def test_an_older_delivery_never_overwrites_a_newer_one(store):
    t0 = datetime(2026, 11, 1, 13, tzinfo=UTC)
    record_purchase(purchase_event(updated_at=t0))
    stale = purchase_event(updated_at=t0 - timedelta(minutes=5), lines=(PurchaseLine(catalog_item(), 9, "1.00"),))
    result = record_purchase(stale)
    assert result.stale and not result.updated
    assert Order.objects.get().lines.count() == 2


def test_bad_line_leaves_nothing_written(store):
    # The second line points at an item in another currency: the whole order is refused.
    good = PurchaseLine(catalog_item("film-1"), 1, Decimal("9.99"))
    bad = PurchaseLine(catalog_item("film-2", currency="USD", price=Decimal("5.00")), 1, Decimal("5.00"))
    with pytest.raises(InvalidEvent) as err:
        record_purchase(purchase_event(lines=(good, bad)))
    assert err.value.field == "lines[1].item.currency"
    assert not Order.objects.exists() and not Item.objects.exists() and not Customer.objects.exists()


def test_failure_after_writes_started_rolls_everything_back(store):
    # The customer and items are written before the order; a failure while saving the order
    # (here raised by a post_save receiver, as a database error would be) undoes them all.
    from django.db.models.signals import post_save

    def explode(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    post_save.connect(explode, sender=Order, weak=False)
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            record_purchase(purchase_event())
    finally:
        post_save.disconnect(explode, sender=Order)
    assert not Customer.objects.exists() and not Item.objects.exists() and not Order.objects.exists()
    assert record_purchase(purchase_event()).created  # and the same delivery succeeds afterwards


def test_too_many_lines_is_refused(store, settings):
    settings.CROSSSELL = {"MAX_LINES_PER_ORDER": 5}
    too_many = tuple(PurchaseLine(catalog_item(f"f{i}"), 1, "1.00") for i in range(6))
    with pytest.raises(InvalidEvent) as err:
        record_purchase(purchase_event(lines=too_many))
    assert err.value.field == "lines" and "limit is 5" in str(err.value)
    assert not Customer.objects.exists() and not Item.objects.exists()


def test_nul_character_in_raw_payload_is_refused_before_the_database(store):
    # PostgreSQL's jsonb cannot store U+0000; it must be an InvalidEvent, not a DataError mid-write.
    with pytest.raises(InvalidEvent) as err:
        purchase_event(raw={"note": "a\x00b"})
    assert err.value.field == "raw" and "U+0000" in err.value.message


def test_unknown_store_is_a_clear_error(db):
    with pytest.raises(UnknownStore, match="platform='custom' external_id='test-store'"):
        record_purchase(purchase_event())
    assert not Order.objects.exists()


def test_payload_over_the_limit_is_refused(store, settings):
    settings.CROSSSELL = {"MAX_EVENT_BYTES": 4096}
    with pytest.raises(PayloadTooLarge) as err:
        record_purchase(purchase_event(raw={"blob": "x" * 5000}))
    assert "limit is 4,096" in str(err.value) and "MAX_EVENT_BYTES" in str(err.value)
    assert not Order.objects.exists() and not Customer.objects.exists()


def test_ten_megabyte_payload_is_refused_with_the_default_limit(store):
    with pytest.raises(PayloadTooLarge, match="limit is 1,048,576"):
        record_purchase(purchase_event(raw={"note": "é" * (10 * 1024 * 1024 // 2)}))
    assert not Order.objects.exists()


def test_unicode_and_html_titles_are_stored_verbatim(store):
    title = "<script>alert(1)</script> Amélie — 千と千尋の神隠し 🎬"
    record_purchase(purchase_event(lines=(PurchaseLine(catalog_item("x", title=title), 1, "9.99"),)))
    assert Item.objects.get(external_id="x").title == title


def test_customer_is_one_per_email_and_fields_are_refreshed(store):
    record_purchase(purchase_event("1", customer=CustomerData(email="Ann@Example.com")))
    record_purchase(purchase_event("2", customer=CustomerData(email="ann@example.com", country="fr", locale="fr-FR")))
    customer = Customer.objects.get()
    assert (customer.email, customer.country, customer.locale) == ("ann@example.com", "FR", "fr-FR")
    assert customer.orders.count() == 2


def test_consent_keeps_the_newest_statement(store):
    t = datetime(2026, 1, 1, tzinfo=UTC)
    granted = Consent("email", True, "checkout checkbox", t)
    withdrawn = Consent("email", False, "preference centre", t + timedelta(days=2))
    older_grant = Consent("email", True, "old import", t + timedelta(days=1))
    for n, consent in enumerate([granted, withdrawn, older_grant]):
        record_purchase(purchase_event(str(n), customer=CustomerData(email="ann@example.com", consents=(consent,))))
    consent = CustomerConsent.objects.get()
    assert (consent.granted, consent.source) == (False, "preference centre")
    assert not Customer.objects.get().has_marketing_consent("email")


def test_existing_items_keep_their_catalog_details(store):
    record_catalog_item(store, catalog_item("film-1", title="Cléo from 5 to 7", description="Full catalog text"))
    record_purchase(purchase_event(lines=(PurchaseLine(catalog_item("film-1", title="CLEO"), 1, "9.99"),)))
    item = Item.objects.get(external_id="film-1")
    assert (item.title, item.description) == ("Cléo from 5 to 7", "Full catalog text")


def test_orders_are_scoped_to_their_store(store):
    other = Store.objects.create(platform="custom", external_id="other", name="Other", currency="EUR")
    record_purchase(purchase_event("1001"))
    record_purchase(purchase_event("1001", store=StoreRef("custom", "other")))
    assert Order.objects.count() == 2
    assert Order.objects.for_store(store).get().customer.store == store
    assert Order.objects.for_store(other).get().customer.store == other
    assert OrderLine.objects.for_store(other).count() == 2
    assert Item.objects.for_store(other).count() == 2


def test_sync_catalog_links_modules_and_deactivates_missing(store):
    course = catalog_item("course-1", kind="course", title="Screenwriting")
    modules = [catalog_item(f"course-1-m{i}", kind="module", parent_external_id="course-1", position=i) for i in (1, 2)]
    stale = record_catalog_item(store, catalog_item("gone"))[0]
    seen: list[int] = []
    result = sync_catalog(store, [*modules, course], deactivate_missing=True, progress=seen.append)
    assert (result.created, result.deactivated) == (3, 1) and seen == [1, 2, 3]
    m2 = Item.objects.get(external_id="course-1-m2")
    assert m2.parent.external_id == "course-1" and m2.position == 2
    stale.refresh_from_db()
    assert stale.available is False


def test_consumption_progress_only_moves_forward(store):
    record_catalog_item(store, catalog_item("film-1"))
    customer = CustomerData(email="ann@example.com")
    t = datetime(2026, 11, 2, tzinfo=UTC)
    for progress, seconds, minutes in [("0.5", 600, 0), ("0.95", 1200, 10), ("0.2", 100, 20)]:
        record_consumption(
            ConsumptionEvent(STORE_REF, customer, "film-1", Decimal(progress), t + timedelta(minutes=minutes), seconds)
        )
    consumption = Consumption.objects.get()
    assert consumption.progress == Decimal("0.95") and consumption.seconds == 1200 and consumption.events == 3
    assert consumption.completed_at == t + timedelta(minutes=10)


def test_consumption_of_unknown_item_is_refused(store):
    event = ConsumptionEvent(STORE_REF, CustomerData(email="a@b.co"), "nope", Decimal("0.1"), datetime.now(UTC))
    with pytest.raises(InvalidEvent) as err:
        record_consumption(event)
    assert err.value.field == "item_external_id" and not Customer.objects.exists()


def test_refunds_are_idempotent_and_update_status(store, django_capture_on_commit_callbacks):
    record_purchase(purchase_event())  # total 59.99
    t = datetime(2026, 11, 3, tzinfo=UTC)
    partial = RefundEvent(STORE_REF, "1001", "r1", Decimal("9.99"), "EUR", t)
    with SignalLog(refund_recorded) as log, django_capture_on_commit_callbacks(execute=True):
        assert record_refund(partial).created
        assert not record_refund(partial).created
    assert Order.objects.get().status == Order.Status.PARTIALLY_REFUNDED and len(log.calls) == 1
    record_refund(RefundEvent(STORE_REF, "1001", "r2", Decimal("50.00"), "EUR", t))
    order = Order.objects.get()
    assert order.status == Order.Status.REFUNDED and order.refunded_total == Decimal("59.99")
    with pytest.raises(InvalidEvent) as err:
        record_refund(RefundEvent(STORE_REF, "1001", "r3", Decimal("0.01"), "EUR", t))
    assert err.value.field == "amount" and Refund.objects.count() == 2


def test_refund_in_another_currency_is_refused(store):
    record_purchase(purchase_event())
    with pytest.raises(InvalidEvent) as err:
        record_refund(RefundEvent(STORE_REF, "1001", "r1", Decimal("1.00"), "USD", datetime.now(UTC)))
    assert err.value.field == "currency" and not Refund.objects.exists()


def test_ensure_store_validates_and_updates(db):
    ref = StoreRef("oscar", "default")
    store = ensure_store(ref, name="Shop", currency="EUR", timezone="Europe/Paris")
    assert ensure_store(ref, name="Shop 2", currency="EUR", timezone="Europe/Paris").pk == store.pk
    assert Store.objects.get().name == "Shop 2"
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="ISO 4217"):
        ensure_store(StoreRef("oscar", "x"), name="Shop", currency="eur")
    assert Store.objects.count() == 1


def test_record_catalog_item_update(store):
    item, created = record_catalog_item(store, catalog_item("film-1", price=Decimal("9.99")))
    again, created_again = record_catalog_item(store, catalog_item("film-1", price=Decimal("4.99"), available=False))
    assert created and not created_again and again.pk == item.pk
    item.refresh_from_db()
    assert item.price == Decimal("4.99") and item.available is False


def test_item_unit_margin_from_cost_or_rate(store):
    by_cost, _ = record_catalog_item(store, catalog_item("a", price=Decimal("10.00"), unit_cost=Decimal("4.00")))
    by_rate, _ = record_catalog_item(store, catalog_item("b", price=Decimal("10.00"), margin_rate=Decimal("0.25")))
    unknown, _ = record_catalog_item(store, catalog_item("c"))
    assert by_cost.unit_margin == Decimal("6.00") and by_rate.unit_margin == Decimal("2.50")
    assert unknown.unit_margin is None


def test_catalog_item_validation_reaches_the_database_layer_untouched(store):
    with pytest.raises(InvalidEvent) as err:
        CatalogItem("x", "Title", "film", Decimal("1.00"), "EUR", runtime_minutes=-3)
    assert err.value.field == "item.runtime_minutes"


def test_a_redelivery_with_another_customer_keeps_the_first_and_creates_none(store):
    record_purchase(purchase_event())
    result = record_purchase(purchase_event(customer=CustomerData(email="mallory@example.com")))
    assert not result.created and not result.updated
    assert list(Customer.objects.values_list("email", flat=True)) == ["ann@example.com"]
    assert Order.objects.get().customer.email == "ann@example.com"


def test_amounts_and_quantities_that_do_not_fit_the_columns_are_refused_before_any_query(store):
    with pytest.raises(InvalidEvent) as err:
        purchase_event(lines=(PurchaseLine(catalog_item(), 10**9, "1.00"),))
    assert err.value.field == "lines[0].quantity"
    with pytest.raises(InvalidEvent) as err:
        purchase_event(lines=(PurchaseLine(catalog_item(), 1, "99999999999.00"),))
    assert err.value.field == "lines[0].unit_price" and "too large" in err.value.message
    with pytest.raises(InvalidEvent) as err:  # each line fits, their sum does not
        purchase_event(lines=(PurchaseLine(catalog_item(), 1_000_000, "99999.00"),))
    assert err.value.field == "total"
