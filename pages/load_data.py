"""Load data page (analysts, file stores): uploads validated into a store, the column
mapping for a file the page cannot read alone, and the ingest report."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.navigation.page import StreamlitPage
from streamlit.runtime.uploaded_file_manager import UploadedFile

from app import state
from app.display import md
from app.signin import download, record
from layers._errors import LayersError
from layers.access import audit
from layers.access.policy import Viewer
from layers.dictionary import dictionary_path
from layers.intake.sources import read_incident_file
from layers.intake.validate import resolve_columns
from layers.storage.ingest import IngestReport, ingest
from layers.storage.store import current_version, safe_filename

LOG = logging.getLogger("dashboard")


def upload_panel(store: Path, *, synthetic: bool, uploads: Path, max_mb: float, who: Viewer,
                 map_page: StreamlitPage | None) -> None:  # fmt: skip
    """Validate uploaded files into a store; the synthetic demo is never mixed with real data.
    Every upload is in the audit log, loaded or refused, with its files' names. "Show my
    store" opens ``map_page`` on the new store."""
    target = uploads.resolve() if synthetic else store
    st.subheader("Load your own incident or boundary files")
    st.caption(
        "Incidents: CSV, GeoJSON, GeoPackage, GeoParquet or zipped Shapefile with "
        "incident_id, agency, category, occurred_at (ISO 8601) and lat/lon. Boundaries: "
        "zipped Shapefile, GeoPackage or GeoJSON. Files go through the same validation as "
        "`python -m layers ingest`."
    )
    if synthetic:
        st.info(
            "This is the synthetic demo store, so your files go to a store of their own "
            f"(`{target.name}`), which needs precinct and ward boundaries the first time."
        )
    else:
        st.caption(f"Files are added to this store (`{target.name}`).")
    incidents = st.file_uploader(
        "Incident files",
        accept_multiple_files=True,
        key="up_incidents",
        type=["csv", "gz", "geojson", "json", "gpkg", "parquet", "zip"],
    )
    precincts = st.file_uploader(
        "Precinct boundaries", key="up_precincts", type=["zip", "gpkg", "geojson", "json"]
    )
    wards = st.file_uploader(
        "Ward boundaries", key="up_wards", type=["zip", "gpkg", "geojson", "json"]
    )
    column_map, defaults = column_choices(incidents[0], max_mb=max_mb) if incidents else ({}, {})
    chosen = [f.name for f in (*(incidents or []), precincts, wards) if f is not None]
    if chosen:  # plain text: file names are the uploader's, never markup
        st.text(f"Ready to load: {', '.join(chosen)}")
    # Always enabled: the panel may not have been redrawn since the last upload (Streamlit
    # can answer an upload with a rerun of the map's fragment only); the click reruns it.
    clicked = st.button("Validate and load", key="up_go")
    if clicked and not (incidents or precincts):
        st.warning("Choose incident or precinct files first.")
    elif clicked:
        report, refusal = _load_uploads(target, incidents or [], precincts, wards,
                                        max_mb=max_mb, column_map=column_map,
                                        defaults=defaults)  # fmt: skip
        detail: dict[str, object] = {"files": chosen, "store": target.name}
        if report is not None:
            detail.update(report.totals())
        else:
            detail["refused"] = refusal
        record(audit.UPLOAD, detail, user=who.name, role=who.label)
        if report is not None:
            st.session_state["up_report"] = (str(target), report)
    # The report stays until the next upload: a download button's rerun keeps it.
    if (shown := st.session_state.get("up_report")) is None:
        return
    show_report(shown[1])
    # Only when the upload made a store with incidents: there is nothing else to show.
    other = Path(shown[0]) != store and current_version(shown[0]) is not None
    if other and st.button("Show my store", key="up_show", type="primary"):
        st.session_state["active_store"] = shown[0]
        if map_page is None:  # a store without incidents offers no map yet
            st.rerun()
        st.switch_page(map_page)


# The fields an incident file is read into, as the page names them (see layers.intake.validate).
UPLOAD_FIELDS = {
    "incident_id": "Incident id", "agency": "Agency", "category": "Category",
    "occurred_at": "Date and time", "lat": "Latitude", "lon": "Longitude",
    "wkt": "Geometry (WKT)", "collaboration_area": "Collaboration area",
    "reported_at": "Reported at", "status": "Status", "description": "Description",
}  # fmt: skip
AUTO = "(found automatically)"
NONE = "(none)"


def column_choices(upload: UploadedFile, *, max_mb: float) -> tuple[dict[str, str], dict[str, str]]:
    """The first rows of an incident file, and the viewer's choice of column for each field
    and of a value for every row where the file has none (the CLI's ``--map`` and
    ``--default``)."""
    preview = _preview(upload, max_mb)
    if isinstance(preview, str):
        st.error(md(preview))
        return {}, {}
    head, found = preview
    st.caption(f"First rows of {md(upload.name)}, as read:")
    st.dataframe(head, hide_index=True, width="stretch")
    column_map: dict[str, str] = {}
    defaults: dict[str, str] = {}
    with st.popover("Columns and values for every row"):
        st.caption("Which column holds each field, read from the first incident file and "
                   "applied to every incident file of this upload. Fields found under a known "
                   "name are read from it unless you choose another column.")  # fmt: skip
        columns = [str(c) for c in head.columns]
        for field, label in UPLOAD_FIELDS.items():
            auto = f"{AUTO}: {found[field]}" if field in found else NONE
            pick = st.selectbox(label, [auto, *columns], key=f"up_map_{field}")
            if pick != auto:
                column_map[field] = pick
        st.caption("A value for every row, for a field the file lacks (e.g. every row of a "
                   "station's extract is SAPS).")  # fmt: skip
        agency = st.text_input("Agency for every row", key="up_default_agency").strip()
        category = st.text_input("Category for every row", key="up_default_category").strip()
    defaults.update({k: v for k, v in (("agency", agency), ("category", category)) if v})
    missing = [
        UPLOAD_FIELDS[f] for f in ("incident_id", "agency", "occurred_at")
        if f not in found and f not in column_map and f not in defaults
    ]  # fmt: skip
    if not ({"lat", "lon"} <= {*found, *column_map} or "wkt" in {*found, *column_map}
            or preview_has_geometry(upload)):  # fmt: skip
        missing.append("Latitude and Longitude")
    if missing:
        st.warning(f"No column found for {', '.join(missing)}: choose one under \"Columns and "
                   "values for every row\", or give a value for every row.")  # fmt: skip
    return column_map, defaults


def preview_has_geometry(upload: UploadedFile) -> bool:
    """Spatial formats carry their points as geometry, not as columns."""
    return Path(upload.name).suffix.lower() in (".geojson", ".json", ".gpkg", ".zip", ".parquet")


def _preview(upload: UploadedFile, max_mb: float) -> tuple[pd.DataFrame, dict[str, str]] | str:
    """The first rows of ``upload`` and the columns found for each field (or why the file
    cannot be read), read once per uploaded file."""
    cached = st.session_state.get("_up_preview")
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _save_upload(upload, Path(tmp), max_mb)
            table = read_incident_file(path)
        except LayersError as err:
            result: tuple[pd.DataFrame, dict[str, str]] | str = str(err).replace(tmp + "/", "")
        else:
            found = resolve_columns(table.rows.columns, rows=table.rows)
            result = (table.rows.head(5).reset_index(drop=True), found)
    st.session_state["_up_preview"] = (upload.file_id, result)
    return result


def _load_uploads(
    target: Path,
    incidents: list[UploadedFile],
    precincts: UploadedFile | None,
    wards: UploadedFile | None,
    *,
    max_mb: float,
    column_map: dict[str, str],
    defaults: dict[str, str],
) -> tuple[IngestReport | None, str]:
    """Validate and ingest uploaded files into ``target``: the report, or None and why not
    (the message is shown)."""
    with tempfile.TemporaryDirectory() as tmp:
        # Each upload in its own folder: two files with the same name must not collide.
        files = [f for f in (*incidents, precincts, wards) if f is not None]
        folders = {id(f): Path(tmp, str(n)) for n, f in enumerate(files)}
        try:
            paths = {id(f): _save_upload(f, folders[id(f)], max_mb) for f in files}
            report = ingest(
                target,
                [paths[id(f)] for f in incidents],
                precincts=paths.get(id(precincts)),
                wards=paths.get(id(wards)),
                column_map=column_map,
                defaults=defaults,
            )
            return report, ""
        except LayersError as err:
            st.error(md(err))
            return None, str(err).replace(tmp, "")
        except Exception as err:  # a file we could not anticipate: say so, keep the page
            LOG.exception("upload failed")
            st.error(f"Could not load these files: {type(err).__name__}: {md(err)}")
            return None, type(err).__name__


def _save_upload(upload: UploadedFile, folder: Path, max_mb: float) -> Path:
    if upload.size > max_mb * 1024 * 1024:
        raise LayersError(
            f"{upload.name} is larger than {max_mb:g} MB, the most this page takes; "
            "split it, or ingest it with `python -m layers ingest`."
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_filename(upload.name)
    target.write_bytes(upload.getvalue())
    return target


def show_report(report: IngestReport) -> None:
    """What an upload did, in one voice: a failed file says so and nothing else claims
    success. File names only: never a path on the server."""
    totals = report.totals()
    if not report.files:  # boundaries only
        st.success(f"Boundaries loaded. The store holds {report.total_incidents:,} incidents.")
        for note in report.boundary_warnings:
            st.caption(md(note))
        return
    failed = [file for file in report.files if file.error]
    for file in failed:
        st.error(md(f"{Path(file.file).name} was not loaded: {file.error}"))
    if totals["accepted"] == 0:
        if not failed:
            st.error(f"No row was loaded: all {totals['read']:,} were rejected (see below).")
    elif totals["rejected"]:
        st.warning(f"{totals['rejected']:,} of {totals['read']:,} rows were rejected; "
                   f"{totals['accepted']:,} were loaded.")  # fmt: skip
    else:
        st.success(f"All {totals['read']:,} rows accepted. The store now holds "
                   f"{report.total_incidents:,} incidents.")  # fmt: skip
    lines = [f"Read {totals['read']:,} rows: accepted {totals['accepted']:,} (new "
             f"{totals['new']:,}, updated {totals['updated']:,}, unchanged "
             f"{totals['unchanged']:,}); rejected {totals['rejected']:,}."]  # fmt: skip
    lines += [f"  rejected {count:>7,}  {reason}"
              for reason, count in report.rejected_by_reason().most_common()]  # fmt: skip
    for file in report.files:
        if not file.error:
            lines.append(f"- {Path(file.file).name}: {file.read:,} read, {file.accepted:,} "
                         f"accepted, {file.rejected_total:,} rejected")  # fmt: skip
            lines += [f"    note: {w}" for w in file.warnings]
    lines += [f"note: {w}" for w in report.boundary_warnings]
    st.code("\n".join(lines), language=None)
    for file in report.files:
        if file.rejects_file:
            rejects = Path(file.rejects_file)
            described = dictionary_path(rejects)
            download(f"Download rejected rows of {Path(file.file).name}", rejects.read_bytes,
                     key=f"rej_{rejects}", file_name=rejects.name, mime="text/csv",
                     what="Rejected rows", flt=None, rows=file.rejected_total,
                     dictionary=described.read_text if described.exists() else None)  # fmt: skip


def load_data_page(request: state.Request) -> None:
    """Uploads into this store, or into a store of their own beside the synthetic demo."""
    options = request.options
    upload_panel(Path(request.source), synthetic=request.synthetic, uploads=options.uploads,
                 max_mb=options.max_upload_mb, who=request.signed_in,
                 map_page=request.pages.get("map"))  # fmt: skip


load_data_page(state.request())
