"""What a map of filtered incidents needs: area counts, heat cells, centre and zoom.

Both the dashboard and ``python -m layers map`` build their maps from a :class:`MapData`, so
the standalone file and the live page show the same picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from layers.aggregate import areas_with_counts, fit_zoom, heat_cells
from layers.filters import IncidentFilter, apply_filter
from layers.store import StoreSnapshot

BOUNDARY_COLUMNS = {"precinct": "precincts", "ward": "wards"}


@dataclass(frozen=True)
class MapData:
    """Aggregated inputs for one map view."""

    areas: gpd.GeoDataFrame
    heat: pd.DataFrame
    center: tuple[float, float]
    zoom: int
    incidents: int


def prepare_map(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    *,
    boundary: str = "precinct",
    zoom: int | None = None,
    filtered: pd.DataFrame | None = None,
) -> MapData:
    """Aggregate a store's filtered incidents for a map.

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
    filtered : pandas.DataFrame, optional
        The already-filtered incidents, when the caller has them, to avoid filtering twice.

    Returns
    -------
    MapData
    """
    if boundary not in BOUNDARY_COLUMNS:
        raise ValueError(f"`boundary` must be 'precinct' or 'ward', not {boundary!r}.")
    areas = getattr(snapshot, BOUNDARY_COLUMNS[boundary])
    rows = filtered if filtered is not None else apply_filter(snapshot.incidents, flt)
    minx, miny, maxx, maxy = areas.total_bounds
    zoom = zoom if zoom is not None else fit_zoom(areas.total_bounds)
    heat = heat_cells(rows["lon"].to_numpy(), rows["lat"].to_numpy(), zoom=zoom)
    return MapData(
        areas=areas_with_counts(areas, rows, by=boundary),
        heat=heat,
        center=((miny + maxy) / 2, (minx + maxx) / 2),
        zoom=zoom,
        incidents=len(rows),
    )
