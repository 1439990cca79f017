"""What a public viewer sees, read from the published site and nothing else.

The dashboard's public role and ``--role public`` on the command line both go through
:func:`public_figures`, which reads a site written by :mod:`layers.publishing.publish`. Whatever
they
show is therefore computable from the site alone: a month (or a run of whole months), a
group (all published incidents, or one collaboration area) and optionally a precinct. A run
of months adds up the published numbers; where a month's number is suppressed, the sum is a
lower bound and says so (``partial``). There is no day, hour, agency, category or ward filter,
no live feed and no zoom level with finer numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from layers._errors import LayersError
from layers.access.policy import PrivacyRules
from layers.maps.assets import AssetMode, apply_offline_assets
from layers.maps.tiles import Basemap
from layers.maps.webmap import area_layer, build_map
from layers.publishing.publish import ALL, PublishOptions, publish_site
from layers.storage.store import StoreSnapshot

GROUP_LABELS = {ALL: "All published incidents"}


class PublicViewError(LayersError):
    """A public view asked for something the published site does not have."""


@dataclass(frozen=True, eq=False)
class PublicSite:
    """A published site, read from its folder (see :mod:`layers.publishing.publish` for the
    format)."""

    folder: Path
    manifest: dict = field(repr=False)

    @classmethod
    def load(cls, folder: Path | str) -> PublicSite:
        """Read the site's manifest; a clear error when there is no site there."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PublicViewError(
                f"No public site at {folder.name}: write one with `python -m layers publish "
                "--store STORE --out DIR`."
            ) from None
        except ValueError as err:
            raise PublicViewError(f"The public site's manifest is not valid JSON: {err}.") from None
        return cls(folder.resolve(), manifest)

    @property
    def months(self) -> list[str]:
        return list(self.manifest["months"])

    @property
    def groups(self) -> list[str]:
        return list(self.manifest["groups"])

    @property
    def k(self) -> int:
        return int(self.manifest["k"])

    @property
    def cell_m(self) -> float:
        return float(self.manifest["cell_m"])

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.get("synthetic", False))

    @cached_property
    def precincts(self) -> gpd.GeoDataFrame:
        """Precinct outlines as published."""
        return gpd.read_file(self.folder / self.manifest["precincts"])

    def view(self, month: str, group: str) -> dict:
        """The manifest's entry for one month and group."""
        for entry in self.manifest["views"]:
            if entry["month"] == month and entry["group"] == group:
                return entry
        raise PublicViewError(f"The public site has no view for {month}, {group}.")

    def cells(self, month: str, group: str) -> gpd.GeoDataFrame:
        """One view's cells: ``cell``, ``count`` (None where suppressed), ``precinct``."""
        data = json.loads((self.folder / self.view(month, group)["file"]).read_text("utf-8"))
        if not data["features"]:
            return gpd.GeoDataFrame(
                {"cell": [], "count": [], "precinct": []}, geometry=[], crs="EPSG:4326"
            )
        return gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")


@dataclass(frozen=True)
class PublicFigures:
    """A public view's numbers.

    ``count`` columns hold the sum of the published numbers (NaN where none was published);
    ``partial`` marks sums that leave out a suppressed number (the true count is at least
    the sum). For a single month, nothing is partial: every number is as published.
    """

    months: tuple[str, ...]
    group: str
    area: str | None
    total: float
    total_partial: bool
    areas: pd.DataFrame  # name, count, partial
    cells: gpd.GeoDataFrame  # cell, precinct, count, partial, geometry
    k: int

    @property
    def label(self) -> str:
        """``2026-03`` or ``2026-01 to 2026-03``."""
        first, last = self.months[0], self.months[-1]
        return first if first == last else f"{first} to {last}"

    def text(self, count: float, partial: bool = False) -> str:
        """A count as shown: ``1,234``, ``at least 1,234``, or ``fewer than 3, or hidden``."""
        if pd.isna(count):
            return f"fewer than {self.k}, or hidden"
        return f"at least {int(count):,}" if partial else f"{int(count):,}"


def month_run(site: PublicSite, first: str, last: str | None = None) -> tuple[str, ...]:
    """The published months from ``first`` to ``last`` (inclusive); a clear error for a month
    the site does not have."""
    months = site.months
    last = last or first
    for month in (first, last):
        if month not in months:
            raise PublicViewError(
                f"{month} is not published. Published months: "
                f"{', '.join(months) if months else 'none yet'} (whole months only, once ended)."
            )
    a, b = months.index(first), months.index(last)
    if a > b:
        raise PublicViewError(f"The run of months starts after it ends ({first} to {last}).")
    return tuple(months[a : b + 1])


def public_figures(
    site: PublicSite, months: Sequence[str], group: str = ALL, area: str | None = None
) -> PublicFigures:
    """A public view's numbers, from the published site only.

    Parameters
    ----------
    site : PublicSite
        The published site.
    months : sequence of str
        Whole months (``YYYY-MM``), as :func:`month_run` gives them.
    group : str
        ``"all"`` or a collaboration area the site publishes.
    area : str, optional
        A precinct: its count is the total, and only its cells are kept.

    Returns
    -------
    PublicFigures
    """
    if not months:
        raise PublicViewError("Pick at least one published month.")
    if group not in site.groups:
        raise PublicViewError(
            f"{group!r} is not a published group. Published: {', '.join(site.groups)}."
        )
    views = [site.view(m, group) for m in months]
    names = sorted(views[0]["areas"])
    if area is not None and area not in names:
        raise PublicViewError(f"{area!r} is not a published precinct.")
    area_counts = pd.DataFrame([v["areas"] for v in views], columns=names, dtype=float)
    areas = pd.DataFrame(
        {
            "name": names,
            "count": _sum(area_counts).to_numpy(),
            "partial": (area_counts.isna().any() & area_counts.notna().any()).to_numpy(),
        }
    )
    if area is None:
        totals = pd.Series([v["total"] for v in views], dtype=float)
        total = float(totals.sum(min_count=1))
        total_partial = bool(totals.isna().any() and totals.notna().any())
    else:
        row = areas.set_index("name").loc[area]
        total, total_partial = float(row["count"]), bool(row["partial"])
    cells = _cells(site, months, group)
    if area is not None:
        cells = cells[cells["precinct"] == area].reset_index(drop=True)
    return PublicFigures(
        months=tuple(months), group=group, area=area, total=total, total_partial=total_partial,
        areas=areas, cells=cells, k=site.k,
    )  # fmt: skip


def _sum(frame: pd.DataFrame) -> pd.Series:
    """Column sums of published numbers: NaN where none was published."""
    return frame.sum(min_count=1)


def _cells(site: PublicSite, months: Sequence[str], group: str) -> gpd.GeoDataFrame:
    frames = []
    for month in months:
        cells = site.cells(month, group)
        frames.append(cells[["cell", "precinct", "count", "geometry"]].assign(month=month))
    every = pd.concat(frames, ignore_index=True)
    counts = every.pivot_table(index="cell", columns="month", values="count", aggfunc="first",
                               dropna=False).reindex(columns=list(months))  # fmt: skip
    first = every.drop_duplicates("cell").set_index("cell")
    out = gpd.GeoDataFrame(
        {
            "cell": counts.index.to_numpy(),
            "precinct": first.loc[counts.index, "precinct"].to_numpy(),
            "count": counts.sum(axis=1, min_count=1).to_numpy(),
            # A month without the cell listed held too few there to list: unknown, not zero.
            "partial": (counts.isna().any(axis=1) & counts.notna().any(axis=1)).to_numpy(),
        },
        geometry=first.loc[counts.index].geometry.to_numpy(),
        crs="EPSG:4326",
    )
    return out.sort_values("cell", ignore_index=True)


def public_map(
    site: PublicSite,
    figures: PublicFigures,
    *,
    tiles: str | Basemap | None = None,
    tiles_problem: str | None = None,
    assets: AssetMode = "served",
) -> folium.Map:
    """The public view as a map: cells coloured by count, precinct outlines, a title, over
    ``tiles`` (see :func:`layers.maps.webmap.build_map`)."""
    cells = figures.cells
    shown = gpd.GeoDataFrame(
        {
            "name": ("in " + cells["precinct"].astype(str)).to_numpy(),
            "count": cells["count"].to_numpy(),
            "count_text": [
                figures.text(c, p) for c, p in zip(cells["count"], cells["partial"], strict=True)
            ],
        },
        geometry=cells.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    group = GROUP_LABELS.get(figures.group, figures.group)
    where = f" in {figures.area}" if figures.area else ""
    title = (
        f"{figures.text(figures.total, figures.total_partial)} incidents{where}: {group}, "
        f"{figures.label} (cells of about {site.cell_m:,.0f} m)"
    )
    outlines = site.precincts[["name", "geometry"]].assign(count=np.nan, count_text="")
    if figures.area:
        outlines = outlines[outlines["name"] == figures.area]
    fmap = build_map(
        shown if len(shown) else outlines, None, area_label=f"cell of about {site.cell_m:,.0f} m",
        style="choropleth",
        tiles=tiles, tiles_problem=tiles_problem, title=title, synthetic=site.synthetic,
        assets=assets, layer_control=False,
    )  # fmt: skip
    area_layer(outlines, area_label="Precinct", style="outline").add_to(fmap)
    return apply_offline_assets(fmap, mode=assets)


def store_site(
    snapshot: StoreSnapshot, rules: PrivacyRules, site: Path | None = None, *,
    publish_to: Path | None = None,
) -> PublicSite:  # fmt: skip
    """The public site of a store: ``site`` when given (a folder written by ``python -m layers
    publish``); else the store published now (incrementally, with the default options) to
    ``publish_to``, by default ``public-site`` inside the store."""
    if site is not None:
        return PublicSite.load(site)
    target = publish_to or Path(snapshot.path) / "public-site"
    publish_site(snapshot, target, rules=rules, options=PublishOptions())
    return PublicSite.load(target)
