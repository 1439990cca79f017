"""Kernel density hotspots: a smooth incident surface in metres and its densest few per cent.

:func:`kde_surface` bins incidents into a raster of square pixels (UTM 34S, EPSG:32734) and
smooths the counts with a Gaussian kernel, so a million incidents take under a second.
:func:`hotspot_mask` picks the densest ``area_share`` of the study area's pixels,
:func:`kde_hotspots` turns them into ranked polygons for the map and the exports, and
:func:`points_in_hotspots` tells which later incidents fall inside them (hit rate, PAI) with one
array look-up per incident instead of a polygon test.

The kernel
    A Gaussian with standard deviation ``bandwidth_m``, truncated at 4 standard deviations and
    renormalised on the pixel grid, so the surface still integrates to the number of incidents.
    Points are binned to pixel centres first, which shifts each by at most half a pixel (50 m
    at the default 100 m pixels, a quarter of the smallest bandwidth considered). No edge
    correction: as in ArcGIS Kernel Density, mass that the kernel spreads over the sea or
    beyond the study area is not put back, so densities within a bandwidth of the boundary
    are slightly low.

The bandwidth, when not given
    Leave-one-out likelihood cross-validation over :data:`BANDWIDTH_CANDIDATES_M` (200 m to
    2 km): each candidate smooths the binned counts, every incident in the study area is scored
    by the density the *other* incidents give its pixel, and the candidate with the highest
    mean log density wins. This is validation on the data itself: the bandwidth that best
    predicts where an unseen incident falls, which is what a hotspot map is for. Rules of thumb
    (Scott, Silverman) assume one Gaussian blob and, on a city's many clusters, pick
    bandwidths several times too wide. Two safeguards: the score divides each pixel's density
    by the share of its kernel inside the study area (Diggle's edge correction), so wide
    kernels are not penalised for what they spread over the sea; and it mixes in
    :data:`BACKGROUND_SHARE` of a uniform density, so one isolated incident cannot veto the
    narrow bandwidths by scoring zero. Ties go to the wider bandwidth. With
    fewer than :data:`MIN_CV_INCIDENTS` incidents in the area, cross-validation is too noisy and
    Scott's rule for two dimensions is used instead, bounded to the same range.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from scipy import ndimage

from layers._errors import LayersError
from layers.settings import METRIC_CRS

__all__ = [
    "BACKGROUND_SHARE",
    "BANDWIDTH_CANDIDATES_M",
    "MIN_CV_INCIDENTS",
    "KdeError",
    "KdeSurface",
    "hotspot_mask",
    "kde_hotspots",
    "kde_surface",
    "points_in_hotspots",
]

#: Bandwidths (Gaussian standard deviation, metres) that cross-validation chooses from.
BANDWIDTH_CANDIDATES_M = (200.0, 300.0, 400.0, 500.0, 700.0, 1000.0, 1400.0, 2000.0)
#: Share of a uniform density mixed into each incident's cross-validation score.
BACKGROUND_SHARE = 0.01
#: Fewer incidents than this in the study area: Scott's rule instead of cross-validation.
MIN_CV_INCIDENTS = 30
#: The kernel is cut off this many bandwidths from its centre.
TRUNCATE_SD = 4.0
#: Rasters larger than this are refused: the pixel size is probably in the wrong unit.
MAX_PIXELS = 50_000_000

HOTSPOT_COLUMNS = ("rank", "peak_density", "mean_density", "area_km2")


class KdeError(LayersError):
    """Arguments a kernel density surface cannot be built from."""


@dataclass(frozen=True, eq=False)
class KdeSurface:
    """A kernel density surface on a north-up raster in :data:`METRIC_CRS` metres.

    Attributes
    ----------
    density : numpy.ndarray
        Incidents per km², shape ``(rows, cols)``, row 0 the northernmost; NaN outside the study
        area. Read-only.
    mask : numpy.ndarray
        True for pixels whose centre lies in the study area. Read-only.
    origin : tuple of float
        ``(west, north)``: the outer corner of pixel ``[0, 0]``, in metres.
    pixel_m : float
        Pixel side in metres.
    bandwidth_m : float
        Standard deviation of the Gaussian kernel in metres.
    reason : str
        Why this bandwidth, in a sentence the dashboard can show.
    n_points : int
        Incidents given.
    n_ignored : int
        Incidents too far outside the study area's bounds to add density inside them.
    """

    density: np.ndarray
    mask: np.ndarray
    origin: tuple[float, float]
    pixel_m: float
    bandwidth_m: float
    reason: str
    n_points: int
    n_ignored: int
    kernel: str = "gaussian"
    crs: str = METRIC_CRS

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the raster."""
        return self.density.shape  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the raster in metres."""
        west, north = self.origin
        rows, cols = self.shape
        return (west, north - rows * self.pixel_m, west + cols * self.pixel_m, north)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """The affine transform in rasterio's order ``(a, b, c, d, e, f)``."""
        west, north = self.origin
        return (self.pixel_m, 0.0, west, 0.0, -self.pixel_m, north)

    @property
    def pixel_area_km2(self) -> float:
        """Area of one pixel in km²."""
        return self.pixel_m**2 / 1e6

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x and y of every pixel centre, each of shape ``(rows, cols)``."""
        return _centres(self.origin, self.pixel_m, self.shape)


def kde_surface(
    x: np.ndarray,
    y: np.ndarray,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    bandwidth_m: float | None = None,
    pixel_m: float = 100.0,
) -> KdeSurface:
    """Gaussian kernel density of incidents over a study area, in incidents per km².

    Parameters
    ----------
    x, y : numpy.ndarray
        Incident coordinates in :data:`METRIC_CRS` (EPSG:32734) metres, one-dimensional and
        finite. Incidents outside the study area still add density near its edge.
    area : geopandas.GeoDataFrame or geopandas.GeoSeries
        The study area (precincts, wards, a boundary) in any CRS; its union is used.
    bandwidth_m : float, optional
        Standard deviation of the Gaussian kernel in metres, at least ``pixel_m``. When None,
        chosen by likelihood cross-validation (see the module notes).
    pixel_m : float, default 100.0
        Pixel side in metres.

    Returns
    -------
    KdeSurface
    """
    x, y = _check_points(x, y)
    pixel_m = _positive(pixel_m, "pixel_m")
    if bandwidth_m is not None and _positive(bandwidth_m, "bandwidth_m") < pixel_m:
        raise KdeError(
            f"`bandwidth_m` ({bandwidth_m:g} m) is smaller than a pixel ({pixel_m:g} m): use a "
            "larger bandwidth or smaller pixels."
        )
    region = _study_area(area)
    west, south, east, north = region.bounds
    cols = max(1, int(np.ceil((east - west) / pixel_m)))
    rows = max(1, int(np.ceil((north - south) / pixel_m)))
    if rows * cols > MAX_PIXELS:
        raise KdeError(
            f"A {pixel_m:g} m raster over the study area needs {rows * cols:,} pixels (at most "
            f"{MAX_PIXELS:,}): is `pixel_m` in metres? Use larger pixels."
        )
    origin = (west, north)
    mask = _rasterise(region, origin, pixel_m, (rows, cols))
    if not mask.any():
        raise KdeError(
            f"The study area holds no pixel centre at {pixel_m:g} m pixels: use smaller pixels."
        )

    # Bin on a raster padded by the widest kernel, so incidents just outside the bounds still
    # spread their density inside; the padding is cropped off at the end.
    widest = bandwidth_m if bandwidth_m is not None else max(BANDWIDTH_CANDIDATES_M)
    pad = _radius(widest / pixel_m)
    padded_origin = (west - pad * pixel_m, north + pad * pixel_m)
    counts = _bin(x, y, padded_origin, pixel_m, (rows + 2 * pad, cols + 2 * pad))
    n_binned = int(counts.sum())
    inner = (slice(pad, pad + rows), slice(pad, pad + cols))

    if bandwidth_m is None:
        in_area = np.where(mask, counts[inner], 0.0)
        bandwidth_m, reason = _choose_bandwidth(in_area, mask, x, y, pixel_m=pixel_m)
    else:
        reason = f"Bandwidth {bandwidth_m:g} m, as given."
    smooth = _smooth(counts, bandwidth_m / pixel_m)[inner]
    density = np.where(mask, smooth / (pixel_m**2 / 1e6), np.nan)
    density.setflags(write=False)
    mask.setflags(write=False)
    return KdeSurface(
        density=density,
        mask=mask,
        origin=origin,
        pixel_m=pixel_m,
        bandwidth_m=float(bandwidth_m),
        reason=reason,
        n_points=int(x.size),
        n_ignored=int(x.size) - n_binned,
    )


def hotspot_mask(surface: KdeSurface, *, area_share: float = 0.03) -> np.ndarray:
    """The densest ``area_share`` of the study area's pixels.

    Parameters
    ----------
    surface : KdeSurface
    area_share : float, default 0.03
        Share of the study area's pixels to mark, strictly between 0 and 1; the pixel count is
        rounded to the nearest whole pixel (at least one).

    Returns
    -------
    numpy.ndarray
        Boolean, the raster's shape. Pixels of equal density are taken in raster order (north
        before south, west before east), so the result is the same on every run. Pixels without
        any density are never hot, so on sparse data the mask can cover less than asked.
    """
    share = _check_share(area_share)
    inside = np.flatnonzero(surface.mask.ravel())
    hot = np.zeros(surface.mask.size, dtype=bool)
    if inside.size == 0:
        return hot.reshape(surface.shape)
    k = max(1, round(share * inside.size))
    values = surface.density.ravel()[inside]
    # A stable sort on the negated density keeps equal densities in raster order.
    top = inside[np.argsort(-values, kind="stable")[:k]]
    hot[top[surface.density.ravel()[top] > 0]] = True
    return hot.reshape(surface.shape)


def kde_hotspots(surface: KdeSurface, *, area_share: float = 0.03) -> gpd.GeoDataFrame:
    """The hotspot pixels as ranked polygons, one per group of edge-touching pixels.

    Parameters
    ----------
    surface : KdeSurface
    area_share : float, default 0.03
        As for :func:`hotspot_mask`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``rank`` (1 = highest peak density; ties by mean density, then raster order),
        ``peak_density`` and ``mean_density`` (incidents per km²), ``area_km2`` and the
        geometry, in :data:`METRIC_CRS`, sorted by rank. Pixels touching only at a corner are
        separate hotspots.
    """
    hot = hotspot_mask(surface, area_share=area_share)
    labels, n = ndimage.label(hot)
    if n == 0:
        return gpd.GeoDataFrame(
            {c: np.array([], dtype=int if c == "rank" else float) for c in HOTSPOT_COLUMNS},
            geometry=gpd.GeoSeries([], crs=surface.crs),
            crs=surface.crs,
        )
    index = np.arange(1, n + 1)
    peak = np.asarray(ndimage.maximum(surface.density, labels, index), dtype=float)
    mean = np.asarray(ndimage.mean(surface.density, labels, index), dtype=float)
    pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = np.lexsort((index, -mean, -peak))
    return gpd.GeoDataFrame(
        {
            "rank": np.arange(1, n + 1),
            "peak_density": peak[order],
            "mean_density": mean[order],
            "area_km2": pixels[order] * surface.pixel_area_km2,
        },
        geometry=_polygons(surface, labels, n)[order],
        crs=surface.crs,
    )


def points_in_hotspots(
    surface: KdeSurface, mask: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Which incidents fall in a hot pixel: one array look-up each, no polygon tests.

    Parameters
    ----------
    surface : KdeSurface
        The surface ``mask`` was made from.
    mask : numpy.ndarray
        Boolean pixel mask of the surface's shape, as from :func:`hotspot_mask`.
    x, y : numpy.ndarray
        Incident coordinates in :data:`METRIC_CRS` metres.

    Returns
    -------
    numpy.ndarray
        Boolean, one per incident; False outside the raster.
    """
    if mask.shape != surface.shape:
        raise KdeError(
            f"`mask` has shape {mask.shape} but the surface {surface.shape}: make the mask with "
            "hotspot_mask(surface, ...) on the same surface."
        )
    x, y = _check_points(x, y)
    row, col, inside = _pixel_of(x, y, surface.origin, surface.pixel_m, surface.shape)
    hit = np.zeros(x.size, dtype=bool)
    hit[inside] = mask[row[inside], col[inside]]
    return hit


# --- raster plumbing ---------------------------------------------------------------------


def _check_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise KdeError(
            f"`x` and `y` must be one-dimensional arrays of equal length; got shapes {x.shape} "
            f"and {y.shape}."
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise KdeError(
            "`x` and `y` hold missing or infinite coordinates: drop incidents without a location "
            "first."
        )
    return x, y


def _positive(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise KdeError(f"`{name}` must be a positive number of metres; got {value!r}.")
    return value


def _check_share(area_share: float) -> float:
    share = float(area_share)
    if not 0.0 < share < 1.0:
        raise KdeError(
            f"`area_share` must be a fraction strictly between 0 and 1 (0.03 for 3 % of the study "
            f"area); got {area_share!r}."
        )
    return share


def _study_area(area: gpd.GeoDataFrame | gpd.GeoSeries) -> shapely.Geometry:
    if area.crs is None:
        raise KdeError("`area` has no CRS: set it (e.g. area.set_crs('EPSG:4326')) first.")
    geoms = area.geometry.to_crs(METRIC_CRS).to_numpy()
    region = shapely.union_all(geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)])
    if region.is_empty or region.area <= 0:
        raise KdeError("`area` has no polygon with an area: pass the study area's boundaries.")
    return region


def _centres(
    origin: tuple[float, float], pixel_m: float, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    west, north = origin
    rows, cols = shape
    xs = west + (np.arange(cols) + 0.5) * pixel_m
    ys = north - (np.arange(rows) + 0.5) * pixel_m
    return np.meshgrid(xs, ys)


def _rasterise(
    region: shapely.Geometry, origin: tuple[float, float], pixel_m: float, shape: tuple[int, int]
) -> np.ndarray:
    shapely.prepare(region)  # the union is ours (made in _study_area), so preparing it is safe
    cx, cy = _centres(origin, pixel_m, shape)
    return shapely.contains_xy(region, cx, cy)


def _pixel_of(
    x: np.ndarray,
    y: np.ndarray,
    origin: tuple[float, float],
    pixel_m: float,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    west, north = origin
    col = np.floor((x - west) / pixel_m).astype(np.int64)
    row = np.floor((north - y) / pixel_m).astype(np.int64)
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])
    return row, col, inside


def _bin(
    x: np.ndarray,
    y: np.ndarray,
    origin: tuple[float, float],
    pixel_m: float,
    shape: tuple[int, int],
) -> np.ndarray:
    # bincount on flat pixel numbers: several times faster than np.histogram2d.
    row, col, inside = _pixel_of(x, y, origin, pixel_m, shape)
    flat = row[inside] * shape[1] + col[inside]
    return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(float)


def _radius(sd_pixels: float) -> int:
    return max(1, int(TRUNCATE_SD * sd_pixels + 0.5))


def _kernel(sd_pixels: float) -> np.ndarray:
    """The 1-D discrete Gaussian, truncated, summing to 1; the 2-D kernel is its outer product."""
    r = _radius(sd_pixels)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sd_pixels) ** 2)
    return k / k.sum()


def _smooth(counts: np.ndarray, sd_pixels: float) -> np.ndarray:
    # Separable: two 1-D passes, exact and non-negative (an FFT leaves tiny negative ripples).
    k = _kernel(sd_pixels)
    rows = ndimage.convolve1d(counts, k, axis=0, mode="constant")
    return ndimage.convolve1d(rows, k, axis=1, mode="constant")


def _choose_bandwidth(
    in_area: np.ndarray, mask: np.ndarray, x: np.ndarray, y: np.ndarray, *, pixel_m: float
) -> tuple[float, str]:
    candidates = [h for h in BANDWIDTH_CANDIDATES_M if h >= pixel_m]
    if not candidates:
        raise KdeError(
            f"Pixels of {pixel_m:g} m are wider than every candidate bandwidth (at most "
            f"{max(BANDWIDTH_CANDIDATES_M):g} m): use smaller pixels or give `bandwidth_m`."
        )
    low, high = min(candidates), max(candidates)
    n_area = int(in_area.sum())
    if n_area < MIN_CV_INCIDENTS:
        return _scott(x, y, low=low, high=high, n_area=n_area)
    scores = [_loo_score(in_area, mask, h / pixel_m) for h in candidates]
    best = max(range(len(candidates)), key=lambda i: (scores[i], candidates[i]))
    chosen = candidates[best]
    edge = ""
    if chosen in (low, high) and len(candidates) > 1:
        edge = f" It is the {'narrowest' if chosen == low else 'widest'} candidate considered."
    return chosen, (
        f"Bandwidth {chosen:g} m, chosen by leave-one-out likelihood cross-validation over "
        f"{', '.join(f'{h:g}' for h in candidates)} m: the width under which the other "
        f"incidents best predict where each of the {n_area:,} incidents in the study area "
        f"happened.{edge}"
    )


def _loo_score(in_area: np.ndarray, mask: np.ndarray, sd_pixels: float) -> float:
    """Mean log leave-one-out probability of an incident's pixel (see the module notes).

    ``in_area`` holds the counts of the study area's pixels and zero elsewhere, so smoothing
    the unpadded raster with zeros beyond it is exact.
    """
    k = _kernel(sd_pixels)
    self_weight = k[k.size // 2] ** 2  # what an incident adds to its own pixel
    n = in_area.sum()
    c = in_area[mask]
    smooth = _smooth(in_area, sd_pixels)[mask]
    # Edge correction: divide by the share of each pixel's kernel that lies in the area, so a
    # wide kernel is not penalised for the mass it spreads beyond the boundary.
    kept = _smooth(mask.astype(float), sd_pixels)[mask]
    total = (smooth / kept).sum()
    others = np.clip(smooth - self_weight * (c > 0), 0.0, None) / kept
    prob = others / (total * (n - 1) / n)
    prob = (1 - BACKGROUND_SHARE) * prob + BACKGROUND_SHARE / mask.sum()
    occupied = c > 0
    return float((c[occupied] * np.log(prob[occupied])).sum() / n)


def _scott(
    x: np.ndarray, y: np.ndarray, *, low: float, high: float, n_area: int
) -> tuple[float, str]:
    n = max(x.size, 1)
    spread = float(np.sqrt((np.var(x) + np.var(y)) / 2)) if x.size > 1 else 0.0
    raw = spread * n ** (-1 / 6)
    chosen = float(np.clip(raw, low, high)) if raw > 0 else high
    bounded = "" if raw == chosen else f" (bounded from {raw:,.0f} m to {low:g}-{high:g} m)"
    return chosen, (
        f"Bandwidth {chosen:,.0f} m by Scott's rule for two dimensions{bounded}: only {n_area} "
        f"incidents in the study area, fewer than the {MIN_CV_INCIDENTS} cross-validation needs."
    )


def _polygons(surface: KdeSurface, labels: np.ndarray, n: int) -> np.ndarray:
    """One polygon per label, the union of its pixel squares."""
    west, north = surface.origin
    rows, cols = surface.shape
    # Shared edges must be bit-identical for the coverage union: take them from one array.
    x_edges = west + np.arange(cols + 1) * surface.pixel_m
    y_edges = north - np.arange(rows + 1) * surface.pixel_m
    flat = np.flatnonzero(labels.ravel())
    flat = flat[np.argsort(labels.ravel()[flat], kind="stable")]
    r, c = np.divmod(flat, cols)
    boxes = shapely.box(x_edges[c], y_edges[r + 1], x_edges[c + 1], y_edges[r])
    starts = np.searchsorted(labels.ravel()[flat], np.arange(1, n + 2))
    parts = [shapely.coverage_union_all(boxes[starts[i] : starts[i + 1]]) for i in range(n)]
    # Drop the vertices left between merged squares on straight edges.
    return shapely.simplify(np.array(parts, dtype=object), 0.0)
