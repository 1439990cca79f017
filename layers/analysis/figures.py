"""Every figure the pages show, as ordinary aggregations over what a viewer may see.

The access step (:func:`layers.access.sight.apply_policy`) gives a
:class:`~layers.access.sight.Sight`: for each incident, the finest level this viewer may
count it at. A figure is counted at a level (``"cell"``, ``"ward"``, ``"precinct"`` or
``"city"``, and never finer than the filter's own area) by :func:`count`: the aggregation
runs on the incidents the viewer may count there, and again on those of them the viewer does
not see in full. :func:`layers.access.suppression.disclose` then hides what is too small, once,
for every figure together. Nothing here knows a role: an analyst's sight simply holds
nothing back.

A new figure is one more :func:`count`: it is suppressed like every other, with no change
to the access code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from layers.access.policy import LEVELS, Level
from layers.access.sight import POINT, Sight
from layers.access.suppression import Counted, How, disclose
from layers.analysis.compstat import PERIODS, compare_periods, hour_by_weekday
from layers.storage.columnar import (
    HEAT_CELL_PX,
    IncidentColumns,
    area_counts,
    busiest,
    counts_by,
    headline,
    heat_grid,
    weekly_counts,
)
from layers.storage.join import OUTSIDE

Aggregation = Callable[[IncidentColumns, "np.ndarray | None"], Any]


def rows(sight: Sight, level: Level) -> np.ndarray | None:
    """The incidents ``sight`` may count in areas of ``level`` (None: every incident)."""
    if sight.finest is None:
        return sight.mask
    return sight.finest <= LEVELS.index(level)


def others(sight: Sight, level: Level) -> np.ndarray:
    """Of :func:`rows`, those the viewer does not see in full."""
    finest = sight.finest
    if finest is None:
        return np.zeros(len(sight.columns), dtype=bool)
    return (finest > POINT) & (finest <= LEVELS.index(level))


def level_of(sight: Sight, level: Level) -> Level:
    """The level a figure by ``level`` is really at: the finer of it and the filter's area.

    Precinct counts under a ward filter are counts of a ward's piece of each precinct, so
    they are judged as ward counts.
    """
    return LEVELS[min(LEVELS.index(level), LEVELS.index(sight.level))]


def check_taken_on(sight: Sight, columns: IncidentColumns) -> None:
    """Refuse a sight taken on another version of the store's incidents than ``columns``."""
    if len(sight.columns) != len(columns):
        raise ValueError("`sight` was taken on another version of the store's incidents.")


def count(
    sight: Sight,
    aggregate: Aggregation,
    *,
    level: Level = "city",
    how: How = "hide",
    **spec: Any,
) -> Counted:
    """Count one figure for ``sight``: ``aggregate(columns, mask)`` at ``level``.

    A city-wide figure is shown as it is; a figure at a finer level, or under an area
    filter, carries its basis, for :func:`~layers.access.suppression.disclose` to judge.
    ``spec`` is passed on to :class:`~layers.access.suppression.Counted` (``keep``, ``key``,
    ``apart``, ``derived``).
    """
    level = level_of(sight, level)
    value = aggregate(sight.columns, rows(sight, level))
    if sight.full or level == "city" or how == "none":
        return Counted(value, None, how, **spec)
    return Counted(value, aggregate(sight.columns, others(sight, level)), how, **spec)


def total(columns: IncidentColumns, mask: np.ndarray | None) -> int:
    """How many incidents ``mask`` keeps."""
    return len(columns) if mask is None else int(mask.sum())


def outside(columns: IncidentColumns, mask: np.ndarray | None) -> int:
    """How many incidents ``mask`` keeps outside every precinct."""
    return int(counts_by(columns, mask, "precinct").get(OUTSIDE, 0))


def heat_figure(
    sight: Sight,
    *,
    zoom: int,
    cell_px: float = HEAT_CELL_PX,
    bounds: Any = None,
    max_cells: int | None = None,
    bin_px: float | None = None,
) -> Counted:
    """Heat cells (see :func:`layers.storage.columnar.heat_grid`) for ``sight``.

    Incidents the viewer sees in full get the usual ``cell_px`` cells. The rest that may be
    counted in cells are counted on the anonymous grid (cells ``2 ** -anonymous_shift`` zoom-0
    pixels wide, whatever the zoom); suppression drops those cells holding fewer than ``k``.
    ``attrs["anonymous_cell_px"]`` is the anonymous cell edge at ``zoom``, and ``attrs["k"]``
    the threshold: a legend of this heat prints no value below it.
    """
    grid = partial(heat_grid, sight.columns, zoom=zoom, bounds=bounds, max_cells=max_cells)
    if sight.full:
        return Counted(grid(sight.mask, cell_px=cell_px, bin_px=bin_px))
    own = sight.finest == POINT
    coarse_px = max(cell_px, 2.0 ** (zoom - sight.anonymous_shift))
    parts, bases, busiest = [], [], 0
    if own.any():
        fine = grid(own, cell_px=cell_px, bin_px=bin_px)
        parts.append(fine)
        bases.append(np.full(len(fine), np.nan))
        busiest = fine.attrs.get("busiest_bin", 0)
    coarse_bin = None if bin_px is None else max(bin_px, coarse_px)
    coarse = grid(others(sight, "cell"), cell_px=coarse_px, bin_px=coarse_bin)
    busiest = max(busiest, coarse.attrs.get("busiest_bin", 0))
    parts.append(coarse)
    bases.append(coarse["weight"].to_numpy(dtype=float))
    # Heaviest first, ties in the order above (own cells first): numpy, not pandas, since a
    # playback makes this for every frame.
    weight = np.concatenate([part["weight"].to_numpy() for part in parts])
    order = np.argsort(-weight, kind="stable")
    cells = pd.DataFrame({
        column: np.concatenate([part[column].to_numpy() for part in parts])[order]
        for column in ("lat", "lon", "weight")
    })  # fmt: skip
    basis = pd.Series(np.concatenate(bases)[order], name="others")
    cells.attrs = {"cell_px": cell_px, "anonymous_cell_px": coarse.attrs["cell_px"], "k": sight.k}
    if bin_px is not None:
        cells.attrs["busiest_bin"] = busiest
    return Counted(cells, basis, "drop")


def side_figures(sight: Sight, *, boundary: str) -> dict[str, Counted]:
    """The figures beside the map: headline, areas by ``boundary``, weekly counts by agency."""
    # Outside boundaries is counted as an area of its own (area_counts adds it).
    names = [name for name in sight.columns.labels[boundary] if name != OUTSIDE]
    return {
        "headline": count(sight, headline, how="none"),
        "total": count(sight, total, how="whole"),
        "outside": count(sight, outside, level="precinct", how="whole"),
        "areas": count(sight, partial(area_counts, by=boundary, names=names), level=boundary),
        "area_total": count(sight, total, level=boundary, how="none"),
        "weekly": count(sight, partial(weekly_counts, by="agency"), keep=sight.keep),
    }


def new_figure(sight: Sight, fresh: np.ndarray) -> Counted:
    """How many incidents of ``sight`` are new (``fresh``, a mask over its incidents), counted
    as the headline's total is: the live map's "N new since the meeting started"."""
    if len(fresh) != len(sight.columns):
        raise ValueError("`fresh` must hold one value per incident of the sight's store.")

    def new(columns: IncidentColumns, mask: np.ndarray | None) -> int:
        return total(columns, fresh if mask is None else mask & fresh)

    return count(sight, new, how="whole")


def side_view(shown: dict[str, Any], *, boundary: str, n: int = 10) -> dict[str, object]:
    """Disclosed :func:`side_figures` as the page shows them: a headline (all None, and
    ``hidden``, when the total is hidden), the ``n`` busiest areas shown, weekly counts."""
    head = dict(shown["headline"])
    hidden = shown["total"] is None
    if hidden:
        head.update(incidents=None, agencies=None, first=None, last=None, outside=None)
    else:
        # An area count like any other: counted, and judged, at precinct level (the same
        # number the table of areas shows for it).
        head["outside"] = shown["outside"]
    top = busiest(shown["areas"], by=boundary, total=shown["area_total"], n=n)
    return {"headline": head, "hidden": hidden, "top": top, "weekly": shown["weekly"]}


def areas_shown(sight: Sight, *, by: str) -> list[str]:
    """The areas of ``by`` (precincts or wards, not outside them) where the viewer is shown
    incidents: counted at that level, and not suppressed. A meeting's rotation steps through
    these; stepping through areas with any incident would tell which hold a hidden few."""
    counted = {"areas": count(sight, partial(counts_by, column=by), level=by)}  # type: ignore[arg-type]
    counts = disclose(counted, sight.k)["areas"]
    return [str(name) for name, n in counts.items() if n > 0 and name != OUTSIDE]


def review_figures(sight: Sight, *, by: str, today: date) -> dict[str, Counted]:
    """The CompStat review by ``by`` (period comparison, hour-by-weekday grid of the last 28
    days, weekly counts); ``sight`` is of the filter without its dates."""
    level: Level = by if by in ("precinct", "ward") else "city"  # type: ignore[assignment]
    since = today - timedelta(days=27)
    counts = tuple(c for p in PERIODS for c in (p, f"{p}_prev"))
    derived = {f"{p}_{d}": (p, f"{p}_prev") for p in PERIODS for d in ("change", "pct", "p")}
    periods = partial(compare_periods, by=by, today=today)
    keep = sight.keep if by == "agency" else ()
    return {
        "table": count(
            sight, periods, level=level, how="columns", key=by, apart=counts, derived=derived
        ),
        "grid": count(sight, partial(hour_by_weekday, since=since, until=today), level=level),
        "weekly": count(sight, partial(weekly_counts, by=by), level=level, keep=keep),
    }
