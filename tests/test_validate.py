from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import incident_rows

from layers._errors import InputFileError
from layers.intake.sources import IncidentTable, read_incident_file
from layers.intake.validate import Extent, parse_times, resolve_columns, validate_incidents

NOW = pd.Timestamp("2026-01-01", tz="UTC")


def check(frame: pd.DataFrame, taxonomy, extent, **kwargs):
    table = IncidentTable(path=Path("test.csv"), rows=frame)
    return validate_incidents(table, taxonomy=taxonomy, extent=extent, now=NOW, **kwargs)


def test_good_rows_are_all_accepted_with_areas(taxonomy, extent):
    result = check(incident_rows(), taxonomy, extent)
    assert len(result.accepted) == 4 and result.rejected.empty
    assert result.accepted["collaboration_area"].tolist() == [
        "Violence prevention strategy",
        "Violence prevention strategy",
        "By-law enforcement and public spaces",
        "Gang and firearm violence",
    ]


def test_naive_times_are_johannesburg_and_aware_times_keep_their_offset():
    times, reasons = parse_times(
        pd.Series(["2025-01-01T10:00:00", "2025-01-01T10:00:00Z", "2025-01-01 10:00+02:00"]),
        now=None,
    )
    assert reasons.isna().all()
    assert times.dt.strftime("%H:%M").tolist() == ["08:00", "10:00", "08:00"]


def test_each_bad_row_is_rejected_with_its_reason(taxonomy, extent):
    frame = incident_rows(
        incident_id=["1", "2", "3", "4", "5", "6", "7", "8"],
        agency=["SAPS"] * 7 + [None],
        category=["Murder"] * 8,
        occurred_at=["2025-01-01T10:00", "yesterday", "2025-01-01T10:00", "2025-01-01T10:00",
                     "2025-01-01T10:00", "2025-01-01T10:00", "2030-01-01T00:00",
                     "2025-01-01T10:00"],
        lat=["", "-33.95", "0", "18.05", "-26.2", "abc", "-33.95", "-33.95"],
        lon=["", "18.05", "0", "-33.95", "28.04", "18.1", "18.05", "18.05"],
    )  # fmt: skip
    result = check(frame, taxonomy, extent)
    reasons = dict(
        zip(result.rejected["source_row"], result.rejected["reject_reason"], strict=True)
    )
    assert result.accepted.empty
    assert reasons[1] == "missing coordinates"
    assert reasons[2].startswith("unparseable occurred_at")
    assert reasons[3].startswith("null island")
    assert reasons[4].startswith("latitude and longitude look swapped")
    assert reasons[5].startswith("far outside the boundaries' extent")
    assert reasons[6] == "unparseable coordinates"
    assert reasons[7] == "occurred_at is in the future"
    assert reasons[8] == "missing agency"
    # the original columns are kept for the rejects file
    assert {"incident_id", "lat", "lon", "reject_reason"} <= set(result.rejected.columns)


def test_accepted_plus_rejected_equals_read(taxonomy, extent):
    frame = incident_rows(lat=["-33.97", "", "0", "x"])
    result = check(frame, taxonomy, extent)
    assert len(result.accepted) + len(result.rejected) == result.read == 4


def test_duplicate_key_in_one_file_keeps_the_last_row(taxonomy, extent):
    frame = incident_rows(incident_id=["1", "1", "2", "3"], agency=["SAPS"] * 4)
    result = check(frame, taxonomy, extent)
    assert result.accepted.index.tolist() == [1, 2, 3]
    assert result.superseded == 1 and result.rejected.empty


def test_same_id_from_two_agencies_is_two_incidents(taxonomy, extent):
    frame = incident_rows(incident_id=["1", "2", "1", "2"])
    assert len(check(frame, taxonomy, extent).accepted) == 4


def test_common_spellings_are_recognised():
    columns = pd.Index(["ID", "Agency", "Type", "Date Time", "Latitude", "LNG"])
    assert resolve_columns(columns) == {
        "incident_id": "ID",
        "agency": "Agency",
        "category": "Type",
        "occurred_at": "Date Time",
        "lat": "Latitude",
        "lon": "LNG",
    }
    xy = resolve_columns(pd.Index(["incident_id", "agency", "occurred_at", "X", "Y"]))
    assert (xy["lon"], xy["lat"]) == ("X", "Y")


def test_mapping_option_reads_any_spelling(taxonomy, extent):
    frame = incident_rows().rename(columns={"occurred_at": "WhenItHappened", "lat": "N"})
    result = check(
        frame, taxonomy, extent, column_map={"occurred_at": "WhenItHappened", "lat": "N"}
    )
    assert len(result.accepted) == 4


def test_missing_required_column_says_how_to_fix(taxonomy, extent):
    frame = incident_rows().drop(columns=["occurred_at"])
    with pytest.raises(InputFileError, match="--map FIELD=COLUMN"):
        check(frame, taxonomy, extent)


def test_wkt_column_gives_coordinates(taxonomy, extent):
    frame = incident_rows().drop(columns=["lat", "lon"])
    frame["WKT"] = ["POINT (18.05 -33.97)", "POINT (18.15 -33.92)", "not wkt",
                    "LINESTRING (18 -34, 18.1 -33.9)"]  # fmt: skip
    result = check(frame, taxonomy, extent)
    assert np.allclose(result.accepted["lon"], [18.05, 18.15])
    assert result.rejected["reject_reason"].tolist() == [
        "unparseable WKT geometry",
        "geometry is not a point; incidents must be points",
    ]


def test_stated_collaboration_area_wins_and_unknown_area_is_noted(taxonomy, extent):
    frame = incident_rows()
    frame["collaboration_area"] = ["joint operations", "", "Not an area", None]
    result = check(frame, taxonomy, extent)
    assert result.accepted["collaboration_area"].tolist()[:3] == [
        "Joint operations",
        "Violence prevention strategy",
        "By-law enforcement and public spaces",
    ]
    assert any("not configured" in w for w in result.warnings)


def test_projected_coordinates_are_recognised_and_converted(taxonomy, extent):
    frame = incident_rows(lat=["-3762000"] * 4, lon=["-88000"] * 4)
    rejected = check(frame, taxonomy, extent).rejected
    assert rejected["reject_reason"].str.contains("--coords-crs").all()
    lo19 = "+proj=tmerc +lat_0=0 +lon_0=19 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
    accepted = check(frame, taxonomy, extent, coords_crs=lo19).accepted
    assert len(accepted) == 4
    assert np.allclose(accepted["lon"], 18.05, atol=0.01)


def test_times_beyond_what_pandas_can_hold_are_rejected_not_crashing(taxonomy, extent):
    frame = incident_rows(
        occurred_at=["2300-01-01T10:00", "1600-01-01T10:00", "2300-01-01T10:00Z", "2025-01-01"]
    )
    frame["reported_at"] = ["2025-01-02", "2025-01-02", "2025-01-02", "2300-01-01T10:00"]
    result = check(frame, taxonomy, extent)
    assert (
        result.rejected["reject_reason"].tolist()
        == ["occurred_at out of range (years 1677-2262); check the year"] * 3
    )
    # a bad reported_at never costs the row: it is left empty, and counted
    assert result.accepted["incident_id"].tolist() == ["4"]
    assert result.accepted["reported_at"].isna().all()
    assert any("1 row(s) have a reported_at that could not be read" in w for w in result.warnings)


def test_out_of_range_typed_times_are_rejected():
    values = pd.Series(pd.to_datetime(["2300-01-01", "2025-01-01"]).as_unit("us"))
    times, reasons = parse_times(values, now=None)
    assert reasons[0].startswith("occurred_at out of range")
    assert pd.isna(times[0]) and times[1] == pd.Timestamp("2024-12-31T22:00", tz="UTC")


def test_fullest_of_several_matching_columns_is_read_and_noted(taxonomy, extent):
    frame = incident_rows().rename(columns={"incident_id": "notification_number"})
    frame.insert(0, "reference_number", [None, "R2", None, None])
    result = check(frame, taxonomy, extent)
    assert result.accepted["incident_id"].tolist() == ["1", "2", "3", "4"]
    assert any("Read incident_id from 'notification_number'" in w for w in result.warnings)
    # fields found under their own name are not mentioned
    assert not any("agency from" in w for w in result.warnings)


def test_real_service_requests_are_all_accepted_without_a_mapping(realdata, taxonomy):
    table = read_incident_file(realdata / "cct_service_requests_bellville_south_2020.csv.gz")
    result = validate_incidents(
        table,
        taxonomy=taxonomy,
        extent=Extent.of((18.3, -34.4, 19.0, -33.4)),
        defaults={"agency": "City"},
        now=NOW,
    )
    assert (len(result.accepted), len(result.rejected)) == (7753, 0)
    assert any(
        "incident_id from 'notification_number', occurred_at from 'creation_timestamp'" in w
        for w in result.warnings
    )


def test_whole_number_floats_read_as_integers_in_text_fields(taxonomy, extent):
    frame = incident_rows(
        incident_id=[101.0, np.nan, 103.0, 104.0],
        category=[1.5, 2.0, 3.0, np.nan],
    )
    result = check(frame, taxonomy, extent)
    assert result.accepted["incident_id"].tolist() == ["101", "103", "104"]
    assert result.accepted["category"].tolist() == ["1.5", "3.0", "Uncategorised"]


def test_unknown_coords_crs_names_the_option(taxonomy, extent):
    with pytest.raises(InputFileError, match=r"--coords-crs 'EPSG:99999' is not a coordinate"):
        check(incident_rows(), taxonomy, extent, coords_crs="EPSG:99999")


def test_agency_spellings_are_recognised_and_unknown_ones_noted(taxonomy, extent):
    frame = incident_rows(
        incident_id=[str(i) for i in range(8)],
        agency=["S.A.P.S.", "Metro-Police", "City of Cape Town  Metro Police", "CCT Traffic",
                "neighborhood watch", "city law enforcement", "Bobs Security", "Bobs Security"],
        category=["Murder"] * 8,
        occurred_at=["2025-01-01T10:00"] * 8,
        lat=["-33.97"] * 8,
        lon=["18.05"] * 8,
    )  # fmt: skip
    result = check(frame, taxonomy, extent)
    assert result.accepted["agency"].tolist() == [
        "SAPS", "Metro Police", "Metro Police", "Traffic Services", "Neighbourhood Watch",
        "Law Enforcement", "Bobs Security", "Bobs Security",
    ]  # fmt: skip
    assert any(
        "not recognised, kept as written: Bobs Security (2 rows)" in w for w in result.warnings
    )


def test_slash_dates_from_shapefiles_are_read():
    times, reasons = parse_times(pd.Series(["2025/01/31 10:00:00", "2025/1/2"]), now=None)
    assert reasons.isna().all()
    assert times.dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2025-01-31 08:00", "2025-01-01 22:00"]


def test_negative_margin_is_refused():
    from layers.intake.validate import Extent

    with pytest.raises(InputFileError, match="0 km or more"):
        Extent.of((18, -34, 18.2, -33.9), margin_km=-100)


def test_points_with_numeric_coordinate_columns_as_well_are_read(tmp_path, taxonomy, extent):
    # A GeoJSON export that repeats each point in X and Y columns (as SAPS's station file
    # does): the columns are read, and the geometry fills in where they are empty.
    import geopandas as gpd
    from shapely.geometry import Point

    frame = gpd.GeoDataFrame(
        {"incident_id": ["a", "b"], "agency": "SAPS", "category": "Burglary",
         "occurred_at": "2025-06-01T10:00:00", "X": [18.05, None], "Y": [-33.95, None]},
        geometry=[Point(18.05, -33.95), Point(18.15, -33.92)], crs="EPSG:4326",
    )  # fmt: skip
    path = tmp_path / "with_xy.geojson"
    frame.to_file(path, driver="GeoJSON")
    result = validate_incidents(read_incident_file(path), taxonomy=taxonomy, extent=extent,
                                now=NOW)  # fmt: skip
    assert result.rejected.empty
    assert result.accepted["lon"].tolist() == pytest.approx([18.05, 18.15])
