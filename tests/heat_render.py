"""A numpy model of how our heat layer (``layers/maps/js/incident_heat.js``) draws.

For a list of ``[lat, lon, count]`` points and a Leaflet map view it computes, per canvas
pixel, the density the layer draws (incidents per km²), the intensity byte that density is
looked up with, and the RGBA the layer writes into its canvas. Step by step, as in
``L.IncidentHeat._reset``, ``_draw``, ``_blur`` and ``_paint``:

1. The canvas. Its top-left pixel is the layer point of container (0, 0), rounded; with the
   map's (integer) pixel origin that is the global Web Mercator pixel ``left, top``
   (:class:`Viewport`: ``origin - pane``). Canvas pixel ``(i, j)`` shows global pixel
   ``(left + i, top + j)``, whatever the container's size.
2. Nodes. Node ``u`` is centred on global pixel ``(u + 0.5) * step``. The layer keeps nodes
   ``u0 = floor((left + 0.5) / step - 0.5) - half - 1`` to the last one a canvas pixel reads,
   plus ``half + 1``; ``half = ceil(truncate * sigma / step)``.
3. Splat. A point at (unrounded) global pixel ``x`` is shared between nodes ``floor(a)`` and
   ``floor(a) + 1``, ``a = x / step - 0.5``, bilinearly in both axes; a point any of whose
   four nodes lies outside the grid is skipped (none of them is read for the canvas).
4. Blur. The Gaussian of ``sigma / step`` nodes, sampled at whole nodes from ``-half`` to
   ``half`` and divided by its sum, along rows and then columns, zero beyond the grid.
5. Units. Each node row is divided by a node's area in km² at its latitude:
   ``(step * EQUATOR_M * cos(lat) / (256 * 2**zoom)) ** 2 / 1e6``.
6. Paint. Pixel centres interpolate the nodes bilinearly. The intensity byte is
   ``round(255 * min(d / top, 1) ** exponent)`` (``Math.round``: halves up); 0 leaves the
   pixel transparent, otherwise it is the ramp's colour for that byte with alpha = the byte.
   The ramp interpolates the gradient's stops linearly in RGB at ``byte / 255``, rounding
   each channel.

The browser keeps the grid in 32-bit floats, the model in 64-bit: bytes can differ by one
where a value sits on a rounding edge. A canvas also stores colours premultiplied by alpha,
so the RGB ``getImageData`` returns for faint pixels is coarser than what was written;
compare premultiplied colours (``rgba_premultiplied``) against a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

TILE_SIZE = 256
EARTH_RADIUS_M = 6_378_137.0
EQUATOR_M = 2 * math.pi * EARTH_RADIUS_M
# Leaflet's SphericalMercator.MAX_LATITUDE.
MAX_LATITUDE = 85.0511287798


def project(lat: np.ndarray, lon: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Leaflet's EPSG:3857 ``project``: global Web Mercator pixels (x east, y south) at ``zoom``."""
    scale = TILE_SIZE * 2.0**zoom
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LATITUDE, MAX_LATITUDE)
    sin = np.sin(np.deg2rad(lat))
    x = (np.asarray(lon, dtype=float) / 360.0 + 0.5) * scale
    y = (0.5 - np.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * scale
    return x, y


def unproject(x: np.ndarray, y: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`project`: ``(lat, lon)`` of global pixel coordinates."""
    scale = TILE_SIZE * 2.0**zoom
    lon = (np.asarray(x, dtype=float) / scale - 0.5) * 360.0
    lat = np.rad2deg(2 * np.arctan(np.exp((0.5 - np.asarray(y, dtype=float) / scale) * 2 * np.pi)))
    return lat - 90.0, lon


def _js_round(v: np.ndarray) -> np.ndarray:
    """``Math.round``: halves go up."""
    return np.floor(np.asarray(v, dtype=float) + 0.5)


@dataclass(frozen=True)
class Viewport:
    """A Leaflet map view: zoom, canvas size, pixel origin and map pane offset.

    ``origin_x``/``origin_y`` are the map's pixel origin (an integer, global pixels at
    ``zoom``); ``pane_x``/``pane_y`` the map pane offset (how far the map was dragged since
    the last view reset). Container point ``(i, j)`` shows global pixel
    ``(origin_x - pane_x + i, origin_y - pane_y + j)``.
    """

    zoom: int
    width: int
    height: int
    origin_x: int
    origin_y: int
    pane_x: int = 0
    pane_y: int = 0

    @classmethod
    def centred(
        cls, lat: float, lon: float, zoom: int, width: int = 800, height: int = 600
    ) -> Viewport:
        """The view ``setView([lat, lon], zoom)`` gives a ``width`` x ``height`` map."""
        x, y = project(np.array([lat]), np.array([lon]), zoom)
        return cls(
            zoom=zoom,
            width=width,
            height=height,
            origin_x=int(_js_round(x[0] - width / 2)),
            origin_y=int(_js_round(y[0] - height / 2)),
        )

    def panned(self, dx: int, dy: int) -> Viewport:
        """The same layer dragged by ``(dx, dy)`` px: same pixel origin, moved pane."""
        return Viewport(self.zoom, self.width, self.height, self.origin_x, self.origin_y,
                        self.pane_x + dx, self.pane_y + dy)  # fmt: skip

    @property
    def left(self) -> int:
        return self.origin_x - self.pane_x

    @property
    def top(self) -> int:
        return self.origin_y - self.pane_y

    def container_points(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``map.latLngToContainerPoint`` for arrays: whole canvas pixels."""
        x, y = project(lat, lon, self.zoom)
        return _js_round(x) - self.left, _js_round(y) - self.top


def taps(sigma_nodes: float, truncate: float) -> np.ndarray:
    """The layer's ``kernelTaps``."""
    half = math.ceil(truncate * sigma_nodes)
    j = np.arange(-half, half + 1, dtype=float)
    weights = np.exp(-(j * j) / (2 * sigma_nodes * sigma_nodes))
    return weights / weights.sum()


def _sampling(first: int, count: int, step: int, origin: int) -> tuple[np.ndarray, np.ndarray]:
    a = (first + np.arange(count) + 0.5) / step - 0.5
    below = np.floor(a)
    return below.astype(np.int64) - origin, a - below


def density(
    points: np.ndarray,
    view: Viewport,
    *,
    sigma: float,
    step: int,
    truncate: float = 4.0,
) -> np.ndarray:
    """Incidents per km² the layer draws at each canvas pixel (``height`` x ``width``)."""
    points = np.asarray(points, dtype=float).reshape(len(points), -1)
    count = points[:, 2] if points.shape[1] > 2 else np.ones(len(points))
    kernel = taps(sigma / step, truncate)
    half = (len(kernel) - 1) // 2
    left, top = view.left, view.top
    u0 = math.floor((left + 0.5) / step - 0.5) - half - 1
    v0 = math.floor((top + 0.5) / step - 0.5) - half - 1
    w = math.floor((left + view.width - 0.5) / step - 0.5) + half + 2 - u0 + 1
    h = math.floor((top + view.height - 0.5) / step - 0.5) + half + 2 - v0 + 1
    x, y = project(points[:, 0], points[:, 1], view.zoom)
    a, b = x / step - 0.5, y / step - 0.5
    c, r = np.floor(a), np.floor(b)
    fc, fr = a - c, b - r
    c, r = c.astype(np.int64) - u0, r.astype(np.int64) - v0
    keep = (c >= 0) & (r >= 0) & (c + 1 < w) & (r + 1 < h)
    grid = np.zeros((h, w))
    for dc, dr, share in (
        (0, 0, (1 - fc) * (1 - fr)),
        (1, 0, fc * (1 - fr)),
        (0, 1, (1 - fc) * fr),
        (1, 1, fc * fr),
    ):
        np.add.at(grid, (r[keep] + dr, c[keep] + dc), (count * share)[keep])
    grid = ndimage.correlate1d(grid, kernel, axis=1, mode="constant")
    grid = ndimage.correlate1d(grid, kernel, axis=0, mode="constant")
    lat, _ = unproject(np.zeros(h), (v0 + np.arange(h) + 0.5) * step, view.zoom)
    metres = step * EQUATOR_M * np.cos(np.radians(lat)) / (TILE_SIZE * 2.0**view.zoom)
    grid *= (1e6 / metres**2)[:, None]
    cols, col_share = _sampling(left, view.width, step, u0)
    rows, row_share = _sampling(top, view.height, step, v0)
    upper = grid[rows][:, cols] + col_share * (grid[rows][:, cols + 1] - grid[rows][:, cols])
    lower = grid[rows + 1][:, cols] + col_share * (
        grid[rows + 1][:, cols + 1] - grid[rows + 1][:, cols]
    )
    return upper + row_share[:, None] * (lower - upper)


def intensity(surface: np.ndarray, top: float, *, exponent: float = 0.5) -> np.ndarray:
    """Where each density sits along the ramp, in [0, 1], before rounding to a byte."""
    share = np.where(surface > 0, np.minimum(np.maximum(surface, 0) / top, 1.0), 0.0)
    return share**exponent


def intensity_bytes(surface: np.ndarray, top: float, *, exponent: float = 0.5) -> np.ndarray:
    """The byte the layer looks the ramp up with (and uses as alpha), per pixel."""
    return _js_round(255 * intensity(surface, top, exponent=exponent)).astype(np.uint8)


def ramp(stops: list[tuple[float, str]]) -> np.ndarray:
    """The layer's ``colourRamp``: 256 x 3 RGB."""
    positions = np.array([s for s, _ in stops])
    colours = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for _, c in stops], float)
    t = np.arange(256) / 255
    out = np.stack([np.interp(t, positions, colours[:, ch]) for ch in range(3)], axis=1)
    return _js_round(out).astype(np.uint8)


def rgba(
    surface: np.ndarray, top: float, stops: list[tuple[float, str]], *, exponent: float = 0.5
) -> np.ndarray:
    """The RGBA the layer writes, per pixel (``height`` x ``width`` x 4)."""
    byte = intensity_bytes(surface, top, exponent=exponent)
    out = np.zeros((*byte.shape, 4), dtype=np.uint8)
    out[..., :3] = ramp(stops)[byte]
    out[..., 3] = byte
    out[byte == 0] = 0
    return out


def rgba_premultiplied(pixels: np.ndarray) -> np.ndarray:
    """RGB times alpha / 255, and alpha: what a canvas keeps, comparable across a round trip."""
    pixels = np.asarray(pixels, dtype=float)
    out = pixels.copy()
    out[..., :3] = pixels[..., :3] * pixels[..., 3:4] / 255
    return out
