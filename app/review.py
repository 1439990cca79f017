"""The CompStat review table (up or down against the previous period), drawn by the
CompStat page and, larger, by the Meeting page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

import pandas as pd
import streamlit as st

from app.data import LOCAL_ZONE, compstat_tables
from layers.access.policy import Policy
from layers.analysis import compstat
from layers.storage.filters import IncidentFilter

COMPSTAT_BY = {
    "precinct": "Precincts", "ward": "Wards", "agency": "Agencies",
    "collaboration_area": "Collaboration areas",
}  # fmt: skip
UP, DOWN = "rgba(214, 47, 39, {a:.2f})", "rgba(26, 152, 80, {a:.2f})"


class Review(NamedTuple):
    """A CompStat review as drawn: the period table, the hour-by-weekday grid of the last 28
    days, the weekly counts, the day it is as of, and what its rows are (``by``)."""

    table: pd.DataFrame
    grid: pd.DataFrame
    weekly: pd.DataFrame
    day: date
    by: str


def compstat_review(
    source: str, version: str, flt: IncidentFilter, *, large: bool, policy: Policy
) -> Review:
    """The review's choice of rows (areas, agencies or collaboration areas), its caption and
    its table, up or down against the previous period; ``large`` for a wall. Returns what
    it drew from, for the CompStat page's export, hour grid and trend."""
    by = st.segmented_control("Review by", list(COMPSTAT_BY), key="c_by",
                              format_func=COMPSTAT_BY.get) or "precinct"  # fmt: skip
    # As of the last complete local day: today's partial counts against full days would read
    # as "down" everywhere in a morning meeting.
    yesterday = datetime.now(LOCAL_ZONE).date() - timedelta(days=1)
    table, grid, weekly, day = compstat_tables(source, version, flt, by, yesterday, policy)
    windows = table.attrs["windows"]
    st.caption(
        f"As of {day:%d %b %Y}. "
        + " · ".join(f"{compstat.PERIODS[k]}: {compstat.window_text(w)}"
                     for k, w in windows.items())
        + ". ▲ red: up, ▼ green: down, where the change is more than chance (exact Poisson "
        f"test, p < {compstat.SIGNIFICANCE:g}); an unmarked change could be chance, however "
        "large its percentage. % change is blank where there was nothing before."
    )  # fmt: skip
    shown = table.drop(columns=["is_total", *(f"{p}_p" for p in compstat.PERIODS)])
    shown.attrs = {}  # window dates: shown in the caption, not sent with the table
    pct = [c for c in shown.columns if c.endswith("_pct")]
    for column in pct:  # "+25% ▲", "new" or "–", coloured when more than chance
        shown[column] = compstat.pct_text(table, column.removesuffix("_pct"))
    marks = {p: compstat.significant(table, p) for p in compstat.PERIODS}
    counts = [c for c in shown.columns if c not in (by, *pct)]
    styled = (
        shown.style.format("{:,.0f}", subset=counts, na_rep=f"<{policy.rules.k}")
        .apply(lambda text: [_change_colour(m) for m in marks[text.name.removesuffix("_pct")]],
               subset=pct)
    )  # fmt: skip
    if large:
        styled = styled.set_properties(**{"font-size": "1.3rem"})
    st.dataframe(
        styled, hide_index=True, width="stretch", height=420 if large else 360,
        column_config={by: COMPSTAT_BY[by][:-1] if by != "agency" else "Agency",
                       "week": "This week", "week_prev": "Week before",
                       "week_change": "Change", "week_pct": "% change",
                       "days28": "Last 28 days", "days28_prev": "28 before",
                       "days28_change": "Change ", "days28_pct": "% change ",
                       "ytd": "Year to date", "ytd_prev": "Last year to date",
                       "ytd_change": "Change  ", "ytd_pct": "% change  "},
    )  # fmt: skip
    return Review(table, grid, weekly, day, by)


def _change_colour(mark: str) -> str:
    """The colour of a change follows its significance, not the size of its percentage."""
    if not mark:
        return ""
    return f"background-color: {(UP if mark == 'up' else DOWN).format(a=0.45)}"
