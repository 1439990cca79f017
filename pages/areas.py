"""Areas and buffers page: draw an area on the map, or choose a point or an address and a
radius, and count the incidents inside, in total, by category and by agency, as the viewer
may count them; the rule that applied is said beside the counts. A public viewer counts in
the published site's cells alone, by published group. The sidebar's filter applies."""

from __future__ import annotations

import hashlib
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from app import data, state
from app.basemap import basemap, basemap_notice
from app.display import guarded, md
from app.foliummap import folium_args, show_folium
from app.signin import download, still_allowed
from layers._errors import LayersError
from layers.access.policy import Policy
from layers.analysis.areas import (
    MAX_RADIUS_M,
    MIN_RADIUS_M,
    Area,
    AreaCounts,
    AreaError,
    area_geojson,
    buffer_area,
    check_near,
    drawn_area,
    parse_point,
)
from layers.maps import webmap
from layers.maps.drawing import area_layer, draw_control
from layers.maps.tiles import Basemap
from layers.publishing.areas import PublicAreaCounts
from layers.publishing.public import PublicSite
from layers.storage import columnar
from layers.storage.filters import IncidentFilter

MAP_KEY = "a_map"
MODES = {
    "draw": "Draw on the map",
    "point": "A point and a radius",
    "address": "An address and a radius",
}
# What the map sends back, by mode: a click sets the point; drawings make the area.
RETURNED = {
    "draw": ["all_drawings", "zoom", "bounds"],
    "point": ["last_clicked", "zoom", "bounds"],
    "address": ["zoom", "bounds"],
}


def take_map_click() -> None:
    """A click on the map in point mode fills the point box (before the box is drawn)."""
    clicked = (st.session_state.get(MAP_KEY) or {}).get("last_clicked")
    if not clicked or clicked == st.session_state.get("_a_clicked"):
        return
    st.session_state["_a_clicked"] = clicked
    if st.session_state.get("a_mode", "draw") == "point":
        st.session_state["a_point"] = f"{clicked['lat']:.5f}, {clicked['lng']:.5f}"


def radius() -> float:
    return float(
        st.number_input(
            "Radius (metres)",
            min_value=MIN_RADIUS_M,
            max_value=MAX_RADIUS_M,
            value=500.0,
            step=50.0,
            key="a_radius",
            format="%.0f",
        )
    )


def choose_area(request: state.Request, mode: str) -> Area | None:
    """The area the viewer chose, or None (with what to do, said on the page)."""
    try:
        if mode == "draw":
            shapes = (st.session_state.get(MAP_KEY) or {}).get("all_drawings") or []
            if not shapes:
                st.info("Draw a polygon or a rectangle with the tools at the map's top left.")
                return None
            area = drawn_area(
                shapes,
                label="Drawn area"
                if len(shapes) == 1
                else f"Drawn area ({len(shapes)} shapes, counted as one)",
            )
            return area
        if mode == "point":
            left, right = st.columns([2, 1])
            with left:
                text = st.text_input(
                    "Point (latitude, longitude)",
                    key="a_point",
                    placeholder="-33.92490, 18.42410, or click the map",
                )
            with right:
                metres = radius()
            if not text.strip():
                st.info("Type a point as latitude, longitude, or click the map.")
                return None
            lat, lon = parse_point(text)
            precincts = data.load_store(request.source, request.version).precincts
            check_near(lat, lon, precincts.total_bounds)
            return buffer_area(lat, lon, metres)
        return address_area(request)
    except (AreaError, LayersError) as err:
        st.error(md(err))
        return None


def address_area(request: state.Request) -> Area | None:
    """A buffer around an address point found by text in ``--addresses``."""
    options = request.options
    snapshot = data.load_store(request.source, request.version)
    extent = tuple(float(v) for v in snapshot.precincts.total_bounds)
    points = data.address_points(
        str(options.addresses), options.addresses.stat().st_mtime_ns, options.address_column, extent
    )
    left, right = st.columns([2, 1])
    with left:
        text = st.text_input("Address", key="a_search", placeholder="e.g. 12 Main Road")
    with right:
        metres = radius()
    if points.rejected.shape[0]:
        with st.expander(f"Address points: {len(points.points):,} of {points.read:,} usable"):
            reasons = points.rejected["reason"].value_counts()
            st.dataframe(
                reasons.rename_axis("Why set aside").reset_index(name="Rows"), hide_index=True
            )
    if not text.strip():
        st.info(
            f"Type part of an address: {len(points.points):,} address points from "
            f"{md(points.path.name)} (case and punctuation ignored)."
        )
        return None
    found = points.search(text, limit=20)
    if found.empty:
        st.info(f"No address point matches {md(text.strip())}: try fewer or shorter words.")
        return None
    labels = dict(zip(found.index, found["address"], strict=True))
    choice = st.selectbox(
        f"Matches ({len(found)}{', the first 20' if len(found) == 20 else ''})",
        list(labels),
        format_func=labels.get,
        key=f"a_match_{text.strip()}",
    )
    row = found.loc[choice]
    return buffer_area(float(row["lat"]), float(row["lon"]), metres, label=str(row["address"]))


def counts_table(frame: pd.DataFrame, name: str, label: str) -> None:
    st.dataframe(
        frame[[name, "text"]].rename(columns={name: label, "text": "Incidents"}),
        hide_index=True,
        width="stretch",
    )


def show_counts(counts: AreaCounts) -> None:
    """The counts inside the area, as the viewer may see them, and the rule that applied."""
    st.metric("Incidents inside", counts.text(counts.total))
    st.caption(md(counts.rule))
    st.markdown("**By category**")
    if not counts.categories.empty:
        counts_table(counts.categories, "category", "Category")
    elif not counts.hidden_categories:
        st.caption("No incident inside.")
    if counts.hidden_categories:
        which = "Other categories" if len(counts.categories) else "Every category"
        st.caption(f"{which}: fewer than {counts.k} each, or none ({counts.hidden_categories}).")
    if counts.own and len(counts.table):
        st.caption(
            f"Your own ({md(', '.join(counts.own))}) incidents by category, in full: by "
            "category and agency, below."
        )
    st.markdown("**By agency**")
    # A few rows, as a plain table: every figure readable as text.
    agencies = counts.agencies[["agency", "text"]]
    st.table(agencies.rename(columns={"agency": "Agency", "text": "Incidents"}), hide_index=True)
    if len(counts.table):
        with st.expander("By category and agency"):
            st.dataframe(counts.table, width="stretch")


def show_public_counts(counts: PublicAreaCounts) -> None:
    """An area's counts from the published cells, by published group."""
    groups = counts.groups
    first = groups.iloc[0]
    st.metric(
        f"Incidents inside: {first['group']}, {counts.label}",
        counts.text(first["count"], first["partial"], first["cells"]),
    )
    st.caption(md(counts.rule))
    table = groups.assign(
        Incidents=[
            counts.text(c, p, n)
            for c, p, n in zip(groups["count"], groups["partial"], groups["cells"], strict=True)
        ],
    )
    st.dataframe(
        table[["group", "Incidents", "cells"]].rename(
            columns={"group": "Published group", "cells": "Cells inside"}
        ),
        hide_index=True,
        width="stretch",
    )


@st.cache_resource(max_entries=32, show_spinner=False)
def area_map_args(
    store: str,
    version: str,
    flt: IncidentFilter,
    zoom: int,
    bounds: tuple[float, float, float, float] | None,
    policy: Policy,
    *,
    public: bool,
    fit: tuple[float, float, float, float],
    tiles: Basemap | None,
    tiles_problem: str | None,
    returned: tuple[str, ...],
    focus: tuple[tuple[float, float], int] | None,
    area_key: str | None,
    units_key: str | None,
    _area: Area | None,
    _units: gpd.GeoDataFrame | None,
    _outlines: gpd.GeoDataFrame | None,
) -> dict[str, Any]:
    """The map component's arguments: the base map with the drawing tools (the same on every
    run, so the map and what is drawn on it stay), the viewer's heat and precincts (the
    published precincts for the public, no heat), and the area with the units counted in;
    ``focus`` (centre, zoom) moves the view to a buffer once, when it is chosen."""
    snapshot = data.load_store(store, version)
    base = webmap.live_base_map(
        snapshot.precincts,
        tiles=tiles,
        tiles_problem=tiles_problem,
        synthetic=snapshot.synthetic,
        fit=fit,
    )
    base.add_child(draw_control())
    if public and _outlines is not None:
        outlines = _outlines[["name", "geometry"]].assign(count=np.nan, count_text="")
        layers = [webmap.area_layer(outlines, area_label="Precinct", style="outline")]
    else:
        shown = data.map_data(store, version, flt, "precinct", zoom, bounds, policy)
        layers = webmap.map_layers(
            shown.areas,
            shown.heat,
            area_label="Precinct",
            zoom=shown.zoom,
            heat_scale=shown.heat_scale,
            heat_radius=shown.heat_radius,
        )
    if _area is not None:
        layers.append(area_layer(_area, units=_units))
    return folium_args(
        base,
        key=MAP_KEY,
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=True),
        returned_objects=list(returned),
        height=620,
        width=None,
        center=focus[0] if focus else None,
        zoom=focus[1] if focus else None,
    )


def area_map(
    request: state.Request,
    mode: str,
    fit: tuple[float, float, float, float],
    area: Area | None,
    units: gpd.GeoDataFrame | None,
    site: PublicSite | None = None,
) -> None:
    found, problem = basemap(request.options.tiles, request.options.tiles_attribution, fit)
    basemap_notice(found, problem)
    zoom, bounds = state.map_view(MAP_KEY)
    zoom = zoom if zoom is not None else columnar.fit_zoom(fit)
    focus = None
    if area is not None and area.centre is not None:  # a buffer: show it whole, once
        box = area.geometry.bounds
        focus = (area.centre, columnar.fit_zoom(box, width_px=600, height_px=560))
    args = area_map_args(
        request.source,
        request.version,
        request.flt,
        zoom,
        bounds,
        data.as_role(request.policy),
        public=site is not None,
        fit=fit,
        tiles=found,
        tiles_problem=problem,
        returned=tuple(RETURNED[mode]),
        focus=focus,
        area_key=area.key if area is not None else None,
        # what the units are (a public viewer's published cells change with the months)
        units_key=None if units is None else hashlib.sha256(units.to_json().encode()).hexdigest(),
        _area=area,
        _units=units,
        _outlines=site.precincts if site is not None else None,
    )
    show_folium(args, key=MAP_KEY)


# A public viewer's published site, its folder (for the caches) and the months chosen.
Published = tuple[PublicSite, str | None, tuple[str, ...]]


def published(request: state.Request) -> Published | None:
    """The published site a public viewer counts in, and the run of whole months chosen in
    the sidebar (outside the fragment: a fragment cannot draw in the sidebar)."""
    snapshot = data.load_store(request.source, request.version)
    options = request.options
    site_dir = str(options.public_site.resolve()) if options.public_site else None
    try:
        site = data.public_site(request.source, request.version, site_dir, snapshot, request.rules)
    except LayersError as err:
        st.error(md(err))
        return None
    months = site.months
    if not months:
        st.info("No whole month is published yet: areas count in published months.")
        return None
    run = st.sidebar.select_slider(
        "Months",
        options=months,
        value=(months[-1], months[-1]),
        key="a_months",
        help="Whole published months, added up.",
    )
    return site, site_dir, tuple(months[months.index(run[0]) : months.index(run[1]) + 1])


def counted(
    request: state.Request, area: Area, public: Published | None
) -> tuple[AreaCounts | PublicAreaCounts, gpd.GeoDataFrame]:
    """The counts inside ``area`` as the viewer may see them, and the units to draw."""
    if public is None:
        return data.area_view(
            request.source,
            request.version,
            request.flt,
            data.as_role(request.policy),
            area.key,
            area,
        )
    site, site_dir, months = public
    counts = data.public_area(
        request.source, request.version, site_dir, months, area.key, site, area
    )
    names = [
        f"Published cell: {counts.text(c, p)}"
        for c, p in zip(counts.cells["count"], counts.cells["partial"], strict=True)
    ]
    return counts, counts.cells.assign(name=names)


def areas_panel(request: state.Request, public: Published | None) -> None:
    """The page's body, a fragment: map moves, drawings and the choices beside the map rerun
    only this."""
    still_allowed(request.options)  # before anything is read: a fragment run is a run too
    if public is not None:
        fit = tuple(float(v) for v in public[0].precincts.total_bounds)
    else:
        fit = data.opening_view(request.source, request.version, "precinct")
    modes = [m for m in MODES if m != "address" or request.options.addresses is not None]
    take_map_click()
    # The choices and what is said about them in one container: the map after it keeps its
    # place in the page whatever shows above it, so it is never rebuilt (losing the drawing).
    with st.container():
        mode = st.radio("Area", modes, format_func=MODES.get, key="a_mode", horizontal=True)
        area = choose_area(request, mode)
    counts, units = counted(request, area, public) if area is not None else (None, None)
    left, right = st.columns([3, 2])
    with left:
        area_map(request, mode, fit, area, units, public[0] if public else None)
    with right:
        if area is None or counts is None:
            st.caption("The counts inside the area show here.")
            return
        st.subheader(md(area.label))
        where = "" if public else f" Filter: {md(request.flt.describe())}."
        st.caption(f"{area.area_km2:,.2f} km².{where}")
        if isinstance(counts, PublicAreaCounts):
            show_public_counts(counts)
        else:
            show_counts(counts)
        download(
            "Download the area (GeoJSON)",
            lambda: area_geojson(area),
            key="a_geojson",
            file_name="area.geojson",
            mime="application/geo+json",
            what="area outline (no incidents)",
            flt=request.flt,
            rows=1,
        )


request = state.request()
st.header("Areas and buffers")
st.caption(
    "Count the incidents inside an area you draw, or within a radius of a point or an "
    "address. Counts follow the same privacy rules as every other figure."
)
public = published(request) if request.viewer.role == "public" else None
if request.viewer.role != "public" or public is not None:
    st.fragment(guarded(areas_panel), key="areas_panel")(request, public)
