"""The claim that keeps two syncs of one shop from overlapping, and the sync an install starts:
one claim at a time, a stale claim taken over, a taken-over claim not given back by its old
holder, the task doing nothing (no Shopify call) while another holds the claim, an install during
a sync enqueueing none, and ``SYNC_ON_INSTALL`` off or mistyped. Real database; Shopify faked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import responses

from integrations.shopify import conf, sync_state, tasks
from integrations.shopify.models import ShopifyShop
from integrations.shopify.signals import sync_installed_shop
from integrations.shopify.sync_state import CLAIM_SECONDS, ShopifySyncState, claim, is_running, release

from .conftest import T0, app_options

pytestmark = pytest.mark.usefixtures("shopify_app")


def test_one_claim_at_a_time_and_free_again_once_released(installed: ShopifyShop) -> None:
    assert claim(installed, T0) is True
    assert claim(installed, T0 + timedelta(seconds=1)) is False
    assert is_running(installed, T0 + timedelta(minutes=5))
    release(installed, T0)
    assert not is_running(installed, T0 + timedelta(minutes=5))
    assert claim(installed, T0 + timedelta(minutes=6)) is True


def test_a_stale_claim_is_taken_over_and_its_old_holder_cannot_give_it_back(installed: ShopifyShop) -> None:
    assert claim(installed, T0)
    later = T0 + timedelta(seconds=CLAIM_SECONDS + 1)
    assert not is_running(installed, later), "a claim older than CLAIM_SECONDS counts as abandoned"
    assert claim(installed, later) is True
    release(installed, T0)  # the worker that died comes back and finishes
    assert ShopifySyncState.objects.get(shop=installed).running_since == later
    assert is_running(installed, later + timedelta(minutes=1))


def test_a_claim_is_one_shops_own(installed: ShopifyShop) -> None:
    from .conftest import install_shop

    other = install_shop("other-shop.myshopify.com")
    assert claim(installed, T0)
    assert claim(other, T0) is True
    assert is_running(installed, T0 + timedelta(seconds=1)) and is_running(other, T0 + timedelta(seconds=1))
    release(other, T0)
    assert is_running(installed, T0 + timedelta(seconds=1))
    assert not is_running(other, T0 + timedelta(seconds=1))


def test_the_task_does_nothing_while_another_sync_holds_the_claim(
    installed: ShopifyShop, clock: Any, shopify_http: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    assert claim(installed, T0 - timedelta(minutes=1))
    with caplog.at_level("INFO", logger="integrations.shopify"):
        assert tasks.sync_shop(installed.pk) == {"skipped": "a sync of this shop is running"}
    assert not shopify_http.calls, "a skipped sync asks Shopify nothing"
    assert "being synced already" in caplog.text
    # the running sync's claim is left as it was
    assert ShopifySyncState.objects.get(shop=installed).running_since == T0 - timedelta(minutes=1)


def test_an_install_while_a_sync_runs_enqueues_no_second_sync(installed: ShopifyShop, clock: Any) -> None:
    assert claim(installed, T0)
    assert sync_installed_shop(sender=ShopifyShop, shop=installed, fresh=False) is False


def test_sync_on_install_off_enqueues_nothing(installed: ShopifyShop, settings: Any) -> None:
    settings.CROSSSELL = {"PLATFORMS": {"shopify": app_options(SYNC_ON_INSTALL=False)}}
    assert conf.options()["SYNC_ON_INSTALL"] is False
    assert sync_installed_shop(sender=ShopifyShop, shop=installed, fresh=True) is False
    assert not sync_state.is_running(installed)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_sync_on_install_must_be_true_or_false(value: Any) -> None:
    problems = dict(conf.value_problems(app_options(SYNC_ON_INSTALL=value)))
    assert problems["SYNC_ON_INSTALL"] == f"must be True or False, got {value!r}"
