"""Running a hotspot analysis on a store: grid, method, areas, summary and provenance.

The statistics live in :mod:`layers.analysis.grid`, :mod:`layers.analysis.hotspots` and
:mod:`layers.analysis.kde`; this
module chooses their inputs from a store and a filter, so the CLI and the dashboard run the
same analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.access.sight import Sight
from layers.access.suppression import disclose
from layers.analysis import figures
from layers.analysis.grid import (
    Grid,
    assign_cells,
    cell_counts,
    default_cell_size,
    make_grid,
    to_metric,
)
from layers.analysis.hotspots import HotspotError, emerging_hotspots, gi_star
from layers.analysis.kde import hotspot_mask, kde_hotspots, kde_surface, points_in_hotspots
from layers.settings import LOCAL_TZ, METRIC_CRS, WGS84
from layers.storage.filters import IncidentFilter, apply_filter
from layers.storage.join import OUTSIDE, assign_areas
from layers.storage.store import StoreSnapshot

Method = Literal["gistar", "kde", "emerging"]
METHODS: dict[str, str] = {
    "gistar": "Getis-Ord Gi* hot and cold spots",
    "kde": "Kernel density hotspots",
    "emerging": "Emerging hot spots",
}


@dataclass(frozen=True)
class HotspotParams:
    """How to run a hotspot analysis. ``None`` means "choose from the data".

    Attributes
    ----------
    method : {"gistar", "kde", "emerging"}
    cell_m : float, optional
        Grid cell size in metres (Gi* and emerging); a Moran's I peak search when None.
    shape : {"hex", "square"}
    area_share : float
        Share of the study area a KDE hotspot map covers (default 3 %).
    bandwidth_m : float, optional
        KDE bandwidth in metres; cross-validated when None.
    freq : {"M", "W"}
        Time step of the emerging hot spot analysis: months or weeks.
    study_area : {"ward", "precinct"}
        Which boundary layer's polygons, those holding any stored incident, form the area.
    """

    method: Method = "gistar"
    cell_m: float | None = None
    shape: Literal["hex", "square"] = "hex"
    area_share: float = 0.03
    bandwidth_m: float | None = None
    freq: Literal["M", "W"] = "M"
    study_area: Literal["ward", "precinct"] = "ward"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"`method` must be one of {', '.join(METHODS)}, not {self.method!r}.")
        if not 0 < self.area_share < 1:
            raise ValueError(f"`area_share` must be between 0 and 1, not {self.area_share}.")


@dataclass(frozen=True)
class HotspotResult:
    """A hotspot layer with what it means and where it came from."""

    method: Method
    layer: gpd.GeoDataFrame
    by_area: pd.DataFrame
    explanation: str
    parameters: dict[str, object] = field(default_factory=dict)
    incidents: int | None = 0  # None: hidden from this viewer (see layers.access.suppression)
    period: str = ""


def study_area(snapshot: StoreSnapshot, *, by: str = "ward") -> gpd.GeoDataFrame:
    """The polygons of one boundary layer that hold at least one stored incident.

    Using all stored incidents, not the filtered ones, keeps the area (and so every share of
    it) fixed while filters change. A provincial precinct layer is cut down to where the data
    is; a store with no incidents uses the whole layer.
    """
    areas = getattr(snapshot, f"{by}s")
    held = set(snapshot.incidents[by].astype(str).unique()) - {OUTSIDE}
    used = areas[areas["name"].isin(held)]
    return (used if not used.empty else areas)[["name", "geometry"]]


def analysis_grid(
    snapshot: StoreSnapshot, rows: pd.DataFrame, params: HotspotParams
) -> tuple[Grid, str]:
    """The grid for an analysis and why its cells have their size."""
    area = study_area(snapshot, by=params.study_area)
    if params.cell_m is not None:
        cell_m, why = float(params.cell_m), f"Cells of {params.cell_m:g} m, as chosen."
    else:
        cell_m, why = default_cell_size(rows["lon"].to_numpy(), rows["lat"].to_numpy(), area)
    return make_grid(area, cell_m=cell_m, shape=params.shape), why


def run_hotspots(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    params: HotspotParams,
    *,
    sight: Sight | None = None,
    scheduler: str | None = None,
) -> HotspotResult:
    """Run one hotspot analysis on the filtered incidents of a store, as ``sight`` allows.

    An analyst (``sight`` None, or a sight that holds nothing back) gets the analysis as
    asked. Anyone else gets Gi* or emerging hot spots on one fixed grid, square cells of the
    anonymous cell size over the wards holding incidents (whatever cell size, shape or study
    area was asked for: grids of other sizes would not nest, and laid over each other they
    would place incidents more finely), of the incidents the sight may count in cells, and
    only each cell's class (and its precinct and ward), hot cells per area and no counts. KDE
    surfaces, which centre a blob on a lone incident, are for analysts only.

    Parameters
    ----------
    snapshot : StoreSnapshot
    flt : IncidentFilter
    params : HotspotParams
    sight : Sight, optional
        What the viewer may see of ``flt``'s incidents (:func:`layers.access.sight.apply_policy`).
    scheduler : str, optional
        Assign incidents to grid cells and count them on a dask cluster: a scheduler address,
        or ``"local[:N]"`` (see :func:`layers.distributed.connect`). The result is the
        same.

    Returns
    -------
    HotspotResult
        The layer (in :data:`METRIC_CRS`, with ``precinct`` and ``ward`` of each cell or
        polygon), hot cells and incidents inside them per precinct and ward, and the reasoning
        behind the cell size or bandwidth.
    """
    if sight is not None:
        figures.check_taken_on(sight, snapshot.columns)
    if sight is None or sight.full:
        return _run_hotspots(snapshot, flt, params, scheduler=scheduler)
    if params.method == "kde":
        raise HotspotError(
            "Kernel density surfaces are for analysts: choose Gi* or emerging hot spots, "
            "which count incidents in anonymous cells."
        )
    cell_m = sight.anonymous_cell_m
    fixed = replace(params, cell_m=cell_m, shape="square", study_area="ward")
    result = _run_hotspots(
        snapshot, flt, fixed, scheduler=scheduler, keep=figures.rows(sight, "cell")
    )
    layer = result.layer
    layer = layer[[c for c in PUBLIC_HOTSPOT_COLUMNS if c in layer.columns] + [layer.geometry.name]]
    counted = {"total": figures.count(sight, figures.total, how="whole")}
    hidden = disclose(counted, sight.k)["total"] is None
    return replace(
        result,
        layer=layer,
        incidents=None if hidden else result.incidents,
        period="(not shown: too few incidents)" if hidden else result.period,
        by_area=result.by_area[["level", "area", "hot_cells"]],
        parameters={k: v for k, v in result.parameters.items() if k != "bandwidth_m"},
        explanation=f"Square cells of {cell_m:g} m, the same for every view, and only where "
        "the hot and cold spots are: incident counts are not shown, to protect victims.",
    )


def _run_hotspots(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    params: HotspotParams,
    *,
    scheduler: str | None = None,
    keep: np.ndarray | None = None,
) -> HotspotResult:
    """:func:`run_hotspots` as asked, on those of the store's incidents ``keep`` (a boolean
    mask in store order; None: all) allows."""
    incidents = snapshot.incidents if keep is None else snapshot.incidents[keep]
    rows = apply_filter(incidents, flt)
    if rows.empty:
        raise HotspotError("No incidents match the filters: widen them to find hotspots.")
    lon, lat = rows["lon"].to_numpy(), rows["lat"].to_numpy()
    parameters: dict[str, object] = {"study_area": f"{params.study_area}s holding incidents"}
    if params.method == "kde":
        area = study_area(snapshot, by=params.study_area)
        x, y = to_metric(lon, lat)
        surface = kde_surface(x, y, area, bandwidth_m=params.bandwidth_m)
        layer = kde_hotspots(surface, area_share=params.area_share)
        hot_features = np.ones(len(layer), dtype=bool)
        inside = points_in_hotspots(
            surface, hotspot_mask(surface, area_share=params.area_share), x, y
        )
        explanation = surface.reason
        parameters |= {"bandwidth_m": surface.bandwidth_m, "pixel_m": surface.pixel_m,
                       "area_share": params.area_share, "kernel": "Gaussian"}  # fmt: skip
    else:
        grid, explanation = analysis_grid(snapshot, rows, params)
        ids, counts = _cells_and_counts(grid, lon, lat, scheduler=scheduler)
        if params.method == "gistar":
            stats = gi_star(grid, counts)
            hot = stats["gi_bin"].to_numpy() > 0
            parameters |= {"neighbourhood": f"distance band {1.5 * grid.cell_m:g} m (binary, "
                           "with the cell itself)", "p_values": "analytic (normal)",
                           "correction": "Benjamini-Hochberg FDR"}  # fmt: skip
        else:
            stats = emerging_hotspots(grid, ids, rows["occurred_at"], freq=params.freq)
            hot = stats["category"].str.contains("Hot Spot").to_numpy()
            parameters |= {"time_step": {"M": "month", "W": "week"}[params.freq],
                           "trend": "Mann-Kendall on Gi* z", "alpha": 0.05,
                           "correction": "Benjamini-Hochberg FDR per step"}  # fmt: skip
        layer = grid.cells.join(stats)
        inside = (ids >= 0) & hot[np.clip(ids, 0, None)]
        hot_features = hot
        parameters |= {"cell_m": grid.cell_m, "cell_shape": grid.shape}
    layer = _with_areas(layer, snapshot)
    local = rows["occurred_at"].dt.tz_convert(LOCAL_TZ)
    return HotspotResult(
        method=params.method,
        layer=layer,
        by_area=_by_area(rows, inside, layer, hot_features),
        explanation=explanation,
        parameters=parameters,
        incidents=len(rows),
        period=f"{local.min():%Y-%m-%d} to {local.max():%Y-%m-%d}",
    )


# What a viewer without points gets of a hotspot layer: where the hot and cold cells are, not
# the statistics behind them (a Gi* z-score is linear in its neighbourhood's counts, so the
# counts could be solved for).
PUBLIC_HOTSPOT_COLUMNS = ("gi_bin", "category", "precinct", "ward")


def _cells_and_counts(
    grid: Grid, lon: np.ndarray, lat: np.ndarray, *, scheduler: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """The cell of each incident and the incidents per cell, here or on a dask cluster."""
    if scheduler is None:
        ids = assign_cells(grid, lon, lat)
        return ids, cell_counts(grid, ids)
    # Imported only when asked for: dask takes a second to import, and most runs never need it.
    from layers import distributed

    with distributed.connect(scheduler) as client:
        return distributed.grid_cells(client, grid, lon, lat)


def _with_areas(layer: gpd.GeoDataFrame, snapshot: StoreSnapshot) -> gpd.GeoDataFrame:
    """Name the precinct and ward of each cell or polygon, by a point inside it."""
    if layer.empty:
        return layer.assign(precinct=pd.Series(dtype=object), ward=pd.Series(dtype=object))
    points = layer.geometry.representative_point().to_crs(WGS84)
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    return layer.assign(
        precinct=assign_areas(lon, lat, snapshot.precincts),
        ward=assign_areas(lon, lat, snapshot.wards),
    ).set_crs(METRIC_CRS, allow_override=True)


def _by_area(
    rows: pd.DataFrame, inside: np.ndarray, layer: gpd.GeoDataFrame, hot_features: np.ndarray
) -> pd.DataFrame:
    """Per precinct and per ward: hot cells (or hotspot polygons), incidents, those inside."""
    frames = []
    for level in ("precinct", "ward"):
        table = pd.DataFrame({"area": rows[level].astype(str).to_numpy(), "hot": inside})
        grouped = table.groupby("area", sort=False)["hot"].agg(["size", "sum"])
        hot_cells = layer.loc[hot_features, level].astype(str).value_counts()
        frames.append(
            pd.DataFrame(
                {
                    "level": level,
                    "area": grouped.index,
                    "hot_cells": hot_cells.reindex(grouped.index, fill_value=0).to_numpy(),
                    "incidents": grouped["size"].to_numpy(),
                    "in_hotspots": grouped["sum"].to_numpy().astype(int),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["share_in_hotspots"] = (out["in_hotspots"] / out["incidents"]).round(3)
    return out.sort_values(["level", "in_hotspots"], ascending=[True, False], ignore_index=True)
