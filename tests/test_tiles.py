"""Local basemaps: reading MBTiles, PMTiles and tile folders, and refusing bad ones with a
message that says what to do (layers.maps.tiles)."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box
from tilefiles import (
    CAPE_TOWN,
    raster_tiles,
    write_json,
    write_mbtiles,
    write_pmtiles,
    write_tile_folder,
    write_vector_pmtiles,
)

from layers.maps.tiles import (
    OSM_TILES,
    BasemapError,
    check_extent,
    embed_tiles,
    open_basemap,
    open_tiles,
    plain_tile,
    tile_count,
    tile_range,
    tiles_in,
)
from layers.maps.tiles import (
    write_tile_folder as copy_tiles,
)
from layers.storage.columnar import pixels_to_lonlat


@pytest.fixture(scope="module")
def tiles():
    return raster_tiles(CAPE_TOWN, range(8, 11))


@pytest.fixture
def mbtiles(tmp_path, tiles) -> Path:
    return write_mbtiles(tmp_path / "cape-town.mbtiles", tiles, date="2026-11-30",
                         attribution='<a href="https://osm.org">© OpenStreetMap</a>')  # fmt: skip


@pytest.mark.parametrize("spec", [None, "", "none", "None", " none "])
def test_none_is_no_basemap(spec) -> None:
    assert open_basemap(spec) is None


def test_osm_is_remote_and_credited() -> None:
    basemap = open_basemap("osm")
    assert not basemap.local and basemap.url == OSM_TILES
    assert "OpenStreetMap" in basemap.attribution
    assert basemap.legend_text() == (
        "Basemap: remote, from tile.openstreetmap.org (needs the internet)"
    )


def test_a_tile_url_needs_its_placeholders_and_a_credit() -> None:
    with pytest.raises(BasemapError, match=r"lacks \{y\}"):
        open_basemap("https://tiles.example/{z}/{x}.png", attribution="x")
    with pytest.raises(BasemapError, match="--tiles-attribution"):
        open_basemap("https://tiles.example/{z}/{x}/{y}.png")
    remote = open_basemap("https://tiles.example/{z}/{x}/{y}.jpg", attribution="© Example")
    assert (remote.kind, remote.format, remote.label) == ("remote", "jpg", "tiles.example")


def test_mbtiles_metadata_and_tiles_in_leaflet_rows(mbtiles, tiles) -> None:
    basemap = open_basemap(mbtiles)
    assert (basemap.kind, basemap.format, basemap.local, basemap.vector) == (
        "mbtiles", "png", True, False)  # fmt: skip
    assert (basemap.min_zoom, basemap.max_zoom) == (8, 10)
    assert basemap.bounds == pytest.approx(CAPE_TOWN)
    assert basemap.date == "2026-11-30"
    assert basemap.attribution == "© OpenStreetMap"  # the text, not the file's markup
    assert basemap.legend_text() == (
        "Basemap: local file cape-town.mbtiles (raster tiles, 2026-11-30)"
    )
    reader = open_tiles(basemap)
    try:
        for key, data in tiles.items():
            assert reader.tile(*key) == data  # MBTiles' rows are counted from the south
        assert reader.tile(3, 0, 0) is None
    finally:
        reader.close()


def test_the_key_changes_when_the_file_does(mbtiles, tiles) -> None:
    before = open_basemap(mbtiles).key
    assert open_basemap(mbtiles).key == before
    db = sqlite3.connect(mbtiles)
    with db:
        db.execute("UPDATE metadata SET value = 'x' WHERE name = 'name'")
    db.close()
    assert open_basemap(mbtiles).key != before


def test_a_file_credit_cannot_put_markup_in_the_page(tmp_path, tiles) -> None:
    path = write_mbtiles(tmp_path / "t.mbtiles", tiles,
                         attribution='<img src=x onerror="alert(1)">Tiles<script>alert(2)</script>'
                         ' & <b>co</b>')  # fmt: skip
    assert open_basemap(path).attribution == "Tiles &amp; co"


def test_without_a_date_the_file_date_is_given(tmp_path, tiles) -> None:
    basemap = open_basemap(write_mbtiles(tmp_path / "t.mbtiles", tiles))
    assert basemap.date.startswith("dated 20")
    assert basemap.attribution == ""


@pytest.mark.parametrize("fmt, pillow", [("jpg", "JPEG"), ("webp", "WEBP")])
def test_mbtiles_of_jpeg_and_webp(tmp_path, fmt, pillow) -> None:
    tiles = raster_tiles(CAPE_TOWN, [9], fmt=pillow)
    path = write_mbtiles(tmp_path / "t.mbtiles", tiles, fmt="jpeg" if fmt == "jpg" else fmt)
    assert open_basemap(path).format == fmt


def test_raster_pmtiles(tmp_path, tiles) -> None:
    path = write_pmtiles(tmp_path / "t.pmtiles", tiles, attribution="© Test")
    basemap = open_basemap(path)
    assert (basemap.kind, basemap.format, basemap.min_zoom, basemap.max_zoom) == (
        "pmtiles", "png", 8, 10)  # fmt: skip
    assert basemap.bounds == pytest.approx(CAPE_TOWN)
    assert basemap.attribution == "© Test"
    reader = open_tiles(basemap)
    try:
        assert all(reader.tile(*key) == data for key, data in tiles.items())
        assert reader.tile(8, 0, 0) is None and reader.tile(2, 9, 9) is None
    finally:
        reader.close()


def test_vector_pmtiles_are_read_and_served_compressed(tmp_path) -> None:
    land = gpd.GeoDataFrame({"kind": ["land"]}, geometry=[box(18.3, -34.3, 18.9, -33.6)],
                            crs="EPSG:4326")  # fmt: skip
    basemap = open_basemap(write_vector_pmtiles(tmp_path / "v.pmtiles", land))
    assert (basemap.format, basemap.vector, basemap.vector_layers) == ("mvt", True, ("earth",))
    assert basemap.protomaps_schema  # "earth": drawn in the Protomaps style
    assert "vector tiles" in basemap.legend_text()
    reader = open_tiles(basemap)
    try:
        data = next(d for key in tiles_in(CAPE_TOWN, [10]) if (d := reader.tile(*key)))
    finally:
        reader.close()
    assert data[:2] == b"\x1f\x8b"  # stored compressed
    assert plain_tile(data) == gzip.decompress(data) and b"earth" in plain_tile(data)


def test_other_vector_schemas_get_the_plain_style(tmp_path) -> None:
    roads = gpd.GeoDataFrame({"kind": ["road"]}, geometry=[box(18.4, -34.0, 18.5, -33.9)],
                             crs="EPSG:4326")  # fmt: skip
    path = write_vector_pmtiles(tmp_path / "v.pmtiles", roads, layer="transportation")
    assert not open_basemap(path).protomaps_schema


def test_folders_xyz_and_tms(tmp_path, tiles) -> None:
    xyz = open_basemap(write_tile_folder(tmp_path / "xyz", tiles))
    assert (xyz.kind, xyz.format, xyz.scheme, xyz.min_zoom, xyz.max_zoom) == (
        "folder", "png", "xyz", 8, 10)  # fmt: skip
    tms_folder = write_tile_folder(tmp_path / "tms", tiles, tms=True)
    (tms_folder / "tilemapresource.xml").write_text(
        '<TileMap version="1.0.0"><SRS>EPSG:3857</SRS>'
        '<BoundingBox minx="-34.25" miny="18.32" maxx="-33.55" maxy="19.0"/></TileMap>'
    )
    tms = open_basemap(tms_folder)
    assert tms.scheme == "tms"
    for basemap in (xyz, tms):
        reader = open_tiles(basemap)
        assert all(reader.tile(*key) == data for key, data in tiles.items())
    meta = write_tile_folder(tmp_path / "meta", tiles, tms=True)
    write_json(meta / "metadata.json", {"scheme": "tms", "bounds": "18.32,-34.25,19,-33.55",
                                         "attribution": "© Folder", "format": "png"})  # fmt: skip
    opened = open_basemap(meta)
    assert (opened.scheme, opened.attribution) == ("tms", "© Folder")
    assert open_tiles(opened).tile(*next(iter(tiles))) == next(iter(tiles.values()))


# ---- what is refused, and what the message says -------------------------------------------


def test_a_missing_file(tmp_path) -> None:
    with pytest.raises(BasemapError, match=r"not found: .*nothere\.mbtiles\. Give an MBTiles"):
        open_basemap(tmp_path / "nothere.mbtiles")


@pytest.mark.parametrize("name, content", [
    ("cape-town.mbtiles", b"<html>not tiles</html>"),
    ("cape-town.pmtiles", b""),
    ("basemap.png", b"\x89PNG\r\n\x1a\n...."),
])  # fmt: skip
def test_a_file_that_is_not_tiles(tmp_path, name, content) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BasemapError, match="is not a tiles file: it is neither MBTiles"):
        open_basemap(path)


def test_an_sqlite_file_that_is_not_mbtiles(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "other.mbtiles")
    db.execute("CREATE TABLE things (x)")
    db.commit()
    db.close()
    with pytest.raises(BasemapError, match="SQLite database but not MBTiles"):
        open_basemap(tmp_path / "other.mbtiles")


def test_a_geopackage_is_named(tmp_path) -> None:
    frame = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    frame.to_file(tmp_path / "areas.gpkg", driver="GPKG")
    with pytest.raises(BasemapError, match=r"is a GeoPackage, not MBTiles.*gdal_translate"):
        open_basemap(tmp_path / "areas.gpkg")


def test_an_empty_mbtiles(tmp_path) -> None:
    path = write_mbtiles(tmp_path / "empty.mbtiles", {(8, 0, 0): b"x"})
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM tiles")
    db.close()
    with pytest.raises(BasemapError, match="holds no tiles"):
        open_basemap(path)


@pytest.mark.parametrize("keep, message", [
    (60, "cannot be read as PMTiles"),  # not even a whole header
    (200, r"is damaged: its header promises .* bytes but the file holds 200"),
    (-500, r"is damaged: its header promises"),  # the tiles' end cut off
])  # fmt: skip
def test_a_truncated_pmtiles(tmp_path, tiles, keep, message) -> None:
    path = write_pmtiles(tmp_path / "t.pmtiles", tiles)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(BasemapError, match=message):
        open_basemap(path)


@pytest.mark.parametrize("meta, message", [
    ({"bounds": "-60000,-4000000,60000,-3700000"}, "not longitude and latitude"),
    ({"srs": "EPSG:32734"}, r"'EPSG:32734', not Web Mercator \(wrong projection\)"),
])  # fmt: skip
def test_the_wrong_projection(tmp_path, tiles, meta, message) -> None:
    path = write_mbtiles(tmp_path / "utm.mbtiles", tiles, **meta)
    with pytest.raises(BasemapError, match=message):
        open_basemap(path)


def test_a_geodetic_gdal2tiles_folder_is_the_wrong_projection(tmp_path, tiles) -> None:
    folder = write_tile_folder(tmp_path / "geodetic", tiles, tms=True)
    (folder / "tilemapresource.xml").write_text("<TileMap><SRS>EPSG:4326</SRS></TileMap>")
    with pytest.raises(BasemapError, match=r"EPSG:4326, not Web Mercator.*--profile=mercator"):
        open_basemap(folder)


def test_a_folder_without_tiles(tmp_path) -> None:
    (tmp_path / "empty" / "8").mkdir(parents=True)
    with pytest.raises(BasemapError, match="not a tiles folder"):
        open_basemap(tmp_path / "empty")


def test_the_wrong_extent_and_a_partial_one(mbtiles) -> None:
    basemap = open_basemap(mbtiles)
    johannesburg = (27.9, -26.3, 28.2, -26.0)
    with pytest.raises(BasemapError, match=r"another place \(wrong extent\)"):
        check_extent(basemap, johannesburg)
    assert check_extent(basemap, CAPE_TOWN).warning is None
    wider = (18.0, -34.6, 19.0, -33.55)  # 0.68 x 0.70 of 1.00 x 1.05 degrees: 45 %
    warning = check_extent(basemap, wider).warning
    assert warning.startswith("The basemap cape-town.mbtiles covers only 45% of the map's area")
    assert check_extent(basemap, None) is basemap


# ---- tile maths, embedding and copying ----------------------------------------------------


@pytest.mark.parametrize("zoom", [0, 8, 12, 16])
def test_tile_range_covers_the_box(zoom) -> None:
    x0, y0, x1, y1 = tile_range(CAPE_TOWN, zoom)
    (west, east), (north, south) = pixels_to_lonlat(
        np.array([x0, x1 + 1]) * 256.0, np.array([y0, y1 + 1]) * 256.0, zoom)  # fmt: skip
    assert west <= CAPE_TOWN[0] and east >= CAPE_TOWN[2]
    assert south <= CAPE_TOWN[1] and north >= CAPE_TOWN[3]
    # and no wider than needed: one tile less on any side would not cover it
    inner_west, inner_north = pixels_to_lonlat(np.array([x0 + 1]) * 256.0,
                                               np.array([y0 + 1]) * 256.0, zoom)  # fmt: skip
    assert inner_west[0] > CAPE_TOWN[0] or x0 == x1
    assert inner_north[0] < CAPE_TOWN[3] or y0 == y1
    assert tile_count(CAPE_TOWN, [zoom]) == (x1 - x0 + 1) * (y1 - y0 + 1)


def test_embedding_stops_at_the_budget_but_keeps_the_lowest_zoom(mbtiles, tiles) -> None:
    basemap = open_basemap(mbtiles)
    everything = embed_tiles(basemap, CAPE_TOWN, range(8, 11))
    assert (everything.min_zoom, everything.max_zoom) == (8, 10)
    assert len(everything.tiles) == len(tiles)
    first_two = sum(len(d) for (z, _, _), d in tiles.items() if z <= 9)
    cut = embed_tiles(basemap, CAPE_TOWN, range(8, 11), budget=first_two)
    assert cut.max_zoom == 9 and cut.bytes == first_two
    tiny = embed_tiles(basemap, CAPE_TOWN, range(8, 11), budget=1)
    assert tiny.max_zoom == 8 and tiny.tiles


def test_copying_tiles_to_a_folder(tmp_path, mbtiles, tiles) -> None:
    written = copy_tiles(open_basemap(mbtiles), tmp_path / "site", CAPE_TOWN, [9, 10])
    assert written == sum(1 for z, _, _ in tiles if z in (9, 10))
    z, x, y = next(k for k in tiles if k[0] == 9)
    assert (tmp_path / "site" / str(z) / str(x) / f"{y}.png").read_bytes() == tiles[(z, x, y)]


def test_an_mbtiles_without_an_index_is_read_and_said_to_be_slow(tmp_path, tiles) -> None:
    slow = open_basemap(write_mbtiles(tmp_path / "slow.mbtiles", tiles, index=False))
    assert slow.advice.startswith("slow.mbtiles has no index on its tiles' places")
    assert "CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)" in (
        slow.advice)  # fmt: skip
    assert open_tiles(slow).tile(*next(iter(tiles))) == next(iter(tiles.values()))
    assert open_basemap(write_mbtiles(tmp_path / "fast.mbtiles", tiles)).advice is None
