"""Basemaps: what the map is drawn over, from a tile server or from a local tiles file.

A basemap is asked for with one string (``--tiles``):

``none``
    no basemap: boundaries on a plain background;
``osm``, or a URL template with ``{z}``, ``{x}`` and ``{y}``
    a tile server, which needs the internet (a **remote** basemap);
a path
    a **local** tiles file, read by the app and never by the browser directly: an MBTiles
    file (raster PNG, JPEG or WebP), a PMTiles file (raster, or vector tiles drawn in the
    browser by protomaps-leaflet) or a folder of ``z/x/y`` tiles (as ``gdal2tiles`` or
    ``mb-util`` write them).

:func:`open_basemap` reads what it can about a file (format, zooms, extent, attribution,
date) and refuses, with a message saying what to do, a file that is missing, is not a tiles
file, or is not in Web Mercator. :func:`check_extent` says whether it covers a map's area.
:func:`open_tiles` reads single tiles from it: the dashboard serves them (``tileserve.py``),
a standalone map embeds those of its extent (:func:`embed_tiles`), and the public site
copies them into its folder (:func:`write_tile_folder`).

Tiles are Web Mercator (EPSG:3857) ``z/x/y`` with y counted from the north, as Leaflet asks
for them; an MBTiles file's rows and a TMS folder's are flipped on reading.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
import math
import mmap
import os
import sqlite3
import struct
import threading
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal, Protocol

from pmtiles.reader import Reader as PMTilesArchiveReader
from pmtiles.tile import Compression, TileType, deserialize_directory, find_tile, zxy_to_tileid

from layers._errors import LayersError

BasemapKind = Literal["remote", "mbtiles", "pmtiles", "folder"]
TileFormat = Literal["png", "jpg", "webp", "mvt"]

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
MEDIA_TYPES: dict[TileFormat, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "mvt": "application/vnd.mapbox-vector-tile",
}
# Web Mercator stops at these latitudes; a tiles file's bounds in degrees lie within them.
MERCATOR_MAX_LAT = 85.0511287798
# Names a metadata record may give the projection by (Web Mercator's, old and new).
WEB_MERCATOR_NAMES = ("3857", "900913", "3785", "102100", "41001", "mercator", "pseudo")
# A standalone map embeds at most this many bytes of tiles (as base64, a third more).
EMBED_BUDGET_BYTES = 24_000_000
# The zooms a standalone map embeds, around the zoom it opens at.
EMBED_ZOOMS_BELOW, EMBED_ZOOMS_ABOVE = 2, 5
# Below this share of the map's area covered, the basemap is said to cover only part of it.
PARTIAL_COVER = 0.9

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PMTILES_MAGIC = b"PMTiles"
_GZIP_MAGIC = b"\x1f\x8b"
_IMAGE_MAGIC: tuple[tuple[bytes, TileFormat], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"RIFF", "webp"),
)
_FORMAT_NAMES: dict[str, TileFormat] = {
    "png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp", "pbf": "mvt", "mvt": "mvt",
}  # fmt: skip
_SUPPORTED = (
    "Give an MBTiles file (.mbtiles, raster PNG, JPEG or WebP), a PMTiles file (.pmtiles, "
    "raster or vector), a folder of z/x/y tiles, a tile URL template, 'osm' or 'none'."
)


class BasemapError(LayersError, ValueError):
    """The basemap asked for cannot be used: the message says why and what to do."""


@dataclass(frozen=True)
class Basemap:
    """A basemap: where its tiles come from and what the map should say about it.

    Attributes
    ----------
    kind : {"remote", "mbtiles", "pmtiles", "folder"}
        A tile server, or a local file or folder.
    format : {"png", "jpg", "webp", "mvt"}
        The tiles' format; ``"mvt"`` is vector tiles (Mapbox Vector Tile).
    attribution : str
        Credit for the tiles, as HTML safe to put in the page: for a local file, its
        metadata's attribution reduced to text (empty if it has none).
    label : str
        What the legend calls the basemap: the file's name or the server's host.
    date : str or None
        When the tiles' data is from, from the file's metadata, else the file's date (plain
        text, from the file: escape it where it goes into HTML).
    min_zoom, max_zoom : int
        Zooms the tiles exist at; the map enlarges the deepest beyond it.
    bounds : tuple of float or None
        Lon/lat box the tiles cover (west, south, east, north), when known.
    url : str or None
        For a remote basemap, its URL template.
    path : Path or None
        For a local basemap, its file or folder (resolved).
    key : str
        For a local basemap, a short name that changes when the file does (the dashboard's
        tile URLs carry it, so a browser never shows tiles of an older file).
    scheme : {"xyz", "tms"}
        Row order of a folder's tiles (TMS counts rows from the south).
    vector_layers : tuple of str
        For vector tiles, the names of their layers.
    warning : str or None
        Something the map should say about the basemap (it covers only part of the area).
    coverage : float or None
        The share of the map's area the basemap covers, when :func:`check_extent` found it
        to be only part.
    advice : str or None
        How to make the file work better (an MBTiles file without an index), for whoever
        runs the dashboard.
    """

    kind: BasemapKind
    format: TileFormat
    attribution: str
    label: str
    date: str | None = None
    min_zoom: int = 0
    max_zoom: int = 19
    bounds: tuple[float, float, float, float] | None = None
    url: str | None = None
    path: Path | None = None
    key: str = ""
    scheme: Literal["xyz", "tms"] = "xyz"
    vector_layers: tuple[str, ...] = field(default=())
    warning: str | None = None
    coverage: float | None = None
    advice: str | None = None

    @property
    def local(self) -> bool:
        return self.kind != "remote"

    @property
    def vector(self) -> bool:
        return self.format == "mvt"

    @property
    def protomaps_schema(self) -> bool:
        """Vector tiles in the Protomaps basemap schema, which protomaps-leaflet's own styles
        draw (others get a plain style of their layers)."""
        return self.vector and ("earth" in self.vector_layers or not self.vector_layers)

    def legend_text(self) -> str:
        """One line for the map's legend (plain text): local or remote, and which."""
        if not self.local:
            return f"Basemap: remote, from {self.label} (needs the internet)"
        kind = "vector tiles" if self.vector else "raster tiles"
        dated = f", {self.date}" if self.date else ""
        return f"Basemap: local file {self.label} ({kind}{dated})"


def open_basemap(spec: str | os.PathLike[str] | None, *, attribution: str | None = None,
                 ) -> Basemap | None:  # fmt: skip
    """The basemap ``spec`` names, or ``None`` for ``none``.

    Parameters
    ----------
    spec : str or path-like or None
        ``"none"`` (or ``None``, ``""``), ``"osm"``, a URL template, or a local file or folder.
    attribution : str, optional
        Credit for the tiles (HTML). Required for a URL template other than OpenStreetMap's;
        for a local file it replaces the file's own.

    Returns
    -------
    Basemap or None

    Raises
    ------
    BasemapError
        The file or folder is missing, is not a tiles file, holds no tiles, or is not in Web
        Mercator; or a URL template lacks ``{z}``, ``{x}``, ``{y}`` or an attribution.
    """
    if spec is None:
        return None
    text = os.fspath(spec).strip()
    if text.lower() in ("", "none"):
        return None
    if text.lower() == "osm" or text == OSM_TILES:
        return Basemap("remote", "png", attribution or OSM_ATTRIBUTION, "tile.openstreetmap.org",
                       url=OSM_TILES)  # fmt: skip
    if "://" in text:
        return _remote(text, attribution)
    path = Path(text).expanduser()
    if not path.exists():
        raise BasemapError(f"Basemap file not found: {path}. {_SUPPORTED}")
    path = path.resolve()
    if path.is_dir():
        basemap = _folder_basemap(path)
    else:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
        if head.startswith(_SQLITE_MAGIC):
            basemap = _mbtiles_basemap(path)
        elif head.startswith(_PMTILES_MAGIC):
            basemap = _pmtiles_basemap(path)
        else:
            raise BasemapError(f"{path.name} is not a tiles file: it is neither MBTiles (an "
                               f"SQLite database) nor PMTiles. {_SUPPORTED}")  # fmt: skip
    if attribution:
        basemap = _replace(basemap, attribution=attribution)
    return basemap


def check_extent(basemap: Basemap, box: Sequence[float] | None) -> Basemap:
    """``basemap``, with a warning if it covers only part of ``box`` (lon/lat: west, south,
    east, north), the area the map shows.

    Raises
    ------
    BasemapError
        The basemap covers none of ``box``: it is for somewhere else.
    """
    if basemap.bounds is None or box is None:
        return basemap
    west, south, east, north = (float(v) for v in box)
    b_west, b_south, b_east, b_north = basemap.bounds
    overlap_w, overlap_e = max(west, b_west), min(east, b_east)
    overlap_s, overlap_n = max(south, b_south), min(north, b_north)
    if overlap_w >= overlap_e or overlap_s >= overlap_n:
        raise BasemapError(
            f"{basemap.label} covers {_box_text(basemap.bounds)}, but the map shows "
            f"{_box_text((west, south, east, north))}: the tiles are of another place (wrong "
            "extent). Make a basemap of this area (see the README, 'An offline basemap')."
        )
    area = max((east - west) * (north - south), 1e-12)
    covered = (overlap_e - overlap_w) * (overlap_n - overlap_s) / area
    if covered < PARTIAL_COVER:
        return _replace(basemap, coverage=covered, warning=(
            f"The basemap {basemap.label} covers only {covered:.0%} of the map's area "
            f"({_box_text(basemap.bounds)}); elsewhere the map has no background."
        ))  # fmt: skip
    return basemap


class TileReader(Protocol):
    """Reads single tiles of a local basemap, by Leaflet's ``z/x/y`` (y from the north).
    Safe to share between threads."""

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes as stored (vector tiles may be gzip-compressed), or ``None``."""
        ...

    def close(self) -> None: ...


def open_tiles(basemap: Basemap) -> TileReader:
    """A reader of ``basemap``'s tiles (a local one)."""
    if basemap.path is None:
        raise BasemapError(f"{basemap.label} is a tile server: its tiles are not read here.")
    if basemap.kind == "mbtiles":
        return MBTilesReader(basemap.path)
    if basemap.kind == "pmtiles":
        return PMTilesReader(basemap.path)
    return FolderReader(basemap.path, basemap.format, basemap.scheme)


def plain_tile(data: bytes) -> bytes:
    """A tile's bytes with any gzip compression taken off (vector tiles are often stored
    compressed; a browser fetching them as a file cannot be told to undo it)."""
    return gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data


def tile_range(box: Sequence[float], zoom: int) -> tuple[int, int, int, int]:
    """The tiles at ``zoom`` covering a lon/lat ``box``: x0, y0, x1, y1, inclusive."""
    west, south, east, north = (float(v) for v in box)
    n = 2**zoom

    def column(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def row(lat: float) -> int:
        phi = math.radians(min(MERCATOR_MAX_LAT, max(-MERCATOR_MAX_LAT, lat)))
        y = (1.0 - math.log(math.tan(phi) + 1.0 / math.cos(phi)) / math.pi) / 2.0
        return min(n - 1, max(0, math.floor(y * n)))

    return column(west), row(north), column(east), row(south)


def tiles_in(box: Sequence[float], zooms: Sequence[int]) -> Iterator[tuple[int, int, int]]:
    """Every ``(z, x, y)`` covering ``box`` at each of ``zooms``."""
    for z in zooms:
        x0, y0, x1, y1 = tile_range(box, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield z, x, y


def tile_count(box: Sequence[float], zooms: Sequence[int]) -> int:
    """How many tiles cover ``box`` at ``zooms``."""
    total = 0
    for z in zooms:
        x0, y0, x1, y1 = tile_range(box, z)
        total += (x1 - x0 + 1) * (y1 - y0 + 1)
    return total


@dataclass(frozen=True)
class EmbeddedTiles:
    """Tiles for a standalone map: ``tiles`` maps ``"z/x/y"`` to base64 (vector tiles
    uncompressed), for zooms ``min_zoom`` to ``max_zoom``; beyond, the map enlarges."""

    tiles: dict[str, str]
    min_zoom: int
    max_zoom: int
    bytes: int


def embed_zooms(basemap: Basemap, opening_zoom: int) -> range:
    """The zooms a standalone map opening at ``opening_zoom`` embeds (before the budget)."""
    low = max(basemap.min_zoom, opening_zoom - EMBED_ZOOMS_BELOW)
    high = min(basemap.max_zoom, opening_zoom + EMBED_ZOOMS_ABOVE)
    return range(low, max(low, high) + 1)


def embed_tiles(basemap: Basemap, box: Sequence[float], zooms: Sequence[int], *,
                budget: int = EMBED_BUDGET_BYTES) -> EmbeddedTiles:  # fmt: skip
    """The tiles of ``basemap`` covering ``box`` at ``zooms``, zoom by zoom from the lowest,
    stopping before the zoom that would take them over ``budget`` bytes (but always the
    lowest)."""
    zooms = sorted(zooms)
    tiles: dict[str, str] = {}
    total = 0
    last = zooms[0] if zooms else basemap.min_zoom
    reader = open_tiles(basemap)
    try:
        for z in zooms:
            level: dict[str, str] = {}
            size = 0
            for _, x, y in tiles_in(box, [z]):
                data = reader.tile(z, x, y)
                if data is None:
                    continue
                data = plain_tile(data)
                size += len(data)
                level[f"{z}/{x}/{y}"] = base64.b64encode(data).decode("ascii")
            if tiles and total + size > budget:
                break
            tiles.update(level)
            total += size
            last = z
    finally:
        reader.close()
    return EmbeddedTiles(tiles, zooms[0] if zooms else last, last, total)


def write_tile_folder(basemap: Basemap, folder: Path, box: Sequence[float],
                      zooms: Sequence[int]) -> int:  # fmt: skip
    """Copy the tiles covering ``box`` at ``zooms`` into ``folder`` as ``z/x/y.<ext>``
    (vector tiles uncompressed, so any static web server can serve them). Returns the number
    of tiles written."""
    reader = open_tiles(basemap)
    written = 0
    try:
        for z, x, y in tiles_in(box, zooms):
            data = reader.tile(z, x, y)
            if data is None:
                continue
            target = folder / str(z) / str(x) / f"{y}.{extension(basemap.format)}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(plain_tile(data))
            written += 1
    finally:
        reader.close()
    return written


def extension(fmt: TileFormat) -> str:
    """A tile file's extension for ``fmt``."""
    return {"png": "png", "jpg": "jpg", "webp": "webp", "mvt": "mvt"}[fmt]


class MBTilesReader:
    """Tiles from an MBTiles file (read-only; one connection shared under a lock)."""

    def __init__(self, path: Path) -> None:
        self._db = _connect(path)
        self._lock = threading.Lock()

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
                "AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        self._db.close()


class PMTilesReader:
    """Tiles from a PMTiles (version 3) file, memory-mapped; directories are cached."""

    def __init__(self, path: Path) -> None:
        self._name = path.name
        self._file = path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._header = PMTilesArchiveReader(self._bytes).header()
        ends = (
            self._header["root_offset"] + self._header["root_length"],
            self._header["tile_data_offset"] + self._header["tile_data_length"],
            self._header["leaf_directory_offset"] + self._header["leaf_directory_length"],
        )
        if max(ends) > len(self._map):  # cut short: its header promises more than it holds
            size = len(self._map)
            self.close()
            raise BasemapError(
                f"{path.name} is damaged: its header promises {max(ends):,} bytes "
                f"but the file holds {size:,} (cut short?). Make or copy it again."
            )
        self._directory(self._header["root_offset"], self._header["root_length"])
        if self._header["internal_compression"] != Compression.GZIP:
            self.close()
            raise BasemapError(
                f"{path.name}'s directories are compressed with "
                f"{self._header['internal_compression'].name}, which cannot be read here: "
                f"write it again with gzip (`pmtiles convert` does by default)."
            )

    def _bytes(self, offset: int, length: int) -> bytes:
        return self._map[offset : offset + length]

    @lru_cache(maxsize=256)  # noqa: B019 (one reader per file, kept while the file is)
    def _directory(self, offset: int, length: int) -> list:
        # deserialize_directory takes the directory gzip-compressed, the only internal
        # compression the pmtiles package reads (refused on opening: see _pmtiles_basemap).
        return deserialize_directory(self._bytes(offset, length))

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not 0 <= x < (1 << z) or not 0 <= y < (1 << z):
            return None
        try:
            return self._tile(z, x, y)
        except (EOFError, OSError, ValueError, zlib.error, struct.error) as err:
            raise BasemapError(f"{self._name} is damaged: tile {z}/{x}/{y} cannot be read "
                               f"({err}). Make or copy the file again.") from err  # fmt: skip

    def _tile(self, z: int, x: int, y: int) -> bytes | None:
        tile_id = zxy_to_tileid(z, x, y)
        header = self._header
        offset, length = header["root_offset"], header["root_length"]
        for _ in range(4):
            entry = find_tile(self._directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length > 0:
                return self._bytes(header["tile_data_offset"] + entry.offset, entry.length)
            offset, length = header["leaf_directory_offset"] + entry.offset, entry.length
        return None

    def close(self) -> None:
        self._directory.cache_clear()
        self._map.close()
        self._file.close()


class FolderReader:
    """Tiles from a folder of ``z/x/y.<ext>`` files."""

    def __init__(self, path: Path, fmt: TileFormat, scheme: Literal["xyz", "tms"]) -> None:
        self._path = path
        self._names = [f"{{}}.{e}" for e in _extensions(fmt)]
        self._tms = scheme == "tms"

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if not 0 <= x < (1 << z) or not 0 <= y < (1 << z):
            return None
        row = (1 << z) - 1 - y if self._tms else y
        for name in self._names:
            target = self._path / str(z) / str(x) / name.format(row)
            if target.is_file():
                return target.read_bytes()
        return None

    def close(self) -> None:
        pass


def _remote(url: str, attribution: str | None) -> Basemap:
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    if missing:
        raise BasemapError(
            f"The tile URL {url!r} lacks {', '.join(missing)}: a tile URL template names the "
            "zoom, column and row, e.g. https://tiles.example.org/{z}/{x}/{y}.png."
        )
    if not url.startswith(("https://", "http://")):
        raise BasemapError(f"The tile URL {url!r} is not http(s). {_SUPPORTED}")
    if not attribution:
        raise BasemapError(
            "A tile server's tiles need credit: give --tiles-attribution (HTML), e.g. "
            f"{OSM_ATTRIBUTION!r} for OpenStreetMap's."
        )
    host = url.split("://", 1)[1].split("/", 1)[0]
    fmt = _FORMAT_NAMES.get(url.rsplit(".", 1)[-1].split("?")[0].lower(), "png")
    return Basemap("remote", fmt, attribution, host, url=url)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _mbtiles_basemap(path: Path) -> Basemap:
    try:
        db = _connect(path)
        try:
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}  # fmt: skip
            if not {"tiles", "metadata"} <= tables:
                if "gpkg_contents" in tables:
                    raise BasemapError(
                        f"{path.name} is a GeoPackage, not MBTiles. Convert its tiles with "
                        "`gdal_translate -of MBTiles` (see the README, 'An offline basemap')."
                    )
                raise BasemapError(
                    f"{path.name} is an SQLite database but not MBTiles: it has no 'tiles' and "
                    f"'metadata' tables. {_SUPPORTED}"
                )
            meta = {str(k): str(v) for k, v in db.execute("SELECT name, value FROM metadata")
                    if k is not None and v is not None}  # fmt: skip
            zooms = db.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
            if zooms is None or zooms[0] is None:
                raise BasemapError(f"{path.name} holds no tiles. Make it again (see the README, "
                                   "'An offline basemap').")  # fmt: skip
            first = db.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()[0]
            plan = " ".join(str(row[-1]) for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT tile_data FROM tiles WHERE zoom_level = 0 "
                "AND tile_column = 0 AND tile_row = 0"))  # fmt: skip
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise BasemapError(f"{path.name} cannot be read as MBTiles ({err}). {_SUPPORTED}") from err
    _check_projection(path, meta)
    fmt = _format(path, meta.get("format"), bytes(first or b""))
    advice = None
    if "USING" not in plan.upper():  # every tile read would scan the whole table
        advice = (
            f"{path.name} has no index on its tiles' places, so every tile is a search of the "
            "whole file (seconds each on a large one). Add one once: sqlite3 "
            f"{path.name} 'CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, "
            "tile_row)'."
        )
    return Basemap(
        "mbtiles", fmt, _attribution(meta.get("attribution")),
        path.name, date=_date(meta, path),
        min_zoom=_int(meta.get("minzoom"), zooms[0]), max_zoom=_int(meta.get("maxzoom"), zooms[1]),
        bounds=_bounds(path, meta.get("bounds")), path=path, key=_key(path),
        vector_layers=_vector_layers(meta.get("json")), advice=advice,
    )  # fmt: skip


def _pmtiles_basemap(path: Path) -> Basemap:
    try:
        reader = PMTilesReader(path)
    except BasemapError:
        raise
    except Exception as err:  # the pmtiles package raises its own, or struct/value errors
        raise BasemapError(f"{path.name} cannot be read as PMTiles ({err}): only version 3 "
                           f"files are read. {_SUPPORTED}") from err  # fmt: skip
    try:
        header = reader._header
        try:
            meta = PMTilesArchiveReader(reader._bytes).metadata()
        except (ValueError, OSError):
            meta = {}
    finally:
        reader.close()
    types = {TileType.MVT: "mvt", TileType.PNG: "png", TileType.JPEG: "jpg",
             TileType.WEBP: "webp"}  # fmt: skip
    fmt = types.get(header["tile_type"])
    if fmt is None:
        raise BasemapError(f"{path.name} holds tiles of type {header['tile_type'].name}: the map "
                           "draws PNG, JPEG, WebP and vector (MVT) tiles.")  # fmt: skip
    if header["addressed_tiles_count"] == 0:
        raise BasemapError(f"{path.name} holds no tiles.")
    bounds = tuple(header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7",
                                              "max_lat_e7"))  # fmt: skip
    text = {k: v for k, v in meta.items() if isinstance(v, str)} if isinstance(meta, dict) else {}
    layers = tuple(str(layer.get("id")) for layer in meta.get("vector_layers", [])
                   if isinstance(layer, dict)) if isinstance(meta, dict) else ()  # fmt: skip
    return Basemap(
        "pmtiles", fmt, _attribution(text.get("attribution")), path.name,
        date=_date(text, path), min_zoom=header["min_zoom"], max_zoom=header["max_zoom"],
        bounds=_checked_bounds(path, bounds), path=path, key=_key(path), vector_layers=layers,
    )  # fmt: skip


def _folder_basemap(path: Path) -> Basemap:
    meta: dict[str, str] = {}
    scheme: Literal["xyz", "tms"] = "xyz"
    bounds = None
    if (path / "metadata.json").is_file():  # mb-util and tippecanoe write one
        try:
            raw = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise BasemapError(f"{path.name}/metadata.json is not JSON ({err}).") from err
        meta = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        _check_projection(path, meta)
        bounds = _bounds(path, meta.get("bounds"))
        scheme = "tms" if meta.get("scheme", "").lower() == "tms" else "xyz"
    resource = path / "tilemapresource.xml"
    if resource.is_file():  # gdal2tiles without --xyz: TMS rows
        _check_tilemap_resource(path, resource)
        scheme = "tms"
    levels = sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
    sample = next((f for z in levels for f in sorted((path / str(z)).glob("*/*"))
                   if f.is_file()), None)  # fmt: skip
    if sample is None:
        raise BasemapError(f"{path} is not a tiles folder: it has no z/x/y tiles. {_SUPPORTED}")
    fmt = _format(path, meta.get("format") or sample.suffix.lstrip("."), sample.read_bytes())
    return Basemap(
        "folder", fmt, _attribution(meta.get("attribution")), f"{path.name}/",
        date=_date(meta, path), min_zoom=_int(meta.get("minzoom"), levels[0]),
        max_zoom=_int(meta.get("maxzoom"), levels[-1]), bounds=bounds, path=path,
        key=_key(path), scheme=scheme, vector_layers=_vector_layers(meta.get("json")),
    )  # fmt: skip


def _check_tilemap_resource(path: Path, resource: Path) -> None:
    """gdal2tiles writes tilemapresource.xml for TMS folders (not with ``--xyz``): its SRS
    must be Web Mercator."""
    try:
        root = ET.parse(resource).getroot()
    except ET.ParseError as err:
        raise BasemapError(f"{path.name}/tilemapresource.xml cannot be read ({err}).") from err
    srs = (root.findtext("SRS") or "").strip()
    if srs and not _is_web_mercator(srs):
        raise BasemapError(
            f"{path.name} is tiled in {srs}, not Web Mercator (wrong projection): the map draws "
            "EPSG:3857 tiles. Make them again with `gdal2tiles.py --profile=mercator --xyz`."
        )


def _check_projection(path: Path, meta: dict[str, str]) -> None:
    for key in ("srs", "crs", "projection", "proj4"):
        value = meta.get(key)
        if value and not _is_web_mercator(value):
            raise BasemapError(
                f"{path.name} says its tiles are in {value!r}, not Web Mercator (wrong "
                "projection): the map draws EPSG:3857 tiles. Reproject the source with "
                "`gdalwarp -t_srs EPSG:3857` and make the tiles again."
            )


def _is_web_mercator(text: str) -> bool:
    lowered = text.lower()
    return any(name in lowered for name in WEB_MERCATOR_NAMES)


def _bounds(path: Path, text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError as err:
        raise BasemapError(f"{path.name}'s bounds {text!r} are not four numbers.") from err
    if len(values) != 4:
        raise BasemapError(f"{path.name}'s bounds {text!r} are not four numbers.")
    return _checked_bounds(path, values)


def _checked_bounds(path: Path, values: Sequence[float]) -> tuple[float, float, float, float]:
    west, south, east, north = (float(v) for v in values)
    if not (-180.0 <= west < east <= 180.0 and -90.0 <= south < north <= 90.0):
        raise BasemapError(
            f"{path.name}'s bounds ({west:g}, {south:g}, {east:g}, {north:g}) are not "
            "longitude and latitude (wrong projection): tiles files give their extent in "
            "degrees, and their tiles in Web Mercator. Make the file again from data in a known "
            "projection (see the README, 'An offline basemap')."
        )
    return west, south, east, north


def _format(path: Path, named: str | None, sample: bytes) -> TileFormat:
    if named:
        fmt = _FORMAT_NAMES.get(named.strip().lower())
        if fmt is None:
            raise BasemapError(f"{path.name} holds {named!r} tiles: the map draws PNG, JPEG, "
                               "WebP and vector (pbf) tiles.")  # fmt: skip
        return fmt
    for magic, fmt in _IMAGE_MAGIC:
        if sample.startswith(magic):
            return fmt
    return "mvt"


def _int(text: str | None, default: int) -> int:
    try:
        return int(float(text)) if text is not None else int(default)
    except ValueError:
        return int(default)


def _vector_layers(text: str | None) -> tuple[str, ...]:
    try:
        layers = json.loads(text).get("vector_layers", []) if text else []
    except (ValueError, AttributeError):
        return ()
    return tuple(str(layer.get("id")) for layer in layers if isinstance(layer, dict))


class _Text(HTMLParser):
    """The text of an HTML fragment, without scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _attribution(text: str | None) -> str:
    """A file's credit as safe HTML: its text without markup (a tiles file is not trusted
    to put HTML in the page); empty when it gives none."""
    if not text:
        return ""
    parser = _Text()
    parser.feed(text)
    parser.close()
    return html.escape(" ".join("".join(parser.parts).split()))


def _date(meta: dict[str, str], path: Path) -> str:
    """When the tiles' data is from: the metadata's date if it gives one, else the file's."""
    for key in ("date", "created", "planetiler:osm:osmosisreplicationtime",
                "planetiler:osm:replicationtime", "version_date"):  # fmt: skip
        value = meta.get(key, "").strip()
        if value:
            return value[:10] if value[:4].isdigit() else value[:40]
    for key in ("mtime", "timestamp"):
        value = meta.get(key, "").strip()
        if value.isdigit():
            stamp = int(value) / (1000 if len(value) > 11 else 1)
            return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    return f"dated {modified}"


def _key(path: Path) -> str:
    stat = path.stat()
    text = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _extensions(fmt: TileFormat) -> tuple[str, ...]:
    return {"png": ("png",), "jpg": ("jpg", "jpeg"), "webp": ("webp",),
            "mvt": ("mvt", "pbf")}[fmt]  # fmt: skip


def _box_text(box: Sequence[float]) -> str:
    west, south, east, north = box
    return f"lon {west:.3f} to {east:.3f}, lat {south:.3f} to {north:.3f}"


def _replace(basemap: Basemap, **changes: object) -> Basemap:
    return replace(basemap, **changes)
