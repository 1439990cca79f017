"""Tests of the synthetic demo-data generator, on a small set (3,000 incidents)."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import sqlite3
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from layers._errors import InputFileError
from layers.storage.demo import (
    AGENCIES,
    AGENCY_FILES,
    INCIDENT_COLUMNS,
    METRIC_CRS,
    UNKNOWN_CATEGORIES,
    DemoManifest,
    generate_demo,
    load_manifest,
    study_area,
)

TAXONOMY = Path(__file__).resolve().parents[1] / "data" / "collaboration_areas.toml"
N = 3000
MONTHS = 24
END = datetime.date(2026, 10, 31)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return generate_demo(tmp_path_factory.mktemp("demo"), incidents=N, end=END, months=MONTHS)


@pytest.fixture(scope="module")
def rows(demo: DemoManifest) -> pd.DataFrame:
    """Every CSV row of every agency, as text, with the file it came from."""
    frames = [
        pd.read_csv(path, dtype=str, keep_default_na=False).assign(file=path.name)
        for path in demo.incident_paths
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def valid(rows: pd.DataFrame) -> pd.DataFrame:
    """Valid rows, the last of each agency and incident_id, with local times and metric x, y."""
    ok = rows[~rows["description"].str.startswith("SYNTHETIC FAULT")]
    ok = ok.drop_duplicates(["agency", "incident_id"], keep="last").copy()
    ok["local"] = _local_times(ok["occurred_at"])
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    ok["x"], ok["y"] = to_metric.transform(ok["lon"].astype(float), ok["lat"].astype(float))
    return ok


def _local_times(text: pd.Series) -> pd.Series:
    """Africa/Johannesburg wall-clock times; text without an offset is already local."""
    aware = text.str.endswith("Z") | text.str.endswith("+02:00")
    naive = pd.to_datetime(text[~aware], format="ISO8601")
    utc = pd.to_datetime(text[aware], format="ISO8601", utc=True)
    local = utc.dt.tz_convert("Africa/Johannesburg").dt.tz_localize(None)
    return pd.concat([naive.astype("datetime64[s]"), local.astype("datetime64[s]")]).loc[text.index]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _taxonomy() -> dict[str, list[str]]:
    with TAXONOMY.open("rb") as f:
        return {area["name"]: area["categories"] for area in tomllib.load(f)["area"]}


def _metric(path: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(path).to_crs(METRIC_CRS)


# --- determinism and bookkeeping ------------------------------------------------------------


@pytest.mark.parametrize("clock", ["running", "stopped"])
def test_same_seed_writes_byte_identical_files(
    demo: DemoManifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: str
) -> None:
    # The GeoPackage is compared byte for byte too. GDAL stamps it with the clock twice; a
    # stopped clock (GDAL reads OGR_CURRENT_DATE from the environment) makes the two stamps
    # equal, as a write within one millisecond does, which once changed the SQLite header.
    if clock == "stopped":
        monkeypatch.setenv("OGR_CURRENT_DATE", "2001-02-03T04:05:06.789Z")
    again = generate_demo(tmp_path / "again", incidents=N, end=END, months=MONTHS)
    first = {p.name: _sha256(p) for p in demo.out_dir.iterdir()}
    second = {p.name: _sha256(p) for p in again.out_dir.iterdir()}
    assert len(first) == 10
    assert first == second


def test_another_seed_writes_other_data(demo: DemoManifest, tmp_path: Path) -> None:
    other = generate_demo(tmp_path / "other", seed=7, incidents=N, end=END, months=MONTHS)
    for mine, theirs in zip(demo.incident_paths, other.incident_paths, strict=True):
        assert _sha256(mine) != _sha256(theirs)
    assert _sha256(demo.wards_path) != _sha256(other.wards_path)


def test_manifest_json_round_trips(demo: DemoManifest) -> None:
    assert load_manifest(demo.out_dir) == demo
    data = json.loads((demo.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert data["files"]["precincts"] == "precincts.gpkg"  # names, not absolute paths
    assert data["n_incidents"] == N
    assert [h["start"] for h in data["emerging_hotspots"]] == sorted(
        h["start"] for h in data["emerging_hotspots"]
    )


def test_file_names_and_columns(demo: DemoManifest) -> None:
    assert [p.name for p in demo.incident_paths] == list(AGENCY_FILES.values())
    assert demo.precincts_path.name == "precincts.gpkg"
    assert demo.wards_path.name == "wards.geojson"
    for path in demo.incident_paths:
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header.split(",") == list(INCIDENT_COLUMNS)
    assert not [p for p in demo.out_dir.iterdir() if p.name.startswith(".")], "temp file left"


def test_row_counts_add_up(demo: DemoManifest, rows: pd.DataFrame) -> None:
    faulty = rows["description"].str.startswith("SYNTHETIC FAULT")
    keys = rows[["agency", "incident_id"]]
    assert len(rows) == demo.n_incidents + demo.n_faulty + demo.n_updates
    assert faulty.sum() == demo.n_faulty == sum(demo.fault_counts.values())
    assert keys.duplicated().sum() == demo.n_updates > 0
    assert len(keys.drop_duplicates()) == demo.n_incidents + demo.n_faulty
    assert 0.004 <= demo.n_faulty / N <= 0.007


def test_updates_come_later_with_a_newer_status(rows: pd.DataFrame) -> None:
    first = rows.drop_duplicates(["agency", "incident_id"], keep="first")
    updates = rows[rows.duplicated(["agency", "incident_id"], keep="first")]
    merged = updates.reset_index().merge(
        first.reset_index(), on=["agency", "incident_id"], suffixes=("", "_first")
    )
    assert len(merged) == len(updates) > 0
    assert (merged["index"] > merged["index_first"]).all()
    assert (merged["file"] == merged["file_first"]).all()
    assert (merged["status"] != merged["status_first"]).all()
    assert (merged["status_first"] != "closed").all()
    assert (merged["occurred_at"] == merged["occurred_at_first"]).all()


def test_each_fault_kind_is_written_as_described(demo: DemoManifest, rows: pd.DataFrame) -> None:
    faulty = rows[rows["description"].str.startswith("SYNTHETIC FAULT: ")]
    kind = faulty["description"].str.removeprefix("SYNTHETIC FAULT: ")
    assert kind.value_counts().to_dict() == demo.fault_counts
    assert min(demo.fault_counts.values()) >= 1

    def of(what: str) -> pd.DataFrame:
        return faulty[kind == what]

    assert (of("empty lat/lon")[["lat", "lon"]] == "").all().all()
    assert (of("unparseable time")["occurred_at"] == "yesterday").all()
    assert (of("lat/lon swapped")["lat"].astype(float) > 18).all()
    assert (of("null island (0, 0)")[["lat", "lon"]].astype(float) == 0).all().all()
    joburg = of("far away (Johannesburg)")
    assert joburg["lat"].astype(float).between(-26.5, -25.9).all()
    assert joburg["lon"].astype(float).between(27.7, 28.4).all()


def test_load_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="python -m layers demo"):
        load_manifest(tmp_path)


def test_rejects_too_few_incidents(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`incidents`"):
        generate_demo(tmp_path, incidents=10)
    with pytest.raises(ValueError, match="`months`"):
        generate_demo(tmp_path, months=0)
    assert not list(tmp_path.iterdir())


# --- agencies, categories, areas ------------------------------------------------------------


def test_six_agencies_each_in_its_own_file(rows: pd.DataFrame) -> None:
    assert sorted(rows["agency"].unique()) == sorted(AGENCIES)
    for agency, name in AGENCY_FILES.items():
        assert set(rows.loc[rows["file"] == name, "agency"]) == {agency}
    assert rows["incident_id"].str.fullmatch(r"[A-Z]+-\d{6}").all()
    saps = rows.loc[rows["agency"] == "SAPS", "incident_id"]
    assert saps.str.startswith("SAPS-").all()


def test_categories_are_the_taxonomy_plus_a_few_unknown(valid: pd.DataFrame) -> None:
    taxonomy = _taxonomy()
    known = {c for categories in taxonomy.values() for c in categories}
    unknown = ~valid["category"].isin(known)
    assert set(valid.loc[unknown, "category"]) <= set(UNKNOWN_CATEGORIES)
    assert 0.001 <= unknown.mean() <= 0.01
    for area, categories in taxonomy.items():
        assert valid["category"].isin(categories).any(), f"no incidents for {area!r}"


def test_agencies_report_their_own_kind_of_incident(valid: pd.DataFrame) -> None:
    by_agency = valid.groupby("agency")["category"].agg(set)
    assert "Murder" in by_agency["SAPS"]
    assert by_agency["Traffic Services"] <= {
        "Road traffic collision", "Speeding", "Reckless or negligent driving",
        "Driving under the influence", "Unlicensed vehicle or driver",
        "Public transport violation", "Roadblock arrest", "Licence plate recognition hit",
        *UNKNOWN_CATEGORIES,
    }  # fmt: skip
    assert "Murder" not in by_agency["Neighbourhood Watch"]


def test_some_rows_name_their_collaboration_area(valid: pd.DataFrame) -> None:
    named = valid["collaboration_area"] != ""
    assert 0.03 <= named.mean() <= 0.07
    assert set(valid.loc[named, "collaboration_area"]) <= set(_taxonomy())
    assert set(valid.loc[named, "agency"]) <= {"LEAP", "Metro Police"}


# --- boundaries -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["precincts", "wards"])
def test_layer_tiles_the_study_area(demo: DemoManifest, which: str) -> None:
    layer = _metric(demo.precincts_path if which == "precincts" else demo.wards_path)
    area = study_area(crs=METRIC_CRS).area
    union = shapely.union_all(layer.geometry.to_numpy()).area
    assert abs(union - area) / area < 1e-6  # no gaps
    assert abs(layer.area.sum() - union) / union < 1e-6  # no overlaps
    assert shapely.coverage_is_valid(layer.geometry.to_numpy())
    assert layer.is_valid.all()


def test_study_area_is_metro_sized_at_cape_town() -> None:
    assert study_area().is_valid
    minx, miny, maxx, maxy = study_area().bounds
    assert 18.3 <= minx < 18.5 and 18.9 < maxx <= 19.05
    assert -34.3 <= miny < -34.2 and -33.6 < maxy <= -33.5
    assert 2000e6 < study_area(crs=METRIC_CRS).area < 4000e6


def test_precincts_and_wards(demo: DemoManifest) -> None:
    precincts = gpd.read_file(demo.precincts_path, layer="precincts")
    wards = gpd.read_file(demo.wards_path)
    assert 55 <= len(precincts) <= 65
    assert precincts["precinct_name"].is_unique and precincts["station_code"].is_unique
    assert precincts["precinct_name"].str.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)?").all()
    assert wards["ward_name"].tolist() == [str(i) for i in range(1, 117)]
    assert precincts.crs.to_epsg() == wards.crs.to_epsg() == 4326


def test_wards_and_precincts_do_not_nest(demo: DemoManifest) -> None:
    wards = _metric(demo.wards_path)
    wards["ward_area"] = wards.area
    pieces = gpd.overlay(wards, _metric(demo.precincts_path), keep_geom_type=True)
    share = pieces.area / pieces["ward_area"]
    split = pieces[share > 0.05].groupby("ward_name").size()
    assert (split >= 2).sum() / len(wards) >= 0.3


def test_cells_are_smaller_where_incidents_are_dense(
    demo: DemoManifest, valid: pd.DataFrame
) -> None:
    wards = _metric(demo.wards_path)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(valid["x"], valid["y"]), crs=METRIC_CRS)
    counts = gpd.sjoin(points, wards, predicate="within")["index_right"].value_counts()
    density = counts.reindex(wards.index, fill_value=0) / wards.area
    dense = density >= density.quantile(0.75)
    assert wards.area[dense].median() < 0.7 * wards.area[~dense].median()


# --- incidents: where and when --------------------------------------------------------------


def test_valid_points_fall_inside_the_study_area(demo: DemoManifest, valid: pd.DataFrame) -> None:
    inside = shapely.contains_xy(
        study_area(), valid["lon"].astype(float), valid["lat"].astype(float)
    )
    assert inside.all()
    assert valid["lat"].str.fullmatch(r"-\d+\.\d{6}").all()
    wards = gpd.read_file(demo.wards_path)
    points = gpd.points_from_xy(valid["lon"].astype(float), valid["lat"].astype(float))
    joined = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs=4326), wards, predicate="within")
    assert len(joined) == len(valid)  # each point in exactly one ward


def test_incidents_cluster(valid: pd.DataFrame) -> None:
    # On a 1 km grid, the busiest 2 % of the study area's cells hold about half the incidents;
    # spread uniformly they would hold about 2 %.
    cells = (valid["x"] // 1000).astype(int) * 1_000_000 + (valid["y"] // 1000).astype(int)
    busiest = round(study_area(crs=METRIC_CRS).area / 1e6 * 0.02)
    assert cells.value_counts().iloc[:busiest].sum() / len(valid) > 0.3


def test_times_span_the_months(demo: DemoManifest, valid: pd.DataFrame) -> None:
    local = valid["local"]
    assert demo.start == datetime.date(2024, 11, 1) and demo.end == END
    assert local.min() >= pd.Timestamp(demo.start)
    assert local.max() < pd.Timestamp(demo.end + datetime.timedelta(days=1))
    months = local.dt.to_period("M")
    assert months.nunique() == MONTHS
    assert months.value_counts().min() >= 0.5 * len(valid) / MONTHS


def test_times_are_iso_8601_mostly_naive(valid: pd.DataFrame) -> None:
    text = valid["occurred_at"]
    iso = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\+02:00)?"
    assert text.str.fullmatch(iso).all() and valid["reported_at"].str.fullmatch(iso).all()
    aware = ~text.str.fullmatch(r"[\d\-T:]+")
    assert 0.06 <= aware.mean() <= 0.14
    assert text.str.endswith("Z").any() and text.str.endswith("+02:00").any()
    reported = _local_times(valid["reported_at"])
    assert (reported > valid["local"]).all()


def test_daily_and_weekly_rhythms(valid: pd.DataFrame) -> None:
    hour = valid["local"].dt.hour
    traffic = valid["category"].isin(["Speeding", "Road traffic collision"])
    rush = hour.isin([7, 8, 16, 17])
    small_hours = hour.isin([2, 3, 4, 5])
    assert (traffic & rush).sum() > 4 * (traffic & small_hours).sum()
    assault = valid["category"].isin(
        ["Common assault", "Assault with intent to inflict grievous bodily harm"]
    )
    weekend = valid["local"].dt.day_of_week >= 5
    # Two weekend days against five weekdays: per day, weekends are busier for assault.
    assert (assault & weekend).sum() / 2 > 1.4 * (assault & ~weekend).sum() / 5


def test_emerging_hotspots_start_quiet_then_grow(demo: DemoManifest, valid: pd.DataFrame) -> None:
    assert len(demo.emerging_hotspots) == 3
    to_metric = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
    for hotspot in demo.emerging_hotspots:
        assert 400 <= hotspot["radius_m"] <= 700
        x, y = to_metric.transform(hotspot["lon"], hotspot["lat"])
        near = np.hypot(valid["x"] - x, valid["y"] - y) <= hotspot["radius_m"]
        started = pd.Timestamp(hotspot["start"])
        middle = started + (valid["local"].max() - started) / 2
        before = near & (valid["local"] < started)
        early = near & (valid["local"] >= started) & (valid["local"] < middle)
        late = near & (valid["local"] >= middle)
        assert before.sum() == 0, hotspot["name"]
        assert (early | late).sum() >= 20, hotspot["name"]
        assert late.sum() > early.sum(), hotspot["name"]
    fractions = [
        (h["start"] - demo.start).days / (demo.end - demo.start).days
        for h in demo.emerging_hotspots
    ]
    assert fractions == pytest.approx([0.40, 0.55, 0.70], abs=0.01)


# --- labelling ------------------------------------------------------------------------------


def test_every_file_says_synthetic(demo: DemoManifest, rows: pd.DataFrame) -> None:
    assert rows["description"].str.startswith("SYNTHETIC").all()
    assert (gpd.read_file(demo.precincts_path)["synthetic"] == "yes").all()
    with sqlite3.connect(demo.precincts_path) as db:
        (description,) = db.execute("SELECT description FROM gpkg_contents").fetchone()
    assert description.startswith("SYNTHETIC")
    wards = json.loads(demo.wards_path.read_text(encoding="utf-8"))
    assert wards["name"].startswith("SYNTHETIC")
    assert all(f["properties"]["synthetic"] == "yes" for f in wards["features"])
    manifest = json.loads((demo.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["synthetic"] is True
    notice = (demo.out_dir / "SYNTHETIC_DATA.txt").read_text(encoding="utf-8")
    assert notice.startswith("SYNTHETIC DEMO DATA - NOT REAL INCIDENTS")
    assert "python -m layers demo" in notice
    assert re.search(rf"seed\s+{demo.seed}\b", notice)
