from __future__ import annotations

import numpy as np
import pandas as pd
from frame_reference import counts_by_area, top_areas, weekly_counts

from layers.storage.columnar import heat_cells
from layers.storage.join import OUTSIDE


def test_heat_cells_conserve_incidents_and_merge_close_points():
    lon = np.array([18.05, 18.05001, 18.15, 18.15])
    lat = np.array([-33.95, -33.95001, -33.95, -33.95])
    cells = heat_cells(lon, lat, zoom=11)
    assert cells["weight"].sum() == 4
    assert cells["weight"].tolist() == [2, 2]
    # Each cell is drawn at its centre, never at an incident's own position: within half a
    # 6 px cell (about 0.00206 degrees of longitude at zoom 11) of the points it holds.
    half_cell_deg = 3 / (256 * 2**11) * 360
    assert np.abs(np.sort(cells["lon"]) - [18.050005, 18.15]).max() <= half_cell_deg
    assert not np.isin(cells["lon"], lon).any()


def test_heat_cells_refine_when_zooming_in():
    rng = np.random.default_rng(0)
    lon = rng.normal(18.5, 0.05, 10_000)
    lat = rng.normal(-33.9, 0.05, 10_000)
    coarse = heat_cells(lon, lat, zoom=10)
    fine = heat_cells(lon, lat, zoom=14)
    assert coarse["weight"].sum() == fine["weight"].sum() == 10_000
    assert len(fine) > 4 * len(coarse)


def test_heat_cells_of_nothing_is_an_empty_frame():
    assert list(heat_cells(np.array([]), np.array([]), zoom=10).columns) == ["lat", "lon", "weight"]


def test_counts_include_zero_areas_and_outside():
    rows = pd.DataFrame({"precinct": ["West", "West", OUTSIDE]})
    counts = counts_by_area(rows, by="precinct", names=pd.Series(["East", "West"]))
    assert counts.to_dict() == {"East": 0, "West": 2, OUTSIDE: 1}


def test_top_areas_and_shares():
    rows = pd.DataFrame({"ward": ["1", "1", "1", "2"]})
    top = top_areas(rows, by="ward", n=1)
    assert top.to_dict("records") == [{"ward": "1", "incidents": 3, "share": 0.75}]


def test_weekly_counts_fill_empty_weeks_with_zero():
    times = pd.to_datetime(["2025-01-06T10:00", "2025-01-07T10:00", "2025-01-21T10:00"])
    rows = pd.DataFrame(
        {"occurred_at": times.tz_localize("Africa/Johannesburg").tz_convert("UTC"),
         "agency": ["SAPS", "LEAP", "SAPS"]}
    )  # fmt: skip
    weekly = weekly_counts(rows)
    assert weekly.index.strftime("%Y-%m-%d").tolist() == ["2025-01-06", "2025-01-13", "2025-01-20"]
    assert weekly["SAPS"].tolist() == [1, 0, 1]
    assert weekly.to_numpy().sum() == 3
