"""The public site: one small published set of monthly counts, protected as a whole.

``python -m layers publish --store S --out DIR`` writes a static site that any web server can
serve to any number of people. It is also the only source of every number a public viewer
sees: the dashboard's public role and ``--role public`` on the command line read it, and
nothing else (see :mod:`layers.publishing.public`).

What is published, for every whole local month that has ended (and ``settle_days`` more, so
that late reports are in), and every *group* (all incidents, and each collaboration area):

- a count per *cell*: a square of about ``cell_m`` metres on a fixed Web Mercator grid,
  clipped to the precinct it lies in, so that cells nest in precincts;
- a count per SAPS precinct, and the group's total.

Incidents of sensitive categories are left out of every group ("all" too), and so are
incidents outside every precinct. Counts under ``k`` are suppressed, with complements chosen
by :mod:`layers.access.disclosure` so that no combination of published numbers narrows a suppressed
count below ``k``. Months are independent tables; nothing cumulative is published.

The format is a contract (tests read it, and so may the City's open-data portal):

``manifest.json``
    ``{"k", "cell_m", "months": ["YYYY-MM", ...], "groups": [...], "views": [{"month",
    "group", "file", "areas", "total"}, ...], "as_of", "excluded_categories", ...}``
``file``
    A GeoJSON FeatureCollection of polygon cells with properties ``cell`` (an id stable
    across views and months), ``count`` (an integer, or null where suppressed) and
    ``precinct``.
``areas``
    ``{precinct name: count or null}``.
``basemap``
    What the map is drawn over, or null: ``{"kind": "local" or "remote", "url" (a tile URL
    template, relative to the site for a local basemap: ``tiles/<id>/{z}/{x}/{y}.png``),
    "format", "media_type", "vector", "protomaps_schema", "layers", "min_zoom", "max_zoom"
    (the zooms the tiles exist at; the map enlarges the deepest), "bounds" (lon/lat, or null),
    "attribution" (HTML), "legend" (text)}``, for a local one ``"tiles"`` and ``"bytes"``, and
    for vector tiles ``"scripts"``, the renderer's files to load (``vendor/...?v=<digest>``).

A published month is final: later runs keep its files as they were, whatever came in late,
because two versions of one month could be compared to locate the incidents that changed
(hence the ``settle_days`` before a month is first published). So publishing is
incremental (only new months are computed and written) and atomic: ``DIR`` is a symbolic
link to a complete version folder, replaced in one rename.

A local basemap (``--tiles``, :mod:`layers.maps.tiles`) is copied into the version folder,
for the precincts' extent and zooms from 8 (or the file's first) to 16 (or its last) within a
byte budget, as ``tiles/<id>/z/x/y.<ext>``: ``<id>`` changes with the file, the extent and
the zooms, so a tile URL always names the same bytes and can be cached for good. When the
previous version has the same tiles they are hard-linked, not copied again. The basemap is
not part of the method: changing it publishes no month again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers._errors import LayersError
from layers.access.disclosure import MonthTable, Suppression, primary, protect
from layers.access.policy import EQUATOR_M_PER_PX0, PrivacyRules, anonymous_shift
from layers.access.sight import sensitive_rows
from layers.maps.assets import (
    LEAFLET_CSS,
    LEAFLET_JS,
    PROTOMAPS_JS,
    VECTOR_BASEMAP_JS,
    VendorAsset,
    vendor_dir,
)
from layers.maps.basemap import credit
from layers.maps.tiles import (
    MEDIA_TYPES,
    Basemap,
    BasemapError,
    check_extent,
    extension,
    open_tiles,
    plain_tile,
    tiles_in,
    write_tile_folder,
)
from layers.maps.webmap import display_geometry
from layers.settings import LOCAL_TZ
from layers.storage.columnar import EPOCH, IncidentColumns, pixels_to_lonlat
from layers.storage.store import StoreSnapshot, write_text_atomic

ALL = "all"
# Bumped when the method changes, so that every month is published again.
METHOD_VERSION = "2"
DEFAULT_MONTHS = 12
DEFAULT_SETTLE_DAYS = 7
DEFAULT_CELL_M = 1000.0
COORD_DECIMALS = 5
TEMPLATES = Path(__file__).resolve().parent / "site"
# A local basemap is copied for these zooms at most (the file's own, if fewer) ...
TILES_MIN_ZOOM = 8
TILES_MAX_ZOOM = 16
# ... and at most this many bytes of it: the first zoom that would pass it is left out.
DEFAULT_TILES_BUDGET = 300_000_000
TILES_DIR = "tiles"


class PublishError(LayersError):
    """The site cannot be written as asked."""


@dataclass(frozen=True)
class PublishOptions:
    """What to publish.

    Attributes
    ----------
    months : int
        The last this many whole months (default 12).
    settle_days : int
        Days after a month ends before it is published, for late reports (default 7).
    cell_m : float
        The smallest cell edge in metres (about; the grid is Web Mercator's, default 1 km).
    today : datetime.date, optional
        The local date to judge "ended" by; today in Cape Town when not given.
    suppress : bool
        False publishes counts under k as null without complements: unsafe, for the attacker
        tests only.
    republish : tuple of str
        Months to publish again although they were published before. A published month is
        final: publishing it again with late reports or corrections would let anyone who kept
        the earlier version locate what changed (see the method page). Only after a serious
        error, knowing that.
    basemap : Basemap, optional
        What the map is drawn over (:func:`layers.maps.tiles.open_basemap`): a local one is
        copied into the site for the precincts' extent; a remote one is loaded by visitors'
        browsers from its server. Not part of the method: changing it republishes no month.
    tiles_budget : int
        At most this many bytes of a local basemap's tiles, zoom by zoom from the lowest
        (always that one): the first zoom that would pass it is left out, and the deeper ones.
    """

    months: int = DEFAULT_MONTHS
    settle_days: int = DEFAULT_SETTLE_DAYS
    cell_m: float = DEFAULT_CELL_M
    today: date | None = None
    suppress: bool = True
    republish: tuple[str, ...] = ()
    basemap: Basemap | None = None
    tiles_budget: int = DEFAULT_TILES_BUDGET

    def __post_init__(self) -> None:
        if self.months < 1:
            raise PublishError(f"--months must be at least 1, not {self.months}.")
        if self.settle_days < 0:
            raise PublishError(f"--settle-days cannot be negative ({self.settle_days}).")
        if not 100 <= self.cell_m <= 50_000:
            raise PublishError(f"--cell-m must be between 100 and 50000 metres, not {self.cell_m}.")
        if self.tiles_budget < 0:
            raise PublishError(f"The tiles budget cannot be negative ({self.tiles_budget}).")


@dataclass
class MonthCounts:
    """One month's published counts (None: suppressed), ready to write."""

    month: str
    cells: pd.DataFrame  # the listed cells: grid indices ix, iy and the precinct index
    listed: np.ndarray  # which of the month's cells are listed (``cells`` is those)
    groups: list[str]
    cell_counts: dict[str, list[int | None]]  # per group, aligned to ``cells``
    areas: dict[str, dict[str, int | None]]  # per group, per precinct
    totals: dict[str, int | None]
    withheld: str = ""


@dataclass(frozen=True)
class TileCopy:
    """A local basemap's tiles in a published site.

    Attributes
    ----------
    folder : str
        Where they are, relative to the site (``tiles/<id>``).
    tiles, bytes : int
        How many, and their size.
    min_zoom, max_zoom : int
        The zooms copied (the map enlarges the deepest beyond it).
    left_out : int or None
        The first zoom left out because it would have passed the budget.
    reused : bool
        Hard-linked (or copied) from the previous version, not read from the file again.
    seconds : float
        How long it took.
    """

    folder: str
    tiles: int
    bytes: int
    min_zoom: int
    max_zoom: int
    left_out: int | None
    reused: bool
    seconds: float


@dataclass
class PublishReport:
    """What a publish run did."""

    site: Path
    months: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    withheld: dict[str, str] = field(default_factory=dict)
    late: list[str] = field(default_factory=list)
    incidents: int = 0
    basemap: Basemap | None = None
    tiles: TileCopy | None = None
    basemap_problem: str | None = None
    tiles_budget: int = DEFAULT_TILES_BUDGET

    def as_text(self) -> str:
        """A short summary for the command line."""
        lines = [
            f"Published {len(self.months)} month(s) ({', '.join(self.months) or 'none'}) of "
            f"{self.incidents:,} non-sensitive incidents to {self.site}.",
            f"Rewritten: {', '.join(self.rewritten) or 'none'}; unchanged: "
            f"{', '.join(self.kept) or 'none'}.",
        ]
        lines += [f"Withheld {m}: {why}." for m, why in self.withheld.items()]
        if self.late:
            lines.append(
                f"Changed since published, and kept as published: {', '.join(self.late)} (a "
                "published month is final; publishing it again would show what changed)."
            )
        lines.append(self.basemap_text())
        return "\n".join(lines)

    def basemap_text(self) -> str:
        """One line: the site's basemap, and for a local one what was copied."""
        if self.basemap_problem:
            return f"No basemap: {self.basemap_problem}"
        if self.basemap is None:
            return "No basemap (--tiles none)."
        if self.tiles is None:
            return f"{self.basemap.legend_text()}: visitors' browsers load its tiles."
        t = self.tiles
        how = "linked from the previous version" if t.reused else "copied"
        line = (
            f"{self.basemap.legend_text()}: {t.tiles:,} tiles ({t.bytes / 1e6:,.1f} MB), zooms "
            f"{t.min_zoom}-{t.max_zoom}, in {t.folder}/ ({how} in {t.seconds:.1f} s)"
        )
        if t.left_out is not None:
            line += (f"; zoom {t.left_out} and deeper left out (over the "
                     f"{self.tiles_budget / 1e6:,.0f} MB budget: the map enlarges zoom "
                     f"{t.max_zoom})")  # fmt: skip
        if self.basemap.warning:
            line += f". {self.basemap.warning}"
        return line + "."


# --- counting ------------------------------------------------------------------------------


def published_groups(columns: IncidentColumns, rules: PrivacyRules) -> list[str]:
    """``"all"`` and the collaboration areas that are not sensitive, in name order."""
    sensitive = {a.strip().casefold() for a in rules.sensitive_areas}
    areas = sorted(
        label for label in columns.labels["collaboration_area"]
        if label.strip().casefold() not in sensitive
    )  # fmt: skip
    return [ALL, *areas]


def complete_months(
    columns: IncidentColumns, *, today: date, settle_days: int, months: int
) -> list[str]:
    """The last ``months`` whole local months with incidents that ended ``settle_days``
    before ``today``, oldest first."""
    if not len(columns):
        return []
    first = EPOCH + timedelta(days=int(columns.day.min()))
    last = EPOCH + timedelta(days=int(columns.day.max()))
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        following = _next_month(year, month)
        if following + timedelta(days=settle_days) <= today:
            out.append(f"{year:04d}-{month:02d}")
        year, month = following.year, following.month
    return out[-months:]


def _next_month(year: int, month: int) -> date:
    """The first day of the month after ``year``-``month``."""
    return date(year + month // 12, month % 12 + 1, 1)


def local_today() -> date:
    """Today's date in Cape Town."""
    return pd.Timestamp.now(tz=LOCAL_TZ).date()


def _month_days(month: str) -> tuple[int, int]:
    """First and last day of ``YYYY-MM`` as days since the epoch."""
    year, mon = (int(part) for part in month.split("-"))
    start = date(year, mon, 1)
    end = _next_month(year, mon) - timedelta(days=1)
    return (start - EPOCH).days, (end - EPOCH).days


def cell_shift(cell_m: float) -> int:
    """The grid's cell edge is ``2 ** -shift`` zoom-0 pixels (at least ``cell_m`` metres
    everywhere in the metro; see :func:`layers.access.policy.anonymous_shift`)."""
    return anonymous_shift(cell_m)


def cell_edge_m(shift: int, *, lat: float = -34.0) -> float:
    """The cell edge in metres at ``lat`` (the metro's middle, by default)."""
    return float(EQUATOR_M_PER_PX0 * np.cos(np.radians(lat)) / 2**shift)


def month_tables(
    snapshot: StoreSnapshot, rules: PrivacyRules, months: Sequence[str], *, cell_m: float
) -> tuple[list[str], list[str], dict[str, tuple[MonthTable, pd.DataFrame]]]:
    """Count each month's publishable incidents by group and cell.

    Returns
    -------
    groups : list of str
        Group names, ``"all"`` first (the tables' rows are the others, in this order).
    precincts : list of str
        Precinct names in the order of the tables' precinct indices.
    tables : dict
        Per month, the :class:`~layers.access.disclosure.MonthTable` and a frame of its cells
        (``ix``, ``iy``, ``precinct``: grid indices and precinct index).
    """
    columns = snapshot.columns
    groups = published_groups(columns, rules)
    precincts = sorted(str(n) for n in snapshot.precincts["name"])
    shift = cell_shift(cell_m)
    keep = ~sensitive_rows(columns, rules)
    prec_labels = columns.labels["precinct"]
    prec_index = {name: i for i, name in enumerate(precincts)}
    prec_lookup = np.array([prec_index.get(name, -1) for name in prec_labels] + [-1])
    prec_code = prec_lookup[columns.codes["precinct"]]
    keep &= prec_code >= 0  # outside every precinct (or a precinct since removed)
    group_index = {name: i for i, name in enumerate(groups[1:])}
    area_labels = columns.labels["collaboration_area"]
    group_lookup = np.array([group_index.get(name, -1) for name in area_labels] + [-1])
    group_code = group_lookup[columns.codes["collaboration_area"]]
    keep &= group_code >= 0
    ix = np.floor(columns.px * 2.0**shift).astype(np.int64)
    iy = np.floor(columns.py * 2.0**shift).astype(np.int64)
    tables: dict[str, tuple[MonthTable, pd.DataFrame]] = {}
    for month in months:
        first, last = _month_days(month)
        rows = keep & (columns.day >= first) & (columns.day <= last)
        frame = pd.DataFrame(
            {"ix": ix[rows], "iy": iy[rows], "precinct": prec_code[rows], "group": group_code[rows]}
        )
        cells = (
            frame[["ix", "iy", "precinct"]]
            .drop_duplicates()
            .sort_values(["precinct", "iy", "ix"], ignore_index=True)
        )
        position = pd.MultiIndex.from_frame(cells).get_indexer(
            pd.MultiIndex.from_frame(frame[["ix", "iy", "precinct"]])
        )
        atoms = np.zeros((len(groups) - 1, len(cells)), dtype=np.int64)
        np.add.at(atoms, (frame["group"].to_numpy(), position), 1)
        table = MonthTable(atoms, cells["precinct"].to_numpy(), len(precincts))
        tables[month] = (table, cells)
    return groups, precincts, tables


def fingerprint(table: MonthTable, cells: pd.DataFrame, *, groups: Sequence[str],
                precincts: Sequence[str], k: int, shift: int) -> str:  # fmt: skip
    """A digest of everything a month's published files depend on (kept out of the site:
    a digest of small counts could be checked against guesses)."""
    digest = hashlib.sha256()
    for part in (METHOD_VERSION, str(k), str(shift), "\x1f".join(groups), "\x1f".join(precincts)):
        digest.update(part.encode() + b"\x1e")
    digest.update(np.ascontiguousarray(table.atoms, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(cells.to_numpy(dtype=np.int64)).tobytes())
    return digest.hexdigest()


def month_counts(
    month: str, table: MonthTable, cells: pd.DataFrame, *, groups: Sequence[str],
    precincts: Sequence[str], k: int, suppress: bool = True,
) -> MonthCounts:  # fmt: skip
    """The published (None: suppressed) counts of one month."""
    hidden: Suppression = protect(table, k) if suppress else primary(table, k)
    # Cells whose total is suppressed are not listed at all: a listed cell would say "at
    # least one incident here", and its incidents are in the precinct's count either way.
    listed = ~hidden.cells
    out = MonthCounts(month=month, cells=cells[listed].reset_index(drop=True), listed=listed,
                      groups=list(groups), cell_counts={}, areas={}, totals={},
                      withheld=hidden.withheld)  # fmt: skip

    def shown(values: np.ndarray, mask: np.ndarray) -> list[int | None]:
        return [None if m else int(v) for v, m in zip(values, mask, strict=True)]

    out.cell_counts[ALL] = shown(table.cells[listed], hidden.cells[listed])
    out.areas[ALL] = dict(zip(precincts, shown(table.precincts, hidden.precincts), strict=True))
    out.totals[ALL] = None if hidden.total else int(table.atoms.sum())
    pg = table.precinct_groups
    for g, group in enumerate(groups[1:]):
        out.cell_counts[group] = shown(table.atoms[g][listed], hidden.atoms[g][listed])
        out.areas[group] = dict(
            zip(precincts, shown(pg[g], hidden.precinct_groups[g]), strict=True)
        )
        out.totals[group] = None if hidden.groups[g] else int(table.atoms[g].sum())
    return out


# --- geometry ------------------------------------------------------------------------------


def cell_ids(cells: pd.DataFrame, precincts: Sequence[str], shift: int) -> list[str]:
    """Stable ids: the same grid square in the same precinct has the same id in every view,
    month and run (a digest of the square and the precinct's name)."""
    return [
        hashlib.blake2s(f"{shift}/{x}/{y}/{precincts[p]}".encode(), digest_size=6).hexdigest()
        for x, y, p in zip(cells["ix"], cells["iy"], cells["precinct"], strict=True)
    ]


def cell_polygons(cells: pd.DataFrame, precinct_shapes: Sequence[object], shift: int) -> np.ndarray:
    """Each cell's square clipped to its precinct, in lon/lat, rounded to about a metre."""
    size = 2.0**-shift
    x0, y0 = cells["ix"].to_numpy() * size, cells["iy"].to_numpy() * size
    west, north = pixels_to_lonlat(x0, y0, 0)
    east, south = pixels_to_lonlat(x0 + size, y0 + size, 0)
    squares = shapely.box(west, south, east, north)
    shapes = np.asarray(precinct_shapes, dtype=object)[cells["precinct"].to_numpy()]
    clipped = shapely.intersection(squares, shapes)
    clipped = np.where(shapely.is_empty(clipped) | (shapely.area(clipped) == 0), squares, clipped)
    clipped = shapely.transform(clipped, lambda xy: xy.round(COORD_DECIMALS))
    polygonal = shapely.get_type_id(clipped)
    # A clip may leave lines or points beside the polygons; keep the polygons.
    bad = ~np.isin(polygonal, (3, 6))
    if bad.any():
        clipped[bad] = [_polygons_only(g) for g in clipped[bad]]
    return clipped


def spare_area(
    pieces: np.ndarray, cell_precinct: Sequence[int], precinct_shapes: Sequence[object]
) -> np.ndarray:
    """Per precinct, whether some of it lies outside the month's cells (``pieces``, from
    :func:`cell_polygons`), where an alternative table may put incidents that no listed cell
    shows (see :class:`~layers.access.disclosure.MonthTable`)."""
    shapes = np.asarray(precinct_shapes, dtype=object)
    covered = np.zeros(len(shapes))
    np.add.at(covered, np.asarray(cell_precinct, dtype=np.int64), shapely.area(pieces))
    return shapely.area(shapes) > covered * (1 + 1e-6) + 1e-12


def _polygons_only(geometry: object) -> object:
    parts = [g for g in shapely.get_parts(geometry) if shapely.get_type_id(g) in (3, 6)]
    return shapely.union_all(parts) if parts else geometry


def view_geojson(counts: MonthCounts, group: str, ids: Sequence[str],
                 polygons: np.ndarray, precincts: Sequence[str]) -> str:  # fmt: skip
    """One view's cells as GeoJSON text."""
    geometries = shapely.to_geojson(polygons)
    names = [precincts[p] for p in counts.cells["precinct"]]
    features = [
        '{"type":"Feature","properties":'
        + json.dumps({"cell": cid, "count": value, "precinct": name}, ensure_ascii=False)
        + ',"geometry":'
        + geometry
        + "}"
        for cid, value, name, geometry in zip(
            ids, counts.cell_counts[group], names, geometries, strict=True
        )
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


# --- the site ------------------------------------------------------------------------------


def publish_site(
    snapshot: StoreSnapshot,
    out: Path | str,
    *,
    rules: PrivacyRules | None = None,
    options: PublishOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> PublishReport:
    """Write (or bring up to date) the public site at ``out``.

    ``out`` becomes a symbolic link to a complete version folder in ``.<name>.sites/``
    beside it; the link is replaced in one rename, so a visitor never loads half a site. A
    month published before keeps its files as they were, even if its incidents changed
    since (see ``PublishOptions.republish``): only new months are computed.

    Parameters
    ----------
    snapshot : StoreSnapshot
        The store to publish.
    out : path-like
        The site's path (a symbolic link this function manages; not an existing folder).
    rules : PrivacyRules, optional
        ``k`` and the sensitive categories (the access file's ``[privacy]``).
    options : PublishOptions, optional
        Months, settling days and cell size.
    progress : callable, optional
        Called with a message and a fraction done.

    Returns
    -------
    PublishReport
    """
    rules = rules or PrivacyRules()
    options = options or PublishOptions()
    out = Path(out)
    if out.exists() and not out.is_symlink():
        raise PublishError(
            f"{out} is an existing folder that publish did not make. Give a new path: publish "
            "makes it a link to the current version of the site."
        )
    say = progress or (lambda message, fraction: None)
    sites = out.parent / f".{out.name}.sites"
    sites.mkdir(parents=True, exist_ok=True)
    state_path = sites / "state.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    previous = out.resolve() if out.is_symlink() else None
    old_manifest = _read_json(previous / "manifest.json") if previous else None

    method = _method_digest(rules, cell_shift(options.cell_m))
    if state.get("method") not in (None, method):
        raise PublishError(
            f"{out.name} was published with other settings (k, cell size or sensitive "
            "categories). Two grids or thresholds over the same months could be laid over each "
            "other to place incidents more finely: publish these settings to a new folder."
        )
    today = options.today or local_today()
    columns = snapshot.columns
    months = complete_months(columns, today=today, settle_days=options.settle_days,
                             months=options.months)  # fmt: skip
    groups, precincts, tables = month_tables(snapshot, rules, months, cell_m=options.cell_m)
    shift = cell_shift(options.cell_m)
    shapes = snapshot.precincts.set_index(snapshot.precincts["name"].astype(str)).geometry
    shapes = shapes.to_crs("EPSG:4326")
    box = tuple(float(v) for v in shapes.total_bounds)
    shapes = shapes.reindex(precincts).to_numpy()

    version = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder = sites / version
    staging = sites / f".{version}.tmp"
    report = PublishReport(site=out, months=list(months), tiles_budget=options.tiles_budget)
    try:
        staging.mkdir()
        basemap_record = None
        if options.basemap is not None:
            say("Copying the basemap", 0.0)
            try:
                report.basemap = check_extent(options.basemap, box)
                basemap_record, report.tiles = _add_basemap(
                    report.basemap, staging, box, budget=options.tiles_budget,
                    previous=previous, old=(old_manifest or {}).get("basemap"),
                )  # fmt: skip
            except (BasemapError, sqlite3.DatabaseError) as err:
                # A tiles file that cannot be used: the site is published without a basemap.
                shutil.rmtree(staging / TILES_DIR, ignore_errors=True)
                report.basemap, report.tiles = None, None
                report.basemap_problem = str(err)
        vector = bool(basemap_record and basemap_record["vector"])
        digests = _copy_assets(staging, vector=vector)
        if basemap_record and vector:
            # vendor/ is cached for good: the page asks for these by their content's digest,
            # so a browser never keeps a renderer or style older than the site.
            basemap_record["scripts"] = [
                f"vendor/{a.filename}?v={digests[a.filename]}"
                for a in (PROTOMAPS_JS, VECTOR_BASEMAP_JS)
            ]
        views = []
        fingerprints: dict[str, str] = {}
        old_views = {(v["month"], v["group"]): v for v in (old_manifest or {}).get("views", [])}
        for i, month in enumerate(months):
            say(f"Publishing {month}", i / max(len(months), 1))
            table, cells = tables[month]
            report.incidents += int(table.atoms.sum())
            digest = fingerprint(table, cells, groups=groups, precincts=precincts, k=rules.k,
                                 shift=shift)  # fmt: skip
            digest += "" if options.suppress else "-unsafe"
            fingerprints[month] = digest
            published = state.get("months", {}).get(month)
            if published is not None and month not in options.republish:
                # A published month is final: its files are kept as they were, whatever came
                # in late (a second version would let anyone locate what changed).
                kept = [v for (m, _), v in old_views.items() if m == month]
                if (
                    not previous
                    or not kept
                    or not all((previous / v["file"]).is_file() for v in kept)
                ):
                    raise PublishError(
                        f"{month} was published before, but its files are gone from {out.name}. "
                        "Restore the site, or publish the month again deliberately with "
                        f"--republish {month} (which lets anyone who kept the earlier version "
                        "see what changed)."
                    )
                for view in kept:
                    _link(previous / view["file"], staging / view["file"])
                    views.append(view)
                if month in (state.get("withheld") or {}):
                    report.withheld[month] = state["withheld"][month]
                if published != digest:
                    report.late.append(month)
                fingerprints[month] = published
                report.kept.append(month)
                continue
            pieces = cell_polygons(cells, shapes, shift)  # every cell's, listed or not
            spare = spare_area(pieces, cells["precinct"], shapes)
            table = dataclasses.replace(table, spare=spare)
            counts = month_counts(month, table, cells, groups=groups, precincts=precincts,
                                  k=rules.k, suppress=options.suppress)  # fmt: skip
            if counts.withheld:
                report.withheld[month] = counts.withheld
            ids = cell_ids(counts.cells, precincts, shift)
            polygons = pieces[counts.listed]
            for group in groups:
                text = view_geojson(counts, group, ids, polygons, precincts)
                name = f"views/{month}/{_slug(group)}.{_digest(text)}.geojson"
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
                views.append(
                    {"month": month, "group": group, "file": name,
                     "areas": counts.areas[group], "total": counts.totals[group]}
                )  # fmt: skip
            report.rewritten.append(month)
        # A visitor who loaded the previous manifest a moment ago still finds its files.
        if previous and old_manifest:
            for view in old_manifest.get("views", []):
                if not (staging / view["file"]).exists() and (previous / view["file"]).is_file():
                    _link(previous / view["file"], staging / view["file"])
            # and its basemap's tiles, if they are others.
            old_tiles = _tiles_folder(old_manifest.get("basemap"))
            if old_tiles and not (staging / old_tiles).exists() and (previous / old_tiles).is_dir():
                _link_tree(previous / old_tiles, staging / old_tiles)
        manifest = {
            "k": rules.k,
            "cell_m": round(cell_edge_m(shift), 1),
            "months": list(months),
            "groups": groups,
            "views": views,
            "as_of": months[-1] if months else None,
            "published": datetime.now().astimezone().isoformat(timespec="seconds"),
            "excluded_categories": sorted({*rules.sensitive_categories, *rules.sensitive_areas}),
            "withheld": report.withheld,
            "precincts": "precincts.geojson",
            "method": "method.html",
            "synthetic": bool(snapshot.synthetic),
            "basemap": basemap_record,
        }
        _write_precincts(snapshot, staging / "precincts.geojson")
        (staging / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
        )
        _write_pages(staging, manifest)
        os.replace(staging, folder)
        _swap_link(out, folder)
        write_text_atomic(state_path, json.dumps(
            {"version": version, "method": method, "months": fingerprints,
             "withheld": report.withheld}
        ))  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(sites, keep={folder.name, previous.name if previous else ""})
    say("Published", 1.0)
    return report


def _method_digest(rules: PrivacyRules, shift: int) -> str:
    """What a site's months must share: the method, k, the grid and what is left out."""
    parts = [METHOD_VERSION, str(rules.k), str(shift), *sorted(rules.sensitive_categories), "|",
             *sorted(rules.sensitive_areas)]  # fmt: skip
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


# --- the basemap ---------------------------------------------------------------------------

_TILESET_ID = re.compile(r"[0-9a-f]{16}")


def _add_basemap(
    basemap: Basemap, staging: Path, box: Sequence[float], *, budget: int,
    previous: Path | None, old: dict | None,
) -> tuple[dict, TileCopy | None]:  # fmt: skip
    """The manifest's record of ``basemap``; a local one's tiles are put in ``staging``
    (linked from ``previous`` when its ``old`` record names the same tiles)."""
    legend = basemap.legend_text()
    if basemap.coverage is not None:  # as the dashboard's maps say it
        legend += f"; it covers {basemap.coverage:.0%} of this map"
    record = {
        "kind": "local" if basemap.local else "remote",
        "url": basemap.url,
        "format": basemap.format,
        "media_type": MEDIA_TYPES[basemap.format],
        "vector": basemap.vector,
        "protomaps_schema": basemap.protomaps_schema,
        "layers": list(basemap.vector_layers),
        "min_zoom": basemap.min_zoom,
        "max_zoom": basemap.max_zoom,
        "bounds": list(basemap.bounds) if basemap.bounds else None,
        "attribution": basemap.attribution,
        "legend": legend,
    }
    if not basemap.local:
        return record, None
    area = _overlap(box, basemap.bounds)
    low = min(max(basemap.min_zoom, TILES_MIN_ZOOM), basemap.max_zoom)
    high = max(low, min(basemap.max_zoom, TILES_MAX_ZOOM))
    started = time.monotonic()
    # Everything the copied tiles depend on: the file (its key), the extent, the zooms asked
    # for and the budget. The same id is the same tiles, under URLs cached for good.
    asked = f"{basemap.key}|{basemap.format}|{[round(v, 6) for v in area]}|{low}|{high}|{budget}"
    folder = f"{TILES_DIR}/{hashlib.sha256(asked.encode()).hexdigest()[:16]}"
    if (
        old is not None and previous is not None and _tiles_folder(old) == folder
        and all(isinstance(old.get(k), int) for k in ("tiles", "bytes", "min_zoom", "max_zoom"))
        and (previous / folder).is_dir()
    ):  # fmt: skip
        _link_tree(previous / folder, staging / folder)
        copy = TileCopy(folder, tiles=int(old["tiles"]), bytes=int(old["bytes"]),
                        min_zoom=int(old["min_zoom"]), max_zoom=int(old["max_zoom"]),
                        left_out=None, reused=True, seconds=0.0)  # fmt: skip
    else:
        copy = _copy_tiles(basemap, staging / folder, area, range(low, high + 1), budget)
    copy = dataclasses.replace(copy, folder=folder, seconds=time.monotonic() - started)
    record.update(
        url=f"{folder}/{{z}}/{{x}}/{{y}}.{extension(basemap.format)}",
        min_zoom=copy.min_zoom, max_zoom=copy.max_zoom,
        bounds=[round(v, 6) for v in area], attribution=credit(basemap),
        tiles=copy.tiles, bytes=copy.bytes,
    )  # fmt: skip
    return record, copy


def _copy_tiles(basemap: Basemap, target: Path, box: Sequence[float], zooms: Sequence[int],
                budget: int) -> TileCopy:  # fmt: skip
    """Copy ``basemap``'s tiles covering ``box`` into ``target``, zoom by zoom from the
    lowest, up to the zoom before the one that would take them over ``budget`` bytes (but
    always the lowest): each zoom is measured before any of it is written."""
    reader = open_tiles(basemap)
    sizes: dict[int, tuple[int, int]] = {}  # zoom: tiles, bytes (as written: uncompressed)
    total = 0
    left_out = None
    try:
        for z in zooms:
            count = size = 0
            for _, x, y in tiles_in(box, [z]):
                data = reader.tile(z, x, y)
                if data is not None:
                    count, size = count + 1, size + len(plain_tile(data))
            if not count:
                continue
            if sizes and total + size > budget:
                left_out = z
                break
            sizes[z] = (count, size)
            total += size
    finally:
        reader.close()
    if not sizes:
        raise BasemapError(
            f"{basemap.label} holds no tiles of the site's area at zooms {zooms[0]} to "
            f"{zooms[-1]}: make a basemap of this area (see the README, 'An offline basemap')."
        )
    written = write_tile_folder(basemap, target, box, sorted(sizes))
    count = sum(c for c, _ in sizes.values())
    if written != count:
        raise BasemapError(f"{basemap.label} changed while it was copied: publish again.")
    return TileCopy(str(target), tiles=count, bytes=total, min_zoom=min(sizes),
                    max_zoom=max(sizes), left_out=left_out, reused=False, seconds=0.0)  # fmt: skip


def _tiles_folder(record: dict | None) -> str | None:
    """A manifest's local basemap's folder (``tiles/<id>``), if it has one."""
    if not isinstance(record, dict) or record.get("kind") != "local":
        return None
    parts = str(record.get("url", "")).split("/")
    if len(parts) < 2 or parts[0] != TILES_DIR or not _TILESET_ID.fullmatch(parts[1]):
        return None
    return f"{TILES_DIR}/{parts[1]}"


def _overlap(box: Sequence[float], bounds: Sequence[float] | None) -> tuple[float, ...]:
    """Where ``box`` and a basemap's ``bounds`` overlap (``box`` when it has none)."""
    if bounds is None:
        return tuple(box)
    return (max(box[0], bounds[0]), max(box[1], bounds[1]), min(box[2], bounds[2]),
            min(box[3], bounds[3]))  # fmt: skip


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path) -> int:
    """Hard-link every file under ``source`` to the same place under ``target`` (copies
    where links cannot be made, as across file systems); the number of files."""
    count = 0
    for root, _, files in os.walk(source):
        into = target / os.path.relpath(root, source)
        into.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(os.path.join(root, name), into / name)
            except OSError:
                shutil.copy2(os.path.join(root, name), into / name)
            count += 1
    return count


def _swap_link(out: Path, folder: Path) -> None:
    """Point ``out`` at ``folder`` in one rename (readers see the old site or the new)."""
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.link")
    os.symlink(os.path.relpath(folder, out.parent), tmp)
    os.replace(tmp, out)


def _prune(sites: Path, *, keep: set[str]) -> None:
    for child in sites.iterdir():
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child, ignore_errors=True)


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in text.casefold()).strip("-")
    return "-".join(part for part in slug.split("-") if part)[:60] or "group"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _copy_assets(folder: Path, *, vector: bool = False) -> dict[str, str]:
    """Leaflet into ``folder/vendor``, and protomaps-leaflet with our style of it for a vector
    basemap (only then: the page loads them only then, and a site without one does not need
    them vendored). Returns each file's content digest, by name."""
    source = vendor_dir()
    target = folder / "vendor"
    target.mkdir()
    assets: tuple[VendorAsset, ...] = (LEAFLET_JS, LEAFLET_CSS)
    if vector:
        assets += (PROTOMAPS_JS, VECTOR_BASEMAP_JS)
    for asset in assets:
        if not (source / asset.filename).is_file():
            raise PublishError(
                f"{asset.filename} is missing from {source.name}/: run `python -m layers assets` "
                "(scripts/setup does) before publishing."
            )
        shutil.copy2(source / asset.filename, target / asset.filename)
    if (source / "images").is_dir():
        shutil.copytree(source / "images", target / "images")
    return {
        a.filename: hashlib.sha256((target / a.filename).read_bytes()).hexdigest()[:12]
        for a in assets
    }


def _write_precincts(snapshot: StoreSnapshot, target: Path) -> None:
    shapes = display_geometry(snapshot.precincts[["name", "geometry"]])
    frame = gpd.GeoDataFrame({"name": shapes["name"].astype(str)}, geometry=shapes.geometry)
    target.write_text(frame.to_json(drop_id=True), encoding="utf-8")


def _write_pages(folder: Path, manifest: dict) -> None:
    excluded = "".join(f"<li>{html.escape(c)}</li>" for c in manifest["excluded_categories"])
    values = {
        "{{K}}": str(manifest["k"]),
        "{{K1}}": str(manifest["k"] - 1),
        "{{CELL_M}}": f"{manifest['cell_m']:,.0f}",
        "{{EXCLUDED}}": excluded,
        "{{SYNTHETIC}}": (
            '<p class="synthetic">SYNTHETIC DEMO DATA: these are not real incidents.</p>'
            if manifest["synthetic"] else ""
        ),
    }  # fmt: skip
    for name in ("index.html", "method.html"):
        text = (TEMPLATES / name).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        (folder / name).write_text(text, encoding="utf-8")
