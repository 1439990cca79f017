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
(:mod:`layers.columnar`), a filter's mask and a :class:`Policy`, and return masks, counts
and cells.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from layers.columnar import (
    HEAT_CELL_PX,
    TILE_SIZE,
    IncidentColumns,
    area_counts,
    heat_grid,
    top_areas,
)
from layers.filters import IncidentFilter

if TYPE_CHECKING:
    from layers.access import Viewer

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
    """

    k: int = 3
    sensitive_categories: tuple[str, ...] = DEFAULT_SENSITIVE_CATEGORIES
    sensitive_areas: tuple[str, ...] = ("Gender-based violence",)
    sensitive_level: Level = "precinct"
    anonymous_cell_m: float = 250.0

    def __post_init__(self) -> None:
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
    ``sensitive_level``. None (everything) stays None when nothing is left out.
    """
    if policy is None or policy.full:
        return mask
    if LEVELS.index(level) >= LEVELS.index(policy.rules.sensitive_level):
        return mask
    allowed = ~sensitive_rows(columns, policy.rules) | own_rows(columns, policy.viewer)
    return allowed if mask is None else mask & allowed


def suppress(counts: pd.Series, k: int) -> pd.Series:
    """Counts with values from 1 to ``k - 1`` replaced by NaN (float): "fewer than k"."""
    values = pd.to_numeric(counts).astype(float)
    return values.where(~((values > 0) & (values < k)))


def private_area_counts(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    *,
    by: Literal["precinct", "ward"],
    names: Sequence[str],
) -> pd.Series:
    """Incidents per area as ``policy`` may see them: sensitive incidents only at their level,
    and, unless the viewer sees every point, an area's count hidden (NaN) when it holds from
    1 to k - 1 incidents the viewer does not see as points (an agency could otherwise take
    its own away and learn the rest)."""
    shown = visible(columns, mask, policy, level=by)
    counts = area_counts(columns, shown, by=by, names=names)
    if policy is None or policy.full:
        return counts
    kept = np.ones(len(columns), dtype=bool) if shown is None else shown
    others = area_counts(columns, kept & ~own_rows(columns, policy.viewer), by=by, names=names)
    others = others.reindex(counts.index, fill_value=0)
    hidden = suppress(others, policy.rules.k).isna().to_numpy()
    return counts.astype(float).where(~hidden)


def private_top_areas(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    policy: Policy | None,
    *,
    by: Literal["precinct", "ward"],
    n: int = 10,
) -> pd.DataFrame:
    """:func:`layers.columnar.top_areas` as ``policy`` may see them: counts as
    :func:`private_area_counts` gives them, hidden ones (NaN, with no share) last."""
    if policy is None or policy.full:
        return top_areas(columns, mask, by=by, n=n)
    shown = visible(columns, mask, policy, level=by)
    total = max(int(shown.sum()) if shown is not None else len(columns), 1)
    counts = private_area_counts(columns, mask, policy, by=by, names=columns.labels[by])
    counts = counts[counts.isna() | (counts > 0)]
    counts = counts.sort_values(ascending=False, kind="stable", na_position="last").head(n)
    return pd.DataFrame(
        {by: counts.index.astype(object), "incidents": counts.to_numpy(),
         "share": counts.to_numpy() / total}
    )  # fmt: skip


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
    """Heat cells (see :func:`layers.columnar.heat_grid`) as ``policy`` may see them.

    Incidents the viewer sees as points get the usual ``cell_px`` cells. The rest, without
    sensitive incidents, are counted on the anonymous grid (cells at least
    ``rules.anonymous_cell_m`` wide, whatever the zoom), and cells holding fewer than ``k``
    are dropped. ``attrs["anonymous_cell_px"]`` is the anonymous cell edge at ``zoom``.
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
    cells.attrs = {"cell_px": cell_px, "anonymous_cell_px": coarse.attrs["cell_px"]}
    if bin_px is not None:
        cells.attrs["busiest_bin"] = busiest
    return cells


def suppress_columns(table: pd.DataFrame, columns: Sequence[str], k: int) -> pd.DataFrame:
    """``table`` with counts from 1 to ``k - 1`` in ``columns`` replaced by NaN."""
    out = table.copy()
    for column in columns:
        if column in out.columns:
            out[column] = suppress(out[column], k)
    return out
