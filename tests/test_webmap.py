"""The folium map builder (layers.maps.webmap), checked as rendered HTML."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import CDN_HOSTS, LINKED, URL
from shapely.geometry import Point, box

from layers.maps.assets import standalone_html, vendor_assets
from layers.maps.basemap import NO_BASEMAP, TILES_UNAVAILABLE
from layers.maps.heat import peak_density
from layers.maps.tiles import OSM_TILES
from layers.maps.webmap import (
    HEAT_GRADIENT,
    HEAT_RADIUS,
    HIDDEN_COLOUR,
    area_layer,
    build_map,
    choropleth_classes,
    heat_layer,
    map_layers,
    recent_layer,
)
from layers.storage.columnar import fit_zoom

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OSM_COPYRIGHT = "https://www.openstreetmap.org/copyright"
XSS = "<script>alert(1)</script>"


@pytest.fixture
def areas() -> gpd.GeoDataFrame:
    """Two adjacent 3 km squares in Cape Town, one with markup in its name."""
    return gpd.GeoDataFrame(
        {"name": ["Athlone", XSS], "count": [3, 10]},
        geometry=[box(18.50, -33.99, 18.53, -33.96), box(18.53, -33.99, 18.56, -33.96)],
        crs="EPSG:4326",
    )


@pytest.fixture
def heat() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lat": [-33.98, -33.97, -33.975, -33.965],
            "lon": [18.51, 18.52, 18.54, 18.55],
            "weight": [1.0, 2.0, 4.0, 8.0],
        }
    )


def render(m) -> str:
    return m.get_root().render()


def heat_data(page: str) -> list[list[float]]:
    found = re.search(r"L\.incidentHeat\(\s*(\[.*?\]\]),", page, flags=re.DOTALL)
    assert found, "no heat layer in the page"
    return json.loads(found.group(1))


def heat_options(page: str) -> dict:
    found = re.search(r"L\.incidentHeat\(\s*\[.*?\]\],\s*(\{.*?\})\s*\);", page, flags=re.DOTALL)
    assert found, "no heat layer in the page"
    return json.loads(found.group(1))


def heat_legend(page: str) -> str:
    """The heat legend's HTML, as the page holds it (a JSON string)."""
    legends = [json.loads(t) for t in re.findall(r'innerHTML = ("(?:[^"\\]|\\.)*");', page)]
    (legend,) = [t for t in legends if "Incidents per km" in t] or ["no heat legend in the page"]
    return legend


def test_served_map_links_only_vendored_files(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="SAPS precinct", tiles="osm"))
    for link in LINKED.findall(page):
        assert link.startswith("/app/static/vendor/") or link == OSM_COPYRIGHT, link
    assert set(URL.findall(page)) == {OSM_TILES, OSM_COPYRIGHT}
    assert not any(host in page for host in CDN_HOSTS)


def test_map_code_does_not_need_jquery_or_bootstrap(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="SAPS precinct", style="choropleth"))
    assert not re.search(r"\$\(|\$\.|jQuery|bootstrap|glyphicon|fa-", page)


def test_choropleth_legend_has_one_row_per_class(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="SAPS precinct", style="choropleth"))
    assert "Incidents per SAPS precinct" in page
    swatches = re.findall(r'cct-swatch\\" style=\\"background:(#[0-9a-f]{6})', page)
    assert len(swatches) == len(choropleth_classes(areas["count"].to_numpy())) == 2
    assert len(set(swatches)) == 2
    # The class ranges (tops are counts that occur); tojson writes the en dash as \u2013.
    assert r"\u003c/span\u003e3\u003c/div\u003e" in page and r"4\u201310" in page


def test_outline_legend_has_no_classes(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="Ward"))
    assert "cct-swatch cct-outline" in page
    assert "background:#" not in page
    assert "Incidents per km" in page


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([0, 1, 2, 5, 10, 40], [(0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 40)]),
        ([7, 7, 7], [(7, 7)]),
        ([0, 0, 0, 0, 1, 90], [(0, 0), (1, 1), (2, 90)]),
        ([0, 0, 0], [(0, 0)]),
        ([], []),
        # Skewed, as a city's wards are: most empty or small, a few in the thousands.
        (
            [0] * 60 + [1, 2, 3, 5, 8, 12, 20, 35, 60, 90, 150, 400, 900, 2500, 6666],
            [(0, 0), (1, 3), (4, 12), (13, 60), (61, 400), (401, 6666)],
        ),
    ],
)
def test_choropleth_classes(counts: list[int], expected: list[tuple[int, int]]) -> None:
    classes = choropleth_classes(np.array(counts))
    assert classes == expected
    for count in counts:
        assert sum(low <= count <= high for low, high in classes) == 1


def test_tooltip_shows_name_and_count(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="SAPS precinct"))
    assert 'let fields = ["name", "incidents"];' in page
    assert 'let aliases = ["SAPS precinct", "Incidents"];' in page
    assert '"name": "Athlone"' in page and '"incidents": "10"' in page


def test_a_suppressed_count_reads_as_such(areas, heat) -> None:
    hidden = areas.assign(count=[float("nan"), *areas["count"].iloc[1:]])
    hidden["count_text"] = ["fewer than 3", *hidden["count"].iloc[1:].map("{:,.0f}".format)]
    page = render(build_map(hidden, heat, area_label="Ward", style="choropleth"))
    assert '"incidents": "fewer than 3"' in page and "NaN" not in page


def test_markup_in_names_and_labels_is_escaped(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="<b>Ward</b>", title=XSS, synthetic=True))
    assert XSS not in page
    assert "<b>Ward</b>" not in page
    assert "alert(1)" in page  # still there, as text
    assert r"\u0026lt;script\u0026gt;alert(1)" in page


def test_heat_weights_are_the_cell_counts(areas, heat) -> None:
    # Raw counts: the layer's surface is in incidents per km² (test_heat_fidelity.py).
    m = build_map(areas, heat, area_label="Ward", center=(-33.97, 18.53), zoom=13)
    page = render(m)
    data = heat_data(page)
    assert [w for _, _, w in data] == [1, 2, 4, 8]
    assert [lat for lat, _, _ in data] == list(heat["lat"])
    # Without a scale from the caller, the top is the peak of the cells given, at the zoom.
    options = heat_options(page)
    points = heat[["lat", "lon", "weight"]].to_numpy()
    assert options["top"] == pytest.approx(peak_density(points, zoom=13, sigma_px=10))
    assert options["sigma"] == HEAT_RADIUS / 2 and options["step"] >= 1


def test_the_heat_scale_comes_from_the_caller_not_the_cells(areas, heat) -> None:
    # The dashboard sends only the cells near the view; its scale is every incident's.
    page = render(build_map(areas, heat, area_label="Ward", zoom=13, heat_scale=1234.5))
    assert heat_options(page)["top"] == 1234.5
    legend = heat_legend(page)
    assert "Red: 1,234 or more" in legend or "Red: 1,235 or more" in legend


def test_heat_legend_has_numbered_ticks_not_low_and_high(areas, heat) -> None:
    legend = heat_legend(render(build_map(areas, heat, area_label="Ward", heat_scale=4643.0)))
    ticks = re.findall(r'<span style="left:([\d.]+)%[^"]*">([^<]+)</span>', legend)
    assert [label for _, label in ticks] == ["0", "200", "800", "1,500", "3,000"]
    # Each number where the layer draws it: (value / top) ** 0.5 along the bar.
    for left, label in ticks:
        value = float(label.replace(",", ""))
        assert float(left) == pytest.approx(100 * (value / 4643) ** 0.5, abs=0.05)
    assert "low" not in legend and "high" not in legend


def test_heat_legend_prints_no_value_below_k(areas, heat) -> None:
    # An agency viewer's heat (layers.analysis.figures.heat_figure) carries its threshold.
    suppressed = heat.copy()
    suppressed.attrs["k"] = 5
    page = render(_map_with(heat_layer(suppressed, max_zoom=13, scale=4.6)))
    legend = heat_legend(page)
    labels = re.findall(r'<span style="[^"]*">([^<]+)</span>', legend)
    assert labels == []  # 0, 0.15, 0.6, 1.5 and 2.5: all below 5
    assert "Red:" not in legend and "No value under 5 is labelled." in legend
    legend = heat_legend(render(_map_with(heat_layer(suppressed, max_zoom=13, scale=4643.0))))
    labels = re.findall(r'<span style="[^"]*">([^<]+)</span>', legend)
    assert labels == ["200", "800", "1,500", "3,000"]
    legend = heat_legend(render(_map_with(heat_layer(heat, max_zoom=13, scale=4.6, k=3))))
    labels = re.findall(r'<span style="[^"]*">([^<]+)</span>', legend)
    assert all(float(v) >= 3 for v in labels) and "Red: 4.6 or more" in legend


def test_legends_follow_their_layers(areas, heat) -> None:
    layers = map_layers(areas, heat, area_label="Ward", style="choropleth", zoom=12)
    assert len(layers) == 2
    page = render(_map_with(layers[0]))
    assert "Incidents per Ward" in page
    assert 'parent.on("remove", hide);' in page  # and in the browser: test_one_legend_panel


def test_zero_weight_cells_are_left_out_and_bad_weights_refused(heat) -> None:
    heat.loc[0, "weight"] = 0
    assert len(heat_data(render(_map_with(heat_layer(heat, max_zoom=12))))) == 3
    heat.loc[0, "weight"] = -1
    with pytest.raises(ValueError, match="negative"):
        heat_layer(heat, max_zoom=12)
    with pytest.raises(ValueError, match=r"\['weight'\]"):
        heat_layer(heat.drop(columns="weight"), max_zoom=12)


def test_heat_layer_alone_links_the_served_script(heat) -> None:
    # What st_folium(feature_group_to_add=...) collects from the layer it is given.
    heat_map, _legend = heat_layer(heat, max_zoom=12)._children.values()
    assert heat_map.default_js == [("incident-heat.js", "/app/static/vendor/incident_heat.js")]


@pytest.mark.parametrize("tiles", [None, "none", "None"])
def test_no_tiles_gives_no_tile_layer_and_a_light_background(areas, heat, tiles) -> None:
    page = render(build_map(areas, heat, area_label="Ward", tiles=tiles))
    assert "L.tileLayer(" not in page
    assert "openstreetmap" not in page
    assert "div.leaflet-container { background: #f2efe9; }" in page
    assert "L.geoJson(" in page


def test_the_default_map_is_offline_and_says_so(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="Ward"))
    assert "L.tileLayer(" not in page and not URL.findall(page)  # nothing to fetch
    assert json.dumps(NO_BASEMAP) in page  # the attribution says there is no basemap


def test_osm_tiles_only_when_asked_for_and_credited_only_while_they_load(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="Ward", tiles="osm"))
    assert f'L.tileLayer(\n                "{OSM_TILES}"' in page
    assert "OpenStreetMap\\u003c/a\\u003e contributors" in page
    # offline, the credit gives way to a plain statement once tiles fail to load
    assert '"tileerror"' in page and json.dumps(TILES_UNAVAILABLE) in page


def test_custom_tiles_need_an_attribution(areas, heat) -> None:
    with pytest.raises(ValueError, match="attribution"):
        build_map(areas, heat, area_label="Ward", tiles="https://tiles.example/{z}/{x}/{y}.png")


def test_view_fits_the_areas_unless_given(areas, heat) -> None:
    fitted = render(build_map(areas, heat, area_label="Ward"))
    assert re.search(r"fitBounds\(\s*\[\[-33\.99, 18\.5\], \[-33\.96, 18\.56\]\]", fitted)
    placed = render(build_map(areas, heat, area_label="Ward", center=(-34.0, 18.6), zoom=11))
    assert ".fitBounds(" not in placed
    assert '"zoom": 11' in placed and "center: [-34.0, 18.6]" in placed


def test_layer_control_toggles_heat_and_boundaries(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="Ward"))
    overlays = re.search(r"overlays :  \{(.*?)\}", page, flags=re.DOTALL)
    assert overlays
    assert '"Incident heat"' in overlays.group(1)
    assert '"Ward boundaries"' in overlays.group(1)
    assert "L.control.layers(" not in render(
        build_map(areas, heat, area_label="W", layer_control=False)
    )


def test_synthetic_banner_only_when_asked(areas, heat) -> None:
    assert "SYNTHETIC DEMO DATA" in render(build_map(areas, heat, area_label="W", synthetic=True))
    assert "SYNTHETIC DEMO DATA" not in render(build_map(areas, heat, area_label="W"))


def test_heat_none_leaves_the_layer_and_its_legend_out(areas, heat) -> None:
    page = render(build_map(areas, None, area_label="Ward"))
    assert "L.incidentHeat(" not in page and "Incidents per km" not in page
    assert "incident_heat" not in page and "leaflet_heat" not in page
    # The legend belongs to the layer: without the layer there is no scale to show.
    assert "Incidents per km" not in render(
        build_map(areas, None, area_label="Ward", heat_legend=True)
    )
    quiet = render(build_map(areas, heat, area_label="Ward", heat_legend=False))
    assert "L.incidentHeat(" in quiet and "Incidents per km" not in quiet


def test_detailed_boundaries_are_simplified_and_rounded() -> None:
    # A 2 km circle with 20,000 vertices, built in metres and brought back to degrees.
    circle = gpd.GeoSeries([Point(0, 0)], crs="EPSG:32734").buffer(2000, quad_segs=5000)
    circle = circle.translate(260_000, 6_240_000).to_crs("EPSG:4326")
    areas = gpd.GeoDataFrame({"name": ["Round"], "count": [1]}, geometry=circle)
    features = area_layer(areas, area_label="Ward", labels=False)
    (geojson,) = features._children.values()
    ring = geojson.data["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) < 500
    assert all(len(repr(x).split(".")[1]) <= 5 for x, _ in ring)
    assert areas.geometry.iloc[0].area > 0  # the input is untouched


def test_areas_are_reprojected_and_checked(areas, heat) -> None:
    page = render(build_map(areas.to_crs("EPSG:32734"), heat, area_label="Ward"))
    assert "[18.5, -33.99]" in page
    with pytest.raises(ValueError, match="CRS"):
        build_map(areas.set_crs(None, allow_override=True), heat, area_label="Ward")
    with pytest.raises(ValueError, match=r"\['count'\]"):
        build_map(areas.drop(columns="count"), heat, area_label="Ward")


def test_no_areas_falls_back_to_cape_town(areas, heat) -> None:
    page = render(build_map(areas.iloc[:0], heat, area_label="Ward"))
    assert "center: [-33.95, 18.55]" in page and ".fitBounds(" not in page


def test_st_folium_receives_only_vendored_links(areas, heat, monkeypatch) -> None:
    streamlit_folium = pytest.importorskip("streamlit_folium")
    sent: dict = {}
    monkeypatch.setattr(streamlit_folium, "_component_func", lambda **kw: sent.update(kw))
    m = build_map(areas, None, area_label="Ward")
    streamlit_folium.st_folium(
        m, feature_group_to_add=heat_layer(heat, max_zoom=12), returned_objects=[]
    )
    assert sent["js_links"] == [
        "/app/static/vendor/leaflet.js",
        "/app/static/vendor/incident_heat.js",
    ]
    assert sent["css_links"] == ["/app/static/vendor/leaflet.css"]
    assert not URL.findall(sent["header"])
    assert "#map_div" in sent["header"] or "map_div" in sent["script"]
    # The heat legend comes with the layer, so a filter change brings its new scale.
    assert "cct-legend" in sent["script"]
    assert (
        "L.incidentHeat(" in sent["feature_group"] and "Incidents per km" in sent["feature_group"]
    )


def _map_with(layer):
    import folium

    m = folium.Map(tiles=None)
    layer.add_to(m)
    return m


@pytest.mark.browser
def test_standalone_map_runs_offline_in_chromium(tmp_path: Path, areas, heat) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed")
    if not (PROJECT_ROOT / "node_modules" / "leaflet").is_dir():
        pytest.fail(f"node_modules/leaflet is missing: run `npm ci` in {PROJECT_ROOT} first.")
    (tmp_path / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    vendor_assets(project_root=tmp_path)
    m = build_map(areas, heat, area_label="Ward", style="choropleth", tiles=None, synthetic=True)
    page_file = tmp_path / "map.html"
    page_file.write_text(standalone_html(m, project_root=tmp_path))

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 600})
        errors: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_file.as_uri())
        page.wait_for_selector(".cct-legend")
        assert page.locator("path.leaflet-interactive").count() == 2
        assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
        assert page.locator(".cct-legend .cct-swatch").count() == 2
        assert page.locator(".cct-synthetic").inner_text() == "SYNTHETIC DEMO DATA"
        # Hovering the area named with markup shows the markup as text and runs nothing.
        box_ = page.locator("path.leaflet-interactive").nth(1).bounding_box()
        assert box_
        page.mouse.move(box_["x"] + box_["width"] / 2, box_["y"] + box_["height"] / 2)
        assert XSS in page.locator(".leaflet-tooltip").inner_text()
        browser.close()
    assert errors == []
    assert requests == [page_file.as_uri()]


def test_a_hidden_count_is_a_class_of_its_own_and_the_legend_names_no_number(areas) -> None:
    """Suppressed counts (NaN) are neither 0 nor the lowest class: grey, and the legend says
    "Hidden" without a range that would bound them."""
    shown = areas.assign(count=[np.nan, 40], count_text=["fewer than 3, or hidden", "40"])
    page = render(build_map(shown, None, area_label="cell", style="choropleth"))
    assert HIDDEN_COLOUR in page and "Hidden: too few to show" in page
    assert r"\u003c/span\u003e0\u003c/div\u003e" not in page  # no "0" class for hidden
    assert r"\u003c/span\u003e40\u003c/div\u003e" in page


def test_recent_cells_are_one_geojson_layer_of_rings_sized_by_count() -> None:
    import folium

    cells = pd.DataFrame({"lat": [-33.9, -33.95, -34.0], "lon": [18.4, 18.5, 18.6],
                          "weight": [1.0, 3.0, 0.0]})  # fmt: skip
    group = recent_layer(cells, minutes=60)
    layers = [c for c in group._children.values() if isinstance(c, folium.GeoJson)]
    assert len(layers) == 1  # one element, not one marker per cell
    features = layers[0].data["features"]
    assert len(features) == 2  # the empty cell is left out
    by_label = {f["properties"]["label"]: f for f in features}
    assert set(by_label) == {"1 incident in the last 60 minutes",
                             "3 incidents in the last 60 minutes"}  # fmt: skip
    three = by_label["3 incidents in the last 60 minutes"]
    assert three["geometry"]["coordinates"] == [18.5, -33.95]
    assert three["properties"]["radius"] > by_label["1 incident in the last 60 minutes"][
        "properties"]["radius"]  # fmt: skip
    m = folium.Map(location=(-33.9, 18.5), zoom_start=11)
    group.add_to(m)
    page = m.get_root().render()
    assert "new L.CircleMarker(latlng, opts)" in page and "Reported in the last 60 minutes" in page


# ---- local basemaps (layers.maps.tiles, layers.maps.basemap) -------------------------------


@pytest.fixture
def local_tiles(tmp_path):
    from tilefiles import raster_tiles, write_mbtiles

    tiles = raster_tiles((18.49, -34.0, 18.57, -33.95), range(10, 14))
    path = write_mbtiles(tmp_path / "cape-town.mbtiles", tiles, date="2026-11-30",
                         bounds="18.49,-34.0,18.57,-33.95", attribution="© Test tiles")  # fmt: skip
    return path, tiles


def test_a_served_local_basemap_loads_from_the_app(areas, heat, local_tiles) -> None:
    from layers.maps.basemap import served_url
    from layers.maps.tiles import open_basemap

    basemap = open_basemap(local_tiles[0])
    page = render(build_map(areas, heat, area_label="Ward", tiles=basemap))
    assert json.dumps(served_url(basemap))[1:-1] in page
    assert not URL.findall(page)  # no tile server
    assert "Basemap: local file cape-town.mbtiles (raster tiles, 2026-11-30)" in page
    assert json.dumps("© Test tiles (cape-town.mbtiles, 2026-11-30)") in page  # attribution
    assert json.dumps(NO_BASEMAP) not in page and "tileerror" not in page


def test_a_standalone_map_embeds_its_tiles(areas, heat, local_tiles) -> None:
    path, tiles = local_tiles
    page = standalone_html(build_map(areas, heat, area_label="Ward", tiles=str(path),
                                     assets="inline"))  # fmt: skip
    assert "/tiles/" not in page, page[page.index("/tiles/") - 200 : page.index("/tiles/") + 50]
    # nothing to fetch: the one link is Leaflet's own credit
    assert re.findall(r'(?:src|href)="(https?://[^"]+)"', page) == ["https://leafletjs.com"]
    embedded = re.search(r"var embedded = (\{.*?\});", page).group(1)
    keys = set(json.loads(embedded))
    # the areas' extent, at zooms from two below the opening one (14 for 6 km) to the file's
    # deepest (13), whatever of it the file has
    assert fit_zoom(areas.total_bounds) == 14
    assert keys == {
        f"{z}/{x}/{y}"
        for z, x, y in tiles
        if z >= 12 and _tile_meets((z, x, y), areas.total_bounds)
    }
    assert "embedded to zoom 13" in page


def _tile_meets(key, bounds) -> bool:
    from layers.maps.tiles import tiles_in

    return key in set(tiles_in(bounds, [key[0]]))


def test_a_vector_basemap_brings_protomaps_leaflet(areas, heat, tmp_path) -> None:
    from tilefiles import write_vector_pmtiles

    land = gpd.GeoDataFrame(geometry=[box(18.4, -34.1, 18.7, -33.9)], crs="EPSG:4326")
    path = write_vector_pmtiles(tmp_path / "v.pmtiles", land, minzoom=10, maxzoom=13)
    served = render(build_map(areas, heat, area_label="Ward", tiles=str(path)))
    assert '<script src="/app/static/vendor/protomaps-leaflet.js">' in served
    assert '"flavor": "light"' in served and '"vector": true' in served
    inline = standalone_html(build_map(areas, heat, area_label="Ward", tiles=str(path),
                                       assets="inline"))  # fmt: skip
    assert "/* protomaps-leaflet.js (vendored) */" in inline and "<script src=" not in inline


def test_a_map_without_its_basemap_says_why(areas, heat) -> None:
    page = render(build_map(areas, heat, area_label="Ward", tiles=None,
                            tiles_problem="x.mbtiles is not a tiles file"))  # fmt: skip
    assert json.dumps("No basemap: x.mbtiles is not a tiles file") in page
    assert json.dumps(NO_BASEMAP) in page


@pytest.mark.browser
def test_one_legend_panel_hatched_hotspots_and_names_where_they_fit(tmp_path: Path) -> None:
    """Issue 18, item 8: the legends are sections of one panel, in a fixed order, that
    follow their layers; hotspots are hatched, not filled like the heat; area names show
    only where they fit."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    (tmp_path / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    vendor_assets(project_root=tmp_path)
    # A 3 by 3 grid of 2 km squares, one long name that fits only when zoomed in.
    squares = [box(18.50 + 0.02 * i, -34.0 + 0.02 * j, 18.52 + 0.02 * i, -33.98 + 0.02 * j)
               for i in range(3) for j in range(3)]  # fmt: skip
    names = [f"P{n}" for n in range(8)] + ["A precinct with a very long name"]
    areas = gpd.GeoDataFrame({"name": names, "count": range(9)}, geometry=squares,
                             crs="EPSG:4326")  # fmt: skip
    heat = pd.DataFrame({"lat": [-33.97], "lon": [18.53], "weight": [5.0]})
    hotspots = gpd.GeoDataFrame({"gi_bin": [3, -2], "gi_z": [3.5, -2.1], "gi_p": [0.001, 0.03],
                                 "count": [9, 0]},
                                geometry=[squares[4], squares[0]], crs="EPSG:4326")  # fmt: skip
    m = build_map(areas, heat, area_label="Precinct", hotspots=hotspots, zoom=12,
                  center=(-33.97, 18.53), tiles=None)  # fmt: skip
    page_file = tmp_path / "map.html"
    page_file.write_text(standalone_html(m, project_root=tmp_path))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(page_file.as_uri())
        page.wait_for_selector(".cct-legends .cct-legend")
        panels = page.locator(".cct-legends").count()
        sections = page.locator(".cct-legends > .cct-legend").all_inner_texts()
        fills = page.evaluate("""() => [...document.querySelectorAll("path.leaflet-interactive")]
            .map((p) => p.getAttribute("fill")).filter((f) => f && f.startsWith("url("))""")
        patterns = page.evaluate(
            """() => [...document.querySelectorAll("svg defs pattern")].map((p) => p.id)"""
        )

        def shown_labels() -> list[str]:
            return page.evaluate("""() => [...document.querySelectorAll(".cct-area-label")]
                .filter((l) => getComputedStyle(l).visibility === "visible")
                .map((l) => l.textContent)""")

        at_12 = shown_labels()
        page.evaluate("""() => { const map = Object.values(window).find(
            (v) => v instanceof L.Map); map.setZoom(15, {animate: false}); }""")
        page.wait_for_function("""() => [...document.querySelectorAll(".cct-area-label")]
            .some((l) => l.textContent.startsWith("A precinct") &&
                         getComputedStyle(l).visibility === "visible")""")
        # the hotspots' legend leaves with their layer, and comes back in its place
        toggle = """(add) => {
            const map = Object.values(window).find((v) => v instanceof L.Map);
            const group = Object.values(window).find((v) => v instanceof L.FeatureGroup
                && !(v instanceof L.GeoJSON) && v.getLayers().some((g) => g instanceof
                L.GeoJSON && g.getLayers().some((f) => "gi_bin" in f.feature.properties)));
            if (add) { map.addLayer(group); } else { map.removeLayer(group); }
            return [...document.querySelectorAll(".cct-legends > .cct-legend")]
                .map((s) => s.innerText.split("\\n")[0]);
        }"""
        without = page.evaluate(toggle, False)
        again = page.evaluate(toggle, True)
        browser.close()
    titles = [s.split("\n")[0] for s in sections]
    assert panels == 1
    assert titles == ["Precinct boundary", "Incidents per km²", "Getis-Ord Gi* (FDR-corrected)"]
    assert "Getis-Ord Gi* (FDR-corrected)" not in without and again == titles
    assert sorted(fills) == ["url(#cct-hatch-849eba)", "url(#cct-hatch-d62f27)"]
    assert {"cct-hatch-d62f27", "cct-hatch-849eba"} <= set(patterns)
    assert "A precinct with a very long name" not in at_12 and "P0" in at_12


def test_each_agency_keeps_one_colour_in_every_chart() -> None:
    from app.charts import agency_spec
    from layers.maps.palette import AGENCY_COLOURS, agency_colour

    def colours(names: tuple[str, ...]) -> dict[str, str]:
        scale = agency_spec(names)["layer"][0]["encoding"]["color"]["scale"]
        return dict(zip(scale["domain"], scale["range"], strict=True))

    # whatever the other series, and in whatever order, SAPS is the same blue
    one = colours(("SAPS", "Metro Police", "LEAP"))
    two = colours(("LEAP", "Neighbourhood Watch", "SAPS"))
    assert one["SAPS"] == two["SAPS"] == "#0072b2" and one["LEAP"] == two["LEAP"]
    assert len(set(AGENCY_COLOURS.values())) == len(AGENCY_COLOURS)  # six different colours
    assert agency_colour("Private security") == agency_colour("Private security")
    # none of them is one of the heat's colours, or a hotspot class's
    assert not set(AGENCY_COLOURS.values()) & {*HEAT_GRADIENT.values(), "#d62f27", "#ed7551"}
