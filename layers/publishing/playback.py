"""The public map played back month by month, from the published site alone.

A public viewer's playback steps through published months only, one whole month a frame,
each frame exactly the month's published numbers (:func:`layers.publishing.public.public_figures`
of that one month): the published cells, precinct counts and total, never finer and never
a part month. Every frame is coloured on one set of classes, those of all the frames' cell
counts together, so that a colour means the same count in every month.

Nothing here is computed from incidents: like every public view, a playback is a function of
the published set, and reveals nothing the site does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from layers.maps.assets import apply_offline_assets
from layers.maps.webmap import area_layer, choropleth_classes, map_layers
from layers.publishing.public import PublicFigures, PublicSite, PublicViewError, public_figures


@dataclass(frozen=True)
class PublicPlayback:
    """A run of published months as frames.

    Attributes
    ----------
    frames : tuple of PublicFigures
        One month each, as published.
    classes : list of (int, int)
        The cells' colour classes, the same for every frame.
    histogram : pandas.DataFrame
        ``month`` (``YYYY-MM``), ``start`` and ``end`` (its first and last day), ``label``
        (``March 2026``), ``note`` (empty), ``whole`` (True) and ``incidents`` (the published
        total; NaN where it is suppressed), one row a frame.
    """

    frames: tuple[PublicFigures, ...]
    classes: list[tuple[int, int]]
    histogram: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frames)


def public_playback(
    site: PublicSite, months: Sequence[str], group: str, area: str | None = None
) -> PublicPlayback:
    """The published ``months`` (as :func:`~layers.publishing.public.month_run` gives them)
    of ``group`` (and ``area``, a precinct) as playback frames."""
    if not months:
        raise PublicViewError("Pick at least one published month to play back.")
    frames = tuple(public_figures(site, (month,), group, area) for month in months)
    counts = np.concatenate([f.cells["count"].dropna().to_numpy(dtype=float) for f in frames])
    starts = [date.fromisoformat(f"{month}-01") for month in months]
    ends = [(day + timedelta(days=31)).replace(day=1) - timedelta(days=1) for day in starts]
    histogram = pd.DataFrame(
        {
            "month": list(months),
            "start": pd.to_datetime(starts),
            "end": pd.to_datetime(ends),
            "label": [f"{day:%B %Y}" for day in starts],
            "note": "",
            "whole": True,
            "incidents": np.array([f.total for f in frames], dtype=float),
        }
    )
    return PublicPlayback(frames, choropleth_classes(counts), histogram)


def public_frame_layers(
    site: PublicSite, playback: PublicPlayback, index: int
) -> list[folium.FeatureGroup]:
    """Frame ``index``'s layers for a map whose base stays put: its cells on the playback's
    classes, with their legend, and the precinct outlines."""
    if not 0 <= index < len(playback):
        raise IndexError(f"`index` must be 0 to {len(playback) - 1}, not {index}.")
    figures = playback.frames[index]
    cells = figures.cells
    shown = gpd.GeoDataFrame(
        {
            "name": ("in " + cells["precinct"].astype(str)).to_numpy(),
            "count": cells["count"].to_numpy(),
            "count_text": [figures.text(c) for c in cells["count"]],
        },
        geometry=cells.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    label = f"cell of about {site.cell_m:,.0f} m"
    groups = map_layers(shown, None, area_label=label, style="choropleth", zoom=0,
                        area_classes=playback.classes)  # fmt: skip
    outlines = site.precincts[["name", "geometry"]].assign(count=np.nan, count_text="")
    if figures.area:
        outlines = outlines[outlines["name"] == figures.area]
    outline = area_layer(outlines, area_label="Precinct", style="outline")
    groups.append(apply_offline_assets(outline, mode="served"))
    return groups
