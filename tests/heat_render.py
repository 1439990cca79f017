"""A numpy model of how the leaflet.heat build we serve turns points into heat.

The build is folium's ``templates/leaflet_heat.min.js`` (copied to ``static/vendor/``):
Leaflet.heat with the weights patch of Leaflet.heat PR 78, plus simpleheat. For a list of
``[lat, lon, weight]`` points and a map view it computes, per screen pixel, the alpha that
simpleheat leaves in its canvas before ``_colorize`` maps it through the colour ramp. Step by
step, as in ``L.HeatLayer._redraw`` and ``simpleheat.draw`` (Leaflet 1.9):

1. Position. ``latLngToContainerPoint`` projects to Web Mercator pixels at the zoom (256 px
   tiles), rounds to whole pixels (``Point._round``: ``Math.round``), subtracts the map's
   pixel origin and adds the map pane offset. :class:`Viewport` holds both.
2. Binning. ``r_ = radius + blur`` (simpleheat's ``_r``) and the bin edge is ``m = r_ / 2``
   (not ``radius / 2``). Bins are ``floor((p - pane % m) / m)`` of the container point ``p``,
   i.e. a grid fixed to the layer (pixel origin), not to the screen. A bin sums the weights of
   its points (3rd value, 1 when absent) and keeps their weight-averaged position.
3. Normalising. ``max`` is the largest bin sum over *all* points, on screen or not, or 1 if
   that is larger; the ``max`` and ``maxZoom`` options are ignored.
4. Culling. A bin is drawn when the first point that fell in it (in data order) lies within
   ``r_`` of the canvas, inclusive, and both its bin indices (offset by +2) are >= 0; JS
   loops over arrays skip negative indices.
5. Drawing. Each drawn bin stamps simpleheat's circle at its rounded mean position with
   ``globalAlpha = max(sum / max, minOpacity)`` (``minOpacity`` 0 or absent means 0.05),
   composited source-over: ``alpha = a_src + alpha * (1 - a_src)``. Black over black, so
   only the alpha channel matters, and the order of draws does not (without rounding).
6. The stamp. ``simpleheat.radius(r, blur)`` makes a ``2 r_`` square canvas and fills a
   circle of radius ``r`` at its centre (drawn 200 px off the canvas, with a shadow offset
   of 200 px bringing only the shadow back) with ``shadowBlur = blur``. The HTML canvas spec
   blurs shadows with a Gaussian of standard deviation ``shadowBlur / 2``, so the stamp is
   an antialiased disc (pixel coverage, by supersampling) convolved with a Gaussian of
   sigma ``blur / 2``, computed on the open plane and then cut to the ``2 r_`` square.
   Browsers approximate the Gaussian (Skia uses repeated box blurs: the best-fitting sigma
   is 0.47-0.54 x blur) and keep 8 bits per channel; the model is an exact Gaussian, in
   floats. Against Chromium drawing the real build (software canvas, device pixel ratio 1)
   the model's alpha is within 0.04 per pixel and 0.01 on average; two pictures compared
   with the model share these approximations.

``quantize=True`` additionally rounds the stamp and the canvas to 8 bits after every draw,
in the JS draw order (bin rows top to bottom, columns left to right), as a browser canvas
does. It moves pixels by up to about 0.02 and does not bring the model closer to Chromium.
The result, with or without, is the per-pixel alpha in [0, 1], the "intensity" the colour
ramp is looked up with (``gradient[4 * alpha_byte]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import gaussian_filter

TILE_SIZE = 256
# Leaflet's SphericalMercator.MAX_LATITUDE.
MAX_LATITUDE = 85.0511287798
# simpleheat's `t || .05`: a minOpacity of 0 or undefined falls back to 0.05.
DEFAULT_MIN_OPACITY = 0.05
_SUPERSAMPLE = 8


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
    ``zoom``): a layer point is ``round(project(latlng)) - origin``. ``pane_x``/``pane_y`` are
    the map pane offset (how far the map was dragged since the last view reset); a container
    (canvas) point is ``layer point + pane``. Right after ``setView`` the pane is at (0, 0)
    and the canvas's top-left pixel is the origin.
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
        return Viewport(
            self.zoom,
            self.width,
            self.height,
            self.origin_x,
            self.origin_y,
            self.pane_x + dx,
            self.pane_y + dy,
        )

    def container_points(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``map.latLngToContainerPoint`` for arrays: whole canvas pixels."""
        x, y = project(lat, lon, self.zoom)
        return (
            _js_round(x) - self.origin_x + self.pane_x,
            _js_round(y) - self.origin_y + self.pane_y,
        )


@lru_cache(maxsize=32)
def stamp(radius: int, blur: int) -> np.ndarray:
    """simpleheat's circle canvas: ``2 (radius + blur)`` px square, alpha in [0, 1].

    A disc of radius ``radius`` centred on the canvas centre (a pixel corner), as pixel
    coverage, convolved with a Gaussian of sigma ``blur / 2`` (canvas ``shadowBlur``), cut to
    the canvas. Read-only; cached.
    """
    r_ = radius + blur
    pad = 2 * blur + 1  # 4 sigma
    n = 2 * r_ + 2 * pad
    # Sub-pixel sample centres, relative to the disc centre at (r_ + pad, r_ + pad).
    sub = (np.arange(n * _SUPERSAMPLE) + 0.5) / _SUPERSAMPLE - (r_ + pad)
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    coverage = inside.reshape(n, _SUPERSAMPLE, n, _SUPERSAMPLE).mean(axis=(1, 3))
    blurred = gaussian_filter(coverage, sigma=blur / 2, mode="constant", truncate=4.0)
    out = np.clip(blurred[pad : pad + 2 * r_, pad : pad + 2 * r_], 0.0, 1.0)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Bins:
    """What ``_redraw`` hands to simpleheat: drawn bins and the normaliser."""

    x: np.ndarray  # rounded mean container x of each drawn bin
    y: np.ndarray
    value: np.ndarray  # min(bin sum, max)
    max: float  # max(1, largest bin sum over all points)
    row: np.ndarray  # bin row/column indices (+2 offset), for the JS draw order
    col: np.ndarray


def bin_points(points: np.ndarray, view: Viewport, *, radius: int, blur: int) -> Bins:
    """Leaflet.heat's (PR 78) screen binning of ``[lat, lon(, weight)]`` rows, in data order."""
    points = np.asarray(points, dtype=float)
    if points.size == 0:
        empty = np.array([], dtype=float)
        return Bins(empty, empty, empty, 1.0, empty, empty)
    weight = points[:, 2] if points.shape[1] > 2 else np.ones(len(points))
    px, py = view.container_points(points[:, 0], points[:, 1])
    r_ = radius + blur
    m = r_ / 2
    # JS `%` keeps the sign of the dividend, like math.fmod.
    fx, fy = math.fmod(view.pane_x, m), math.fmod(view.pane_y, m)
    col = np.floor((px - fx) / m).astype(np.int64) + 2
    row = np.floor((py - fy) / m).astype(np.int64) + 2
    # One key per bin; `first` is the data-order first point of each bin (np.unique sorts
    # keys, and among equal keys returns the first occurrence).
    span = int(col.max() - col.min()) + 1
    key = (row - row.min()) * span + (col - col.min())
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    total = np.bincount(inverse, weights=weight)
    mean_x = np.bincount(inverse, weights=weight * px) / total
    mean_y = np.bincount(inverse, weights=weight * py) / total
    top = max(1.0, float(total.max()))
    fx0, fy0 = px[first], py[first]
    drawn = (
        (fx0 >= -r_)
        & (fx0 <= view.width + r_)
        & (fy0 >= -r_)
        & (fy0 <= view.height + r_)
        & (row[first] >= 0)
        & (col[first] >= 0)
    )
    return Bins(
        x=_js_round(mean_x[drawn]),
        y=_js_round(mean_y[drawn]),
        value=np.minimum(total[drawn], top),
        max=top,
        row=row[first][drawn],
        col=col[first][drawn],
    )


def render(
    points: np.ndarray,
    view: Viewport,
    *,
    radius: int,
    blur: int,
    min_opacity: float = DEFAULT_MIN_OPACITY,
    quantize: bool = False,
) -> np.ndarray:
    """Per-pixel heat alpha (``height`` x ``width``, in [0, 1]) of ``points`` in ``view``.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 2)`` ``[lat, lon]`` (weight 1) or ``(n, 3)`` ``[lat, lon, weight]`` rows, in
        the order the page lists them (it decides which point culls a bin, step 4).
    view : Viewport
        Zoom, canvas size, pixel origin and pane offset.
    radius, blur : int
        The layer's ``radius`` and ``blur`` options.
    min_opacity : float
        The layer's ``minOpacity`` (0 means simpleheat's 0.05).
    quantize : bool
        Round the stamp and the canvas to 8 bits after every draw, in JS draw order.
    """
    bins = bin_points(points, view, radius=radius, blur=blur)
    kernel = stamp(radius, blur)
    r_ = radius + blur
    alpha_floor = min_opacity or DEFAULT_MIN_OPACITY
    global_alpha = np.maximum(bins.value / bins.max, alpha_floor)
    # A canvas with a margin wide enough for every drawn stamp, cropped at the end (the real
    # canvas clips): drawn bins lie within r_ + m of the canvas, their stamps reach r_ further.
    margin = 3 * r_
    h, w = view.height + 2 * margin, view.width + 2 * margin
    left = (bins.x - r_ + margin).astype(np.int64)
    top = (bins.y - r_ + margin).astype(np.int64)
    keep = (left >= 0) & (top >= 0) & (left + 2 * r_ <= w) & (top + 2 * r_ <= h)
    if quantize:
        kernel = np.round(kernel * 255) / 255
        canvas = np.zeros((h, w))
        order = np.lexsort((bins.col, bins.row))
        for i in order[keep[order]]:
            window = canvas[top[i] : top[i] + 2 * r_, left[i] : left[i] + 2 * r_]
            src = global_alpha[i] * kernel
            window[...] = np.round((src + window * (1 - src)) * 255) / 255
        alpha = canvas
    else:
        # Source-over of alpha a over d gives 1 - (1 - a)(1 - d): multiply transparencies.
        transparency = np.ones((h, w))
        for i in np.flatnonzero(keep):
            window = transparency[top[i] : top[i] + 2 * r_, left[i] : left[i] + 2 * r_]
            window *= 1 - global_alpha[i] * kernel
        alpha = 1 - transparency
    return np.clip(alpha[margin : margin + view.height, margin : margin + view.width], 0.0, 1.0)
