"""Time playback on the page: the filter's date range (or, for the public, a run of published
months) played frame by frame, with a histogram of the range, play and pause, a step back and
forward, and 1x, 2x and 4x speeds.

Each playback is one fragment. While it plays, the fragment reruns on a timer (one frame a
second at 1x, a quarter of a second at 4x) and each run shows the next frame: only the
fragment reruns, never the page, and the map is not rebuilt: its base (tiles, legend, opening
view) stays, and the frame's heat and areas are swapped in as added layers, as the Map page
swaps a filter's (:mod:`app.view`). Every frame is drawn on the playback's one colour scale.
Play, pause and a speed change rerun the page once, to start or stop the timer.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import Any

import folium
import numpy as np
import pandas as pd
import streamlit as st

from app import data
from app.basemap import basemap as app_basemap
from app.basemap import basemap_notice
from app.data import is_live, live_store, load_store
from app.display import guarded, md
from app.foliummap import folium_args, show_folium
from app.signin import still_allowed
from app.state import Request, map_view
from app.view import TOP_COLUMNS
from layers._errors import LayersError
from layers.access.policy import Policy
from layers.analysis.playback import STEPS, Step
from layers.maps import webmap
from layers.maps.heat import format_density
from layers.maps.tiles import Basemap
from layers.publishing.playback import PublicPlayback, public_frame_layers
from layers.publishing.public import GROUP_LABELS, PublicSite
from layers.storage import columnar
from layers.storage.filters import IncidentFilter
from layers.storage.store import current_version

#: Playback speeds; at 1x a frame a second.
SPEEDS = (1, 2, 4)
FRAME_SECONDS = 1.0
#: The playback map's widget key, one per boundary layer (see app.state.MAP_KEY).
MAP_KEY = "pb_map_{boundary}"
PUBLIC_MAP_KEY = "pp_map"
STEP_LABELS = {"week": "Week by week", "month": "Month by month"}
THIS_FRAME, OTHER_FRAMES = "This frame", "Other frames"
FRAME_COLOUR, BAR_COLOUR, HIDDEN_MARK = "#d6006f", "#8fa8c8", "#9e9e9e"


# The controls. Each playback keeps its state under a prefix ("pb" for the incidents' playback,
# "pp" for the public one): "_playing", "_speed" (a radio), "_frame" (an index),
# "_moved" (when the frame last moved on its own), "_restart" (a change that starts or stops
# the timer, which takes a run of the whole page).


def _key(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


def _start_state(prefix: str) -> None:
    state = st.session_state
    state.setdefault(_key(prefix, "playing"), False)
    if state.get(_key(prefix, "speed")) not in SPEEDS:
        state[_key(prefix, "speed")] = SPEEDS[0]


def _interval(prefix: str) -> float | None:
    """Seconds between frames while playing; None when paused (no timer)."""
    if not st.session_state.get(_key(prefix, "playing")):
        return None
    return FRAME_SECONDS / int(st.session_state.get(_key(prefix, "speed"), 1))


def _toggle(prefix: str, n: int) -> None:
    state = st.session_state
    playing = not state[_key(prefix, "playing")]
    if playing and state.get(_key(prefix, "frame"), 0) >= n - 1:
        state[_key(prefix, "frame")] = 0  # played to the end: play again from the start
    state[_key(prefix, "playing")] = playing
    state[_key(prefix, "moved")] = time.monotonic()
    state[_key(prefix, "restart")] = True


def _pause(prefix: str) -> None:
    """Stop playing (a change of step)."""
    state = st.session_state
    if state.get(_key(prefix, "playing")):
        state[_key(prefix, "playing")] = False
        state[_key(prefix, "restart")] = True


def _step(prefix: str, by: int, n: int) -> None:
    """A step back or forward: the viewer takes over, so playing stops."""
    _pause(prefix)
    state = st.session_state
    state[_key(prefix, "frame")] = min(max(state.get(_key(prefix, "frame"), 0) + by, 0), n - 1)


def _speed_changed(prefix: str) -> None:
    if st.session_state.get(_key(prefix, "playing")):
        st.session_state[_key(prefix, "restart")] = True


def _current_frame(prefix: str, n: int, identity: object) -> int:
    """The frame to show this run: the same as last run, back to the first for another
    playback (a new filter, range or step), or the next one when the timer is due."""
    state = st.session_state
    frame_key = _key(prefix, "frame")
    if state.get(_key(prefix, "for")) != identity:
        state[_key(prefix, "for")] = identity
        state[frame_key] = 0
    frame = min(max(int(state.get(frame_key, 0)), 0), n - 1)
    every = _interval(prefix)
    if every is not None:
        now = time.monotonic()
        # A run for another reason (a map move) soon after a step does not step again.
        if now - state.get(_key(prefix, "moved"), 0.0) >= 0.75 * every:
            if frame >= n - 1:
                state[_key(prefix, "playing")] = False  # the end: stop there
                state[_key(prefix, "restart")] = True
            else:
                frame += 1
                state[_key(prefix, "moved")] = now
    state[frame_key] = frame
    return frame


def _restart_if_asked(prefix: str) -> None:
    """Start or stop the timer: the fragment's ``run_every`` is set by a run of the page."""
    if st.session_state.pop(_key(prefix, "restart"), False):
        st.rerun(scope="app")


def _controls(prefix: str, table: pd.DataFrame, frame: int, *, large: bool) -> None:
    """Back, play or pause, forward, speed; the histogram.

    No scrubber: a slider bound to the frame is sent back by the browser with every rerun,
    and one still showing the frame before a step (the step's rerun not yet drawn) would take
    the playback back to it. Steps and the timer are the only ways the frame moves."""
    n = len(table)
    playing = bool(st.session_state.get(_key(prefix, "playing")))
    back, play, forward, speed = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    back.button("◀ Back", key=_key(prefix, "back"), on_click=_step, args=(prefix, -1, n),
                disabled=frame == 0, width="stretch")  # fmt: skip
    play.button("Pause" if playing else "▶ Play", key=_key(prefix, "play"), type="primary",
                on_click=_toggle, args=(prefix, n), width="stretch")  # fmt: skip
    forward.button("Forward ▶", key=_key(prefix, "forward"), on_click=_step,
                   args=(prefix, 1, n), disabled=frame >= n - 1, width="stretch")  # fmt: skip
    speed.radio("Speed", SPEEDS, key=_key(prefix, "speed"), horizontal=True,
                format_func=lambda s: f"{s}x", on_change=_speed_changed, args=(prefix,),
                help="1x: a frame a second.")  # fmt: skip
    histogram_chart(table, frame, height=170 if large else 130)
    # Always one caption here, whatever it says: an element that comes and goes above the
    # map would move the map in the page, and the browser would build it again.
    if playing:
        st.caption(f"Playing at {st.session_state[_key(prefix, 'speed')]}x: a frame every "
                   f"{_interval(prefix):g} s.")  # fmt: skip
    else:
        st.caption("Paused. Play, or step back and forward a frame at a time.")


def count_text(value: float, k: int | None) -> str:
    """A frame's count as shown: ``1,234``, or (hidden) ``fewer than 3, or hidden``."""
    if pd.isna(value):
        return f"fewer than {k}, or hidden"
    return f"{int(value):,}"


def frame_heading(table: pd.DataFrame, frame: int, k: int | None) -> str:
    """``Week of 3 Mar 2026: 1,234 incidents``, and the days of a part week or month."""
    row = table.iloc[frame]
    note = f" ({row['note']})" if row.get("note") else ""
    return f"{row['label']}{note}: {count_text(row['incidents'], k)} incidents"


# The histogram: a fixed Vega-Lite spec (as app.charts' trend chart), one bar per frame from
# its first day to the day after its last (a part frame is a narrower bar), the frame shown
# marked in colour and by a rule, hidden frames by a grey cross at zero.
_X = {"field": "start", "type": "temporal", "title": None}
_TOOLTIP = [
    {"field": "label", "title": "Frame"},
    {"field": "note", "title": "Days"},
    {"field": "shown", "title": "Incidents"},
]
HISTOGRAM_SPEC = {
    "layer": [
        {
            "mark": {"type": "rect", "tooltip": True, "stroke": "white", "strokeWidth": 1},
            "encoding": {
                "x": _X, "x2": {"field": "stop"},
                "y": {"field": "incidents", "type": "quantitative", "title": "Incidents"},
                "y2": {"datum": 0},
                "color": {"field": "current", "type": "nominal", "legend": None,
                          "scale": {"domain": [THIS_FRAME, OTHER_FRAMES],
                                    "range": [FRAME_COLOUR, BAR_COLOUR]}},
                "tooltip": _TOOLTIP,
            },
        },
        {
            "transform": [{"filter": "!isValid(datum.incidents)"}],
            "mark": {"type": "point", "shape": "cross", "color": HIDDEN_MARK, "filled": True,
                     "size": 40, "tooltip": True},
            "encoding": {"x": {**_X, "field": "mid"}, "y": {"datum": 0}, "tooltip": _TOOLTIP},
        },
        {
            "transform": [{"filter": f"datum.current === '{THIS_FRAME}'"}],
            "mark": {"type": "rule", "color": FRAME_COLOUR, "strokeWidth": 2},
            "encoding": {"x": {**_X, "field": "mid"}},
        },
    ],
}  # fmt: skip


def histogram_chart(table: pd.DataFrame, frame: int, *, height: int) -> None:
    """The range's histogram, frame ``frame`` marked."""
    start = pd.to_datetime(table["start"])
    stop = pd.to_datetime(table["end"]) + pd.Timedelta(days=1)
    chart = pd.DataFrame(
        {
            "start": start,
            "stop": stop,
            "mid": start + (stop - start) / 2,
            "label": table["label"],
            "note": table.get("note", pd.Series("", index=table.index)).replace("", "whole"),
            "incidents": table["incidents"].astype(float),
            "shown": ["hidden" if pd.isna(v) else f"{int(v):,}" for v in table["incidents"]],
            "current": np.where(np.arange(len(table)) == frame, THIS_FRAME, OTHER_FRAMES),
        }
    )  # fmt: skip
    spec = HISTOGRAM_SPEC
    if not chart["incidents"].isna().any():  # no hidden frame: no layer of crosses for none
        spec = {**spec, "layer": [spec["layer"][0], spec["layer"][2]]}
    st.vega_lite_chart(chart, spec, width="stretch", height=height)


# The incidents' playback: the Playback page, and the Meeting page in meeting mode.


def playback_view(request: Request, *, large: bool = False) -> None:
    """The playback of the sidebar's filter over its date range, as one fragment that reruns
    on a timer while it plays. ``large``: sized for a wall (meeting mode)."""
    _start_state("pb")
    panel = st.fragment(guarded(playback_panel), run_every=_interval("pb"), key="playback")
    panel(request.source, request.flt, request.choices, options=request.options,
          policy=request.policy, boundary=request.boundary,
          style=st.session_state.get("m_style", "outline"), large=large)  # fmt: skip


def playback_panel(
    source: str,
    flt: IncidentFilter,
    choices: dict[str, list[str]],
    *,
    options: argparse.Namespace,
    policy: Policy,
    boundary: str,
    style: str,
    large: bool = False,
) -> None:
    """Controls, histogram, the frame's heading and figures, and its map."""
    still_allowed(options)  # before anything is read: a timer's run is a run too
    _restart_if_asked("pb")
    policy = data.as_role(policy)
    version = live_store(source).version if is_live(source) else current_version(source) or ""
    first = flt.since or date.fromisoformat(choices["first"][0])
    last = flt.until or date.fromisoformat(choices["last"][0])
    if st.session_state.get("pb_step") not in STEPS:
        st.session_state["pb_step"] = "week"
    st.radio("Step", STEPS, key="pb_step", horizontal=True, format_func=STEP_LABELS.get,
             on_change=_pause, args=("pb",), label_visibility="collapsed")  # fmt: skip
    step: Step = st.session_state["pb_step"]
    try:
        table = data.playback_histogram(source, version, flt, policy, first, last, step)
    except ValueError as err:  # a range too long for weekly frames
        st.error(md(err))
        return
    k = None if policy.full else policy.rules.k
    frame = _current_frame("pb", len(table), (flt, first, last, step, policy.viewer.label))
    st.caption(f"{first:%d %b %Y} to {last:%d %b %Y}, {len(table)} {step}s. "
               f"Filter: {md(flt.describe())}.")  # fmt: skip
    _controls("pb", table, frame, large=large)
    st.subheader(frame_heading(table, frame, k))
    nothing = st.empty()  # one place, said or not (see _controls)
    if not table["incidents"].fillna(0).any() and not table["incidents"].isna().any():
        nothing.info(data.why_nothing(source, version, flt, 1 if policy.full else policy.rules.k))
    fit_key = f"_fit_{boundary}_{source}"  # the Map page's opening view, the same for both
    if fit_key not in st.session_state:
        st.session_state[fit_key] = data.opening_view(source, version, boundary)
    fit = st.session_state[fit_key]
    basemap, tiles_problem = app_basemap(options.tiles, options.tiles_attribution, fit)
    with st.container():
        basemap_notice(basemap, tiles_problem)
    zoom, bounds = map_view(MAP_KEY.format(boundary=boundary))
    if zoom is None:  # a new map: heat for the zoom it opens at
        zoom = columnar.fit_zoom(fit)
    key = (source, version, flt, policy, first, last, step)
    scale = data.playback_heat_scale(*key, zoom)
    shown = data.playback_frame(*key, frame, boundary, zoom, bounds)
    left, right = st.columns([3, 2])
    with left:
        args = playback_args(*key, frame, boundary, zoom, bounds, style=style, basemap=basemap,
                             tiles_problem=tiles_problem, large=large, fit=fit)  # fmt: skip
        show_folium(args, key=MAP_KEY.format(boundary=boundary))
    with right:
        _frame_figures(table, frame, k, shown.top, boundary=boundary, policy=policy)
        busiest = table["label"].iloc[scale.busiest] if scale.busiest is not None else None
        if scale.top > 0:
            st.caption(
                f"Heat is on one colour scale for the whole playback: red is "
                f"{format_density(scale.top)} incidents per km² or more, the busiest place of "
                f"any {step} at this zoom ({md(busiest)})."
            )


def _frame_figures(table: pd.DataFrame, frame: int, k: int | None, top: pd.DataFrame, *,
                   boundary: str, policy: Policy) -> None:  # fmt: skip
    """The frame's count (against the frame before, when both are whole and shown) and its
    busiest areas."""
    row = table.iloc[frame]
    delta = None
    if frame > 0:
        before = table.iloc[frame - 1]
        both = row["whole"] and before["whole"]
        if both and not (pd.isna(row["incidents"]) or pd.isna(before["incidents"])):
            label = str(before["label"])
            label = f"the w{label[1:]}" if label.startswith("Week of") else label
            delta = f"{int(row['incidents'] - before['incidents']):+,} on {label}"
    st.metric("Incidents in this frame", count_text(row["incidents"], k), delta=delta,
              delta_color="off")  # fmt: skip
    st.subheader(f"Top {'precincts' if boundary == 'precinct' else 'wards'}")
    st.dataframe(
        top,
        hide_index=True,
        width="stretch",
        column_config=TOP_COLUMNS,
    )
    if not policy.full:
        st.caption(f"Areas with fewer than {policy.rules.k} incidents in a frame are left out, "
                   "with a few more so that theirs cannot be worked out.")  # fmt: skip


@st.cache_resource(max_entries=64, show_spinner=False)
def playback_args(
    store: str,
    version: str,
    flt: IncidentFilter,
    policy: Policy,
    first: date,
    last: date,
    step: Step,
    frame: int,
    boundary: str,
    zoom: int,
    bounds: tuple[float, float, float, float] | None,
    *,
    style: str,
    basemap: Basemap | None,
    tiles_problem: str | None,
    large: bool,
    fit: tuple[float, float, float, float],
) -> dict[str, Any]:
    """The playback map's arguments for one frame, shared (read-only) by every session that
    plays the same frame: the same base map every frame, the frame's layers added to it."""
    snapshot = load_store(store, version)
    key = (store, version, flt, policy, first, last, step)
    shown = data.playback_frame(*key, frame, boundary, zoom, bounds)
    scale = data.playback_heat_scale(*key, zoom)
    classes = data.playback_classes(*key, boundary) if style == "choropleth" else None
    base = webmap.live_base_map(snapshot.precincts, tiles=basemap, tiles_problem=tiles_problem,
                                synthetic=snapshot.synthetic, large=large, fit=fit)  # fmt: skip
    layers = webmap.map_layers(
        shown.areas,
        shown.heat,
        area_label="Precinct" if boundary == "precinct" else "Ward",
        style=style,  # type: ignore[arg-type]
        zoom=zoom,
        heat_scale=scale.top,
        heat_radius=scale.radius,
        area_classes=classes,
    )
    return folium_args(
        base,
        key=MAP_KEY.format(boundary=boundary),
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=True),
        returned_objects=["zoom", "bounds"],
        height=780 if large else 640,
        width=None,
    )


# The public playback: published months only, a month a frame.


def public_playback_view(
    source: str, version: str, site: PublicSite, site_dir: str | None, months: tuple[str, ...],
    group: str, area: str | None, options: argparse.Namespace,
) -> None:  # fmt: skip
    """The published ``months`` of ``group`` (and ``area``) played back month by month."""
    _start_state("pp")
    panel = st.fragment(guarded(public_playback_panel), run_every=_interval("pp"),
                        key="public_playback")  # fmt: skip
    panel(source, version, site, site_dir, months, group, area, options)


def public_playback_panel(
    source: str, version: str, site: PublicSite, site_dir: str | None, months: tuple[str, ...],
    group: str, area: str | None, options: argparse.Namespace,
) -> None:  # fmt: skip
    still_allowed(options)
    _restart_if_asked("pp")
    try:
        played = data.public_playback_view(source, version, site_dir, months, group, area, site)
    except LayersError as err:
        st.error(md(err))
        return
    table = played.histogram
    frame = _current_frame("pp", len(table), (months, group, area))
    _controls("pp", table, frame, large=False)
    where = f" in {area}" if area else ""
    heading = frame_heading(table, frame, site.k)
    st.subheader(f"{heading.replace(': ', f'{where}: ', 1)} ({GROUP_LABELS.get(group, group)})")
    found, problem = app_basemap(options.tiles, options.tiles_attribution,
                                 tuple(site.precincts.total_bounds))  # fmt: skip
    with st.container():
        basemap_notice(found, problem)
    args = public_playback_args(source, version, site_dir, months, group, area, frame,
                                basemap=found, tiles_problem=problem, _site=site,
                                _played=played)  # fmt: skip
    show_folium(args, key=PUBLIC_MAP_KEY)
    st.caption(
        "Each frame is one published month, exactly as published; cells are coloured on the "
        "same classes in every month."
    )


@st.cache_resource(max_entries=64, show_spinner=False)
def public_playback_args(
    source: str, version: str, site_dir: str | None, months: tuple[str, ...], group: str,
    area: str | None, frame: int, *, basemap: Basemap | None, tiles_problem: str | None,
    _site: PublicSite, _played: PublicPlayback,
) -> dict[str, Any]:  # fmt: skip
    """The public playback map's arguments for one month (the site and playback are keyed by
    ``source``, ``version``, ``site_dir``, ``months``, ``group`` and ``area``)."""
    box = tuple(float(v) for v in _site.precincts.total_bounds)
    base = webmap.live_base_map(
        _site.precincts,
        tiles=basemap,
        tiles_problem=tiles_problem,
        synthetic=_site.synthetic,
        fit=box,
    )  # type: ignore[arg-type]
    return folium_args(
        base,
        key=PUBLIC_MAP_KEY,
        feature_group_to_add=public_frame_layers(_site, _played, frame),
        layer_control=None,
        returned_objects=[],
        height=640,
        width=None,
    )
