"""One real browser (Debian's chromium, driven by Playwright) through Oscar's guest checkout to the
thank-you page: the crosssell block shows, its "Why this?" opens, and a recommendation link goes
through the signed ``/crosssell/r/<token>/`` redirect to the item and logs exactly one click.

The ORM is only used outside the ``sync_playwright()`` block (inside it Django would raise
``SynchronousOnlyOperation``). A full-page screenshot of the thank-you page is saved to
``artifacts/thank-you.png``. Chromium comes from ``apt-get install chromium`` (scripts/test.sh
does it); never ``playwright install``.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crosssell_plugin import recommend
from crosssell_plugin.events import CustomerData, PurchaseEvent, PurchaseLine, StoreRef
from crosssell_plugin.ingest import record_purchase
from crosssell_plugin.models import Click, Impression, ModelVersion, Order
from crosssell_plugin.tracking import impression_pk_of
from crosssell_plugin.training import train_store
from integrations.base import get_adapter
from tests.integrations.oscar.conftest import Catalogue

from .test_recommend import T0

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        pytest.fail(
            "chromium is not installed: run scripts/test.sh (it installs it with apt-get install chromium), "
            "or apt-get install -y chromium yourself. Do not run `playwright install`."
        )
    return path


@pytest.fixture
def browser_shop(transactional_db: Any, isolated_models: None, settings: Any) -> Any:
    """Oscar films that five earlier customers bought together, and a model trained on them."""
    settings.CROSSSELL = {**settings.CROSSSELL, "PLATFORMS": {"oscar": {"STORE_NAME": "Reel & Learn"}}}
    catalogue = Catalogue()
    cleo = catalogue.product("film", "Cléo from 5 to 7", upc="FILM-CLEO", price="7.50", director="Agnès Varda")
    gleaners = catalogue.product(
        "film", "The Gleaners and I", upc="FILM-GLEANERS", price="8.00", director="Agnès Varda"
    )
    happiness = catalogue.product("film", "Le Bonheur", upc="FILM-BONHEUR", price="6.50", director="Agnès Varda")
    heat = catalogue.product("film", "Heat", upc="FILM-HEAT", price="9.00", director="Michael Mann")
    adapter = get_adapter("oscar")
    store = adapter.store()
    ref = StoreRef("oscar", store.external_id)
    snapshots = {p.pk: adapter.product_to_item(p) for p in (cleo, gleaners, happiness, heat)}
    for n in range(5):
        bought = (cleo, gleaners, happiness) if n < 3 else (cleo, gleaners)
        lines = tuple(PurchaseLine(snapshots[p.pk], 1, snapshots[p.pk].price) for p in bought)
        record_purchase(
            PurchaseEvent(ref, f"past-{n}", T0 + timedelta(days=n), "EUR", CustomerData(f"c{n}@example.com"), lines)
        )
    heat_line = PurchaseLine(snapshots[heat.pk], 1, snapshots[heat.pk].price)
    record_purchase(PurchaseEvent(ref, "past-h", T0, "EUR", CustomerData("h@example.com"), (heat_line,)))
    version = train_store(store)
    assert version.status == ModelVersion.Status.ACTIVE, version.error
    yield cleo, store
    recommend.clear_cache()


@pytest.mark.slow
def test_guest_checkout_in_a_real_browser_shows_the_block_and_tracks_a_click(
    live_server: Any, browser_shop: Any
) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium_path()
    assert live_server.url.startswith("http://127.0.0.1:")  # setup.cfg: --liveserver 127.0.0.1
    cleo, store = browser_shop
    product_url = live_server.url + cleo.get_absolute_url()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "thank-you.png"

    css_statuses: list[int] = []
    redirects: list[tuple[int, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            page.on(
                "response",
                lambda r: css_statuses.append(r.status) if r.url.endswith("/static/crosssell/crosssell.css") else None,
            )

            page.goto(product_url)
            page.click("#add_to_basket_form button[type=submit]")
            page.wait_for_load_state()
            page.goto(live_server.url + "/checkout/")
            page.fill("#id_username", "agnes@example.com")
            page.check("input[name=options][value=anonymous]")
            page.locator("#id_username").evaluate("el => el.form.requestSubmit()")
            page.wait_for_url("**/checkout/payment-details/")
            page.click("#view_preview")
            page.wait_for_url("**/checkout/preview/")
            page.click("#place-order")
            page.wait_for_url("**/checkout/thank-you/")

            block = page.locator(".crosssell-block")
            expect(block).to_be_visible()
            items = block.locator(".crosssell-block__item")
            assert items.count() >= 1
            first = items.first
            reason = first.locator(".crosssell-block__why li").first
            expect(reason).to_be_hidden()
            first.locator(".crosssell-block__why summary").click()
            expect(reason).to_be_visible()
            expect(reason).to_contain_text("Customers who bought Cléo from 5 to 7 also bought this")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(screenshot), full_page=True)

            link = first.locator("a.crosssell-block__cta")
            href = link.get_attribute("href") or ""
            with page.expect_navigation() as navigation:
                link.click()
            response = navigation.value
            request = response.request.redirected_from if response else None
            while request is not None:
                redirects.append((request.response().status if request.response() else 0, request.url))
                request = request.redirected_from
            final_url = page.url
            final_status = response.status if response else 0
        finally:
            browser.close()

    assert css_statuses and set(css_statuses) == {200}, css_statuses
    assert screenshot.stat().st_size > 10_000
    assert href.startswith("/crosssell/r/"), href
    token = href.removeprefix("/crosssell/r/").strip("/")
    impression = Impression.objects.select_related("item").get(pk=impression_pk_of(token))
    order = Order.objects.for_store(store).get(external_id=impression.order.external_id)
    assert (impression.placement, impression.order_id) == ("thank_you", order.pk)
    assert redirects == [(302, live_server.url + href)]
    assert final_status == 200
    assert urlsplit(final_url).path == urlsplit(impression.item.url).path
    assert final_url.startswith(live_server.url)
    assert Click.objects.filter(impression=impression).count() == 1
    assert Click.objects.count() == 1
