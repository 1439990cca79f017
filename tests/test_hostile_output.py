"""Hostile text in incident data never becomes a formula in a spreadsheet or markup in a map.

Values written as spreadsheet formulas or HTML go through the real export and map functions
and the files and pages are read back: CSV cells that would run come back with a leading
apostrophe (numbers stay numbers), map text comes back escaped.
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from datetime import date
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from conftest import write_csv
from shapely.geometry import box

from layers.analysis import compstat, evaluate
from layers.analysis.study import HotspotParams, run_hotspots
from layers.cli import main
from layers.dictionary import dictionary_path, headers
from layers.maps.export import export_incidents
from layers.maps.hotspot_export import export_hotspots, hotspot_provenance, provenance_block
from layers.maps.view import prepare_map
from layers.maps.webmap import build_map, heat_layer, hotspot_layer, live_base_map, map_layers
from layers.settings import METRIC_CRS
from layers.spreadsheet import neutralise_formulas
from layers.storage.columnar import IncidentColumns
from layers.storage.filters import IncidentFilter
from layers.storage.ingest import ingest
from layers.storage.store import open_store

FORMULAS = ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
MARKUP = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>')
HOSTILE = FORMULAS + MARKUP
RISKY_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("incident_id", "agency", "category", "collaboration_area", "status",
                "description", "precinct", "ward", "source_file")  # fmt: skip

# Boundaries of the hostile store: four precinct strips and two wards across the fixture box.
PRECINCTS = (FORMULAS[0], MARKUP[0], FORMULAS[1], MARKUP[1])
WARDS = (FORMULAS[3], MARKUP[2])
AGENCIES = ("SAPS", FORMULAS[2], MARKUP[0], FORMULAS[0])
CATEGORIES = (FORMULAS[3], MARKUP[1], "Burglary", FORMULAS[1])


def safe(value: str) -> str:
    """What a text cell must read as in a CSV written for a spreadsheet."""
    return "'" + value if value.startswith(RISKY_START) else value


def read_csv_rows(source: Path | str) -> list[dict[str, str]]:
    if isinstance(source, Path):
        with open(source, encoding="utf-8", newline="") as handle:  # keep a CR in a cell
            return list(csv.DictReader(handle))
    return list(csv.DictReader(io.StringIO(source, newline="")))


def assert_no_formula_cells(rows: list[dict[str, str]]) -> None:
    """Every cell a spreadsheet would run is a plain number, never a formula."""
    for row in rows:
        for column, cell in row.items():
            if cell and cell.startswith(RISKY_START):
                try:
                    float(cell)
                except ValueError:
                    pytest.fail(f"{column} cell {cell!r} would run as a formula")


# --- fixtures ------------------------------------------------------------------------------


def hostile_incidents() -> gpd.GeoDataFrame:
    """Stored-shape incidents (categories, string columns) with hostile text in every column,
    and negative coordinates."""
    n = len(HOSTILE)
    lon = np.linspace(18.01, 18.19, n)
    lat = np.linspace(-33.99, -33.91, n)
    rotated = HOSTILE[3:] + HOSTILE[:3]
    return gpd.GeoDataFrame(
        {
            "incident_id": pd.array(HOSTILE, dtype="string"),
            "agency": pd.Categorical(HOSTILE),
            "category": pd.Categorical(HOSTILE[::-1]),
            "collaboration_area": pd.Categorical(rotated),
            "occurred_at": pd.date_range("2025-01-01", periods=n, freq="D", tz="UTC"),
            "reported_at": pd.date_range("2025-01-02", periods=n, freq="D", tz="UTC"),
            "status": pd.array(rotated, dtype="string"),
            "description": pd.array(HOSTILE, dtype="string"),
            "lon": lon,
            "lat": lat,
            "precinct": pd.Categorical(HOSTILE),
            "ward": pd.Categorical(rotated),
            "source_file": pd.Categorical(["-extract.csv"] * n),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory) -> Path:
    """A store ingested from files whose boundary names, agencies, categories, descriptions
    and statuses are formulas and markup: 600 incidents, clustered so hotspots exist."""
    folder = tmp_path_factory.mktemp("hostile")
    strips = [box(18.0 + 0.05 * i, -34.0, 18.05 + 0.05 * i, -33.9) for i in range(4)]
    gpd.GeoDataFrame({"precinct_name": list(PRECINCTS)}, geometry=strips, crs=4326).to_file(
        folder / "precincts.geojson"
    )
    halves = [box(18.0, -34.0, 18.2, -33.95), box(18.0, -33.95, 18.2, -33.9)]
    gpd.GeoDataFrame({"ward_name": list(WARDS)}, geometry=halves, crs=4326).to_file(
        folder / "wards.gpkg", layer="wards"
    )
    rng = np.random.default_rng(6)
    n = 600
    cluster = np.arange(n) < 250
    lon = np.where(cluster, rng.normal(18.075, 0.004, n), rng.uniform(18.005, 18.195, n))
    lat = np.where(cluster, rng.normal(-33.96, 0.004, n), rng.uniform(-33.995, -33.905, n))
    seconds = rng.uniform(0, 180 * 86400, n)
    rows = pd.DataFrame(
        {
            "incident_id": [f"H{i}" for i in range(n)],
            "agency": [AGENCIES[i % 4] for i in range(n)],
            "category": [CATEGORIES[i % 4] for i in range(n)],
            "occurred_at": (pd.Timestamp("2025-01-01") + pd.to_timedelta(seconds, unit="s"))
            .strftime("%Y-%m-%dT%H:%M:%S")
            .tolist(),
            "lat": lat.round(6).astype(str),
            "lon": lon.round(6).astype(str),
            "description": [HOSTILE[i % len(HOSTILE)] for i in range(n)],
            "status": [HOSTILE[(i + 1) % len(HOSTILE)] for i in range(n)],
        }
    )
    ingest(folder / "store", [write_csv(folder / "hostile.csv", rows)],
           precincts=folder / "precincts.geojson", wards=folder / "wards.gpkg",
           now=pd.Timestamp("2026-01-01", tz="UTC"))  # fmt: skip
    return folder / "store"


@pytest.fixture(scope="module")
def gistar(hostile_store):
    snapshot = open_store(hostile_store)
    params = HotspotParams(method="gistar", cell_m=1000, shape="square")
    return run_hotspots(snapshot, IncidentFilter(), params)


# --- CSV and spreadsheet-readable exports ----------------------------------------------------


def test_the_hostile_store_holds_the_hostile_text(hostile_store):
    incidents = open_store(hostile_store).incidents
    assert set(incidents["precinct"].astype(str)) <= set(PRECINCTS) | {"Outside boundaries"}
    assert set(AGENCIES) <= set(incidents["agency"].astype(str))
    assert set(CATEGORIES) <= set(incidents["category"].astype(str))
    assert set(MARKUP) <= set(incidents["description"].astype(str))


def test_incident_csv_neutralises_every_text_column_and_keeps_numbers(tmp_path):
    incidents = hostile_incidents()
    rows = read_csv_rows(export_incidents(incidents, tmp_path / "out.csv"))
    assert len(rows) == len(incidents)
    for column in TEXT_COLUMNS:
        expected = [safe(str(v)) for v in incidents[column]]
        assert [r[column] for r in rows] == expected, column
    assert [float(r["lat"]) for r in rows] == pytest.approx(incidents["lat"].tolist())
    assert all(r["lat"].startswith("-3") for r in rows)  # a number, not "'-33.9"
    assert_no_formula_cells(rows)


@pytest.mark.parametrize("suffix", ["gpkg", "geojson", "parquet"])
def test_typed_gis_formats_keep_text_exactly(tmp_path, suffix):
    # Decided: only CSV is opened as a spreadsheet. GIS tools and programs read these typed
    # formats and never evaluate their text; a changed name would no longer join.
    incidents = hostile_incidents()
    out = export_incidents(incidents, tmp_path / f"out.{suffix}")
    back = pd.read_parquet(out) if suffix == "parquet" else pyogrio.read_dataframe(out)
    for column in TEXT_COLUMNS:
        assert back[column].astype(str).tolist() == incidents[column].astype(str).tolist()


def test_cli_export_of_a_hostile_store_is_neutralised(hostile_store, tmp_path):
    out = tmp_path / "cli.csv"
    assert main(["export", "--store", str(hostile_store), "--out", str(out)]) == 0
    rows = read_csv_rows(out)
    assert_no_formula_cells(rows)
    assert {r["agency"] for r in rows} == {safe(a) for a in AGENCIES}
    assert safe(FORMULAS[0]) in {r["precinct"] for r in rows}


@pytest.mark.parametrize("by", list(compstat.TOTAL_LABELS))
def test_compstat_csv_neutralises_area_agency_and_collaboration_names(by):
    n = len(HOSTILE)
    frame = pd.DataFrame(
        {
            "agency": list(HOSTILE), "collaboration_area": list(HOSTILE[::-1]),
            "category": ["c"] * n, "precinct": list(HOSTILE), "ward": list(HOSTILE[::-1]),
            "occurred_at": pd.date_range("2026-11-01 08:00", periods=n, freq="7h", tz="UTC"),
            "lon": [18.4] * n, "lat": [-33.9] * n,
        }
    )  # fmt: skip
    table = compstat.compare_periods(
        IncidentColumns.from_frame(frame), None, by=by, today=date(2026, 11, 7)
    )
    rows = read_csv_rows(compstat.to_csv(table))
    first = headers("compstat")[by]  # "Precinct", "Ward", ...
    assert {r[first] for r in rows} == {safe(v) for v in HOSTILE} | {compstat.TOTAL_LABELS[by]}
    assert [int(r["Change (7 days)"]) for r in rows] == table["week_change"].tolist()
    assert_no_formula_cells(rows)


def test_hotspot_shapefile_neutralises_area_names_and_keeps_numbers(tmp_path):
    n = len(HOSTILE)
    cells = gpd.GeoDataFrame(
        {
            "cell_id": range(n), "count": range(n), "gi_z": -np.linspace(0.5, 3.0, n),
            "gi_bin": [-3] * n, "precinct": pd.Categorical(HOSTILE), "ward": list(HOSTILE),
        },
        geometry=[box(270_000 + i * 250, 6_240_000, 270_250 + i * 250, 6_240_250)
                  for i in range(n)],
        crs=METRIC_CRS,
    )  # fmt: skip
    block = provenance_block(
        method="gistar", parameters={"cell_m": 250}, filters=f"category={FORMULAS[0]}",
        period="2025", data_source="test", store_version=None,
    )  # fmt: skip
    out = export_hotspots(cells, tmp_path / "hot.zip", provenance=block)
    dbf = pyogrio.read_dataframe(f"/vsizip/{out}/hot.shp")
    assert dbf["PRECINCT"].tolist() == [safe(v) for v in HOSTILE]
    assert dbf["WARD"].tolist() == [safe(v) for v in HOSTILE]
    assert dbf["GI_Z"].tolist() == pytest.approx(cells["gi_z"].tolist())  # negative numbers
    assert (dbf["GI_BIN"] == -3).all()
    with zipfile.ZipFile(out) as archive:
        assert "leading '" in archive.read("hot_provenance.txt").decode("utf-8")
    for suffix in ("gpkg", "geojson"):  # typed formats: exact, as for incidents
        out = export_hotspots(cells, tmp_path / f"hot.{suffix}", provenance=block)
        back = pyogrio.read_dataframe(out, layer="hotspots")
        assert back["precinct"].tolist() == list(HOSTILE)


def test_real_hotspot_run_on_hostile_areas_exports_neutral_names(gistar, hostile_store, tmp_path):
    snapshot = open_store(hostile_store)
    provenance = hotspot_provenance(gistar, snapshot, IncidentFilter())
    out = export_hotspots(gistar.layer, tmp_path / "gistar.zip", provenance=provenance)
    dbf = pyogrio.read_dataframe(f"/vsizip/{out}/gistar.shp")
    assert len(dbf) == len(gistar.layer) > 0
    assert set(dbf["PRECINCT"]) & {safe(FORMULAS[0]), safe(FORMULAS[1])}
    for column in ("PRECINCT", "WARD"):
        assert not dbf[column].str.startswith(RISKY_START).any()
    assert (dbf["GI_Z"] < 0).any()  # negative z-scores are still numbers


def test_evaluation_csv_neutralises_text_and_keeps_figures(hostile_store, monkeypatch):
    hostile = (FORMULAS[0], FORMULAS[4], FORMULAS[5], FORMULAS[2])  # "\t=1", "\r=1" too
    labels = dict(zip(evaluate.METHOD_LABELS, hostile, strict=True))
    monkeypatch.setattr(evaluate, "METHOD_LABELS", labels)
    table = evaluate.evaluate_hotspots(
        open_store(hostile_store), IncidentFilter(), split=date(2025, 5, 1),
        params=HotspotParams(cell_m=1000, shape="square"),
    )  # fmt: skip
    rows = read_csv_rows(evaluate.to_csv(table))
    assert [r["Method"] for r in rows] == [safe(v) for v in table["method"]]
    assert {r["Method"] for r in rows} == {safe(v) for v in hostile}
    readable = evaluate.readable_table(table)
    figures = [c for c in readable.columns if c not in ("Method", "Note")]
    for column in figures:
        assert [float(r[column]) if r[column] else np.nan for r in rows] == pytest.approx(
            readable[column].astype(float).tolist(), nan_ok=True
        )
    assert_no_formula_cells(rows)


def test_keep_numbers_leaves_number_text_for_rejected_rows():
    # Rejected rows are kept as the text they were read as: a coordinate must stay a number
    # a spreadsheet (or a second ingest) reads, while a formula is still neutralised.
    raw = pd.DataFrame({"lat": ["-33.97", "+1+1"], "lon": ["18.05", "-2+3"],
                        "agency": ["@SUM(A1)", "-12"]})  # fmt: skip
    out = neutralise_formulas(raw, keep_numbers=True)
    assert out["lat"].tolist() == ["-33.97", "'+1+1"]
    assert out["lon"].tolist() == ["18.05", "'-2+3"]
    assert out["agency"].tolist() == ["'@SUM(A1)", "-12"]
    assert neutralise_formulas(raw)["lat"].tolist() == ["'-33.97", "'+1+1"]


def test_neutralise_goes_cell_by_cell_in_mixed_columns():
    mixed = pd.Series(["=1", -5, 2.5, None], index=[7, 7, 3, 3], dtype=object)
    frame = pd.DataFrame({"mixed": mixed})
    out = neutralise_formulas(frame)
    assert out["mixed"].tolist()[:3] == ["'=1", -5, 2.5]  # numbers stay numbers
    assert out.index.tolist() == [7, 7, 3, 3]
    assert frame["mixed"].iloc[0] == "=1"  # input untouched


def test_rejects_csv_is_neutralised(tmp_path, boundary_files):
    p, w = boundary_files
    rows = pd.DataFrame({"incident_id": list(FORMULAS[:4]), "agency": ["SAPS"] * 4,
                         "category": list(FORMULAS[:4]), "occurred_at": ["not a time"] * 4,
                         "lat": ["-33.97"] * 4, "lon": ["18.05"] * 4,
                         FORMULAS[0]: ["x"] * 4, FORMULAS[2]: ["y"] * 4})  # fmt: skip
    report = ingest(tmp_path / "store", [write_csv(tmp_path / "bad.csv", rows)], precincts=p,
                    wards=w, now=pd.Timestamp("2026-01-01", tz="UTC"))  # fmt: skip
    rejects = read_csv_rows(Path(report.files[0].rejects_file))
    assert len(rejects) == 4 and {r["lat"] for r in rejects} == {"-33.97"}
    assert_no_formula_cells(rejects)
    # the source file's own column names are kept, neutralised in the header too
    assert {safe(FORMULAS[0]), safe(FORMULAS[2])} <= set(rejects[0])
    assert not any(h.startswith(RISKY_START) for h in rejects[0])
    described = read_csv_rows(dictionary_path(report.files[0].rejects_file))
    assert [d["Column"] for d in described] == list(rejects[0])
    assert_no_formula_cells(described)


def test_cli_evaluation_csv_is_neutralised(hostile_store, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "METHOD_LABELS", dict.fromkeys(evaluate.METHOD_LABELS, "=1+1"))
    out = tmp_path / "eval.csv"
    code = main(["evaluate", "--store", str(hostile_store), "--split", "2025-05-01",
                 "--cell-m", "1000", "--csv", str(out)])  # fmt: skip
    assert code == 0
    assert_no_formula_cells(read_csv_rows(out))
    assert_no_formula_cells(read_csv_rows(dictionary_path(out)))


# --- markup in maps --------------------------------------------------------------------------


def runtime_text(page: str) -> str:
    """The page with JSON string escapes undone: the text the scripts hand to innerHTML."""
    for escaped, raw in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&"),
                         ("\\u0027", "'"), ('\\"', '"')):  # fmt: skip
        page = page.replace(escaped, raw)
    return page


def assert_inert(page: str, shown: tuple[str, ...] = MARKUP) -> None:
    """No hostile tag in the page, in its markup or in any string a script inserts; the
    ``shown`` values are there, escaped, so they were not simply dropped."""
    text = runtime_text(page)
    for value in MARKUP:
        assert value not in page and value not in text, value
    for tag in ("<script>alert", "<img src=x", "<svg onload"):
        assert tag not in text
    for value in shown:
        assert html.escape(value) in text, value


def assert_geojson_text_escaped(element) -> int:
    """Every text property of every GeoJSON layer under ``element`` is escaped (tooltips put
    properties into the page with innerHTML). Returns how many text properties were seen."""
    seen = 0
    for child in element._children.values():
        if isinstance(child, folium.GeoJson):
            for feature in child.data["features"]:
                for key, value in feature["properties"].items():
                    if isinstance(value, str):
                        seen += 1
                        assert not set(value) & set('<>"'), (key, value)
        seen += assert_geojson_text_escaped(child)
    return seen


def render_in_map(groups) -> str:
    m = folium.Map(tiles=None)
    for group in groups:
        group.add_to(m)
    folium.LayerControl().add_to(m)
    return m.get_root().render()


def test_cli_map_of_a_hostile_store_escapes_names_and_filter_values(hostile_store, tmp_path):
    out = tmp_path / "map.html"
    for boundary, style in (("precinct", "choropleth"), ("ward", "outline")):
        code = main(["map", "--store", str(hostile_store), "--out", str(out),
                     "--boundary", boundary, "--style", style, "--agency", MARKUP[0],
                     "--category", MARKUP[1]])  # fmt: skip
        assert code == 0
        names = PRECINCTS if boundary == "precinct" else WARDS
        assert_inert(out.read_text(encoding="utf-8"),
                     shown=tuple(n for n in names if n in MARKUP) + MARKUP[:2])  # fmt: skip


def test_build_map_escapes_areas_title_heat_and_hotspots(hostile_store, gistar):
    snapshot = open_store(hostile_store)
    flt = IncidentFilter(agencies=(MARKUP[0],), categories=(MARKUP[1],), areas=(MARKUP[2],))
    data = prepare_map(snapshot, IncidentFilter(), boundary="precinct")
    m = build_map(data.areas, data.heat, area_label=MARKUP[2], style="choropleth",
                  title=f"{data.incidents:,} incidents: {flt.describe()}", synthetic=True,
                  hotspots=gistar.layer, hotspot_method="gistar", tiles=None)  # fmt: skip
    assert_inert(m.get_root().render())
    assert assert_geojson_text_escaped(m) >= len(PRECINCTS)


def test_dashboard_layers_escape_names_and_reach_st_folium_escaped(
    hostile_store, gistar, monkeypatch
):
    snapshot = open_store(hostile_store)
    data = prepare_map(snapshot, IncidentFilter(), boundary="ward")
    recent = pd.DataFrame({"lat": [-33.96], "lon": [18.07], "weight": [2.0]})
    groups = map_layers(data.areas, data.heat, area_label="Ward", style="outline",
                        zoom=data.zoom, heat_scale=data.heat_scale, hotspots=gistar.layer,
                        hotspot_method="gistar", recent=recent)  # fmt: skip
    assert_inert(render_in_map(groups), shown=(MARKUP[2],))
    assert sum(assert_geojson_text_escaped(g) for g in groups) >= len(WARDS)
    base = live_base_map(snapshot.precincts, tiles=None, synthetic=snapshot.synthetic)
    assert_inert(base.get_root().render(), shown=())

    streamlit_folium = pytest.importorskip("streamlit_folium")
    sent: dict = {}
    monkeypatch.setattr(streamlit_folium, "_component_func", lambda **kw: sent.update(kw))
    streamlit_folium.st_folium(
        base, feature_group_to_add=groups, layer_control=folium.LayerControl(), returned_objects=[]
    )
    assert_inert(sent["feature_group"] + sent["script"] + sent["header"], shown=(MARKUP[2],))


def test_hotspot_layers_escape_categories_and_legends():
    n = 4
    cells = gpd.GeoDataFrame(
        {
            "category": [MARKUP[0], "New Hot Spot", MARKUP[2], "persistent cold spot"],
            "count": [3, 9, 1, 0], "trend_z": [-1.5, 2.0, 0.1, -2.2],
            "trend_p": [0.1, 0.01, 0.9, 0.02], "hot_steps": [1, 5, 0, 0],
        },
        geometry=[box(270_000 + i * 250, 6_240_000, 270_250 + i * 250, 6_240_250)
                  for i in range(n)],
        crs=METRIC_CRS,
    )  # fmt: skip
    group = hotspot_layer(cells, method="emerging")
    page = render_in_map([group])
    assert_inert(page, shown=())
    assert "New Hot Spot" in page  # the known categories are drawn
    groups = map_layers(gpd.GeoDataFrame({"name": [MARKUP[1]], "count": [1]},
                                         geometry=[box(18.0, -34.0, 18.1, -33.9)], crs=4326),
                        None, area_label=MARKUP[0], zoom=11, hotspots=cells,
                        hotspot_method="emerging")  # fmt: skip
    assert_inert(render_in_map(groups), shown=(MARKUP[0], MARKUP[1]))


def test_heat_layer_name_is_escaped_in_the_layer_control():
    heat = pd.DataFrame({"lat": [-33.96], "lon": [18.07], "weight": [1.0]})
    page = render_in_map([heat_layer(heat, max_zoom=12, name=MARKUP[1])])
    assert_inert(page, shown=(MARKUP[1],))
