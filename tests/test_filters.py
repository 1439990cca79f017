from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from layers.storage.filters import IncidentFilter, apply_filter, filter_from_query, filter_mask


@pytest.fixture
def incidents() -> pd.DataFrame:
    times = pd.to_datetime(
        ["2025-01-01T21:59", "2025-01-01T22:00", "2025-01-02T03:00", "2025-01-03T12:00"]
    ).tz_localize("Africa/Johannesburg")
    return pd.DataFrame(
        {
            "agency": pd.Categorical(["SAPS", "LEAP", "SAPS", "Metro Police"]),
            "collaboration_area": ["A", "B", "A", "C"],
            "category": ["Murder", "Shooting incident", "Murder", "Illegal dumping"],
            "occurred_at": times.tz_convert("UTC"),
            "precinct": ["West", "West", "East", "East"],
            "ward": ["1", "2", "1", "2"],
        }
    )


def test_empty_filter_keeps_everything(incidents):
    assert filter_mask(incidents, IncidentFilter()).all()
    assert IncidentFilter().is_empty


def test_list_filters_combine_with_and(incidents):
    flt = IncidentFilter(agencies=("SAPS", "LEAP"), precincts=("West",))
    assert filter_mask(incidents, flt).tolist() == [True, True, False, False]


def test_dates_are_local_days_inclusive(incidents):
    flt = IncidentFilter(since=date(2025, 1, 2), until=date(2025, 1, 2))
    assert filter_mask(incidents, flt).tolist() == [False, False, True, False]


def test_hours_window_wraps_past_midnight(incidents):
    flt = IncidentFilter(hours=(22, 4))
    assert filter_mask(incidents, flt).tolist() == [False, True, True, False]
    assert filter_mask(incidents, IncidentFilter(hours=(12, 13))).tolist() == [0, 0, 0, 1]


def test_apply_filter_does_not_touch_its_input(incidents):
    before = incidents.copy()
    out = apply_filter(incidents, IncidentFilter(wards=("2",)))
    assert len(out) == 2
    pd.testing.assert_frame_equal(incidents, before)


def test_url_round_trip():
    flt = IncidentFilter(
        agencies=("SAPS", "LEAP"), areas=("Joint operations",), since=date(2025, 1, 1),
        until=date(2025, 6, 30), hours=(22, 4), wards=("9",),
    )  # fmt: skip
    assert filter_from_query(flt.to_query()) == flt


def test_bad_url_values_are_dropped_not_raised():
    flt = filter_from_query({"since": "not-a-date", "hours": "99-3", "agencies": ["SAPS"]})
    assert flt == IncidentFilter(agencies=("SAPS",))
    backwards = filter_from_query({"since": "2025-02-01", "until": "2025-01-01"})
    assert backwards.since is None and backwards.until is None


def test_since_after_until_is_refused():
    with pytest.raises(ValueError, match="must not be after"):
        IncidentFilter(since=date(2025, 2, 1), until=date(2025, 1, 1))


def test_filter_normalises_what_callers_pass():
    flt = IncidentFilter(agencies="SAPS", hours=[22, 4], since="2025-01-01")
    assert flt == IncidentFilter(agencies=("SAPS",), hours=(22, 4), since=date(2025, 1, 1))
    assert hash(flt) == hash(
        IncidentFilter(agencies=["SAPS"], hours=(22, 4), since=date(2025, 1, 1))
    )


def test_equal_hour_ends_are_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="start != end"):
        IncidentFilter(hours=(5, 5))


def test_bad_dates_in_a_url_keep_a_good_hours_window():
    flt = filter_from_query({"since": "2026-02-01", "until": "2026-01-01", "hours": "22-4"})
    assert flt == IncidentFilter(hours=(22, 4))
