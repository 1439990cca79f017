"""Hotspot runs and predictive accuracy on planted data, where the right ranking is known."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest
from conftest import write_csv

from layers.analysis.evaluate import METHOD_LABELS, evaluate_hotspots, to_csv
from layers.analysis.hotspots import HotspotError
from layers.analysis.study import HotspotParams, run_hotspots
from layers.cli import main
from layers.dictionary import dictionary_csv
from layers.storage.filters import IncidentFilter
from layers.storage.ingest import ingest
from layers.storage.store import open_store

# Three planted clusters in the two fixture precincts (18.0-18.2 E, -34.0 to -33.9 S):
# S is hot throughout, O only early on (before the previous period), N only lately.
CLUSTERS = {"S": (18.05, -33.93), "O": (18.15, -33.97), "N": (18.07, -33.97)}


def _incidents(rng: np.random.Generator) -> pd.DataFrame:
    def burst(name: str, n: int, start: str, end: str) -> pd.DataFrame:
        lon, lat = CLUSTERS[name]
        times = pd.to_datetime(rng.uniform(pd.Timestamp(start).value, pd.Timestamp(end).value, n))
        return pd.DataFrame({
            "lon": lon + rng.normal(0, 0.0008, n), "lat": lat + rng.normal(0, 0.0008, n),
            "occurred_at": times,
        })  # fmt: skip

    def background(n: int, start: str, end: str) -> pd.DataFrame:
        times = pd.to_datetime(rng.uniform(pd.Timestamp(start).value, pd.Timestamp(end).value, n))
        return pd.DataFrame({"lon": rng.uniform(18.0, 18.2, n), "lat": rng.uniform(-34.0, -33.9, n),
                             "occurred_at": times})  # fmt: skip

    parts = [
        burst("S", 120, "2025-01-01", "2025-06-30"), burst("S", 40, "2025-07-01", "2025-08-31"),
        burst("O", 200, "2025-01-01", "2025-03-31"),
        burst("N", 60, "2025-05-01", "2025-06-30"), burst("N", 60, "2025-07-01", "2025-08-31"),
        background(900, "2025-01-01", "2025-06-30"), background(300, "2025-07-01", "2025-08-31"),
    ]  # fmt: skip
    rows = pd.concat(parts, ignore_index=True)
    rows["incident_id"] = [f"P{i}" for i in range(len(rows))]
    rows["agency"] = "SAPS"
    rows["category"] = "Common robbery"
    rows["occurred_at"] = rows["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory, request):
    folder = tmp_path_factory.mktemp("planted")
    import geopandas as gpd
    from shapely.geometry import box

    squares = [box(18.1, -34.0, 18.2, -33.9), box(18.0, -34.0, 18.1, -33.9)]
    areas = gpd.GeoDataFrame({"name": ["East", "West"]}, geometry=squares, crs="EPSG:4326")
    areas.to_file(folder / "precincts.geojson")
    areas.to_file(folder / "wards.geojson")
    csv = write_csv(folder / "planted.csv", _incidents(np.random.default_rng(7)))
    ingest(folder / "store", [csv], precincts=folder / "precincts.geojson",
           wards=folder / "wards.geojson", now=pd.Timestamp("2026-01-01", tz="UTC"))  # fmt: skip
    return open_store(folder / "store")


PARAMS = HotspotParams(cell_m=400)


def test_evaluate_ranks_the_methods_as_planted(planted):
    table = evaluate_hotspots(planted, IncidentFilter(), split=date(2025, 7, 1), area_share=0.003,
                              params=PARAMS).set_index("method")  # fmt: skip
    assert list(table.index) == [METHOD_LABELS[m] for m in
                                 ("gistar", "kde", "top_cells", "previous_period")]  # fmt: skip
    hit = table["hit_rate"].rename(index={v: k for k, v in METHOD_LABELS.items()})
    rri = table["rri"].rename(index={v: k for k, v in METHOD_LABELS.items()})
    # O, the biggest cluster before the split, is gone after it. Fitted on everything before,
    # Gi* (whose z smooths over neighbours) spends the small area around O; the all-time top
    # cells hold O and S; only the previous period knows N, which carries on.
    assert hit["previous_period"] > hit["top_cells"] > hit["gistar"]
    assert rri["top_cells"] < 1 < rri["previous_period"]
    assert (table["pai"].iloc[2:] > 10).all()
    assert np.allclose(table["pai"], table["hit_rate"] / table["area_share"], rtol=0.01)
    assert (table["area_share"] <= 0.0031).all()
    assert (table["incidents_after"] == 400).all() and (table["incidents_before"] == 1280).all()


def test_split_outside_the_data_says_which_dates_work(planted):
    with pytest.raises(HotspotError, match="choose a date between 2025-01-01"):
        evaluate_hotspots(planted, IncidentFilter(), split=date(2030, 1, 1), params=PARAMS)


@pytest.mark.parametrize("method", ["gistar", "kde", "emerging"])
def test_run_hotspots_names_areas_and_accounts_for_incidents(planted, method):
    result = run_hotspots(planted, IncidentFilter(),
                          HotspotParams(method=method, cell_m=400, freq="W"))  # fmt: skip
    assert {"precinct", "ward"} <= set(result.layer.columns)
    assert result.layer.crs.to_epsg() == 32734
    by_precinct = result.by_area[result.by_area["level"] == "precinct"]
    assert by_precinct["incidents"].sum() == result.incidents == 1680
    assert (by_precinct["in_hotspots"] <= by_precinct["incidents"]).all()
    assert by_precinct["in_hotspots"].sum() > 0
    assert 0 < by_precinct["hot_cells"].sum() <= len(result.layer)
    assert result.explanation


def test_gistar_finds_the_planted_clusters_as_99_percent_hot(planted):
    result = run_hotspots(planted, IncidentFilter(), HotspotParams(cell_m=400))
    hot = result.layer[result.layer["gi_bin"] == 3]
    for lon, lat in CLUSTERS.values():
        import shapely

        from layers.analysis.grid import to_metric

        x, y = to_metric(np.array([lon]), np.array([lat]))
        assert hot.geometry.distance(shapely.Point(x[0], y[0])).min() < 400


def test_no_matching_incidents_is_a_clear_error(planted):
    with pytest.raises(HotspotError, match="No incidents match"):
        run_hotspots(planted, IncidentFilter(agencies=("Nobody",)), HotspotParams())


def test_cells_tied_at_the_cut_off_share_the_area_whatever_their_order():
    from layers.analysis.evaluate import _top_area

    score = np.array([5.0, 3.0, 3.0, 3.0, 0.0, 0.0])
    area = np.ones(6)
    weight = _top_area(score, area, 2 / 6, positive_only=True)
    assert np.allclose(weight, [1, 1 / 3, 1 / 3, 1 / 3, 0, 0])
    order = np.array([3, 5, 0, 4, 2, 1])
    assert np.allclose(_top_area(score[order], area, 2 / 6, positive_only=True), weight[order])
    # cells without incidents are never hotspots, so the area may fall short of the share
    assert np.isclose(_top_area(score, area, 0.9, positive_only=True) @ area, 4)


def test_a_method_that_cannot_run_leaves_a_note_and_the_others_are_scored(planted):
    few = IncidentFilter(since=date(2025, 6, 29), until=date(2025, 7, 2))
    table = evaluate_hotspots(planted, few, split=date(2025, 7, 1), area_share=0.003,
                              params=PARAMS).set_index("method")  # fmt: skip
    assert "at least 30 cells" in table.loc[METHOD_LABELS["gistar"], "note"]
    assert table.loc[METHOD_LABELS["top_cells"], "incidents_after"] > 0
    assert table.columns[-1] == "note"
    # the method that could not run still says how many incidents there were, and no figure
    gistar = table.loc[METHOD_LABELS["gistar"]]
    assert gistar["incidents_after"] == table.loc[METHOD_LABELS["top_cells"], "incidents_after"]
    assert pd.isna(gistar["hits"]) and pd.isna(gistar["pai"])
    rows = read_rows(to_csv(table.reset_index()))
    assert "at least 30 cells" in rows[0]["Note"] and rows[0]["PAI"] == ""
    assert rows[0]["Incidents after split in hotspots"] == ""
    assert rows[0]["Incidents after split"] == str(gistar["incidents_after"])
    assert all(r["Note"] == "" for r in rows[2:])  # the baselines ran


def read_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_evaluation_csv_is_for_people_with_whole_incident_counts(planted):
    table = evaluate_hotspots(planted, IncidentFilter(), split=date(2025, 7, 1), area_share=0.03,
                              params=PARAMS)  # fmt: skip
    rows = read_rows(to_csv(table))
    header = list(rows[0])
    assert header == [
        "Method", "Area covered (%)", "Hit rate (%)", "PAI", "RRI",
        "Incidents after split in hotspots", "Incidents after split", "Incidents before split",
        "Note",
    ]  # fmt: skip
    counts = ["Incidents after split in hotspots", "Incidents after split",
              "Incidents before split"]  # fmt: skip
    assert all(re.fullmatch(r"\d+", r[c]) for r in rows for c in counts), rows  # not 1862.7
    # The cell at the cut-off is taken in part, so the exact count behind the hit rate is
    # fractional: the whole count is it rounded, never more than half an incident off.
    for r in rows:
        exact = float(r["Hit rate (%)"]) / 100 * int(r["Incidents after split"])
        assert abs(int(r["Incidents after split in hotspots"]) - exact) <= 0.5 + 0.0001 * 400
        assert float(r["Area covered (%)"]) == pytest.approx(3.0, abs=0.05)
    assert (table["hit_rate"] * table["incidents_after"] % 1 != 0).any()
    assert pd.api.types.is_integer_dtype(table["hits"])  # the table on the page, too
    described = read_rows(dictionary_csv("evaluation", header))
    assert [d["Column"] for d in described] == header
    hits = next(d for d in described if d["Column"] == "Incidents after split in hotspots")
    assert "nearest whole" in hits["Meaning"] and "exact" in hits["Meaning"]


def test_cli_evaluate_writes_the_csv_and_its_dictionary_beside_it(planted, tmp_path, capsys):
    out = tmp_path / "evaluation.csv"
    code = main(["evaluate", "--store", str(planted.path), "--split", "2025-07-01",
                 "--cell-m", "400", "--area-share", "0.003", "--csv", str(out)])  # fmt: skip
    assert code == 0
    header = list(read_rows(out.read_text(encoding="utf-8"))[0])
    dictionary = tmp_path / "evaluation.dictionary.csv"
    described = read_rows(dictionary.read_text(encoding="utf-8"))
    assert [d["Column"] for d in described] == header and "Method" in header
    printed = capsys.readouterr().out
    assert "Hit rate (%)" in printed and str(dictionary) in printed
