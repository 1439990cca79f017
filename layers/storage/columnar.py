"""Coded incident columns: the fast path from a filter change to map data and figures.

A store's incidents are held once in memory as a few numpy arrays, about 30 bytes an
incident and no geometry:

- every filterable text column (agency, collaboration area, category, precinct, ward) as
  integer codes into a tuple of labels;
- the local (Africa/Johannesburg) day and hour each incident occurred;
- each incident's Web Mercator pixel position at zoom 0, from which the heat-map cells of any
  zoom are one multiplication and a ``floor`` away.

A filter becomes a boolean mask in a handful of vectorised passes (a lookup table per coded
column, two integer comparisons for the dates, one for the hours), and every figure on the
page is a ``numpy.bincount`` over the masked codes. Nothing here repeats the spatial join,
boxes a timestamp or touches a Python object per incident, so the cost is linear with a small
constant: tens of milliseconds a million incidents.

The mask is exactly :func:`layers.storage.filters.filter_mask`'s (tests hold the two equal).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from layers.settings import LOCAL_TZ
from layers.storage.filters import FILTER_COLUMNS, IncidentFilter
from layers.storage.join import OUTSIDE

TILE_SIZE = 256
EPOCH = date(1970, 1, 1)
NS_PER_HOUR = 3_600_000_000_000
# Dense bincount up to this many grid cells; beyond it (a fine zoom with no viewport given),
# sort-based counting of the occupied cells only.
DENSE_GRID_CELLS = 4_000_000
# The aggregation moves an incident by at most 2.8 px, a small part of the heat kernel's 10 px
# standard deviation (layers.maps.heat): the surface drawn from the cells is the one of every
# incident to within a few hundredths of the colour scale (tests/test_heat_fidelity.py).
HEAT_CELL_PX = 4.0
CODED_COLUMNS = tuple(FILTER_COLUMNS.values())
READ_COLUMNS = (*CODED_COLUMNS, "occurred_at", "lon", "lat")


@dataclass(frozen=True, eq=False)
class IncidentColumns:
    """Incidents as coded numpy columns, aligned row for row.

    Attributes
    ----------
    codes : dict of str to numpy.ndarray
        For each column in :data:`CODED_COLUMNS`, integer codes into ``labels[column]``;
        -1 where the value is missing.
    labels : dict of str to tuple of str
        The distinct values of each coded column.
    day : numpy.ndarray
        Local day of occurrence, as days since 1970-01-01 (int32).
    hour : numpy.ndarray
        Local hour of occurrence, 0-23 (int8).
    px, py : numpy.ndarray
        Web Mercator pixel coordinates at zoom 0 (0-256, y down), float64.
    """

    codes: Mapping[str, np.ndarray]
    labels: Mapping[str, tuple[str, ...]]
    day: np.ndarray
    hour: np.ndarray
    px: np.ndarray
    py: np.ndarray

    def __len__(self) -> int:
        return len(self.day)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        arrays = [*self.codes.values(), self.day, self.hour, self.px, self.py]
        return int(sum(a.nbytes for a in arrays))

    @classmethod
    def from_frame(cls, incidents: pd.DataFrame) -> IncidentColumns:
        """Code a frame of stored incidents (columns as in :data:`READ_COLUMNS`)."""
        codes: dict[str, np.ndarray] = {}
        labels: dict[str, tuple[str, ...]] = {}
        for column in CODED_COLUMNS:
            values = incidents[column]
            if not isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype("category")
            categories = values.cat.categories.astype(str)
            codes[column] = values.cat.codes.to_numpy().astype(_code_dtype(len(categories)))
            labels[column] = tuple(categories)
        local_ns = _local_ns(incidents["occurred_at"])
        px, py = mercator_pixels(
            incidents["lon"].to_numpy(dtype=float), incidents["lat"].to_numpy(dtype=float), 0
        )
        return cls(
            codes=codes,
            labels=labels,
            day=(local_ns // (24 * NS_PER_HOUR)).astype(np.int32),
            hour=((local_ns // NS_PER_HOUR) % 24).astype(np.int8),
            px=px,
            py=py,
        )


def read_columns(path: Path | str) -> IncidentColumns:
    """Read a store's ``incidents.parquet`` straight into coded columns, skipping geometry."""
    table = pq.read_table(path, columns=list(READ_COLUMNS))
    return IncidentColumns.from_frame(table.to_pandas())


def _local_ns(times: pd.Series) -> np.ndarray:
    """Local wall-clock time as int64 nanoseconds since the epoch."""
    local = times.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return local.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _code_dtype(n: int) -> type:
    return np.int8 if n < 127 else np.int16 if n < 32_767 else np.int32


def mercator_pixels(lon: np.ndarray, lat: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator pixel coordinates (256-px tiles, y down) of lon/lat at ``zoom``."""
    scale = TILE_SIZE * 2.0**zoom
    phi = np.deg2rad(np.clip(lat, -85.05112878, 85.05112878))
    x = (lon + 180.0) / 360.0 * scale
    y = (1.0 - np.log(np.tan(phi) + 1.0 / np.cos(phi)) / np.pi) / 2.0 * scale
    return x, y


def pixels_to_lonlat(x: np.ndarray, y: np.ndarray, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`mercator_pixels`."""
    scale = TILE_SIZE * 2.0**zoom
    lon = x / scale * 360.0 - 180.0
    lat = np.rad2deg(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * y / scale))))
    return lon, lat


def heat_cells(
    lon: np.ndarray, lat: np.ndarray, *, zoom: int, cell_px: float = HEAT_CELL_PX
) -> pd.DataFrame:
    """Aggregate points to square cells of ``cell_px`` screen pixels at ``zoom``.

    Each occupied cell becomes one point at the cell's centre, weighted by its number of
    incidents (see :func:`layers.storage.columnar.heat_grid`, the same cells for a store's coded
    columns).

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Incident coordinates in EPSG:4326.
    zoom : int
        Web map zoom level the cells are sized for.
    cell_px : float
        Cell edge in screen pixels at ``zoom``.

    Returns
    -------
    pandas.DataFrame
        Columns ``lat``, ``lon`` and ``weight`` (incident count), one row per occupied cell,
        sorted by weight, heaviest first.
    """
    px, py = mercator_pixels(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), 0)
    return cells_of_pixels(px, py, zoom=zoom, cell_px=cell_px)


def fit_zoom(
    bounds: Sequence[float] | np.ndarray,
    *,
    width_px: int = 800,
    height_px: int = 600,
    max_zoom: int = 16,
) -> int:
    """The zoom Leaflet's ``fitBounds`` picks for lon/lat ``(minx, miny, maxx, maxy)`` bounds.

    Web Mercator tile maths for a view of ``width_px`` by ``height_px`` pixels (about the map
    panel's size in the dashboard).
    """
    west, south, east, north = (float(b) for b in bounds)

    def mercator_y(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    lon_fraction = (east - west) / 360
    lat_fraction = (mercator_y(north) - mercator_y(south)) / (2 * math.pi)
    zooms = [
        math.log2(pixels / 256 / fraction)
        for pixels, fraction in ((width_px, lon_fraction), (height_px, lat_fraction))
        if fraction > 0
    ]
    return int(min(max_zoom, max(0, math.floor(min(zooms))))) if zooms else max_zoom


def select(columns: IncidentColumns, flt: IncidentFilter) -> np.ndarray:
    """Boolean mask of the incidents ``flt`` keeps (same result as ``filter_mask``).

    A value the store does not hold matches nothing, as with ``isin``.
    """
    mask = np.ones(len(columns), dtype=bool)
    for name, column in FILTER_COLUMNS.items():
        if wanted := getattr(flt, name):
            labels = columns.labels[column]
            # One extra slot at the end is the lookup for code -1 (missing): never kept.
            keep = np.zeros(len(labels) + 1, dtype=bool)
            keep[[i for i, label in enumerate(labels) if label in set(wanted)]] = True
            mask &= keep[columns.codes[column]]
    if flt.since:
        mask &= columns.day >= (flt.since - EPOCH).days
    if flt.until:
        mask &= columns.day <= (flt.until - EPOCH).days
    if flt.hours:
        start, end = flt.hours
        hours = np.arange(24)
        keep = (hours >= start) & (hours < end) if start < end else (hours >= start) | (hours < end)
        mask &= keep[columns.hour]
    return mask


def heat_grid(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    *,
    zoom: int,
    cell_px: float = HEAT_CELL_PX,
    bounds: Sequence[float] | None = None,
    max_cells: int | None = None,
    bin_px: float | None = None,
) -> pd.DataFrame:
    """Count the kept incidents in square cells of ``cell_px`` screen pixels at ``zoom``.

    Cells are laid out in Web Mercator pixel space, the space Leaflet draws in, so a cell is
    the same size on screen everywhere. Each occupied cell becomes one point at the cell's
    centre, weighted by its number of incidents: no incident's own position leaves the
    server, and with cells a fraction of the heat radius the heat map drawn from the cells
    matches the one drawn from every point (``tests/test_heat_fidelity.py``).

    Parameters
    ----------
    columns : IncidentColumns
    mask : numpy.ndarray or None
        Which incidents to count (see :func:`select`); None counts all.
    zoom : int
        Map zoom the cells are sized for.
    cell_px : float, default HEAT_CELL_PX
        Cell edge in screen pixels.
    bounds : (west, south, east, north), optional
        Only make cells in this lon/lat box, e.g. the viewport with a margin: the number of
        cells is then bounded by the screen, not by the data.
    max_cells : int, optional
        A budget: while there are more occupied cells than this, double the cell edge.
    bin_px : float, optional
        Also find the busiest square of ``bin_px`` pixels (``cell_px`` times a power of two)
        among all the kept incidents, bounds or not. Reported in ``attrs["busiest_bin"]``.
        (The map's colour scale no longer uses it: see :func:`layers.maps.view.view_heat`.)

    Returns
    -------
    pandas.DataFrame
        Columns ``lat``, ``lon`` (cell centre) and ``weight`` (int64), heaviest first.
        ``attrs["cell_px"]`` is the cell edge used.
    """
    px, py = columns.px, columns.py
    if mask is not None:
        px, py = px[mask], py[mask]
    # Integer cell coordinates, once: coarser grids anchored at pixel 0 are exact shifts of
    # these (floor(floor(a) / 2^k) == floor(a / 2^k)), so the colour-scale bins and a
    # doubled cell size cost no more float work.
    scale = 2.0**zoom / cell_px
    ix, iy = _cell_indices(px, scale), _cell_indices(py, scale)
    busiest = None
    if bin_px is not None:
        shift = round(np.log2(bin_px / cell_px))
        if shift < 0 or not np.isclose(cell_px * 2**shift, bin_px):
            raise ValueError(
                f"`bin_px` ({bin_px}) must be `cell_px` ({cell_px}) times a power of two."
            )
        busiest = int(_occupied(ix >> shift, iy >> shift)[1].max()) if len(ix) else 0
    if bounds is not None:
        west, south, east, north = (float(b) for b in bounds)
        (x0, x1), (y1, y0) = mercator_pixels(np.array([west, east]), np.array([south, north]), 0)
        inside = (
            (ix >= np.floor(x0 * scale)) & (ix <= np.floor(x1 * scale))
            & (iy >= np.floor(y0 * scale)) & (iy <= np.floor(y1 * scale))
        )  # fmt: skip
        ix, iy = ix[inside], iy[inside]
    cells = _cell_frame(ix, iy, zoom=zoom, cell_px=cell_px)
    while max_cells is not None and len(cells) > max_cells:
        ix, iy, cell_px = ix >> 1, iy >> 1, cell_px * 2
        cells = _cell_frame(ix, iy, zoom=zoom, cell_px=cell_px)
    cells.attrs["cell_px"] = cell_px
    if busiest is not None:
        cells.attrs["busiest_bin"] = busiest
    return cells


def cells_of_pixels(px: np.ndarray, py: np.ndarray, *, zoom: int, cell_px: float) -> pd.DataFrame:
    """Occupied ``cell_px`` cells at ``zoom`` of zoom-0 pixel positions (see :func:`heat_grid`)."""
    scale = 2.0**zoom / cell_px
    ix, iy = _cell_indices(np.asarray(px), scale), _cell_indices(np.asarray(py), scale)
    return _cell_frame(ix, iy, zoom=zoom, cell_px=cell_px)


def _cell_indices(pixels: np.ndarray, scale: float) -> np.ndarray:
    """``floor(pixels * scale)`` as int64. Mercator pixels are never negative, so the cast's
    truncation is the floor, and shifts right are exact coarser cells."""
    return (pixels * scale).astype(np.int64)


def _cell_frame(ix: np.ndarray, iy: np.ndarray, *, zoom: int, cell_px: float) -> pd.DataFrame:
    if len(ix) == 0:
        return pd.DataFrame(
            {"lat": np.array([], float), "lon": np.array([], float), "weight": np.array([], int)}
        )
    (cx, cy), weights = _occupied(ix, iy)
    scale = 2.0**zoom / cell_px
    lon, lat = pixels_to_lonlat((cx + 0.5) / scale, (cy + 0.5) / scale, 0)
    order = np.argsort(-weights, kind="stable")
    return pd.DataFrame(
        {"lat": lat[order], "lon": lon[order], "weight": weights[order].astype(np.int64)}
    )


def _occupied(ix: np.ndarray, iy: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The occupied integer cells and their counts."""
    cx0, cy0 = int(ix.min()), int(iy.min())
    nx, ny = int(ix.max()) - cx0 + 1, int(iy.max()) - cy0 + 1
    ids = (iy - cy0) * nx + (ix - cx0)
    if nx * ny <= DENSE_GRID_CELLS:
        counts = np.bincount(ids, minlength=nx * ny)
        occupied = np.flatnonzero(counts)
        counts = counts[occupied]
    else:
        occupied, counts = np.unique(ids, return_counts=True)
    return (occupied % nx + cx0, occupied // nx + cy0), counts


def counts_by(columns: IncidentColumns, mask: np.ndarray | None, column: str) -> pd.Series:
    """Kept incidents per value of a coded column, every stored value included (zeros too)."""
    codes = columns.codes[column] if mask is None else columns.codes[column][mask]
    labels = columns.labels[column]
    counts = np.bincount(codes[codes >= 0], minlength=len(labels))
    return pd.Series(counts.astype(np.int64), index=pd.Index(labels, name=column), name="count")


def area_counts(
    columns: IncidentColumns, mask: np.ndarray | None, *, by: str, names: Sequence[str]
) -> pd.Series:
    """Counts for every area in ``names`` (zero where none), plus "Outside boundaries" when
    any kept incident is outside."""
    counts = counts_by(columns, mask, by)
    index = list(names)
    if counts.get(OUTSIDE, 0):
        index.append(OUTSIDE)
    return counts.reindex(index, fill_value=0).rename("count")


def top_areas(
    columns: IncidentColumns, mask: np.ndarray | None, *, by: str, n: int = 10
) -> pd.DataFrame:
    """The ``n`` areas with most kept incidents, with their count and share of the total."""
    total = int(mask.sum()) if mask is not None else len(columns)
    return busiest(counts_by(columns, mask, by), by=by, total=total, n=n)


def busiest(counts: pd.Series, *, by: str, total: int, n: int = 10) -> pd.DataFrame:
    """The ``n`` largest of ``counts`` above zero (NaN, a hidden count, is left out), as a
    table of ``by``, ``incidents`` and ``share`` of ``total``."""
    counts = counts.dropna()
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable").head(n)
    return pd.DataFrame(
        {by: counts.index.astype(object), "incidents": counts.to_numpy(),
         "share": counts.to_numpy() / max(total, 1)}
    )  # fmt: skip


def weekly_counts(
    columns: IncidentColumns, mask: np.ndarray | None, *, by: str = "agency"
) -> pd.DataFrame:
    """Kept incidents per local week (Monday first) and ``by`` value, weeks as rows.

    Returns
    -------
    pandas.DataFrame
        Index ``week`` (the Monday), one column per ``by`` value with any incident,
        zero-filled from the first week to the last.
    """
    day = columns.day if mask is None else columns.day[mask]
    codes = columns.codes[by] if mask is None else columns.codes[by][mask]
    if len(day) == 0:
        return pd.DataFrame(index=pd.DatetimeIndex([], name="week"))
    # 1970-01-01 was a Thursday: week w starts on day 7w - 3, a Monday.
    week = (day.astype(np.int64) + 3) // 7
    first = int(week.min())
    n_weeks = int(week.max()) - first + 1
    labels = columns.labels[by]
    valid = codes >= 0
    table = np.bincount(
        (week[valid] - first) * len(labels) + codes[valid], minlength=n_weeks * len(labels)
    ).reshape(n_weeks, len(labels))
    present = table.sum(axis=0) > 0
    mondays = pd.to_datetime(
        [EPOCH + timedelta(days=7 * (first + w) - 3) for w in range(n_weeks)]
    ).rename("week")
    return pd.DataFrame(
        table[:, present], index=mondays, columns=[labels[i] for i in np.flatnonzero(present)]
    )


def robust_extent(
    columns: IncidentColumns, mask: np.ndarray | None = None, *, share: float = 0.99
) -> tuple[float, float, float, float] | None:
    """The lon/lat box (west, south, east, north) holding the middle ``share`` of the kept
    incidents in each direction, so that a few far-off points (a wrong coordinate that still
    passed validation, an incident in another town) do not make a city's map a province's.
    None when no incident is kept."""
    px = columns.px if mask is None else columns.px[mask]
    py = columns.py if mask is None else columns.py[mask]
    if len(px) == 0:
        return None
    tail = (1 - share) / 2
    (x0, x1), (y0, y1) = np.quantile(px, [tail, 1 - tail]), np.quantile(py, [tail, 1 - tail])
    (west, east), (north, south) = (
        v.tolist() for v in pixels_to_lonlat(np.array([x0, x1]), np.array([y0, y1]), 0)
    )
    return float(west), float(south), float(east), float(north)


def week_days(mondays: pd.DatetimeIndex, first: date, last: date) -> np.ndarray:
    """How many days of each week (given by its Monday) fall in ``first`` to ``last``
    (inclusive): 7 for a whole week, fewer for a week the period cuts, such as the week in
    progress on a live store. A weekly chart that draws a part week as a whole one shows a
    fall that is not there."""
    start = mondays.to_numpy(dtype="datetime64[D]")
    lo = np.maximum(start, np.datetime64(first, "D"))
    hi = np.minimum(start + np.timedelta64(6, "D"), np.datetime64(last, "D"))
    return np.clip((hi - lo).astype(np.int64) + 1, 0, 7)


def headline(columns: IncidentColumns, mask: np.ndarray | None) -> dict[str, object]:
    """Headline figures: incidents, agencies, first and last local day, outside boundaries."""
    n = int(mask.sum()) if mask is not None else len(columns)
    if n == 0:
        return {"incidents": 0, "agencies": 0, "first": None, "last": None, "outside": 0}
    day = columns.day if mask is None else columns.day[mask]
    agencies = counts_by(columns, mask, "agency")
    return {
        "incidents": n,
        "agencies": int((agencies > 0).sum()),
        "first": EPOCH + timedelta(days=int(day.min())),
        "last": EPOCH + timedelta(days=int(day.max())),
        "outside": int(counts_by(columns, mask, "precinct").get(OUTSIDE, 0)),
    }


def day_span(columns: IncidentColumns) -> tuple[date, date] | None:
    """First and last local day with any incident."""
    if len(columns) == 0:
        return None
    return (
        EPOCH + timedelta(days=int(columns.day.min())),
        EPOCH + timedelta(days=int(columns.day.max())),
    )


def unknown_values(columns: IncidentColumns, flt: IncidentFilter) -> dict[str, list[str]]:
    """Filter values that match nothing stored, by filter field (a typo filters everything out).

    Returns
    -------
    dict
        ``{field: [value, ...]}`` for every field with unknown values; empty when all match.
    """
    unknown = {}
    for name, column in FILTER_COLUMNS.items():
        known = set(columns.labels[column])
        if missing := [v for v in getattr(flt, name) if v not in known]:
            unknown[name] = missing
    return unknown
