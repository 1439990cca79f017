"""Cached data access for the pages: stores and live stores, filter choices, and what the map,
the figures, the CompStat review, the hotspots and the public view show.

Every call into ``layers`` that turns a snapshot into what a viewer may see is made here, and
only here: the access step (``apply_policy``, directly or inside ``prepare_map`` and
``run_hotspots``), the figures over its result, and suppression (``disclose``), once for each
set of figures. Caches are keyed on small hashable values (paths, store versions, filters,
policies)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.app_session import AppSession

from layers.access.policy import Policy, PrivacyRules
from layers.access.sight import Sight, apply_policy
from layers.access.suppression import disclose
from layers.analysis import compstat
from layers.analysis.areas import (
    Area,
    AreaCounts,
    area_counts,
    area_figures,
    area_rule,
    counted_units,
)
from layers.analysis.evaluate import evaluate_hotspots
from layers.analysis.figures import (
    areas_shown,
    heat_figure,
    new_figure,
    review_figures,
    side_figures,
    side_view,
)
from layers.analysis.playback import Step, Timeline, histogram_figure, timeline
from layers.analysis.study import (
    HotspotParams,
    HotspotResult,
    run_hotspots,
)
from layers.intake.addresses import AddressPoints, read_addresses
from layers.intake.validate import Extent
from layers.livefeed.live import LiveStore, recent_rows, stored_since
from layers.maps.playback import (
    FrameMap,
    HeatScale,
    histogram_table,
    playback_area_classes,
    playback_scale,
    prepare_frame,
)
from layers.maps.view import MapData, prepare_map
from layers.publishing.areas import PublicAreaCounts, public_area_counts
from layers.publishing.playback import PublicPlayback, public_playback
from layers.publishing.public import (
    PublicFigures,
    PublicSite,
    public_figures,
    store_site,
)
from layers.storage import columnar
from layers.storage.filters import IncidentFilter
from layers.storage.join import OUTSIDE
from layers.storage.store import StoreSnapshot, open_store

ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("dashboard")
# Incidents are dated, and "today" is, in Cape Town's time.
LOCAL_ZONE = ZoneInfo("Africa/Johannesburg")
LIVE_SCHEMES = ("postgresql://", "postgres://")


def _refuse_clear_cache(session: AppSession) -> None:
    """Streamlit clears every cache of the process for any client that asks (a websocket
    message, no rights needed), which makes every session reload the store. Viewers do not
    steer the server: the request is logged and refused. Operators restart the app instead."""
    LOG.warning("A client asked to clear the server's caches (session %s): refused.", session.id)


AppSession._handle_clear_cache_request = _refuse_clear_cache  # type: ignore[method-assign]


def as_role(policy: Policy) -> Policy:
    """``policy`` without the viewer's name: what every figure and map layer depends on
    (role, agency, rules), so that the caches keyed by it are shared by everyone who may
    see the same, not kept once per person. Audited actions keep the full policy."""
    if not policy.viewer.name:
        return policy
    return dataclasses.replace(policy, viewer=dataclasses.replace(policy.viewer, name=""))


def is_live(source: str) -> bool:
    """True for a PostGIS URL, false for a store folder."""
    return source.startswith(LIVE_SCHEMES)


@st.cache_resource(show_spinner=False)
def live_store(url: str) -> LiveStore:
    # One per database, shared by every session: a pool of connections and the incidents in
    # memory, topped up with what is new on each refresh.
    return LiveStore(url)


@st.cache_resource(max_entries=4, show_spinner=False)
def load_store(path: str, version: str) -> StoreSnapshot:
    # A snapshot is read-only and shared by every session; cache_data would copy it per rerun,
    # which at millions of incidents costs more than the filter itself. `version` keys the cache
    # so a new ingest is picked up.
    if is_live(path):
        return live_store(path).snapshot_at(version)
    return open_store(path, version=version or None)


@st.cache_data(max_entries=64, show_spinner=False)
def filter_choices(path: str, version: str) -> dict[str, list[str]]:
    snapshot = load_store(path, version)
    columns = snapshot.columns

    def present(column: str) -> list[str]:
        counts = columnar.counts_by(columns, None, column)
        return sorted(str(label) for label in counts.index[counts.to_numpy() > 0])

    def with_outside(names: pd.Series, column: str) -> list[str]:
        outside = OUTSIDE in present(column)
        return [*names, *([OUTSIDE] if outside else [])]

    first, last = columnar.day_span(columns) or (date.today(), date.today())
    return {
        "agencies": present("agency"),
        "areas": present("collaboration_area"),
        "categories": present("category"),
        "precincts": with_outside(snapshot.precincts["name"], "precinct"),
        "wards": with_outside(snapshot.wards["name"], "ward"),
        "first": [str(first)],
        "last": [str(last)],
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def kept(path: str, version: str, flt: IncidentFilter) -> np.ndarray | None:
    """The filter's mask over the store's incidents (None: all), shared by the map and the
    figures; a resource, so it is neither copied nor hashed on each use."""
    if flt.is_empty:
        return None
    mask = columnar.select(load_store(path, version).columns, flt)
    mask.flags.writeable = False
    return mask


@st.cache_data(max_entries=8, show_spinner=False)
def opening_view(path: str, version: str, boundary: str) -> tuple[float, float, float, float]:
    """Where the map opens: the incidents inside the chosen boundary layer, without a few
    far-off ones (see :func:`layers.storage.columnar.robust_extent`), or the boundaries' own extent
    when there are none. Choosing the other layer fits the map again."""
    snapshot = load_store(path, version)
    columns = snapshot.columns
    labels, codes = columns.labels[boundary], columns.codes[boundary]
    inside = codes >= 0
    if OUTSIDE in labels:
        inside &= codes != labels.index(OUTSIDE)
    extent = columnar.robust_extent(columns, inside)
    if extent is None:
        areas = snapshot.precincts if boundary == "precinct" else snapshot.wards
        extent = tuple(float(v) for v in areas.total_bounds)
    # Out to whole hundredths of a degree (about 1 km): the box's edges are otherwise some
    # incident's own longitude or latitude, and every viewer gets them.
    west, south, east, north = extent
    return (math.floor(west * 100) / 100, math.floor(south * 100) / 100,
            math.ceil(east * 100) / 100, math.ceil(north * 100) / 100)  # fmt: skip


# A filter's parts, as a viewer names them: (the field(s) to clear, the label).
FILTER_PARTS = (
    (("agencies",), "agency"), (("areas",), "collaboration area"),
    (("categories",), "category"), (("since", "until"), "dates"), (("hours",), "time of day"),
    (("precincts",), "precinct"), (("wards",), "ward"),
)  # fmt: skip


@st.cache_data(max_entries=16, show_spinner=False)
def why_nothing(path: str, version: str, flt: IncidentFilter, least: int) -> str:
    """Which filters exclude everything: the parts of ``flt`` that, cleared on their own,
    would leave at least ``least`` incidents (the privacy threshold for a viewer who does
    not see every incident, so that no count under it is implied)."""
    columns = load_store(path, version).columns
    freeing = []
    for names, label in FILTER_PARTS:
        if not any(getattr(flt, n) for n in names):
            continue
        wider = dataclasses.replace(flt, **{n: None if n in ("since", "until", "hours") else ()
                                            for n in names})  # fmt: skip
        mask = columnar.select(columns, wider) if not wider.is_empty else None
        if (len(columns) if mask is None else int(mask.sum())) >= least:
            freeing.append(f"the {label} filter")
    if not freeing:
        return ("No incidents match these filters, and clearing any one of them would not "
                "change that: widen several, or start again from all incidents.")  # fmt: skip
    either = " or ".join([", ".join(freeing[:-1]), freeing[-1]] if len(freeing) > 1 else freeing)
    return (f"No incidents match all of these filters together. Clearing {either} would "
            "show incidents.")  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def map_data(
    path: str,
    version: str,
    flt: IncidentFilter,
    boundary: str,
    zoom: int | None,
    bounds: tuple[float, float, float, float] | None,
    policy: Policy,
) -> MapData:
    # Keyed by filter, view and viewer: going back to an earlier one costs nothing.
    snapshot = load_store(path, version)
    sight = viewer_sight(path, version, flt, policy)
    return prepare_map(snapshot, flt, boundary=boundary, zoom=zoom, bounds=bounds, sight=sight)


# A resource, not data: shared read-only by every session that shows the same figures,
# instead of unpickled for each (every viewer of a live meeting, on every change).
@st.cache_resource(max_entries=64, show_spinner=False)
def figures(
    path: str, version: str, flt: IncidentFilter, boundary: str, policy: Policy
) -> dict[str, object]:
    """Headline, top areas and weekly trend: every figure beside the map, for one filter,
    as the viewer may see them (see layers.access.sight)."""
    sight = viewer_sight(path, version, flt, policy)
    shown = disclose(side_figures(sight, boundary=boundary), sight.k)
    return side_view(shown, boundary=boundary)


def viewer_sight(path: str, version: str, flt: IncidentFilter, policy: Policy) -> Sight:
    """The access step for one filter and viewer (:func:`layers.access.sight.apply_policy`),
    taken once and shared by the map, the figures beside it and the hotspots, and by every
    viewer of the same role (:func:`as_role`); a resource, so its arrays are neither copied
    nor hashed on each use."""
    return _viewer_sight(path, version, flt, as_role(policy))


@st.cache_resource(max_entries=16, show_spinner=False)
def _viewer_sight(path: str, version: str, flt: IncidentFilter, policy: Policy) -> Sight:
    columns = load_store(path, version).columns
    mask = kept(path, version, flt)
    if mask is not None and len(mask) != len(columns):  # the version moved on under us
        mask = columnar.select(columns, flt)
    return apply_policy(policy, columns, mask, flt)


@st.cache_data(max_entries=64, show_spinner=False)
def new_since(
    path: str, version: str, flt: IncidentFilter, policy: Policy, since: datetime
) -> int | None:
    """Incidents of a live store first stored at or after ``since`` that the filter keeps,
    as the viewer may count them (None: fewer than the viewer's k, hidden)."""
    snapshot = load_store(path, version)
    sight = viewer_sight(path, version, flt, policy)
    return disclose({"new": new_figure(sight, stored_since(snapshot, since))}, sight.k)["new"]


@st.cache_data(max_entries=16, show_spinner=False)
def rotation_areas(
    path: str, version: str, flt: IncidentFilter, by: str, policy: Policy
) -> list[str]:
    """The precincts or wards (``by``) a meeting's rotation steps through: those where the
    viewer is shown incidents of ``flt`` (see :func:`layers.analysis.figures.areas_shown`)."""
    return areas_shown(viewer_sight(path, version, flt, policy), by=by)


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Finding hotspots…")
def hotspot_result(
    path: str, version: str, flt: IncidentFilter, params: HotspotParams, policy: Policy
) -> HotspotResult:
    sight = viewer_sight(path, version, flt, policy)
    return run_hotspots(load_store(path, version), flt, params, sight=sight)


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Scoring earlier hotspots on later incidents…")
def evaluation(
    path: str, version: str, flt: IncidentFilter, split: date, area_share: float, cell_m: float
) -> pd.DataFrame:
    params = HotspotParams(cell_m=cell_m or None)
    return evaluate_hotspots(
        load_store(path, version), flt, split=split, area_share=area_share, params=params
    )


@st.cache_data(max_entries=32, show_spinner=False)
def compstat_tables(
    source: str, version: str, flt: IncidentFilter, by: str, today: date, policy: Policy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, date]:
    """The period comparison, hour-by-weekday grid and weekly counts for a filter (its dates
    ignored: the review sets its own windows), as the viewer may see them."""
    columns = load_store(source, version).columns
    undated = dataclasses.replace(flt, since=None, until=None)
    mask = None if undated.is_empty else columnar.select(columns, undated)
    day = compstat.default_reference_day(columns, today)
    sight = apply_policy(policy, columns, mask, flt)
    shown = disclose(review_figures(sight, by=by, today=day), sight.k)
    return shown["table"], shown["grid"], shown["weekly"], day


def recent_cells(
    source: str, version: str, flt: IncidentFilter, minutes: float, policy: Policy, *,
    zoom: int | None,
) -> pd.DataFrame | None:  # fmt: skip
    """Cells (16 px at ``zoom``, the map's current zoom if known) of the kept incidents that
    occurred in the last ``minutes``, for the "just reported" markers of a live store."""
    snapshot = load_store(source, version)
    mask = recent_rows(snapshot, minutes=minutes)
    if not mask.any():
        return None
    keep = kept(source, version, flt)
    if keep is not None and len(keep) == len(mask):
        mask = mask & keep
    if zoom is None:
        zoom = columnar.fit_zoom(snapshot.precincts.total_bounds)
    sight = apply_policy(policy, snapshot.columns, mask, flt)
    return disclose({"recent": heat_figure(sight, zoom=zoom, cell_px=16)}, sight.k)["recent"]


@st.cache_resource(max_entries=4, show_spinner="Publishing the public monthly map…")
def public_site(source: str, version: str, site_dir: str | None, _snapshot: StoreSnapshot,
                _rules: PrivacyRules) -> PublicSite:  # fmt: skip
    """The published site public viewers see: ``--public-site``, or the store's own,
    published (incrementally) for each store version."""
    if site_dir:
        return PublicSite.load(site_dir)
    if is_live(source):
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        target = ROOT / "stores" / f"public-live-{digest}"
    else:
        target = Path(source) / "public-site"
    return store_site(_snapshot, _rules, publish_to=target)


@st.cache_data(max_entries=32, show_spinner=False)
def public_view(source: str, version: str, site_dir: str | None, months: tuple[str, ...],
                group: str, area: str | None, _site: PublicSite) -> PublicFigures:  # fmt: skip
    return public_figures(_site, months, group, area)


# Time playback (the Playback page, and meeting mode): the range's incidents put in frame
# order once per data version, filter, role, range and step; each frame's figures and the
# colour scale (per zoom) cached on top of that. Frames are small: a step costs its own
# incidents, not the store's.


@st.cache_resource(max_entries=4, show_spinner="Preparing the playback…")
def playback_timeline(
    path: str, version: str, flt: IncidentFilter, policy: Policy, first: date, last: date,
    step: Step,
) -> Timeline:  # fmt: skip
    return timeline(viewer_sight(path, version, flt, policy), first=first, last=last, step=step)


@st.cache_data(max_entries=16, show_spinner=False)
def playback_histogram(
    path: str, version: str, flt: IncidentFilter, policy: Policy, first: date, last: date,
    step: Step,
) -> pd.DataFrame:  # fmt: skip
    """Incidents per frame, as the viewer may see them (NaN: hidden), with each frame's
    label: the playback's histogram, and each frame's headline count."""
    line = playback_timeline(path, version, flt, policy, first, last, step)
    shown = disclose({"histogram": histogram_figure(line)}, line.sight.k)["histogram"]
    return histogram_table(line, shown)


@st.cache_data(max_entries=32, show_spinner="Setting the colour scale…")
def playback_heat_scale(
    path: str, version: str, flt: IncidentFilter, policy: Policy, first: date, last: date,
    step: Step, zoom: int,
) -> HeatScale:  # fmt: skip
    """The heat colour scale every frame is drawn on at ``zoom``."""
    line = playback_timeline(path, version, flt, policy, first, last, step)
    return playback_scale(line, zoom=zoom)


@st.cache_data(max_entries=16, show_spinner=False)
def playback_classes(
    path: str, version: str, flt: IncidentFilter, policy: Policy, first: date, last: date,
    step: Step, boundary: str,
) -> list[tuple[int, int]]:  # fmt: skip
    line = playback_timeline(path, version, flt, policy, first, last, step)
    return playback_area_classes(load_store(path, version), line, boundary=boundary)


# A resource: shared read-only by every session playing the same frames (a meeting's wall and
# the laptops in the room), never copied.
@st.cache_resource(max_entries=256, show_spinner=False)
def playback_frame(
    path: str, version: str, flt: IncidentFilter, policy: Policy, first: date, last: date,
    step: Step, index: int, boundary: str, zoom: int,
    bounds: tuple[float, float, float, float] | None,
) -> FrameMap:  # fmt: skip
    line = playback_timeline(path, version, flt, policy, first, last, step)
    snapshot = load_store(path, version)
    return prepare_frame(snapshot, line, index, boundary=boundary, zoom=zoom, bounds=bounds)


@st.cache_data(max_entries=16, show_spinner="Reading the published months…")
def public_playback_view(source: str, version: str, site_dir: str | None,
                         months: tuple[str, ...], group: str, area: str | None,
                         _site: PublicSite) -> PublicPlayback:  # fmt: skip
    return public_playback(_site, months, group, area)


# -- areas and buffers (pages/areas.py) ------------------------------------------------------


@st.cache_data(max_entries=32, show_spinner=False)
def area_view(
    path: str, version: str, flt: IncidentFilter, policy: Policy, area_key: str, _area: Area
) -> tuple[AreaCounts, gpd.GeoDataFrame]:
    """The counts inside an area (``area_key`` names ``_area``) as the viewer may see them:
    the access step's sight, the figures (:func:`layers.analysis.areas.area_figures`), and
    suppression, once; and the whole units counted in, for the map."""
    snapshot = load_store(path, version)
    sight = viewer_sight(path, version, flt, policy)
    boundaries = {"precinct": snapshot.precincts, "ward": snapshot.wards}
    shown = disclose(area_figures(sight, _area, boundaries=boundaries), sight.k)
    rule = area_rule(sight, policy.rules, lat=_area.geometry.centroid.y)
    units = counted_units(sight, _area, boundaries=boundaries, rules=policy.rules)
    return area_counts(shown, sight=sight, rule=rule), units


@st.cache_data(max_entries=32, show_spinner=False)
def public_area(source: str, version: str, site_dir: str | None, months: tuple[str, ...],
                area_key: str, _site: PublicSite, _area: Area) -> PublicAreaCounts:  # fmt: skip
    """The counts inside an area from the published site alone (the public role's)."""
    return public_area_counts(_site, months, _area)


@st.cache_resource(max_entries=2, show_spinner="Reading the address points…")
def address_points(path: str, modified_ns: int, column: str | None,
                   extent: tuple[float, float, float, float]) -> AddressPoints:  # fmt: skip
    """The ``--addresses`` file, read and checked once per version of the file (``modified_ns``)
    against the boundaries' ``extent``; shared by every session."""
    return read_addresses(path, extent=Extent.of(extent), address_field=column)
