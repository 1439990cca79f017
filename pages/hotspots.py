"""Hotspots page: the areas with hot cells, the export, and (analysts) how well last
period's hotspots predicted this one."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import streamlit as st

from app import data, state
from app.display import md
from app.signin import download
from layers._errors import LayersError
from layers.access.policy import Policy
from layers.analysis import evaluate
from layers.analysis.study import METHODS, HotspotResult
from layers.dictionary import dictionary_csv
from layers.maps.hotspot_export import HOTSPOT_SUFFIXES, export_hotspots, hotspot_provenance
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot


def hotspot_panel(
    result: HotspotResult, snapshot: StoreSnapshot, flt: IncidentFilter, *, boundary: str,
    policy: Policy,
) -> None:  # fmt: skip
    st.subheader(METHODS[result.method])
    st.caption(result.explanation)
    level = result.by_area[result.by_area["level"] == boundary].drop(columns="level")
    st.markdown(f"**Hot cells and incidents inside them, per {boundary}**")
    st.dataframe(
        level.head(15), hide_index=True, width="stretch",
        column_config={
            "area": boundary.capitalize(),
            "hot_cells": "Hot cells" if result.method != "kde" else "Hotspots",
            "in_hotspots": "Incidents in hotspots",
            "share_in_hotspots": st.column_config.ProgressColumn(
                "Share in hotspots", format="percent", min_value=0, max_value=1),
        },
    )  # fmt: skip
    suffix = st.selectbox("Export as", HOTSPOT_SUFFIXES, key="h_suffix",
                          format_func={".zip": "Shapefile (.zip)", ".gpkg": "GeoPackage",
                                       ".geojson": "GeoJSON"}.get)  # fmt: skip
    # An export belongs to the view it was made for: a changed filter, method or store
    # version hides it rather than offering a file that no longer matches the map.
    view = (snapshot.version, flt, result.method, result.parameters.get("cell_m"), suffix,
            policy)  # fmt: skip
    if st.button("Prepare the export", key="h_prepare"):
        with tempfile.TemporaryDirectory() as tmp:
            out = export_hotspots(
                result.layer,
                Path(tmp, f"hotspots_{result.method}{suffix}"),
                provenance=hotspot_provenance(result, snapshot, flt),
            )
            st.session_state["h_export"] = (view, out.name, out.read_bytes())
    prepared = st.session_state.get("h_export")
    if prepared and prepared[0] == view:
        _, name, data = prepared
        download(f"Download {name}", lambda: data, key="h_download", file_name=name,
                 mime="application/octet-stream", what=f"Hotspots ({METHODS[result.method]})",
                 flt=flt, rows=len(result.layer))  # fmt: skip


def evaluation_panel(
    snapshot: StoreSnapshot, flt: IncidentFilter, version: str, stats: dict[str, object]
) -> None:
    # The split must fall inside the filtered incidents, not the whole store.
    first, last = stats["first"], stats["last"]
    with st.expander("How well did last period's hotspots predict this one?"):
        if stats["incidents"] < 2 or first is None or first == last:
            st.info("An evaluation needs incidents on at least two days in the filter: widen "
                    "the filters.")  # fmt: skip
            return
        st.caption(
            "Hotspots are fitted on incidents before the split date and scored on those after "
            "it. Hit rate: share of later incidents inside the hotspots. PAI: hit rate divided "
            "by the share of the area covered (1 = chance). RRI: above 1, the hotspots took a "
            "larger share of incidents than before. Every method covers the same share of "
            "the study area."
        )
        low, high = first + timedelta(days=1), last
        default = min(max(last - timedelta(days=90), low), high)
        if not low <= st.session_state.get("e_split", default) <= high:
            st.session_state["e_split"] = default  # the filters moved the period
        st.session_state.setdefault("e_split", default)  # the widget's value: no second one
        split = st.date_input("Split date", min_value=low, max_value=high, key="e_split")
        if st.button("Evaluate", key="e_go"):
            try:
                table = data.evaluation(str(snapshot.path), version, flt, split,
                                   st.session_state["n_share"] / 100,
                                   st.session_state["n_cell_m"])  # fmt: skip
            except LayersError as err:
                st.error(md(err))
                return
            st.dataframe(evaluate.readable_table(table), hide_index=True, width="stretch")
            name = f"hotspot_evaluation_{split}.csv"
            readable = evaluate.readable_table(table)
            download("Download the table (CSV)", lambda: evaluate.to_csv(table), key="e_csv",
                     file_name=name, mime="text/csv", what="Hotspot evaluation", flt=flt,
                     rows=len(table),
                     dictionary=lambda: dictionary_csv("evaluation", readable))  # fmt: skip


def hotspots_page(request: state.Request) -> None:
    """The chosen analysis by area, its export, and (analysts) its evaluation."""
    source, version, flt, policy = request.source, request.version, request.flt, request.policy
    snapshot = data.load_store(source, version)
    if request.params is None:
        st.subheader("Hotspots")
        st.info("Choose an analysis under Hotspots in the sidebar: Getis-Ord Gi*, emerging hot "
                "spots or (analysts) kernel density. It is drawn on the map too.")  # fmt: skip
    else:
        try:
            result = data.hotspot_result(source, version, flt, request.params, policy)
        except LayersError as err:
            st.error(md(err))
        else:
            hotspot_panel(result, snapshot, flt, boundary=request.boundary, policy=policy)
    if not policy.full:
        return  # the evaluation works on every incident: analysts only
    stats = data.figures(source, version, flt, request.boundary, policy)["headline"]
    evaluation_panel(snapshot, flt, version, stats)


hotspots_page(state.request())
