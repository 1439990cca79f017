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

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from layers._errors import InputFileError
from layers.settings import LOCAL_TZ
from layers.storage.store import atomic_path

EXPORT_COLUMNS = (
    "incident_id", "agency", "category", "collaboration_area", "occurred_at", "reported_at",
    "status", "description", "lat", "lon", "precinct", "ward", "source_file",
)  # fmt: skip
EXPORT_SUFFIXES = (".csv", ".gpkg", ".parquet", ".geojson")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What pandas' .str accessor takes, less bytes: text columns, possibly mixed with numbers.
_TEXT_KINDS = frozenset({"string", "mixed", "mixed-integer"})
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
#: Line ending of every CSV written for a spreadsheet: RFC 4180's CRLF. Python's csv writer
#: quotes a cell only for the characters of its line ending, so with "\n" a lone carriage
#: return stays bare, and spreadsheets start a new row there: "'\r=1" would put "=1", a
#: formula, at the start of a row of its own.
CSV_LINE_END = "\r\n"


def export_columns(incidents: pd.DataFrame) -> list[str]:
    """The columns an export of ``incidents`` has besides its geometry: the header of its CSV.

    Those of :data:`EXPORT_COLUMNS` that ``incidents`` has, in that order; their data
    dictionary is ``layers.maps.dictionary.dictionary_csv("incidents", export_columns(incidents))``.
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


def neutralise_formulas(frame: pd.DataFrame, *, keep_numbers: bool = False) -> pd.DataFrame:
    """Prefix text cells a spreadsheet would run as a formula with a quote.

    Cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are CSV-injection
    vectors. Only text cells are touched, cell by cell: numeric columns (coordinates, counts)
    and numbers inside text columns are left alone, so a negative value stays a number.

    Parameters
    ----------
    frame : pandas.DataFrame
        Not modified.
    keep_numbers : bool, default False
        Also leave text that is a plain number (``-33.97``, ``+27``, ``1e-3``) as it is: a
        spreadsheet reads it as that number, never as a formula. For rows kept as the text
        they were read as (rejected rows), whose coordinates must stay readable numbers.

    Returns
    -------
    pandas.DataFrame
        A copy, same columns and index.
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # Few distinct values: neutralise each category once, not every cell.
            safe = {c: _neutral(c, keep_numbers=keep_numbers) for c in values.cat.categories}
            out[column] = values.map(safe).array
        elif pd.api.types.infer_dtype(values, skipna=True) in _TEXT_KINDS:
            # Cells that are not text (numbers in an object column) give NA here: untouched.
            risky = values.str.startswith(_FORMULA_START).fillna(False).to_numpy(dtype=bool)
            if keep_numbers:
                number = values.str.fullmatch(_PLAIN_NUMBER.pattern).fillna(False)
                risky = risky & ~number.to_numpy(dtype=bool)
            # By position, not label: an index may repeat.
            cells = values.to_numpy(dtype=object, copy=True)
            cells[risky] = ["'" + cell for cell in cells[risky]]
            out[column] = pd.array(cells, dtype=values.dtype)
    return out


def spreadsheet_csv(frame: pd.DataFrame, *, keep_numbers: bool = False) -> str:
    """``frame`` as CSV text safe to open in a spreadsheet, without the index.

    Text cells that would run as a formula get a leading apostrophe (see
    :func:`neutralise_formulas`, which ``keep_numbers`` is passed to), and so do headers: a
    rejected row keeps its source file's own column names; lines end in CRLF, so any cell
    holding a line break is quoted.
    """
    plain = neutralise_formulas(frame, keep_numbers=keep_numbers)
    plain.columns = [_neutral(c, keep_numbers=keep_numbers) for c in plain.columns]
    return plain.to_csv(index=False, lineterminator=CSV_LINE_END)


def _neutral(cell: object, *, keep_numbers: bool) -> object:
    if not isinstance(cell, str) or not cell.startswith(_FORMULA_START):
        return cell
    if keep_numbers and _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return "'" + cell


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
