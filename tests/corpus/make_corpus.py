"""Write the broken-input corpus: small files that each break one thing an agency export can.

Run ``.venv/bin/python tests/corpus/make_corpus.py`` from the project folder to write every
committed file again and the README's table; the output is the same byte for byte on every run
(fixed zip and DBF dates, hand-written JSON and CSV). Two inputs are too big to commit and are
made by the tests instead, with the functions at the end: an empty GeoPackage layer (an empty
GeoPackage is ~100 KB of SQLite) and a 100 MB CSV.

Incident points sit in the test boundaries of ``tests/conftest.py``: precincts West and East
(18.0 to 18.2 E, -34.0 to -33.9 S) and wards 1 and 2.
"""

from __future__ import annotations

import gzip
import json
import random
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from shapely.geometry import Point, box

HERE = Path(__file__).resolve().parent
ZIP_DATE = (2025, 1, 1, 0, 0, 0)
DBF_DATE = bytes([125, 1, 1])  # years since 1900, month, day: 2025-01-01
HEADER = ["incident_id", "agency", "category", "occurred_at", "lat", "lon"]
WEST = (18.05, -33.97)  # precinct West, ward 1
EAST = (18.15, -33.92)  # precinct East, ward 2

# ESRI WKT as ArcGIS writes it: a .prj is text, so it is written here rather than by GDAL.
PRJ_WGS84 = (
    'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
    'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)
PRJ_UTM34S = (
    'PROJCS["WGS_1984_UTM_Zone_34S",GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",'
    'SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],'
    'UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",10000000.0],'
    'PARAMETER["Central_Meridian",21.0],PARAMETER["Scale_Factor",0.9996],'
    'PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)


@dataclass(frozen=True)
class Case:
    """One corpus file: its name, what is broken in it, what the project must do with it."""

    name: str
    broken: str
    expected: str
    write: Callable[[Path], None]


# --- helpers --------------------------------------------------------------------------------


def _csv_bytes(rows: list[list[str]], *, header: list[str] = HEADER, sep: str = ",") -> bytes:
    lines = [sep.join(header), *(sep.join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _lat_lon(point: tuple[float, float]) -> list[str]:
    return [str(point[1]), str(point[0])]


def _good_rows() -> list[list[str]]:
    return [
        ["G1", "SAPS", "Burglary", "2025-03-01T10:00:00", *_lat_lon(WEST)],
        ["G2", "Metro Police", "Illegal dumping", "2025-03-02T11:30:00", *_lat_lon(EAST)],
    ]


def _feature(geometry: dict | None, **properties: object) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _geojson_bytes(features: list[dict], **extra: object) -> bytes:
    collection = {"type": "FeatureCollection", **extra, "features": features}
    return (json.dumps(collection, indent=1) + "\n").encode("utf-8")


def _incident(number: int, geometry: dict | None) -> dict:
    return _feature(
        geometry,
        incident_id=f"F{number}",
        agency="SAPS",
        category="Robbery",
        occurred_at=f"2025-04-{number:02d}T09:00:00",
    )


def _point(x: float, y: float, *z: float) -> dict:
    return {"type": "Point", "coordinates": [x, y, *z]}


def _square(x0: float, y0: float, x1: float, y1: float, *z: float) -> list[list[float]]:
    return [[x0, y0, *z], [x1, y0, *z], [x1, y1, *z], [x0, y1, *z], [x0, y0, *z]]


def _polygon(*rings: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": list(rings)}


def _precinct(name: str, geometry: dict | None) -> dict:
    return _feature(geometry, precinct_name=name)


def _zip(target: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)


def _shapefile(frame: gpd.GeoDataFrame, stem: str, *, prj: str | None) -> dict[str, bytes]:
    """The members of a Shapefile as GDAL writes it, with a fixed DBF date and our own .prj."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no CRS given: the .prj is ours
        frame.set_crs(None, allow_override=True).to_file(Path(tmp) / f"{stem}.shp")
        members = {
            f"{stem}{suffix}": (Path(tmp) / f"{stem}{suffix}").read_bytes()
            for suffix in (".shp", ".shx", ".dbf", ".cpg")
            if (Path(tmp) / f"{stem}{suffix}").exists()
        }
    dbf = members[f"{stem}.dbf"]
    members[f"{stem}.dbf"] = dbf[:1] + DBF_DATE + dbf[4:]
    if prj is not None:
        members[f"{stem}.prj"] = prj.encode("ascii")
    return members


def _to_utm(lon: float, lat: float) -> tuple[float, float]:
    x, y = pyproj.Transformer.from_crs(4326, 32734, always_xy=True).transform(lon, lat)
    return round(x, 2), round(y, 2)


def _incident_points(xy: list[tuple[float, ...]]) -> gpd.GeoDataFrame:
    n = len(xy)
    return gpd.GeoDataFrame(
        {
            "incident_i": [f"S{i + 1}" for i in range(n)],
            "agency": ["SAPS"] * n,
            "category": ["Burglary"] * n,
            "occurred_a": [f"2025-05-{i + 1:02d}T08:00:00" for i in range(n)],
        },
        geometry=[Point(*p) for p in xy],
    )


def _precinct_squares(*, utm: bool = False) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"PRECINCT": ["East", "West"]},
        geometry=[box(18.1, -34.0, 18.2, -33.9), box(18.0, -34.0, 18.1, -33.9)],
        crs=4326,
    )
    return frame.to_crs(32734) if utm else frame


def _cut_in_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


# --- incident files -------------------------------------------------------------------------


def shp_members_good() -> dict[str, bytes]:
    return _shapefile(_incident_points([WEST, EAST, WEST]), "incidents", prj=PRJ_WGS84)


def write_incidents_shp_truncated(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "whole.zip"
        _zip(whole, shp_members_good())
        path.write_bytes(_cut_in_half(whole.read_bytes()))


def write_incidents_shp_no_prj(path: Path) -> None:
    members = shp_members_good()
    del members["incidents.prj"]
    _zip(path, members)


def write_incidents_shp_no_prj_utm(path: Path) -> None:
    frame = _incident_points([_to_utm(*WEST), _to_utm(*EAST)])
    _zip(path, _shapefile(frame, "incidents", prj=None))


def write_incidents_shp_pointz(path: Path) -> None:
    frame = _incident_points([(*WEST, 12.5), (*EAST, 30.0)])
    _zip(path, _shapefile(frame, "incidents", prj=PRJ_WGS84))


def write_incidents_not_a_zip(path: Path) -> None:
    path.write_bytes(b"incident_id,agency\r\nthis is a CSV someone renamed to .zip\r\n")


def write_incidents_zip_without_shp(path: Path) -> None:
    _zip(path, {"incidents.csv": _csv_bytes(_good_rows())})


def write_empty(path: Path) -> None:
    path.write_bytes(b"")


def write_incidents_whitespace_only(path: Path) -> None:
    path.write_bytes(b"\r\n   \r\n\r\n")


def write_incidents_header_only(path: Path) -> None:
    path.write_bytes(_csv_bytes([]))


def write_incidents_cp1252(path: Path) -> None:
    """Like the real SAPS statistics file: Windows-1252, CRLF, text quoted, numbers bare."""
    rows = [
        ["C1", "SAPS", "Café robbery", "Khâi-Ma road, near the Gemüse market", WEST],
        ["C2", "Metro Police", "Assault", "Straße by the Pépinière", EAST],
        ["C3", "SAPS", "Théft out of vehicle", "Ünion Ave – Parow", WEST],
    ]
    lines = ['"incident_id","agency","category","description","occurred_at","lat","lon"']
    for number, (key, agency, category, description, (lon, lat)) in enumerate(rows, start=1):
        lines.append(
            f'"{key}","{agency}","{category}","{description}",'
            f'"2025-06-0{number}T12:00:00",{lat},{lon}'
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def write_incidents_cp1252_semicolon(path: Path) -> None:
    """A spreadsheet saved as "CSV" in a South African locale: ';' and decimal commas."""
    text = (
        "incident_id;agency;category;occurred_at;lat;lon\r\n"
        "K1;SAPS;Inbraak by die kafee;2025-06-10 08:00;-33,97;18,05\r\n"
        "K2;SAPS;Aanranding naby Müller se winkel;2025-06-11 09:00;-33,92;18,15\r\n"
    )
    path.write_bytes(text.encode("cp1252"))


def write_incidents_utf16(path: Path) -> None:
    """Excel's "Unicode Text": UTF-16 with a byte-order mark."""
    text = "\n".join(",".join(row) for row in [HEADER, *_good_rows()]) + "\n"
    path.write_bytes(text.encode("utf-16"))


def write_incidents_xlsx_renamed(path: Path) -> None:
    """What an Excel workbook is inside: a zip of XML parts."""
    _zip(path, {"[Content_Types].xml": b'<?xml version="1.0"?><Types/>', "xl/workbook.xml": b""})


def write_incidents_binary(path: Path) -> None:
    path.write_bytes(random.Random(6).randbytes(2048))


def write_incidents_ragged(path: Path) -> None:
    rows = [*_good_rows(), ["R3", "SAPS", "Theft", "2025-03-03T10:00", "-33.97", "18.05", "x", "y"]]
    path.write_bytes(_csv_bytes(rows))


def write_incidents_unclosed_quote(path: Path) -> None:
    rows = [*_good_rows(), ["Q3", "SAPS", '"Theft, from the', "2025-03-03T10:00", "-33.97", "18"]]
    path.write_bytes(_csv_bytes(rows))


def write_incidents_no_coordinates(path: Path) -> None:
    rows = [[*row[:4], "Main Road"] for row in _good_rows()]
    path.write_bytes(_csv_bytes(rows, header=[*HEADER[:4], "street"]))


def write_incidents_absurd_coords_csv(path: Path) -> None:
    utm_x, utm_y = _to_utm(*WEST)
    coordinates = [
        ("A01", str(WEST[1]), str(WEST[0])),  # good
        ("A02", "95", "18.05"),  # latitude beyond the pole
        ("A03", "-33.97", "400"),  # longitude beyond the antimeridian
        ("A04", "NaN", "18.05"),
        ("A05", "inf", "18.05"),
        ("A06", "-33.97", "-inf"),
        ("A07", "1e400", "18.05"),  # overflows to infinity
        ("A08", str(WEST[0]), str(WEST[1])),  # latitude and longitude swapped
        ("A09", "0", "0"),  # null island
        ("A10", str(utm_y), str(utm_x)),  # UTM metres, not degrees
        ("A11", "", ""),
        ("A12", "-33.97.1", '"18,05,1"'),
        ("A13", "-26.20", "28.04"),  # Johannesburg: real, but far from these boundaries
    ]
    rows = [
        [key, "SAPS", "Theft", "2025-03-03T10:00:00", lat, lon] for key, lat, lon in coordinates
    ]
    path.write_bytes(_csv_bytes(rows))


def write_incidents_absurd_coords_geojson(path: Path) -> None:
    points = [
        _point(*WEST),
        _point(400.0, -33.97),
        _point(18.05, 95.0),
        _point(WEST[1], WEST[0]),
        _point(0.0, 0.0),
        _point(*_to_utm(*WEST)),
    ]
    path.write_bytes(_geojson_bytes([_incident(i + 1, p) for i, p in enumerate(points)]))


def write_incidents_web_mercator_undeclared(path: Path) -> None:
    to_3857 = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    points = [_point(*(round(v, 2) for v in to_3857.transform(*p))) for p in (WEST, EAST)]
    path.write_bytes(_geojson_bytes([_incident(i + 1, p) for i, p in enumerate(points)]))


def write_incidents_mixed_geometry(path: Path) -> None:
    x, y = WEST
    geometries = [
        _point(x, y),
        {"type": "LineString", "coordinates": [[x, y], [x + 0.01, y + 0.01]]},
        _polygon(_square(x, y, x + 0.01, y + 0.01)),
        _polygon(_square(x, y, x + 0.01, y + 0.01)[:-1]),  # ring not closed
        {"type": "MultiPoint", "coordinates": [[x, y]]},
        {"type": "GeometryCollection", "geometries": [_point(x, y)]},
        None,
    ]
    path.write_bytes(_geojson_bytes([_incident(i + 1, g) for i, g in enumerate(geometries)]))


def write_incidents_3d(path: Path) -> None:
    points = [_point(*WEST, 12.5), _point(*EAST, -3.0)]
    path.write_bytes(_geojson_bytes([_incident(i + 1, p) for i, p in enumerate(points)]))


def write_incidents_wkt(path: Path) -> None:
    wkts = [
        "POINT (18.05 -33.97)",
        "POINT Z (18.15 -33.92 40)",
        "LINESTRING (18.0 -34.0, 18.1 -33.9)",
        "POINT (18.05",
        "POINT EMPTY",
        "",
    ]
    rows = [
        [f"W{i + 1}", "SAPS", "Theft", "2025-03-03T10:00:00", f'"{wkt}"']
        for i, wkt in enumerate(wkts)
    ]
    path.write_bytes(_csv_bytes(rows, header=[*HEADER[:4], "wkt"]))


def write_incidents_duplicate_ids(path: Path) -> None:
    west = _lat_lon(WEST)
    rows = [
        ["D1", "SAPS", "Burglary", "2025-03-01T10:00:00", *west],
        ["D1", "SAPS", "Burglary", "2025-03-01T10:00:00", *west],  # the same row twice
        ["D2", "SAPS", "Burglary", "2025-03-02T10:00:00", *west],
        ["D2", "SAPS", "Murder", "2025-03-02T10:00:00", *west],  # same id, other content
        ["D3", "SAPS", "Theft", "2025-03-03T10:00:00", *west],
        ["D3", "Metro Police", "Theft", "2025-03-03T10:00:00", *west],  # same id, other agency
        ["D4", "SAPS", "Theft", "2025-03-04T10:00:00", *west],
        [" D4 ", "saps", "Theft", "2025-03-04T10:00:00", *west],  # same after trimming
    ]
    path.write_bytes(_csv_bytes(rows))


def write_incidents_formula(path: Path) -> None:
    rows = [
        ["=1+1", "SAPS", '"=HYPERLINK(""http://example.invalid/x"",""click"")"',
         "2025-03-01T10:00:00", *_lat_lon(WEST), "+27 21 000 0000"],
        ["@SUM(A1)", "SAPS", "-2+3", "2025-03-02T10:00:00", *_lat_lon(EAST),
         "\"+cmd|' /C calc'!A0\""],
    ]  # fmt: skip
    path.write_bytes(_csv_bytes(rows, header=[*HEADER, "description"]))


HUGE_FIELD_CHARS = 1024**2


def write_incidents_huge_field(path: Path) -> None:
    """A 1 MB description, with commas, semicolons, quotes and line breaks, gzipped small."""
    unit = 'line, with "quotes"; and a break\n'
    huge = (unit * (HUGE_FIELD_CHARS // len(unit) + 1))[:HUGE_FIELD_CHARS]
    text = pd.DataFrame(
        [
            ["H1", "SAPS", "Fraud", "2025-03-01T10:00:00", *_lat_lon(WEST), huge],
            ["H2", "SAPS", "Fraud", "2025-03-02T10:00:00", *_lat_lon(EAST), "short"],
        ],
        columns=[*HEADER, "description"],
    ).to_csv(index=False, lineterminator="\n")
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def write_incidents_truncated_gzip(path: Path) -> None:
    rows = [
        [f"T{i}", "SAPS", "Theft", "2025-03-03T10:00:00", "-33.97", "18.05"] for i in range(500)
    ]
    path.write_bytes(_cut_in_half(gzip.compress(_csv_bytes(rows), mtime=0)))


def write_incidents_not_gzip(path: Path) -> None:
    path.write_bytes(_csv_bytes(_good_rows()))


def write_incidents_truncated_geojson(path: Path) -> None:
    whole = _geojson_bytes([_incident(i + 1, _point(*WEST)) for i in range(4)])
    path.write_bytes(_cut_in_half(whole))


def write_incidents_empty_geojson(path: Path) -> None:
    path.write_bytes(_geojson_bytes([]))


def write_incidents_not_geojson(path: Path) -> None:
    path.write_bytes(b'{"incidents": [1, 2, 3]}\n')


# --- boundary files -------------------------------------------------------------------------


def write_boundaries_shp_truncated(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "whole.zip"
        _zip(whole, _shapefile(_precinct_squares(), "precincts", prj=PRJ_WGS84))
        path.write_bytes(_cut_in_half(whole.read_bytes()))


def write_boundaries_shp_no_prj(path: Path) -> None:
    _zip(path, _shapefile(_precinct_squares(), "precincts", prj=None))


def write_boundaries_shp_no_prj_utm(path: Path) -> None:
    _zip(path, _shapefile(_precinct_squares(utm=True), "precincts", prj=None))


def write_boundaries_shp_lonlat_declared_utm(path: Path) -> None:
    _zip(path, _shapefile(_precinct_squares(), "precincts", prj=PRJ_UTM34S))


def write_boundaries_web_mercator_as_wgs84(path: Path) -> None:
    frame = _precinct_squares().to_crs(3857)
    features = [
        _precinct(name, _polygon(np.round(np.asarray(geom.exterior.coords), 2).tolist()))
        for name, geom in zip(frame["PRECINCT"], frame.geometry, strict=True)
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_bowtie(path: Path) -> None:
    bowtie = [[18.0, -34.0], [18.1, -33.9], [18.1, -34.0], [18.0, -33.9], [18.0, -34.0]]
    features = [
        _precinct("West", _polygon(bowtie)),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_unclosed_ring(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9)[:-1])),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_zero_area(path: Path) -> None:
    flat = [[18.0, -34.0], [18.0, -33.95], [18.0, -33.9], [18.0, -34.0]]  # no area at all
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9))),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
        _precinct("Sliver", _polygon(flat)),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_empty_geojson(path: Path) -> None:
    path.write_bytes(_geojson_bytes([]))


def write_boundaries_mixed_geometry(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9))),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
        _precinct("Station", _point(18.05, -33.95)),
        _precinct("Road", {"type": "LineString", "coordinates": [[18.0, -34.0], [18.2, -33.9]]}),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_3d(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9, 120.0))),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9, 95.5))),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_duplicate_names(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.95))),
        _precinct("West", _polygon(_square(18.0, -33.95, 18.1, -33.9))),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_absurd_coords(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9))),
        _precinct("East", _polygon(_square(18.1, 85.0, 400.0, 95.0))),
    ]
    path.write_bytes(_geojson_bytes(features))


def write_boundaries_null_geometry(path: Path) -> None:
    features = [
        _precinct("West", _polygon(_square(18.0, -34.0, 18.1, -33.9))),
        _precinct("East", _polygon(_square(18.1, -34.0, 18.2, -33.9))),
        _precinct("Nowhere", None),
    ]
    path.write_bytes(_geojson_bytes(features))


# --- the corpus -----------------------------------------------------------------------------

INCIDENT_CASES = (
    Case("incidents_shp_truncated.zip", "zipped Shapefile cut off halfway",
         "refused: not a valid zip archive (truncated?)", write_incidents_shp_truncated),
    Case("incidents_shp_no_prj.zip", "zipped Shapefile without its .prj; lon/lat coordinates",
         "read, with a warning that WGS84 was assumed; 3 accepted", write_incidents_shp_no_prj),
    Case("incidents_shp_no_prj_utm.zip", "zipped Shapefile without .prj; UTM metres",
         "refused: no CRS, and the coordinates are metres; re-export with its .prj",
         write_incidents_shp_no_prj_utm),
    Case("incidents_shp_pointz.zip", "PointZ Shapefile (heights)",
         "read; heights dropped with a warning; 2 accepted", write_incidents_shp_pointz),
    Case("incidents_not_a_zip.zip", "a CSV renamed to .zip",
         "refused: not a valid zip archive", write_incidents_not_a_zip),
    Case("incidents_zip_without_shp.zip", "a zip holding a CSV, no .shp",
         "refused: must hold exactly one .shp", write_incidents_zip_without_shp),
    Case("incidents_empty.zip", "0 bytes", "refused: empty (0 bytes)", write_empty),
    Case("incidents_empty.csv", "0 bytes", "refused: empty (0 bytes)", write_empty),
    Case("incidents_whitespace_only.csv", "only blank lines",
         "refused: no header row and no data", write_incidents_whitespace_only),
    Case("incidents_header_only.csv", "header, no rows",
         "read 0 rows, with a warning that there is nothing to ingest",
         write_incidents_header_only),
    Case("incidents_cp1252.csv",
         "Windows-1252 like the real SAPS file (CRLF, quoted text, é ü â ß –)",
         "read as Windows-1252 with a warning; text kept; 3 accepted", write_incidents_cp1252),
    Case("incidents_cp1252_semicolon.csv", "Windows-1252, ';' delimiter, decimal commas",
         "read with warnings (semicolon, Windows-1252); 2 accepted",
         write_incidents_cp1252_semicolon),
    Case("incidents_utf16.csv", "UTF-16 with a byte-order mark (Excel \"Unicode Text\")",
         "refused: UTF-16 text, not UTF-8 or Windows-1252; save as CSV UTF-8",
         write_incidents_utf16),
    Case("incidents_xlsx_renamed.csv", "an Excel workbook (a zip) named .csv",
         "refused: a zip archive (an Excel workbook?); save as CSV UTF-8",
         write_incidents_xlsx_renamed),
    Case("incidents_binary.csv", "2 KB of random bytes named .csv",
         "refused: binary data (NUL bytes), not CSV text", write_incidents_binary),
    Case("incidents_ragged.csv", "a row with more fields than the header",
         "refused: not a well-formed CSV (line named)", write_incidents_ragged),
    Case("incidents_unclosed_quote.csv", "a quote that is never closed",
         "refused: not a well-formed CSV", write_incidents_unclosed_quote),
    Case("incidents_no_coordinates.csv", "no lat/lon or geometry column",
         "refused: no column for lat, lon; map them with --map", write_incidents_no_coordinates),
    Case("incidents_absurd_coords.csv",
         "lat 95, lon 400, NaN, ±inf, 1e400, swapped, (0, 0), UTM metres, empty, garbage, "
         "far away",
         "1 accepted; 12 rejected, each with its own reason (infinite, out of range, ...)",
         write_incidents_absurd_coords_csv),
    Case("incidents_absurd_coords.geojson", "points at lon 400, lat 95, swapped, (0, 0), metres",
         "1 accepted; 5 rejected, each with its reason", write_incidents_absurd_coords_geojson),
    Case("incidents_web_mercator.geojson", "Web Mercator metres in GeoJSON, which is lon/lat",
         "refused: no point is lon/lat; they look like metres; re-export with its CRS",
         write_incidents_web_mercator_undeclared),
    Case("incidents_mixed_geometry.geojson",
         "Point, LineString, Polygon, unclosed Polygon, MultiPoint, GeometryCollection, null",
         "1 accepted; 5 rejected as not a point, 1 as missing coordinates; ring closed, noted",
         write_incidents_mixed_geometry),
    Case("incidents_3d.geojson", "XYZ points", "read; heights dropped with a warning; 2 accepted",
         write_incidents_3d),
    Case("incidents_wkt.csv", "WKT column: 2D, 3D, line, cut-off WKT, POINT EMPTY, blank",
         "2 accepted (height dropped with a warning); 4 rejected with reasons",
         write_incidents_wkt),
    Case("incidents_duplicate_ids.csv",
         "same row twice; same id, other content; same id, other agency; ' D4 ' and 'D4'",
         "all 8 accepted, 3 superseded by a later row, with a warning naming the ids; 5 stored",
         write_incidents_duplicate_ids),
    Case("incidents_formula.csv", "values a spreadsheet would run as formulas (= + - @)",
         "2 accepted; stored verbatim as text (exports neutralise them)", write_incidents_formula),
    Case("incidents_huge_field.csv.gz",
         "a 1 MB description with quotes, commas, ';' and line breaks (gzipped)",
         "2 accepted, the field kept whole", write_incidents_huge_field),
    Case("incidents_truncated.csv.gz", "gzip cut off halfway",
         "refused: gzip file is incomplete (truncated?)", write_incidents_truncated_gzip),
    Case("incidents_not_gzip.csv.gz", "a plain CSV named .csv.gz",
         "refused: not a gzip file", write_incidents_not_gzip),
    Case("incidents_truncated.geojson", "GeoJSON cut off halfway",
         "refused: could not be read as a spatial file", write_incidents_truncated_geojson),
    Case("incidents_empty.geojson", "FeatureCollection with no features",
         "read 0 rows, with a warning that there is nothing to ingest",
         write_incidents_empty_geojson),
    Case("incidents_not_geojson.geojson", "JSON that is not GeoJSON",
         "refused: not a spatial file; check it opens in QGIS", write_incidents_not_geojson),
)  # fmt: skip

BOUNDARY_CASES = (
    Case("boundaries_shp_truncated.zip", "zipped Shapefile cut off halfway",
         "refused: not a valid zip archive (truncated?)", write_boundaries_shp_truncated),
    Case("boundaries_shp_no_prj.zip", "zipped Shapefile without its .prj; lon/lat coordinates",
         "refused: no CRS; add the .prj", write_boundaries_shp_no_prj),
    Case("boundaries_shp_no_prj_utm.zip", "zipped Shapefile without its .prj; UTM metres",
         "refused: no CRS; add the .prj", write_boundaries_shp_no_prj_utm),
    Case("boundaries_shp_lonlat_declared_utm.zip", "degrees, with a .prj saying UTM 34S",
         "refused: coordinates look like lon/lat, not the declared CRS",
         write_boundaries_shp_lonlat_declared_utm),
    Case("boundaries_web_mercator_as_wgs84.geojson", "Web Mercator metres in GeoJSON (lon/lat)",
         "refused: outside lon/lat range, look like metres; re-export with its CRS",
         write_boundaries_web_mercator_as_wgs84),
    Case("boundaries_bowtie.geojson", "a self-intersecting (bow-tie) polygon",
         "repaired (two triangles) with a warning", write_boundaries_bowtie),
    Case("boundaries_unclosed_ring.geojson", "a ring whose last point is not its first",
         "closed and read, with a warning", write_boundaries_unclosed_ring),
    Case("boundaries_zero_area.geojson", "a polygon whose points lie on one line",
         "repair leaves a line: that area dropped, named in a warning", write_boundaries_zero_area),
    Case("boundaries_empty.geojson", "FeatureCollection with no features",
         "refused: holds no boundaries", write_boundaries_empty_geojson),
    Case("boundaries_empty.zip", "0 bytes", "refused: empty (0 bytes)", write_empty),
    Case("boundaries_zero_bytes.geojson", "0 bytes", "refused: empty (0 bytes)", write_empty),
    Case("boundaries_mixed_geometry.geojson", "polygons with a point and a line among them",
         "refused: names the geometry types found", write_boundaries_mixed_geometry),
    Case("boundaries_3d.geojson", "XYZ polygons", "read; heights dropped with a warning",
         write_boundaries_3d),
    Case("boundaries_duplicate_names.geojson", "two areas named West",
         "merged into one with a warning", write_boundaries_duplicate_names),
    Case("boundaries_absurd_coords.geojson", "a polygon reaching lat 95, lon 400",
         "refused: 1 of 2 geometries outside lon/lat range", write_boundaries_absurd_coords),
    Case("boundaries_null_geometry.geojson", "an area with a null geometry",
         "that area skipped with a warning", write_boundaries_null_geometry),
)  # fmt: skip

CASES = INCIDENT_CASES + BOUNDARY_CASES
GENERATED_IN_TESTS = (
    ("incidents_empty_layer.gpkg", "a GeoPackage layer with no features",
     "read 0 rows, with a warning that there is nothing to ingest"),
    ("boundaries_empty_layer.gpkg", "a GeoPackage layer with no features",
     "refused: holds no boundaries"),
    ("incidents_100mb.csv", "about 100 MB: 1,000,000 rows, 200 of them bad",
     "ingested in one run; accepted + rejected = read"),
)  # fmt: skip


# --- made by the tests, not committed -------------------------------------------------------


def write_empty_layer(path: Path, *, boundaries: bool) -> None:
    """A GeoPackage whose one layer has the right fields and no features."""
    frame = _precinct_squares() if boundaries else _incident_points([WEST]).set_crs(4326)
    frame.iloc[:0].to_file(path, driver="GPKG", layer="empty")


def write_big_csv(path: Path, *, rows: int = 1_000_000, bad_every: int = 10_000) -> int:
    """About 100 bytes a row of plausible incidents; in every ``bad_every`` rows one has no
    time and one is at (0, 0).

    Written in chunks so that the writer never holds the whole file. Returns the number of
    bad rows (the ones that must be rejected).
    """
    rng = np.random.default_rng(100)
    categories = np.array(
        ["Burglary (residential)", "Common assault", "Theft out of vehicle", "Illegal dumping",
         "Robbery with aggravating circumstances"]
    )  # fmt: skip
    agencies = np.array(["SAPS", "Metro Police", "Law Enforcement", "LEAP"])
    chunk = 200_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join([*HEADER, "description"]) + "\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            number = np.arange(start, start + n)
            seconds = rng.integers(0, 365 * 86_400, n)
            times = pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s")
            frame = pd.DataFrame(
                {
                    "incident_id": pd.Series(number).map("BIG{:08d}".format),
                    "agency": agencies[rng.integers(0, len(agencies), n)],
                    "category": categories[rng.integers(0, len(categories), n)],
                    "occurred_at": times.strftime("%Y-%m-%dT%H:%M:%S"),
                    "lat": np.round(rng.uniform(-34.0, -33.9, n), 6),
                    "lon": np.round(rng.uniform(18.0, 18.2, n), 6),
                    "description": "Counter report",
                }
            )
            frame.loc[number % bad_every == bad_every - 1, "occurred_at"] = ""
            frame.loc[number % bad_every == bad_every // 2, ["lat", "lon"]] = 0.0
            frame.to_csv(handle, header=False, index=False, lineterminator="\n")
    return 2 * (rows // bad_every)


# --- writing --------------------------------------------------------------------------------


def readme() -> str:
    """The README's text: one table row per corpus file."""
    lines = [
        "# Broken-input corpus",
        "",
        "Small files that each break one thing, for `tests/test_corpus.py`. Every file must give",
        "a clear message (what is wrong, how to fix it) or be read with a repair and a warning;",
        "nothing may crash, and for incidents accepted + rejected = read, always.",
        "",
        "Made by `make_corpus.py` (run `.venv/bin/python tests/corpus/make_corpus.py`); do not",
        "edit the files by hand. Incident points lie in the test boundaries of",
        "`tests/conftest.py`; boundary files are read as precincts.",
        "",
        "| file | what is broken | what the project must do |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{c.name}` | {c.broken} | {c.expected} |" for c in CASES]
    lines += [
        "",
        "Made by the tests in a temporary folder, not committed (too big):",
        "",
        "| file | what is broken | what the project must do |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `{name}` | {broken} | {expected} |" for name, broken, expected in GENERATED_IN_TESTS
    ]
    return "\n".join(lines) + "\n"


def write_corpus(folder: Path) -> list[Path]:
    """Write every committed corpus file and the README into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        case.write(folder / case.name)
        written.append(folder / case.name)
    (folder / "README.md").write_text(readme(), encoding="utf-8")
    return written


if __name__ == "__main__":
    for path in write_corpus(HERE):
        print(f"{path.stat().st_size:>9,}  {path.name}")
