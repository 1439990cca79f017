"""Hostile archives are refused from their directory, before anything is read out of them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from layers._errors import InputFileError
from layers.intake.sources import read_boundaries, read_incident_file


def shapefile_zip(tmp_path: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame(
        {"incident_i": ["A"], "agency": ["SAPS"], "category": ["Burglary"],
         "occurred_a": ["2026-01-01T10:00:00"]},
        geometry=[Point(18.5, -33.9)], crs=4326,
    )  # fmt: skip
    frame.to_file(folder / "incidents.shp")
    target = tmp_path / "incidents.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in folder.iterdir():
            archive.write(member, member.name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def test_a_clean_zipped_shapefile_reads(tmp_path):
    table = read_incident_file(shapefile_zip(tmp_path))
    assert len(table.rows) == 1


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "a/../../evil.txt", "C:/x"])
def test_path_traversal_is_refused(tmp_path, member):
    archive = shapefile_zip(tmp_path, extra={member: b"x"})
    with pytest.raises(InputFileError, match="outside the archive"):
        read_incident_file(archive)


def test_a_decompression_bomb_is_refused_before_reading(tmp_path):
    archive = shapefile_zip(tmp_path, extra={"padding.dbf": b"\0" * (40 * 1024**2)})
    assert archive.stat().st_size < 1024**2  # 40 MB of zeros squeezed small
    with pytest.raises(InputFileError, match="decompression bomb"):
        read_incident_file(archive)


def test_too_many_members_are_refused(tmp_path):
    archive = shapefile_zip(tmp_path, extra={f"f{i}.txt": b"" for i in range(1001)})
    with pytest.raises(InputFileError, match="holds 1,00"):
        read_boundaries(archive, kind="precinct")


def test_a_truncated_zip_says_so(tmp_path):
    archive = shapefile_zip(tmp_path)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(InputFileError, match="not a valid zip"):
        read_incident_file(broken)
