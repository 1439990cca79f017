"""Privacy of victims in aggregated views: what a viewer who may not see points is shown.

Incident data names places where people were hurt. Analysts see every incident; everyone
else sees aggregates built here, with three rules (:class:`PrivacyRules`):

1. **Anonymous map points.** Incidents a viewer may not see at point level are counted on a
   fixed grid of cells at least ``anonymous_cell_m`` wide (about 250 m by default), and each
   cell is drawn at its centre, as police.uk snaps every crime to an anonymous map point.
   The grid is the Web Mercator pixel grid of the heat cells, so every zoom's cells are unions
   of the anonymous cells: looking at several zooms tells no more than the finest.
2. **k-suppression.** A cell, or an area's count, with fewer than ``k`` such incidents
   (default 3) is not shown: the cell is dropped, the count reads "fewer than k".
3. **Sensitive categories** (sexual offences, domestic violence and other gender-based
   violence; configurable) are counted only at ``sensitive_level`` (default: precinct) and
   coarser: never in heat cells, hotspots, ward counts or a ward-filtered figure. The public
   crime maps offset such incidents; leaving them out below the precinct goes further.

An ``agency`` viewer sees their own agency's incidents as an analyst does and every other
agency's under these rules. Functions here are pure: they take the store's coded columns
(:mod:`layers.storage.columnar`), a filter's mask and a :class:`Policy`, and return masks, counts
and cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from layers.analysis.compstat import PERIODS, compare_periods, hour_by_weekday
from layers.storage.columnar import (
    HEAT_CELL_PX,
    TILE_SIZE,
    IncidentColumns,
    area_counts,
    counts_by,
    headline,
    heat_grid,
    top_areas,
    weekly_counts,
)
from layers.storage.filters import IncidentFilter
from layers.storage.join import OUTSIDE

if TYPE_CHECKING:
    from layers.access.users import Viewer

Level = Literal["cell", "ward", "precinct", "city"]
LEVELS: tuple[Level, ...] = get_args(Level)
DEFAULT_SENSITIVE_CATEGORIES = (
    "Sexual offences", "Rape", "Sexual assault", "Attempted sexual offences",
    "Contact sexual offences", "Domestic violence", "Contravention of protection order",
    "Gender-based violence", "Kidnapping",
)  # fmt: skip
EQUATOR_M_PER_PX0 = 2 * math.pi * 6_378_137 / TILE_SIZE  # metres per zoom-0 pixel


@dataclass(frozen=True)
class PrivacyRules:
    """How aggregated views protect victims (see the module docstring).

    Attributes
    ----------
    k : int
        Cells and area counts with fewer incidents than this are suppressed (default 3).
    sensitive_categories : tuple of str
        Categories counted only at ``sensitive_level`` and coarser (case-insensitive).
    sensitive_areas : tuple of str
        Collaboration areas all of whose incidents are sensitive.
    sensitive_level : {"ward", "precinct", "city"}
        The finest area sensitive incidents are counted in (default precinct).
    anonymous_cell_m : float
        The smallest cell, in metres, incidents are counted in for viewers without points.
    partner_level : {"cell", "ward", "precinct", "city"}
        The finest level at which an agency viewer sees other agencies' incidents counted
        (default "cell": anonymous cells, as agreed for the safety cluster's partners).
        Coarser levels leave other agencies out of cells, heat, hotspots and finer counts.
    partner_period : {"day"}
        The finest period at which partners share: agency viewers filter others' incidents by
        day and hour of day. Only "day" is supported; it is stated so that the access file
        says in full what partners share.
    """

    k: int = 3
    sensitive_categories: tuple[str, ...] = DEFAULT_SENSITIVE_CATEGORIES
    sensitive_areas: tuple[str, ...] = ("Gender-based violence",)
    sensitive_level: Level = "precinct"
    anonymous_cell_m: float = 250.0
    partner_level: Level = "cell"
    partner_period: str = "day"

    def __post_init__(self) -> None:
        if self.partner_level not in LEVELS:
            raise ValueError(
                f"partner_level must be cell, ward, precinct or city, not {self.partner_level!r}."
            )
        if self.partner_period != "day":
            raise ValueError(
                f'partner_period can only be "day" (agencies filter partners\' incidents by day '
                f"and hour), not {self.partner_period!r}."
            )
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a whole number of at least 1, not {self.k!r}.")
        if self.sensitive_level not in LEVELS[1:]:
            raise ValueError(
                f"sensitive_level must be ward, precinct or city, not {self.sensitive_level!r}."
            )
        if not 10 <= float(self.anonymous_cell_m) <= 50_000:
            raise ValueError(
                f"anonymous_cell_m must be between 10 and 50000 metres, "
                f"not {self.anonymous_cell_m!r}."
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> PrivacyRules:
        """Rules from a configuration table; keys not given keep their defaults."""
        known = {f.name for f in fields(cls)}
        if unknown := set(values) - known:
            raise ValueError(
                f"unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}."
            )
        given = dict(values)
        for key in ("sensitive_categories", "sensitive_areas"):
            if key in given:
                items = given[key]
                if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                    raise ValueError(f"{key} must be a list of names.")
                given[key] = tuple(items)
        return cls(**given)  # type: ignore[arg-type]

    @property
    def anonymous_shift(self) -> int:
        """The anonymous grid's cell edge is ``2 ** -shift`` zoom-0 pixels."""
        return anonymous_shift(self.anonymous_cell_m)


@dataclass(frozen=True)
class Policy:
    """A viewer and the rules their aggregated views follow."""

    viewer: Viewer
    rules: PrivacyRules = PrivacyRules()

    @property
    def full(self) -> bool:
        """True for an analyst: nothing is aggregated or suppressed."""
        return self.viewer.sees_all_points


def anonymous_shift(cell_m: float, *, lat: float = -34.5) -> int:
    """The largest ``a`` for which a ``2 ** -a`` zoom-0 pixel cell is at least ``cell_m``
    wide at latitude ``lat`` and everywhere nearer the equator (a Mercator cell narrows
    toward the poles; the default is about Cape Point, the metro's southern tip)."""
    metres = EQUATOR_M_PER_PX0 * math.cos(math.radians(min(abs(lat), 85.0)))
    return max(math.floor(math.log2(metres / cell_m)), 0)


def filter_level(flt: IncidentFilter) -> Level:
    """The finest area a filter narrows to: its figures are counts at that level."""
    return "ward" if flt.wards else "precinct" if flt.precincts else "city"


def count_level(by: Level, flt: IncidentFilter | None) -> Level:
    """The level counts of areas ``by`` under ``flt`` are really at: the finer of the two.

    Precinct counts under a ward filter are counts of a ward's piece of each precinct, so the
    sensitive rule judges them as ward counts.
    """
    level = filter_level(flt) if flt is not None else "city"
    return by if LEVELS.index(by) <= LEVELS.index(level) else level


def own_rows(columns: IncidentColumns, viewer: Viewer) -> np.ndarray:
    """Incidents ``viewer`` sees at point level."""
    if viewer.sees_all_points:
        return np.ones(len(columns), dtype=bool)
    if viewer.role != "agency":
        return np.zeros(len(columns), dtype=bool)
    return _label_rows(columns, "agency", (viewer.agency or "",))


def sensitive_rows(columns: IncidentColumns, rules: PrivacyRules) -> np.ndarray:
    """Incidents of a sensitive category or collaboration area."""
    return _label_rows(columns, "category", rules.sensitive_categories) | _label_rows(
        columns, "collaboration_area", rules.sensitive_areas
    )


def _label_rows(columns: IncidentColumns, column: str, wanted: Sequence[str]) -> np.ndarray:
    wanted_keys = {w.strip().casefold() for w in wanted}
    labels = columns.labels[column]
    lookup = np.zeros(len(labels) + 1, dtype=bool)  # the last slot is code -1: missing
    lookup[[i for i, label in enumerate(labels) if label.strip().casefold() in wanted_keys]] = True
    return lookup[columns.codes[column]]


def visible(
    columns: IncidentColumns, mask: np.ndarray | None, policy: Policy | None, *, level: Level
) -> np.ndarray | None:
    """The incidents of ``mask`` that may be counted in areas of ``level`` for ``policy``.

    Sensitive incidents the viewer does not see as points are left out below the rules'
    ``sensitive_level``; for an agency viewer, other agencies' incidents are left out below
    ``partner_level``. None (everything) stays None when nothing is left out.
    """
    if policy is None or policy.full:
        return mask
    rules = policy.rules
    finer = LEVELS.index(level)
    below_sensitive = finer < LEVELS.index(rules.sensitive_level)
    below_partner = policy.viewer.role == "agency" and finer < LEVELS.index(rules.partner_level)
    if not below_sensitive and not below_partner:
        return mask
    own = own_rows(columns, policy.viewer)
    allowed = own if below_partner else ~sensitive_rows(columns, rules) | own
    return allowed if mask is None else mask & allowed


def hide(counts: pd.Series, k: int) -> pd.Series:
    """Which counts to hide so that none below ``k`` can be read or worked out.

    Counts below ``k``, zero included (a blank must not tell "none" from "one"), are hidden;
    then, smallest first, more until the hidden ones cannot be worked out from a total shown
    elsewhere: at least two of them, holding together none or at least ``k`` incidents.

    Returns
    -------
    pandas.Series
        Booleans aligned to ``counts``: True where the count is hidden.
    """
    values = pd.to_numeric(counts).astype(float).fillna(0)
    hidden = values < k
    if hidden.all() or not hidden.any():
        return hidden
    for label in values[~hidden].sort_values(kind="stable").index:
        held = values[hidden].sum()
        if hidden.sum() >= 2 and (held == 0 or held >= k):
            break
        hidden[label] = True
    return hidden


def suppress(counts: pd.Series, k: int, *, others: pd.Series | None = None) -> pd.Series:
    """``counts`` as float with the hidden ones (see :func:`hide`) NaN: "fewer than k".

    ``others``, aligned to ``counts``, are the incidents among them the viewer does not see
    as points; what to hide is decided on those (an agency could otherwise take its own
    incidents away and learn the rest).
    """
    values = pd.to_numeric(counts).astype(float)
    basis = values if others is None else pd.to_numeric(others).reindex(values.index).fillna(0)
    return values.where(~hide(basis, k))


def private_area_counts(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    *,
    by: Literal["precinct", "ward"],
    names: Sequence[str],
    flt: IncidentFilter | None = None,
) -> pd.Series:
    """Incidents per area as ``policy`` may see them: sensitive incidents only at their level
    (judged by the filter as well as by ``by``: see :func:`count_level`), and, unless the
    viewer sees every point, counts hidden (NaN) as :func:`suppress` does."""
    shown = visible(columns, mask, policy, level=count_level(by, flt))
    counts = area_counts(columns, shown, by=by, names=names)
    if policy is None or policy.full:
        return counts
    others = area_counts(columns, _others(columns, shown, policy), by=by, names=names)
    return suppress(counts, policy.rules.k, others=others)


def _others(columns: IncidentColumns, shown: np.ndarray | None, policy: Policy) -> np.ndarray:
    """The incidents of ``shown`` the viewer does not see as points."""
    kept = np.ones(len(columns), dtype=bool) if shown is None else shown
    return kept & ~own_rows(columns, policy.viewer)


def private_top_areas(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    *,
    by: Literal["precinct", "ward"],
    n: int = 10,
    flt: IncidentFilter | None = None,
) -> pd.DataFrame:
    """:func:`layers.storage.columnar.top_areas` as ``policy`` may see them: the busiest areas whose
    counts are shown (as :func:`private_area_counts` gives them); hidden ones are left out."""
    if policy is None or policy.full:
        return top_areas(columns, mask, by=by, n=n)
    shown = visible(columns, mask, policy, level=count_level(by, flt))
    total = max(int(shown.sum()) if shown is not None else len(columns), 1)
    counts = private_area_counts(columns, mask, policy, by=by, names=columns.labels[by], flt=flt)
    counts = counts.dropna().sort_values(ascending=False, kind="stable").head(n)
    return pd.DataFrame(
        {by: counts.index.astype(object), "incidents": counts.to_numpy(),
         "share": counts.to_numpy() / total}
    )  # fmt: skip


def private_total(
    columns: IncidentColumns, mask: np.ndarray | None, policy: Policy | None, flt: IncidentFilter
) -> int | None:
    """How many incidents ``flt`` keeps, as ``policy`` may see it; None when hidden.

    Under a precinct or ward filter the total is an area's count: sensitive incidents leave
    it below their level, and it is hidden when the viewer does not see fewer than ``k`` of
    its incidents as points (zero included).
    """
    level = filter_level(flt)
    shown = visible(columns, mask, policy, level=level)
    total = len(columns) if shown is None else int(shown.sum())
    if policy is None or policy.full or level == "city":
        return total
    return None if int(_others(columns, shown, policy).sum()) < policy.rules.k else total


def private_figures(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    flt: IncidentFilter,
    *,
    boundary: Literal["precinct", "ward"],
) -> dict[str, object]:
    """The figures beside the map (headline, top areas, weekly counts by agency) as
    ``policy`` may see them.

    A precinct or ward filter makes every figure an area's: sensitive incidents leave them
    below their level, and with fewer than ``k`` incidents the viewer does not see as points,
    the headline (count, agencies, days, outside) is hidden (None, and ``hidden`` True).
    Weekly counts under such a filter are hidden as :func:`suppress` does, all together; the
    viewer's own agency's are shown. Outside boundaries is an area count like any other.
    """
    level = filter_level(flt)
    shown = visible(columns, mask, policy, level=level)
    figures: dict[str, object] = {
        "headline": headline(columns, shown),
        "hidden": False,
        "top": private_top_areas(columns, mask, policy, by=boundary, n=10, flt=flt),
        "weekly": weekly_counts(columns, shown, by="agency"),
    }
    if policy is None or policy.full:
        return figures
    k = policy.rules.k
    others = _others(columns, shown, policy)
    head = dict(figures["headline"])  # type: ignore[call-overload]
    if private_total(columns, mask, policy, flt) is None:
        figures["hidden"] = True
        head.update(incidents=None, agencies=None, first=None, last=None, outside=None)
    elif counts_by(columns, others, "precinct").get(OUTSIDE, 0) < k:
        head["outside"] = None
    figures["headline"] = head
    if level != "city":
        figures["weekly"] = _suppress_table(
            figures["weekly"], weekly_counts(columns, others, by="agency"), k,  # type: ignore[arg-type]
            keep=(policy.viewer.agency,),
        )  # fmt: skip
    return figures


def _suppress_table(
    table: pd.DataFrame, others: pd.DataFrame, k: int, *, keep: Sequence[object] = ()
) -> pd.DataFrame:
    """``table``'s cells suppressed together on ``others``' (a hidden cell must not be the
    difference of the cells beside it and a total), but the columns in ``keep``."""
    others = others.reindex(index=table.index, columns=table.columns, fill_value=0)
    out = table.astype(float)
    hidden = [c for c in table.columns if c not in keep]
    if hidden and len(table):
        cells = suppress(table[hidden].stack(), k, others=others[hidden].stack())
        out[hidden] = cells.unstack().reindex(index=table.index, columns=hidden)
    return out


def private_review(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    flt: IncidentFilter,
    *,
    by: str,
    today: date,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The CompStat review (period comparison, hour-by-weekday grid of the last 28 days,
    weekly counts by ``by``) as ``policy`` may see it.

    ``mask`` is the filter without its dates. Rows that are areas, or any row under a
    precinct or ward filter, are area counts: sensitive incidents leave them below their
    level, and counts are hidden as :func:`suppress` does, each period's column (the total
    row included) on its own; a change or % change is hidden with either of its counts. The
    grid and the weekly counts are hidden the same way.
    """
    area_rows = by in ("precinct", "ward")
    level: Level = by if area_rows else filter_level(flt)  # type: ignore[assignment]
    if by == "precinct" and filter_level(flt) == "ward":
        level = "ward"
    shown = visible(columns, mask, policy, level=level)
    since = today - timedelta(days=27)

    def review(kept: np.ndarray | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return (
            compare_periods(columns, kept, by=by, today=today),
            hour_by_weekday(columns, kept, since=since, until=today),
            weekly_counts(columns, kept, by=by),
        )

    table, grid, weekly = review(shown)
    if policy is None or policy.full or not (area_rows or level != "city"):
        return table, grid, weekly
    k = policy.rules.k
    other_table, other_grid, other_weekly = review(_others(columns, shown, policy))
    other_table = other_table.set_index(by).reindex(table[by]).fillna(0)
    out = table.copy()
    for prefix in PERIODS:
        now = suppress(table[prefix], k, others=other_table[prefix].set_axis(table.index))
        before = suppress(
            table[f"{prefix}_prev"], k, others=other_table[f"{prefix}_prev"].set_axis(table.index)
        )
        either = now.isna() | before.isna()
        out[prefix], out[f"{prefix}_prev"] = now, before
        out[f"{prefix}_change"] = out[f"{prefix}_change"].astype(float).where(~either)
        out[f"{prefix}_pct"] = out[f"{prefix}_pct"].where(~either)
    out.attrs = dict(table.attrs)
    cells = suppress(grid.stack(), k, others=other_grid.stack()).unstack()
    cells = cells.reindex(index=grid.index, columns=grid.columns)  # the grid's own order
    keep = (policy.viewer.agency,) if by == "agency" else ()
    return out, cells, _suppress_table(weekly, other_weekly, k, keep=keep)


def private_heat(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    *,
    zoom: int,
    cell_px: float = HEAT_CELL_PX,
    bounds: Sequence[float] | None = None,
    max_cells: int | None = None,
    bin_px: float | None = None,
) -> pd.DataFrame:
    """Heat cells (see :func:`layers.storage.columnar.heat_grid`) as ``policy`` may see them.

    Incidents the viewer sees as points get the usual ``cell_px`` cells. The rest, without
    sensitive incidents, are counted on the anonymous grid (cells at least
    ``rules.anonymous_cell_m`` wide, whatever the zoom), and cells holding fewer than ``k``
    are dropped. ``attrs["anonymous_cell_px"]`` is the anonymous cell edge at ``zoom``, and
    ``attrs["k"]`` the threshold: a legend of this heat prints no value below it.
    """
    if policy is None or policy.full:
        return heat_grid(columns, mask, zoom=zoom, cell_px=cell_px, bounds=bounds,
                         max_cells=max_cells, bin_px=bin_px)  # fmt: skip
    kept = np.ones(len(columns), dtype=bool) if mask is None else mask
    own = kept & own_rows(columns, policy.viewer)
    others = visible(columns, kept & ~own, policy, level="cell")
    coarse_px = max(cell_px, 2.0 ** (zoom - policy.rules.anonymous_shift))
    coarse_bin = None if bin_px is None else max(bin_px, coarse_px)
    parts = []
    busiest = 0
    if own.any():
        fine = heat_grid(columns, own, zoom=zoom, cell_px=cell_px, bounds=bounds,
                         max_cells=max_cells, bin_px=bin_px)  # fmt: skip
        parts.append(fine)
        busiest = fine.attrs.get("busiest_bin", 0)
    coarse = heat_grid(columns, others, zoom=zoom, cell_px=coarse_px, bounds=bounds,
                       max_cells=max_cells, bin_px=coarse_bin)  # fmt: skip
    busiest = max(busiest, coarse.attrs.get("busiest_bin", 0))
    parts.append(coarse[coarse["weight"] >= policy.rules.k])
    cells = pd.concat(parts, ignore_index=True).sort_values(
        "weight", ascending=False, kind="stable", ignore_index=True
    )
    cells.attrs = {"cell_px": cell_px, "anonymous_cell_px": coarse.attrs["cell_px"],
                   "k": policy.rules.k}  # fmt: skip
    if bin_px is not None:
        cells.attrs["busiest_bin"] = busiest
    return cells
