"""The heat layer in Chromium: one colour scale, whatever the window.

A standalone map (``build_map`` and ``standalone_html``, opened from ``file://``) of the
synthetic incidents of ``test_heat_fidelity``, cells made at zoom 13, centred near the densest
cluster. Checked:

* the same map in windows of 1600 x 900 and 1632 x 780 px, same centre and zoom: every
  sampled place (a grid over what both windows show, and the busiest place) has the same
  canvas pixel, to the byte;
* the legend shows numbers, in incidents per km², not "low" and "high";
* Chromium draws what ``heat_render`` (the numpy model) says, pixel for pixel, before and
  after a drag.

And the dashboard itself: ``/`` in a 1600 x 1000 window and ``/?mode=meeting`` in 1632 x 900
(a map of another width and height), both moved to the same centre and zoom, draw the same
colours at the same places, with the same numbered legend.
"""

from __future__ import annotations

import base64
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from heat_render import Viewport, density, rgba, rgba_premultiplied
from shapely.geometry import box
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _changed,
    _dashboard,
    _require_browser,
    _wait_until_idle,
)
from test_heat_fidelity import incidents

from layers.maps.assets import standalone_html, vendor_assets
from layers.maps.webmap import build_map
from layers.storage.columnar import heat_cells
from layers.storage.store import open_store

pytestmark = pytest.mark.browser
PROJECT_ROOT = Path(__file__).resolve().parents[1]
ZOOM = 13
# Claremont (the densest cluster), Wynberg, Gugulethu, Nyanga and Philippi.
CENTRE = (-33.99, 18.53)
PEAKS = ([-33.98, 18.465], [-33.99, 18.585])  # Claremont's and Nyanga's centres
WINDOWS = ((1600, 900), (1632, 780))

# The map and its heat layer, found from the page's globals.
FIND = """
    const map = Object.values(window).find(v => v instanceof L.Map);
    const canvas = document.querySelector("canvas.leaflet-heatmap-layer");
"""
SAMPLE = (
    "(places) => {"
    + FIND
    + """
    const ctx = canvas.getContext("2d");
    return places.map(([lat, lng]) => {
        const p = map.latLngToContainerPoint([lat, lng]);
        return Array.from(ctx.getImageData(p.x, p.y, 1, 1).data);
    });
}"""
)
CANVAS = (
    "() => {"
    + FIND
    + """
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let text = "";
    for (let i = 0; i < data.length; i += 32768) {
        text += String.fromCharCode.apply(null, data.subarray(i, i + 32768));
    }
    return {pixels: btoa(text), width: canvas.width, height: canvas.height};
}"""
)
PIXELS = [[int(x), int(y)] for x, y in np.random.default_rng(1).integers(0, (900, 700), (300, 2))]
DENSITY = (
    "(pixels) => {"
    + FIND
    + """
    let layer;
    map.eachLayer(l => { if (l instanceof L.IncidentHeat) layer = l; });
    return pixels.map(([x, y]) => layer.densityAt(L.point(x, y)));
}"""
)
VIEW = (
    "() => {"
    + FIND
    + """
    let layer;
    map.eachLayer(l => { if (l instanceof L.IncidentHeat) layer = l; });
    const origin = map.getPixelOrigin(), pane = map._getMapPanePos(), size = map.getSize();
    return {zoom: map.getZoom(), origin: [origin.x, origin.y], pane: [pane.x, pane.y],
            size: [size.x, size.y], points: layer.getLatLngs(), options: layer.options};
}"""
)


@pytest.fixture(scope="module")
def map_file(tmp_path_factory) -> Path:
    """The standalone map, its scripts vendored afresh (Leaflet from node_modules, ours from
    layers/js), not whatever static/vendor/ holds."""
    _require_browser()
    folder = tmp_path_factory.mktemp("heat")
    if not (PROJECT_ROOT / "node_modules" / "leaflet").is_dir():
        pytest.fail(f"node_modules/leaflet is missing: run `npm ci` in {PROJECT_ROOT} first.")
    (folder / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    vendor_assets(project_root=folder)
    lat, lon = incidents()
    cells = heat_cells(lon, lat, zoom=ZOOM)
    areas = gpd.GeoDataFrame(
        {"name": ["Cape Flats"], "count": [len(lat)]},
        geometry=[box(18.3, -34.2, 18.9, -33.7)],
        crs="EPSG:4326",
    )
    m = build_map(areas, cells, area_label="Area", tiles=None, center=CENTRE, zoom=ZOOM,
                  layer_control=False)  # fmt: skip
    page = folder / "map.html"
    page.write_text(standalone_html(m, project_root=folder))
    return page


def _open(browser, page_file: Path, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(page_file.as_uri())
    page.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=30_000)
    # Two frames: the heat is drawn by then, whichever layer draws it.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    assert errors == []
    return page


def _places() -> list[list[float]]:
    """A 40 x 40 grid over what both windows show, and two clusters' centres."""
    lats = np.linspace(CENTRE[0] - 0.04, CENTRE[0] + 0.04, 40)
    lngs = np.linspace(CENTRE[1] - 0.12, CENTRE[1] + 0.12, 40)
    grid = [[float(a), float(b)] for a in lats for b in lngs]
    return [*grid, *PEAKS]


def test_the_same_place_has_the_same_colour_in_windows_of_two_sizes(map_file):
    sync_playwright = _require_browser()
    seen = {}
    legends = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for width, height in WINDOWS:
            page = _open(browser, map_file, width, height)
            seen[width, height] = np.array(page.evaluate(SAMPLE, _places()))
            legends[width, height] = page.locator(".cct-legend").first.inner_text()
            page.close()
        browser.close()
    first, second = seen.values()
    # The check has teeth: the places run from nothing to the top of the scale.
    alpha = first[:, 3]
    assert (alpha == 0).sum() < len(alpha) / 2
    assert ((alpha > 40) & (alpha < 200)).sum() > 100
    red = (first[:, 0] > 200) & (first[:, 1] < 100) & (alpha > 200)
    assert red.any(), "the busiest place is not drawn in the top colour"
    differs = np.abs(first - second).max(axis=1)
    assert differs.max() == 0, f"{(differs > 0).sum()} of {len(differs)} places differ"
    assert legends[WINDOWS[0]] == legends[WINDOWS[1]]


def test_the_legend_reads_incidents_per_km2_with_numbers(map_file):
    sync_playwright = _require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = _open(browser, map_file, *WINDOWS[0])
        legend = page.locator(".cct-legend").filter(has_text="Incidents per km²")
        ticks = legend.locator(".cct-heat-ticks span").all_inner_texts()
        text = legend.inner_text()
        browser.close()
    numbers = [float(t.replace(",", "")) for t in ticks]
    assert len(numbers) >= 4 and numbers[0] == 0 and numbers == sorted(numbers)
    assert "low" not in text and "high" not in text
    assert "Red:" in text


def test_chromium_draws_what_the_model_draws(map_file):
    """Every pixel of the canvas, as opened and after a drag of a few pixels, against
    ``heat_render``: the intensity byte (the canvas's alpha) within 1, colours within 2
    once premultiplied (the canvas stores them so), and the layer's own densities within
    1e-5 (it keeps them in 32-bit floats). Measured: every one of the 630 000 alphas equal,
    both times; colours within 0.98; densities within 1e-7."""
    sync_playwright = _require_browser()
    drawn = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = _open(browser, map_file, 900, 700)
        drawn.append((page.evaluate(VIEW), page.evaluate(CANVAS), page.evaluate(DENSITY, PIXELS)))
        page.evaluate("() => { const map = Object.values(window).find(v => v instanceof L.Map);"
                      " map.panBy([37, -23], {animate: false}); }")  # fmt: skip
        drawn.append((page.evaluate(VIEW), page.evaluate(CANVAS), page.evaluate(DENSITY, PIXELS)))
        browser.close()
    for view, canvas, densities in drawn:
        opts = view["options"]
        vp = Viewport(zoom=view["zoom"], width=view["size"][0], height=view["size"][1],
                      origin_x=view["origin"][0], origin_y=view["origin"][1],
                      pane_x=view["pane"][0], pane_y=view["pane"][1])  # fmt: skip
        surface = density(np.array(view["points"]), vp, sigma=opts["sigma"], step=opts["step"],
                          truncate=opts["truncate"])  # fmt: skip
        model = rgba(surface, opts["top"], [tuple(s) for s in opts["gradient"]],
                     exponent=opts["exponent"])  # fmt: skip
        pixels = np.frombuffer(base64.b64decode(canvas["pixels"]), dtype=np.uint8)
        browser_rgba = pixels.reshape(canvas["height"], canvas["width"], 4)
        alpha = np.abs(browser_rgba[..., 3].astype(int) - model[..., 3].astype(int))
        colour = np.abs(rgba_premultiplied(browser_rgba) - rgba_premultiplied(model))
        assert model[..., 3].mean() > 10, "a view with no heat would pass anything"
        assert alpha.max() <= 1, f"alpha off by {alpha.max()} at {np.argwhere(alpha > 1)[:5]}"
        assert (alpha > 0).mean() < 0.01
        assert colour.max() <= 2, f"colour off by {colour.max():.2f}"
        expected = np.array([surface[y, x] for x, y in PIXELS])
        assert np.array(densities) == pytest.approx(expected, rel=1e-5, abs=1e-6)


# In the dashboard's map frame: the map is `map_div`.
DASHBOARD_SAMPLE = """(_body, places) => {
    const canvas = document.querySelector("canvas.leaflet-heatmap-layer");
    const ctx = canvas.getContext("2d");
    return places.map(([lat, lng]) => {
        const p = map_div.latLngToContainerPoint([lat, lng]);
        return Array.from(ctx.getImageData(p.x, p.y, 1, 1).data);
    });
}"""
DASHBOARD_SCALE = """() => window.feature_group.filter(g => map_div.hasLayer(g))
    .flatMap(g => g.getLayers()).filter(l => l instanceof L.IncidentHeat)
    .map(l => [l.options.top, l.getLatLngs().length, map_div.getZoom()])"""


@pytest.fixture(scope="module")
def dashboard(browser_demo, tmp_path_factory):
    _require_browser()
    store = browser_demo / "store"
    incidents = open_store(store).incidents
    busiest = incidents.round({"lat": 2, "lon": 2}).value_counts(["lat", "lon"]).index[0]
    options = ["--store", store, "--tiles", "none"]
    log = tmp_path_factory.mktemp("heat-dashboard") / "streamlit.log"
    with _dashboard(options, log) as url:
        yield url, (float(busiest[0]), float(busiest[1]))


def test_normal_and_meeting_mode_draw_the_same_colours(dashboard):
    """The issue's case: the same heat data in ``/`` and ``/?mode=meeting``, in windows of
    different sizes, at the same centre and zoom."""
    sync_playwright = _require_browser()
    url, centre = dashboard
    zoom = 13
    lats = np.linspace(centre[0] - 0.025, centre[0] + 0.025, 25)
    lngs = np.linspace(centre[1] - 0.05, centre[1] + 0.05, 25)
    places = [[float(a), float(b)] for a in lats for b in lngs]
    seen, legends, scales = {}, {}, {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for path, (width, height) in (("/", (1600, 1000)), ("/?mode=meeting", (1632, 900))):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url + path, wait_until="domcontentloaded")
            frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
            frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=90_000)
            _wait_until_idle(page)
            body = frame.locator("body")

            def scale(body=body):
                return body.evaluate(DASHBOARD_SCALE)

            before = scale()
            body.evaluate(
                f"() => map_div.setView([{centre[0]}, {centre[1]}], {zoom}, {{animate: false}})"
            )
            # The page makes cells and a scale for the new view (a fragment rerun).
            _changed(scale, before, timeout_s=60)
            _wait_until_idle(page)
            # Settled: two readings a second apart agree (a later rerun may still redraw).
            reading = None
            for _ in range(30):
                page.wait_for_timeout(1000)
                now = (scale(), body.evaluate(DASHBOARD_SAMPLE, places))
                if now == reading:
                    break
                reading = now
            scales[path], sample = reading
            seen[path] = np.array(sample)
            legends[path] = (
                frame.locator(".cct-legend").filter(has_text="Incidents per km").inner_text()
            )
            page.close()
        browser.close()
    normal, meeting = seen.values()
    ((top_normal, _, zoom_normal),) = scales["/"]
    ((top_meeting, _, zoom_meeting),) = scales["/?mode=meeting"]
    assert zoom_normal == zoom_meeting == zoom
    assert top_normal == top_meeting
    # Teeth: the places run from faint to the top colours, from cells the two pages got
    # for views of different sizes.
    assert (normal[:, 3] > 40).sum() > 100 and normal[:, 3].max() > 200
    assert scales["/"][0][1] != scales["/?mode=meeting"][0][1]
    differs = np.abs(normal - meeting).max(axis=1)
    assert differs.max() == 0, f"{(differs > 0).sum()} of {len(differs)} places differ"
    assert legends["/"] == legends["/?mode=meeting"]
    assert any(ch.isdigit() for ch in legends["/"]) and "low" not in legends["/"]


def test_offline_the_attribution_says_the_basemap_is_unavailable(tmp_path):
    """A map asked for OpenStreetMap's tiles, opened where the tile server cannot be reached:
    the attribution stops crediting tiles that never drew and says why the map is bare."""
    from layers.maps.basemap import TILES_UNAVAILABLE

    sync_playwright = _require_browser()
    folder = tmp_path / "osm"
    (folder).mkdir()
    (folder / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    vendor_assets(project_root=folder)
    areas = gpd.GeoDataFrame({"name": ["Cape Flats"], "count": [3]},
                             geometry=[box(18.3, -34.2, 18.9, -33.7)], crs="EPSG:4326")  # fmt: skip
    m = build_map(areas, None, area_label="Area", tiles="osm", layer_control=False)
    page_file = folder / "map.html"
    page_file.write_text(standalone_html(m, project_root=folder))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        refused: list[str] = []

        def offline(route) -> None:
            if route.request.url.startswith("file:"):
                route.continue_()
            else:  # no internet: every tile request fails
                refused.append(route.request.url)
                route.abort()

        page.route("**/*", offline)
        page.goto(page_file.as_uri())
        attribution = page.locator(".leaflet-control-attribution")
        attribution.get_by_text(TILES_UNAVAILABLE).wait_for(timeout=30_000)
        text = attribution.inner_text()
        browser.close()
    assert refused and all("tile.openstreetmap.org" in url for url in refused)
    assert "OpenStreetMap" not in text
