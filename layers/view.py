"""What a map of filtered incidents needs: area counts, heat cells, centre and zoom.

Both the dashboard and ``python -m layers map`` build their maps from a :class:`MapData`, so
the standalone file and the live page show the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.columnar import area_counts, fit_zoom, heat_grid, select
from layers.filters import IncidentFilter
from layers.store import StoreSnapshot
from layers.webmap import HEAT_BIN_PX, display_geometry

# At most this many heat cells on the page (about 27 bytes each): past it the cells double in
# size, so the page stays under about a megabyte whatever the zoom and the number of incidents.
MAX_HEAT_CELLS = 40_000

BOUNDARY_COLUMNS = {"precinct": "precincts", "ward": "wards"}


@dataclass(frozen=True)
class MapData:
    """Aggregated inputs for one map view."""

    areas: gpd.GeoDataFrame
    heat: pd.DataFrame
    heat_scale: float
    center: tuple[float, float]
    zoom: int
    incidents: int


def prepare_map(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    *,
    boundary: str = "precinct",
    zoom: int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    mask: np.ndarray | None = None,
) -> MapData:
    """Aggregate a store's filtered incidents for a map.

    Runs on the store's coded columns (:mod:`layers.columnar`): the cost is a few passes over
    small arrays, and what it returns is bounded by the number of areas and of screen cells,
    not by the number of incidents.

    Parameters
    ----------
    snapshot : StoreSnapshot
        The loaded store.
    flt : IncidentFilter
        Which incidents to show.
    boundary : {"precinct", "ward"}
        The boundary layer to draw and count by.
    zoom : int, optional
        Map zoom the heat cells are sized for; fits the boundaries when not given.
    bounds : (west, south, east, north), optional
        Only make heat cells in this lon/lat box (the viewport and a margin).
    mask : numpy.ndarray, optional
        ``select(snapshot.columns, flt)``, when the caller already has it.

    Returns
    -------
    MapData
    """
    if boundary not in BOUNDARY_COLUMNS:
        raise ValueError(f"`boundary` must be 'precinct' or 'ward', not {boundary!r}.")
    areas = _display_areas(snapshot, boundary)
    columns = snapshot.columns
    if (mask is None and not flt.is_empty) or (mask is not None and len(mask) != len(columns)):
        mask = select(columns, flt)
    minx, miny, maxx, maxy = areas.total_bounds
    zoom = zoom if zoom is not None else fit_zoom(areas.total_bounds)
    counts = area_counts(columns, mask, by=boundary, names=areas["name"])
    # The colour scale is the busiest heat bin among all the filtered incidents, not only those
    # in view: the scale a heat map of every incident would have (see webmap.heat_layer).
    heat = heat_grid(
        columns, mask, zoom=zoom, bounds=bounds, max_cells=MAX_HEAT_CELLS, bin_px=HEAT_BIN_PX
    )
    return MapData(
        areas=areas[["name", "geometry"]].assign(count=counts.reindex(areas["name"]).to_numpy()),
        heat=heat,
        heat_scale=float(max(heat.attrs["busiest_bin"], 1)),
        center=((miny + maxy) / 2, (minx + maxx) / 2),
        zoom=zoom,
        incidents=int(mask.sum()) if mask is not None else len(columns),
    )


def _display_areas(snapshot: StoreSnapshot, boundary: str) -> gpd.GeoDataFrame:
    """A store's boundaries simplified for drawing, once per set of boundaries."""
    cache = snapshot.display_cache
    if boundary not in cache:
        cache[boundary] = display_geometry(getattr(snapshot, BOUNDARY_COLUMNS[boundary]))
    return cache[boundary]
