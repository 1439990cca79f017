"""Suppression: a figure's small counts hidden, once, after every figure is counted.

The access step (:mod:`layers.access.sight`) says which incidents a viewer may count at each
level; ordinary aggregations count them (:mod:`layers.analysis.figures`), each giving a
:class:`Counted`: the figure, and the same figure over the incidents the viewer does not see
in full (its *basis*). :func:`disclose` then hides every value whose basis is below ``k``, the
same way for every figure: a new figure is suppressed without any change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

#: How a figure is suppressed:
#: ``"hide"``: counts (a Series, or a table's cells together) hidden as :func:`suppress` does;
#: ``"columns"``: each of a table's ``apart`` columns on its own, rows matched on ``key``;
#: ``"drop"``: rows (cells of a map) whose basis is below ``k`` dropped;
#: ``"whole"``: one number, None when its basis is below ``k``;
#: ``"none"``: not a count: shown as it is (a figure derived from others).
How = Literal["hide", "columns", "drop", "whole", "none"]


@dataclass(frozen=True, eq=False)
class Counted:
    """One figure as counted for a viewer, ready to be suppressed.

    Attributes
    ----------
    value : object
        The figure over every incident the viewer may count at its level.
    basis : object, optional
        The same figure over those of them the viewer does not see in full; None when nothing
        is to be suppressed (an analyst's figure, or a count over the whole city).
    how : How
        How the figure is suppressed (see :data:`How`).
    keep : tuple
        Columns shown in full whatever their basis (the viewer's own agency's).
    key : str, optional
        ``"columns"``: the column naming each row, to match the basis's rows to the value's.
    apart : tuple of str
        ``"columns"``: the count columns, each suppressed on its own.
    derived : mapping of str to tuple of str
        Columns worked out from others (a change, a percentage), hidden with any of them.
    """

    value: Any
    basis: Any = None
    how: How = "hide"
    keep: tuple[object, ...] = ()
    key: str | None = None
    apart: tuple[str, ...] = ()
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def disclose(counted: Mapping[str, Counted], k: int) -> dict[str, Any]:
    """Every figure of ``counted`` as the viewer may see it: suppression, run once."""
    return {name: _suppressed(figure, k) for name, figure in counted.items()}


def _suppressed(figure: Counted, k: int) -> Any:
    value, basis = figure.value, figure.basis
    if basis is None or figure.how == "none":
        return value
    if figure.how == "whole":
        return None if basis < k else value
    if figure.how == "drop":
        kept = value[~(pd.Series(basis, index=value.index) < k)].reset_index(drop=True)
        kept.attrs = dict(value.attrs)
        return kept
    if figure.how == "columns":
        return _suppress_columns(figure, k)
    if isinstance(value, pd.DataFrame):
        return suppress_table(value, basis, k, keep=figure.keep)
    return suppress(value, k, others=basis)


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


def suppress_table(
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


def _suppress_columns(figure: Counted, k: int) -> pd.DataFrame:
    table: pd.DataFrame = figure.value
    key = figure.key
    others = figure.basis.set_index(key).reindex(table[key]).fillna(0)
    out = table.copy()
    hidden = {}
    for column in figure.apart:
        shown = suppress(table[column], k, others=others[column].set_axis(table.index))
        out[column], hidden[column] = shown, shown.isna()
    for column, inputs in figure.derived.items():
        either = pd.concat([hidden[c] for c in inputs], axis=1).any(axis=1)
        out[column] = out[column].astype(float).where(~either)
    out.attrs = dict(table.attrs)
    return out
