"""Weekly trend charts, beside the map and in the CompStat review."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import streamlit as st

from layers.storage import columnar


def trend_chart(weekly: pd.DataFrame, *, height: int, first: date, last: date) -> None:
    """Weekly counts as lines, one per column, for the period ``first`` to ``last``. A week
    the period cuts (the first and last of a date range, the week in progress on a live
    store) is drawn at its daily rate times seven and marked, so that it never looks like a
    fall. A fixed Vega-Lite spec: st.line_chart builds an Altair chart on every run, which
    on a live page refreshing for 20 viewers costs more than everything else on it."""
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
    x = {"field": "week", "type": "temporal", "title": None}
    y = {"field": "per_week", "type": "quantitative", "title": "Incidents per week"}
    colour = {"field": "group", "type": "nominal", "title": None}
    spec = {
        "layer": [
            {"mark": {"type": "line"}, "encoding": {"x": x, "y": y, "color": colour}},
            {
                "mark": {"type": "point", "size": 45, "tooltip": True},
                "encoding": {
                    "x": x, "y": y, "color": colour,
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
    st.vega_lite_chart(long, spec, width="stretch", height=height)
    part = sorted({(w, d) for w, d in zip(weekly.index, days, strict=True) if 0 < d < 7})
    if part:
        weeks = "; ".join(f"week of {w:%d %b}: {d} of 7 days" for w, d in part)
        st.caption(f"Part weeks ({weeks}) are drawn at their daily rate times 7 (diamonds).")
