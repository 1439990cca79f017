"""Frame-based reference implementations of the dashboard's figures.

The dashboard computes these on coded columns (:mod:`layers.storage.columnar`); the tests hold the
fast path to these plain pandas versions, which are easy to read and check by eye.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.settings import LOCAL_TZ
from layers.storage.join import OUTSIDE


def counts_by_area(incidents: pd.DataFrame, *, by: str, names: pd.Series) -> pd.Series:
    """Incident count for every area, zero where none; plus "Outside boundaries" when any.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Filtered incidents with a ``precinct`` or ``ward`` column.
    by : {"precinct", "ward"}
        The area column to count by.
    names : pandas.Series
        Every area's name, in display order.

    Returns
    -------
    pandas.Series
        Counts indexed by area name, named ``count``.
    """
    counts = incidents[by].astype(object).value_counts()
    index = list(names)
    if counts.get(OUTSIDE, 0):
        index.append(OUTSIDE)
    return counts.reindex(index, fill_value=0).astype(np.int64).rename("count")


def areas_with_counts(
    areas: gpd.GeoDataFrame, incidents: pd.DataFrame, *, by: str
) -> gpd.GeoDataFrame:
    """Boundary polygons with a ``count`` column of filtered incidents."""
    counts = counts_by_area(incidents, by=by, names=areas["name"])
    return areas[["name", "geometry"]].assign(count=counts.reindex(areas["name"]).to_numpy())


def top_areas(incidents: pd.DataFrame, *, by: str, n: int = 10) -> pd.DataFrame:
    """The ``n`` areas with most incidents, with their count and share of the total."""
    counts = incidents[by].astype(object).value_counts().head(n)
    total = max(len(incidents), 1)
    return pd.DataFrame(
        {by: counts.index, "incidents": counts.to_numpy(), "share": counts.to_numpy() / total}
    )


def weekly_counts(incidents: pd.DataFrame, *, by: str = "agency") -> pd.DataFrame:
    """Incidents per local week (starting Monday) and ``by`` value, weeks as rows.

    Returns
    -------
    pandas.DataFrame
        Index ``week`` (local date of the Monday), one column per ``by`` value, zero-filled.
    """
    if incidents.empty:
        return pd.DataFrame(index=pd.Index([], name="week"))
    local = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    week = local.dt.to_period("W-SUN").dt.start_time.rename("week")
    table = pd.crosstab(week, incidents[by].astype(object))
    full = pd.date_range(table.index.min(), table.index.max(), freq="7D", name="week")
    return table.reindex(full, fill_value=0)


def headline(incidents: pd.DataFrame) -> dict[str, object]:
    """Headline figures for the filtered incidents."""
    if incidents.empty:
        return {"incidents": 0, "agencies": 0, "first": None, "last": None, "outside": 0}
    local = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ)
    outside = int((incidents["precinct"].astype(object) == OUTSIDE).sum())
    return {
        "incidents": len(incidents),
        "agencies": int(incidents["agency"].astype(object).nunique()),
        "first": local.min(),
        "last": local.max(),
        "outside": outside,
    }
