"""The incident list and its map in Chromium (issue 18): what only a browser shows. Choosing a
row centres the map on the incident; clicking an incident on the zoomed-in map selects its
row, on the page that holds it."""

from __future__ import annotations

import re

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _dashboard, _require_browser, _wait_until_idle

from layers.maps.points import NEARBY_COLOUR, SELECTED_COLOUR
from layers.storage.store import open_store

pytestmark = pytest.mark.browser
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
ROW_PX = 35  # st.dataframe's row height, its header's too
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def list_page(browser_demo):
    """Chromium on the dashboard's Incidents page (open demo: an analyst's list), and the
    store's incidents, newest first (the list's order)."""
    sync_playwright = _require_browser()
    store = browser_demo / "store"
    incidents = open_store(store).incidents
    newest = incidents.sort_values("occurred_at", ascending=False, kind="stable")
    options = ["--store", store, "--tiles", "none", "--uploads", browser_demo / "uploads"]
    with _dashboard(options, browser_demo / "streamlit-list.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        page.goto(f"{url}/incidents", wait_until="domcontentloaded")
        page.frame_locator(MAP_FRAME).locator("path.leaflet-interactive").first.wait_for(
            state="attached", timeout=60_000
        )
        _wait_until_idle(page)
        yield page, newest.reset_index(drop=True)
        browser.close()


def _map(page):
    """The map's frame, to run Leaflet code in and wait on."""
    return page.locator(MAP_FRAME).element_handle().content_frame()


def _wait_centred(page, lat: float, lon: float) -> None:
    """Wait until the map is centred on (lat, lon), at zoom 16 or closer, with the selected
    incident's ring drawn there."""
    _map(page).wait_for_function(
        """([lat, lon, colour]) => {
            const c = map_div.getCenter();
            if (Math.abs(c.lat - lat) > 1e-5 || Math.abs(c.lng - lon) > 1e-5) return false;
            if (map_div.getZoom() < 16) return false;
            let ringed = false;
            map_div.eachLayer(l => { if (l instanceof L.CircleMarker && l.options.color === colour
                && Math.abs(l.getLatLng().lat - lat) < 1e-5
                && Math.abs(l.getLatLng().lng - lon) < 1e-5) ringed = true; });
            return ringed;
        }""",
        arg=[lat, lon, SELECTED_COLOUR],
        timeout=30_000,
    )


def _selected_line(page, incident: str):
    """The line above the table saying which incident is selected, once it names
    ``incident``."""
    line = page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=re.compile(rf"^Selected: {re.escape(incident)} ")
    )
    line.wait_for(timeout=30_000)
    return line


def _table_row(page, index: int):
    """Row ``index`` (from 0) of the table's page, scrolled into view: its accessible row,
    which says whether it is selected (``aria-selected``)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, index * ROW_PX)
    row = grid.locator(f'[role="row"][aria-rowindex="{index + 2}"]')  # the header is row 1
    row.wait_for(state="attached", timeout=30_000)  # in the grid's accessible table
    return row


def test_choosing_a_row_centres_the_map_on_its_incident(list_page):
    page, newest = list_page
    grid = page.locator('[data-testid="stDataFrame"]').first
    third = grid.locator('[role="row"][aria-rowindex="4"]')  # the header is row 1
    assert newest.loc[2, "incident_id"] in third.inner_text()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + ROW_PX * 3 + ROW_PX / 2)  # its checkbox
    target = newest.loc[2]
    _wait_centred(page, target["lat"], target["lon"])
    line = _selected_line(page, target["incident_id"])
    assert target["incident_id"] in line.inner_text()
    assert "row 3 of this page, number 3 of 5,000" in line.inner_text()


def test_clicking_an_incident_on_the_zoomed_in_map_selects_its_row(list_page):
    page, newest = list_page
    _wait_until_idle(page)
    frame = _map(page)
    # Zoomed in, the listed incidents on other pages are drawn too (grey): one in view.
    busiest = newest.round({"lat": 2, "lon": 2}).value_counts(["lat", "lon"]).index[0]
    frame.evaluate("([lat, lon]) => map_div.setView([lat, lon], 16)", list(busiest))
    frame.wait_for_function(
        "(colour) => { let n = 0; map_div.eachLayer(l => { if (l instanceof L.CircleMarker &&"
        " l.options.color === colour) n++; }); return n > 0; }",
        arg=NEARBY_COLOUR, timeout=30_000,
    )  # fmt: skip
    lat, lon, x, y, label = frame.evaluate(
        """(colour) => {
            const size = map_div.getSize(), found = [];
            map_div.eachLayer(l => {
                if (!(l instanceof L.CircleMarker) || l.options.color !== colour) return;
                const p = map_div.latLngToContainerPoint(l.getLatLng());
                if (p.x > 60 && p.y > 60 && p.x < size.x - 60 && p.y < size.y - 60)
                    found.push([l.getLatLng().lat, l.getLatLng().lng, p.x, p.y,
                                l.feature.properties.label]);
            });
            return found[0];
        }""",
        NEARBY_COLOUR,
    )
    incident = label.split(" · ")[0]
    at = int(newest.index[newest["incident_id"] == incident][0])
    assert at >= PAGE_SIZE  # on another page than the one shown
    where = page.locator(MAP_FRAME).bounding_box()
    page.mouse.click(where["x"] + x, where["y"] + y)
    line = _selected_line(page, incident)
    assert f"number {at + 1:,} of 5,000" in line.inner_text()
    _wait_until_idle(page)
    number = page.get_by_label("Page", exact=True)
    assert number.input_value() == str(at // PAGE_SIZE + 1)  # the table turned to its page
    _wait_centred(page, lat, lon)
    row = _table_row(page, at % PAGE_SIZE)  # and its row is the one selected
    assert incident in row.inner_text()
    assert row.get_attribute("aria-selected") == "true"
