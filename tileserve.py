"""A local basemap's tiles, served by the dashboard's own server: no request leaves the
machine.

``GET /tiles/{key}/{z}/{x}/{y}.{ext}`` (a route of :mod:`server`, beside :mod:`gate`'s and
:mod:`push`'s) answers with one tile of a basemap the dashboard opened
(:func:`layers.maps.tiles.open_basemap`) and registered here with :func:`serve`. The key
changes with the file (its path, size and time), so tiles are cached by the browser for a day
and a refreshed file is fetched anew; only registered files are read, never a path from the
request. A tile the file does not hold is a 404 (the map leaves that square empty); vector
tiles stored gzip-compressed are sent so, with ``Content-Encoding: gzip``.

Basemap tiles are public geography, not incidents: the route needs no sign-in.
"""

from __future__ import annotations

import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from layers.maps.basemap import SERVED_TILES_PREFIX, served_url
from layers.maps.tiles import (
    MEDIA_TYPES,
    Basemap,
    BasemapError,
    TileReader,
    extension,
    open_tiles,
)

# Browsers keep a tile a day; the key in its URL changes when the file does.
CACHE_CONTROL = "public, max-age=86400"
# Versions of one file served at once (see serve).
KEEP_VERSIONS = 3
_GZIP_MAGIC = b"\x1f\x8b"

_lock = threading.Lock()
_served: dict[str, tuple[Basemap, TileReader]] = {}


def serve(basemap: Basemap) -> str:
    """Serve ``basemap``'s tiles (a local one) on the route; returns their URL template.

    A file made again gets a new key. Pages drawn before go on asking for the old key until
    their next rerun, so the readers of the file's last :data:`KEEP_VERSIONS` versions stay
    open (an open reader still reads a file replaced by a rename); older ones are closed.
    """
    with _lock:
        if basemap.key in _served:
            return served_url(basemap)
        _served[basemap.key] = (basemap, open_tiles(basemap))
        versions = [key for key, (other, _) in _served.items() if other.path == basemap.path]
        for key in versions[:-KEEP_VERSIONS]:
            _served.pop(key)[1].close()
    return served_url(basemap)


def served() -> list[Basemap]:
    """The basemaps this process serves."""
    with _lock:
        return [basemap for basemap, _ in _served.values()]


async def tile_route(request: Request) -> Response:
    """GET /tiles/{key}/{z}/{x}/{y}.{ext}: one tile, or 404."""
    params = request.path_params
    entry = _served.get(params["key"])
    if entry is None:
        return Response("No such basemap here: reload the page.", status_code=404,
                        media_type="text/plain")  # fmt: skip
    basemap, reader = entry
    z, x, y = params["z"], params["x"], params["y"]
    if params["ext"] != extension(basemap.format) or not (
        basemap.min_zoom <= z <= basemap.max_zoom and 0 <= x < (1 << z) and 0 <= y < (1 << z)
    ):
        return Response(status_code=404)  # not in the file: nothing is read
    try:
        data = await run_in_threadpool(reader.tile, z, x, y)
    except BasemapError as err:  # a damaged file: said once per tile, read nothing more
        return Response(str(err), status_code=500, media_type="text/plain")
    if data is None:
        return Response(status_code=404, headers={"Cache-Control": CACHE_CONTROL})
    headers = {"Cache-Control": CACHE_CONTROL}
    if data[:2] == _GZIP_MAGIC:  # vector tiles are often stored compressed
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=MEDIA_TYPES[basemap.format], headers=headers)


ROUTES = [
    Route(
        SERVED_TILES_PREFIX + "{key}/{z:int}/{x:int}/{y:int}.{ext}",
        tile_route,
        methods=["GET"],
    )
]
