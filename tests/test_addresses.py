"""Address points (``--addresses``): read and checked once, every row kept or set aside with
its reason, searched by text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from layers._errors import InputFileError
from layers.intake.addresses import read_addresses
from layers.intake.validate import Extent

CAPE_TOWN = Extent.of((18.3, -34.36, 19.0, -33.47))


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_with_an_address_column_and_coordinates(tmp_path):
    path = write_csv(
        tmp_path / "addresses.csv",
        "Full Address,Latitude,Longitude\n"
        '"12 Main Road, Claremont",-33.9806,18.4653\n'
        '"14 Main Road, Claremont",-33.9808,18.4655\n'
        '"1 Long Street, Cape Town",-33.9180,18.4233\n',
    )
    points = read_addresses(path, extent=CAPE_TOWN)
    assert points.address_field == "Full Address"
    assert points.read == 3 and points.rejected.empty
    assert points.points.loc[2].to_dict() == {
        "address": "1 Long Street, Cape Town", "lon": 18.4233, "lat": -33.918
    }  # fmt: skip


def test_every_bad_row_is_set_aside_with_its_reason(tmp_path):
    path = write_csv(
        tmp_path / "addresses.csv",
        "address;lat;lon\n"
        "12 Main Road;-33,9806;18,4653\n"  # a South African spreadsheet's decimal commas
        ";-33.98;18.46\n"
        "3 Nowhere Lane;;\n"
        "4 Far Away;-26.2;28.04\n"
        "5 Swapped Street;18.42;-33.92\n"
        "6 Zero Road;0;0\n"
        "7 Bad Number;abc;18.4\n",
    )
    points = read_addresses(path, extent=CAPE_TOWN)
    assert list(points.points["address"]) == ["12 Main Road"]
    assert points.points.iloc[0]["lat"] == pytest.approx(-33.9806)
    reasons = dict(zip(points.rejected["source_row"], points.rejected["reason"], strict=True))
    assert reasons[2] == "missing address"
    assert reasons[3] == "missing coordinates"
    assert "far outside the boundaries' extent" in reasons[4]
    assert "swapped" in reasons[5]
    assert "null island" in reasons[6]
    assert reasons[7] == "unparseable coordinates"
    assert points.read == 7  # none lost without a reason
    assert any("semicolon" in w for w in points.warnings)


def test_an_address_is_made_of_its_parts_when_no_column_holds_it_whole(tmp_path):
    path = write_csv(
        tmp_path / "cct_address_points.csv",
        "ADR_NO,STR_NAME,SUBURB,X,Y\n"
        "12.0,Main Road,Claremont,18.4653,-33.9806\n"
        ",Long Street,Cape Town,18.4233,-33.9180\n"
        "3,,Nowhere,18.40,-33.90\n",
    )
    points = read_addresses(path, extent=CAPE_TOWN)
    assert points.address_field == "ADR_NO + STR_NAME + SUBURB"
    assert list(points.points["address"]) == ["12 Main Road, Claremont", "Long Street, Cape Town"]
    assert points.rejected["reason"].tolist() == ["missing address"]  # no street, no address


def test_a_geopackage_of_points_in_a_projected_crs(tmp_path):
    frame = gpd.GeoDataFrame(
        {"street_address": ["12 Main Road", "9 Church Street", "A line"]},
        geometry=[Point(18.4653, -33.9806), Point(18.8601, -33.9346),
                  LineString([(18.4, -33.9), (18.5, -33.9)])],
        crs="EPSG:4326",
    ).to_crs("EPSG:32734")  # fmt: skip
    path = tmp_path / "addresses.gpkg"
    frame.to_file(path, layer="address_points")
    points = read_addresses(path, extent=CAPE_TOWN)
    assert points.points["address"].tolist() == ["12 Main Road", "9 Church Street"]
    assert points.points.iloc[0][["lon", "lat"]].tolist() == pytest.approx([18.4653, -33.9806])
    assert points.rejected["reason"].tolist() == [
        "geometry is not a point; address points must be points"
    ]


def test_a_zipped_shapefile_with_the_address_column_named(tmp_path):
    frame = gpd.GeoDataFrame({"ADDR_TXT": ["12 Main Road"], "NAME": ["Clinic"]},
                             geometry=[Point(18.4653, -33.9806)], crs="EPSG:4326")  # fmt: skip
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "points.shp")
    archive = tmp_path / "points.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    points = read_addresses(archive, extent=CAPE_TOWN, address_field="NAME")
    assert points.points["address"].tolist() == ["Clinic"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", "", "is empty"),
        ("addresses.xlsx", "x", "unsupported address file type"),
        ("no_address.csv", "id,lat,lon\n1,-33.9,18.4\n", "Cannot tell which column"),
        ("no_coordinates.csv", "address,suburb\n1 Main Road,Claremont\n", "has no coordinates"),
        ("all_bad.csv", "address,lat,lon\n1 Main Road,-26.2,28.04\n", "none of its 1 rows"),
    ],
)
def test_a_file_that_cannot_be_used_says_what_to_fix(tmp_path, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputFileError, match=message):
        read_addresses(path, extent=CAPE_TOWN)


def test_a_named_column_that_is_not_there_lists_the_columns(tmp_path):
    path = write_csv(tmp_path / "a.csv", "address,lat,lon\n1 Main Road,-33.9,18.4\n")
    with pytest.raises(InputFileError, match=r"no column 'ADR'.*address, lat, lon"):
        read_addresses(path, extent=CAPE_TOWN, address_field="ADR")


@pytest.fixture
def book(tmp_path):
    rows = ["12 Main Road, Claremont", "112 Main Road, Rondebosch", "Main Street, Kuils River",
            "1 Long Street, Cape Town", "Mains Avenue, Kenilworth",
            "12 Voortrekker Road, Bellville"]  # fmt: skip
    frame = pd.DataFrame({"address": rows, "lat": -33.95, "lon": 18.5})
    frame.to_csv(tmp_path / "book.csv", index=False)
    return read_addresses(tmp_path / "book.csv", extent=CAPE_TOWN)


def test_search_ignores_case_and_punctuation_and_needs_every_word(book):
    assert book.search("12 MAIN")["address"].tolist() == [
        "12 Main Road, Claremont", "112 Main Road, Rondebosch"
    ]  # fmt: skip
    assert book.search("main rd.")["address"].tolist() == []  # "rd" is not in "road"
    assert book.search("main, claremont")["address"].tolist() == ["12 Main Road, Claremont"]
    assert book.search("   ").empty


def test_search_puts_addresses_starting_with_the_text_first(book):
    found = book.search("main")["address"].tolist()
    # starts with "main", then a word starting with "main", alphabetically within each
    assert found == ["Main Street, Kuils River", "Mains Avenue, Kenilworth",
                     "112 Main Road, Rondebosch", "12 Main Road, Claremont"]  # fmt: skip
    assert len(book.search("main", limit=2)) == 2


@pytest.mark.realdata
def test_the_real_saps_station_points_are_read_as_address_points(realdata):
    points = read_addresses(realdata / "wc_saps_stations_2020.geojson", extent=CAPE_TOWN,
                            address_field="PoliceStat")  # fmt: skip
    # 151 stations across the Western Cape; those more than 50 km from the metro set aside.
    assert points.read == 151
    assert set(points.rejected["reason"]) == {
        "far outside the boundaries' extent (more than 50 km beyond them); check the coordinates"
    }
    found = points.search("khayel")
    assert found["address"].tolist() == ["Khayelitsha"]
    assert found.iloc[0][["lon", "lat"]].tolist() == pytest.approx([18.66599, -34.02464])
