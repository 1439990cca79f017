"""Small tiles files the tests make for themselves: raster MBTiles and PMTiles, folders of
z/x/y tiles, and vector PMTiles (through GDAL's PMTiles driver, which pyogrio bundles).

Raster tiles are one distinctive colour, :data:`TILE_COLOUR`, with a dark frame, so a browser
test can tell them by their pixels from everything else on the map.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import geopandas as gpd
from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from layers.maps.tiles import tiles_in

# The demo stores' extent (layers.storage.demo), lon/lat: west, south, east, north.
CAPE_TOWN = (18.32, -34.25, 19.0, -33.55)
TILE_COLOUR = (200, 120, 255)
Tiles = dict[tuple[int, int, int], bytes]


def raster_tiles(
    box: Iterable[float] = CAPE_TOWN,
    zooms: Iterable[int] = range(8, 12),
    *,
    colour: tuple[int, int, int] = TILE_COLOUR,
    fmt: str = "PNG",
) -> Tiles:
    """One tile of ``colour`` for each ``(z, x, y)`` covering ``box`` at ``zooms``, in
    ``fmt`` (a Pillow format: PNG, JPEG, WEBP)."""
    tiles: Tiles = {}
    for z, x, y in tiles_in(tuple(box), list(zooms)):
        image = Image.new("RGB", (256, 256), colour)
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, 255, 255], outline=(40, 40, 40))
        draw.text((8, 8), f"{z}/{x}/{y}", fill=(0, 0, 0))
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        tiles[(z, x, y)] = buffer.getvalue()
    return tiles


def write_mbtiles(path: Path, tiles: Mapping[tuple[int, int, int], bytes], *,
                  fmt: str = "png", index: bool = True, **metadata: str) -> Path:  # fmt: skip
    """An MBTiles file of ``tiles`` (rows flipped, as MBTiles counts them from the south),
    with ``format``, zooms and bounds filled in unless ``metadata`` gives them, and the
    index on each tile's place that real tools make (unless not ``index``)."""
    zooms = [z for z, _, _ in tiles]
    meta = {"name": path.stem, "format": fmt, "minzoom": str(min(zooms)),
            "maxzoom": str(max(zooms)), "bounds": ",".join(map(str, CAPE_TOWN)),
            "type": "baselayer", **metadata}  # fmt: skip
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, "
                   "tile_row INTEGER, tile_data BLOB)")  # fmt: skip
        db.executemany("INSERT INTO metadata VALUES (?, ?)",
                       [(k, v) for k, v in meta.items() if v is not None])  # fmt: skip
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
        )
        if index:  # as GDAL, tippecanoe and mb-util make them
            db.execute("CREATE UNIQUE INDEX tile_index ON tiles "
                       "(zoom_level, tile_column, tile_row)")  # fmt: skip
    db.close()
    return path


def write_pmtiles(path: Path, tiles: Mapping[tuple[int, int, int], bytes], *,
                  tile_type: TileType = TileType.PNG, **metadata: object) -> Path:  # fmt: skip
    """A PMTiles (version 3) file of raster ``tiles``, bounds :data:`CAPE_TOWN`."""
    zooms = [z for z, _, _ in tiles]
    west, south, east, north = CAPE_TOWN
    with path.open("wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda t: zxy_to_tileid(*t[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize(
            {
                "tile_type": tile_type,
                "tile_compression": Compression.NONE,
                "min_zoom": min(zooms), "max_zoom": max(zooms),
                "min_lon_e7": int(west * 1e7), "min_lat_e7": int(south * 1e7),
                "max_lon_e7": int(east * 1e7), "max_lat_e7": int(north * 1e7),
                "center_zoom": min(zooms),
                "center_lon_e7": int((west + east) / 2 * 1e7),
                "center_lat_e7": int((south + north) / 2 * 1e7),
            },
            dict(metadata),
        )  # fmt: skip
    return path


def write_tile_folder(path: Path, tiles: Mapping[tuple[int, int, int], bytes], *,
                      ext: str = "png", tms: bool = False) -> Path:  # fmt: skip
    """A folder of ``z/x/y.ext`` files (rows counted from the south if ``tms``)."""
    for (z, x, y), data in tiles.items():
        row = (1 << z) - 1 - y if tms else y
        target = path / str(z) / str(x) / f"{row}.{ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return path


def write_vector_pmtiles(path: Path, frame: gpd.GeoDataFrame, *, layer: str = "earth",
                         minzoom: int = 8, maxzoom: int = 12) -> Path:  # fmt: skip
    """Vector PMTiles of ``frame``'s shapes as one layer, by GDAL's PMTiles driver."""
    frame.to_file(path, driver="PMTiles", layer=layer,
                  dataset_options={"MINZOOM": str(minzoom), "MAXZOOM": str(maxzoom)})  # fmt: skip
    return path


def write_json(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path
