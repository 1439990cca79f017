"""Weekly trend charts, beside the map and in the CompStat review."""

from __future__ import annotations

import copy
import functools
import threading
from collections import OrderedDict
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from layers.maps.palette import agency_scale
from layers.storage import columnar


def trend_chart(weekly: pd.DataFrame, *, height: int, first: date, last: date,
                agencies: bool = False) -> None:  # fmt: skip
    """Weekly counts as lines, one per column, for the period ``first`` to ``last``; with
    ``agencies`` (the columns are agencies) each in its agency's colour, the same in every
    chart (:mod:`layers.maps.palette`). A week
    the period cuts (the first and last of a date range, the week in progress on a live
    store) is drawn at its daily rate times seven and marked, so that it never looks like a
    fall. A fixed Vega-Lite spec: st.line_chart builds an Altair chart on every run, which
    on a live page refreshing for 20 viewers costs more than everything else on it; and the
    chart's table is made once for each ``weekly`` (a cached figure shared by sessions)."""
    table, part = _chart_table(weekly, first, last)
    spec = agency_spec(tuple(map(str, weekly.columns))) if agencies else SPEC
    st.vega_lite_chart(table, spec, width="stretch", height=height)
    if part:
        weeks = "; ".join(f"week of {w:%d %b}: {d} of 7 days" for w, d in part)
        st.caption(f"Part weeks ({weeks}) are drawn at their daily rate times 7 (diamonds).")


_X = {"field": "week", "type": "temporal", "title": None}
_Y = {"field": "per_week", "type": "quantitative", "title": "Incidents per week"}
_COLOUR = {"field": "group", "type": "nominal", "title": None}
SPEC = {
    "layer": [
        {"mark": {"type": "line"}, "encoding": {"x": _X, "y": _Y, "color": _COLOUR}},
        {
            "mark": {"type": "point", "size": 45, "tooltip": True},
            "encoding": {
                "x": _X, "y": _Y, "color": _COLOUR,
                "shape": {"field": "week_kind", "type": "nominal", "title": None,
                          "scale": {"domain": ["Whole week", "Part week: daily rate × 7"],
                                    "range": ["circle", "diamond"]}},
                "filled": {"value": True},
                "tooltip": [
                    {"field": "group", "title": "Series"},
                    {"field": "week", "type": "temporal", "title": "Week of"},
                    {"field": "incidents", "title": "Incidents"},
                    {"field": "days", "title": "Days in the period"},
                    {"field": "per_week", "title": "Per week"},
                ],
            },
        },
    ],
    "config": {"legend": {"orient": "bottom"}},
}  # fmt: skip


@functools.lru_cache(maxsize=64)
def agency_spec(names: tuple[str, ...]) -> dict:
    """:data:`SPEC` with each agency of ``names`` in its own colour."""
    spec = copy.deepcopy(SPEC)
    for layer in spec["layer"]:
        layer["encoding"]["color"] = {**_COLOUR, "scale": agency_scale(names)}
    return spec


# (id of a weekly table, first, last) -> (that table, the chart's table, the part weeks).
# The table itself is held so that its id cannot be reused while the entry lives.
_tables: OrderedDict[tuple[int, date, date], tuple[pd.DataFrame, pa.Table, list]] = OrderedDict()
_tables_lock = threading.Lock()
_TABLES_KEPT = 64


def _chart_table(weekly: pd.DataFrame, first: date, last: date) -> tuple[pa.Table, list]:
    key = (id(weekly), first, last)
    with _tables_lock:
        held = _tables.get(key)
        if held is not None and held[0] is weekly:
            _tables.move_to_end(key)
            return held[1], held[2]
    days = columnar.week_days(weekly.index, first, last) if len(weekly) else np.array([], int)
    long = (
        weekly.rename_axis("week")
        .reset_index()
        .melt(id_vars="week", var_name="group", value_name="incidents")
    )
    long["days"] = long["week"].map(dict(zip(weekly.index, days, strict=True))).astype(int)
    long = long[long["days"] > 0]
    long["per_week"] = (long["incidents"] * 7 / long["days"]).round(1)
    long["week_kind"] = np.where(long["days"] < 7, "Part week: daily rate × 7", "Whole week")
    table = pa.Table.from_pandas(long, preserve_index=False)
    part = sorted({(w, d) for w, d in zip(weekly.index, days, strict=True) if 0 < d < 7})
    with _tables_lock:
        _tables[key] = (weekly, table, part)
        while len(_tables) > _TABLES_KEPT:
            _tables.popitem(last=False)
    return table, part
