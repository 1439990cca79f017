"""Exporting filtered incidents to files other GIS tools and spreadsheets read.

Spreadsheets run a CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (CSV injection: ``=HYPERLINK(...)`` links, DDE commands). Every CSV the
project writes for people is made by :func:`spreadsheet_csv` (or, for a file, as in
:func:`export_incidents`): text cells through :func:`neutralise_formulas`, numbers left
numbers, and lines ended CRLF so a carriage return inside a cell is quoted.

GeoPackage, GeoJSON and GeoParquet keep every value exactly as stored: they are typed formats
read by GIS tools and programs, which show text as text and never evaluate it, and a name
changed there would no longer match the same name in the boundaries or the store.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from layers._errors import InputFileError
from layers.settings import LOCAL_TZ
from layers.spreadsheet import CSV_LINE_END, neutralise_formulas
from layers.storage.store import atomic_path

EXPORT_COLUMNS = (
    "incident_id", "agency", "category", "collaboration_area", "occurred_at", "reported_at",
    "status", "description", "lat", "lon", "precinct", "ward", "source_file",
)  # fmt: skip
EXPORT_SUFFIXES = (".csv", ".gpkg", ".parquet", ".geojson")


def export_columns(incidents: pd.DataFrame) -> list[str]:
    """The columns an export of ``incidents`` has besides its geometry: the header of its CSV.

    Those of :data:`EXPORT_COLUMNS` that ``incidents`` has, in that order; their data
    dictionary is ``layers.dictionary.dictionary_csv("incidents", export_columns(incidents))``.
    """
    return [c for c in EXPORT_COLUMNS if c in incidents.columns]


def export_table(incidents: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The incidents as exported: canonical columns, local ISO 8601 times, plain text values."""
    columns = export_columns(incidents)
    table = gpd.GeoDataFrame(incidents[columns], geometry=incidents.geometry, crs=incidents.crs)
    return plain_values(table)


def plain_values(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy every file format can store: categories as text, times as ISO 8601 text.

    Time-zone-aware times are written in local time with their offset
    (``2025-01-01T10:00:00+02:00``); missing values stay missing.
    """
    out = frame.copy()
    geometry = out.geometry.name if isinstance(out, gpd.GeoDataFrame) else None
    for column in out.columns:
        values = out[column]
        if column == geometry:
            continue
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.astype(object).where(values.notna(), None)
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            local = values.dt.tz_convert(LOCAL_TZ).dt.strftime("%Y-%m-%dT%H:%M:%S%z")
            out[column] = local.str.replace(r"(\d{2})(\d{2})$", r"\1:\2", regex=True)
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[column] = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return out


def export_incidents(incidents: gpd.GeoDataFrame, out: Path | str) -> Path:
    """Write incidents to CSV, GeoPackage, GeoParquet or GeoJSON, chosen by ``out``'s suffix.

    The write is atomic: a temporary file in the same folder is renamed over ``out``.

    Parameters
    ----------
    incidents : geopandas.GeoDataFrame
        Filtered incidents with ``precinct`` and ``ward`` columns, in EPSG:4326.
    out : path-like
        Target file.

    Returns
    -------
    Path
        The file written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputFileError(
            f"Cannot export to {out.name}: use a file ending in {', '.join(EXPORT_SUFFIXES)}."
        )
    table = export_table(incidents)
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            plain = pd.DataFrame(table.drop(columns=table.geometry.name))
            neutralise_formulas(plain).to_csv(
                tmp, index=False, encoding="utf-8", lineterminator=CSV_LINE_END
            )
        elif suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            driver = "GPKG" if suffix == ".gpkg" else "GeoJSON"
            layer = {"layer": "incidents"} if driver == "GPKG" else {}
            table.to_file(tmp, driver=driver, engine="pyogrio", **layer)
    return out
