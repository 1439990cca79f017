"""The dashboard's tile route (tileserve.py): only registered files, one tile per request,
cached by the browser under a key that changes with the file."""

from __future__ import annotations

import asyncio
import gzip

import geopandas as gpd
import pytest
from shapely.geometry import box
from starlette.requests import Request
from tilefiles import CAPE_TOWN, raster_tiles, write_mbtiles, write_vector_pmtiles

import tileserve
from layers.maps.basemap import SERVED_TILES_PREFIX
from layers.maps.tiles import open_basemap, tiles_in


def _get(key: str, z: int, x: int, y: int, ext: str):
    scope = {
        "type": "http", "method": "GET", "headers": [], "query_string": b"",
        "path": f"{SERVED_TILES_PREFIX}{key}/{z}/{x}/{y}.{ext}",
        "path_params": {"key": key, "z": z, "x": x, "y": y, "ext": ext},
    }  # fmt: skip
    return asyncio.run(tileserve.tile_route(Request(scope)))


@pytest.fixture
def raster(tmp_path):
    tiles = raster_tiles(CAPE_TOWN, [9, 10])
    basemap = open_basemap(write_mbtiles(tmp_path / "t.mbtiles", tiles))
    return basemap, tiles


def test_a_registered_file_is_served_tile_by_tile(raster) -> None:
    basemap, tiles = raster
    url = tileserve.serve(basemap)
    assert url == f"/tiles/{basemap.key}/{{z}}/{{x}}/{{y}}.png"
    assert basemap in tileserve.served()
    (z, x, y), data = next(iter(tiles.items()))
    reply = _get(basemap.key, z, x, y, "png")
    assert reply.status_code == 200 and reply.body == data
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["cache-control"] == "public, max-age=86400"
    assert "content-encoding" not in reply.headers


@pytest.mark.parametrize("z, x, y, ext", [
    (3, 0, 0, "png"),  # a tile the file does not hold
    (9, 0, 0, "jpg"),  # another format than the file's
    (9, 512, 0, "png"),  # off the world
    (31, 0, 0, "png"),
    (8, 141, 153, "png"),  # below the file's zooms: refused before anything is read
])  # fmt: skip
def test_what_is_not_there_is_a_404(raster, z, x, y, ext) -> None:
    basemap, _ = raster
    tileserve.serve(basemap)
    assert _get(basemap.key, z, x, y, ext).status_code == 404


def test_an_unknown_key_reads_nothing(raster) -> None:
    reply = _get("0123456789abcdef", 9, 282, 306, "png")
    assert reply.status_code == 404 and b"reload the page" in reply.body


def test_compressed_vector_tiles_are_sent_compressed(tmp_path) -> None:
    land = gpd.GeoDataFrame(geometry=[box(18.3, -34.3, 18.9, -33.6)], crs="EPSG:4326")
    basemap = open_basemap(write_vector_pmtiles(tmp_path / "v.pmtiles", land))
    tileserve.serve(basemap)
    z, x, y = next(iter(tiles_in(CAPE_TOWN, [10])))
    reply = _get(basemap.key, z, x, y, "mvt")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert reply.headers["content-encoding"] == "gzip"
    assert b"earth" in gzip.decompress(reply.body)


def test_a_file_made_again_is_served_under_a_new_key_and_old_versions_are_let_go(
    tmp_path,
) -> None:
    import os

    path = tmp_path / "t.mbtiles"
    keys = []
    for n in range(tileserve.KEEP_VERSIONS + 2):
        tiles = raster_tiles(CAPE_TOWN, [9], colour=(n, 0, 0))
        made = write_mbtiles(tmp_path / f"new{n}.mbtiles", tiles)
        os.replace(made, path)  # as a refresh does: the new file renamed over the old
        os.utime(path, ns=(n * 10**9, n * 10**9))
        basemap = open_basemap(path)
        tileserve.serve(basemap)
        keys.append(basemap.key)
    assert len(set(keys)) == len(keys)
    (z, x, y), data = next(iter(tiles.items()))
    assert _get(keys[-1], z, x, y, "png").body == data  # the newest file
    kept, dropped = keys[-tileserve.KEEP_VERSIONS :], keys[: -tileserve.KEEP_VERSIONS]
    assert all(_get(key, z, x, y, "png").status_code == 200 for key in kept)
    assert all(_get(key, z, x, y, "png").status_code == 404 for key in dropped)
