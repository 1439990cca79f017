from __future__ import annotations

import io

import pandas as pd
import pyogrio
import pytest
from conftest import incident_rows, write_csv

from layers._errors import InputFileError
from layers.cli import main
from layers.dictionary import dictionary_csv
from layers.maps.export import export_columns, export_incidents
from layers.spreadsheet import neutralise_formulas
from layers.storage.ingest import ingest
from layers.storage.store import open_store


@pytest.fixture
def store(tmp_path, boundary_files):
    rows = incident_rows(category=["=HYPERLINK(\"x\")", "Common assault", "Illegal dumping",
                                   "Shooting incident"])  # fmt: skip
    p, w = boundary_files
    ingest(tmp_path / "store", [write_csv(tmp_path / "a.csv", rows)], precincts=p, wards=w,
           now=pd.Timestamp("2026-01-01", tz="UTC"))  # fmt: skip
    return tmp_path / "store"


@pytest.mark.parametrize("suffix", ["csv", "gpkg", "parquet", "geojson"])
def test_export_formats_carry_precinct_and_ward(store, tmp_path, suffix):
    out = export_incidents(open_store(store).incidents, tmp_path / f"out.{suffix}")
    if suffix == "csv":
        back = pd.read_csv(out, dtype=str)
    elif suffix == "parquet":
        back = pd.read_parquet(out)
    else:
        back = pyogrio.read_dataframe(out)
        assert back.crs.to_epsg() == 4326
    assert len(back) == 4
    assert {"precinct", "ward", "incident_id", "occurred_at"} <= set(back.columns)
    assert sorted(back["precinct"]) == ["East", "East", "West", "West"]


def test_csv_export_neutralises_formulas_and_keeps_local_times(store, tmp_path):
    out = export_incidents(open_store(store).incidents, tmp_path / "out.csv")
    back = pd.read_csv(out, dtype=str)
    assert '\'=HYPERLINK("x")' in back["category"].tolist()
    assert back["occurred_at"].iloc[0] == "2025-01-01T10:00:00+02:00"
    assert back["lat"].iloc[0].startswith("-33.97")  # numbers untouched


def test_neutralise_leaves_numbers_and_plain_text():
    frame = pd.DataFrame({"a": ["-1", "@x", "ok"], "n": [-1.5, 2.0, 3.0]})
    out = neutralise_formulas(frame)
    assert out["a"].tolist() == ["'-1", "'@x", "ok"]
    assert out["n"].tolist() == [-1.5, 2.0, 3.0]


def test_unknown_suffix_is_refused(store, tmp_path):
    with pytest.raises(InputFileError, match=r"\.gpkg"):
        export_incidents(open_store(store).incidents, tmp_path / "out.xlsx")


def test_cli_export_applies_filters(store, tmp_path, capsys):
    out = tmp_path / "west.csv"
    code = main(["export", "--store", str(store), "--out", str(out), "--precinct", "West",
                 "--agency", "SAPS"])  # fmt: skip
    assert code == 0
    back = pd.read_csv(out, dtype=str)
    assert back["precinct"].unique().tolist() == ["West"] and len(back) == 2
    assert "Wrote 2 incidents" in capsys.readouterr().out


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    code = main(["export", "--store", str(tmp_path / "none"), "--out", str(tmp_path / "x.csv")])
    assert code == 1
    assert "No incident store" in capsys.readouterr().err


def test_cli_refuses_filter_values_that_match_nothing(store, tmp_path, capsys):
    code = main(["export", "--store", str(store), "--out", str(tmp_path / "x.csv"),
                 "--agency", "saps"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "--agency saps: no stored incident has that value" in err
    assert "SAPS" in err
    assert not (tmp_path / "x.csv").exists()


def test_cli_csv_export_writes_its_data_dictionary_beside_it(store, tmp_path, capsys):
    out = tmp_path / "west.csv"
    assert main(["export", "--store", str(store), "--out", str(out)]) == 0
    header = pd.read_csv(out, dtype=str).columns.tolist()
    dictionary = tmp_path / "west.dictionary.csv"
    described = pd.read_csv(dictionary, dtype=str, keep_default_na=False)
    assert described.columns.tolist() == ["Column", "Meaning", "Type / unit"]
    assert described["Column"].tolist() == header  # every column, and no other
    assert (described["Meaning"] != "").all() and (described["Type / unit"] != "").all()
    assert "WGS 84" in described.set_index("Column").loc["lat", "Type / unit"]
    assert str(dictionary) in capsys.readouterr().out
    # GIS formats carry their own field types: no dictionary
    assert main(["export", "--store", str(store), "--out", str(tmp_path / "west.gpkg")]) == 0
    assert sorted(p.name for p in tmp_path.glob("west*")) == [
        "west.csv", "west.dictionary.csv", "west.gpkg",
    ]  # fmt: skip


def test_a_refused_export_writes_no_dictionary(store, tmp_path):
    out = tmp_path / "public.csv"
    assert main(["export", "--store", str(store), "--out", str(out), "--role", "public"]) == 1
    assert list(tmp_path.glob("public*")) == []


def test_export_columns_are_the_csv_header(store, tmp_path):
    incidents = open_store(store).incidents
    out = export_incidents(incidents.drop(columns="status"), tmp_path / "some.csv")
    header = pd.read_csv(out, dtype=str).columns.tolist()
    assert header == export_columns(incidents.drop(columns="status"))
    assert "status" not in header
    described = pd.read_csv(io.StringIO(dictionary_csv("incidents", header)), dtype=str)
    assert described["Column"].tolist() == header
