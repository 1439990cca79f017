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
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from layers._errors import LayersError
from layers.analysis.grid import assign_cells, cell_counts, to_metric
from layers.analysis.hotspots import HotspotError, gi_star
from layers.analysis.kde import hotspot_mask, kde_surface, points_in_hotspots
from layers.analysis.study import HotspotParams, analysis_grid, study_area
from layers.dictionary import headers
from layers.settings import LOCAL_TZ
from layers.spreadsheet import spreadsheet_csv
from layers.storage.filters import IncidentFilter, apply_filter
from layers.storage.store import StoreSnapshot

#: The columns of an evaluation table that count incidents.
_COUNTS = ("hits", "incidents_after", "incidents_before")
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


def split_incidents(rows: pd.DataFrame, split: date, *, until: date | None = None) -> Split:
    """Incidents before the local day ``split``, from it on, and the previous period.

    The scoring period runs from ``split`` to the end of ``until`` (default: the last day with
    an incident); the previous period is as long and ends where it starts.
    """
    local = rows["occurred_at"].dt.tz_convert(LOCAL_TZ)
    start = _midnight(split)
    before, after = rows.loc[(local < start).to_numpy()], rows.loc[(local >= start).to_numpy()]
    if before.empty or after.empty:
        raise HotspotError(
            f"The split {split} leaves no incidents on one side; choose a date between "
            f"{local.min():%Y-%m-%d} and {local.max():%Y-%m-%d}."
        )
    end = _midnight((until or local.max().date()) + timedelta(days=1))
    previous = before.loc[(local.loc[before.index] >= start - (end - start)).to_numpy()]
    return Split(before=before, after=after, previous=previous)


def _midnight(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time.min)).tz_localize(LOCAL_TZ)


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
        ``rri``, ``hits``, ``incidents_after``, ``incidents_before``, and ``note`` where a
        method could not run (its figures empty, its incident counts given). The counts are
        whole numbers (Int64). ``hits`` is the later incidents inside the hotspots to the
        nearest whole incident: the cell at the cut-off, and any tied with it, are taken in
        part and count their share (see :func:`_top_area`), so the exact figure is rarely
        whole; ``hit_rate`` is worked out from the exact figure. :func:`readable_table`
        gives the table as people read it.
    """
    params = params or HotspotParams()
    parts = split_incidents(apply_filter(snapshot.incidents, flt), split, until=flt.until)
    grid, _ = analysis_grid(snapshot, parts.before, params)
    cell_area = grid.cells.geometry.area.to_numpy()
    ids = {
        name: assign_cells(grid, frame["lon"].to_numpy(), frame["lat"].to_numpy())
        for name, frame in (("before", parts.before), ("after", parts.after),
                            ("previous", parts.previous))
    }  # fmt: skip
    counts_before = cell_counts(grid, ids["before"])
    scores: dict[str, np.ndarray | str] = {
        "top_cells": counts_before.astype(float),
        "previous_period": cell_counts(grid, ids["previous"]).astype(float),
    }
    try:
        scores = {"gistar": gi_star(grid, counts_before)["gi_z"].to_numpy(), **scores}
    except HotspotError as err:  # too little data for Gi*: still score the others
        scores = {"gistar": str(err), **scores}
    rows = []
    for method, score in scores.items():
        if isinstance(score, str):
            rows.append(_note_row(method, score, parts))
            continue
        weight = _top_area(score, cell_area, area_share, positive_only=method != "gistar")
        rows.append(_row(method, chosen_area=float(weight @ cell_area), total=cell_area.sum(),
                         n1=_hits(weight, ids["before"]), n2=_hits(weight, ids["after"]),
                         parts=parts))  # fmt: skip
    try:
        rows.insert(1, _kde_row(snapshot, parts, area_share, params))
    except LayersError as err:
        rows.insert(1, _note_row("kde", str(err), parts))
    table = pd.DataFrame(rows).astype(dict.fromkeys(_COUNTS, "Int64"))
    return table[[c for c in table.columns if c != "note"] + (["note"] if "note" in table else [])]


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """An evaluation table (see :func:`evaluate_hotspots`) as people read it.

    Headers of :func:`layers.dictionary.headers` ("Method", "Area covered (%)",
    "Hit rate (%)", "PAI", "RRI", "Incidents after split in hotspots", "Incidents after split",
    "Incidents before split", "Note"), shares as percentages with two decimals, counts as
    whole numbers, and a "Note" column always (empty where the method ran).

    Returns
    -------
    pandas.DataFrame
        A new frame, one row per method; ``table`` is not modified. Its columns are described
        by ``layers.dictionary.dictionary_csv("evaluation", ...)``.
    """
    names = list(headers("evaluation"))
    missing = [c for c in names if c != "note" and c not in table.columns]
    if missing:
        raise ValueError(
            f"`table` must be an evaluation from evaluate_hotspots; it lacks {missing}."
        )
    out = table.reindex(columns=names)
    for share in ("area_share", "hit_rate"):
        out[share] = (out[share].astype(float) * 100).round(2)
    out = out.astype(dict.fromkeys(_COUNTS, "Int64"))
    out["note"] = out["note"].astype(object).where(out["note"].notna(), "")
    return out.rename(columns=headers("evaluation"))


def to_csv(table: pd.DataFrame) -> str:
    """An evaluation table (see :func:`evaluate_hotspots`) as CSV text for a spreadsheet.

    The columns of :func:`readable_table`. Text cells a spreadsheet would run as a formula (a
    note quoting an error, a method label) get a leading apostrophe (see
    :func:`layers.maps.export.neutralise_formulas`); the figures stay numbers and a missing figure
    is an empty cell. Its data dictionary is
    ``layers.dictionary.dictionary_csv("evaluation", readable_table(table))``.
    """
    return spreadsheet_csv(readable_table(table))


def _top_area(
    score: np.ndarray, cell_area: np.ndarray, area_share: float, *, positive_only: bool
) -> np.ndarray:
    """How much of each cell the method's hotspots take, filling ``area_share`` of the area.

    Cells are taken by descending score. Cells tied at the cut-off share the remaining area
    pro rata (each counts with the same fraction), so the result never depends on the order
    cells happen to be numbered in. With ``positive_only``, cells scoring 0 (no incidents)
    are never taken, and the hotspots may cover less than ``area_share``.
    """
    weight = np.zeros(len(score))
    target = area_share * cell_area.sum()
    eligible = np.flatnonzero(score > 0) if positive_only else np.arange(len(score))
    if eligible.size == 0:
        return weight
    values, inverse = np.unique(-score[eligible], return_inverse=True)  # best group first
    group_area = np.bincount(inverse, weights=cell_area[eligible], minlength=values.size)
    before = np.concatenate([[0.0], np.cumsum(group_area)[:-1]])  # area of better groups
    share = np.clip((target - before) / group_area, 0.0, 1.0)
    weight[eligible] = share[inverse]
    return weight


def _hits(weight: np.ndarray, ids: np.ndarray) -> float:
    """Incidents inside the hotspots; a cell taken in part counts its share."""
    return float(weight[ids[ids >= 0]].sum())


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
    method: str, *, chosen_area: float, total: float, n1: float, n2: float, parts: Split
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
        # Whole incidents: the share of a cell taken in part is not an incident; the exact
        # figure stays in hit_rate.
        "hits": round(n2),
        "incidents_after": len(parts.after),
        "incidents_before": len(parts.before),
    }


def _note_row(method: str, note: str, parts: Split) -> dict[str, object]:
    """A method that could not run: why, and the incidents it would have been scored on."""
    return {
        "method": METHOD_LABELS[method],
        "incidents_after": len(parts.after),
        "incidents_before": len(parts.before),
        "note": note,
    }
