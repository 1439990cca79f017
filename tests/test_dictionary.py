"""Data dictionaries: one row per CSV column, in order, and nothing for a column not written."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from layers.analysis import compstat
from layers.dictionary import (
    DICTIONARY_HEADERS,
    KINDS,
    data_dictionary,
    dictionary_csv,
    dictionary_path,
    headers,
)
from layers.maps.export import EXPORT_COLUMNS
from layers.spreadsheet import CSV_LINE_END, spreadsheet_csv


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_column_of_a_kind_has_a_meaning_and_a_unit(kind):
    every = [column.header for column in KINDS[kind]]
    text = dictionary_csv(kind, every)
    assert text.startswith(",".join(DICTIONARY_HEADERS) + CSV_LINE_END)
    described = rows(text)
    assert [d["Column"] for d in described] == every
    for entry in described:
        assert entry["Meaning"].endswith(".") and len(entry["Meaning"]) > 20, entry
        assert entry["Type / unit"], entry
    assert len(set(every)) == len(every)  # a header names one column


def test_dictionary_follows_the_csv_columns_and_describes_nothing_else():
    table = data_dictionary("incidents", ["lon", "lat", "incident_id"])
    assert table.columns.tolist() == list(DICTIONARY_HEADERS)
    assert table["Column"].tolist() == ["lon", "lat", "incident_id"]
    assert data_dictionary("incidents", []).empty


def test_a_column_without_a_description_is_refused_by_name():
    with pytest.raises(ValueError, match="'is_total' of a compstat CSV has no description"):
        dictionary_csv("compstat", ["Precinct", "is_total"])
    with pytest.raises(ValueError, match="`kind` must be one of 'incidents'"):
        dictionary_csv("hotspots", ["cell_id"])


def test_rejected_rows_keep_the_source_files_own_columns():
    described = data_dictionary("rejects", ["Case No", "=cmd", "source_row", "reject_reason"])
    meaning = dict(zip(described["Column"], described["Meaning"], strict=True))
    assert meaning["Case No"] == meaning["=cmd"] == "The source file's own column, as read."
    assert "Why the row was not stored" in meaning["reject_reason"]
    assert [d["Column"] for d in rows(dictionary_csv("rejects", ["=cmd"]))] == ["'=cmd"]


def test_incident_export_headers_are_the_store_fields():
    assert [column.header for column in KINDS["incidents"]] == list(EXPORT_COLUMNS)
    assert headers("incidents") == {name: name for name in EXPORT_COLUMNS}


def test_people_csvs_have_no_internal_names():
    for kind in ("compstat", "evaluation"):
        for name, header in headers(kind).items():
            assert "_" not in header and header != name, (kind, name, header)
    by = {name: headers("compstat")[name] for name in compstat.TOTAL_LABELS}
    assert by == {"precinct": "Precinct", "ward": "Ward", "agency": "Agency",
                  "collaboration_area": "Collaboration area"}  # fmt: skip


def test_dictionary_goes_beside_its_csv():
    assert dictionary_path("out/review.csv") == Path("out/review.dictionary.csv")
    assert dictionary_path(Path("/x/a.b.csv")) == Path("/x/a.b.dictionary.csv")


def test_a_source_column_named_like_a_number_reads_the_same_in_both_files():
    rejected = pd.DataFrame({"-5": ["1"], "=x": ["2"], "reject_reason": ["bad"]})
    header = next(csv.reader(io.StringIO(spreadsheet_csv(rejected, keep_numbers=True))))
    assert header == ["-5", "'=x", "reject_reason"]
    described = rows(dictionary_csv("rejects", rejected.columns))
    assert [d["Column"] for d in described] == header
