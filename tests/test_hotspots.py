"""Gi* hot spots and emerging hot spots on grid cells."""

from __future__ import annotations

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal.weights import KNN, DistanceBand
from pyproj import Transformer
from scipy import stats
from shapely.geometry import box

from layers.analysis.grid import Grid, assign_cells, cell_counts, make_grid
from layers.analysis.hotspots import (
    HotspotError,
    _classify,
    category_name,
    emerging_hotspots,
    gi_bins,
    gi_star,
    gi_star_steps,
    mann_kendall,
)
from layers.settings import METRIC_CRS
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.store import open_store

TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def square_grid(side_m: float, cell_m: float, shape: str = "hex") -> Grid:
    area = gpd.GeoDataFrame(
        geometry=[box(250_000, 6_230_000, 250_000 + side_m, 6_230_000 + side_m)], crs=METRIC_CRS
    )
    return make_grid(area, cell_m=cell_m, shape=shape)


@pytest.fixture(scope="module")
def small_grid() -> Grid:
    """About 60 hexagons."""
    return square_grid(3_000, 400)


@pytest.fixture(scope="module")
def big_grid() -> Grid:
    """About 1,300 hexagons."""
    return square_grid(12_000, 350)


def test_gi_star_equals_esda_distance_band(small_grid):
    counts = np.random.default_rng(1).poisson(1.5, small_grid.n_cells)
    result = gi_star(small_grid, counts)

    centres = small_grid.cells[["x", "y"]].to_numpy()
    w = DistanceBand.from_array(centres, threshold=1.5 * 400, binary=True, silence_warnings=True)
    reference = esda.G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(result["gi_z"], reference.Zs)
    np.testing.assert_allclose(result["gi_p"], 2 * reference.p_norm)
    assert result.index.equals(small_grid.cells.index)
    assert result["count"].tolist() == counts.tolist()
    # Interior hexagons have six neighbours besides themselves.
    interior = small_grid.cells["clipped_fraction"].to_numpy() == 1
    assert result["n_neighbours"].max() == 7 and (result["n_neighbours"][interior] == 7).any()


def test_gi_star_equals_esda_knn(small_grid):
    counts = np.random.default_rng(2).poisson(1.5, small_grid.n_cells)
    result = gi_star(small_grid, counts, neighbours="knn", k=5)
    w = KNN.from_array(small_grid.cells[["x", "y"]].to_numpy(), k=5)
    reference = esda.G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)
    # Hexagon centres tie at equal distances: compare where both pick the same neighbours.
    same = np.asarray(
        [
            set(w.neighbors[i]) == set(np.flatnonzero(row)) - {i}
            for i, row in enumerate(_knn_rows(small_grid, 5))
        ]
    )
    assert same.mean() > 0.5
    np.testing.assert_allclose(result["gi_z"][same], reference.Zs[same])
    assert (result["n_neighbours"] == 6).all()


def _knn_rows(grid: Grid, k: int) -> np.ndarray:
    from layers.analysis.hotspots import neighbour_graph

    graph = neighbour_graph(
        grid.cells["x"].to_numpy(),
        grid.cells["y"].to_numpy(),
        neighbours="knn",
        k=k,
        cell_m=grid.cell_m,
    )
    return graph.sparse.toarray() > 0


def test_gi_star_steps_equal_esda_step_by_step(small_grid):
    from layers.analysis.hotspots import neighbour_graph

    cube = np.random.default_rng(9).poisson(0.8, (small_grid.n_cells, 5)).astype(float)
    cube[:, 3] = 0  # a step without incidents
    cells = small_grid.cells
    graph = neighbour_graph(cells["x"].to_numpy(), cells["y"].to_numpy(), cell_m=400)
    z, p = gi_star_steps(cube, graph.sparse)
    for step in (0, 1, 2, 4):
        reference = esda.G_Local(cube[:, step], graph, transform="B", star=True, permutations=0)
        np.testing.assert_allclose(z[:, step], reference.Zs)
        np.testing.assert_allclose(p[:, step], 2 * reference.p_norm)
    assert (z[:, 3] == 0).all() and (p[:, 3] == 1).all()


def test_planted_cluster_is_a_99_percent_hot_spot(big_grid):
    rng = np.random.default_rng(3)
    counts = rng.poisson(1.0, big_grid.n_cells)
    xy = big_grid.cells[["x", "y"]].to_numpy()
    centre = int(np.argmin(np.hypot(*(xy - xy.mean(axis=0)).T)))
    cluster = np.hypot(*(xy - xy[centre]).T) <= 1.01 * big_grid.cell_m
    assert cluster.sum() == 7
    counts[cluster] = 6

    result = gi_star(big_grid, counts)
    assert result.loc[centre, "gi_bin"] == 3
    assert result.loc[centre, "gi_p_fdr"] <= 0.01
    assert (result["gi_bin"][cluster] > 0).all()
    assert (result["gi_bin"][~cluster] < 3).mean() > 0.97


@pytest.mark.parametrize("seed", range(4))
def test_uniform_counts_give_hot_spots_at_most_at_the_fdr_rate(big_grid, seed):
    counts = np.random.default_rng(seed).poisson(2.0, big_grid.n_cells)
    result = gi_star(big_grid, counts)
    assert (result["gi_bin"] >= 2).mean() <= 0.05
    assert (result["gi_bin"] != 0).mean() <= 0.10
    # Without the adjustment, chance alone gives about 10 % of cells a bin.
    raw = gi_star(big_grid, counts, fdr=False)
    assert (raw["gi_bin"] != 0).sum() > (result["gi_bin"] != 0).sum()


def test_bins_follow_the_confidence_thresholds():
    p = np.array([0.001, 0.01, 0.02, 0.05, 0.07, 0.10, 0.2, 0.9])
    assert gi_bins(np.full(8, 2.0), p).tolist() == [3, 3, 2, 2, 1, 1, 0, 0]
    assert gi_bins(np.full(8, -2.0), p).tolist() == [-3, -3, -2, -2, -1, -1, 0, 0]


def test_gi_star_bins_use_the_adjusted_p_values(big_grid):
    counts = np.random.default_rng(8).poisson(1.0, big_grid.n_cells)
    counts[:40] += 5
    result = gi_star(big_grid, counts)
    np.testing.assert_array_equal(result["gi_bin"], gi_bins(result["gi_z"], result["gi_p_fdr"]))
    np.testing.assert_allclose(result["gi_p_fdr"], stats.false_discovery_control(result["gi_p"]))
    raw = gi_star(big_grid, counts, fdr=False)
    np.testing.assert_array_equal(raw["gi_bin"], gi_bins(raw["gi_z"], raw["gi_p"]))
    assert (result["gi_p_fdr"] >= result["gi_p"]).all()


def test_gi_star_needs_30_cells_with_incidents(big_grid):
    counts = np.zeros(big_grid.n_cells, dtype=int)
    counts[:29] = 4
    with pytest.raises(HotspotError, match=r"at least 30 cells with incidents.*smaller cells"):
        gi_star(big_grid, counts)
    counts[29] = 1
    assert len(gi_star(big_grid, counts)) == big_grid.n_cells
    with pytest.raises(ValueError, match="one number per grid cell"):
        gi_star(big_grid, counts[:-1])


def test_mann_kendall_matches_kendalls_tau_against_time():
    rng = np.random.default_rng(4)
    series = rng.poisson(2.0, size=(20, 15)) + np.arange(15) * rng.uniform(-0.3, 0.3, (20, 1))
    series = np.round(series)  # ties, for the tie correction
    z, p = mann_kendall(series, continuity=False)
    for row, zi, pi in zip(series, z, p, strict=True):
        reference = stats.kendalltau(np.arange(15), row, method="asymptotic")
        assert pi == pytest.approx(reference.pvalue)
        assert np.sign(zi) == np.sign(reference.statistic)
    corrected, _ = mann_kendall(series)
    assert (np.abs(corrected) <= np.abs(z) + 1e-12).all()
    assert mann_kendall(np.ones((1, 12)))[0].tolist() == [0.0]


def classify(hot: str, cold: str = "", trend: float = 0.0) -> str:
    """Pattern of one cell from strings of hot/cold steps, such as "..HHH"."""
    as_bool = np.array([[c == "H" for c in hot]])
    cold_bool = np.array([[c == "C" for c in (cold or hot)]])
    p = np.array([0.001 if trend else 0.5])
    return category_name(int(_classify(as_bool, cold_bool, np.array([trend]), p, alpha=0.05)[0]))


def test_pattern_definitions():
    assert classify("HHHHHHHHHH") == "Persistent Hot Spot"
    assert classify("HHHHHHHHHH", trend=3.0) == "Intensifying Hot Spot"
    assert classify("HHHHHHHHHH", trend=-3.0) == "Diminishing Hot Spot"
    assert classify("HHHHHHHHH.") == "Historical Hot Spot"
    assert classify(".........H") == "New Hot Spot"
    assert classify("......HHHH") == "Consecutive Hot Spot"
    assert classify("..H...HHHH") == "Sporadic Hot Spot"
    assert classify("..C.H..HHH") == "Oscillating Hot Spot"
    # A cold past makes a place that turns hot oscillating, not new or consecutive.
    assert classify("..C...HHHH") == "Oscillating Hot Spot"
    assert classify("..C......H") == "Oscillating Hot Spot"
    assert classify("....HHHH..") == "No Pattern Detected"
    assert classify(".........C") == "New Cold Spot"
    assert classify("CCCCCCCCCC", trend=-3.0) == "Intensifying Cold Spot"
    assert classify("HH....CCCC") == "Oscillating Cold Spot"
    # Hot in 90 % of steps but cold in the last: the last step decides.
    assert classify("HHHHHHHHHHHHHHHHHHHC") == "Oscillating Cold Spot"


def synthetic_incidents(
    grid: Grid, rates: np.ndarray, *, months: int, seed: int
) -> tuple[np.ndarray, pd.Series]:
    """Incidents with a Poisson count per cell and month: ``rates`` is (cells, months)."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rates)
    cell, month = np.nonzero(counts)
    repeat = counts[cell, month]
    cell, month = np.repeat(cell, repeat), np.repeat(month, repeat)
    start = pd.Timestamp("2024-01-01", tz="Africa/Johannesburg")
    when = pd.to_datetime(
        [start + pd.DateOffset(months=int(m)) for m in month], utc=True
    ) + pd.to_timedelta(rng.uniform(0, 27, cell.size), unit="D")
    return cell, pd.Series(when)


def cluster_mask(grid: Grid) -> np.ndarray:
    xy = grid.cells[["x", "y"]].to_numpy()
    centre = xy[np.argmin(np.hypot(*(xy - xy.mean(axis=0)).T))]
    return np.hypot(*(xy - centre).T) <= 1.01 * grid.cell_m


def test_always_hot_cluster_is_persistent_and_a_new_one_is_new(big_grid):
    months = 12
    cluster = cluster_mask(big_grid)
    rates = np.full((big_grid.n_cells, months), 0.5)
    rates[cluster] = 8.0
    cell_ids, times = synthetic_incidents(big_grid, rates, months=months, seed=6)
    result = emerging_hotspots(big_grid, cell_ids, times)
    assert len(result.attrs["steps"]) == months and result.index.equals(big_grid.cells.index)
    assert (result["category"][cluster] == "Persistent Hot Spot").all()
    assert (result["hot_steps"][cluster] == months).all() and (result["n_steps"] == months).all()
    # Gi* includes neighbours: the ring around the cluster is hot too, but nothing beyond it.
    xy = big_grid.cells[["x", "y"]].to_numpy()
    centre = xy[cluster].mean(axis=0)
    far = np.hypot(*(xy - centre).T) > 2.01 * big_grid.cell_m
    assert (result["category"][far] == "No Pattern Detected").mean() > 0.97
    assert (result["category"][far] != "Persistent Hot Spot").all()
    assert result["count"].sum() == len(cell_ids)

    rates[cluster] = 0.5
    rates[cluster, -1] = 10.0
    cell_ids, times = synthetic_incidents(big_grid, rates, months=months, seed=7)
    result = emerging_hotspots(big_grid, cell_ids, times)
    centre = np.flatnonzero(cluster)[3]
    assert result.loc[centre, "category"] == "New Hot Spot"
    assert result["final_hot"][cluster].all()


def test_emerging_hotspots_explains_what_it_needs(big_grid):
    rates = np.full((big_grid.n_cells, 6), 1.0)
    cell_ids, times = synthetic_incidents(big_grid, rates, months=6, seed=1)
    with pytest.raises(HotspotError, match=r"at least 10 time steps.*6 months.*weekly"):
        emerging_hotspots(big_grid, cell_ids, times)
    with pytest.raises(ValueError, match="timezone-aware"):
        emerging_hotspots(big_grid, cell_ids, times.dt.tz_localize(None))
    few = np.where(cell_ids < 20, cell_ids, -1)
    with pytest.raises(HotspotError, match="at least 30 cells with incidents"):
        emerging_hotspots(big_grid, few, times, freq="W")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    manifest = generate_demo(folder / "files", incidents=20_000)
    build_demo_store(folder / "store", manifest)
    return manifest, open_store(folder / "store")


EMERGING = {"New Hot Spot", "Consecutive Hot Spot", "Intensifying Hot Spot"}


def test_demo_mid_period_hotspots_show_as_emerging(demo):
    manifest, store = demo
    grid = make_grid(store.precincts, cell_m=250)
    incidents = store.incidents
    cell_ids = assign_cells(grid, incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    result = emerging_hotspots(grid, cell_ids, incidents["occurred_at"], freq="M")

    at_location = []
    for hotspot in manifest.emerging_hotspots:
        cell = assign_cells(grid, np.array([hotspot["lon"]]), np.array([hotspot["lat"]]))[0]
        at_location.append(result.loc[cell, "category"])
        # Every planted hotspot has emerging cells within its radius, and a rising trend.
        x, y = grid.cells.loc[cell, ["x", "y"]]
        disc = np.hypot(grid.cells["x"] - x, grid.cells["y"] - y) <= hotspot["radius_m"]
        assert result["category"][disc].isin(EMERGING).any(), hotspot["name"]
        assert result.loc[cell, "trend_z"] > 2 and result.loc[cell, "count_trend_z"] > 2
    assert EMERGING.intersection(at_location), at_location
    # Emerging hot spots are rare: the planted ones, not the whole city.
    assert result["category"].isin(EMERGING).mean() < 0.005
    # The hotspots, with all incidents counted, are also Gi* hot spots.
    gi = gi_star(grid, cell_counts(grid, cell_ids))
    assert all(
        gi.loc[assign_cells(grid, np.array([h["lon"]]), np.array([h["lat"]]))[0], "gi_bin"] == 3
        for h in manifest.emerging_hotspots
    )
