"""Analysis grids: tiling, clipping, point assignment, counts and the default cell size."""

from __future__ import annotations

import math

import esda
import geopandas as gpd
import numpy as np
import pytest
import shapely
from libpysal.graph import Graph
from pyproj import Transformer
from shapely.geometry import Point, box

from layers.analysis.grid import (
    CANDIDATE_CELL_M,
    _global_moran_i,
    assign_cells,
    cell_counts,
    default_cell_size,
    distance_band,
    make_grid,
)
from layers.settings import METRIC_CRS

TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


@pytest.fixture
def odd_area() -> gpd.GeoDataFrame:
    """Two touching polygons near Cape Town, one with a hole and a round edge, in metres."""
    cx, cy = 260_000.0, 6_240_000.0
    round_part = Point(cx, cy).buffer(2_500).difference(Point(cx + 600, cy).buffer(700))
    square_part = box(cx, cy - 4_000, cx + 3_000, cy - 1_000)
    return gpd.GeoDataFrame(
        {"name": ["round", "square"]}, geometry=[round_part, square_part], crs=METRIC_CRS
    )


def random_lonlat(area: gpd.GeoDataFrame, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over the area's bounds grown by 500 m, so some fall outside."""
    minx, miny, maxx, maxy = area.to_crs(METRIC_CRS).total_bounds
    rng = np.random.default_rng(seed)
    x = rng.uniform(minx - 500, maxx + 500, n)
    y = rng.uniform(miny - 500, maxy + 500, n)
    lon, lat = TO_LONLAT.transform(x, y)
    return np.asarray(lon), np.asarray(lat)


@pytest.mark.parametrize("shape", ["hex", "square"])
def test_cells_tile_the_area_without_gaps_or_overlaps(odd_area, shape):
    grid = make_grid(odd_area.to_crs("EPSG:4326"), cell_m=400, shape=shape)
    cells = grid.cells
    area = odd_area.union_all()

    assert cells.crs == METRIC_CRS
    assert cells["cell_id"].tolist() == list(range(len(cells))) == cells.index.tolist()
    # No gap: together the cells cover the area; no overlap: their areas add up to it.
    assert shapely.union_all(cells.geometry.to_numpy()).symmetric_difference(area).area < 1.0
    assert cells.area.sum() == pytest.approx(area.area, rel=1e-6)
    fraction = cells["clipped_fraction"]
    assert (fraction > 0).all() and (fraction <= 1).all()
    assert (fraction < 1).any() and (fraction == 1).any()
    full = cells[fraction == 1]
    expected = 400**2 * (math.sqrt(3) / 2 if shape == "hex" else 1.0)
    assert np.allclose(full.area, expected)
    assert np.allclose(cells["clipped_fraction"] * expected, cells.area)


@pytest.mark.parametrize(("shape", "neighbours"), [("hex", 6), ("square", 4)])
def test_cell_m_is_the_distance_between_adjacent_centres(odd_area, shape, neighbours):
    grid = make_grid(odd_area, cell_m=300, shape=shape)
    xy = grid.cells[["x", "y"]].to_numpy()
    full = grid.cells["clipped_fraction"].to_numpy() == 1
    distance = np.hypot(*(xy[full][:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    adjacent = np.isclose(distance, 300.0)
    assert adjacent.sum(axis=1).max() == neighbours
    assert distance[distance > 0].min() == pytest.approx(300.0)
    # The centre is the centre of the full cell, so interior cells' centroids match it.
    centroid = grid.cells.geometry[full].centroid
    assert np.allclose(centroid.x, xy[full, 0]) and np.allclose(centroid.y, xy[full, 1])


@pytest.mark.parametrize("shape", ["hex", "square"])
def test_assign_cells_agrees_with_point_in_polygon(odd_area, shape):
    grid = make_grid(odd_area, cell_m=350, shape=shape)
    lon, lat = random_lonlat(odd_area, 5_000, seed=7)
    ids = assign_cells(grid, lon, lat)

    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    joined = gpd.sjoin(points.to_crs(METRIC_CRS), grid.cells[["cell_id", "geometry"]], how="left")
    expected = joined["cell_id"].fillna(-1).astype(int).groupby(level=0).first()
    assert (ids == -1).sum() > 100 and (ids >= 0).sum() > 1_000
    np.testing.assert_array_equal(ids, expected.to_numpy())


def test_assign_cells_marks_missing_and_far_points_outside(odd_area):
    grid = make_grid(odd_area, cell_m=500)
    ids = assign_cells(grid, np.array([np.nan, 28.0, 18.0]), np.array([-33.9, -26.2, np.nan]))
    assert ids.tolist() == [-1, -1, -1]


def test_cell_counts_counts_points_per_cell(odd_area):
    grid = make_grid(odd_area, cell_m=500)
    ids = np.array([0, 0, 2, -1, 2, 2])
    counts = cell_counts(grid, ids)
    assert counts.shape == (grid.n_cells,)
    assert counts[:3].tolist() == [2, 0, 3] and counts.sum() == 5
    with pytest.raises(ValueError, match="assign the points with this grid"):
        cell_counts(grid, np.array([grid.n_cells]))


def test_make_grid_explains_bad_input(odd_area):
    with pytest.raises(ValueError, match="must have a CRS"):
        make_grid(odd_area.set_crs(None, allow_override=True), cell_m=250)
    with pytest.raises(ValueError, match="positive number of metres"):
        make_grid(odd_area, cell_m=0)
    with pytest.raises(ValueError, match="'hex' or 'square'"):
        make_grid(odd_area, cell_m=250, shape="triangle")
    with pytest.raises(ValueError, match="not degrees"):
        make_grid(odd_area, cell_m=0.002)
    with pytest.raises(ValueError, match="no polygons"):
        make_grid(gpd.GeoDataFrame(geometry=[Point(18, -34)], crs="EPSG:4326"), cell_m=250)


def test_global_moran_i_equals_esda():
    rng = np.random.default_rng(3)
    x, y = np.meshgrid(np.arange(12) * 100.0, np.arange(10) * 100.0)
    x, y = x.ravel(), y.ravel()
    values = rng.poisson(2 + (x > 600), size=x.size).astype(float)
    adjacency = distance_band(x, y, distance_m=101.0)
    moran, z = _global_moran_i(values, adjacency)
    reference = esda.Moran(values, Graph.from_sparse(adjacency), transformation="r", permutations=0)
    assert moran == pytest.approx(reference.I)
    assert z == pytest.approx(reference.z_norm)


def clustered_lonlat(seed: int, *, sigma_m: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Incidents in tight Gaussian clusters over a 20 km square near Cape Town."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack(
        [rng.uniform(250_000, 270_000, 40), rng.uniform(5_980_000, 6_000_000, 40)]
    )
    which = rng.integers(0, len(centres), n)
    xy = centres[which] + rng.normal(0, sigma_m, size=(n, 2))
    lon, lat = TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.asarray(lon), np.asarray(lat)


@pytest.fixture
def square_area() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[box(249_000, 5_979_000, 271_000, 6_001_000)], crs=METRIC_CRS)


def test_default_cell_size_follows_the_scale_of_clustering(square_area):
    tight = default_cell_size(*clustered_lonlat(1, sigma_m=120, n=20_000), square_area)
    loose = default_cell_size(*clustered_lonlat(1, sigma_m=500, n=20_000), square_area)
    assert tight[0] in CANDIDATE_CELL_M and loose[0] in CANDIDATE_CELL_M
    assert tight[0] < loose[0]
    assert "Moran's I" in tight[1] and f"{tight[0]:.0f} m" in tight[1]


def test_default_cell_size_falls_back_on_nearest_neighbours(square_area):
    # A few hundred incidents spread at random: no cell size shows clustering.
    rng = np.random.default_rng(5)
    x = rng.uniform(250_000, 270_000, 300)
    y = rng.uniform(5_980_000, 6_000_000, 300)
    cell_m, why = default_cell_size(*TO_LONLAT.transform(x, y), square_area)
    assert "nearest" in why
    assert CANDIDATE_CELL_M[0] <= cell_m <= CANDIDATE_CELL_M[-1] and cell_m % 50 == 0
