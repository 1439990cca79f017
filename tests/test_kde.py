from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box

from layers._errors import LayersError
from layers.analysis.kde import (
    BANDWIDTH_CANDIDATES_M,
    KdeError,
    KdeSurface,
    hotspot_mask,
    kde_hotspots,
    kde_surface,
    points_in_hotspots,
)
from layers.settings import METRIC_CRS

# A 20 km square in UTM 34S, about where Cape Town's Northern Suburbs are.
WEST, SOUTH, SIDE = 270_000.0, 6_240_000.0, 20_000.0
CENTRE = (WEST + SIDE / 2, SOUTH + SIDE / 2)


@pytest.fixture
def square() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[box(WEST, SOUTH, WEST + SIDE, SOUTH + SIDE)], crs=METRIC_CRS)


def cloud(n: int, *, sd: float, centre: tuple[float, float] = CENTRE, seed: int = 0):
    rng = np.random.default_rng(seed)
    return centre[0] + rng.normal(0, sd, n), centre[1] + rng.normal(0, sd, n)


def uniform(n: int, *, seed: int = 0):
    rng = np.random.default_rng(seed)
    return WEST + rng.uniform(0, SIDE, n), SOUTH + rng.uniform(0, SIDE, n)


def test_density_integrates_to_the_number_of_incidents(square):
    x, y = cloud(20_000, sd=1500)
    surface = kde_surface(x, y, square, bandwidth_m=500)
    total = np.nansum(surface.density) * surface.pixel_area_km2
    assert total == pytest.approx(20_000, rel=0.01)
    assert surface.shape == (200, 200) and surface.mask.all()
    assert surface.bounds == pytest.approx((WEST, SOUTH, WEST + SIDE, SOUTH + SIDE))


def test_density_is_in_incidents_per_km2_and_nan_outside_the_area():
    # An L-shaped area: the north-east quarter of the square is outside.
    full = box(WEST, SOUTH, WEST + SIDE, SOUTH + SIDE)
    corner = box(*CENTRE, WEST + SIDE, SOUTH + SIDE)
    area = gpd.GeoDataFrame(geometry=[full.difference(corner)], crs=METRIC_CRS)
    x, y = uniform(40_000)
    surface = kde_surface(x, y, area, bandwidth_m=300)
    assert surface.mask.mean() == pytest.approx(0.75)
    assert np.isnan(surface.density[~surface.mask]).all()
    # 40,000 incidents over 400 km²: 100 per km² away from the edges.
    assert np.nanmedian(surface.density) == pytest.approx(100, rel=0.05)


def test_area_in_another_crs_is_reprojected(square):
    x, y = cloud(5_000, sd=1500)
    in_metres = kde_surface(x, y, square, bandwidth_m=500)
    in_degrees = kde_surface(x, y, square.to_crs("EPSG:4326"), bandwidth_m=500)
    # The reprojected square's edges bow slightly, so allow a few border pixels.
    assert abs(int(in_degrees.mask.sum()) - int(in_metres.mask.sum())) < 0.01 * in_metres.mask.size


def test_incidents_just_outside_the_area_add_density_inside(square):
    x = np.full(1_000, WEST - 200.0)
    y = np.full(1_000, CENTRE[1])
    surface = kde_surface(x, y, square, bandwidth_m=500)
    assert np.nanmax(surface.density[:, 0]) > 0
    assert surface.n_ignored == 0
    far = kde_surface(x - 50_000, y, square, bandwidth_m=500)
    assert far.n_ignored == 1_000 and np.nansum(far.density) == 0


def test_mask_covers_the_area_share(square):
    x, y = cloud(10_000, sd=3000)
    surface = kde_surface(x, y, square, bandwidth_m=500)
    for share in (0.01, 0.03, 0.2):
        hot = hotspot_mask(surface, area_share=share)
        assert hot.sum() == round(share * surface.mask.sum())
        assert not (hot & ~surface.mask).any()
        # Every hot pixel is at least as dense as every other pixel of the area.
        assert surface.density[hot].min() >= np.nanmax(surface.density[~hot & surface.mask])


def test_ties_are_broken_in_raster_order():
    density = np.ones((4, 5))
    surface = KdeSurface(
        density=density, mask=np.ones((4, 5), dtype=bool), origin=(0.0, 500.0), pixel_m=100.0,
        bandwidth_m=200.0, reason="", n_points=0, n_ignored=0,
    )  # fmt: skip
    hot = hotspot_mask(surface, area_share=0.3)  # 6 of 20 pixels
    assert np.flatnonzero(hot).tolist() == [0, 1, 2, 3, 4, 5]
    assert (hot == hotspot_mask(surface, area_share=0.3)).all()


def test_planted_cluster_is_rank_one_and_holds_its_centre(square):
    bx, by = uniform(5_000, seed=1)
    planted = (WEST + 4_000.0, SOUTH + 15_000.0)
    cx, cy = cloud(600, sd=150, centre=planted, seed=2)
    weaker = (WEST + 15_000.0, SOUTH + 5_000.0)
    wx, wy = cloud(300, sd=300, centre=weaker, seed=3)
    x, y = np.concatenate([bx, cx, wx]), np.concatenate([by, cy, wy])
    surface = kde_surface(x, y, square, bandwidth_m=300)
    spots = kde_hotspots(surface, area_share=0.01)
    assert spots.crs == METRIC_CRS
    assert list(spots.columns) == ["rank", "peak_density", "mean_density", "area_km2", "geometry"]
    assert spots["rank"].tolist() == list(range(1, len(spots) + 1))
    assert spots["peak_density"].is_monotonic_decreasing
    first = spots.iloc[0]
    assert first.geometry.contains(shapely.Point(planted))
    assert first["peak_density"] == pytest.approx(np.nanmax(surface.density))
    assert any(g.contains(shapely.Point(weaker)) for g in spots.geometry.iloc[1:])
    # The polygons cover exactly the hot pixels.
    hot = hotspot_mask(surface, area_share=0.01)
    assert spots["area_km2"].sum() == pytest.approx(hot.sum() * surface.pixel_area_km2)
    assert spots.area.sum() / 1e6 == pytest.approx(spots["area_km2"].sum())
    assert spots.is_valid.all() and not spots.geometry.has_z.any()


def test_points_in_hotspots_agrees_with_the_polygons(square):
    x, y = cloud(8_000, sd=2500)
    surface = kde_surface(x, y, square, bandwidth_m=400)
    hot = hotspot_mask(surface, area_share=0.05)
    spots = kde_hotspots(surface, area_share=0.05)
    # Later incidents, off the pixel edges so the polygon test is unambiguous.
    later_x, later_y = cloud(3_000, sd=2500, seed=9)
    later_x, later_y = np.round(later_x, -1) + 3.3, np.round(later_y, -1) + 3.3
    hits = points_in_hotspots(surface, hot, later_x, later_y)
    inside = shapely.contains_xy(shapely.union_all(spots.geometry.values), later_x, later_y)
    assert (hits == inside).all() and hits.any()
    outside = points_in_hotspots(surface, hot, np.array([0.0]), np.array([0.0]))
    assert outside.tolist() == [False]


def test_points_in_hotspots_refuses_a_mask_of_another_shape(square):
    surface = kde_surface(*cloud(100, sd=1000), square, bandwidth_m=500)
    with pytest.raises(KdeError, match="hotspot_mask"):
        points_in_hotspots(surface, np.zeros((3, 3), dtype=bool), np.zeros(1), np.zeros(1))


def test_cross_validation_picks_a_bandwidth_in_bounds_and_says_why(square):
    tight = kde_surface(*cloud(5_000, sd=250), square)
    diffuse = kde_surface(*uniform(5_000), square)
    for surface in (tight, diffuse):
        assert min(BANDWIDTH_CANDIDATES_M) <= surface.bandwidth_m <= max(BANDWIDTH_CANDIDATES_M)
        assert "cross-validation" in surface.reason
        assert f"{surface.bandwidth_m:g} m" in surface.reason
    # A tight cluster wants a narrow kernel, a uniform scatter a wide one.
    assert tight.bandwidth_m < diffuse.bandwidth_m
    assert diffuse.bandwidth_m == max(BANDWIDTH_CANDIDATES_M)


def test_few_incidents_fall_back_to_scotts_rule(square):
    surface = kde_surface(*cloud(12, sd=3000), square)
    assert min(BANDWIDTH_CANDIDATES_M) <= surface.bandwidth_m <= max(BANDWIDTH_CANDIDATES_M)
    assert "Scott" in surface.reason and "12 incidents" in surface.reason


def test_given_bandwidth_is_used_as_is(square):
    surface = kde_surface(*cloud(100, sd=1000), square, bandwidth_m=750)
    assert surface.bandwidth_m == 750 and "as given" in surface.reason


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5, float("nan")])
def test_bad_area_share_is_rejected(square, share):
    surface = kde_surface(*cloud(100, sd=1000), square, bandwidth_m=500)
    with pytest.raises(KdeError, match="between 0 and 1"):
        kde_hotspots(surface, area_share=share)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bandwidth_m": 50.0}, "smaller than a pixel"),
        ({"bandwidth_m": -5.0}, "bandwidth_m"),
        ({"pixel_m": 0.0}, "pixel_m"),
        ({"pixel_m": 0.5}, "larger pixels"),
        ({"pixel_m": 50_000.0, "bandwidth_m": 60_000.0}, "smaller pixels"),
    ],
)
def test_bad_sizes_are_rejected(square, kwargs, message):
    with pytest.raises(KdeError, match=message):
        kde_surface(*cloud(10, sd=1000), square, **kwargs)


def test_bad_inputs_say_what_to_fix(square):
    x, y = cloud(10, sd=1000)
    with pytest.raises(KdeError, match="without a location"):
        kde_surface(np.append(x, np.nan), np.append(y, 0.0), square)
    with pytest.raises(KdeError, match="equal length"):
        kde_surface(x, y[:5], square)
    with pytest.raises(KdeError, match="no CRS"):
        kde_surface(x, y, gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))
    assert issubclass(KdeError, LayersError)


def test_no_density_gives_an_empty_frame_with_the_columns(square):
    surface = kde_surface(np.array([0.0]), np.array([0.0]), square, bandwidth_m=500)
    spots = kde_hotspots(surface)
    assert spots.empty and spots.crs == METRIC_CRS
    assert list(spots.columns) == ["rank", "peak_density", "mean_density", "area_km2", "geometry"]


def test_surface_is_read_only(square):
    surface = kde_surface(*cloud(100, sd=1000), square, bandwidth_m=500)
    with pytest.raises(ValueError, match="read-only"):
        surface.density[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        surface.bandwidth_m = 1.0  # type: ignore[misc]
