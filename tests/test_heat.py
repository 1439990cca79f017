"""The heat surface's units, its peak and its legend's numbers (layers.maps.heat)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from heat_render import Viewport, density, project

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
