"""The heat layer's surface and its colour scale, in incidents per km².

The map draws incident heat with our own Leaflet layer, ``layers/maps/js/incident_heat.js``. It is
a kernel density surface: every heat cell's count is spread over a Gaussian of
``sigma_px`` screen pixels, and the result is said in incidents per km². Its colours run from
0 to a *top* chosen here, on the server, from all the filtered incidents at the zoom
(:func:`peak_density`). Nothing is scaled by what happens to be on screen, so the same data at
the same zoom gives the same colours in any window, in meeting mode and in a standalone map.

How the layer computes the surface (this module does the same, to find its top):

1. A grid of nodes every ``step`` pixels (:func:`grid_step_px`), anchored to Web Mercator's
   global pixels (node ``u`` is centred on global pixel ``(u + 0.5) * step``), never to the
   window.
2. Each point ``[lat, lon, count]`` is projected to global pixels at the zoom (unrounded) and
   its count shared between the four nodes around it, bilinearly: the count is kept whole.
3. A Gaussian of standard deviation ``sigma_px / step`` nodes, cut at :data:`TRUNCATE_SD`
   standard deviations and renormalised (:func:`kernel_taps`), is run along the rows and
   then the columns.
4. Each node row is divided by the ground area of a node at its latitude,
   ``(step * metres_per_pixel(lat, zoom))**2``, in km²: incidents per km².

The layer then interpolates the nodes bilinearly to screen pixels and draws a density ``d`` at
``t = min(d / top, 1) ** SCALE_EXPONENT`` along the colour ramp, with opacity ``t``. The square
root puts a quarter of the top half-way along the ramp: the busiest place does not leave every
other hotspot pale, and the legend puts its numbers where they fall on the same scale.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import ndimage

from layers.settings import COORD_DECIMALS
from layers.storage.columnar import mercator_pixels, pixels_to_lonlat

#: Leaflet's EPSG:3857 sphere: its equator, in metres.
EQUATOR_M = 2 * math.pi * 6_378_137
TILE_SIZE = 256
#: The kernel's standard deviation on screen, for the dashboard's usual cells.
HEAT_SIGMA_PX = 10.0
#: The kernel is cut off this many standard deviations from its centre.
TRUNCATE_SD = 4.0
#: A density ``d`` is drawn ``(d / top) ** SCALE_EXPONENT`` of the way along the colour ramp.
SCALE_EXPONENT = 0.5
#: At most this many windows of the surface are computed in full to find its peak.
MAX_PEAK_WINDOWS = 64
KM2 = 1e6


def grid_step_px(sigma_px: float) -> int:
    """The surface's node spacing in screen pixels: a third of ``sigma_px``, at least 1.

    Three or more nodes per standard deviation keep the interpolated surface within about
    one per cent of the full-resolution one, at a ninth of the work or less.
    """
    return max(1, int(sigma_px // 3))


def kernel_taps(sigma_px: float, step: int) -> np.ndarray:
    """The Gaussian, sampled at whole nodes, ``±ceil(TRUNCATE_SD * sigma)`` nodes, summing to 1."""
    sigma = sigma_px / step
    half = math.ceil(TRUNCATE_SD * sigma)
    offsets = np.arange(-half, half + 1, dtype=float)
    taps = np.exp(-(offsets**2) / (2 * sigma * sigma))
    return taps / taps.sum()


def metres_per_pixel(lat: np.ndarray | float, zoom: float) -> np.ndarray:
    """Ground metres across one screen pixel at latitude ``lat`` and ``zoom`` (Web Mercator)."""
    return EQUATOR_M * np.cos(np.radians(lat)) / (TILE_SIZE * 2.0**zoom)


def page_points(cells: pd.DataFrame) -> np.ndarray:
    """``[lat, lon, weight]`` rows as the page gets them: cells of weight 0 left out,
    coordinates rounded to about a metre. ``cells`` has ``lat``, ``lon``, ``weight``."""
    cells = cells[cells["weight"] > 0]
    return np.column_stack(
        [
            cells["lat"].to_numpy(dtype=float).round(COORD_DECIMALS),
            cells["lon"].to_numpy(dtype=float).round(COORD_DECIMALS),
            cells["weight"].to_numpy(dtype=float),
        ]
    ).reshape(-1, 3)


def peak_density(
    points: np.ndarray,
    *,
    zoom: float,
    sigma_px: float = HEAT_SIGMA_PX,
    max_windows: int = MAX_PEAK_WINDOWS,
    above: float = 0.0,
) -> float:
    """The highest density, in incidents per km², the heat layer draws anywhere for ``points``.

    The top of the heat layer's colour scale. It depends on the points, the zoom and the
    kernel, never on a window: the layer's surface is anchored to global pixels, so this is
    the value of its busiest node wherever the map is looked at.

    The surface is computed in full only in square windows of nodes, those with the most
    incidents within reach first: a node's density is at most the kernel's centre weight
    times the incidents within reach, so once that bound falls below the best density found
    no other window can beat it. Clustered incidents stop after a few windows. After
    ``max_windows`` (spread data at a close zoom, where the peak is a matter of a few
    incidents) the result is the highest density among the busiest windows, and anything
    denser elsewhere is drawn in the top colour.

    Parameters
    ----------
    points : numpy.ndarray
        ``(n, 3)`` rows ``[lat, lon, weight]``, as the page gets them (:func:`page_points`).
    zoom : float
        The map zoom.
    sigma_px : float, default HEAT_SIGMA_PX
        The kernel's standard deviation in screen pixels.
    max_windows : int, default MAX_PEAK_WINDOWS
        The most windows computed in full.
    above : float, default 0
        Only a peak above this matters (the highest of several surfaces, one at a time):
        windows that cannot beat it are not computed, and a result of ``above`` or less
        only says the peak is not above it.

    Returns
    -------
    float
        Incidents per km²; 0 for no points.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 3)
    points = points[points[:, 2] > 0]
    if not len(points):
        return 0.0
    step = grid_step_px(sigma_px)
    taps = kernel_taps(sigma_px, step)
    half = (len(taps) - 1) // 2
    x, y = mercator_pixels(points[:, 1], points[:, 0], zoom)
    u, v, weight = _splat(x, y, points[:, 2], step)
    # Windows of `side` nodes: a node's kernel reaches no further than the 3 x 3 windows
    # around its own.
    side = half + 1
    key = _key(u // side, v // side)
    order = np.argsort(key, kind="stable")
    u, v, weight, key = u[order], v[order], weight[order], key[order]
    windows, first = np.unique(key, return_index=True)
    mass = np.add.reduceat(weight, first)
    within_reach = np.zeros(len(windows))
    for du in (-1, 0, 1):
        for dv in (-1, 0, 1):
            found, at = _lookup(windows, windows + _key(du, dv))
            within_reach[found] += mass[at[found]]
    win_u, win_v = _unkey(windows)
    # Incidents per node become the most per km² where a node is smallest on the ground: in
    # the window's row farthest from the equator.
    edge_rows = np.stack([win_v * side, win_v * side + side - 1])
    reach_bound = within_reach * taps.max() ** 2
    finer = _finer_bounds(u, v, weight, win_u, win_v, side=side, taps=taps)
    if finer is not None:
        reach_bound = np.minimum(reach_bound, finer)
    bound = reach_bound * _km2_factor(edge_rows, zoom, step).max(axis=0)
    best = 0.0
    ranked = np.argsort(-bound, kind="stable")[:max_windows]
    for batch in np.array_split(ranked, max(1, math.ceil(len(ranked) / _BATCH))):
        batch = batch[bound[batch] > max(best, above)]
        if not len(batch):
            break
        best = max(best, _windows_peak(batch, windows, key, u, v, weight, win_u, win_v,
                                       side=side, taps=taps, zoom=zoom, step=step))  # fmt: skip
    return float(best)


# Cells of the finer bounds' grid, at most: beyond it (spread incidents at a close zoom) only
# the windows' own bounds are used.
_FINER_CELLS = 250_000


def _finer_bounds(
    u: np.ndarray, v: np.ndarray, weight: np.ndarray, win_u: np.ndarray, win_v: np.ndarray, *,
    side: int, taps: np.ndarray,
) -> np.ndarray | None:  # fmt: skip
    """A closer bound on each window's densest node (before units) than the incidents in
    reach times the kernel's centre: over cells a few nodes wide, the incidents in each cell
    times the kernel's largest value between the two cells, summed; a window's bound is
    that of its highest cell. None when the cells' grid would be too large.

    The windows are computed in full from the highest bound down, and skipped once no bound
    beats the best found: the closer the bound, the fewer windows are computed."""
    half = (len(taps) - 1) // 2
    cell = max(d for d in range(1, max(1, side // 3) + 1) if side % d == 0)
    reach = -(-half // cell)
    offsets = np.arange(-reach, reach + 1)
    nearest = np.maximum(np.abs(offsets) * cell - (cell - 1), 0)
    most = np.where(nearest <= half, taps[half + np.minimum(nearest, half)], 0.0)
    per = side // cell  # cells along a window's side
    # Cells of the grid, its origin a window's corner so that windows are blocks of cells.
    cu, cv = np.floor_divide(u, cell), np.floor_divide(v, cell)
    u0 = (int(cu.min()) - reach) // per * per
    v0 = (int(cv.min()) - reach) // per * per
    width = -(-(int(cu.max()) + reach + 1 - u0) // per) * per
    height = -(-(int(cv.max()) + reach + 1 - v0) // per) * per
    if width * height > _FINER_CELLS:
        return None
    grid = np.bincount((cv - v0) * width + (cu - u0), weight, minlength=width * height)
    grid = grid.reshape(height, width)
    grid = ndimage.correlate1d(grid, most, axis=1, mode="constant")
    grid = ndimage.correlate1d(grid, most, axis=0, mode="constant")
    blocks = grid.reshape(height // per, per, width // per, per).max(axis=(1, 3))
    return blocks[win_v - v0 // per, win_u - u0 // per]


def _splat(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes and shares of each point's bilinear splat: four rows a point."""
    a, b = x / step - 0.5, y / step - 0.5
    u0, v0 = np.floor(a), np.floor(b)
    fu, fv = a - u0, b - v0
    u0, v0 = u0.astype(np.int64), v0.astype(np.int64)
    u = np.concatenate([u0, u0 + 1, u0, u0 + 1])
    v = np.concatenate([v0, v0, v0 + 1, v0 + 1])
    share = np.concatenate([(1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv])
    return u, v, np.tile(w, 4) * share


# Window keys: row-major with room for any window index at any zoom Leaflet draws (< 2**24).
_SPAN = 1 << 26


def _lookup(sorted_keys: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``wanted`` are in ``sorted_keys``, and where."""
    at = np.minimum(np.searchsorted(sorted_keys, wanted), len(sorted_keys) - 1)
    return sorted_keys[at] == wanted, at


def _key(wu: np.ndarray | int, wv: np.ndarray | int) -> np.ndarray | int:
    return wv * _SPAN + wu


def _unkey(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    wv = np.floor_divide(key + _SPAN // 2, _SPAN)
    return key - wv * _SPAN, wv


def _km2_factor(rows: np.ndarray, zoom: float, step: int) -> np.ndarray:
    """From incidents per node to incidents per km², for node rows ``rows``."""
    _, lat = pixels_to_lonlat(np.zeros(rows.shape), (rows + 0.5) * step, zoom)
    return KM2 / (step * metres_per_pixel(lat, zoom)) ** 2


_BATCH = 16


def _windows_peak(
    batch: np.ndarray,
    windows: np.ndarray,
    key: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    weight: np.ndarray,
    win_u: np.ndarray,
    win_v: np.ndarray,
    *,
    side: int,
    taps: np.ndarray,
    zoom: float,
    step: int,
) -> float:
    """The densest node of the windows ``batch`` (indices into ``windows``), each computed
    from the splats (sorted by ``key``) of the 3 x 3 windows around it."""
    half = (len(taps) - 1) // 2
    size = side + 2 * half
    # The splats of the windows' three rows of three, gathered at once: per window and row,
    # one run of the sorted keys.
    rows = np.array([_key(0, dv) for dv in (-1, 0, 1)])
    lo = np.searchsorted(key, (windows[batch, None] + rows + _key(-1, 0)).ravel(), side="left")
    hi = np.searchsorted(key, (windows[batch, None] + rows + _key(1, 0)).ravel(), side="right")
    lengths = hi - lo
    owner = np.repeat(np.repeat(np.arange(len(batch)), len(rows)), lengths)
    near = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    near += np.repeat(lo, lengths)
    du = u[near] - (win_u[batch][owner] * side - half)
    dv = v[near] - (win_v[batch][owner] * side - half)
    inside = (du >= 0) & (du < size) & (dv >= 0) & (dv < size)
    flat = (owner[inside] * size + dv[inside]) * size + du[inside]
    grids = np.bincount(flat, weight[near][inside], minlength=len(batch) * size * size)
    grids = grids.reshape(len(batch), size, size)
    grids = ndimage.correlate1d(grids, taps, axis=2, mode="constant")
    grids = ndimage.correlate1d(grids, taps, axis=1, mode="constant")
    middle = grids[:, half : half + side, half : half + side]
    rows = win_v[batch, None] * side + np.arange(side)
    return float((middle * _km2_factor(rows, zoom, step)[:, :, None]).max())


def scale_ticks(
    top: float, *, k: int | None = None, most: int = 5, exponent: float = SCALE_EXPONENT
) -> list[float]:
    """Round values, below ``top``, to label a colour scale from 0 to ``top`` with.

    The scale places a value at ``(value / top) ** exponent`` along the ramp; the ticks are
    the round numbers (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten) nearest to
    ``most`` evenly spaced places, 0 the first. With ``k`` (the privacy threshold of a viewer
    whose counts are suppressed) values below ``k`` are left out, 0 included.
    """
    if not top > 0:
        return [] if k else [0.0]
    ticks = [0.0]
    for i in range(1, most):
        value = _round_number(top * (i / most) ** (1 / exponent))
        if ticks[-1] < value < top:
            ticks.append(value)
    return [t for t in ticks if k is None or t >= k]


def _round_number(value: float) -> float:
    power = 10.0 ** math.floor(math.log10(value))
    return round(min((m * power for m in _ROUND), key=lambda r: abs(r - value)), 10)


_ROUND = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def format_density(value: float) -> str:
    """A density for a legend: ``12,500``, ``37``, ``2.5``, ``0.25``."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.0f}" if value == round(value) else f"{value:.1f}"
    return f"{value:.3g}"
