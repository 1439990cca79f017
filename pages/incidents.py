"""Incidents page: the filtered incidents the viewer sees in full (an analyst every one, an
agency its own) as a sorted, paged table beside a map of them. Choosing a row centres the map
on the incident; clicking an incident on the map selects its row, on whichever page it is.
The whole list exports as CSV or GeoPackage, each download written to the audit log first."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from app import data, incidents, state
from app.basemap import basemap as app_basemap
from app.basemap import basemap_notice
from app.data import LOCAL_ZONE
from app.display import guarded, md
from app.foliummap import show_folium
from app.signin import download, record, still_allowed
from layers.access import audit
from layers.access.policy import Policy
from layers.dictionary import dictionary_csv
from layers.maps import listing
from layers.maps.export import export_columns
from layers.maps.listing import SORT_KEYS, SORT_LABELS, SortKey
from layers.storage.store import safe_filename

PAGE_SIZES = (50, 100)
# A zoom at which single incidents stand apart on the map: where choosing a row takes it.
FOCUS_ZOOM = 16
# From this zoom in, the map also draws the listed incidents in view that are on other pages.
NEARBY_ZOOM = 15
NEARBY_LIMIT = 2000
# The page's own choices, kept while the viewer is on another page (Streamlit forgets a
# widget's value after a run that does not draw it).
CONTROLS = ("l_sort", "l_desc", "l_size")
CHOICES = (*CONTROLS, "l_page")
KEPT = "_l_kept"
DETAIL_LABELS = {
    "incident_id": "Incident id", "occurred_at": "Occurred (local time)", "agency": "Agency",
    "category": "Category", "collaboration_area": "Collaboration area",
    "precinct": "SAPS precinct", "ward": "Ward", "lat": "Latitude", "lon": "Longitude",
}  # fmt: skip


def incidents_page(request: state.Request) -> None:
    """The list, its map, the selected incident and the list's export."""
    st.subheader("Incidents")
    viewer = request.viewer
    if not viewer.may_export_incidents:
        # Not offered to such a viewer (dashboard.offered_pages); said plainly all the same.
        record(audit.ACCESS_DENIED, {"what": "incident list"}, user=request.signed_in.name,
               role=viewer.label)  # fmt: skip
        st.info(f"The incident list shows incidents one by one, so it is for analysts and for "
                f"an agency's own incidents. As {md(viewer.label)} you see "
                f"{md(viewer.describe())}.")  # fmt: skip
        return
    source, version, flt = request.source, request.version, request.flt
    policy = data.as_role(request.policy)
    _keep_choices()
    by, descending, size = _controls()
    rows = incidents.listed(source, version, flt, policy, by, descending)
    total = len(rows)
    st.caption(_scope(request, total))
    if total == 0:
        st.info(f"No {'' if viewer.sees_all_points else md(viewer.agency or '') + ' '}incidents "
                "match these filters: widen them in the sidebar.")  # fmt: skip
        return
    _start((version, flt, policy, by, descending, size), rows, size=size)
    _take_map_click(source, version, rows, size)
    pages = listing.pages_of(total, size)
    st.session_state["l_page"] = min(max(int(st.session_state.get("l_page", 1)), 1), pages)
    st.session_state[KEPT]["l_page"] = st.session_state["l_page"]
    shown = incidents.page(source, version, rows, number=st.session_state["l_page"], size=size)
    _selected_line(source, version, rows, shown)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        _table(shown, version)
        _pager(shown)
    with right:
        fragment = st.fragment(guarded(_map_panel), key="l_map_fragment")
        fragment(source, version, rows, tuple(int(r) for r in shown.rows.index), size,
                 options=request.options)  # fmt: skip
        _selected_detail(source, version)
    _exports(request, rows, policy)


def _scope(request: state.Request, total: int) -> str:
    viewer = request.viewer
    what = f"{total:,} incident{'s' if total != 1 else ''}"
    if not viewer.sees_all_points:
        what += f" of {md(viewer.agency or '')}"
    said = (
        f"{what} {'matches' if total == 1 else 'match'} the filter: {md(request.flt.describe())}."
    )
    if viewer.sees_all_points:
        return said
    return (f"{said} The list holds your agency's own incidents; other agencies' are never "
            "listed (the Map page counts them, as far as the privacy rules allow).")  # fmt: skip


def _keep_choices() -> None:
    """Hand the page's choices back after a visit to another page (they are forgotten
    otherwise), and remember them for the next."""
    kept = st.session_state.setdefault(KEPT, {})
    for key in CHOICES:
        if key not in st.session_state and key in kept:
            st.session_state[key] = kept[key]


def _controls() -> tuple[SortKey, bool, int]:
    """Sort by, which way, and rows a page."""
    st.session_state.setdefault("l_sort", "occurred_at")
    st.session_state.setdefault("l_desc", True)
    st.session_state.setdefault("l_size", PAGE_SIZES[0])

    def sort_changed() -> None:  # the natural direction: newest first, A to Z
        st.session_state["l_desc"] = st.session_state["l_sort"] == "occurred_at"

    sort_col, way_col, size_col = st.columns([2, 2, 1])
    by = sort_col.selectbox("Sort by", SORT_KEYS, key="l_sort", format_func=SORT_LABELS.get,
                            on_change=sort_changed)  # fmt: skip
    timed = by == "occurred_at"
    descending = way_col.radio(
        "Order", (True, False), key="l_desc", horizontal=True,
        format_func=lambda d: ("Newest first" if d else "Oldest first") if timed else
        ("Z to A" if d else "A to Z"),
    )  # fmt: skip
    size = size_col.selectbox("Rows a page", PAGE_SIZES, key="l_size")
    st.session_state[KEPT].update({key: st.session_state[key] for key in CONTROLS})
    return by, bool(descending), int(size)


def _start(signature: tuple[object, ...], rows: np.ndarray, *, size: int) -> None:
    """On a new list (another version, filter, role, sort or page size: ``signature``), the
    page holding the selected incident if it is still listed, else the first page and no
    selection."""
    if st.session_state.get("l_signature") == signature:
        return
    st.session_state["l_signature"] = signature
    selected = _selected(str(signature[0]))
    at = None if selected is None else listing.page_of(rows, selected, size=size)
    if at is None:
        st.session_state["l_selected"] = None
    st.session_state["l_page"] = at or 1
    _new_table()


def _selected(version: str) -> int | None:
    """The selected incident's store row, if one of this store version is selected."""
    chosen = st.session_state.get("l_selected")
    return chosen[1] if chosen is not None and chosen[0] == version else None


def _select(version: str, row: int | None) -> None:
    """Select the incident at store row ``row`` (None: none), and centre the map on it."""
    st.session_state["l_selected"] = None if row is None else (version, int(row))
    if row is not None:
        st.session_state["l_focus"] = st.session_state.get("l_focus", 0) + 1


def _new_table() -> None:
    """Draw the table anew: a table's selection can only be set when it is first drawn."""
    st.session_state["l_table"] = st.session_state.get("l_table", 0) + 1


def _take_map_click(source: str, version: str, rows: np.ndarray, size: int) -> bool:
    """Select the incident the viewer last clicked on the map, once per click, and turn the
    table to its page. True when there was a new click."""
    answer: Mapping[str, Any] = st.session_state.get(incidents.LIST_MAP_KEY) or {}
    point = answer.get("last_object_clicked")
    tooltip = answer.get("last_object_clicked_tooltip")
    if not isinstance(point, Mapping):
        return False
    click = (answer.get("last_object_clicked_count"), point.get("lat"), point.get("lng"), tooltip)
    if st.session_state.get("l_click_seen") == click:
        return False
    st.session_state["l_click_seen"] = click
    try:
        lat, lon = float(point["lat"]), float(point["lng"])
    except (KeyError, TypeError, ValueError):
        return False
    there = listing.listed_at(rows, incidents.records(source, version), lat=lat, lon=lon)
    if len(there) > 1 and isinstance(tooltip, str):  # several at one spot: the tooltip's id
        wanted = tooltip.strip().split(" · ")[0]
        ids = incidents.rows_of(source, version, there)["incident_id"]
        there = there[(ids == wanted).to_numpy()] if (ids == wanted).any() else there
    if not len(there):
        return False
    row = int(there[0])
    _select(version, row)
    st.session_state["l_page"] = listing.page_of(rows, row, size=size) or 1
    _new_table()
    return True


def _table(shown: listing.IncidentPage, version: str) -> None:
    """The page's rows; choosing one selects it (and the map centres on it)."""
    page_rows = [int(r) for r in shown.rows.index]
    selected = _selected(version)
    key = f"l_table_{st.session_state.get('l_table', 0)}_{shown.page}"
    default = {"selection": {"rows": [page_rows.index(selected)], "columns": []}} if (
        selected in page_rows) else None  # fmt: skip

    def chose() -> None:
        picked = st.session_state[key]["selection"]["rows"]
        _select(version, page_rows[picked[0]] if picked else None)

    table = shown.rows.assign(occurred_at=_minute(shown.rows["occurred_at"]))
    st.dataframe(
        table, key=key, on_select=chose, selection_mode="single-row",
        selection_default=default, hide_index=True, width="stretch", height=560,
        column_order=[c for c in table.columns if c not in ("lat", "lon")],  # in the detail
        column_config={
            "incident_id": st.column_config.TextColumn("Incident id"),
            "occurred_at": st.column_config.TextColumn("Occurred (local time)"),
            "agency": "Agency", "category": "Category",
            "collaboration_area": "Collaboration area", "precinct": "Precinct",
            "ward": "Ward",
        },
    )  # fmt: skip


def _pager(shown: listing.IncidentPage) -> None:
    pages = shown.pages

    def step(by: int) -> None:
        st.session_state["l_page"] = min(max(int(st.session_state["l_page"]) + by, 1), pages)

    back, number, ahead, where = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
    back.button("Previous", key="l_prev", on_click=step, args=(-1,), disabled=shown.page <= 1,
                width="stretch")  # fmt: skip
    number.number_input("Page", min_value=1, max_value=pages, step=1,
                        key="l_page")  # fmt: skip
    ahead.button("Next", key="l_next", on_click=step, args=(1,), disabled=shown.page >= pages,
                 width="stretch")  # fmt: skip
    where.caption(f"Incidents {shown.first:,}–{shown.last:,} of {shown.total:,}, page "
                  f"{shown.page:,} of {pages:,}.")  # fmt: skip


def _map_panel(source: str, version: str, rows: np.ndarray, page_rows: tuple[int, ...],
               size: int, *, options: Any) -> None:  # fmt: skip
    """The page's incidents on the map, the selected one ringed and centred on. A fragment:
    moving the map reruns only this (for the listed incidents in view, zoomed in); a click
    on an incident reruns the page, to select its row."""
    still_allowed(options)  # a fragment run is a run too
    if _take_map_click(source, version, rows, size):
        st.rerun()
    fit_key = f"_fit_precinct_{source}"
    if fit_key not in st.session_state:
        st.session_state[fit_key] = data.opening_view(source, version, "precinct")
    fit = st.session_state[fit_key]
    basemap, tiles_problem = app_basemap(options.tiles, options.tiles_attribution, fit)
    basemap_notice(basemap, tiles_problem)
    zoom, view = _map_view()
    nearby = None
    if zoom is not None and zoom >= NEARBY_ZOOM and view is not None:
        columns = data.load_store(source, version).columns
        found = listing.listed_in_view(columns, rows, view, limit=NEARBY_LIMIT + 1)
        nearby = tuple(int(r) for r in found[:NEARBY_LIMIT])
        if len(found) > NEARBY_LIMIT:
            st.caption(f"Showing the first {NEARBY_LIMIT:,} listed incidents around this view, "
                       "in list order: zoom in to see the rest.")  # fmt: skip
    selected = _selected(version)
    center, target = None, None
    if selected is not None:
        # The map moves only to a centre or zoom it was not given last: a hair's difference
        # on each new choice moves it back to an incident chosen again (Leaflet snaps the zoom
        # to a whole level).
        hair = 1e-9 * (st.session_state.get("l_focus", 0) % 2)
        record_of = incidents.records(source, version)
        center = (float(record_of.lat[selected]) + hair, float(record_of.lon[selected]))
        target = max(FOCUS_ZOOM, zoom or 0) + hair
    args = incidents.map_args(source, version, page_rows, selected, nearby, basemap=basemap,
                              tiles_problem=tiles_problem, fit=fit, center=center,
                              zoom=target)  # fmt: skip
    show_folium(args, key=incidents.LIST_MAP_KEY)
    st.caption(
        "Blue: this page's incidents. Orange ring: the selected one. "
        f"Zoomed in (level {NEARBY_ZOOM} and closer), grey: listed incidents on other pages. "
        "Click an incident to select its row."
    )


def _map_view() -> tuple[int | None, tuple[float, float, float, float] | None]:
    """The list map's zoom and its view padded by half on every side, rounded to about 100 m
    so that small moves ask for nothing new."""
    answer = st.session_state.get(incidents.LIST_MAP_KEY) or {}
    try:
        zoom = int(answer["zoom"])
        box = answer["bounds"]
        south, west = float(box["_southWest"]["lat"]), float(box["_southWest"]["lng"])
        north, east = float(box["_northEast"]["lat"]), float(box["_northEast"]["lng"])
    except (KeyError, TypeError, ValueError):
        return None, None
    dx, dy = (east - west) / 2, (north - south) / 2
    padded = (west - dx, south - dy, east + dx, north + dy)
    return zoom, tuple(round(v, 3) for v in padded)  # type: ignore[return-value]


def _selected_line(source: str, version: str, rows: np.ndarray,
                   shown: listing.IncidentPage) -> None:  # fmt: skip
    """Which incident is selected, in one line above the table, where it is in the list,
    and a way to clear it: visible however far down the table its row is."""
    selected = _selected(version)
    at = None if selected is None else listing.position(rows, selected)
    if selected is None or at is None:
        st.caption("Choose a row, or click an incident on the map, to select it: the map "
                   "centres on it and its details show beside the table.")  # fmt: skip
        return
    incident = incidents.rows_of(source, version, np.array([selected])).iloc[0]
    where = (f"row {at - (shown.page - 1) * shown.size + 1} of this page" if shown.first
             <= at + 1 <= shown.last else f"on page {at // shown.size + 1:,}")  # fmt: skip
    parts = [incident["agency"], incident["category"], _minute(incident["occurred_at"])]
    text, clear_col = st.columns([6, 1], vertical_alignment="center")
    text.markdown(f"**Selected: {md(incident['incident_id'])}** · "
                  + " · ".join(md(p) for p in parts if p)
                  + f" ({where}, number {at + 1:,} of {len(rows):,})")  # fmt: skip

    def clear() -> None:
        _select(version, None)
        _new_table()

    clear_col.button("Clear", key="l_clear", on_click=clear, width="stretch")


def _selected_detail(source: str, version: str) -> None:
    """Every field of the selected incident, under the map."""
    selected = _selected(version)
    if selected is None:
        return
    incident = incidents.rows_of(source, version, np.array([selected])).iloc[0]
    detail = pd.DataFrame({"Field": list(DETAIL_LABELS.values()),
                           "Value": [_text(incident[c]) for c in DETAIL_LABELS]})  # fmt: skip
    st.dataframe(detail, hide_index=True, width="stretch")


def _minute(when: Any) -> Any:
    """Local ISO 8601 times (text) to the minute, for reading: ``2025-01-01 10:00``."""
    if isinstance(when, pd.Series):
        return when.str.slice(0, 16).str.replace("T", " ", regex=False)
    return str(when)[:16].replace("T", " ") if isinstance(when, str) else when


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.5f}" if isinstance(value, float) else str(value)


def _exports(request: state.Request, rows: np.ndarray, policy: Policy) -> None:
    """The whole list as CSV and GeoPackage, each download in the audit log before its file
    is made (:func:`app.signin.download`)."""
    source, version, flt = request.source, request.version, request.flt
    snapshot = data.load_store(source, version)
    st.markdown("**Export the list**")
    scope = "all" if policy.full else request.viewer.agency or "own"
    stem = safe_filename(f"incidents_{scope}_{datetime.now(LOCAL_ZONE):%Y%m%d}")
    make = functools.partial(incidents.export_file, source, version, rows)
    csv_col, gpkg_col = st.columns(2)
    with csv_col:
        download("Download CSV", lambda: make(".csv"), key="l_csv", file_name=f"{stem}.csv",
                 mime="text/csv", what="Incident list", flt=flt, rows=len(rows),
                 dictionary=lambda: dictionary_csv("incidents",
                                                   export_columns(snapshot.incidents)))  # fmt: skip
    with gpkg_col:
        download("Download GeoPackage", lambda: make(".gpkg"), key="l_gpkg",
                 file_name=f"{stem}.gpkg", mime="application/geopackage+sqlite3",
                 what="Incident list", flt=flt, rows=len(rows))  # fmt: skip
    st.caption(f"Both hold all {len(rows):,} incidents of the list, in its order, not only this "
               "page, with times in local time (ISO 8601). Each download is written to the "
               "audit log (who, which file, how many incidents, which filters) before its file "
               "is made.")  # fmt: skip


incidents_page(state.request())
