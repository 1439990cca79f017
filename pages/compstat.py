"""CompStat review page: up or down against the previous period, when in the day and the
week, and the review as a CSV."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import streamlit as st

from app import state
from app.charts import trend_chart
from app.data import LOCAL_ZONE, filter_choices, is_live
from app.review import COMPSTAT_BY, compstat_review
from app.signin import download
from layers.analysis import compstat
from layers.dictionary import dictionary_csv


def compstat_page(request: state.Request) -> None:
    """The review, its CSV, and when in the day and the week incidents happen."""
    st.subheader("CompStat review: up or down against the previous period")
    source, version, flt, policy = request.source, request.version, request.flt, request.policy
    table, grid, weekly, day, by = compstat_review(source, version, flt, large=False,
                                                   policy=policy)  # fmt: skip
    name = f"compstat_{by}_{day:%Y%m%d}.csv"
    download("Download the review (CSV)", lambda: compstat.to_csv(table), key="c_csv",
             file_name=name, mime="text/csv", what="CompStat review", flt=flt,
             rows=len(table) - 1,
             dictionary=lambda: dictionary_csv("compstat", compstat.readable_table(table)),
             )  # fmt: skip
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Hour of day by day of week, last 28 days**")
        peak = max(float(np.nanmax(grid.to_numpy(dtype=float), initial=0)), 1.0)
        # Hours down, days across: the whole day fits the column, with no scrolling inside
        # the table (24 hours across did not fit at 1600 px).
        hours = grid.T
        hours.index = pd.Index([f"{int(h):02d}:00" for h in hours.index], name="Hour")
        row = 26
        styled = hours.style.map(lambda v: _shade(v, peak))
        st.dataframe(styled.format("{:.0f}", na_rep=f"<{policy.rules.k}"), width="stretch",
                     row_height=row, height=row * 25 + 14)  # fmt: skip
    with right:
        st.markdown(f"**Weekly trend, top five {COMPSTAT_BY[by].lower()}**")
        top = [v for v in table.loc[~table["is_total"], by].head(5)]
        shown = weekly[[c for c in top if c in weekly.columns]].tail(26)
        # The weeks hold what the store holds: from its first day to its last (today's
        # incidents included on a live store), which may cut the first and last week.
        held = filter_choices(source, version)
        start = date.fromisoformat(held["first"][0])
        if len(shown):
            start = max(start, shown.index.min().date())
        end = datetime.now(LOCAL_ZONE).date() if is_live(source) else date.fromisoformat(
            held["last"][0])  # fmt: skip
        trend_chart(shown, height=280, first=start, last=max(end, day), agencies=by == "agency")


def _shade(value: float, peak: float) -> str:
    if pd.isna(value):
        return ""
    return f"background-color: rgba(214, 47, 39, {0.85 * float(value) / peak:.2f})"


compstat_page(state.request())
