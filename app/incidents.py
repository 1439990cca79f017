"""The incident list's data, cached: each store version's records and sort orders, each
(version, filter, role, sort)'s list, the map the list's page is drawn on, and its exports.

The list holds only what the access step gives a viewer in full (see
:mod:`layers.maps.listing`), taken once per filter and role by :func:`app.data.viewer_sight`.
Orders are resources: shared read-only by every session, never copied or hashed per run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import folium
import numpy as np
import streamlit as st

from app import data
from app.foliummap import folium_args
from layers.access.policy import Policy
from layers.maps import listing, points, webmap
from layers.maps.export import export_incidents
from layers.maps.listing import IncidentRecords, SortKey
from layers.maps.tiles import Basemap
from layers.storage.filters import IncidentFilter

LIST_MAP_KEY = "l_map"
# What the list's map tells the page: which incident was clicked, and the view (for the
# listed incidents around it once zoomed in).
LIST_MAP_RETURNS = ("last_object_clicked", "last_object_clicked_tooltip",
                    "last_object_clicked_count", "zoom", "bounds")  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner=False)
def records(source: str, version: str) -> IncidentRecords:
    """Ids, times and positions of every incident of a store version (four columns)."""
    return listing.read_records(data.load_store(source, version))


@st.cache_resource(max_entries=16, show_spinner=False)
def store_order(source: str, version: str, by: SortKey, descending: bool) -> np.ndarray:
    """Every incident of a store version in list order, once per sort for every viewer."""
    columns = data.load_store(source, version).columns
    order = listing.store_order(columns, records(source, version), by=by, descending=descending)
    order.flags.writeable = False
    return order


def listed(source: str, version: str, flt: IncidentFilter, policy: Policy, by: SortKey,
           descending: bool) -> np.ndarray:  # fmt: skip
    """The incidents the viewer sees in full under ``flt``, as store rows in list order."""
    return _listed(source, version, flt, data.as_role(policy), by, descending)


@st.cache_resource(max_entries=32, show_spinner=False)
def _listed(source: str, version: str, flt: IncidentFilter, policy: Policy, by: SortKey,
            descending: bool) -> np.ndarray:  # fmt: skip
    sight = data.viewer_sight(source, version, flt, policy)
    return listing.listing(sight, store_order(source, version, by, descending))


def page(source: str, version: str, rows: np.ndarray, *, number: int,
         size: int) -> listing.IncidentPage:  # fmt: skip
    """Page ``number`` of the list ``rows``."""
    columns = data.load_store(source, version).columns
    return listing.incident_page(columns, records(source, version), rows, page=number, size=size)


def rows_of(source: str, version: str, rows: np.ndarray) -> Any:
    """Listed incidents at store rows ``rows``, as the list shows them."""
    columns = data.load_store(source, version).columns
    return listing.list_rows(columns, records(source, version), rows)


@st.cache_resource(max_entries=32, show_spinner=False)
def map_args(
    source: str,
    version: str,
    page_rows: tuple[int, ...],
    selected: int | None,
    nearby_rows: tuple[int, ...] | None,
    *,
    basemap: Basemap | None,
    tiles_problem: str | None,
    fit: tuple[float, float, float, float],
    center: tuple[float, float] | None,
    zoom: float | None,
) -> dict[str, Any]:
    """The list map's component arguments: the base map (tiles, precinct outlines, opening
    view) and, as added layers, the page's incidents, the listed ones in view and the
    selected one; ``center`` and ``zoom`` move the view without rebuilding the map."""
    snapshot = data.load_store(source, version)
    base = webmap.live_base_map(snapshot.precincts, tiles=basemap, tiles_problem=tiles_problem,
                                synthetic=snapshot.synthetic, fit=fit)  # fmt: skip
    if "precinct" not in snapshot.display_cache:  # simplified once, shared with the Map page
        snapshot.display_cache["precinct"] = webmap.display_geometry(snapshot.precincts)
    points.boundary_layer(snapshot.display_cache["precinct"], name="SAPS precincts").add_to(base)
    shown = rows_of(source, version, np.array(page_rows, dtype=np.int64))
    chosen = None if selected is None else rows_of(source, version, np.array([selected]))
    nearby = None
    if nearby_rows:
        nearby = rows_of(source, version, np.array(nearby_rows, dtype=np.int64))
    layers = points.incident_layers(shown, selected=chosen, nearby=nearby)
    return folium_args(
        base,
        key=LIST_MAP_KEY,
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=True),
        returned_objects=list(LIST_MAP_RETURNS),
        height=560,
        width=None,
        center=center,
        zoom=zoom,  # type: ignore[arg-type]  # a zoom nudged by a hair (see pages/incidents)
    )


def export_file(source: str, version: str, rows: np.ndarray, suffix: str) -> bytes:
    """The incidents at store rows ``rows``, in that order, as a CSV or GeoPackage file
    (:func:`layers.maps.export.export_incidents`). Made when the download is fetched, after
    the audit log has it."""
    snapshot = data.load_store(source, version)
    incidents = snapshot.incidents
    if len(incidents) != len(snapshot.columns):
        raise ValueError("The store's incidents and its coded columns differ: reopen the store.")
    with tempfile.TemporaryDirectory() as tmp:
        out = export_incidents(incidents.iloc[np.asarray(rows)], Path(tmp, f"incidents{suffix}"))
        return out.read_bytes()
