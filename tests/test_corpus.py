"""The broken-input corpus (tests/corpus, issue 6): every file gives a clear message or is read
with a repair and a warning; nothing raises anything but the project's own errors; and for
incidents accepted + rejected = read, always, with a reason for every reject.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import shapely
from conftest import ROOT
from corpus import make_corpus

from layers._errors import InputFileError, LayersError
from layers.intake.sources import read_boundaries, read_incident_file
from layers.intake.validate import validate_incidents
from layers.storage.ingest import IngestReport, ingest
from layers.storage.join import OUTSIDE
from layers.storage.store import current_version, open_store

CORPUS = Path(__file__).resolve().parent / "corpus"
NOT_CORPUS = {"README.md", "make_corpus.py", ".gitattributes"}
NOW = pd.Timestamp("2026-01-01", tz="UTC")


@dataclass(frozen=True)
class Refused:
    """The file is refused; its message holds these words (what is wrong, how to fix it)."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Read:
    """The file is read: valid rows (superseded ones included), rejects by reason, notes.

    ``rejected`` maps a piece of the reason to how many rows have it; every reject must match
    exactly one piece.
    """

    accepted: int
    rejected: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    superseded: int = 0


@dataclass(frozen=True)
class Repaired:
    """The boundary file is read as precincts East and West, with these notes."""

    warnings: tuple[str, ...]


INCIDENTS: dict[str, Refused | Read] = {
    "incidents_shp_truncated.zip": Refused(
        ("not a valid zip archive", "truncated", "Zip the Shapefile")
    ),
    "incidents_shp_no_prj.zip": Read(3, warnings=("declares no CRS; assumed WGS84",)),
    "incidents_shp_no_prj_utm.zip": Refused(
        ("declares no CRS", "2 of 2 geometries outside", "look like metres", "Re-export", ".prj")
    ),
    "incidents_shp_pointz.zip": Read(2, warnings=("heights (Z) of 2 point(s)",)),
    "incidents_not_a_zip.zip": Refused(("not a valid zip archive", "Zip the Shapefile")),
    "incidents_zip_without_shp.zip": Refused(("exactly one .shp", "found none")),
    "incidents_empty.zip": Refused(("empty (0 bytes)", "Export it again")),
    "incidents_empty.csv": Refused(("empty (0 bytes)", "Export it again")),
    "incidents_whitespace_only.csv": Refused(("no header row", "Export it again")),
    "incidents_header_only.csv": Read(0, warnings=("holds no rows",)),
    "incidents_cp1252.csv": Read(3, warnings=("not UTF-8; read it as Windows-1252",)),
    "incidents_cp1252_semicolon.csv": Read(
        2, warnings=("semicolon-delimited", "not UTF-8; read it as Windows-1252")
    ),
    "incidents_utf16.csv": Refused(("UTF-16 text", "save it as 'CSV UTF-8'")),
    "incidents_xlsx_renamed.csv": Refused(("zip archive", "Excel", "'CSV UTF-8'")),
    "incidents_binary.csv": Refused(("binary data", "right file", "'CSV UTF-8'")),
    "incidents_ragged.csv": Refused(
        ("not a well-formed CSV", "line 4", "as many fields as the header")
    ),
    "incidents_unclosed_quote.csv": Refused(("not a well-formed CSV", "EOF inside string")),
    "incidents_no_coordinates.csv": Refused(("no column for lat, lon", "--map FIELD=COLUMN")),
    "incidents_absurd_coords.csv": Read(
        1,
        {
            "out of range for latitude/longitude": 2,  # lat 95, lon 400
            "missing coordinates": 2,  # NaN, empty
            "coordinates are infinite": 3,  # inf, -inf, 1e400
            "look swapped": 1,
            "null island": 1,
            "look projected (metres)": 1,
            "unparseable coordinates": 1,
            "far outside the boundaries' extent": 1,  # Johannesburg
        },
    ),
    "incidents_absurd_coords.geojson": Read(
        1,
        {
            "out of range for latitude/longitude": 2,
            "look swapped": 1,
            "null island": 1,
            "look projected (metres)": 1,
        },
    ),
    "incidents_web_mercator.geojson": Refused(
        ("declares WGS 84", "outside longitude/latitude range", "look like metres", "Re-export")
    ),
    "incidents_mixed_geometry.geojson": Read(
        1,
        {"geometry is not a point": 5, "missing coordinates": 1},
        warnings=("closed 1 polygon ring(s)",),
    ),
    "incidents_3d.geojson": Read(2, warnings=("heights (Z) of 2 point(s)",)),
    "incidents_wkt.csv": Read(
        2,
        {"missing coordinates": 2, "geometry is not a point": 1, "unparseable WKT": 1},
        warnings=("heights (Z) of 1 point(s)",),
    ),
    "incidents_duplicate_ids.csv": Read(
        8, warnings=("3 row(s) repeat the agency and incident_id", "D1, D2, D4"), superseded=3
    ),
    "incidents_formula.csv": Read(2),
    "incidents_huge_field.csv.gz": Read(2),
    "incidents_truncated.csv.gz": Refused(("not a complete gzip file", "cut off", "Compress")),
    "incidents_not_gzip.csv.gz": Refused(("not a complete gzip file", "plain .csv")),
    "incidents_truncated.geojson": Refused(("could not be read as a spatial file", "export it")),
    "incidents_empty.geojson": Read(0, warnings=("holds no rows",)),
    "incidents_not_geojson.geojson": Refused(("could not be read as a spatial file", "QGIS")),
}

BOUNDARIES: dict[str, Refused | Repaired] = {
    "boundaries_shp_truncated.zip": Refused(
        ("not a valid zip archive", "truncated", "Zip the Shapefile")
    ),
    "boundaries_shp_no_prj.zip": Refused(("no coordinate reference system", "Add the .prj")),
    "boundaries_shp_no_prj_utm.zip": Refused(("no coordinate reference system", "Add the .prj")),
    "boundaries_shp_lonlat_declared_utm.zip": Refused(
        ("projected CRS WGS 84 / UTM zone 34S", "look like longitude/latitude", "EPSG:4326")
    ),
    "boundaries_web_mercator_as_wgs84.geojson": Refused(
        ("2 of 2 geometries outside longitude/latitude range", "look like metres", "Re-export")
    ),
    "boundaries_bowtie.geojson": Repaired(("repaired 1 invalid precinct polygon(s)",)),
    "boundaries_unclosed_ring.geojson": Repaired(("closed 1 polygon ring(s)",)),
    "boundaries_zero_area.geojson": Repaired(("no area once repaired", "Sliver")),
    "boundaries_empty.geojson": Refused(("holds no precinct boundaries", "export it again")),
    "boundaries_empty.zip": Refused(("empty (0 bytes)", "Export it again")),
    "boundaries_zero_bytes.geojson": Refused(("empty (0 bytes)", "Export it again")),
    "boundaries_mixed_geometry.geojson": Refused(
        ("only polygons", "1 Point, 1 LineString (Station, Road)", "Remove those features")
    ),
    "boundaries_3d.geojson": Repaired(("heights (Z) of 2 precinct polygon(s)",)),
    "boundaries_duplicate_names.geojson": Repaired(("merged precincts sharing a name: West",)),
    "boundaries_absurd_coords.geojson": Refused(
        ("1 of 2 geometries outside longitude/latitude range", "Re-export")
    ),
    "boundaries_null_geometry.geojson": Repaired(("skipped 1 precinct(s) with no geometry",)),
}


def corpus_files() -> set[str]:
    return {p.name for p in CORPUS.iterdir() if p.is_file() and p.name not in NOT_CORPUS}


def assert_clear(err: LayersError, name: str, expected: Refused) -> None:
    """The message names the file and holds every expected word."""
    message = str(err)
    assert name in message, message
    missing = [word for word in expected.words if word.lower() not in message.lower()]
    assert not missing, f"{missing} not in: {message}"


def assert_rejects(reasons: Counter[str], expected: dict[str, int]) -> None:
    """Every reject has a reason, and each reason matches exactly one expected piece."""
    matched: Counter[str] = Counter()
    for reason, count in reasons.items():
        assert isinstance(reason, str) and reason.strip(), f"{count} reject(s) without a reason"
        pieces = [piece for piece in expected if piece in reason]
        assert len(pieces) == 1, f"reason {reason!r} matches {pieces}"
        matched[pieces[0]] += count
    assert dict(matched) == expected


def assert_notes(notes: list[str], expected: tuple[str, ...]) -> None:
    for word in expected:
        assert any(word in note for note in notes), f"{word!r} not in notes {notes}"


def accounts_for_every_row(report: IngestReport) -> None:
    for file in report.files:
        assert file.accepted + file.rejected_total == file.read, file
        if file.rejected_total:
            rejects = pd.read_csv(file.rejects_file, dtype=str, keep_default_na=False)
            assert len(rejects) == file.rejected_total
            assert rejects["reject_reason"].str.len().gt(0).all()
    totals = report.totals()
    assert totals["accepted"] + totals["rejected"] == totals["read"]


# --- the corpus is complete and reproducible ------------------------------------------------


def test_every_corpus_file_is_tested():
    assert corpus_files() == set(INCIDENTS) | set(BOUNDARIES)
    assert {case.name for case in make_corpus.CASES} == set(INCIDENTS) | set(BOUNDARIES)


def test_the_committed_corpus_is_what_make_corpus_writes(tmp_path):
    make_corpus.write_corpus(tmp_path)
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), (
            f"tests/corpus/{path.name} differs from what make_corpus.py writes: run "
            ".venv/bin/python tests/corpus/make_corpus.py and commit the result"
        )


def test_corpus_files_are_small():
    assert all((CORPUS / name).stat().st_size <= 16 * 1024 for name in corpus_files())


# --- incident files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_file_is_read_or_refused_clearly(name, taxonomy, extent):
    expected = INCIDENTS[name]
    path = CORPUS / name
    if isinstance(expected, Refused):
        with pytest.raises(InputFileError) as err:
            validate_incidents(read_incident_file(path), taxonomy=taxonomy, extent=extent, now=NOW)
        assert_clear(err.value, name, expected)
        return
    checked = validate_incidents(
        read_incident_file(path), taxonomy=taxonomy, extent=extent, now=NOW
    )
    assert checked.read == expected.accepted + sum(expected.rejected.values())
    assert len(checked.accepted) + checked.superseded + len(checked.rejected) == checked.read
    assert (len(checked.accepted), checked.superseded) == (
        expected.accepted - expected.superseded,
        expected.superseded,
    )
    assert_rejects(Counter(checked.rejected["reject_reason"]), expected.rejected)
    assert checked.rejected["source_row"].is_unique
    assert_notes(checked.warnings, expected.warnings)


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_file_ingest_accounts_for_every_row(name, tmp_path, boundary_files):
    expected = INCIDENTS[name]
    precincts, wards = boundary_files
    report = ingest(tmp_path / "store", [CORPUS / name], precincts=precincts, wards=wards, now=NOW)
    accounts_for_every_row(report)
    (file,) = report.files
    if isinstance(expected, Refused):
        assert file.error is not None
        assert_clear(InputFileError(file.error), name, expected)
        assert (file.read, file.accepted, file.rejected_total) == (0, 0, 0)
        assert f"ERROR: {file.error}" in report.as_text()
        return
    assert file.error is None
    assert (file.read, file.accepted, file.superseded) == (
        expected.accepted + sum(expected.rejected.values()),
        expected.accepted,
        expected.superseded,
    )
    assert_rejects(Counter(file.rejected), expected.rejected)
    assert_notes(file.warnings, expected.warnings)
    for note in file.warnings:
        assert f"note: {note}" in report.as_text()
    if expected.accepted:
        stored = open_store(tmp_path / "store").incidents
        assert len(stored) == expected.accepted - expected.superseded
        assert not shapely.has_z(stored.geometry.array).any()


def test_windows_1252_text_is_decoded_not_mangled(tmp_path, boundary_files):
    precincts, wards = boundary_files
    ingest(tmp_path / "store", [CORPUS / "incidents_cp1252.csv"], precincts=precincts,
           wards=wards, now=NOW)  # fmt: skip
    stored = open_store(tmp_path / "store").incidents.set_index("incident_id")
    assert stored.loc["C1", "category"] == "Café robbery"
    assert stored.loc["C1", "description"] == "Khâi-Ma road, near the Gemüse market"
    assert stored.loc["C2", "description"] == "Straße by the Pépinière"
    assert stored.loc["C3", "description"] == "Ünion Ave – Parow"


def test_formula_looking_values_are_stored_verbatim_as_text(tmp_path, boundary_files):
    precincts, wards = boundary_files
    ingest(tmp_path / "store", [CORPUS / "incidents_formula.csv"], precincts=precincts,
           wards=wards, now=NOW)  # fmt: skip
    stored = open_store(tmp_path / "store").incidents.set_index("incident_id")
    assert sorted(stored.index) == ["=1+1", "@SUM(A1)"]
    assert stored.loc["=1+1", "category"] == '=HYPERLINK("http://example.invalid/x","click")'
    assert stored.loc["@SUM(A1)", "category"] == "-2+3"
    assert stored.loc["@SUM(A1)", "description"] == "+cmd|' /C calc'!A0"


def test_a_huge_field_is_kept_whole(tmp_path, boundary_files):
    precincts, wards = boundary_files
    ingest(tmp_path / "store", [CORPUS / "incidents_huge_field.csv.gz"], precincts=precincts,
           wards=wards, now=NOW)  # fmt: skip
    stored = open_store(tmp_path / "store").incidents.set_index("incident_id")
    assert len(stored.loc["H1", "description"]) == make_corpus.HUGE_FIELD_CHARS
    assert stored.loc["H2", "description"] == "short"


def test_duplicate_ids_keep_the_last_row_and_agencies_apart(tmp_path, boundary_files):
    precincts, wards = boundary_files
    ingest(tmp_path / "store", [CORPUS / "incidents_duplicate_ids.csv"], precincts=precincts,
           wards=wards, now=NOW)  # fmt: skip
    stored = open_store(tmp_path / "store").incidents
    keys = sorted(zip(stored["agency"], stored["incident_id"], strict=True))
    assert keys == [("Metro Police", "D3"), ("SAPS", "D1"), ("SAPS", "D2"), ("SAPS", "D3"),
                    ("SAPS", "D4")]  # fmt: skip
    assert stored.set_index(["agency", "incident_id"]).loc[("SAPS", "D2"), "category"] == "Murder"


# --- boundary files -------------------------------------------------------------------------


def assert_two_clean_precincts(areas) -> None:
    assert areas["name"].tolist() == ["East", "West"]
    geoms = areas.geometry.array
    assert shapely.is_valid(geoms).all() and not shapely.has_z(geoms).any()
    assert set(areas.geom_type) <= {"Polygon", "MultiPolygon"}
    assert areas.crs.to_epsg() == 4326


@pytest.mark.parametrize("name", sorted(BOUNDARIES))
def test_boundary_file_is_read_or_refused_clearly(name):
    expected = BOUNDARIES[name]
    if isinstance(expected, Refused):
        with pytest.raises(InputFileError) as err:
            read_boundaries(CORPUS / name, kind="precinct")
        assert_clear(err.value, name, expected)
        return
    layer = read_boundaries(CORPUS / name, kind="precinct")
    assert_two_clean_precincts(layer.areas)
    assert_notes(layer.warnings, expected.warnings)


@pytest.mark.parametrize("name", sorted(BOUNDARIES))
def test_boundary_file_ingest_is_refused_or_noted(name, tmp_path, boundary_files):
    expected = BOUNDARIES[name]
    _, wards = boundary_files
    incidents = CORPUS / "incidents_cp1252.csv"  # three good rows: two in West, one in East
    store = tmp_path / "store"
    if isinstance(expected, Refused):
        with pytest.raises(InputFileError) as err:
            ingest(store, [incidents], precincts=CORPUS / name, wards=wards, now=NOW)
        assert_clear(err.value, name, expected)
        assert current_version(store) is None
        return
    report = ingest(store, [incidents], precincts=CORPUS / name, wards=wards, now=NOW)
    accounts_for_every_row(report)
    assert report.totals()["accepted"] == 3
    assert_notes(report.boundary_warnings, expected.warnings)
    snapshot = open_store(store)
    assert_two_clean_precincts(snapshot.precincts)
    # Every incident is joined; a repair may leave a point outside (the bow-tie's centre line).
    precinct = snapshot.incidents.set_index("incident_id")["precinct"].astype(str)
    assert precinct["C2"] == "East" and set(precinct) <= {"East", "West", OUTSIDE}


def test_a_bow_tie_becomes_its_two_triangles():
    areas = read_boundaries(CORPUS / "boundaries_bowtie.geojson", kind="precinct").areas
    west = areas.set_index("name").geometry["West"]
    assert west.geom_type == "MultiPolygon" and len(west.geoms) == 2
    assert west.area == pytest.approx(0.005)  # two triangles, each a quarter of the square


# --- made by the tests: too big to commit ---------------------------------------------------


def test_an_empty_geopackage_layer_of_incidents_is_read_as_nothing(tmp_path, boundary_files):
    path = tmp_path / "incidents_empty_layer.gpkg"
    make_corpus.write_empty_layer(path, boundaries=False)
    precincts, wards = boundary_files
    report = ingest(tmp_path / "store", [path], precincts=precincts, wards=wards, now=NOW)
    accounts_for_every_row(report)
    (file,) = report.files
    assert (file.error, file.read) == (None, 0)
    assert_notes(file.warnings, ("holds no rows",))


def test_an_empty_geopackage_layer_of_boundaries_is_refused(tmp_path):
    path = tmp_path / "boundaries_empty_layer.gpkg"
    make_corpus.write_empty_layer(path, boundaries=True)
    with pytest.raises(InputFileError) as err:
        read_boundaries(path, kind="precinct")
    assert_clear(err.value, path.name, Refused(("holds no precinct boundaries",)))


BIG_INGEST = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    import pandas as pd
    from layers.storage.ingest import ingest

    store, csv, precincts, wards = map(Path, sys.argv[1:])
    started = time.perf_counter()
    report = ingest(store, [csv], precincts=precincts, wards=wards,
                    now=pd.Timestamp("2026-01-01", tz="UTC"))
    (file,) = report.files
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "error": file.error, "read": file.read, "accepted": file.accepted,
        "rejected": file.rejected, "stored": report.total_incidents,
    }))
    """
)


@pytest.mark.timeout(900)
def test_a_100_mb_csv_is_ingested_in_one_run_and_every_row_counted(tmp_path, boundary_files):
    path = tmp_path / "incidents_100mb.csv"
    bad = make_corpus.write_big_csv(path)
    assert 90e6 < path.stat().st_size < 130e6
    precincts, wards = boundary_files
    # A process of its own, so that its peak memory is the ingest's alone.
    done = subprocess.run(
        [sys.executable, "-c", BIG_INGEST, str(tmp_path / "store"), str(path), str(precincts),
         str(wards)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=840,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"100 MB CSV: {result}")
    assert result["error"] is None
    assert result["read"] == 1_000_000
    assert result["accepted"] + sum(result["rejected"].values()) == result["read"]
    assert result["rejected"] == {
        "missing occurred_at": bad // 2,
        "null island: coordinates are (0, 0), a placeholder for a missing location": bad // 2,
    }
    assert result["stored"] == 1_000_000 - bad
    # Measured ~14 s and ~1.2 GB on a 2-core runner: generous bounds that still catch a
    # blow-up (a per-row Python loop, or a copy per column).
    assert result["seconds"] < 300
    assert result["peak_mb"] < 4096
