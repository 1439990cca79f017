"""Counts inside an area for the public: from the published site's cells, and nothing else.

A public viewer's every number is a function of the published set (:mod:`layers.publishing.
public`), so an area's count is too: the sum of the published cells (about 1 km, cut along
precinct boundaries) that lie wholly inside the area, for each published group (all
incidents, and each collaboration area) over a run of whole months. Which cells are summed
depends on the area and the published outlines alone. Nothing new is revealed however many
areas are drawn, and nothing finer than a published cell can be isolated: two nearly equal
areas either hold the same whole cells or differ by whole published cells, whose numbers
anyone can read already.

A suppressed cell (``null`` in the site) adds nothing to the sum, which is then marked "at
least"; cells with fewer than ``k`` incidents are not published at all, so they are not
counted, and the page says so. No agency, category below the collaboration area, day or
hour is shown: the site publishes none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.analysis.areas import Area
from layers.publishing.public import GROUP_LABELS, PublicSite, PublicViewError, public_figures
from layers.publishing.publish import ALL


@dataclass(frozen=True)
class PublicAreaCounts:
    """An area's counts from the published site.

    Attributes
    ----------
    months : tuple of str
        The whole months summed.
    groups : pandas.DataFrame
        One row per published group: ``group`` (its label), ``count`` (float: the sum of the
        published cells inside, NaN when every one of them is hidden), ``partial`` (a hidden
        cell was left out: the true count is at least ``count``), ``cells`` (published cells
        inside).
    cells : geopandas.GeoDataFrame
        The published cells wholly inside the area (``cell``, ``count``, ``partial``, for all
        incidents), for the map.
    k : int
    cell_m : float
    """

    months: tuple[str, ...]
    groups: pd.DataFrame
    cells: gpd.GeoDataFrame
    k: int
    cell_m: float

    @property
    def label(self) -> str:
        first, last = self.months[0], self.months[-1]
        return first if first == last else f"{first} to {last}"

    def text(self, count: float, partial: bool = False, cells: int = 1) -> str:
        """A count as shown: ``1,234``, ``at least 1,234``, ``fewer than 3, or hidden``, or
        ``none published`` when no published cell lies inside."""
        if not cells:
            return "none published"
        if pd.isna(count):
            return f"fewer than {self.k}, or hidden"
        return f"at least {int(count):,}" if partial else f"{int(count):,}"

    @property
    def rule(self) -> str:
        """How these counts were made, for the page."""
        return (
            f"Counted from the published monthly map alone: the published cells of about "
            f"{self.cell_m:,.0f} m that lie wholly inside the area, {self.label}. A cell the "
            f"area's edge cuts is not counted. Cells with fewer than {self.k} incidents are "
            "not published, so they are not counted; a hidden cell's count is not added, and "
            "the sum says 'at least'. Sensitive categories are not published."
        )


def public_area_counts(site: PublicSite, months: Sequence[str], area: Area) -> PublicAreaCounts:
    """The counts inside ``area`` for each published group, from ``site`` alone.

    Parameters
    ----------
    site : PublicSite
    months : sequence of str
        Whole published months (see :func:`layers.publishing.public.month_run`).
    area : Area

    Returns
    -------
    PublicAreaCounts
    """
    polygon = shapely.from_wkb(shapely.to_wkb(area.geometry))
    shapely.prepare(polygon)
    rows = []
    shown = None
    for group in site.groups:
        cells = public_figures(site, months, group).cells
        inside = shapely.contains(polygon, np.asarray(cells.geometry.array, dtype=object))
        cells = cells[inside]
        counts = cells["count"].astype(float)
        rows.append(
            {
                "group": GROUP_LABELS.get(group, group),
                "count": float(counts.sum(min_count=1)),
                "partial": bool(counts.isna().any() and counts.notna().any())
                or bool(cells["partial"].any()),
                "cells": len(cells),
            }
        )
        if group == ALL:
            shown = cells.reset_index(drop=True)
    if shown is None:
        raise PublicViewError("The public site has no group of all published incidents.")
    return PublicAreaCounts(
        months=tuple(months),
        groups=pd.DataFrame(rows, columns=["group", "count", "partial", "cells"]),
        cells=shown,
        k=site.k,
        cell_m=site.cell_m,
    )
