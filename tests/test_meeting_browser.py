"""Issue 18, item 8, in Chromium: the meeting page on a wall screen at 1920 x 1080 shows
the whole map and the four headline figures without scrolling."""

from __future__ import annotations

import pytest
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _dashboard, _require_browser

pytestmark = pytest.mark.browser
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def test_the_wall_screen_shows_the_whole_map_and_the_four_figures(demo_store, tmp_path):
    sync_playwright = _require_browser()
    with _dashboard(["--store", demo_store], tmp_path / "streamlit.log") as url, \
            sync_playwright() as pw:  # fmt: skip
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.goto(f"{url}/meeting?mode=meeting&hotspots=gistar", wait_until="domcontentloaded")
        frame = page.frame_locator(MAP_FRAME)
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
        frame.locator(".cct-legends").wait_for(timeout=30_000)
        page.get_by_text("Top precincts").wait_for(timeout=30_000)
        map_box = page.locator(MAP_FRAME).bounding_box()
        metrics = page.locator('[data-testid="stMetric"]')
        boxes = [metrics.nth(i).bounding_box() for i in range(metrics.count())]
        labels = page.locator('[data-testid="stMetricLabel"]').all_inner_texts()
        value_px = page.locator('[data-testid="stMetricValue"]').first.evaluate(
            "(e) => parseFloat(getComputedStyle(e).fontSize)"
        )
        scrolled = page.evaluate("() => window.scrollY")
        legends = frame.locator(".cct-legends").count()
        page.screenshot(path=str(ARTIFACTS / "meeting-1920.png"))
        browser.close()
    assert scrolled == 0
    # the whole map: inside the screen, and most of its width
    assert map_box["y"] >= 0 and map_box["y"] + map_box["height"] <= 1080
    assert map_box["width"] >= 0.65 * 1920 and map_box["height"] >= 750
    # the four headline figures, all on screen, in type that reads across a room
    assert [label.strip() for label in labels[:4]] == [
        "Incidents", "Agencies", "Outside boundaries", "Days covered"]  # fmt: skip
    assert all(b["y"] >= 0 and b["y"] + b["height"] <= 1080 for b in boxes[:4])
    assert value_px >= 48
    assert legends == 1  # one legend panel, not a pile of boxes
