"""The heat surface's units, its peak and its legend's numbers (layers.maps.heat)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from heat_render import Viewport, density, project, unproject

from layers.maps.heat import (
    grid_step_px,
    kernel_taps,
    metres_per_pixel,
    peak_density,
    scale_ticks,
)


def test_a_pixel_at_the_equator_at_zoom_0_is_156_km() -> None:
    assert metres_per_pixel(0.0, 0) == pytest.approx(156_543.03, abs=0.01)
    assert metres_per_pixel(-34.0, 13) == pytest.approx(
        156_543.03 / 2**13 * math.cos(math.radians(34))
    )


def test_the_kernel_keeps_every_incident() -> None:
    for sigma in (10.0, 15.0, 71.5):
        taps = kernel_taps(sigma, grid_step_px(sigma))
        assert taps.sum() == pytest.approx(1.0)
        assert np.array_equal(taps, taps[::-1])
        assert len(taps) == 2 * math.ceil(4 * sigma / grid_step_px(sigma)) + 1


def test_one_place_with_n_incidents_peaks_at_n_over_the_kernel_area() -> None:
    # A Gaussian of sigma metres holding n has its peak at n / (2 pi sigma²).
    zoom, lat, lon = 14, -33.95, 18.6
    sigma_m = 10 * metres_per_pixel(lat, zoom) / 1000
    peak = peak_density(np.array([[lat, lon, 30.0]]), zoom=zoom, sigma_px=10)
    assert peak == pytest.approx(30 / (2 * math.pi * sigma_m**2), rel=0.03)


@pytest.mark.parametrize("zoom", [11, 13, 15])
def test_the_peak_is_the_densest_pixel_drawn(zoom: int) -> None:
    """Against the renderer's model over a view holding every point: the same value."""
    rng = np.random.default_rng(zoom)
    centres = rng.uniform([-34.0, 18.55], [-33.95, 18.65], (6, 2))
    points = np.concatenate([
        np.column_stack([rng.normal(c[0], 0.002 * 2 ** (13 - zoom), 300),
                         rng.normal(c[1], 0.002 * 2 ** (13 - zoom), 300), np.ones(300)])
        for c in centres
    ])  # fmt: skip
    x, y = project(points[:, 0], points[:, 1], zoom)
    pad = 60
    view = Viewport(zoom, int(x.max() - x.min()) + 2 * pad, int(y.max() - y.min()) + 2 * pad,
                    int(x.min()) - pad, int(y.min()) - pad)  # fmt: skip
    drawn = density(points, view, sigma=10, step=grid_step_px(10)).max()
    peak = peak_density(points, zoom=zoom, sigma_px=10)
    # Pixels interpolate between nodes, so none exceeds the densest node.
    assert drawn <= peak * (1 + 1e-9)
    assert drawn == pytest.approx(peak, rel=0.01)
    assert peak == peak_density(points, zoom=zoom, sigma_px=10, max_windows=10**6)


def test_no_points_no_peak() -> None:
    assert peak_density(np.empty((0, 3)), zoom=12) == 0.0
    assert peak_density(np.array([[-34.0, 18.6, 0.0]]), zoom=12) == 0.0


@pytest.mark.parametrize("top", [0.37, 4.6, 49.9, 4643.0, 125_000.0])
def test_ticks_are_round_numbers_below_the_top(top: float) -> None:
    ticks = scale_ticks(top)
    assert ticks[0] == 0 and ticks == sorted(set(ticks)) and ticks[-1] < top
    assert 3 <= len(ticks) <= 5
    for tick in ticks[1:]:
        mantissa = tick / 10 ** math.floor(math.log10(tick))
        assert round(mantissa, 6) in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)


def test_ticks_below_k_are_left_out() -> None:
    assert scale_ticks(4643.0, k=3) == [200.0, 800.0, 1500.0, 3000.0]
    assert scale_ticks(4.6, k=5) == []
    assert scale_ticks(0.0) == [0.0] and scale_ticks(0.0, k=3) == []


def _densest_node(points: np.ndarray, *, zoom: int, sigma: float) -> float:
    """The surface's densest node, every node computed (the module's steps 1 to 4)."""
    step = grid_step_px(sigma)
    weights = kernel_taps(sigma, step)
    half = (len(weights) - 1) // 2
    x, y = project(points[:, 0], points[:, 1], zoom)
    a, b = x / step - 0.5, y / step - 0.5
    u0, v0 = np.floor(a).astype(int), np.floor(b).astype(int)
    left, top = u0.min() - half - 1, v0.min() - half - 1
    grid = np.zeros((v0.max() - top + half + 3, u0.max() - left + half + 3))
    for du in (0, 1):
        for dv in (0, 1):
            share = (a - u0 if du else 1 - (a - u0)) * (b - v0 if dv else 1 - (b - v0))
            np.add.at(grid, (v0 + dv - top, u0 + du - left), points[:, 2] * share)
    from scipy import ndimage

    grid = ndimage.correlate1d(grid, weights, axis=1, mode="constant")
    grid = ndimage.correlate1d(grid, weights, axis=0, mode="constant")
    rows = top + np.arange(grid.shape[0])
    lat, _ = unproject(np.zeros(len(rows)), (rows + 0.5) * step, zoom)
    km2 = (step * metres_per_pixel(lat, zoom)) ** 2 / 1e6
    return float((grid / km2[:, None]).max())


@pytest.mark.parametrize("sigma", [10.0, 22.5])
@pytest.mark.parametrize("spread", [0.0005, 0.004, 0.03])
def test_the_peak_search_skips_no_window_it_needs(sigma: float, spread: float) -> None:
    """The bounds that let windows be skipped never skip the densest: the peak is the
    densest node of the whole surface, clustered or spread, narrow kernel or wide."""
    rng = np.random.default_rng(int(spread * 1e4) + int(sigma))
    centres = rng.uniform([-34.05, 18.45], [-33.9, 18.7], (5, 2))
    points = np.concatenate([
        np.column_stack([rng.normal(c[0], spread, 120), rng.normal(c[1], spread, 120),
                         rng.integers(1, 4, 120)])
        for c in centres
    ])  # fmt: skip
    for zoom in (10, 12, 14):
        expected = _densest_node(points, zoom=zoom, sigma=sigma)
        found = peak_density(points, zoom=zoom, sigma_px=sigma, max_windows=10**6)
        assert found == pytest.approx(expected, rel=1e-9)
        # Above a value: the same peak when it is higher, and nothing above it when not.
        assert peak_density(points, zoom=zoom, sigma_px=sigma, above=found / 2) == found
        assert peak_density(points, zoom=zoom, sigma_px=sigma, above=found * 2) <= found * 2
