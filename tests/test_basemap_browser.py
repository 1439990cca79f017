"""Issue 17 in Chromium: a basemap drawn from a local tiles file, with no request leaving the
machine, in the dashboard and in a standalone map; and a bad file said, the map opening
without it."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image
from shapely.geometry import box
from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _dashboard, _is_local, _require_browser
from tilefiles import CAPE_TOWN, TILE_COLOUR, raster_tiles, write_mbtiles, write_vector_pmtiles

pytestmark = pytest.mark.browser
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'
# protomaps-leaflet's "light" flavor: land ("earth") and what lies outside any feature.
EARTH, BACKGROUND = (0xE2, 0xDF, 0xDA), (0xCC, 0xCC, 0xCC)


def _share(png: bytes, colour: tuple[int, int, int], tolerance: int = 0) -> float:
    """The share of a screenshot's pixels within ``tolerance`` of ``colour`` in each channel
    (the heat's faint low end tints what is under it)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return float((np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance).mean())


@pytest.fixture
def browser_page():
    sync_playwright = _require_browser()
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})

        def record(route):
            requests.append(route.request.url)
            if route.request.url.startswith("file://") or _is_local(route.request.url):
                route.continue_()
            else:
                route.abort()  # the meeting room has no internet

        context.route("**/*", record)
        yield context.new_page(), requests
        browser.close()


def test_the_dashboard_draws_its_basemap_from_a_local_mbtiles(demo_store, tmp_path,
                                                              browser_page) -> None:  # fmt: skip
    tiles = write_mbtiles(tmp_path / "cape-town.mbtiles", raster_tiles(CAPE_TOWN, range(8, 13)),
                          attribution="© Test tiles", date="2026-11-30")  # fmt: skip
    page, requests = browser_page
    options = ["--store", demo_store, "--tiles", tiles]
    with _dashboard(options, tmp_path / "streamlit.log") as url:
        page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator(MAP_FRAME)
        loaded = frame.locator(".cct-basemap img.leaflet-tile-loaded")
        loaded.first.wait_for(timeout=60_000)
        frame.locator(".cct-basemap-legend").wait_for(timeout=30_000)
        # every tile in view has loaded (none still pending)
        page.wait_for_function(
            """() => {
                const doc = document.querySelector('iframe[title="streamlit_folium.st_folium"]')
                    .contentDocument;
                const imgs = [...doc.querySelectorAll(".cct-basemap img")];
                const loaded = (i) => i.classList.contains("leaflet-tile-loaded");
                return imgs.length >= 4 && imgs.every(loaded);
            }""",
            timeout=30_000,
        )  # fmt: skip
        legend = frame.locator(".cct-basemap-legend").inner_text()
        attribution = frame.locator(".leaflet-control-attribution").inner_text()
        timing = frame.locator("body").evaluate(
            """() => performance.getEntriesByType("resource")
                .filter(e => e.name.includes("/tiles/"))
                .map(e => ({url: e.name, ms: e.duration, bytes: e.encodedBodySize}))"""
        )
        shot = frame.locator(".leaflet-container").screenshot()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "basemap-dashboard.png").write_bytes(shot)
    (ARTIFACTS / "basemap-tile-timing.json").write_text(json.dumps(timing, indent=1))
    outside = [u for u in requests if not _is_local(u)]
    assert not outside, f"requests left localhost: {outside[:10]}"
    tile_requests = [u for u in requests if "/tiles/" in u]
    assert tile_requests and all(u.endswith(".png") for u in tile_requests)
    assert len(timing) == len(set(tile_requests))  # each came from the app, once
    assert legend == "Basemap: local file cape-town.mbtiles (raster tiles, 2026-11-30)"
    assert "© Test tiles (cape-town.mbtiles, 2026-11-30)" in attribution
    # the map's background is the file's tiles: most of it is their colour
    assert _share(shot, TILE_COLOUR, tolerance=60) > 0.5


def test_a_vector_pmtiles_basemap_is_drawn_in_the_browser(demo_store, tmp_path,
                                                          browser_page) -> None:  # fmt: skip
    # Land over the western half of the view; the rest is the style's background.
    west, south, east, north = CAPE_TOWN
    land = gpd.GeoDataFrame(geometry=[box(west - 1, south - 1, (west + east) / 2, north + 1)],
                            crs="EPSG:4326")  # fmt: skip
    tiles = write_vector_pmtiles(tmp_path / "vector.pmtiles", land, minzoom=6, maxzoom=12)
    page, requests = browser_page
    with _dashboard(["--store", demo_store, "--tiles", tiles], tmp_path / "streamlit.log") as url:
        page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator(MAP_FRAME)
        frame.locator(".cct-basemap canvas").first.wait_for(state="attached", timeout=60_000)
        legend = frame.locator(".cct-basemap-legend").inner_text()
        container = frame.locator(".leaflet-container")
        # protomaps-leaflet draws each tile after its data and a short delay
        page.wait_for_function(
            """() => {
                const doc = document.querySelector('iframe[title="streamlit_folium.st_folium"]')
                    .contentDocument;
                const tiles = [...doc.querySelectorAll(".cct-basemap canvas")];
                return tiles.length >= 4 && tiles.every(t => t.width > 0);
            }""",
            timeout=30_000,
        )  # fmt: skip
        page.wait_for_timeout(500)
        shot = container.screenshot()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "basemap-vector.png").write_bytes(shot)
    assert not [u for u in requests if not _is_local(u)]
    assert any("/app/static/vendor/protomaps-leaflet.js" in u for u in requests)
    assert any(u.endswith(".mvt") and "/tiles/" in u for u in requests)
    assert legend.startswith("Basemap: local file vector.pmtiles (vector tiles, dated ")
    assert legend.endswith("; it covers 51% of this map")  # the land's extent, as GDAL wrote it
    # land where the file has it, the style's background elsewhere within the file's extent
    assert _share(shot, EARTH, tolerance=6) > 0.1 and _share(shot, BACKGROUND, tolerance=6) > 0.05


def test_a_standalone_map_with_the_same_option_draws_offline(demo_store, tmp_path,
                                                             browser_page) -> None:  # fmt: skip
    tiles = write_mbtiles(tmp_path / "cape-town.mbtiles", raster_tiles(CAPE_TOWN, range(8, 13)))
    out = tmp_path / "map.html"
    written = subprocess.run(
        [sys.executable, "-m", "layers", "map", "--store", str(demo_store), "--out", str(out),
         "--tiles", str(tiles)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    page, requests = browser_page
    page.goto(out.as_uri())
    page.locator(".cct-basemap img.leaflet-tile-loaded").first.wait_for(timeout=30_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll(".cct-basemap img")]
            .every(i => i.classList.contains("leaflet-tile-loaded"))""",
        timeout=30_000,
    )
    legend = page.locator(".cct-basemap-legend").inner_text()
    shot = page.locator(".leaflet-container").screenshot()
    assert requests == [out.as_uri()]  # the page itself, and nothing else
    assert legend.startswith("Basemap: local file cape-town.mbtiles (raster tiles, dated ")
    assert legend.endswith("embedded to zoom 12")
    # the page is wider than the tiles' extent: they fill its middle
    assert _share(shot, TILE_COLOUR, tolerance=60) > 0.1


def test_a_bad_tiles_file_is_said_and_the_map_opens_without_it(demo_store, tmp_path,
                                                              browser_page) -> None:  # fmt: skip
    bad = tmp_path / "cape-town.mbtiles"
    bad.write_text("this is not a tiles file")
    page, requests = browser_page
    with _dashboard(["--store", demo_store, "--tiles", bad], tmp_path / "streamlit.log") as url:
        page.goto(url, wait_until="domcontentloaded")
        warning = page.get_by_text("The map opens without a basemap.")
        warning.wait_for(timeout=60_000)
        frame = page.frame_locator(MAP_FRAME)
        frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=30_000)
        legend = frame.locator(".cct-basemap-legend").inner_text()
        text = warning.inner_text()
    assert "cape-town.mbtiles is not a tiles file: it is neither MBTiles" in text
    assert legend.startswith("No basemap: cape-town.mbtiles is not a tiles file")
    assert not [u for u in requests if "/tiles/" in u]
