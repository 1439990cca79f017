"""Vendoring Leaflet and pointing folium maps at the vendored files (layers.maps.assets)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import branca.colormap
import folium
import folium.plugins
import geopandas as gpd
import pandas as pd
import pytest
from conftest import CDN_HOSTS, LINKED, URL
from shapely.geometry import box

from layers.maps import assets
from layers.maps.assets import (
    SERVED_URL_PREFIX,
    MissingAssetsError,
    apply_offline_assets,
    standalone_html,
    vendor_assets,
)
from layers.maps.tiles import OSM_TILES
from layers.maps.webmap import build_map

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NODE_LEAFLET = PROJECT_ROOT / "node_modules" / "leaflet"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root whose node_modules is the real one, vendored into tmp_path/static."""
    if not (NODE_LEAFLET / "package.json").is_file():
        pytest.fail(f"{NODE_LEAFLET} is missing: run `npm ci` in {PROJECT_ROOT} first.")
    (tmp_path / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    vendor_assets(project_root=tmp_path)
    return tmp_path


@pytest.fixture
def areas() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["Athlone", "Gugulethu"], "count": [3, 10]},
        geometry=[box(18.50, -33.99, 18.53, -33.96), box(18.53, -33.99, 18.56, -33.96)],
        crs="EPSG:4326",
    )


@pytest.fixture
def heat() -> pd.DataFrame:
    return pd.DataFrame(
        {"lat": [-33.98, -33.97, -33.975], "lon": [18.51, 18.54, 18.55], "weight": [1, 2, 4]}
    )


def test_vendor_assets_copies_leaflet_and_heat(project: Path) -> None:
    vendor = project / "static" / "vendor"
    dist = NODE_LEAFLET / "dist"
    assert (vendor / "leaflet.js").read_bytes() == (dist / "leaflet.js").read_bytes()
    assert (vendor / "leaflet.css").read_bytes() == (dist / "leaflet.css").read_bytes()
    # Leaflet's images, and the draw toolbar's sprites beside them.
    assert {p.name for p in (vendor / "images").iterdir()} == {
        p.name for p in (dist / "images").iterdir()
    } | {"spritesheet.png", "spritesheet-2x.png", "spritesheet.svg"}
    heat = Path(folium.__file__).parent / "templates" / "leaflet_heat.min.js"
    assert (vendor / "leaflet_heat.min.js").read_bytes() == heat.read_bytes()
    ours = PROJECT_ROOT / "layers" / "maps" / "js" / "incident_heat.js"
    assert (vendor / "incident_heat.js").read_bytes() == ours.read_bytes()
    # Atomic copies leave no temporary files behind.
    assert not [p for p in vendor.rglob(".*") if p.is_file()]


def test_vendor_assets_copies_leaflet_draw_and_its_sprites_beside_leaflets_images(
    project: Path,
) -> None:
    vendor = project / "static" / "vendor"
    dist = PROJECT_ROOT / "node_modules" / "leaflet-draw" / "dist"
    for name in ("leaflet.draw.js", "leaflet.draw.css"):
        assert (vendor / name).read_bytes() == (dist / name).read_bytes()
    # Every image its stylesheet names is served beside it ...
    css = (vendor / "leaflet.draw.css").read_text()
    named = set(re.findall(r"url\('?(images/[^')]+)'?\)", css))
    assert named and all((vendor / name).is_file() for name in named)
    # ... and leaflet-draw's copies of an older Leaflet's images do not replace Leaflet's own.
    leaflet_images = NODE_LEAFLET / "dist" / "images"
    for image in leaflet_images.iterdir():
        assert (vendor / "images" / image.name).read_bytes() == image.read_bytes()


def test_the_draw_toolbar_is_served_from_the_vendor_folder() -> None:
    m = folium.Map(tiles=None)
    folium.plugins.Draw().add_to(m)
    page = apply_offline_assets(m, mode="served").get_root().render()
    assert sorted(LINKED.findall(page)) == sorted(
        SERVED_URL_PREFIX + name
        for name in ("leaflet.js", "leaflet.css", "leaflet.draw.js", "leaflet.draw.css")
    )
    assert not any(host in page for host in CDN_HOSTS)
    assert "new L.Control.Draw(" in page
    assert any("cdnjs" in url for _, url in folium.plugins.Draw.default_js)  # folium's untouched


def test_the_draw_toolbar_inlines_with_its_svg_sprites(project: Path) -> None:
    m = folium.Map(tiles=None)
    folium.plugins.Draw().add_to(m)
    page = apply_offline_assets(m, mode="inline", project_root=project).get_root().render()
    assert "<script src" not in page and "<link" not in page
    assert "Leaflet.draw 1.0.4" in page and "L.Control.Draw=L.Control.extend(" in page
    assert 'url("data:image/svg+xml;base64,' in page  # the toolbar's icons, not a PNG label
    assert 'url("data:image/png;base64,' in page
    assert "url('images/" not in page


def test_vendor_assets_is_repeatable(project: Path) -> None:
    written = vendor_assets(project_root=project)
    assert all(path.is_file() for path in written)
    assert len(written) == len(set(written))


def test_vendor_assets_without_node_modules_says_run_npm_ci(tmp_path: Path) -> None:
    with pytest.raises(MissingAssetsError, match="npm ci"):
        vendor_assets(project_root=tmp_path)
    assert not (tmp_path / "static").exists()


def test_vendor_assets_needs_protomaps_leaflet(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "leaflet"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "leaflet", "version": "1.9.4"}')
    with pytest.raises(MissingAssetsError, match=r"protomaps-leaflet is missing.*npm ci"):
        vendor_assets(project_root=tmp_path)


def test_vendor_assets_rejects_another_leaflet_version(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "leaflet"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"name": "leaflet", "version": "1.9.3"}')
    with pytest.raises(MissingAssetsError, match=r"1\.9\.3, not 1\.9\.4.*npm ci"):
        vendor_assets(project_root=tmp_path)


def test_package_files_pin_leaflet_protomaps_and_leaflet_draw_from_the_npm_registry() -> None:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    assert package["private"] is True
    assert package["dependencies"] == {
        "leaflet": "1.9.4", "leaflet-draw": "1.0.4", "protomaps-leaflet": "5.1.0"
    }  # fmt: skip
    assert package["dependencies"]["leaflet-draw"] == assets.LEAFLET_DRAW_VERSION
    for name, version in package["dependencies"].items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["integrity"].startswith("sha512-")
    for name, pkg in lock["packages"].items():
        resolved = pkg.get("resolved", "https://registry.npmjs.org/")
        assert resolved.startswith("https://registry.npmjs.org/"), (name, resolved)


def test_served_mode_replaces_every_folium_cdn_link() -> None:
    m = folium.Map(location=(-33.97, 18.53), zoom_start=12, tiles=None)
    folium.plugins.HeatMap([[-33.97, 18.53, 1.0]]).add_to(m)
    page = apply_offline_assets(m, mode="served").get_root().render()
    links = LINKED.findall(page)
    assert sorted(links) == sorted(
        SERVED_URL_PREFIX + name for name in ("leaflet.js", "leaflet.css", "leaflet_heat.min.js")
    )
    assert not URL.findall(page)
    # folium's own lists are class attributes shared by every map: they must stay untouched.
    assert any("cdn.jsdelivr" in url for _, url in folium.Map.default_js)


def test_served_mode_honours_a_url_prefix() -> None:
    m = folium.Map(tiles=None)
    page = apply_offline_assets(m, mode="served", url_prefix="/cct/app/static/vendor/")
    assert '<script src="/cct/app/static/vendor/leaflet.js">' in page.get_root().render()


def test_links_from_an_earlier_render_are_dropped() -> None:
    m = folium.Map(tiles=None)
    assert "code.jquery.com" in m.get_root().render()
    page = apply_offline_assets(m, mode="served").get_root().render()
    assert not any(host in page for host in CDN_HOSTS)


@pytest.mark.parametrize(
    "add",
    [
        pytest.param(lambda m: folium.Marker((0, 0), popup="hi").add_to(m), id="popup"),
        pytest.param(lambda m: folium.Marker((0, 0), icon=folium.Icon()).add_to(m), id="icon"),
        pytest.param(
            lambda m: branca.colormap.LinearColormap(["white", "red"]).add_to(m), id="colormap"
        ),
        pytest.param(lambda m: folium.plugins.MarkerCluster().add_to(m), id="unvendored-plugin"),
    ],
)
def test_elements_that_need_a_cdn_are_refused(add) -> None:
    m = folium.Map(tiles=None)
    add(m)
    with pytest.raises(ValueError, match=r"offline|not vendored"):
        apply_offline_assets(m, mode="served")


def test_inline_mode_renders_a_self_contained_page(project: Path) -> None:
    m = folium.Map(tiles=None)
    folium.plugins.HeatMap([[0.0, 0.0, 1.0]]).add_to(m)
    page = apply_offline_assets(m, mode="inline", project_root=project).get_root().render()
    assert "<script src" not in page
    assert "<link" not in page
    assert "Leaflet 1.9.4" in page
    assert "L.heatLayer=" in page
    assert page.index("Leaflet 1.9.4") < page.index("L.heatLayer=")


def test_inline_mode_without_vendored_files_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(MissingAssetsError, match="npm ci"):
        apply_offline_assets(folium.Map(tiles=None), mode="inline", project_root=tmp_path)


def test_standalone_html_inlines_everything(
    project: Path, areas: gpd.GeoDataFrame, heat: pd.DataFrame
) -> None:
    m = build_map(areas, heat, area_label="SAPS precinct")
    page = standalone_html(m, project_root=project)
    assert "<script src=" not in page
    assert not re.search(r"<link\b", page)
    assert "Leaflet 1.9.4" in page  # the library's banner
    assert "L.map(" in page  # folium's code that uses it
    assert "L.IncidentHeat = L.Layer.extend(" in page  # our heat layer, before its use
    assert page.index("L.IncidentHeat = ") < page.index("= L.incidentHeat(")
    assert "L.heatLayer=" not in page  # leaflet.heat is not needed
    # The layers-control icon, which Leaflet's CSS links relatively, is a data URI now.
    assert 'url("data:image/png;base64,' in page
    assert "url(images/" not in page
    assert not any(host in page for host in CDN_HOSTS)
    # Every URL left is the tile template, the attribution link, or text inside the vendored
    # libraries (licence banners, the SVG namespace, Leaflet's own attribution link), none of
    # which is fetched.
    vendored_text = "".join(
        (project / "static" / "vendor" / name).read_text()
        for name in ("leaflet.js", "leaflet.css", "incident_heat.js")
    )
    allowed = {OSM_TILES, "https://www.openstreetmap.org/copyright"}
    allowed |= set(URL.findall(vendored_text))
    assert set(URL.findall(page)) <= allowed


def test_standalone_html_without_tiles_has_no_tile_url(
    project: Path, areas: gpd.GeoDataFrame, heat: pd.DataFrame
) -> None:
    page = standalone_html(
        build_map(areas, heat, area_label="Ward", tiles=None), project_root=project
    )
    assert "tile.openstreetmap.org" not in page
    assert "L.tileLayer(" not in page


def test_standalone_html_leaves_the_map_fit_for_streamlit(
    project: Path, areas: gpd.GeoDataFrame, heat: pd.DataFrame
) -> None:
    m = build_map(areas, heat, area_label="Ward")
    standalone_html(m, project_root=project)
    assert '<script src="/app/static/vendor/leaflet.js">' in m.get_root().render()


def test_standalone_html_refuses_a_map_with_cdn_links(project: Path) -> None:
    with pytest.raises(ValueError, match="not a vendored file"):
        standalone_html(folium.Map(tiles=None), project_root=project)


def test_inline_tag_refuses_a_file_that_would_end_the_block_early(project: Path) -> None:
    (project / "static" / "vendor" / "leaflet.js").write_text("var s = '</script>';")
    with pytest.raises(ValueError, match="cannot be inlined"):
        assets.inline_tag(assets.LEAFLET_JS, project_root=project)
