"""The areas page in Chromium: an address and a radius give the counts the layers compute, for
an analyst, an agency and the public; a rectangle drawn with the (vendored) drawing tools is
counted; nothing is fetched from outside the machine."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _dashboard,
    _is_local,
    _require_browser,
    _wait_until_idle,
)

from layers.access.policy import Policy, Viewer
from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.analysis.areas import area_counts, area_figures, buffer_area, drawn_area
from layers.publishing.areas import public_area_counts
from layers.publishing.public import PublicSite
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

pytestmark = pytest.mark.browser
RADIUS = 1200
ADDRESS = "12 Main Road, Claremont"


@pytest.fixture(scope="module")
def areas_server(browser_demo, tmp_path_factory):
    """The dashboard on the browser demo, with a small file of address points: the first
    near the middle of the busiest precinct's incidents."""
    _require_browser()
    folder = tmp_path_factory.mktemp("areas")
    points = open_store(browser_demo / "store").incidents
    busiest = points[points["precinct"] == points["precinct"].value_counts().index[0]]
    lat, lon = round(float(busiest["lat"].median()), 5), round(float(busiest["lon"].median()), 5)
    addresses = folder / "address_points.csv"
    addresses.write_text(
        "ADR_NO,STR_NAME,SUBURB,LAT,LON\n"
        f"12,Main Road,Claremont,{lat},{lon}\n"
        f"121,Main Road,Wynberg,{lat - 0.01},{lon}\n"
        "9,Church Street,Nowhere,-26.2,28.04\n"
    )
    options = ["--store", browser_demo / "store", "--tiles", "none", "--addresses", addresses]
    with _dashboard(options, folder / "streamlit.log") as url:
        yield url, browser_demo / "store", (lat, lon)


def _open(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Areas and buffers").first.wait_for(timeout=60_000)
    frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
    frame.locator(".leaflet-container").wait_for(state="visible", timeout=60_000)


def _buffer_around_the_address(page) -> None:
    """Choose the address mode, find the address by part of it, set the radius."""
    page.get_by_text("An address and a radius").click()
    search = page.get_by_role("textbox", name="Address")
    search.wait_for(timeout=30_000)
    search.fill("12 main")
    search.press("Enter")
    # "12" is in "121 Main Road" too: the address that starts with what was typed comes first.
    page.get_by_text("Matches (2)").wait_for(timeout=30_000)
    radius = page.get_by_role("spinbutton", name="Radius (metres)")
    radius.fill(str(RADIUS))
    radius.press("Enter")
    page.get_by_role("heading", name=f"{RADIUS:,} m around {ADDRESS}").wait_for(timeout=60_000)
    _wait_until_idle(page)


def _inside(page) -> str:
    """The "Incidents inside" metric's value."""
    label = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile("Incidents inside"))
    metric = page.locator('[data-testid="stMetric"]').filter(has=label)
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _agency_rows(page) -> dict[str, str]:
    """The "By agency" table, as shown."""
    table = page.locator('[data-testid="stTable"]').first
    rows = table.locator("tbody tr").all()
    return {r.locator("td, th").nth(0).inner_text(): r.locator("td").last.inner_text()
            for r in rows}  # fmt: skip


def _expected(store: Path, policy: Policy, lat: float, lon: float):
    snapshot = open_store(store)
    sight = apply_policy(policy, snapshot.columns, None, IncidentFilter())
    boundaries = {"precinct": snapshot.precincts, "ward": snapshot.wards}
    shown = disclose(area_figures(sight, buffer_area(lat, lon, RADIUS), boundaries=boundaries),
                     sight.k)  # fmt: skip
    return area_counts(shown, sight=sight, rule="")


def test_the_buffer_count_for_an_address_for_each_role(areas_server):
    sync_playwright = _require_browser()
    url, store, (lat, lon) = areas_server
    points = open_store(store).incidents
    area = gpd.GeoDataFrame(geometry=[buffer_area(lat, lon, RADIUS).geometry], crs=4326)
    inside = points.loc[gpd.sjoin(points, area, predicate="within").index]
    assert len(inside) >= 20  # something to count
    saps = _expected(store, Policy(Viewer("", "agency", agency="SAPS")), lat, lon)
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1100})

        def record(route):
            requests.append(route.request.url)
            if _is_local(route.request.url):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", record)
        page = context.new_page()
        # An analyst (the open demo): every incident by its point, as geopandas counts them.
        _open(page, f"{url}/areas")
        _buffer_around_the_address(page)
        analyst_total, analyst_rows = _inside(page), _agency_rows(page)
        # An agency: its own by point, the others in whole cells, suppressed.
        _open(page, f"{url}/areas?view=agency:SAPS")
        _buffer_around_the_address(page)
        agency_total, agency_rows = _inside(page), _agency_rows(page)
        # The public: the published cells inside, for the latest published month.
        _open(page, f"{url}/areas?view=public")
        _buffer_around_the_address(page)
        public_total = _inside(page)
        public_tables = page.locator('[data-testid="stTable"]').count()
        browser.close()
    assert analyst_total == f"{len(inside):,}"
    expected = inside["agency"].value_counts()
    assert analyst_rows == {a: f"{n:,}" for a, n in expected[expected > 0].items()}
    assert agency_total == saps.text(saps.total)
    assert agency_rows == dict(zip(saps.agencies["agency"], saps.agencies["text"], strict=True))
    assert agency_rows["SAPS"] == f"{(inside['agency'] == 'SAPS').sum():,}"
    assert all(t == "fewer than 3" or int(t.replace(",", "")) >= 3
               for a, t in agency_rows.items() if a != "SAPS")  # fmt: skip
    site = PublicSite.load(store / "public-site")
    counts = public_area_counts(site, (site.months[-1],), buffer_area(lat, lon, RADIUS))
    first = counts.groups.iloc[0]
    assert public_total == counts.text(first["count"], first["partial"], first["cells"])
    assert public_tables == 0  # no table by agency for the public
    outside = [u for u in requests if not _is_local(u)]
    assert not outside, f"requests left localhost: {outside[:5]}"
    assert any(u.endswith("/app/static/vendor/leaflet.draw.js") for u in requests)


def test_a_rectangle_drawn_with_the_toolbar_is_counted(areas_server):
    sync_playwright = _require_browser()
    url, store, _ = areas_server
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.on("request", lambda r: requests.append(r.url))
        _open(page, f"{url}/areas")
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        tool = frame.locator("a.leaflet-draw-draw-rectangle")
        tool.wait_for(timeout=30_000)
        # The toolbar's icon is the vendored sprite, served by the app.
        sprite = tool.evaluate("a => getComputedStyle(a).backgroundImage")
        tool.click()
        box = page.locator('iframe[title="streamlit_folium.st_folium"]').bounding_box()
        x, y = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.35
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 120, y + 90, steps=8)
        page.mouse.up()
        page.get_by_role("heading", name="Drawn area").wait_for(timeout=60_000)
        _wait_until_idle(page)
        drawn = frame.locator("body").evaluate(
            "() => Object.values(map_div._layers).filter(l => l instanceof L.Rectangle)"
            ".map(l => l.toGeoJSON())"
        )
        total = _inside(page)
        browser.close()
    assert "/app/static/vendor/images/spritesheet.svg" in sprite
    assert any(u.endswith("/images/spritesheet.svg") for u in requests)
    assert len(drawn) == 1 and drawn[0]["geometry"]["type"] == "Polygon"
    points = open_store(store).incidents
    area = gpd.GeoDataFrame(geometry=[drawn_area(drawn).geometry], crs=4326)
    assert total == f"{len(gpd.sjoin(points, area, predicate='within')):,}"
