"""A playback's maps: each frame's heat and areas, all on one fixed colour scale.

:mod:`layers.analysis.playback` cuts a range into frames and counts each; this module turns a
frame into what its map shows (:func:`prepare_frame`, as :func:`layers.maps.view.prepare_map`
does for a filter) and finds the one heat colour scale every frame is drawn on
(:func:`playback_scale`). The scale's top is the busiest place of any frame at the zoom, so a
colour means the same density in every frame: a week that looks redder had more incidents
there, not a quieter city around it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.access.suppression import disclose
from layers.analysis.playback import Frame, Timeline, frame_figures, frame_heat
from layers.maps.heat import page_points, peak_density
from layers.maps.view import MAX_HEAT_CELLS, count_text, display_areas
from layers.maps.webmap import HEAT_RADIUS, choropleth_classes
from layers.storage.columnar import busiest
from layers.storage.store import StoreSnapshot


@dataclass(frozen=True)
class HeatScale:
    """The heat colour scale of a whole playback at one zoom.

    Attributes
    ----------
    top : float
        Incidents per km² drawn in the top colour: the peak density of the busiest frame.
    radius : int
        The heat kernel's radius in screen pixels (wider for anonymous cells, as on the map).
    zoom : int
    busiest : int or None
        The frame whose peak is the top (None when no frame has any heat).
    """

    top: float
    radius: int
    zoom: int
    busiest: int | None


def playback_scale(line: Timeline, *, zoom: int) -> HeatScale:
    """One heat colour scale for every frame of ``line`` at ``zoom``: the highest of the
    frames' peak densities (:func:`layers.maps.heat.peak_density`), each frame's heat as the
    viewer is shown it (suppressed cells left out), everywhere, not only in a view."""
    k = line.sight.k
    radius, top, at = HEAT_RADIUS, 0.0, None
    # Busiest frames first: once a high peak is found, most other frames' windows are known
    # not to beat it without computing their surface.
    sizes = np.diff(line.bounds)
    for index in np.argsort(-sizes, kind="stable"):
        if sizes[index] == 0:
            break
        cells = disclose({"heat": frame_heat(line, int(index), zoom=zoom)}, k)["heat"]
        # Anonymous cells are wider than the kernel at close zooms: drawn wider to match
        # (layers.maps.view.view_heat). The width depends on the zoom and the rules only.
        radius = max(radius, math.ceil(cells.attrs.get("anonymous_cell_px", 0) / 0.9))
        peak = peak_density(page_points(cells), zoom=zoom, sigma_px=radius / 2, above=top)
        if peak > top:
            top, at = peak, int(index)
    return HeatScale(top=top, radius=radius, zoom=zoom, busiest=at)


def histogram_table(line: Timeline, shown: pd.Series) -> pd.DataFrame:
    """The histogram's table: one row per frame with ``start``, ``end``, ``label``,
    ``note``, ``days``, ``whole`` and ``incidents`` (``shown``, the disclosed
    :func:`layers.analysis.playback.histogram_figure`; NaN where hidden)."""
    frames: Sequence[Frame] = line.frames
    return pd.DataFrame(
        {
            "start": pd.to_datetime([f.start for f in frames]),
            "end": pd.to_datetime([f.end for f in frames]),
            "label": [f.label for f in frames],
            "note": [f.note for f in frames],
            "days": [f.days for f in frames],
            "whole": [f.whole for f in frames],
            "incidents": shown.to_numpy(dtype=float),
        }
    )


@dataclass(frozen=True)
class FrameMap:
    """What one frame's map and figures show.

    Attributes
    ----------
    index : int
    frame : Frame
    areas : geopandas.GeoDataFrame
        ``name``, ``geometry``, ``count`` (NaN where suppressed) and, for a viewer with
        suppression, ``count_text``.
    heat : pandas.DataFrame
        The frame's heat cells near the view.
    top : pandas.DataFrame
        The busiest areas shown (``busiest``'s table).
    zoom : int
    """

    index: int
    frame: Frame
    areas: gpd.GeoDataFrame
    heat: pd.DataFrame
    top: pd.DataFrame
    zoom: int


def prepare_frame(
    snapshot: StoreSnapshot,
    line: Timeline,
    index: int,
    *,
    boundary: str,
    zoom: int,
    bounds: tuple[float, float, float, float] | None = None,
    n_top: int = 10,
) -> FrameMap:
    """Frame ``index``'s areas, heat near ``bounds`` and busiest areas, suppressed once
    together as a map's are."""
    areas = display_areas(snapshot, boundary)
    counted = {
        **frame_figures(line, index, boundary=boundary, names=list(areas["name"])),
        "heat": frame_heat(line, index, zoom=zoom, bounds=bounds, max_cells=MAX_HEAT_CELLS),
    }
    shown = disclose(counted, line.sight.k)
    drawn = areas[["name", "geometry"]].assign(
        count=shown["areas"].reindex(areas["name"]).to_numpy()
    )
    if not line.sight.full:
        drawn["count_text"] = count_text(drawn["count"], line.sight.k)
    top = busiest(shown["areas"], by=boundary, total=shown["area_total"], n=n_top)
    return FrameMap(index, line.frames[index], drawn, shown["heat"], top, zoom)


def playback_area_classes(
    snapshot: StoreSnapshot, line: Timeline, *, boundary: str
) -> list[tuple[int, int]]:
    """The choropleth classes of every frame's area counts together, as the viewer is shown
    them (hidden counts left out): areas are coloured on one scale in every frame."""
    names = list(display_areas(snapshot, boundary)["name"])
    shown = [
        disclose(frame_figures(line, index, boundary=boundary, names=names), line.sight.k)[
            "areas"
        ].reindex(names)
        for index in range(len(line))
    ]
    counts = pd.concat(shown, ignore_index=True) if shown else pd.Series([], dtype=float)
    return choropleth_classes(counts.dropna().to_numpy())
