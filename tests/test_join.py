from __future__ import annotations

import numpy as np
import pytest

from layers.storage.join import OUTSIDE, assign_areas


def test_points_get_their_area(precincts):
    names = assign_areas(np.array([18.05, 18.15]), np.array([-33.95, -33.95]), precincts)
    assert names.tolist() == ["West", "East"]


def test_point_on_shared_edge_goes_to_first_area_deterministically(precincts):
    # 18.1 is the edge shared by East (row 0) and West (row 1).
    names = assign_areas(np.array([18.1] * 3), np.array([-33.95] * 3), precincts)
    assert names.tolist() == ["East", "East", "East"]
    reordered = precincts.iloc[::-1].reset_index(drop=True)
    assert assign_areas(np.array([18.1]), np.array([-33.95]), reordered).tolist() == ["West"]


def test_point_outside_every_polygon_is_kept_as_outside(precincts):
    names = assign_areas(np.array([18.3, 18.05]), np.array([-33.95, -33.95]), precincts)
    assert names.tolist() == [OUTSIDE, "West"]


def test_every_point_gets_exactly_one_area(precincts):
    rng = np.random.default_rng(1)
    lon = rng.uniform(17.95, 18.25, 5000)
    lat = rng.uniform(-34.05, -33.85, 5000)
    names = assign_areas(lon, lat, precincts)
    assert len(names) == 5000
    inside = (lon >= 18.0) & (lon <= 18.2) & (lat >= -34.0) & (lat <= -33.9)
    assert ((names != OUTSIDE) == inside).all()
    assert set(names[inside]) == {"East", "West"}


def test_projected_areas_are_refused(precincts):
    with pytest.raises(ValueError, match="EPSG:4326"):
        assign_areas(np.array([0.0]), np.array([0.0]), precincts.to_crs(32734))
