"""How predictive is a hotspot map? Fit on incidents before a date, score on those after.

Every method picks hotspots covering (about) the same share of the study area, so their
figures compare like for like:

- **hit rate**: share of the later incidents that fall inside the hotspots;
- **PAI**, the Predictive Accuracy Index (Chainey, Tompson & Uhlig 2008): hit rate divided
  by the share of the area the hotspots cover; 1 is no better than chance;
- **RRI**, the Recapture Rate Index (Levine 2008): ``(n_after / n_before) / (N_after /
  N_before)`` for incidents inside (n) and everywhere (N): above 1 the hotspots gained a
  larger share of incidents, below 1 they lost it.

Methods: Gi* (cells ranked by their z-score on the earlier incidents), KDE (the densest
pixels), and two baselines: the top cells by count over the whole earlier period, and the
top cells by count in the previous period (as long as the scoring period, just before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from layers.analysis import HotspotParams, analysis_grid, study_area
from layers.filters import IncidentFilter, apply_filter
from layers.grid import assign_cells, cell_counts, to_metric
from layers.hotspots import HotspotError, gi_star
from layers.kde import hotspot_mask, kde_surface, points_in_hotspots
from layers.settings import LOCAL_TZ
from layers.store import StoreSnapshot

METHOD_LABELS = {
    "gistar": "Gi* (top z cells)",
    "kde": "KDE",
    "top_cells": "Baseline: top cells by count",
    "previous_period": "Baseline: previous period's hot cells",
}


@dataclass(frozen=True)
class Split:
    """The earlier (fit) and later (score) incidents, as metric coordinates."""

    before: pd.DataFrame
    after: pd.DataFrame
    previous: pd.DataFrame


def split_incidents(rows: pd.DataFrame, split: date) -> Split:
    """Incidents before the local day ``split``, from it on, and the previous period.

    The previous period is as long as the scoring period and ends where it starts.
    """
    local = rows["occurred_at"].dt.tz_convert(LOCAL_TZ)
    start = pd.Timestamp(datetime.combine(split, time.min)).tz_localize(LOCAL_TZ)
    before, after = rows.loc[(local < start).to_numpy()], rows.loc[(local >= start).to_numpy()]
    if before.empty or after.empty:
        raise HotspotError(
            f"The split {split} leaves no incidents on one side; choose a date between "
            f"{local.min():%Y-%m-%d} and {local.max():%Y-%m-%d}."
        )
    length = local.max() - start
    previous = before.loc[(local.loc[before.index] >= start - length).to_numpy()]
    return Split(before=before, after=after, previous=previous)


def evaluate_hotspots(
    snapshot: StoreSnapshot,
    flt: IncidentFilter,
    *,
    split: date,
    area_share: float = 0.03,
    params: HotspotParams | None = None,
) -> pd.DataFrame:
    """Score Gi*, KDE and two baselines on how well earlier hotspots caught later incidents.

    Parameters
    ----------
    snapshot : StoreSnapshot
    flt : IncidentFilter
        Which incidents count, before and after.
    split : datetime.date
        First local day of the scoring period.
    area_share : float
        Share of the study area each method's hotspots may cover (default 3 %).
    params : HotspotParams, optional
        Cell size, shape and study area; defaults choose the cell size from the earlier data.

    Returns
    -------
    pandas.DataFrame
        One row per method: ``method``, ``area_share`` (covered), ``hit_rate``, ``pai``,
        ``rri``, ``hits`` (later incidents inside), ``incidents_after``, ``incidents_before``.
    """
    params = params or HotspotParams()
    parts = split_incidents(apply_filter(snapshot.incidents, flt), split)
    grid, _ = analysis_grid(snapshot, parts.before, params)
    cell_area = grid.cells.geometry.area.to_numpy()
    ids = {
        name: assign_cells(grid, frame["lon"].to_numpy(), frame["lat"].to_numpy())
        for name, frame in (("before", parts.before), ("after", parts.after),
                            ("previous", parts.previous))
    }  # fmt: skip
    counts_before = cell_counts(grid, ids["before"])
    scores = {
        "gistar": gi_star(grid, counts_before)["gi_z"].to_numpy(),
        "top_cells": counts_before.astype(float),
        "previous_period": cell_counts(grid, ids["previous"]).astype(float),
    }
    rows = []
    for method, score in scores.items():
        chosen = _top_area(score, cell_area, area_share)
        inside_before = _hits(chosen, ids["before"])
        inside_after = _hits(chosen, ids["after"])
        rows.append(_row(method, chosen_area=cell_area[chosen].sum(), total=cell_area.sum(),
                         n1=inside_before, n2=inside_after, parts=parts))  # fmt: skip
    rows.insert(1, _kde_row(snapshot, parts, area_share, params))
    return pd.DataFrame(rows)


def _top_area(score: np.ndarray, cell_area: np.ndarray, area_share: float) -> np.ndarray:
    """Cells with the highest scores until they cover ``area_share`` of the area."""
    order = np.argsort(-score, kind="stable")
    covered = np.cumsum(cell_area[order])
    n = int(np.searchsorted(covered, area_share * cell_area.sum(), side="right"))
    chosen = np.zeros(len(score), dtype=bool)
    chosen[order[: max(n, 1)]] = True
    return chosen


def _hits(chosen: np.ndarray, ids: np.ndarray) -> int:
    return int(chosen[ids[ids >= 0]].sum())


def _kde_row(
    snapshot: StoreSnapshot, parts: Split, area_share: float, params: HotspotParams
) -> dict[str, object]:
    area = study_area(snapshot, by=params.study_area)
    x1, y1 = to_metric(parts.before["lon"].to_numpy(), parts.before["lat"].to_numpy())
    x2, y2 = to_metric(parts.after["lon"].to_numpy(), parts.after["lat"].to_numpy())
    surface = kde_surface(x1, y1, area, bandwidth_m=params.bandwidth_m)
    mask = hotspot_mask(surface, area_share=area_share)
    return _row(
        "kde",
        chosen_area=float(mask.sum()),
        total=float(surface.mask.sum()),
        n1=int(points_in_hotspots(surface, mask, x1, y1).sum()),
        n2=int(points_in_hotspots(surface, mask, x2, y2).sum()),
        parts=parts,
    )


def _row(
    method: str, *, chosen_area: float, total: float, n1: int, n2: int, parts: Split
) -> dict[str, object]:
    share = chosen_area / total
    hit_rate = n2 / len(parts.after)
    rri = (n2 / n1) / (len(parts.after) / len(parts.before)) if n1 else float("nan")
    return {
        "method": METHOD_LABELS[method],
        "area_share": round(share, 4),
        "hit_rate": round(hit_rate, 4),
        "pai": round(hit_rate / share, 2),
        "rri": round(rri, 2),
        "hits": n2,
        "incidents_after": len(parts.after),
        "incidents_before": len(parts.before),
    }
