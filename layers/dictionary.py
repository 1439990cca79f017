"""Data dictionaries: what each column of a CSV written for people means, and in what unit.

Every CSV the project writes for people has a kind, and each kind a list of
:class:`Column` records: the name of the column in the frame the CSV is made from, its header
in the CSV, its meaning in plain language, and its type or unit. The same records rename a
frame's columns for people (:func:`headers`) and describe them (:func:`data_dictionary`), so
a header and its description cannot drift apart.

Kinds:

``incidents``
    Incident exports (:func:`layers.maps.export.export_incidents`, ``python -m layers export``).
    Headers are the store's field names, as in the GeoPackage and GeoParquet exports.
``rejects``
    Rejected rows of an ingest (``rejects/`` in the store): the source file's own columns as
    read, then the columns the ingest adds.
``compstat``
    The CompStat review (:func:`layers.analysis.compstat.to_csv`).
``evaluation``
    The hotspot evaluation (:func:`layers.analysis.evaluate.to_csv`, ``python -m layers evaluate``).

A dictionary is itself a CSV (:func:`dictionary_csv`), written beside the file it describes
as ``<stem>.dictionary.csv`` (:func:`dictionary_path`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import pandas as pd

from layers.intake.validate import UNCATEGORISED
from layers.spreadsheet import spreadsheet_csv
from layers.storage.join import OUTSIDE

__all__ = [
    "DICTIONARY_HEADERS",
    "KINDS",
    "Column",
    "data_dictionary",
    "dictionary_csv",
    "dictionary_path",
    "headers",
]


class Column(NamedTuple):
    """One column of a CSV kind."""

    name: str
    """The column in the frame the CSV is made from."""
    header: str
    """The column's header in the CSV."""
    meaning: str
    unit: str


#: The dictionary's own columns.
DICTIONARY_HEADERS = ("Column", "Meaning", "Type / unit")

_TEXT = "text"
_INCIDENTS = "whole number (incidents)"
_LOCAL_TIME = "date and time, local (SAST) with its UTC offset, ISO 8601: 2025-01-01T10:00:00+02:00"
_DEGREES = "decimal degrees, WGS 84 (EPSG:4326)"
# A restricted viewer's review hides counts too small to show without pointing at a victim.
_HIDDEN = " Empty where the count is hidden because it is too small to show safely."


def _by_column(name: str, header: str, what: str, total: str) -> Column:
    return Column(
        name, header,
        f"{what}. The last row, \"{total}\", is the total of all the rows above it; a "
        f"\"Not recorded\" row counts incidents with no {header.lower()} recorded.",
        _TEXT,
    )  # fmt: skip


def _period(
    prefix: str, span: str, label: str, prev_label: str, *, now: str, before: str
) -> list[Column]:
    """The five columns of one compared period: ``span`` names it in the change headers."""
    return [
        Column(prefix, label, f"Incidents in {now}." + _HIDDEN, _INCIDENTS),
        Column(f"{prefix}_prev", prev_label, f"Incidents in {before}." + _HIDDEN, _INCIDENTS),
        Column(
            f"{prefix}_change",
            f"Change ({span})",
            f'"{label}" minus "{prev_label}": above 0 is up, below 0 is down. Empty where '
            "either count is hidden.",
            _INCIDENTS,
        ),
        Column(
            f"{prefix}_pct",
            f"% change ({span})",
            f'The change as a percentage of "{prev_label}". Empty where that count is 0 (no '
            "percentage: incidents are new, or there were none in either period) or a count is "
            "hidden.",
            "percent, 1 decimal",
        ),
        Column(
            f"{prefix}_p",
            f"p-value ({span})",
            "How likely a change at least this large would be by chance, were both periods "
            "one steady rate of incidents (exact Poisson test: the current count given the "
            "two periods' sum is binomial). Below 0.05 the change is marked significant (▲ up, "
            "▼ down) on the page. Empty where a count is hidden or both are 0.",
            "probability, 4 decimals",
        ),
    ]


# fmt: off
_KINDS: dict[str, tuple[Column, ...]] = {
    "incidents": (
        Column("incident_id", "incident_id",
               "The incident's reference at its agency (case or notification number).", _TEXT),
        Column("agency", "agency", "The agency that recorded the incident.", _TEXT),
        Column("category", "category",
               f"Crime or incident category as recorded; \"{UNCATEGORISED}\" where none was.",
               _TEXT),
        Column("collaboration_area", "collaboration_area",
               "The safety-cluster collaboration area the incident belongs to: as recorded, or "
               "the area of its category.", _TEXT),
        Column("occurred_at", "occurred_at", "When the incident happened.", _LOCAL_TIME),
        Column("reported_at", "reported_at",
               "When the incident was reported; empty where not recorded or not readable.",
               _LOCAL_TIME),
        Column("status", "status", "Case status as recorded; empty where not recorded.", _TEXT),
        Column("description", "description",
               "Free-text description as recorded; empty where not recorded.", _TEXT),
        Column("lat", "lat", "Latitude of the incident's location.", _DEGREES),
        Column("lon", "lon", "Longitude of the incident's location.", _DEGREES),
        Column("precinct", "precinct",
               f"The SAPS precinct the location falls in; \"{OUTSIDE}\" where it falls in "
               "none.", _TEXT),
        Column("ward", "ward",
               f"The City of Cape Town ward the location falls in; \"{OUTSIDE}\" where it falls "
               "in none.", _TEXT),
        Column("source_file", "source_file",
               "The file the incident was last ingested from.", _TEXT),
    ),
    "rejects": (
        Column("wkt", "wkt",
               "The row's location as well-known text (WKT), as read from the source file.",
               "text (WKT)"),
        Column("source_row", "source_row",
               "The row's number among the source file's data rows or features (1 is the "
               "first, after any header).", "whole number"),
        Column("reject_reason", "reject_reason",
               "Why the row was not stored; correct this in the source file and ingest it "
               "again.", _TEXT),
    ),
    "compstat": (
        _by_column("precinct", "Precinct", "The SAPS precinct", "All precincts"),
        _by_column("ward", "Ward", "The City of Cape Town ward", "All wards"),
        _by_column("agency", "Agency", "The agency that recorded the incidents", "All agencies"),
        _by_column("collaboration_area", "Collaboration area",
                   "The safety-cluster collaboration area", "All collaboration areas"),
        *_period("week", "7 days", "Last 7 days", "Previous 7 days",
                 now="the 7 local days ending on the review's reference (\"as of\") day",
                 before="the 7 days before those"),
        *_period("days28", "28 days", "Last 28 days", "Previous 28 days",
                 now="the 28 local days ending on the review's reference (\"as of\") day",
                 before="the 28 days before those"),
        *_period("ytd", "year to date", "Year to date", "Same period last year",
                 now="the days from 1 January to the review's reference (\"as of\") day",
                 before="the days from 1 January to the same date a year earlier (29 February "
                 "compares with 28 February)"),
    ),
    "evaluation": (
        Column("method", "Method",
               "How the hotspots were chosen from the incidents before the split date: Gi* "
               "(grid cells with the highest Getis-Ord z-scores), KDE (the densest part of a "
               "kernel density surface), or a baseline: the cells with the most incidents "
               "before the split, or the cells with the most incidents in the period just "
               "before the split that is as long as the period scored.", _TEXT),
        Column("area_share", "Area covered (%)",
               "Share of the study area the hotspots cover. Every method is given the same "
               "share, so their figures compare like for like; a baseline covers less where "
               "too few cells had any incident.", "percent, 2 decimals"),
        Column("hit_rate", "Hit rate (%)",
               "Share of the incidents after the split that fell inside the hotspots, from the "
               "exact count (see \"Incidents after split in hotspots\").",
               "percent, 2 decimals"),
        Column("pai", "PAI",
               "Predictive Accuracy Index (Chainey, Tompson & Uhlig 2008): hit rate divided by "
               "area covered. 1 is no better than chance; higher is better.",
               "ratio, 2 decimals"),
        Column("rri", "RRI",
               "Recapture Rate Index (Levine 2008): the hotspots' share of incidents after the "
               "split divided by their share before it. Above 1 the hotspots took a larger "
               "share of incidents than before, below 1 a smaller one. Empty where no incident "
               "before the split fell inside them.", "ratio, 2 decimals"),
        Column("hits", "Incidents after split in hotspots",
               "Incidents on or after the split date inside the hotspots, to the nearest whole "
               "incident. For the methods that take grid cells, the last cell taken (with any "
               "cells tied with it) fits only in part into the area allowed and its incidents "
               "count in proportion, so the exact count can fall between whole numbers; the hit "
               "rate is worked out from the exact count.", _INCIDENTS),
        Column("incidents_after", "Incidents after split",
               "Incidents on or after the split date that match the filters: the period "
               "scored.", _INCIDENTS),
        Column("incidents_before", "Incidents before split",
               "Incidents before the split date that match the filters: what the hotspots are "
               "fitted on.", _INCIDENTS),
        Column("note", "Note",
               "Why the method could not be scored (for example, too few incidents); empty "
               "where it was.", _TEXT),
    ),
}
# fmt: on
#: Each CSV kind's columns, in the order its CSV has them.
KINDS: Mapping[str, tuple[Column, ...]] = MappingProxyType(_KINDS)


def headers(kind: str) -> dict[str, str]:
    """Each frame column of ``kind`` and its CSV header, for :meth:`pandas.DataFrame.rename`."""
    return {column.name: column.header for column in _columns(kind)}


def data_dictionary(kind: str, columns: Iterable[str]) -> pd.DataFrame:
    """The data dictionary of a ``kind`` CSV with the header ``columns``.

    Parameters
    ----------
    kind : {"incidents", "rejects", "compstat", "evaluation"}
    columns : iterable of str
        The CSV's headers, in order (a DataFrame gives its columns).

    Returns
    -------
    pandas.DataFrame
        One row per column, in the CSV's order: :data:`DICTIONARY_HEADERS`. A column of a
        rejected-rows CSV that the ingest did not add is the source file's own, described as
        such.

    Raises
    ------
    ValueError
        ``kind`` is unknown, or a column is not described for it (describe it here first).
    """
    described = {column.header: column for column in _columns(kind)}
    rows = []
    for header in map(str, columns):
        column = described.get(header)
        if column is None and kind == "rejects":
            column = Column(header, header, "The source file's own column, as read.",
                            "text, as in the source file")  # fmt: skip
        if column is None:
            raise ValueError(
                f"Column {header!r} of a {kind} CSV has no description: add it to "
                f"layers/dictionary.py (known: {', '.join(map(repr, described))})."
            )
        rows.append((column.header, column.meaning, column.unit))
    return pd.DataFrame(rows, columns=list(DICTIONARY_HEADERS))


def dictionary_csv(kind: str, columns: Iterable[str]) -> str:
    """The data dictionary of a ``kind`` CSV with the header ``columns``, as CSV text.

    Written as every CSV for people is (:func:`layers.maps.export.spreadsheet_csv`): a source
    file's column named like a formula is neutralised here as in the rejected rows' header,
    and one named like a number is left as it is there. See :func:`data_dictionary`.
    """
    return spreadsheet_csv(data_dictionary(kind, columns), keep_numbers=True)


def dictionary_path(csv_path: Path | str) -> Path:
    """Where the dictionary of the CSV at ``csv_path`` goes: ``<stem>.dictionary.csv`` beside it."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.dictionary.csv")


def _columns(kind: str) -> tuple[Column, ...]:
    if kind not in _KINDS:
        raise ValueError(f"`kind` must be one of {', '.join(map(repr, _KINDS))}, not {kind!r}.")
    return _KINDS[kind]
