"""Loading and joining the real SAPS and City files in ../shared/realdata."""

from __future__ import annotations

import shutil
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest

from layers.intake.sources import read_boundaries, read_incident_file
from layers.storage.ingest import ingest
from layers.storage.join import assign_areas
from layers.storage.store import open_store

pytestmark = pytest.mark.realdata

# City of Cape Town's "Lo19": transverse Mercator on 19 deg E, scale 1, no false origin, axes
# pointing east and north, so coordinates in the metro are negative. Not EPSG:2048 (west/south).
LO19 = "+proj=tmerc +lat_0=0 +lon_0=19 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
SERVICE_REQUESTS = {
    "column_map": {
        "incident_id": "notification_number",
        "category": "code",
        "occurred_at": "creation_timestamp",
    },
    "defaults": {"agency": "City service requests"},
}


def test_real_precincts_load_with_their_names(realdata):
    layer = read_boundaries(realdata / "wc_saps_precincts_2020.geojson", kind="precinct")
    assert layer.name_field == "COMPNT_NM"
    assert len(layer.areas) == 151
    assert {"KHAYELITSHA", "BELLVILLE SOUTH", "SIMON'S TOWN"} <= set(layer.areas["name"])
    assert layer.areas.crs.to_epsg() == 4326


def test_real_wards_shapefile_is_web_mercator_and_lands_in_cape_town(realdata):
    layer = read_boundaries(realdata / "cct_wards_2021_shp" / "Wards.shp", kind="ward")
    assert layer.name_field == "WARD_NAME"
    assert layer.source_crs == "EPSG:3857"
    assert len(layer.areas) == 116
    assert layer.areas["name"].tolist()[:3] == ["1", "2", "3"]  # natural order
    minx, miny, maxx, maxy = layer.areas.total_bounds
    assert np.allclose([minx, miny, maxx, maxy], [18.3072, -34.3583, 19.0048, -33.4713], atol=1e-3)


def test_zipped_shapefile_reads_like_the_folder(realdata, tmp_path):
    archive = tmp_path / "wards.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in (realdata / "cct_wards_2021_shp").iterdir():
            zf.write(part, f"Wards/{part.name}")
    zipped = read_boundaries(archive, kind="ward")
    plain = read_boundaries(realdata / "cct_wards_2021_shp" / "Wards.shp", kind="ward")
    assert zipped.areas.geom_equals_exact(plain.areas.geometry, tolerance=1e-9).all()


def test_lo19_copy_lands_where_the_original_does(realdata, tmp_path):
    original = gpd.read_file(realdata / "cct_wards_2021_shp" / "Wards.shp")
    lo19 = original.to_crs(pyproj.CRS.from_proj4(LO19))
    assert (lo19.total_bounds[[0, 1]] < 0).all()  # negative coordinates, as the City's are
    target = tmp_path / "wards_lo19.shp"
    lo19.to_file(target)
    assert "Transverse_Mercator" in target.with_suffix(".prj").read_text()
    loaded = read_boundaries(target, kind="ward")
    reference = read_boundaries(realdata / "cct_wards_2021_shp" / "Wards.shp", kind="ward")
    # Centroids agree to within a metre once both are back in WGS84.
    a = loaded.areas.to_crs(32734).centroid
    b = reference.areas.to_crs(32734).centroid
    assert a.distance(b, align=False).max() < 1.0
    # The EPSG:2048 misreading (axes west/south) would put the city in the other hemisphere.
    flipped = lo19.set_crs(2048, allow_override=True).to_crs(4326)
    assert flipped.total_bounds[1] > 0


def test_bellville_service_requests_fall_in_bellville_precincts(realdata, tmp_path):
    report = ingest(
        tmp_path / "store",
        [realdata / "cct_service_requests_bellville_south_2020.csv.gz"],
        precincts=realdata / "wc_saps_precincts_2020.geojson",
        wards=realdata / "cct_wards_2021_shp" / "Wards.shp",
        **SERVICE_REQUESTS,
    )
    totals = report.totals()
    assert totals["read"] == 7753 and totals["accepted"] == 7753
    incidents = open_store(tmp_path / "store").incidents
    precincts = incidents["precinct"].astype(str).value_counts()
    assert precincts.to_dict() == {"BELLVILLE SOUTH": 6075, "BELLVILLE": 1678}
    wards = incidents["ward"].astype(str).value_counts()
    assert wards.to_dict() == {"9": 6666, "10": 840, "3": 247}
    # Z times were read as UTC.
    first = incidents["occurred_at"].min()
    assert first == pd.Timestamp("2019-12-31T23:49:58Z")


def test_every_saps_station_joins_to_its_own_precinct(realdata):
    precincts = read_boundaries(realdata / "wc_saps_precincts_2020.geojson").areas
    stations = gpd.read_file(realdata / "wc_saps_stations_2020.geojson")
    names = assign_areas(stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy(), precincts)
    assert (names == stations["COMPNT_NM"].to_numpy()).all()


def test_windows_1252_csv_is_read(realdata, tmp_path):
    source = tmp_path / "sapacr.csv"
    shutil.copy(realdata / "saps_sapacr_2008-2023_v1.1.csv", source)
    table = read_incident_file(source)
    assert len(table.rows) == 17265
    assert any("Windows-1252" in w for w in table.warnings)
    assert table.rows["loc_mn"].str.contains("khâi-ma", regex=False).any()


@pytest.mark.parametrize("method", ["gistar", "kde", "emerging"])
def test_hotspots_on_a_store_built_from_the_real_boundaries(realdata, tmp_path, method):
    from layers.analysis.study import HotspotParams, run_hotspots
    from layers.maps.hotspot_export import export_hotspots, provenance_block
    from layers.storage.filters import IncidentFilter

    ingest(
        tmp_path / "store",
        [realdata / "cct_service_requests_bellville_south_2020.csv.gz"],
        precincts=realdata / "wc_saps_precincts_2020.geojson",
        wards=realdata / "cct_wards_2021_shp" / "Wards.shp",
        **SERVICE_REQUESTS,
    )
    snapshot = open_store(tmp_path / "store")
    result = run_hotspots(snapshot, IncidentFilter(), HotspotParams(method=method, cell_m=150))
    # The study area is the wards holding incidents, not the whole Western Cape.
    assert set(result.layer["ward"]) <= {"3", "9", "10", "Outside boundaries"}
    assert result.by_area[result.by_area["level"] == "ward"]["incidents"].sum() == 7753
    provenance = provenance_block(method=method, parameters=result.parameters, filters="all",
                                  period=result.period, data_source="test",
                                  store_version=snapshot.version)  # fmt: skip
    out = export_hotspots(result.layer, tmp_path / f"{method}.gpkg", provenance=provenance)
    assert len(gpd.read_file(out, layer="hotspots")) == len(result.layer)


def test_the_dashboard_opens_on_the_incidents_not_the_province(realdata, tmp_path, monkeypatch):
    """With the 151 Western Cape precincts and a year of Bellville's service requests, the
    map opens on Bellville, not the province, and fits again for the wards."""
    import re
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    ingest(
        tmp_path / "store",
        [realdata / "cct_service_requests_bellville_south_2020.csv.gz"],
        precincts=realdata / "wc_saps_precincts_2020.geojson",
        wards=realdata / "cct_wards_2021_shp" / "Wards.shp",
        **SERVICE_REQUESTS,
    )
    root = Path(__file__).resolve().parent.parent
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--store", str(tmp_path / "store"),
                                     "--tiles", "none"])  # fmt: skip
    at = AppTest.from_file(str(root / "dashboard.py"), default_timeout=120).run()
    assert not at.exception

    def fitted() -> tuple[float, float, float, float]:
        [component] = at.get("component_instance")
        # (the map's code, JSON-encoded: its newlines are "\n")
        found = re.search(r"fitBounds\((?:\\n|\s)*\[\[([-\d.]+), ([-\d.]+)\], "
                          r"\[([-\d.]+), ([-\d.]+)\]\]", component.proto.json_args)  # fmt: skip
        assert found, "the map fits no bounds"
        south, west, north, east = map(float, found.groups())
        return south, west, north, east

    south, west, north, east = fitted()
    province = gpd.read_file(realdata / "wc_saps_precincts_2020.geojson").total_bounds
    assert province[2] - province[0] > 5  # the precincts span the province...
    assert east - west < 0.2 and north - south < 0.2  # ...the map opens on Bellville
    assert 18.55 < west < east < 18.75 and -33.98 < south < north < -33.85
    # whole hundredths of a degree: no incident's own coordinate reaches any viewer
    assert all(abs(v * 100 - round(v * 100)) < 1e-6 for v in (south, west, north, east))
    before = at.get("component_instance")[0].proto.id
    at.radio(key="m_boundary").set_value("ward").run()
    assert at.get("component_instance")[0].proto.id != before  # a new map, fitted again
    assert fitted() == (south, west, north, east)  # (the same incidents)
