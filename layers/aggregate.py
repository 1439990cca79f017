"""Aggregating filtered incidents: heat cells, counts per area, trends and headline figures.

These work on a frame of incidents (a filtered export, an analysis); the dashboard's fast path
does the same on coded columns in :mod:`layers.columnar`. The browser never receives incident
points: the heat layer gets one weighted point per occupied grid cell, at the cell centre, with
cells smaller than the heat radius so the picture matches a heat map of every point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.columnar import HEAT_CELL_PX, cells_of_pixels, mercator_pixels
from layers.join import OUTSIDE
from layers.settings import LOCAL_TZ


def heat_cells(
    lon: np.ndarray, lat: np.ndarray, *, zoom: int, cell_px: float = HEAT_CELL_PX
) -> pd.DataFrame:
    """Aggregate points to square cells of ``cell_px`` screen pixels at ``zoom``.

    Each occupied cell becomes one point at the cell's centre, weighted by its number of
    incidents (see :func:`layers.columnar.heat_grid`, the same cells for a store's coded
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


def counts_by_area(incidents: pd.DataFrame, *, by: str, names: pd.Series) -> pd.Series:
    """Incident count for every area, zero where none; plus "Outside boundaries" when any.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Filtered incidents with a ``precinct`` or ``ward`` column.
    by : {"precinct", "ward"}
        The area column to count by.
    names : pandas.Series
        Every area's name, in display order.

    Returns
    -------
    pandas.Series
        Counts indexed by area name, named ``count``.
    """
    counts = incidents[by].astype(object).value_counts()
    index = list(names)
    if counts.get(OUTSIDE, 0):
        index.append(OUTSIDE)
    return counts.reindex(index, fill_value=0).astype(np.int64).rename("count")


def areas_with_counts(
    areas: gpd.GeoDataFrame, incidents: pd.DataFrame, *, by: str
) -> gpd.GeoDataFrame:
    """Boundary polygons with a ``count`` column of filtered incidents."""
    counts = counts_by_area(incidents, by=by, names=areas["name"])
    return areas[["name", "geometry"]].assign(count=counts.reindex(areas["name"]).to_numpy())


def top_areas(incidents: pd.DataFrame, *, by: str, n: int = 10) -> pd.DataFrame:
    """The ``n`` areas with most incidents, with their count and share of the total."""
    counts = incidents[by].astype(object).value_counts().head(n)
    total = max(len(incidents), 1)
    return pd.DataFrame(
        {by: counts.index, "incidents": counts.to_numpy(), "share": counts.to_numpy() / total}
    )


def weekly_counts(incidents: pd.DataFrame, *, by: str = "agency") -> pd.DataFrame:
    """Incidents per local week (starting Monday) and ``by`` value, weeks as rows.

    Returns
    -------
    pandas.DataFrame
        Index ``week`` (local date of the Monday), one column per ``by`` value, zero-filled.
    """
    if incidents.empty:
        return pd.DataFrame(index=pd.Index([], name="week"))
    local = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    week = local.dt.to_period("W-SUN").dt.start_time.rename("week")
    table = pd.crosstab(week, incidents[by].astype(object))
    full = pd.date_range(table.index.min(), table.index.max(), freq="7D", name="week")
    return table.reindex(full, fill_value=0)


def headline(incidents: pd.DataFrame) -> dict[str, object]:
    """Headline figures for the filtered incidents."""
    if incidents.empty:
        return {"incidents": 0, "agencies": 0, "first": None, "last": None, "outside": 0}
    local = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ)
    outside = int((incidents["precinct"].astype(object) == OUTSIDE).sum())
    return {
        "incidents": len(incidents),
        "agencies": int(incidents["agency"].astype(object).nunique()),
        "first": local.min(),
        "last": local.max(),
        "outside": outside,
    }
