"""CompStat review: exact window counts at their edges, % change, totals, hour x weekday grid."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from layers.analysis import compstat
from layers.dictionary import dictionary_csv
from layers.settings import LOCAL_TZ
from layers.storage.columnar import IncidentColumns
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.store import open_store

# A Saturday. Week: 1-7 Nov vs 25-31 Oct; 28 days: 11 Oct-7 Nov vs 13 Sep-10 Oct;
# year to date: 1 Jan-7 Nov 2026 vs 1 Jan-7 Nov 2025.
TODAY = date(2026, 11, 7)
PERIOD_COLUMNS = [f"{p}{s}" for p in compstat.PERIODS for s in ("", "_prev")]


def make_columns(
    local_times: list[str],
    *,
    precincts: list[str | None] | None = None,
    agencies: list[str] | None = None,
    utc_times: list[str] | None = None,
) -> IncidentColumns:
    """Coded columns of incidents at Cape Town wall-clock times (or UTC times, if given)."""
    if utc_times is not None:
        occurred = pd.to_datetime(utc_times, utc=True)
    else:
        occurred = pd.to_datetime(local_times).tz_localize(LOCAL_TZ).tz_convert("UTC")
    n = len(occurred)
    frame = pd.DataFrame(
        {
            "agency": agencies or ["SAPS"] * n,
            "collaboration_area": ["a"] * n,
            "category": ["c"] * n,
            "precinct": precincts or ["p"] * n,
            "ward": ["w"] * n,
            "occurred_at": occurred,
            "lon": [18.4] * n,
            "lat": [-33.9] * n,
        }
    )
    return IncidentColumns.from_frame(frame)


def row(frame: pd.DataFrame, label: str) -> pd.Series:
    by = frame.attrs["by"]
    matches = frame[frame[by] == label]
    assert len(matches) == 1, f"{label!r} is not exactly one row"
    return matches.iloc[0]


# Each incident in its own precinct, with the windows it must be counted in (and no other).
EDGES = {
    "2026-11-08 00:00": (),  # the day after the reference day
    "2026-11-07 23:59": ("week", "days28", "ytd"),
    "2026-11-01 00:00": ("week", "days28", "ytd"),
    "2026-10-31 23:59": ("week_prev", "days28", "ytd"),
    "2026-10-25 00:00": ("week_prev", "days28", "ytd"),
    "2026-10-24 23:59": ("days28", "ytd"),
    "2026-10-11 00:00": ("days28", "ytd"),
    "2026-10-10 23:59": ("days28_prev", "ytd"),
    "2026-09-13 00:00": ("days28_prev", "ytd"),
    "2026-09-12 23:59": ("ytd",),
    "2026-01-01 00:00": ("ytd",),
    "2025-12-31 23:59": (),  # after the same date last year
    "2025-11-08 00:00": (),
    "2025-11-07 23:59": ("ytd_prev",),
    "2025-01-01 00:00": ("ytd_prev",),
    "2024-12-31 23:59": (),
}


def test_windows_are_the_documented_dates():
    windows = compstat.review_windows(TODAY)
    assert windows == {
        "week": (date(2026, 11, 1), TODAY, date(2026, 10, 25), date(2026, 10, 31)),
        "days28": (date(2026, 10, 11), TODAY, date(2026, 9, 13), date(2026, 10, 10)),
        "ytd": (date(2026, 1, 1), TODAY, date(2025, 1, 1), date(2025, 11, 7)),
    }
    assert compstat.window_text(windows["week"]) == "1–7 Nov 2026 vs 25–31 Oct 2026"
    assert compstat.window_text(windows["days28"]) == "11 Oct–7 Nov 2026 vs 13 Sep–10 Oct 2026"
    week = compstat.review_windows(date(2026, 1, 3))["week"]
    assert compstat.window_text(week) == "28 Dec 2025–3 Jan 2026 vs 21–27 Dec 2025"


def test_each_window_counts_its_first_and_last_local_day_and_nothing_outside():
    times = list(EDGES)
    columns = make_columns(times, precincts=times)
    frame = compstat.compare_periods(columns, None, by="precinct", today=TODAY)
    for time, expected in EDGES.items():
        if not expected:
            assert not (frame["precinct"] == time).any(), f"{time} has a row but no window"
            continue
        counts = row(frame, time)[PERIOD_COLUMNS]
        assert counts.to_dict() == {c: int(c in expected) for c in PERIOD_COLUMNS}, time


def test_windows_are_local_days_across_utc_midnight():
    # 21:30 UTC is 23:30 the same day in Cape Town, 22:30 UTC is 00:30 the next day.
    columns = make_columns(
        [],
        utc_times=[
            "2026-11-07T21:30Z",  # 7 Nov 23:30: this week
            "2026-11-07T22:30Z",  # 8 Nov 00:30: after the reference day
            "2026-10-31T21:30Z",  # 31 Oct 23:30: previous week
            "2026-10-31T22:30Z",  # 1 Nov 00:30: this week
        ],
    )
    total = compstat.compare_periods(columns, None, by="precinct", today=TODAY).iloc[-1]
    assert (total["week"], total["week_prev"]) == (2, 1)


def test_change_and_percentage_nan_when_nothing_before():
    times = (
        ["2026-11-02"] * 3 + ["2026-10-26"] * 2  # up: 3 against 2
        + ["2026-11-03"]  # new: 1 against 0
        + ["2026-10-27"] * 2  # gone: 0 against 2
        + ["2026-10-12"]  # quiet this fortnight: 0 against 0 for the week
    )  # fmt: skip
    precincts = ["up"] * 5 + ["new"] + ["gone"] * 2 + ["quiet"]
    frame = compstat.compare_periods(make_columns(times, precincts=precincts), None,
                                     by="precinct", today=TODAY)  # fmt: skip
    up, new, gone, quiet = (row(frame, p) for p in ("up", "new", "gone", "quiet"))
    assert (up["week"], up["week_prev"], up["week_change"]) == (3, 2, 1)
    assert up["week_pct"] == pytest.approx(50.0)
    assert gone["week_change"] == -2 and gone["week_pct"] == pytest.approx(-100.0)
    assert np.isnan(new["week_pct"]) and np.isnan(quiet["week_pct"])
    assert not np.isinf(frame.filter(like="_pct").to_numpy()).any()
    text = compstat.pct_text(frame.set_index("precinct"), "week")
    assert text[["up", "new", "gone", "quiet"]].tolist() == ["+50%", "new", "-100%", "–"]


def test_year_to_date_on_29_february_compares_with_28_february():
    times = ["2024-02-29 12:00", "2023-02-28 12:00", "2023-03-01 00:00", "2023-01-01 00:00"]
    columns = make_columns(times)
    frame = compstat.compare_periods(columns, None, by="precinct", today=date(2024, 2, 29))
    assert frame.attrs["windows"]["ytd"] == (
        date(2024, 1, 1), date(2024, 2, 29), date(2023, 1, 1), date(2023, 2, 28)
    )  # fmt: skip
    assert (frame.iloc[-1]["ytd"], frame.iloc[-1]["ytd_prev"]) == (1, 2)


@pytest.mark.parametrize(("today", "counted"), [(date(2025, 2, 28), 0), (date(2025, 3, 1), 1)])
def test_year_to_date_a_year_after_a_leap_day(today, counted):
    columns = make_columns(["2024-02-29 12:00"])
    total = compstat.compare_periods(columns, None, by="precinct", today=today).iloc[-1]
    assert total["ytd_prev"] == counted


def test_total_row_is_last_and_adds_up_every_row_including_missing_values():
    times = ["2026-11-02", "2026-11-03", "2026-10-20", "2026-11-01", "2026-11-04", "2026-10-26"]
    columns = make_columns(times, precincts=["a", "b", "b", None, "a", "b"])
    frame = compstat.compare_periods(columns, None, by="precinct", today=TODAY)
    assert frame["is_total"].tolist() == [False, False, False, True]
    total = frame.iloc[-1]
    assert total["precinct"] == "All precincts"
    missing = row(frame, compstat.NOT_RECORDED)  # on the first day of the week
    assert (missing["week"], missing["week_prev"]) == (1, 0)
    rows = frame[~frame["is_total"]]
    counts = [
        c
        for c in frame.columns
        if not c.endswith(("_pct", "_p")) and c not in {"precinct", "is_total"}
    ]
    assert (rows[counts].sum() == total[counts]).all()
    assert (total["week"], total["week_prev"], total["days28"]) == (4, 1, 6)
    assert total["week_pct"] == pytest.approx(300.0)


def test_rows_sort_by_28_day_change_then_label_and_total_stays_last():
    # 28-day changes: c +2, a +1, b +1, d -1; total +3.
    times = ["2026-11-01"] * 4 + ["2026-09-20"]
    columns = make_columns(times, precincts=["c", "c", "b", "a", "d"])
    frame = compstat.compare_periods(columns, None, by="precinct", today=TODAY)
    assert frame["precinct"].tolist() == ["c", "a", "b", "d", "All precincts"]
    assert frame["days28_change"].tolist() == [2, 1, 1, -1, 3]
    by_prev = compstat.compare_periods(
        columns, None, by="precinct", today=TODAY, sort_by="days28_prev"
    )
    assert by_prev["precinct"].tolist() == ["d", "a", "b", "c", "All precincts"]
    with pytest.raises(ValueError, match="sort_by"):
        compstat.compare_periods(columns, None, by="precinct", today=TODAY, sort_by="precinct")


def test_mask_is_respected_and_arguments_are_checked():
    times = ["2026-11-02", "2026-11-03", "2026-10-28"]
    columns = make_columns(times, agencies=["SAPS", "Metro", "SAPS"])
    mask = np.array([True, False, True])
    frame = compstat.compare_periods(columns, mask, by="agency", today=TODAY)
    assert frame["agency"].tolist() == ["SAPS", "All agencies"]
    assert (frame.iloc[-1]["week"], frame.iloc[-1]["week_prev"]) == (1, 1)
    nothing = compstat.compare_periods(columns, np.zeros(3, bool), by="agency", today=TODAY)
    assert len(nothing) == 1 and nothing.iloc[0]["days28"] == 0
    assert np.isnan(nothing.iloc[0]["days28_pct"])
    with pytest.raises(ValueError, match="`by` must be one of"):
        compstat.compare_periods(columns, None, by="category", today=TODAY)
    with pytest.raises(ValueError, match="`mask`"):
        compstat.compare_periods(columns, np.ones(2, bool), by="agency", today=TODAY)
    with pytest.raises(TypeError, match="`today`"):
        compstat.compare_periods(columns, None, by="agency", today=pd.Timestamp(TODAY))


def test_hour_by_weekday_places_incidents_by_local_weekday_and_hour():
    columns = make_columns(
        [],
        utc_times=[
            "2026-11-02T06:00Z",  # Monday 08:00 local
            "2026-11-01T22:30Z",  # Sunday 22:30 UTC is Monday 00:30 local
            "2026-11-01T21:30Z",  # Sunday 23:30 local
            "2026-11-05T10:15Z",  # Thursday 12:15 local
        ],
    )
    grid = compstat.hour_by_weekday(columns, None)
    assert grid.shape == (7, 24)
    assert list(grid.index) == list(compstat.WEEKDAYS) and grid.index[0] == "Monday"
    assert list(grid.columns) == list(range(24))
    assert grid.loc["Monday", 8] == 1 and grid.loc["Monday", 0] == 1
    assert grid.loc["Sunday", 23] == 1 and grid.loc["Thursday", 12] == 1
    assert int(grid.to_numpy().sum()) == 4
    masked = compstat.hour_by_weekday(columns, np.array([True, False, False, False]))
    assert int(masked.to_numpy().sum()) == 1 and masked.loc["Monday", 8] == 1
    since = compstat.hour_by_weekday(columns, None, since=date(2026, 11, 2))
    assert since.loc["Sunday", 23] == 0 and int(since.to_numpy().sum()) == 3
    until = compstat.hour_by_weekday(columns, None, until=date(2026, 11, 1))
    assert int(until.to_numpy().sum()) == 1 and until.loc["Sunday", 23] == 1


def test_default_reference_day_is_today_unless_the_data_ends_earlier():
    columns = make_columns(["2026-10-31 23:30", "2026-10-01 10:00"])
    assert compstat.default_reference_day(columns, date(2026, 11, 7)) == date(2026, 10, 31)
    assert compstat.default_reference_day(columns, date(2026, 10, 15)) == date(2026, 10, 15)
    empty = make_columns([])
    assert compstat.default_reference_day(empty, date(2026, 11, 7)) == date(2026, 11, 7)


def test_csv_neutralises_formulas_and_keeps_numbers():
    times = ["2026-11-02", "2026-11-03", "2026-10-28"]
    columns = make_columns(times, precincts=["=HYPERLINK(1)", "-x", "plain"])
    frame = compstat.compare_periods(columns, None, by="precinct", today=TODAY)
    text = compstat.to_csv(frame)
    assert text.splitlines()[0].startswith(
        "Precinct,Last 7 days,Previous 7 days,Change (7 days),% change (7 days),"
        "p-value (7 days),Last 28 days"
    )
    back = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    assert set(back["Precinct"]) == {"'=HYPERLINK(1)", "'-x", "plain", "All precincts"}
    assert back["Change (7 days)"].tolist() == frame["week_change"].tolist()
    assert back["% change (7 days)"].isna().tolist() == frame["week_pct"].isna().tolist()
    assert frame.loc[frame["precinct"] == "-x", "precinct"].item() == "-x"  # input untouched


@pytest.mark.parametrize("by", list(compstat.TOTAL_LABELS))
def test_csv_is_for_people_and_its_dictionary_describes_every_column(by):
    times = ["2026-11-02", "2026-11-03", "2026-10-20", "2026-11-01", "2026-09-26"]
    columns = make_columns(times, precincts=["a", "b", "b", None, "a"])
    frame = compstat.compare_periods(columns, None, by=by, today=TODAY)
    rows = list(csv.DictReader(io.StringIO(compstat.to_csv(frame))))
    header = list(rows[0])
    # No internal names: no flag column, no snake_case, every header starts with a capital,
    # "%" or "p-value".
    assert "is_total" not in header and not any("_" in h for h in header)
    assert all(h[0].isupper() or h.startswith(("% ", "p-value ")) for h in header), header
    assert len(header) == 1 + 5 * len(compstat.PERIODS)
    first = header[0]
    assert [r[first] for r in rows][-1] == compstat.TOTAL_LABELS[by]  # the total row, in words
    described = list(csv.DictReader(io.StringIO(dictionary_csv("compstat", header))))
    assert [d["Column"] for d in described] == header  # every column, and no other
    assert all(d["Meaning"] and d["Type / unit"] for d in described)
    assert compstat.TOTAL_LABELS[by] in described[0]["Meaning"]
    assert compstat.NOT_RECORDED in described[0]["Meaning"]


def test_csv_counts_are_whole_numbers_even_where_some_are_hidden():
    times = ["2026-11-02", "2026-11-03", "2026-10-28", "2026-10-01"]
    columns = make_columns(times, precincts=["a", "a", "b", "b"])
    frame = compstat.compare_periods(columns, None, by="precinct", today=TODAY)
    hidden = frame.copy()  # as suppression hides a count: NaN, and its change
    for column in ("week", "week_change", "week_pct", "week_p"):
        hidden[column] = hidden[column].astype(float).where(hidden.index != 1)
    rows = list(csv.DictReader(io.StringIO(compstat.to_csv(hidden))))
    counts = [h for h in rows[0] if not h.startswith(("Precinct", "%", "p-value"))]
    cells = [r[h] for r in rows for h in counts]
    assert all(re.fullmatch(r"-?\d+", c) for c in cells if c), cells  # never "2.0"
    assert rows[1]["Last 7 days"] == "" and rows[1]["Change (7 days)"] == ""
    assert rows[0]["Last 7 days"] == "2" and rows[-1]["Year to date"] == "4"
    assert frame["precinct"].tolist() == ["a", "b", "All precincts"]


def test_demo_store_matches_a_plain_pandas_count(tmp_path):
    manifest = generate_demo(tmp_path / "files", incidents=3000)
    build_demo_store(tmp_path / "store", manifest)
    snapshot = open_store(tmp_path / "store")
    today = compstat.default_reference_day(snapshot.columns, date(2100, 1, 1))
    incidents = snapshot.incidents
    local_day = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ).dt.date
    assert today == local_day.max()
    for by in ("precinct", "agency"):
        frame = compstat.compare_periods(snapshot.columns, None, by=by, today=today)
        rows = frame[~frame["is_total"]].set_index(by)
        for prefix, window in frame.attrs["windows"].items():
            for column, (start, end) in (
                (prefix, (window.start, window.end)),
                (f"{prefix}_prev", (window.prev_start, window.prev_end)),
            ):
                inside = (local_day >= start) & (local_day <= end)
                expected = incidents.loc[inside, by].astype(str).value_counts()
                assert frame.iloc[-1][column] == inside.sum() > 0, (by, column)
                got = rows[column][rows[column] > 0]
                assert got.sort_index().to_dict() == expected.sort_index().to_dict(), (by, column)


# ---- whether a change is more than chance (exact Poisson test) -----------------------------


def _exact_two_sided(k: int, n: int, share: float) -> float:
    """The exact binomial test written out: the probability of every split of ``n`` at most
    as likely as ``k`` (with the usual relative tolerance for ties)."""
    from math import comb

    pmf = [comb(n, i) * share**i * (1 - share) ** (n - i) for i in range(n + 1)]
    return min(1.0, sum(p for p in pmf if p <= pmf[k] * (1 + 1e-7)))


@pytest.mark.parametrize("current, previous, expected", [
    (9, 20, 0.0614),  # the example, down: 9 against 20 is not a significant fall
    (20, 9, 0.0614),  # "+122 %" (9 to 20): not significant at 0.05
    (45, 20, 0.0026),  # a surge
    (4, 0, 0.125),  # 0.5 ** 4 on each side
    (0, 6, 0.03125),  # 2 * 0.5 ** 6: six before, none now is significant
    (5, 5, 1.0),
])  # fmt: skip
def test_change_p_values_with_known_answers(current, previous, expected) -> None:
    p = compstat.change_p_value(current, previous)[0]
    assert p == pytest.approx(expected, abs=5e-5)
    assert p == pytest.approx(_exact_two_sided(current, current + previous, 0.5))


def test_unequal_periods_and_nothing_to_test() -> None:
    # a year to date with 29 February against one without: 60 days against 59
    p = compstat.change_p_value(30, 12, share=60 / 119)[0]
    assert p == pytest.approx(_exact_two_sided(30, 42, 60 / 119))
    assert np.isnan(compstat.change_p_value(0, 0)[0])
    assert np.isnan(compstat.change_p_value(np.nan, 3)[0])  # a hidden count
    with pytest.raises(ValueError, match="`share` must be between 0 and 1"):
        compstat.change_p_value(1, 2, share=1.0)


def test_the_review_marks_significance_not_size():
    # "small": 1 against 3 (-67 %, could be chance); "surge": 12 against 1 (+1,100 %, real);
    # "steady": 30 against 30
    times = (["2026-11-02"] * 1 + ["2026-10-26"] * 3 + ["2026-11-03"] * 12 + ["2026-10-27"] * 1
             + ["2026-11-04"] * 30 + ["2026-10-28"] * 30)  # fmt: skip
    precincts = ["small"] * 4 + ["surge"] * 13 + ["steady"] * 60
    frame = compstat.compare_periods(make_columns(times, precincts=precincts), None,
                                     by="precinct", today=TODAY).set_index("precinct")  # fmt: skip
    assert frame.loc["small", "week_p"] == pytest.approx(0.625)
    assert frame.loc["surge", "week_p"] == pytest.approx(_exact_two_sided(12, 13, 0.5))
    marks = compstat.significant(frame, "week")
    assert marks[["small", "surge", "steady"]].tolist() == ["", "up", ""]
    text = compstat.pct_text(frame, "week")
    assert text[["small", "surge", "steady"]].tolist() == ["-67%", "+1100% ▲", "0%"]
    # the CSV carries the p-value, rounded, beside each period's change
    readable = compstat.readable_table(frame.reset_index())
    assert "p-value (7 days)" in readable.columns
    assert readable.set_index("Precinct").loc["surge", "p-value (7 days)"] == pytest.approx(
        round(_exact_two_sided(12, 13, 0.5), 4))  # fmt: skip


def test_a_hidden_count_hides_its_p_value(demo_store):
    from layers.access.policy import Policy, PrivacyRules, Viewer
    from layers.access.sight import apply_policy
    from layers.access.suppression import disclose
    from layers.analysis.figures import review_figures
    from layers.storage.filters import IncidentFilter

    columns = open_store(demo_store).columns
    day = compstat.default_reference_day(columns, TODAY)
    policy = Policy(Viewer("sam", "agency", "SAPS"), PrivacyRules(k=5))
    sight = apply_policy(policy, columns, None, IncidentFilter())
    table = disclose(review_figures(sight, by="precinct", today=day), sight.k)["table"]
    for prefix in compstat.PERIODS:
        hidden = table[prefix].isna() | table[f"{prefix}_prev"].isna()
        assert hidden.any()  # the test has something to check
        assert table.loc[hidden, f"{prefix}_p"].isna().all()
        shown = ~hidden & (table[prefix] + table[f"{prefix}_prev"] > 0)
        now, before = table.loc[shown, prefix], table.loc[shown, f"{prefix}_prev"]
        expected = compstat.change_p_value(now.to_numpy(), before.to_numpy())
        assert np.allclose(table.loc[shown, f"{prefix}_p"].to_numpy(), expected, equal_nan=True)
