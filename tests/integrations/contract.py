"""Contract tests every platform adapter inherits (after django-anymail's ``webhook_cases.py``).

A platform's test module subclasses what its platform can do and supplies the fixtures:

``WebhookContract`` (platforms with ``Capability.WEBHOOKS``)
    ``platform_id``; fixtures ``installed_store`` (a Store whose webhooks are accepted) and
    ``uninstall`` (a callable that makes that store uninstalled); methods ``sign(store, body)``
    (the request headers, as test-client keywords, that authenticate ``body``), ``good_body(store)``
    (a delivery of a handled topic) and ``unknown_topic_body(store)``.

``SyncContract`` (platforms with ``Capability.CATALOG_SYNC`` and ``ORDER_BACKFILL``)
    fixtures ``sync_store`` (a Store whose platform has a catalogue and past orders) and
    ``expected`` (a dict with the ``items`` and ``orders`` counts ``crosssell_sync`` must record).

The base classes are not collected themselves (their names do not start with ``Test``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from crosssell_plugin.models import Customer, Item, Order, Store, WebhookDelivery
from crosssell_plugin.platforms import get_platform


def nothing_written() -> dict[str, int]:
    return {
        "deliveries": WebhookDelivery.objects.count(),
        "orders": Order.objects.count(),
        "customers": Customer.objects.count(),
    }


NOTHING = {"deliveries": 0, "orders": 0, "customers": 0}


class WebhookContract:
    platform_id = ""

    # -- supplied by the platform's test class ----------------------------------------------

    def sign(self, store: Store, body: bytes) -> dict[str, str]:
        raise NotImplementedError(f"{type(self).__name__}.sign(store, body) must return the signing headers")

    def good_body(self, store: Store) -> bytes:
        raise NotImplementedError(f"{type(self).__name__}.good_body(store) must return a handled delivery")

    def unknown_topic_body(self, store: Store) -> bytes:
        raise NotImplementedError(f"{type(self).__name__}.unknown_topic_body(store) must return a delivery")

    # -- helpers ----------------------------------------------------------------------------

    def url(self, store_key: str) -> str:
        return reverse("crosssell:webhook", args=[self.platform_id, store_key])

    def post(self, client: Client, store: Store, body: bytes, headers: dict[str, str] | None = None) -> Any:
        headers = self.sign(store, body) if headers is None else headers
        return client.post(self.url(store.external_id), data=body, content_type="application/json", **headers)

    # -- the contract -----------------------------------------------------------------------

    def test_a_signed_delivery_is_stored_once_and_answered_200(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        response = self.post(client, installed_store, body)
        assert response.status_code == 200, response.content
        delivery = WebhookDelivery.objects.get()
        assert (delivery.store, delivery.platform, delivery.status) == (installed_store, self.platform_id, "pending")
        assert delivery.body.encode() == body
        assert delivery.topic in get_platform(self.platform_id).webhook_topics

    def test_the_view_is_csrf_exempt(self, installed_store: Store) -> None:
        response = self.post(Client(enforce_csrf_checks=True), installed_store, self.good_body(installed_store))
        assert response.status_code == 200

    def test_a_bad_signature_is_refused_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        headers = self.sign(installed_store, body + b" ")  # signed for another body
        response = self.post(client, installed_store, body, headers)
        assert response.status_code == 400
        assert nothing_written() == NOTHING

    def test_a_missing_signature_is_refused_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        response = self.post(client, installed_store, self.good_body(installed_store), headers={})
        assert response.status_code == 400
        assert nothing_written() == NOTHING

    def test_a_replayed_delivery_is_one_row(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        assert [self.post(client, installed_store, body).status_code for _ in range(3)] == [200, 200, 200]
        assert WebhookDelivery.objects.count() == 1

    def test_an_unknown_topic_is_logged_answered_200_and_not_stored(
        self, client: Client, installed_store: Store, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.INFO, logger="integrations.webhooks"):
            response = self.post(client, installed_store, self.unknown_topic_body(installed_store))
        assert response.status_code == 200
        assert "ignored" in caplog.text
        assert nothing_written() == NOTHING

    @pytest.mark.parametrize(
        "body",
        [b"{not json", b'"a string"', b"\xff\xfe{}", b'{"a": NaN}', b"[" * 1000 + b"]" * 1000],
        ids=["malformed", "not-an-object", "not-utf8", "nan", "nested-1000-deep"],
    )
    def test_a_bad_body_is_refused_and_nothing_is_stored(
        self, client: Client, installed_store: Store, body: bytes
    ) -> None:
        response = self.post(client, installed_store, body)
        assert 400 <= response.status_code < 500
        assert nothing_written() == NOTHING

    def test_a_huge_body_is_refused_with_413_and_nothing_is_stored(
        self, client: Client, installed_store: Store, settings: Any
    ) -> None:
        settings.CROSSSELL = {**getattr(settings, "CROSSSELL", {}), "WEBHOOK_MAX_BYTES": 4096}
        body = self.good_body(installed_store)
        huge = body[:-1] + b', "padding": "' + b"x" * 5000 + b'"}'
        response = self.post(client, installed_store, huge)
        assert response.status_code == 413
        assert nothing_written() == NOTHING

    def test_an_unknown_store_gets_404_and_nothing_is_stored(self, client: Client, installed_store: Store) -> None:
        body = self.good_body(installed_store)
        response = client.post(
            self.url("no-such-store"), data=body, content_type="application/json", **self.sign(installed_store, body)
        )
        assert response.status_code == 404
        assert nothing_written() == NOTHING

    def test_an_uninstalled_store_gets_404_and_nothing_is_stored(
        self, client: Client, installed_store: Store, uninstall: Callable[[Store], None]
    ) -> None:
        body = self.good_body(installed_store)
        headers = self.sign(installed_store, body)
        uninstall(installed_store)
        response = self.post(client, installed_store, body, headers)
        assert response.status_code == 404
        assert nothing_written() == NOTHING

    def test_head_answers_200_and_get_is_not_allowed(self, client: Client, installed_store: Store) -> None:
        assert client.head(self.url(installed_store.external_id)).status_code == 200
        assert client.get(self.url(installed_store.external_id)).status_code == 405


class SyncContract:
    def _sync(self, store: Store, *args: str) -> str:
        out = StringIO()
        call_command("crosssell_sync", "--store", f"{store.platform}:{store.external_id}", *args, stdout=out)
        return out.getvalue()

    def test_iter_catalog_yields_the_platforms_items(self, sync_store: Store, expected: dict[str, int]) -> None:
        items = list(get_platform(sync_store.platform).iter_catalog(sync_store))
        assert len(items) == expected["items"]
        assert len({item.external_id for item in items}) == len(items)

    def test_sync_records_the_catalogue_and_reports_it(self, sync_store: Store, expected: dict[str, int]) -> None:
        output = self._sync(sync_store)
        assert Item.objects.for_store(sync_store).count() == expected["items"]
        assert f"{expected['items']} created" in output
        again = self._sync(sync_store, "--catalog")
        assert Item.objects.for_store(sync_store).count() == expected["items"]
        assert f"0 created, {expected['items']} updated" in again

    def test_sync_records_past_orders_once(self, sync_store: Store, expected: dict[str, int]) -> None:
        output = self._sync(sync_store, "--orders")
        assert Order.objects.for_store(sync_store).count() == expected["orders"]
        assert f"{expected['orders']} recorded" in output
        again = self._sync(sync_store, "--orders")
        assert Order.objects.for_store(sync_store).count() == expected["orders"]
        assert f"0 recorded, 0 updated, {expected['orders']} unchanged" in again

    def test_sync_names_a_bad_store_argument(self, sync_store: Store) -> None:
        with pytest.raises(CommandError, match="platform:external_id"):
            call_command("crosssell_sync", "--store", "no-colon", stdout=StringIO())
        with pytest.raises(CommandError, match="No crosssell integration for platform 'nowhere'"):
            call_command("crosssell_sync", "--store", "nowhere:1", stdout=StringIO())
