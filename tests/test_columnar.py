"""The coded-column fast path gives the same answers as the frame-based reference."""

from __future__ import annotations

from datetime import date

import frame_reference as aggregate
import numpy as np
import pandas as pd
import pytest

from layers.storage import columnar
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.filters import IncidentFilter, apply_filter, filter_mask
from layers.storage.store import open_store


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("columnar")
    manifest = generate_demo(folder / "files", incidents=6000)
    build_demo_store(folder / "store", manifest)
    return open_store(folder / "store")


def random_filters(snapshot, n: int) -> list[IncidentFilter]:
    rng = np.random.default_rng(7)
    frame = snapshot.incidents
    values = {
        name: sorted(frame[column].astype(str).unique())
        for name, column in {
            "agencies": "agency", "areas": "collaboration_area", "categories": "category",
            "precincts": "precinct", "wards": "ward",
        }.items()
    }  # fmt: skip
    filters = []
    for _ in range(n):
        kwargs: dict[str, object] = {}
        for name, choices in values.items():
            if rng.random() < 0.4:
                kwargs[name] = tuple(rng.choice(choices, size=rng.integers(1, 4)))
        if rng.random() < 0.5:
            kwargs["since"] = date(2025, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        if rng.random() < 0.3:
            kwargs["until"] = date(2026, int(rng.integers(1, 11)), int(rng.integers(1, 29)))
        if rng.random() < 0.5:
            start, end = (int(h) for h in rng.integers(0, 24, size=2))
            if start != end:
                kwargs["hours"] = (start, max(end, 1))
        filters.append(IncidentFilter(**kwargs))
    return filters


def test_select_equals_the_frame_filter(snapshot):
    columns = snapshot.columns
    checked = 0
    for flt in [IncidentFilter(), IncidentFilter(hours=(22, 4)), *random_filters(snapshot, 60)]:
        expected = filter_mask(snapshot.incidents, flt)
        assert np.array_equal(columnar.select(columns, flt), expected), flt
        checked += int(expected.sum() > 0)
    assert checked > 20  # the filters were not all empty


def test_unknown_values_match_nothing(snapshot):
    flt = IncidentFilter(agencies=("No such agency",))
    assert not columnar.select(snapshot.columns, flt).any()
    assert columnar.unknown_values(snapshot.columns, flt) == {"agencies": ["No such agency"]}
    assert columnar.unknown_values(snapshot.columns, IncidentFilter(agencies=("SAPS",))) == {}


def test_local_day_and_hour_cross_midnight_in_cape_town_time():
    frame = pd.DataFrame(
        {
            "agency": ["SAPS", "SAPS"],
            "collaboration_area": ["a", "a"],
            "category": ["c", "c"],
            "precinct": ["p", "p"],
            "ward": ["w", "w"],
            # 21:30 and 22:30 UTC are 23:30 and 00:30 the next day in Cape Town (UTC+2).
            "occurred_at": pd.to_datetime(["2025-03-01T21:30Z", "2025-03-01T22:30Z"]),
            "lon": [18.4, 18.4],
            "lat": [-33.9, -33.9],
        }
    )
    columns = columnar.IncidentColumns.from_frame(frame)
    assert columns.hour.tolist() == [23, 0]
    assert columnar.select(columns, IncidentFilter(since="2025-03-02")).tolist() == [False, True]


def test_figures_equal_the_frame_aggregates(snapshot):
    columns = snapshot.columns
    for flt in random_filters(snapshot, 15):
        rows = apply_filter(snapshot.incidents, flt)
        mask = columnar.select(columns, flt)
        fast = columnar.headline(columns, mask)
        slow = aggregate.headline(rows)
        assert fast["incidents"] == slow["incidents"]
        assert fast["agencies"] == slow["agencies"]
        assert fast["outside"] == slow["outside"]
        if len(rows):
            assert fast["first"] == slow["first"].date() and fast["last"] == slow["last"].date()
        counts = columnar.area_counts(columns, mask, by="ward", names=snapshot.wards["name"])
        expected = aggregate.counts_by_area(rows, by="ward", names=snapshot.wards["name"])
        pd.testing.assert_series_equal(counts, expected, check_names=False, check_index=False)
        assert list(counts.index) == list(expected.index)
        weekly = columnar.weekly_counts(columns, mask)
        reference = aggregate.weekly_counts(rows)
        if len(rows):
            assert weekly.index.equals(pd.DatetimeIndex(reference.index))
            assert sorted(weekly.columns) == sorted(reference.columns)
            assert (weekly[sorted(weekly.columns)].to_numpy()
                    == reference[sorted(reference.columns)].to_numpy()).all()  # fmt: skip
        top = columnar.top_areas(columns, mask, by="precinct", n=5)
        assert (
            top["incidents"].tolist()
            == aggregate.top_areas(rows, by="precinct", n=5)["incidents"].tolist()
        )


def test_heat_grid_equals_heat_cells_and_conserves_incidents(snapshot):
    columns = snapshot.columns
    flt = IncidentFilter(agencies=("SAPS", "LEAP"))
    mask = columnar.select(columns, flt)
    rows = apply_filter(snapshot.incidents, flt)
    for zoom in (9, 11, 14):
        fast = columnar.heat_grid(columns, mask, zoom=zoom)
        slow = columnar.heat_cells(rows["lon"].to_numpy(), rows["lat"].to_numpy(), zoom=zoom)
        assert fast["weight"].sum() == mask.sum()
        key = ["lat", "lon", "weight"]
        pd.testing.assert_frame_equal(
            fast.sort_values(key, ignore_index=True), slow.sort_values(key, ignore_index=True)
        )


def test_heat_grid_in_bounds_counts_the_cells_over_the_box(snapshot):
    columns = snapshot.columns
    frame = snapshot.incidents
    west, east = frame["lon"].quantile([0.3, 0.6])
    south, north = frame["lat"].quantile([0.2, 0.7])
    cells = columnar.heat_grid(columns, None, zoom=13, bounds=(west, south, east, north))
    # Whole cells: every incident in the box, and none further out than one cell (4 px at
    # zoom 13 is about 0.00034 degrees).
    step = 4 / 256 / 2**13 * 360

    def within(margin: float) -> int:
        return int(
            (frame["lon"].between(west - margin, east + margin)
             & frame["lat"].between(south - margin, north + margin)).sum()
        )  # fmt: skip

    assert within(0) <= cells["weight"].sum() <= within(step)
    assert cells["lon"].between(west - step, east + step).all()


def test_busiest_bin_is_over_all_incidents_not_only_the_view(snapshot):
    columns = snapshot.columns
    everything = columnar.heat_grid(columns, None, zoom=12, cell_px=16)
    corner = (18.0, -34.4, 18.01, -34.39)  # a box with no incident
    cells = columnar.heat_grid(columns, None, zoom=12, bounds=corner, bin_px=16)
    assert cells.empty
    assert cells.attrs["busiest_bin"] == everything["weight"].max()
    with pytest.raises(ValueError, match="power of two"):
        columnar.heat_grid(columns, None, zoom=12, bin_px=10)


def test_cell_budget_doubles_the_cells(snapshot):
    columns = snapshot.columns
    fine = columnar.heat_grid(columns, None, zoom=15)
    capped = columnar.heat_grid(columns, None, zoom=15, max_cells=len(fine) // 3)
    assert len(capped) <= len(fine) // 3 and capped.attrs["cell_px"] >= 8
    assert capped["weight"].sum() == fine["weight"].sum() == len(columns)


def test_dense_and_sparse_counting_agree(monkeypatch, snapshot):
    columns = snapshot.columns
    dense = columnar.heat_grid(columns, None, zoom=16)
    monkeypatch.setattr(columnar, "DENSE_GRID_CELLS", 0)
    sparse = columnar.heat_grid(columns, None, zoom=16)
    key = ["lat", "lon", "weight"]
    pd.testing.assert_frame_equal(
        dense.sort_values(key, ignore_index=True), sparse.sort_values(key, ignore_index=True)
    )


def test_snapshot_reads_columns_without_the_full_frame(tmp_path):
    manifest = generate_demo(tmp_path / "files", incidents=500)
    build_demo_store(tmp_path / "store", manifest)
    snapshot = open_store(tmp_path / "store")
    assert len(snapshot.columns) == snapshot.n_incidents == 500
    assert "incidents" not in snapshot.__dict__  # the GeoDataFrame was never read
    assert columnar.counts_by(snapshot.columns, None, "agency").sum() == 500


def test_week_days_counts_the_days_a_period_leaves_of_each_week():
    from datetime import date

    import pandas as pd

    from layers.storage.columnar import week_days

    mondays = pd.DatetimeIndex(["2026-09-28", "2026-10-05", "2026-10-12"])
    # Thursday 1 October to Saturday 17 October: 4 days, a whole week, 6 days
    assert week_days(mondays, date(2026, 10, 1), date(2026, 10, 17)).tolist() == [4, 7, 6]
    assert week_days(mondays, date(2026, 9, 28), date(2026, 10, 18)).tolist() == [7, 7, 7]
    assert week_days(mondays, date(2026, 10, 6), date(2026, 10, 6)).tolist() == [0, 1, 0]
