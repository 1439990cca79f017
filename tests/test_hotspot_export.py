from __future__ import annotations

import datetime
import json
import sqlite3
import zipfile
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import box

from layers._errors import InputFileError
from layers.analysis.kde import kde_hotspots, kde_surface
from layers.maps.hotspot_export import (
    PROVENANCE_KEYS,
    SHAPEFILE_FIELDS,
    HotspotExportError,
    export_hotspots,
    provenance_block,
    shapefile_field_names,
)
from layers.settings import METRIC_CRS

WEST, SOUTH = 270_000.0, 6_240_000.0


@pytest.fixture
def cells() -> gpd.GeoDataFrame:
    """Three 250 m squares with Gi*-style columns and a non-ASCII precinct name."""
    return gpd.GeoDataFrame(
        {
            "cell_id": [0, 1, 2],
            "count": [12, 3, 0],
            "gi_z": [3.1, 0.2, -1.0],
            "gi_p": [0.002, 0.8, 0.3],
            "gi_p_fdr": [0.006, 0.8, 0.45],
            "gi_bin": [3, 0, 0],
            "precinct": pd.Categorical(["Khâi-ma", "Bellville", "Khâi-ma"]),
            "clipped_fraction": [1.0, 0.5, 1.0],
            "first_incident_at": pd.to_datetime(["2025-01-01T08:00Z"] * 3),
        },
        geometry=[box(WEST + i * 250, SOUTH, WEST + (i + 1) * 250, SOUTH + 250) for i in range(3)],
        crs=METRIC_CRS,
    )


@pytest.fixture
def provenance() -> dict[str, object]:
    return provenance_block(
        method="gistar",
        parameters={"cell_m": 250, "shape": "hex", "neighbours": "distance band 500 m"},
        filters="agency = SAPS; category = Murder",
        period="2025-01-01 to 2025-06-30",
        data_source="synthetic demo",
        store_version="20260101T000000Z-abc",
        exported_at=datetime.datetime(2026, 1, 2, 10, 0, tzinfo=datetime.UTC),
    )


def test_provenance_block_is_in_local_time(provenance):
    assert list(provenance)[: len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS)
    assert provenance["exported_at"] == "2026-01-02T12:00:00+02:00"


def test_zip_holds_exactly_the_shapefile_set_and_provenance(cells, provenance, tmp_path):
    out = export_hotspots(cells, tmp_path / "gi hot.zip", provenance=provenance)
    with zipfile.ZipFile(out) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(
            f"gi_hot{ext}" for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg", "_provenance.txt")
        )
        assert archive.read("gi_hot.cpg").decode("ascii").strip() == "UTF-8"
        text = archive.read("gi_hot_provenance.txt").decode("utf-8")
    for key in PROVENANCE_KEYS:
        assert key in text
    assert '"cell_m": 250' in text  # nested values as JSON text
    assert "GI_P_FDR    gi_p_fdr" in text  # the field-name table


def test_shapefile_reads_back_with_short_fields_crs_and_count(cells, provenance, tmp_path):
    out = export_hotspots(cells, tmp_path / "gi.zip", provenance=provenance)
    info = pyogrio.read_info(f"/vsizip/{out}/gi.shp")
    assert info["features"] == 3
    assert info["crs"] == "EPSG:32734"
    assert all(len(name) <= 10 for name in info["fields"])
    assert list(info["fields"]) == [
        "CELL_ID", "N_INC", "GI_Z", "GI_P", "GI_P_FDR", "GI_BIN", "PRECINCT", "CLIP_FRAC",
        "FIRST_INCI",
    ]  # fmt: skip
    back = pyogrio.read_dataframe(f"/vsizip/{out}/gi.shp")
    assert back["PRECINCT"].tolist() == ["Khâi-ma", "Bellville", "Khâi-ma"]
    assert back["GI_Z"].tolist() == pytest.approx([3.1, 0.2, -1.0])
    assert back["FIRST_INCI"].iloc[0] == "2025-01-01T10:00:00+02:00"
    assert back.geometry.area.round().tolist() == [62_500.0] * 3


def test_shapefile_is_written_in_metres_whatever_the_layer_crs(cells, provenance, tmp_path):
    out = export_hotspots(cells.to_crs(4326), tmp_path / "gi.zip", provenance=provenance)
    back = pyogrio.read_dataframe(f"/vsizip/{out}/gi.shp")
    assert back.crs.to_epsg() == 32734
    assert back.total_bounds == pytest.approx(cells.total_bounds, abs=0.01)


def test_gpkg_has_the_layer_and_a_provenance_table(cells, provenance, tmp_path):
    out = export_hotspots(cells, tmp_path / "gi.gpkg", provenance=provenance)
    info = pyogrio.read_info(out, layer="hotspots")
    assert info["features"] == 3 and info["crs"] == "EPSG:32734"
    assert {"gi_p_fdr", "clipped_fraction", "precinct"} <= set(info["fields"])
    assert pyogrio.read_dataframe(out, layer="hotspots")["precinct"].iloc[0] == "Khâi-ma"
    with sqlite3.connect(out) as db:
        rows = dict(db.execute("SELECT key, value FROM provenance").fetchall())
        kind = db.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = 'provenance'"
        ).fetchone()
    assert set(PROVENANCE_KEYS) <= set(rows)
    assert json.loads(rows["parameters"])["cell_m"] == 250
    assert rows["filters"] == "agency = SAPS; category = Murder"
    assert kind == ("attributes",)
    table = pyogrio.read_dataframe(out, layer="provenance")
    assert table["key"].tolist()[: len(PROVENANCE_KEYS)] == list(PROVENANCE_KEYS)


def test_geojson_is_wgs84_with_a_provenance_member(cells, provenance, tmp_path):
    out = export_hotspots(cells, tmp_path / "gi.geojson", provenance=provenance)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["provenance"]["parameters"]["cell_m"] == 250
    assert document["provenance"]["method"] == "gistar"
    assert "crs" not in document
    info = pyogrio.read_info(out)
    assert info["features"] == 3 and info["crs"] == "EPSG:4326"
    back = pyogrio.read_dataframe(out)
    assert {"gi_z", "gi_p_fdr", "precinct"} <= set(back.columns)
    assert back["precinct"].iloc[0] == "Khâi-ma"


def test_kde_hotspots_export_to_every_format(provenance, tmp_path):
    rng = np.random.default_rng(0)
    x = WEST + 5_000 + rng.normal(0, 800, 3_000)
    y = SOUTH + 5_000 + rng.normal(0, 800, 3_000)
    area = gpd.GeoDataFrame(
        geometry=[box(WEST, SOUTH, WEST + 10_000, SOUTH + 10_000)], crs=METRIC_CRS
    )
    spots = kde_hotspots(kde_surface(x, y, area, bandwidth_m=300), area_share=0.05)
    for suffix in (".zip", ".gpkg", ".geojson"):
        out = export_hotspots(spots, tmp_path / f"kde{suffix}", provenance=provenance)
        path = f"/vsizip/{out}/kde.shp" if suffix == ".zip" else out
        info = pyogrio.read_info(path, layer="hotspots" if suffix == ".gpkg" else None)
        assert info["features"] == len(spots)
        wanted = ["RANK", "PEAK_DENS", "MEAN_DENS", "AREA_KM2"]
        assert list(info["fields"]) == (wanted if suffix == ".zip" else list(spots.columns[:-1]))


def test_empty_layer_exports_as_polygons(cells, provenance, tmp_path):
    for suffix in (".zip", ".gpkg", ".geojson"):
        out = export_hotspots(cells.iloc[:0], tmp_path / f"none{suffix}", provenance=provenance)
        path = f"/vsizip/{out}/none.shp" if suffix == ".zip" else out
        layer = "hotspots" if suffix == ".gpkg" else None
        assert pyogrio.read_info(path, layer=layer)["features"] == 0


def test_field_names_are_short_unique_and_documented():
    columns = ["gi_z", "neighbourhood_watch", "neighbourhood_watch_2", "Neighbourhood-Watch3",
               "Tydsduur (ure)", "2025 count", "café", "count"]  # fmt: skip
    names = shapefile_field_names(columns)
    assert list(names) == columns
    assert names["gi_z"] == "GI_Z" and names["count"] == "N_INC"
    assert names["neighbourhood_watch"] == "NEIGHBOURH"
    assert names["neighbourhood_watch_2"] == "NEIGHBOU_1"
    assert names["Neighbourhood-Watch3"] == "NEIGHBOU_2"
    assert names["Tydsduur (ure)"] == "TYDSDUUR_U"
    assert names["2025 count"] == "F_2025_COU"
    assert names["café"] == "CAFE"
    assert len({n.upper() for n in names.values()}) == len(columns)
    assert all(len(n) <= 10 and n.isascii() for n in names.values())
    assert all(len(n) <= 10 for n in SHAPEFILE_FIELDS.values())
    assert len(set(SHAPEFILE_FIELDS.values())) == len(SHAPEFILE_FIELDS)


def test_unsupported_suffix_lists_the_endings(cells, provenance, tmp_path):
    with pytest.raises(InputFileError, match=r"\.zip, \.gpkg, \.geojson"):
        export_hotspots(cells, tmp_path / "gi.shp", provenance=provenance)
    assert not (tmp_path / "gi.shp").exists()


def test_missing_provenance_keys_are_named(cells, tmp_path):
    with pytest.raises(HotspotExportError, match="lacks filters, period"):
        partial = {"method": "kde", "parameters": {}, "data_source": "x", "store_version": "v"}
        export_hotspots(cells, tmp_path / "gi.gpkg", provenance=partial)
    assert list(tmp_path.iterdir()) == []


def test_missing_exported_at_is_filled_with_local_time(cells, provenance, tmp_path):
    del provenance["exported_at"]
    out = export_hotspots(cells, tmp_path / "gi.geojson", provenance=provenance)
    stamp = json.loads(out.read_text(encoding="utf-8"))["provenance"]["exported_at"]
    parsed = datetime.datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == datetime.timedelta(hours=2)
    now = datetime.datetime.now(ZoneInfo("Africa/Johannesburg"))
    assert abs((now - parsed).total_seconds()) < 60


def test_layer_without_crs_is_refused(cells, provenance, tmp_path):
    with pytest.raises(HotspotExportError, match="no CRS"):
        export_hotspots(cells.set_crs(None, allow_override=True), tmp_path / "gi.zip",
                        provenance=provenance)  # fmt: skip


@pytest.mark.parametrize("suffix", [".zip", ".gpkg", ".geojson"])
def test_failed_write_leaves_the_old_file_and_no_partial_one(
    cells, provenance, tmp_path, monkeypatch, suffix
):
    target = tmp_path / f"gi{suffix}"
    target.write_bytes(b"old")

    # Each format fails after its temporary file has been written to.
    real_write = pyogrio.write_dataframe

    def write_then_fail(frame, path, **kwargs):
        real_write(frame, path, **kwargs)
        if kwargs.get("layer") == "provenance" or kwargs.get("driver") == "GeoJSON":
            raise OSError("disk full")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", write_then_fail)
    monkeypatch.setattr(zipfile.ZipFile, "write", fail)
    with pytest.raises(OSError, match="disk full"):
        export_hotspots(cells, target, provenance=provenance)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_layer_is_not_modified(cells, provenance, tmp_path):
    before = cells.copy()
    export_hotspots(cells, tmp_path / "gi.zip", provenance=provenance)
    pd.testing.assert_frame_equal(cells, before)
