from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import incident_rows
from shapely.geometry import Point, box

from layers._errors import InputFileError
from layers.intake.sources import (
    INCIDENT_SUFFIXES,
    PREFERRED_NAME_FIELDS,
    read_boundaries,
    read_incident_file,
)
from layers.intake.validate import validate_incidents

TWO_SQUARES = [box(18.1, -34.0, 18.2, -33.9), box(18.0, -34.0, 18.1, -33.9)]


def points(ids: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"incident_id": ids, "agency": "SAPS", "category": "Murder"},
        geometry=[Point(18.05, -33.97)] * len(ids),
        crs="EPSG:4326",
    )


@pytest.fixture
def two_layer_incidents(tmp_path: Path) -> Path:
    path = tmp_path / "incidents.gpkg"
    points(["a1", "a2"]).to_file(path, layer="first", driver="GPKG")
    points(["b1", "b2", "b3"]).to_file(path, layer="second", driver="GPKG")
    return path


def test_several_incident_layers_must_be_chosen(two_layer_incidents):
    with pytest.raises(
        InputFileError, match=r"2 layers \(first, second\); choose one with --layer"
    ):
        read_incident_file(two_layer_incidents)
    table = read_incident_file(two_layer_incidents, layer="second")
    assert table.rows["incident_id"].tolist() == ["b1", "b2", "b3"]


def test_a_missing_layer_names_the_layers_there(two_layer_incidents):
    with pytest.raises(InputFileError, match=r"no layer 'third'\. Its layers are: first, second"):
        read_incident_file(two_layer_incidents, layer="third")


def test_several_boundary_layers_must_be_chosen(tmp_path, precincts, wards):
    path = tmp_path / "boundaries.gpkg"
    wards.to_file(path, layer="wards", driver="GPKG")
    precincts.to_file(path, layer="precincts", driver="GPKG")
    with pytest.raises(InputFileError, match="choose one with --ward-layer"):
        read_boundaries(path, kind="ward")
    layer = read_boundaries(path, kind="precinct", layer="precincts")
    assert layer.areas["name"].tolist() == ["East", "West"]


def test_spatial_times_with_and_without_offsets_are_read_as_written(tmp_path, taxonomy, extent):
    # pyogrio turns such a column into UTC and takes the naive time as UTC, two hours off.
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [18.05, -33.97]},
            "properties": {"incident_id": i, "agency": "SAPS", "occurred_at": when},
        }
        for i, when in [("1", "2025-01-01T10:00:00"), ("2", "2025-01-01T10:00:00+05:00")]
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    table = read_incident_file(path)
    result = validate_incidents(table, taxonomy=taxonomy, extent=extent)
    utc = result.accepted["occurred_at"].dt.strftime("%H:%M").tolist()
    assert utc == ["08:00", "05:00"]


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_csv_delimiter_is_detected(tmp_path, sep, name):
    path = tmp_path / "incidents.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        incident_rows().to_csv(handle, index=False, sep=sep)
    table = read_incident_file(path)
    assert list(table.rows.columns) == list(incident_rows().columns)
    assert table.rows["lat"].tolist() == incident_rows()["lat"].tolist()
    assert any(f"{name}-delimited" in w for w in table.warnings)


def test_comma_csv_with_semicolons_in_its_text_stays_comma_separated(tmp_path):
    frame = incident_rows(category=["a; b", "c; d; e", "f;g", "h"])
    path = tmp_path / "incidents.csv"
    frame.to_csv(path, index=False)
    table = read_incident_file(path)
    assert table.rows["category"].tolist() == frame["category"].tolist()
    assert table.warnings == []


def test_name_field_is_found_among_text_fields_under_pandas_string_dtype(tmp_path):
    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame(
        {"OBJECTID": [1, 2], "LABEL": ["East", "West"]}, geometry=TWO_SQUARES, crs="EPSG:4326"
    ).to_file(path, driver="GeoJSON")
    assert read_boundaries(path, kind="precinct").name_field == "LABEL"


@pytest.mark.parametrize("given", [None, "precinct"])
def test_areas_without_a_name_are_refused_with_the_fix(tmp_path, given):
    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"precinct": ["East", None]}, geometry=TWO_SQUARES, crs="EPSG:4326").to_file(
        path, driver="GeoJSON"
    )
    with pytest.raises(
        InputFileError,
        match=r"field 'precinct' has 1 precinct\(s\) without a name; fill them or choose "
        "another field with --precinct-field",
    ):
        read_boundaries(path, kind="precinct", name_field=given)


def test_undetected_name_field_names_a_flag_that_exists(tmp_path):
    path = tmp_path / "areas.geojson"
    gpd.GeoDataFrame({"OBJECTID": [1, 2]}, geometry=TWO_SQUARES, crs="EPSG:4326").to_file(
        path, driver="GeoJSON"
    )
    with pytest.raises(InputFileError, match="Give it with --ward-field"):
        read_boundaries(path, kind="ward")
    with pytest.raises(InputFileError) as err:
        read_boundaries(path)
    assert "--area-field" not in str(err.value)
    assert "Give the name field" in str(err.value)


def test_name_fields_are_listed_once():
    assert len(PREFERRED_NAME_FIELDS) == len(set(PREFERRED_NAME_FIELDS))


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
@pytest.mark.filterwarnings("ignore:Column names longer than 10 characters")
def test_every_incident_file_type_read_is_listed(tmp_path):
    path = tmp_path / "incidents.shp"
    points(["1", "2"]).to_file(path, driver="ESRI Shapefile")
    assert len(read_incident_file(path).rows) == 2
    assert ".shp" in INCIDENT_SUFFIXES


def test_unknown_suffix_is_refused_with_the_list(tmp_path):
    path = tmp_path / "incidents.xlsx"
    path.write_bytes(b"not empty")
    with pytest.raises(InputFileError, match=r"unsupported incident file type.*\.shp"):
        read_incident_file(path)


def test_shapefile_incident_ids_match_csv_ids(tmp_path, taxonomy, extent):
    # A numeric ID column with a null is read as floats: 101 must still be "101".
    frame = points(["x", "y", "z"]).drop(columns="incident_id")
    frame["incident_id"] = [101, None, 103]
    frame["occurred_at"] = "2025-01-01T10:00:00"
    frame.to_file(tmp_path / "incidents.gpkg", driver="GPKG")
    table = read_incident_file(tmp_path / "incidents.gpkg")
    assert pd.api.types.is_float_dtype(table.rows["incident_id"].dtype)
    result = validate_incidents(table, taxonomy=taxonomy, extent=extent)
    assert result.accepted["incident_id"].tolist() == ["101", "103"]


def test_float_ward_numbers_become_plain_names(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from layers.intake.sources import read_boundaries

    frame = gpd.GeoDataFrame(
        {"WARD_NO": [9.0, 10.0]}, geometry=[box(18, -34, 18.1, -33.9), box(18.1, -34, 18.2, -33.9)],
        crs="EPSG:4326",
    )  # fmt: skip
    frame.to_file(tmp_path / "w.gpkg")
    layer = read_boundaries(tmp_path / "w.gpkg", kind="ward", name_field="WARD_NO")
    assert layer.areas["name"].tolist() == ["9", "10"]
