"""What several pages share: the sidebar's filter and view options, their state seeded
from and written back to the URL, and the request every page reads (who is looking, the
source, the filter)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.analysis.study import (
    METHODS,
    HotspotParams,
)
from layers.storage.filters import IncidentFilter, filter_from_query

MODES = {
    "boundary": ("precinct", "ward"),
    "style": ("outline", "choropleth"),
    "hotspots": ("none", "gistar", "kde", "emerging"),
    "step": ("M", "W"),
    "mode": ("normal", "meeting"),
    "rotate": ("none", "precincts", "wards", "areas"),
}
HOTSPOT_LABELS = {"none": "None", **METHODS}
# Numeric view options in the URL: name -> (default, lowest, highest).
NUMBERS = {"cell_m": (0, 0, 5000), "share": (3, 1, 10), "every": (30, 5, 600)}
# Below this a metro-sized grid has hundreds of thousands of cells: slow, and heavy to cache.
MIN_CELL_M = 100
# The map's widget key, one per boundary layer: choosing the other layer makes a new map,
# fitted to its incidents, instead of keeping the old view.
MAP_KEY = "map_{boundary}"
LIST_FILTERS = ("agencies", "areas", "categories", "precincts", "wards")
# Heat cells are made for the viewport and this share of it again on every side, so a short
# pan shows heat at once while the fragment refreshes the cells.
VIEW_MARGIN = 0.5
LOG = logging.getLogger("dashboard")
# Where the frame leaves the request for the page it runs (per session, so per viewer).
REQUEST = "_request"


@dataclasses.dataclass(frozen=True)
class Request:
    """What the frame (``dashboard.py``) worked out for this run, for the page it runs: the
    options, who is looking, the source, and (for every page but the public one) the
    sidebar's filter and hotspot options.

    ``signed_in`` is who signed in (the open page's anonymous analyst without ``--access``);
    ``viewer`` is whom the page is shown as (the open page may preview a lesser role), and
    ``policy`` what that viewer may see, named by role so every viewer of a role shares the
    cached figures.
    """

    options: argparse.Namespace
    source: str
    version: str
    synthetic: bool
    signed_in: Viewer
    viewer: Viewer
    rules: PrivacyRules
    choices: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    flt: IncidentFilter = dataclasses.field(default_factory=IncidentFilter)
    params: HotspotParams | None = None
    # The pages this viewer is offered, by URL path ("map" for the default page).
    pages: dict[str, StreamlitPage] = dataclasses.field(default_factory=dict)

    @property
    def policy(self) -> Policy:
        return Policy(dataclasses.replace(self.viewer, name=self.viewer.label), self.rules)

    @property
    def boundary(self) -> str:
        return st.session_state.get("m_boundary", "precinct")


def hand_over(request: Request) -> None:
    """Leave ``request`` for the page this run shows (see :func:`request`)."""
    st.session_state[REQUEST] = request


def request() -> Request:
    """What the frame worked out for this run: every page starts here, once.

    Taken, not read: a page script run without the frame (which checks who is looking)
    finds nothing and shows nothing. Fragments are given what they need as arguments.
    """
    handed = st.session_state.pop(REQUEST, None)
    if handed is None:
        LOG.error("a page ran without the frame (dashboard.py): nothing shown")
        st.stop()
    return handed


def map_view(key: str | None = None) -> tuple[int | None, tuple[float, float, float, float] | None]:
    """The zoom and padded lon/lat bounds the viewer last left the map at, if any (the map
    page's map, or the map whose widget key is ``key``)."""
    key = key or MAP_KEY.format(boundary=st.session_state.get("m_boundary", "precinct"))
    state = st.session_state.get(key) or {}
    zoom, bounds = state.get("zoom"), state.get("bounds")
    try:
        south, west = bounds["_southWest"]["lat"], bounds["_southWest"]["lng"]
        north, east = bounds["_northEast"]["lat"], bounds["_northEast"]["lng"]
        zoom = int(zoom)
    except (KeyError, TypeError, ValueError):
        return None, None
    if None in (south, west, north, east) or not 0 <= zoom <= 22:
        return None, None
    dx, dy = (east - west) * VIEW_MARGIN, (north - south) * VIEW_MARGIN
    padded = (west - dx, max(south - dy, -85.0), east + dx, min(north + dy, 85.0))
    return zoom, tuple(round(v, 4) for v in padded)  # type: ignore[return-value]


# Choices made on one page that a viewer expects to find again on coming back to it. Streamlit
# forgets a widget's value after a run that does not draw it (another page's run): the frame
# hands each back every run.
PAGE_CHOICES = ("c_by", "h_suffix", "e_split", "pb_step", "pb_speed")


def keep_page_choices() -> None:
    """Keep the page-only choices of :data:`PAGE_CHOICES` across page changes."""
    for key in PAGE_CHOICES:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


SIDEBAR_KEYS = ("f_hour_from", "f_hour_to", *(f"m_{key}" for key in MODES),
                *(f"n_{key}" for key in NUMBERS))  # fmt: skip


def init_widgets_from_url(choices: dict[str, list[str]], *, source: str) -> None:
    """Seed widget state from the URL on a session's first run on a store, keeping only
    values that exist in it.

    Later runs keep what the viewer chose: when the data changes (a live refresh, an upload)
    only values that are no longer offered are dropped, and a date range that ran to the last
    day keeps running to the (new) last day. The URL always holds the current filters (see
    :func:`sync_url`), so nothing is lost.
    """
    first, last = date.fromisoformat(choices["first"][0]), date.fromisoformat(choices["last"][0])
    state = st.session_state
    if state.get("_seeded_for") == source:
        # Handed back every run, as the lists and dates below are: Streamlit forgets a
        # widget's value after any run that does not draw it, and then the sidebar (and the
        # URL it writes) falls back to the defaults.
        for key in SIDEBAR_KEYS:
            if key in state:
                state[key] = state[key]
        for name in LIST_FILTERS:
            state[f"f_{name}"] = [v for v in state.get(f"f_{name}", []) if v in choices[name]]
        dates = state.get("f_dates") or (first, last)
        since, until = (dates[0], dates[-1]) if dates else (first, last)
        if until == state.get("_seeded_last"):
            until = last  # "to the end" stays "to the end" as new days arrive
        since = min(max(since, first), last)
        state["f_dates"] = (since, max(min(until, last), since))
        state["_seeded_last"] = last
        return
    state["_seeded_for"] = source
    state["_seeded_last"] = last
    query = {key: st.query_params.get_all(key) for key in st.query_params}
    flt = filter_from_query(query)
    for name in LIST_FILTERS:
        state[f"f_{name}"] = [v for v in getattr(flt, name) if v in choices[name]]
    since = min(max(flt.since or first, first), last)
    until = max(min(flt.until or last, last), since)
    state["f_dates"] = (since, until)
    state["f_hour_from"], state["f_hour_to"] = flt.hours or (0, 24)
    for key, allowed in MODES.items():
        value = query.get(key, [allowed[0]])[0]
        state[f"m_{key}"] = value if value in allowed else allowed[0]
    for key, (default, low, high) in NUMBERS.items():
        try:
            value = int(query.get(key, [default])[0])
        except ValueError:
            value = default
        state[f"n_{key}"] = value if low <= value <= high else default


# Click to filter: a click on a precinct or ward of the map, or on a row of the top-areas
# table, filters the whole page to that area (the sidebar, every figure and the URL follow);
# the area filter it replaced is kept, and "Back" restores it.
AREA_KEYS = {"precinct": "f_precincts", "ward": "f_wards"}
AREA_BACK = "_area_back"


def choose_area(boundary: str, name: str, choices: dict[str, list[str]]) -> None:
    """Filter the page to the area ``name`` of ``boundary`` (from a widget callback: the
    sidebar's values can still be set, and the whole page reruns). A name that is not one
    of the store's areas (a page's click is the browser's to forge) is ignored."""
    key = AREA_KEYS.get(boundary)
    if key is None or name not in choices[f"{boundary}s"]:
        return
    state = st.session_state
    if state.get(key) == [name]:
        return
    if AREA_BACK not in state:
        state[AREA_BACK] = {k: list(state.get(k, [])) for k in AREA_KEYS.values()}
    for other in AREA_KEYS.values():
        state[other] = [name] if other == key else []
    st.rerun(scope="app")


def area_back() -> None:
    """Put back the area filter a click replaced (a button's callback)."""
    back = st.session_state.pop(AREA_BACK, None)
    if back is not None:
        for key, values in back.items():
            st.session_state[key] = values
    st.rerun(scope="app")  # the button is in the view fragment: the sidebar must follow


def clicked_area(flt: IncidentFilter) -> str | None:
    """The area a click filtered the page to, while it is still the filter (else None)."""
    if AREA_BACK not in st.session_state:
        return None
    picked = [*flt.precincts, *flt.wards]
    return picked[0] if len(picked) == 1 else None


def sidebar_filter(choices: dict[str, list[str]]) -> IncidentFilter:
    first, last = date.fromisoformat(choices["first"][0]), date.fromisoformat(choices["last"][0])
    sb = st.sidebar
    sb.header("Filters")
    agencies = sb.multiselect("Agency", choices["agencies"], key="f_agencies", placeholder="All")
    areas = sb.multiselect("Collaboration area", choices["areas"], key="f_areas", placeholder="All")
    categories = sb.multiselect(
        "Category", choices["categories"], key="f_categories", placeholder="All"
    )
    dates = sb.date_input("Dates", min_value=first, max_value=last, key="f_dates")
    hours = hours_control()
    precincts = sb.multiselect(
        "Precinct", choices["precincts"], key="f_precincts", placeholder="All"
    )
    wards = sb.multiselect("Ward", choices["wards"], key="f_wards", placeholder="All")
    since, until = (dates[0], dates[-1]) if isinstance(dates, tuple) and dates else (first, last)
    return IncidentFilter(
        agencies=tuple(agencies),
        areas=tuple(areas),
        categories=tuple(categories),
        since=None if since == first else since,
        until=None if until == last else until,
        hours=hours,
        precincts=tuple(precincts),
        wards=tuple(wards),
    )


def hours_control() -> tuple[int, int] | None:
    """Time of day as a window from one hour to another; a window past midnight (22:00 to
    04:00) is an overnight one, as ``?hours=22-4`` is. None: all hours."""
    sb = st.sidebar
    left, right = sb.columns(2)
    start = left.selectbox("Time of day from", range(24), key="f_hour_from",
                           format_func=lambda h: f"{h:02d}:00")  # fmt: skip
    end = right.selectbox("to", range(1, 25), key="f_hour_to",
                          format_func=lambda h: f"{h:02d}:00")  # fmt: skip
    if (start, end) == (0, 24):
        return None
    if start == end % 24:
        sb.caption("Time of day: choose a window at least an hour wide; showing all hours.")
        return None
    if start > end:
        sb.caption(f"Overnight: {start:02d}:00 to {end:02d}:00 the next morning.")
    return int(start), int(end)


def sync_url(flt: IncidentFilter) -> None:
    params: dict[str, list[str] | str] = dict(flt.to_query())
    for key in MODES:
        params[key] = st.session_state[f"m_{key}"]
    for key in NUMBERS:
        params[key] = str(st.session_state[f"n_{key}"])
    if STARTED in st.session_state:
        params["started"] = f"{st.session_state[STARTED]:{STARTED_FORMAT}}"
    elif "started" in st.query_params:  # not read yet (the view reads it): kept for it
        params["started"] = st.query_params.get("started", "")
    st.query_params.from_dict(params)


# When the viewer's meeting started (to the minute, UTC): "N new since HH:MM" on a live map.
# Kept in the URL too, so a page that lost its session (a laptop asleep too long, a dropped
# network) goes on counting from the same minute, and a shared link counts from it as well.
STARTED = "meeting_started"
STARTED_FORMAT = "%Y%m%dT%H%MZ"
STARTED_WITHIN = timedelta(hours=12)  # a meeting's length, not a window to difference


def meeting_start() -> datetime:
    """The minute this viewer's meeting started: from the session, else from the URL (if it
    is a minute of the last 12 hours), else now."""
    if STARTED not in st.session_state:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        started = now
        try:
            asked = datetime.strptime(st.query_params.get("started", ""), STARTED_FORMAT)
            if now - STARTED_WITHIN <= asked.replace(tzinfo=UTC) <= now:
                started = asked.replace(tzinfo=UTC)
        except ValueError:
            pass
        st.session_state[STARTED] = started
        st.query_params["started"] = f"{started:{STARTED_FORMAT}}"
    return st.session_state[STARTED]


def hotspot_sidebar(*, full: bool) -> HotspotParams | None:
    """The hotspot options; None when no analysis is asked for. Kernel density surfaces
    (which peak on a lone incident) are offered only to viewers who see every incident."""
    sb = st.sidebar
    sb.header("Hotspots")
    offered = [m for m in MODES["hotspots"] if full or m != "kde"]
    method = sb.selectbox("Analysis", offered, key="m_hotspots",
                          format_func=HOTSPOT_LABELS.get)  # fmt: skip
    cell_m = sb.number_input("Cell size in metres (0: chosen from the data)", 0, 5000, step=50,
                             key="n_cell_m", disabled=method in ("none", "kde"),
                             help=f"0, or {MIN_CELL_M} m and more")  # fmt: skip
    if 0 < cell_m < MIN_CELL_M:
        sb.caption(f"Cells smaller than {MIN_CELL_M} m are too many to map; using {MIN_CELL_M} m.")
        cell_m = MIN_CELL_M
    share = sb.slider("KDE hotspot area, % of the study area", 1, 10, key="n_share",
                      disabled=method not in ("kde",))  # fmt: skip
    sb.radio("Time step", MODES["step"], key="m_step", horizontal=True,
             format_func={"M": "Months", "W": "Weeks"}.get,
             disabled=method != "emerging")  # fmt: skip
    if method == "none":
        return None
    return HotspotParams(method=method, cell_m=cell_m or None, area_share=share / 100,
                         freq=st.session_state["m_step"])  # fmt: skip


def meeting_sidebar() -> None:
    sb = st.sidebar
    sb.header("Meeting")
    if sb.button("Meeting mode (full screen)", key="to_meeting", type="primary"):
        st.session_state["m_mode"] = "meeting"
        st.rerun()
    sb.selectbox("Rotate through", MODES["rotate"], key="m_rotate",
                 format_func={"none": "Nothing (stay put)", "precincts": "Precincts",
                              "wards": "Wards", "areas": "Collaboration areas"}.get)  # fmt: skip
    sb.number_input("Seconds per step", 5, 600, step=5, key="n_every")


def map_sidebar() -> None:
    """Which boundaries the map and the tables use, and how areas are drawn."""
    st.sidebar.header("Map")
    st.sidebar.radio(
        "Boundaries",
        MODES["boundary"],
        key="m_boundary",
        format_func={"precinct": "SAPS precincts", "ward": "City wards"}.get,
    )
    st.sidebar.radio(
        "Area style",
        MODES["style"],
        key="m_style",
        format_func={"outline": "Outlines", "choropleth": "Choropleth of counts"}.get,
    )


def view_sidebar(
    choices: dict[str, list[str]], *, full: bool, denied: Callable[[], None]
) -> tuple[IncidentFilter, HotspotParams | None]:
    """The sidebar every page but the public one shares: the filter, the map, hotspot and
    meeting options. Drawn on every page, so that each keeps its state and the URL holds
    them all wherever the viewer is. ``denied`` is called (to log it) when a link asked for
    kernel density hotspots and the viewer may not have them."""
    flt = sidebar_filter(choices)
    map_sidebar()
    if not full and st.session_state["m_hotspots"] == "kde":  # asked for in a link
        denied()
        st.session_state["m_hotspots"] = "none"
        st.info("The link asked for kernel density hotspots, which are for analysts: choose "
                "Gi* or emerging hot spots under Hotspots.")  # fmt: skip
    params = hotspot_sidebar(full=full)
    meeting_sidebar()
    return flt, params
