"""The map and the figures beside it, as one fragment: drawn by the Map page and, sized for
a wall, by the Meeting page. Map moves rerun only the fragment, and with a live store it reruns
every ``--refresh`` seconds."""

from __future__ import annotations

import argparse
import hashlib
import html
import time
from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Any

import folium
import geopandas as gpd
import streamlit as st

from app import data
from app.basemap import basemap as app_basemap
from app.basemap import basemap_notice
from app.charts import trend_chart
from app.data import LOCAL_ZONE, is_live, live_store, load_store
from app.display import guarded, md
from app.foliummap import folium_args, show_folium
from app.livewatch import VIEW_FRAGMENT, live_watch
from app.review import compstat_review
from app.signin import still_allowed
from app.state import (
    MAP_KEY,
    Request,
    area_back,
    choose_area,
    clicked_area,
    map_view,
    meeting_start,
)
from layers._errors import LayersError
from layers.access.policy import Policy
from layers.analysis.study import HotspotParams, HotspotResult
from layers.livefeed.live import live_pace
from layers.maps import webmap
from layers.maps.tiles import Basemap
from layers.storage import columnar
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot, current_version

# A map view to move to: centre (lat, lon), zoom, and the lon/lat box to make heat cells for.
Focus = tuple[tuple[float, float], int, tuple[float, float, float, float]]
# What a step of the meeting's rotation shows: its filter, map focus, heading and outline.
Shown = tuple[IncidentFilter, Focus | None, str | None, gpd.GeoDataFrame | None]
# A rotation: the source, its snapshot and the sidebar's filter in, the current step out.
Rotation = Callable[[str, StoreSnapshot, IncidentFilter], Shown]
# What hotspots on the map were found with: their options, and the version and filter.
HotspotKey = tuple[HotspotParams, str, IncidentFilter]


def map_panel(
    store: str,
    version: str,
    flt: IncidentFilter,
    *,
    boundary: str,
    style: str,
    tiles: str,
    tiles_attribution: str | None = None,
    result: HotspotResult | None,
    result_key: HotspotKey | None,
    large: bool = False,
    recent_minutes: float | None = None,
    focus: Focus | None = None,
    heading: str | None = None,
    outline: gpd.GeoDataFrame | None = None,
    policy: Policy,
    choices: dict[str, list[str]],
) -> None:
    """The map. It runs inside the view fragment: panning or zooming reruns only that, to
    refine the heat cells.

    The base map (tiles, legend, banner, opening view) is the same on every run, so the
    component never rebuilds it; everything that depends on the filters or the view goes in
    as added layers, and the viewer keeps their position. A ``focus`` (centre, zoom, padded
    bounds) moves the view without a rebuild (meeting-mode rotation). What the component is
    sent is made once for every session that shows the same thing (:func:`map_args`).
    """
    # Fixed for the session once made: a live store's new incidents must not move the
    # opening view, which would rebuild the map under the viewer.
    fit_key = f"_fit_{boundary}_{store}"
    if fit_key not in st.session_state:
        st.session_state[fit_key] = data.opening_view(store, version, boundary)
    fit = st.session_state[fit_key]
    basemap, tiles_problem = app_basemap(tiles, tiles_attribution, fit)
    basemap_notice(basemap, tiles_problem)
    viewer_zoom, bounds = map_view()
    zoom = viewer_zoom
    if focus is not None:
        zoom, bounds = focus[1], focus[2]
    elif zoom is None:  # a new map: heat for the zoom it opens at
        zoom = columnar.fit_zoom(fit)
    # "Just reported" markers age by the minute, not only by version.
    minute = int(time.time() // 60) if recent_minutes is not None else None
    args = map_args(store, version, flt, boundary, zoom, bounds, policy, style=style,
                    basemap=basemap, tiles_problem=tiles_problem, large=large, fit=fit,
                    result_key=result_key, recent_minutes=recent_minutes,
                    recent_zoom=viewer_zoom, minute=minute, focus=focus, heading=heading,
                    _result=result, _outline=outline)  # fmt: skip
    show_folium(args, key=MAP_KEY.format(boundary=boundary),
                on_feature=partial(_area_clicked, boundary, choices))  # fmt: skip


# What an area of the map carries (layers.maps.webmap.area_layer): a click on anything else
# (a hotspot cell, a "just reported" ring) filters nothing.
AREA_PROPERTIES = {"name", "count", "hidden", "incidents"}


def _area_clicked(boundary: str, choices: dict[str, list[str]], properties: dict) -> None:
    if properties.keys() >= AREA_PROPERTIES and isinstance(properties["name"], str):
        # the map escapes names for its tooltips
        choose_area(boundary, html.unescape(properties["name"]), choices)


def _row_chosen(boundary: str, key: str, names: list[str],
                choices: dict[str, list[str]]) -> None:  # fmt: skip
    rows = st.session_state[key].selection.rows
    if rows and 0 <= rows[0] < len(names):
        choose_area(boundary, names[rows[0]], choices)


@st.cache_resource(max_entries=64, show_spinner=False)
def map_args(
    store: str,
    version: str,
    flt: IncidentFilter,
    boundary: str,
    zoom: int,
    bounds: tuple[float, float, float, float] | None,
    policy: Policy,
    *,
    style: str,
    basemap: Basemap | None,
    tiles_problem: str | None,
    large: bool,
    fit: tuple[float, float, float, float],
    result_key: HotspotKey | None,
    recent_minutes: float | None,
    recent_zoom: int | None,
    minute: int | None,
    focus: Focus | None,
    heading: str | None,
    _result: HotspotResult | None,
    _outline: gpd.GeoDataFrame | None,
) -> dict[str, Any]:
    """The map component's arguments, shared (read-only) by every session that shows this
    data version, filter, view and role: the hotspots, ``_result``, are keyed by
    ``result_key`` (what they were found with), the rotation outline, ``_outline``, by the
    rotation step's ``heading``."""
    snapshot = load_store(store, version)
    shown = data.map_data(store, version, flt, boundary, zoom, bounds, policy)
    recent = None
    if recent_minutes is not None:
        recent = data.recent_cells(store, version, flt, recent_minutes, policy, zoom=recent_zoom)
    base = webmap.live_base_map(snapshot.precincts, tiles=basemap, tiles_problem=tiles_problem,
                                synthetic=snapshot.synthetic, large=large, fit=fit)  # fmt: skip
    layers = webmap.map_layers(
        shown.areas,
        shown.heat,
        area_label="Precinct" if boundary == "precinct" else "Ward",
        style=style,
        zoom=shown.zoom,
        heat_scale=shown.heat_scale,
        heat_radius=shown.heat_radius,
        hotspots=_result.layer if _result is not None else None,
        hotspot_method=_result.method if _result is not None else "gistar",
        recent=recent,
        recent_minutes=recent_minutes or 60.0,
    )
    if _outline is not None:
        layers.append(webmap.focus_layer(_outline))
    return folium_args(
        base,
        key=MAP_KEY.format(boundary=boundary),
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=True),
        # where the viewer left the map, and the area a click chose (click to filter)
        returned_objects=["zoom", "bounds", "last_active_drawing"],
        height=800 if large else 640,
        width=None,
        center=focus[0] if focus is not None else None,
        zoom=focus[1] if focus is not None else None,
    )


def view_panel(
    source: str,
    flt: IncidentFilter,
    choices: dict[str, list[str]],
    *,
    boundary: str,
    style: str,
    options: argparse.Namespace,
    result: HotspotResult | None,
    result_key: HotspotKey | None,
    policy: Policy,
    meeting: bool = False,
    rotation: Rotation | None = None,
) -> None:
    """Figures and map. A fragment: map moves rerun only this, and with a live store the
    watcher (:mod:`app.livewatch`) reruns it when the store has a new version. In a
    ``meeting`` the map is larger, the CompStat review comes beneath, and ``rotation`` (if
    any) chooses what each run shows."""
    still_allowed(options)  # before anything is read: a fragment run is a run too
    policy = data.as_role(policy)  # what is shown is shared by all who may see the same
    live, started = None, None
    if is_live(source):
        live = live_store(source)
        if not live.followed:  # the follower reads; without one, this run reads
            live.refresh()
        # Pin this run's snapshot in the version-keyed cache now, while that version is
        # certainly kept: every figure, the map and the caption below come from it.
        snapshot = load_store(source, live.version)
        if live.error:
            since = live.error_since.astimezone(LOCAL_ZONE) if live.error_since else None
            good = live.last_success.astimezone(LOCAL_ZONE) if live.last_success else None
            st.warning(
                f"{live.error} Showing the data as of {good:%H:%M:%S}"
                f"{f' (no refresh since {since:%H:%M:%S})' if since else ''}."
                if good
                else live.error
            )
        # To the minute, as the page says it: sessions that started in the same minute
        # share one count.
        started = meeting_start()
    else:
        snapshot = load_store(source, current_version(source) or "")
    version = snapshot.version
    focus, heading, outline = None, None, None
    if rotation is not None:
        flt, focus, heading, outline = rotation(source, snapshot, flt)
    numbers = data.figures(source, version, flt, boundary, policy)
    stats = numbers["headline"]
    if heading:
        st.header(heading)
    nothing = stats["incidents"] == 0 and not numbers["hidden"]
    if nothing:
        st.info(data.why_nothing(source, version, flt, 1 if policy.full else policy.rules.k))
    fewer = f"fewer than {policy.rules.k}"  # a figure hidden to protect victims (None)
    new = None
    if started is not None:  # one element with the count, so the two never disagree
        fresh = data.new_since(source, version, flt, policy, started)
        new = (f"{fewer if fresh is None else f'{fresh:,}'} new since "
               f"{started.astimezone(LOCAL_ZONE):%H:%M}")  # fmt: skip
    span = f"{stats['first']:%d %b %Y} to {stats['last']:%d %b %Y}. " if stats["first"] else ""
    read = ""
    if live is not None and live.last_success is not None:
        read = f"Data read {live.last_success.astimezone(LOCAL_ZONE):%H:%M:%S}. "
    caption = f"{read}{span}Filter: {md(flt.describe())}. Store version {version}."

    def draw_map() -> None:
        picked = clicked_area(flt)
        if picked is not None:
            st.button(
                f"← Back: all {'precincts' if flt.precincts else 'wards'} (not only {picked})",
                on_click=area_back, key="area_back",
            )  # fmt: skip
        map_panel(source, version, flt, boundary=boundary, style=style, tiles=options.tiles,
                  tiles_attribution=options.tiles_attribution,
                  result=result, result_key=result_key, large=meeting,
                  recent_minutes=options.recent_minutes if live is not None else None,
                  focus=focus, heading=heading, outline=outline, policy=policy,
                  choices=choices)  # fmt: skip

    # A live store runs to today (its week in progress); a file store to its last day.
    today = datetime.now(LOCAL_ZONE).date()
    last = today if is_live(source) else date.fromisoformat(choices["last"][0])
    trend = {"first": flt.since or date.fromisoformat(choices["first"][0]),
             "last": min(flt.until, last) if flt.until else last}  # fmt: skip
    if meeting:
        # A wall screen: the map fills the width beside the four figures, stacked and large,
        # and the top areas; the trend and the CompStat review come beneath.
        left, right = st.columns([4, 1.3], gap="medium")
        with right:
            _headline(list(right.container() for _ in range(4)), numbers, stats, fewer, new)
            st.caption(caption)
            _top_list(numbers, boundary=boundary, policy=policy, nothing=nothing, rows=6)
        with left:
            draw_map()
        st.subheader("Weekly incidents by agency")
        trend_chart(numbers["weekly"], height=300, agencies=True, **trend)
        st.subheader("CompStat review")
        compstat_review(source, version, flt, large=True, policy=policy)
        return
    _headline(list(st.columns(4)), numbers, stats, fewer, new)
    st.caption(caption)
    left, right = st.columns([3, 2])
    with left:
        draw_map()
    with right:
        _top_areas(numbers, boundary=boundary, flt=flt, choices=choices, policy=policy,
                   nothing=nothing)  # fmt: skip
        st.subheader("Weekly incidents by agency")
        trend_chart(numbers["weekly"], height=260, agencies=True, **trend)


def _headline(cols: list[Any], numbers: dict[str, Any], stats: dict[str, Any], fewer: str,
              new: str | None) -> None:  # fmt: skip
    """The four headline figures, one in each of ``cols``."""
    cols[0].metric("Incidents", fewer if numbers["hidden"] else f"{stats['incidents']:,}",
                   delta=new, delta_color="off", delta_arrow="off")  # fmt: skip
    cols[1].metric("Agencies", "–" if stats["agencies"] is None else stats["agencies"])
    cols[2].metric("Outside boundaries", fewer if stats["outside"] is None else
                   f"{stats['outside']:,}")  # fmt: skip
    days = (stats["last"] - stats["first"]).days + 1 if stats["first"] else None
    cols[3].metric("Days covered", "–" if days is None else f"{days:,}")


# How a table of the busiest areas (columnar.busiest: area, incidents, share) is shown, here
# and in the playback's frames.
TOP_COLUMNS = {
    "incidents": st.column_config.NumberColumn("incidents", format="localized"),
    "share": st.column_config.ProgressColumn("Share", format="percent", min_value=0, max_value=1),
}


def _top_list(numbers: dict[str, Any], *, boundary: str, policy: Policy, nothing: bool,
              rows: int) -> None:  # fmt: skip
    """The busiest areas in type that reads across a room (a wall screen: a table's grid
    type is too small there; the map's areas take the clicks)."""
    st.subheader(f"Top {'precincts' if boundary == 'precinct' else 'wards'}")
    if nothing:
        st.caption("No incidents in this filter.")
    top = numbers["top"].head(rows)
    lines = "".join(
        f'<tr><td>{html.escape(str(name))}</td><td class="n">{int(count):,}</td></tr>'
        for name, count in zip(top[top.columns[0]], top["incidents"], strict=True)
    ) if len(top.columns) else ""  # fmt: skip
    st.markdown(f'<table class="cct-top">{lines}</table>', unsafe_allow_html=True)
    if not policy.full:
        st.caption(f"Areas with fewer than {policy.rules.k} incidents are left out.")


def _top_areas(numbers: dict[str, Any], *, boundary: str, flt: IncidentFilter,
               choices: dict[str, list[str]], policy: Policy, nothing: bool,
               rows: int | None = None) -> None:  # fmt: skip
    """The busiest areas; a row chooses its area for the whole page (click to filter)."""
    st.subheader(f"Top {'precincts' if boundary == 'precinct' else 'wards'}")
    if nothing:
        st.caption("No incidents in this filter.")
    top = numbers["top"] if rows is None else numbers["top"].head(rows)
    # Keyed by the filter, so that a choice is not carried over to the next table.
    table_key = "top_" + hashlib.sha256(repr((boundary, flt)).encode()).hexdigest()[:12]
    names = [str(v) for v in top[top.columns[0]]] if len(top.columns) else []
    st.dataframe(
        top,
        hide_index=True,
        width="stretch",
        key=table_key,
        on_select=partial(_row_chosen, boundary, table_key, names, choices),
        selection_mode="single-row",
        column_config=TOP_COLUMNS,
    )
    if not policy.full:
        st.caption(f"Areas with fewer than {policy.rules.k} incidents are left out, with "
                   "a few more so that theirs cannot be worked out.")  # fmt: skip


def show_view(request: Request, *, meeting: bool = False, rotation: Rotation | None = None) -> None:
    """The view fragment for ``request``, with the sidebar's hotspots on the map: rerun by
    the live watcher when a live store changes, and every rotation step in a meeting that
    rotates."""
    options, source, policy = request.options, request.source, request.policy
    result = None
    if request.params is not None:
        try:
            result = data.hotspot_result(source, request.version, request.flt, request.params,
                                         data.as_role(policy))  # fmt: skip
        except LayersError as err:
            st.error(md(err))
    run_every = None
    if is_live(source) and options.refresh > 0:
        # Changes come from the watcher; the "just reported" rings and the week in progress
        # age by the minute, changes or not.
        run_every = 60.0
        live = live_store(source)
        # Under a steady stream of changes the store is read, and every page redrawn, at
        # most once per pace: each data version is then computed once for all its viewers.
        pace = live_pace(options.refresh)
        live.follow(interval=options.refresh, min_gap=pace)
        live_watch(live, every=pace, interval=options.refresh,
                   zone=str(LOCAL_ZONE))  # fmt: skip
    if rotation is not None:
        every = float(st.session_state["n_every"])
        run_every = min(run_every, every) if run_every else every
    view = st.fragment(guarded(view_panel), run_every=run_every, key=VIEW_FRAGMENT)
    view(source, request.flt, request.choices, boundary=request.boundary,
         style=st.session_state["m_style"], options=options, result=result,
         result_key=(request.params, request.version, request.flt) if result else None,
         policy=policy, meeting=meeting, rotation=rotation)  # fmt: skip
