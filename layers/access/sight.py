"""The access step: what one viewer may see of one filter's incidents, decided once.

Incident data names places where people were hurt. Analysts see every incident; everyone
else sees aggregates, under three rules (:class:`layers.access.policy.PrivacyRules`):

1. **Anonymous map points.** Incidents a viewer may not see at point level are counted on a
   fixed grid of cells at least ``anonymous_cell_m`` wide (about 250 m by default), each cell
   drawn at its centre, as police.uk snaps every crime to an anonymous map point. The grid is
   the Web Mercator pixel grid of the heat cells, so every zoom's cells are unions of the
   anonymous cells: looking at several zooms tells no more than the finest.
2. **k-suppression.** A cell, or a count, with fewer than ``k`` such incidents (default 3) is
   not shown (:mod:`layers.access.suppression`).
3. **Sensitive categories** (sexual offences, domestic violence and other gender-based
   violence; configurable) are counted only at ``sensitive_level`` (default: precinct) and
   coarser: never in heat cells, hotspots, ward counts or a ward-filtered figure.

An ``agency`` viewer sees their own agency's incidents as an analyst does, and every other
agency's under these rules.

:func:`apply_policy` turns a :class:`~layers.access.policy.Policy` and a filter's rows into a
:class:`Sight`: for every incident, the finest level at which this viewer may count it. That
is all the rest of the code needs. The figures are ordinary aggregations over a sight's rows
(:mod:`layers.analysis.figures`), and suppression runs once on their results. A new figure
needs no change here to be safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from layers.access.policy import LEVELS, Level, Policy, PrivacyRules, Viewer, filter_level
from layers.storage.columnar import IncidentColumns
from layers.storage.filters import IncidentFilter

#: A row's level when the viewer sees it as a point (their own agency's, or an analyst's).
POINT = -1
#: A row's level when the filter leaves it out: never counted.
NEVER = 127


@dataclass(frozen=True, eq=False)
class Sight:
    """What one viewer may see of one filter's incidents: the access step's result.

    Attributes
    ----------
    columns : IncidentColumns
        The store's coded columns.
    mask : numpy.ndarray or None
        The filter's rows (None: every incident).
    finest : numpy.ndarray or None
        Per incident (int8): :data:`POINT` for a row the viewer sees in full, the index in
        :data:`~layers.access.policy.LEVELS` of the finest level it may be counted at for
        other rows (the rules' ``partner_level`` for other agencies' incidents, cells by
        default; the coarser of it and ``sensitive_level`` for sensitive ones), :data:`NEVER`
        for rows the filter leaves out. None when the viewer sees every
        incident in full: nothing is held back or suppressed.
    level : {"cell", "ward", "precinct", "city"}
        The finest area the filter narrows to: every figure is a count at that level or finer.
    k : int
        Counts of fewer than ``k`` rows the viewer does not see in full are suppressed.
    anonymous_shift : int
        Other rows are counted in cells ``2 ** -anonymous_shift`` zoom-0 pixels wide.
    anonymous_cell_m : float
        The anonymous cell's size in metres, for grids of other kinds (hotspots).
    keep : tuple of str
        The agency whose counts the viewer sees in full (columns of tables by agency).
    full : bool
        True when the viewer sees every incident in full (an analyst): ``finest`` is None.
    """

    columns: IncidentColumns
    mask: np.ndarray | None
    finest: np.ndarray | None
    level: Level
    k: int
    anonymous_shift: int
    anonymous_cell_m: float
    keep: tuple[str, ...] = ()
    full: bool = False


def apply_policy(
    policy: Policy | None,
    columns: IncidentColumns,
    mask: np.ndarray | None,
    flt: IncidentFilter,
) -> Sight:
    """The access step: what ``policy``'s viewer may see of the rows ``mask`` keeps.

    Parameters
    ----------
    policy : Policy, optional
        Who is looking, and the rules; None shows everything, as to an analyst.
    columns : IncidentColumns
    mask : numpy.ndarray, optional
        The filter's rows, in store order (None: all).
    flt : IncidentFilter
        The filter itself: its area sets the level every figure is counted at.

    Returns
    -------
    Sight
    """
    rules = policy.rules if policy is not None else PrivacyRules()
    level = filter_level(flt)
    if policy is None or policy.full:
        return Sight(columns, mask, None, level, rules.k, rules.anonymous_shift,
                     rules.anonymous_cell_m, full=True)  # fmt: skip
    viewer = policy.viewer
    kept = np.ones(len(columns), dtype=bool) if mask is None else mask
    partner = LEVELS.index(rules.partner_level) if viewer.role == "agency" else 0
    sensitive = max(partner, LEVELS.index(rules.sensitive_level))
    own = own_rows(columns, viewer)
    finest = np.full(len(columns), NEVER, dtype=np.int8)
    finest[kept] = partner
    finest[kept & sensitive_rows(columns, rules) & ~own] = sensitive
    finest[kept & own] = POINT
    finest.flags.writeable = False  # a sight is shared by every session of a role
    keep = (viewer.agency,) if viewer.agency else ()
    return Sight(columns, mask, finest, level, rules.k, rules.anonymous_shift,
                 rules.anonymous_cell_m, keep)  # fmt: skip


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
