"""What a map of filtered incidents needs: area counts, heat cells, centre and zoom.

Both the dashboard and ``python -m layers map`` build their maps from a :class:`MapData`, so
the standalone file and the live page show the same picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.access.policy import Policy
from layers.access.sight import Sight, apply_policy
from layers.access.suppression import Counted, disclose
from layers.analysis.figures import check_taken_on, count, heat_figure, total
from layers.maps.heat import page_points, peak_density
from layers.maps.webmap import HEAT_RADIUS, display_geometry
from layers.storage.columnar import area_counts, fit_zoom, select
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot

# At most this many heat cells on the page (about 27 bytes each): past it the cells double in
# size, so the page stays under about a megabyte whatever the zoom and the number of incidents.
MAX_HEAT_CELLS = 40_000

BOUNDARY_COLUMNS = {"precinct": "precincts", "ward": "wards"}


@dataclass(frozen=True)
class MapData:
    """Aggregated inputs for one map view."""

    areas: gpd.GeoDataFrame
    heat: pd.DataFrame
    heat_scale: float  # the top of the heat colour scale, incidents per km² (see layers.maps.heat)
    heat_radius: int
    center: tuple[float, float]
    zoom: int
    incidents: int | None  # None: hidden from this viewer (see layers.access.suppression)


def prepare_map(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    *,
    boundary: str = "precinct",
    zoom: int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    mask: np.ndarray | None = None,
    policy: Policy | None = None,
    sight: Sight | None = None,
) -> MapData:
    """Aggregate a store's filtered incidents for a map.

    Runs on the store's coded columns (:mod:`layers.storage.columnar`): the cost is a few passes
    over
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
    policy : Policy, optional
        Who is looking: a viewer who may not see every incident gets the aggregates of
        :mod:`layers.access.sight` (anonymous cells, k-suppression, sensitive categories only at
        their level). None shows everything, as to an analyst.
    sight : Sight, optional
        The access step already taken for ``flt`` and the viewer
        (:func:`layers.access.sight.apply_policy`), when the caller shares it with other
        figures; ``mask`` and ``policy`` are then not used.

    Returns
    -------
    MapData
    """
    if boundary not in BOUNDARY_COLUMNS:
        raise ValueError(f"`boundary` must be 'precinct' or 'ward', not {boundary!r}.")
    areas = display_areas(snapshot, boundary)
    columns = snapshot.columns
    if sight is None:
        if (mask is None and not flt.is_empty) or (mask is not None and len(mask) != len(columns)):
            mask = select(columns, flt)
        sight = apply_policy(policy, columns, mask, flt)  # the access step: once per map
    else:
        check_taken_on(sight, columns)
    minx, miny, maxx, maxy = areas.total_bounds
    zoom = zoom if zoom is not None else fit_zoom(areas.total_bounds)
    by_area = partial(area_counts, by=boundary, names=areas["name"])
    counted = {
        "areas": count(sight, by_area, level=boundary),
        "total": count(sight, total, how="whole"),
        **heat_figures(sight, zoom=zoom, bounds=bounds),
    }
    shown = disclose(counted, sight.k)
    heat = view_heat(shown, zoom=zoom)
    drawn = areas[["name", "geometry"]].assign(
        count=shown["areas"].reindex(areas["name"]).to_numpy()
    )
    if not sight.full:
        drawn["count_text"] = count_text(drawn["count"], sight.k)
    return MapData(
        areas=drawn,
        heat=heat.cells,
        heat_scale=heat.top,
        heat_radius=heat.radius,
        center=((miny + maxy) / 2, (minx + maxx) / 2),
        zoom=zoom,
        incidents=shown["total"],
    )


@dataclass(frozen=True)
class ViewHeat:
    """The heat layer of one view: cells, the top of its colour scale, its kernel radius."""

    cells: pd.DataFrame
    top: float  # incidents per km² (see layers.maps.heat)
    radius: int  # px (see layers.maps.webmap.heat_layer)


def heat_figures(
    sight: Sight, *, zoom: int, bounds: tuple[float, float, float, float] | None = None
) -> dict[str, Counted]:
    """The heat cells near a view (``"heat"``), and, when ``bounds`` leaves some out, every
    cell at the same size (``"everywhere"``), which the colour scale is read from."""
    near = heat_figure(sight, zoom=zoom, bounds=bounds, max_cells=MAX_HEAT_CELLS)
    if bounds is None:
        return {"heat": near}
    everywhere = heat_figure(sight, zoom=zoom, cell_px=near.value.attrs["cell_px"])
    return {"heat": near, "everywhere": everywhere}


def view_heat(shown: dict[str, pd.DataFrame], *, zoom: int) -> ViewHeat:
    """The heat layer of disclosed :func:`heat_figures`, and the scale to draw it on.

    The top of the colour scale is the peak density of all the filtered incidents the viewer
    may see, at ``zoom``, in view or not (:func:`layers.maps.heat.peak_density` of every
    cell): it does not depend on the view's bounds, so every window and every part of the city
    is drawn on the same scale, the one a map of every cell would have.
    """
    cells = shown["heat"]
    # Anonymous cells (see layers.access.sight) are wider than the heat radius at a close
    # zoom: drawn with a radius to match, they make a surface instead of scattered dots.
    anonymous_px = cells.attrs.get("anonymous_cell_px", 0)
    radius = max(HEAT_RADIUS, math.ceil(anonymous_px / 0.9))
    everywhere = shown.get("everywhere", cells)
    top = peak_density(page_points(everywhere), zoom=zoom, sigma_px=radius / 2)
    return ViewHeat(cells=cells, top=top, radius=radius)


def count_text(counts: pd.Series, k: int) -> pd.Series:
    """Counts as shown beside suppressed ones: ``1,234``, or ``fewer than 3`` for NaN."""
    return counts.map(lambda c: f"fewer than {k}" if pd.isna(c) else f"{int(c):,}")


def display_areas(snapshot: StoreSnapshot, boundary: str) -> gpd.GeoDataFrame:
    """A store's boundaries simplified for drawing, once per set of boundaries."""
    cache = snapshot.display_cache
    if boundary not in cache:
        cache[boundary] = display_geometry(getattr(snapshot, BOUNDARY_COLUMNS[boundary]))
    return cache[boundary]
