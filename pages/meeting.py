"""Meeting page: the map and figures for a projector across a room, the CompStat review
beneath them, and an optional rotation through precincts, wards or collaboration areas."""

from __future__ import annotations

import dataclasses
import functools
import time

import streamlit as st

from app import state
from app.data import rotation_areas
from app.display import md
from app.pack import pack_panel
from app.playback import playback_view
from app.view import Shown, show_view
from layers.access.policy import Policy
from layers.storage import columnar
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot

# A projector across a room. Our own constant CSS, never user input.
MEETING_CSS = """
<style>
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
  [data-testid="stHeader"], [data-testid="stToolbar"] { display: none !important; }
  .block-container { padding: 0.6rem 1.2rem 1rem !important; max-width: 100% !important; }
  h1 { font-size: 1.9rem !important; padding: 0 0 0.2rem !important; }
  h2, h3 { font-size: 1.8rem !important; padding: 0.4rem 0 0.2rem !important; }
  [data-testid="stAlert"] > div { padding: 0.35rem 0.8rem !important; }
  [data-testid="stAlert"] p { font-size: 1.1rem !important; }
  [data-testid="stMetricValue"] { font-size: 3.6rem !important; line-height: 1.1 !important; }
  [data-testid="stMetricLabel"] p { font-size: 1.5rem !important; }
  [data-testid="stMetricDelta"] { font-size: 1.2rem !important; }
  [data-testid="stCaptionContainer"] p { font-size: 1.2rem !important; }
  .cct-top { width: 100%; border-collapse: collapse; font-size: 1.45rem; }
  .cct-top td { padding: 0.15rem 0.3rem; border-bottom: 1px solid #e6e6e6; }
  .cct-top td.n { text-align: right; font-variant-numeric: tabular-nums; font-weight: 600; }
</style>
"""


def rotation(
    source: str, snapshot: StoreSnapshot, flt: IncidentFilter, *, choices: dict[str, list[str]],
    policy: Policy,
) -> Shown:  # fmt: skip
    """Meeting-mode rotation: the filter, map focus, heading and outlined area of the
    current step. A precinct or ward step filters everything on the page to that area,
    outlines and labels it and fits it to the map, as a collaboration-area step filters."""
    rotate, every = st.session_state["m_rotate"], st.session_state["n_every"]
    if rotate == "none":
        return flt, None, None, None
    step = int(time.time() // every)
    if rotate == "areas" and choices["areas"]:
        area = choices["areas"][step % len(choices["areas"])]
        return (dataclasses.replace(flt, areas=(area,)), None,
                f"Collaboration area: {md(area)}", None)  # fmt: skip
    if rotate in ("precincts", "wards"):
        boundaries = snapshot.precincts if rotate == "precincts" else snapshot.wards
        # The areas the viewer chose, or else every area where the viewer is shown incidents
        # of the filter (an empty area would be an empty step; a hidden count stays hidden).
        held = set(rotation_areas(source, snapshot.version, flt, rotate[:-1], policy))
        names = [n for n in (getattr(flt, rotate) or choices[rotate])
                 if n in held and (boundaries["name"] == n).any()]  # fmt: skip
        if names:
            name = names[step % len(names)]
            outline = boundaries[boundaries["name"] == name]
            minx, miny, maxx, maxy = outline.total_bounds
            zoom = columnar.fit_zoom((minx, miny, maxx, maxy), width_px=1000, height_px=700)
            dx, dy = maxx - minx, maxy - miny
            padded = (minx - dx, miny - dy, maxx + dx, maxy + dy)
            label = "Precinct" if rotate == "precincts" else "Ward"
            return (
                dataclasses.replace(flt, **{rotate: (name,)}),
                (((miny + maxy) / 2, (minx + maxx) / 2), zoom, padded),
                f"{label}: {md(name)}",
                outline,
            )
    return flt, None, None, None


def meeting_page(request: state.Request) -> None:
    """Full screen: the sidebar hidden (its choices still apply), a way back, the view sized
    for a wall with the CompStat review beneath, rotating if the sidebar said so; or, switched
    on, the playback of the filter's dates."""
    st.markdown(MEETING_CSS, unsafe_allow_html=True)
    # One row of controls, so the map and the figures keep the screen.
    leave, play = st.columns([1, 5], vertical_alignment="center")
    if leave.button("Leave meeting mode", key="leave_meeting"):
        st.session_state["m_mode"] = "normal"
        st.switch_page(request.pages["map"])
    # Time playback on the wall: the filter's dates, a week or a month a frame.
    if play.toggle("Play back the dates", key="pb_meeting"):
        playback_view(request, large=True)
        return
    rotate = None
    if st.session_state["m_rotate"] != "none":
        rotate = functools.partial(rotation, choices=request.choices, policy=request.policy)
    show_view(request, meeting=True, rotation=rotate)
    # The meeting pack: a PDF of the sidebar's filter and the map as shown (app/pack.py).
    pack_panel(request)


meeting_page(state.request())
