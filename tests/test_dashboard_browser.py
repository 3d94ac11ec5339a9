"""The store dashboard in a real browser (Debian's chromium, driven by Playwright), in Django's admin
and in Oscar's dashboard, over rollup rows: the headline is visible, the daily chart is drawn
(a Chart.js chart on a canvas with painted pixels), every vendored file loads from our static
files, and a "Download CSV" link downloads the table.

Same pattern as ``tests/test_browser.py``: the ORM only outside the ``sync_playwright()`` block,
chromium from ``apt-get install chromium``, full-page screenshots in ``artifacts/``
(``dashboard-admin.png`` and ``dashboard-oscar.png``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from crosssell_plugin.models import Store
from integrations.base import get_adapter

from .test_browser import ARTIFACTS, CHROMIUM_ARGS, chromium_path
from .test_dashboard import write_rollups

PAINTED = """canvas => {
  const chart = window.Chart && window.Chart.getChart(canvas);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) painted++; }
  return {chart: !!chart, datasets: chart ? chart.data.datasets.length : 0, width: canvas.width, painted: painted};
}"""


def check_page(page: Any, url: str, screenshot: Path) -> dict[str, Any]:
    """Open the dashboard at ``url``, check what a store owner sees first, screenshot it and
    download the pairs CSV through its link; returns what was found."""
    from playwright.sync_api import expect

    page.goto(url)
    page.wait_for_load_state("networkidle")
    headline = page.locator(".xs-card__title").first
    expect(headline).to_be_visible()
    expect(headline).to_contain_text("Cross-sell earned you €5.00 more per customer")
    expect(page.locator(".xs-card__verdict").first).to_be_visible()
    canvas = page.locator("canvas[data-chart]").first
    expect(canvas).to_be_visible()
    drawn = canvas.evaluate(PAINTED)
    page.screenshot(path=str(screenshot), full_page=True)
    link = page.locator(".xs-section", has_text="Top recommended pairs").get_by_role("link", name="Download CSV")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    body = Path(download.path()).read_text(encoding="utf-8")
    return {"drawn": drawn, "filename": download.suggested_filename, "csv": list(csv.reader(io.StringIO(body)))}


@pytest.mark.slow
def test_both_dashboards_draw_their_charts_and_download_csv_in_a_real_browser(
    live_server: Any, transactional_db: Any
) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    store = Store.objects.create(platform="custom", external_id="films", name="Reel & Learn films", currency="EUR")
    write_rollups(store)
    oscar_store = get_adapter("oscar").store()
    write_rollups(oscar_store)
    User.objects.create_superuser("owner", "owner@example.com", "a-long-test-password")
    admin_url = live_server.url + reverse("admin:crosssell_store_dashboard", args=[store.pk])
    oscar_url = live_server.url + reverse("crosssell_dashboard:index")
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"admin": ARTIFACTS / "dashboard-admin.png", "oscar": ARTIFACTS / "dashboard-oscar.png"}

    static_statuses: dict[str, int] = {}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "response",
                lambda r: (
                    static_statuses.__setitem__(r.url.rsplit("/", 1)[-1], r.status)
                    if "/static/crosssell/" in r.url
                    else None
                ),
            )
            page.goto(live_server.url + reverse("admin:login"))
            page.fill("#id_username", "owner")
            page.fill("#id_password", "a-long-test-password")
            page.locator("#id_password").evaluate("el => el.form.requestSubmit()")
            page.wait_for_url(live_server.url + reverse("admin:index"))
            found = {"admin": check_page(page, admin_url, shots["admin"])}
            found["oscar"] = check_page(page, oscar_url, shots["oscar"])
            nav_link = page.locator(f'a[href="{reverse("crosssell_dashboard:index")}"]').first
            nav_label = nav_link.inner_text().strip()
        finally:
            browser.close()

    assert errors == []
    assert static_statuses == {"dashboard.css": 200, "chart.umd.min.js": 200, "dashboard.js": 200}
    assert nav_label == "Cross-sell"
    for where, seen in found.items():
        drawn = seen["drawn"]
        assert drawn["chart"] and drawn["datasets"] == 4, (where, drawn)
        assert drawn["width"] > 300 and drawn["painted"] > 1000, (where, drawn)
        assert seen["filename"].endswith(".csv") and "-pairs-" in seen["filename"], seen["filename"]
        rows = seen["csv"]
        assert len(rows) >= 2
        assert any("Cleo from 5 to 7" in row and "The Gleaners and I" in row for row in rows[1:]), rows
        assert shots[where].stat().st_size > 20_000
    assert found["admin"]["filename"].startswith("crosssell-reel-learn-films-pairs-")
