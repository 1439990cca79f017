from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import incident_rows, write_csv

from layers._errors import StoreError
from layers.dictionary import dictionary_path
from layers.storage.ingest import ingest
from layers.storage.join import OUTSIDE
from layers.storage.store import current_version, open_store

NOW = pd.Timestamp("2026-01-01", tz="UTC")


def run(store, files, boundary_files=None, **kwargs):
    p, w = boundary_files if boundary_files else (None, None)
    return ingest(store, files, precincts=p, wards=w, now=NOW, **kwargs)


def test_ingest_joins_every_incident_once(tmp_path, boundary_files):
    csv = write_csv(tmp_path / "a.csv", incident_rows())
    report = run(tmp_path / "store", [csv], boundary_files)
    snap = open_store(tmp_path / "store")
    assert report.totals()["new"] == 4
    assert snap.incidents["precinct"].astype(str).tolist() == ["West", "West", "East", "East"]
    assert snap.incidents["ward"].astype(str).tolist() == ["1", "2", "1", "2"]
    assert snap.incidents.crs.to_epsg() == 4326
    assert set(snap.precincts["name"]) == {"East", "West"}


def test_same_file_twice_adds_nothing(tmp_path, boundary_files):
    csv = write_csv(tmp_path / "a.csv", incident_rows())
    run(tmp_path / "store", [csv], boundary_files)
    version = current_version(tmp_path / "store")
    again = run(tmp_path / "store", [csv])
    assert again.totals() == {
        "read": 4, "accepted": 4, "new": 0, "updated": 0, "unchanged": 4, "older": 0,
        "superseded": 0, "rejected": 0,
    }  # fmt: skip
    assert current_version(tmp_path / "store") == version
    assert len(open_store(tmp_path / "store").incidents) == 4


def test_newer_row_with_same_agency_and_id_updates(tmp_path, boundary_files):
    run(tmp_path / "store", [write_csv(tmp_path / "a.csv", incident_rows())], boundary_files)
    newer = incident_rows(category=["Murder", "Murder", "Illegal dumping", "Shooting incident"],
                          lat=["-33.97", "-33.97", "-33.97", "-33.92"])  # fmt: skip
    report = run(tmp_path / "store", [write_csv(tmp_path / "b.csv", newer)])
    snap = open_store(tmp_path / "store").incidents.set_index(["agency", "incident_id"])
    assert (report.totals()["updated"], report.totals()["unchanged"]) == (1, 3)
    assert len(snap) == 4
    assert snap.loc[("SAPS", "2"), "category"] == "Murder"
    assert snap.loc[("SAPS", "2"), "ward"] == "1"  # moved, so joined again


def test_rejects_are_written_with_reasons_and_every_row_is_counted(tmp_path, boundary_files):
    rows = incident_rows(lat=["-33.97", "", "0", "18.05"], lon=["18.05", "", "0", "-33.95"])
    report = run(tmp_path / "store", [write_csv(tmp_path / "a.csv", rows)], boundary_files)
    totals = report.totals()
    assert totals["read"] == totals["accepted"] + totals["rejected"] == 4
    rejects = pd.read_csv(report.files[0].rejects_file, dtype=str)
    assert list(rejects.columns[:6]) == list(rows.columns)
    assert rejects["reject_reason"].str.len().gt(0).all()
    assert "look swapped" in report.as_text()


def test_rejects_have_a_data_dictionary_beside_them(tmp_path, boundary_files):
    rows = incident_rows(lat=["-33.97", "", "0", "-33.95"]).rename(columns={"agency": "=Agency"})
    report = run(tmp_path / "store", [write_csv(tmp_path / "a.csv", rows)], boundary_files,
                 column_map={"agency": "=Agency"})  # fmt: skip
    rejects = Path(report.files[0].rejects_file)
    dictionary = rejects.with_name(rejects.stem + ".dictionary.csv")
    assert dictionary == dictionary_path(rejects)
    described = pd.read_csv(dictionary, dtype=str, keep_default_na=False)
    header = pd.read_csv(rejects, dtype=str).columns.tolist()
    # every column, in order, and no other; a column named like a formula is neutralised,
    # in the rejects' header as in the dictionary
    assert described["Column"].tolist() == header
    assert "'=Agency" in header
    meaning = described.set_index("Column")["Meaning"]
    assert meaning["incident_id"] == meaning["'=Agency"] == "The source file's own column, as read."
    assert "Why the row was not stored" in meaning["reject_reason"]
    assert "source file" in meaning["source_row"]


def test_point_outside_polygons_but_near_is_kept(tmp_path, boundary_files):
    rows = incident_rows(lon=["18.05", "18.05", "18.15", "18.25"])
    run(tmp_path / "store", [write_csv(tmp_path / "a.csv", rows)], boundary_files)
    incidents = open_store(tmp_path / "store").incidents
    assert len(incidents) == 4
    assert incidents["precinct"].astype(str).tolist()[-1] == OUTSIDE


def test_unreadable_file_is_reported_and_others_still_ingest(tmp_path, boundary_files):
    bad = tmp_path / "bad.csv"
    bad.write_text("")
    good = write_csv(tmp_path / "a.csv", incident_rows())
    report = run(tmp_path / "store", [bad, good], boundary_files)
    assert "empty" in report.files[0].error
    assert report.files[1].new == 4


def test_new_store_without_boundaries_says_what_to_give(tmp_path):
    with pytest.raises(StoreError, match="--precincts"):
        run(tmp_path / "store", [write_csv(tmp_path / "a.csv", incident_rows())])


def test_new_boundaries_rejoin_stored_incidents(tmp_path, boundary_files, precincts):
    run(tmp_path / "store", [write_csv(tmp_path / "a.csv", incident_rows())], boundary_files)
    renamed = tmp_path / "renamed.geojson"
    precincts.assign(name=["Oos", "Wes"]).to_file(renamed, driver="GeoJSON")
    ingest(tmp_path / "store", [], precincts=renamed, now=NOW)
    names = open_store(tmp_path / "store").incidents["precinct"].astype(str)
    assert sorted(set(names)) == ["Oos", "Wes"]


@pytest.mark.parametrize("suffix", ["geojson", "gpkg", "parquet", "zip"])
def test_spatial_incident_formats(tmp_path, boundary_files, suffix):
    import geopandas as gpd

    rows = incident_rows()
    frame = gpd.GeoDataFrame(
        rows.drop(columns=["lat", "lon"]),
        geometry=gpd.points_from_xy(rows["lon"].astype(float), rows["lat"].astype(float)),
        crs="EPSG:4326",
    ).to_crs(32734)  # stored projected: the reader must honour the declared CRS
    path = tmp_path / f"incidents.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    elif suffix == "zip":
        frame.to_file(tmp_path / "incidents.shp.zip", driver="ESRI Shapefile")
        (tmp_path / "incidents.shp.zip").rename(path)
    else:
        frame.to_file(path)
    report = run(tmp_path / "store", [path], boundary_files)
    assert report.files[0].error is None, report.files[0].error
    snap = open_store(tmp_path / "store").incidents
    assert report.totals()["new"] == 4
    assert snap["precinct"].astype(str).tolist() == ["West", "West", "East", "East"]


def test_report_json_is_written(tmp_path, boundary_files):
    run(tmp_path / "store", [write_csv(tmp_path / "a.csv", incident_rows())], boundary_files)
    reports = list((tmp_path / "store" / "reports").glob("*.json"))
    assert len(reports) == 1
    assert json.loads(reports[0].read_text())["totals"]["new"] == 4


def test_store_is_geoparquet(tmp_path, boundary_files):
    run(tmp_path / "store", [write_csv(tmp_path / "a.csv", incident_rows())], boundary_files)
    version = current_version(tmp_path / "store")
    path = tmp_path / "store" / "versions" / version / "incidents.parquet"
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["geometry_types"] == ["Point"]
    assert pq.read_metadata(path).num_rows == 4


def test_old_versions_and_stale_staging_are_pruned(tmp_path, boundary_files):
    import os

    store = tmp_path / "store"
    run(store, [write_csv(tmp_path / "a.csv", incident_rows())], boundary_files)
    stale = store / "versions" / ".staging-dead"
    stale.mkdir()
    os.utime(stale, (0, 0))
    fresh = store / "versions" / ".staging-busy"
    fresh.mkdir()
    for n in range(3):
        rows = incident_rows(category=[f"Cat {n}"] * 4)
        run(store, [write_csv(tmp_path / f"v{n}.csv", rows)])
    versions = [p.name for p in (store / "versions").iterdir()]
    assert ".staging-dead" not in versions and ".staging-busy" in versions
    assert len([v for v in versions if not v.startswith(".")]) == 2
    assert current_version(store) in versions


def test_an_older_report_does_not_roll_back_a_newer_one(tmp_path, boundary_files):
    def extract(status: str, reported: str):
        rows = incident_rows()
        rows["status"] = status
        rows["reported_at"] = reported
        return rows

    store = tmp_path / "store"
    run(store, [write_csv(tmp_path / "new.csv", extract("closed", "2025-02-01T00:00"))],
        boundary_files)  # fmt: skip
    report = run(store, [write_csv(tmp_path / "old.csv", extract("open", "2025-01-10T00:00"))])
    assert (report.totals()["older"], report.totals()["updated"]) == (4, 0)
    assert set(open_store(store).incidents["status"]) == {"closed"}
    assert "older than stored 4" in report.as_text()


def test_two_inputs_with_the_same_name_keep_both_rejects(tmp_path, boundary_files):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = write_csv(
        tmp_path / "a" / "extract.csv", incident_rows(lat=["", "-33.9", "-33.9", "-33.9"])
    )
    second = write_csv(
        tmp_path / "b" / "extract.csv", incident_rows(lat=["-33.9", "", "-33.9", "-33.9"])
    )
    report = run(tmp_path / "store", [first, second], boundary_files)
    files = {f.rejects_file for f in report.files}
    assert len(files) == 2
    rows = pd.concat(pd.read_csv(f, dtype=str) for f in files)
    assert sorted(rows["source_row"]) == ["1", "2"]


def test_concurrent_ingests_into_one_store_keep_every_row(tmp_path, boundary_files):
    import subprocess
    import sys

    from conftest import ROOT

    store = tmp_path / "store"
    run(store, [], boundary_files)
    files = []
    for name in ("a", "b"):
        rows = pd.concat([incident_rows()] * 500, ignore_index=True)
        rows["incident_id"] = [f"{name}{i}" for i in range(len(rows))]
        files.append(write_csv(tmp_path / f"{name}.csv", rows))
    procs = [
        subprocess.Popen([sys.executable, "-m", "layers", "ingest", "--store", str(store), str(f)],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for f in files
    ]  # fmt: skip
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    assert len(open_store(store).incidents) == 4000


def test_rows_superseded_in_a_file_are_accepted_not_rejected(tmp_path, boundary_files):
    rows = incident_rows(incident_id=["1", "1", "2", "3"], agency=["SAPS"] * 4,
                         category=["Murder", "Common assault", "Murder", "Murder"])  # fmt: skip
    report = run(tmp_path / "store", [write_csv(tmp_path / "a.csv", rows)], boundary_files)
    totals = report.totals()
    assert (totals["read"], totals["accepted"], totals["new"]) == (4, 4, 3)
    assert (totals["superseded"], totals["rejected"]) == (1, 0)
    assert report.files[0].rejects_file is None
    stored = open_store(tmp_path / "store").incidents.set_index("incident_id")
    assert stored.loc["1", "category"] == "Common assault"
