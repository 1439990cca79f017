"""Issue 18, item 1, in Chromium: a click on a precinct of the map, or on a row of the top
areas, filters the whole page (sidebar, figures, URL); one click takes it back."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _dashboard, _require_browser

pytestmark = pytest.mark.browser
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def _incidents(page) -> str:
    label = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(r"^\s*Incidents\s*$"))
    metric = page.locator('[data-testid="stMetric"]').filter(has=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text()


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _sidebar_precincts(page, *, expected: list[str]) -> list[str]:
    """The precincts the sidebar's filter holds, once they are ``expected`` (or the wait
    times out)."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(r"^Precinct$"))
    )
    read = """(box) => [...new Set([...box.querySelectorAll("[data-tag]")]
        .map((t) => t.getAttribute("aria-label")))]"""
    page.wait_for_function(
        f"([box, expected]) => JSON.stringify(({read})(box)) === JSON.stringify(expected)",
        arg=[box.element_handle(timeout=30_000), expected], timeout=30_000,
    )  # fmt: skip
    return box.evaluate(read)


def test_clicking_an_area_or_a_row_filters_the_page_and_back_undoes_it(demo_store, tmp_path):
    sync_playwright = _require_browser()
    with _dashboard(["--store", demo_store], tmp_path / "streamlit.log") as url, \
            sync_playwright() as pw:  # fmt: skip
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator(MAP_FRAME)
        frame.locator("path.leaflet-interactive").first.wait_for(timeout=60_000)
        everything = _incidents(page)
        assert "precincts" not in _query(page)

        # A click on the map, on the precinct under its middle: the tooltip names it.
        box = page.locator(MAP_FRAME).bounding_box()
        x, y = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5
        page.mouse.move(x, y)
        tooltip = frame.locator(".leaflet-tooltip").first
        tooltip.wait_for(timeout=10_000)
        name = re.search(r"Precinct\s+(.+?)\s+Incidents", tooltip.inner_text(), re.S).group(1)
        page.mouse.click(x, y)
        page.wait_for_function(
            "(name) => new URLSearchParams(location.search).getAll('precincts').join() === name",
            arg=name, timeout=30_000,
        )  # fmt: skip
        back = page.get_by_role("button", name=re.compile(r"Back: all precincts"))
        back.wait_for(timeout=30_000)
        assert _sidebar_precincts(page, expected=[name]) == [name]
        page.get_by_text(f"Filter: precincts={name}.").wait_for(timeout=30_000)
        assert _incidents(page) != everything

        # One click takes it back.
        back.click()
        page.wait_for_function("() => !location.search.includes('precincts=')", timeout=30_000)
        back.wait_for(state="detached", timeout=30_000)
        page.get_by_text("Filter: all incidents.").wait_for(timeout=30_000)
        assert _incidents(page) == everything and _sidebar_precincts(page, expected=[]) == []

        # A row of the top precincts: the first row is the busiest.
        table = page.locator('[data-testid="stDataFrame"]').first
        table.wait_for(timeout=30_000)
        first = page.get_by_text("Top precincts")
        first.wait_for()
        grid = table.bounding_box()
        # the row's selection box: left edge, the first row under the header (35 px rows)
        page.mouse.click(grid["x"] + 16, grid["y"] + 35 + 17)
        page.wait_for_function("() => location.search.includes('precincts=')", timeout=30_000)
        chosen = _query(page)["precincts"]
        assert len(chosen) == 1 and _sidebar_precincts(page, expected=chosen) == chosen
        page.get_by_role("button", name=re.compile(r"Back: all precincts")).wait_for()
        browser.close()
