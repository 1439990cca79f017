"""Time playback: frames in local time, figures per frame as the viewer may see them, one colour
scale for every frame, the public's published months, and the pages that play them."""

from __future__ import annotations

import dataclasses
from datetime import date
from functools import partial
from pathlib import Path

import folium
import numpy as np
import pandas as pd
import pytest
from conftest import dashboard_apps
from streamlit.testing.v1 import AppTest

from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.access.sight import apply_policy, sensitive_rows
from layers.access.suppression import disclose
from layers.analysis.figures import count, heat_figure, total
from layers.analysis.playback import (
    MAX_FRAMES,
    frame_figures,
    frame_heat,
    frame_sight,
    frames,
    histogram_figure,
    timeline,
)
from layers.maps.heat import page_points, peak_density
from layers.maps.playback import playback_area_classes, playback_scale, prepare_frame
from layers.maps.view import MAX_HEAT_CELLS
from layers.publishing.playback import public_frame_layers, public_playback
from layers.publishing.public import PublicSite, public_figures
from layers.publishing.publish import ALL, PublishOptions, publish_site
from layers.storage.columnar import (
    EPOCH,
    IncidentColumns,
    area_counts,
    mercator_pixels,
    select,
)
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
ANALYST = Policy(Viewer("analyst", "analyst"))
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))
METRO = Policy(Viewer("metro", "agency", agency="Metro Police"))
PUBLIC = Policy(Viewer("cpf", "public"))


def _columns(rows: list[tuple[str, float, float, str, str, str]]) -> IncidentColumns:
    """Coded columns of (occurred_at UTC, lon, lat, agency, category, precinct) incidents."""
    frame = pd.DataFrame(rows, columns=["occurred_at", "lon", "lat", "agency", "category",
                                        "precinct"])  # fmt: skip
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["collaboration_area"] = np.where(
        frame["category"].eq("Sexual offences"), "Gender-based violence", "Property crime"
    )
    frame["ward"] = "W1"
    return IncidentColumns.from_frame(frame)


def _spread(
    n: int, when: str, lon: float, lat: float, *, agency: str = "Metro Police",
    category: str = "Burglary", precinct: str = "P1", seed: int = 0,
) -> list[tuple]:  # fmt: skip
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-40, 40, (2, n)) / 111_000
    return [(when, lon + a, lat + b, agency, category, precinct)
            for a, b in zip(dx, dy, strict=True)]  # fmt: skip


# Frames


def test_weeks_run_monday_to_sunday_and_the_range_cuts_the_first_and_last():
    weeks = frames(date(2026, 2, 25), date(2026, 3, 10), step="week")
    assert [(f.start, f.end) for f in weeks] == [
        (date(2026, 2, 25), date(2026, 3, 1)),
        (date(2026, 3, 2), date(2026, 3, 8)),
        (date(2026, 3, 9), date(2026, 3, 10)),
    ]
    assert [f.whole for f in weeks] == [False, True, False]
    assert [f.label for f in weeks] == ["Week of 23 Feb 2026", "Week of 2 Mar 2026",
                                        "Week of 9 Mar 2026"]  # fmt: skip
    assert weeks[0].note == "25 Feb 2026 to 1 Mar 2026 only" and weeks[1].note == ""
    assert [f.days for f in weeks] == [5, 7, 2]


def test_months_are_calendar_months_leap_day_included():
    months = frames(date(2024, 1, 15), date(2024, 3, 31), step="month")
    assert [(f.start, f.end, f.whole) for f in months] == [
        (date(2024, 1, 15), date(2024, 1, 31), False),
        (date(2024, 2, 1), date(2024, 2, 29), True),
        (date(2024, 3, 1), date(2024, 3, 31), True),
    ]
    assert [f.label for f in months] == ["January 2024", "February 2024", "March 2024"]
    one = frames(date(2025, 12, 31), date(2025, 12, 31), step="month")
    assert len(one) == 1 and one[0].note == "31 Dec 2025 only"


def test_bad_ranges_and_steps_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="swap the dates"):
        frames(date(2026, 3, 1), date(2026, 2, 1), step="week")
    with pytest.raises(ValueError, match="'week' or 'month'"):
        frames(date(2026, 3, 1), date(2026, 4, 1), step="day")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"more than {MAX_FRAMES} frames: choose months"):
        frames(date(2010, 1, 1), date(2026, 1, 1), step="week")
    assert len(frames(date(2010, 1, 1), date(2026, 1, 1), step="month")) == 193


def test_an_incident_falls_in_the_frame_of_its_local_day():
    # Cape Town is UTC+2: 22:30 UTC on 28 Feb is 00:30 on 1 Mar; 21:59 UTC on Sunday 1 Mar is
    # still Sunday there, 22:00 UTC is Monday 2 Mar.
    cols = _columns([
        ("2026-02-28T21:59:00Z", 18.6, -33.9, "SAPS", "Theft", "P1"),  # Sat 28 Feb, 23:59
        ("2026-02-28T22:30:00Z", 18.6, -33.9, "SAPS", "Theft", "P1"),  # Sun 1 Mar, 00:30
        ("2026-03-01T21:59:00Z", 18.6, -33.9, "SAPS", "Theft", "P1"),  # Sun 1 Mar, 23:59
        ("2026-03-01T22:00:00Z", 18.6, -33.9, "SAPS", "Theft", "P1"),  # Mon 2 Mar, 00:00
    ])  # fmt: skip
    sight = apply_policy(ANALYST, cols, None, IncidentFilter())
    first, last = date(2026, 2, 1), date(2026, 3, 31)
    months = disclose({"h": histogram_figure(timeline(sight, first=first, last=last,
                                                      step="month"))}, 3)["h"]  # fmt: skip
    assert months.tolist() == [1, 3]
    weeks = timeline(sight, first=first, last=last, step="week")
    shown = disclose({"h": histogram_figure(weeks)}, 3)["h"]
    assert shown[pd.Timestamp("2026-02-23")] == 3 and shown[pd.Timestamp("2026-03-02")] == 1
    # Outside the range: not in any frame.
    narrow = timeline(sight, first=date(2026, 3, 1), last=date(2026, 3, 1), step="week")
    assert len(narrow) == 1 and len(narrow.sight.columns) == 2


# Figures per frame


def _demo_range(demo_store: Path) -> tuple[IncidentColumns, IncidentFilter, date, date]:
    cols = open_store(demo_store).columns
    first, last = date(2026, 3, 4), date(2026, 6, 17)  # part weeks and part months at both ends
    return cols, IncidentFilter(since=first, until=last), first, last


@pytest.mark.parametrize("step", ["week", "month"])
def test_an_analysts_frames_add_up_to_the_range(demo_store, step):
    cols, flt, first, last = _demo_range(demo_store)
    mask = select(cols, flt)
    line = timeline(apply_policy(ANALYST, cols, mask, flt), first=first, last=last, step=step)
    histogram = disclose({"h": histogram_figure(line)}, 3)["h"]
    assert int(histogram.sum()) == int(mask.sum()) > 0
    snapshot = open_store(demo_store)
    for index in range(len(line)):
        shown = prepare_frame(snapshot, line, index, boundary="precinct", zoom=10)
        n = int(histogram.iloc[index])
        days = (cols.day[mask] >= (line.frames[index].start - EPOCH).days) & (
            cols.day[mask] <= (line.frames[index].end - EPOCH).days
        )
        assert n == int(days.sum())
        assert int(shown.heat["weight"].sum()) == n  # every incident in a cell, at any zoom
        assert int(shown.areas["count"].sum()) + _outside(cols, mask & _in(cols, line, index)) == n


def _in(cols: IncidentColumns, line, index: int) -> np.ndarray:
    frame = line.frames[index]
    return (cols.day >= (frame.start - EPOCH).days) & (cols.day <= (frame.end - EPOCH).days)


def _outside(cols: IncidentColumns, mask: np.ndarray) -> int:
    labels = cols.labels["precinct"]
    codes = cols.codes["precinct"][mask]
    outside = [i for i, name in enumerate(labels) if name.startswith("Outside")]
    return int(np.isin(codes, outside).sum())


@pytest.mark.parametrize("policy", [ANALYST, SAPS, METRO], ids=lambda p: p.viewer.label)
@pytest.mark.parametrize("area", [None, "precinct"])
def test_a_frame_shows_what_the_filter_narrowed_to_its_dates_would(demo_store, policy, area):
    """Suppression holds in every frame, for every role: each frame's figures (areas, heat,
    total) are, exactly, those of the same filter with the frame's dates, as the map and the
    figures beside it show that filter."""
    cols, flt, first, last = _demo_range(demo_store)
    if area:
        flt = dataclasses.replace(flt, precincts=(cols.labels["precinct"][3],))
    line = timeline(apply_policy(policy, cols, select(cols, flt), flt), first=first, last=last,
                    step="week")  # fmt: skip
    names = [n for n in cols.labels["precinct"] if not n.startswith("Outside")]
    k = PrivacyRules().k
    for index, frame in enumerate(line.frames):
        narrowed = dataclasses.replace(flt, since=frame.start, until=frame.end)
        sight = apply_policy(policy, cols, select(cols, narrowed), narrowed)
        expected = disclose({
            "areas": count(sight, partial(area_counts, by="precinct", names=names),
                           level="precinct"),
            "heat": heat_figure(sight, zoom=13),
            "total": count(sight, total, how="whole"),
        }, k)  # fmt: skip
        played = disclose({
            **frame_figures(line, index, boundary="precinct", names=names),
            "heat": frame_heat(line, index, zoom=13),
            "total": count(frame_sight(line, index), total, how="whole"),
        }, k)  # fmt: skip
        pd.testing.assert_series_equal(played["areas"], expected["areas"])
        pd.testing.assert_frame_equal(played["heat"], expected["heat"])
        assert played["heat"].attrs == expected["heat"].attrs
        assert played["total"] == expected["total"]


def _week(when: str, rows: list[tuple]) -> list[tuple]:
    return [(when, *row[1:]) for row in rows]


def _hand_made() -> IncidentColumns:
    """Two weeks in three precincts. Week of 2 Mar: Metro Police's 2 burglaries in P1, 9 in P2
    and 4 in P3, SAPS's own 5 in P1, and 4 sexual offences in P2; week of 9 Mar: Metro's 6
    in P1 and 9 in P2."""
    a, b = "2026-03-04T10:00:00Z", "2026-03-11T10:00:00Z"
    return _columns(
        _spread(2, a, 18.60, -33.90)
        + _spread(9, a, 18.70, -33.90, precinct="P2", seed=1)
        + _spread(4, a, 18.80, -33.90, precinct="P3", seed=2)
        + _spread(5, a, 18.62, -33.95, agency="SAPS", seed=3)
        + _spread(4, a, 18.70, -33.90, category="Sexual offences", precinct="P2", seed=4)
        + _spread(6, b, 18.60, -33.90, seed=5)
        + _spread(9, b, 18.70, -33.90, precinct="P2", seed=6)
    )


def test_small_counts_are_hidden_in_their_frame_with_complements():
    cols = _hand_made()
    line = timeline(apply_policy(SAPS, cols, None, IncidentFilter()), first=date(2026, 3, 2),
                    last=date(2026, 3, 15), step="week")  # fmt: skip
    areas = [
        disclose(frame_figures(line, i, boundary="precinct", names=["P1", "P2", "P3"]), 3)["areas"]
        for i in range(2)
    ]
    # Week 1: P1's 2 others are hidden (its own 5 do not count towards k), and P3, the
    # smallest beside it, so that P1 cannot be worked out from the total.
    assert areas[0].isna().to_dict() == {"P1": True, "P2": False, "P3": True}
    assert areas[0]["P2"] == 13  # 9 burglaries and 4 sexual offences, counted by precinct
    # Week 2: P3 had none, which is hidden too (a blank must not tell none from one), and
    # P1 beside it, so that the hidden ones hold at least k together.
    assert areas[1].isna().to_dict() == {"P1": True, "P2": False, "P3": True}
    assert areas[1]["P2"] == 9
    # The same incidents played as one month: nothing small.
    month = timeline(line.sight, first=date(2026, 3, 2), last=date(2026, 3, 15), step="month")
    whole = disclose(frame_figures(month, 0, boundary="precinct", names=["P1", "P2", "P3"]), 3)
    assert whole["areas"].to_dict() == {"P1": 13.0, "P2": 22.0, "P3": 4.0}


def test_partners_rows_are_only_in_anonymous_cells_and_sensitive_rows_in_none():
    cols = _hand_made()
    rules = PrivacyRules()
    line = timeline(apply_policy(SAPS, cols, None, IncidentFilter()), first=date(2026, 3, 2),
                    last=date(2026, 3, 15), step="week")  # fmt: skip
    scale = 2.0**rules.anonymous_shift
    sensitive = sensitive_rows(cols, rules)
    own = np.asarray(cols.labels["agency"])[cols.codes["agency"]] == "SAPS"
    assert int(sensitive.sum()) == 4 and int(own.sum()) == 5
    for index in range(len(line)):
        cells = disclose({"heat": frame_heat(line, index, zoom=16)}, 3)["heat"]
        px, py = mercator_pixels(cells["lon"].to_numpy(), cells["lat"].to_numpy(), 0)
        anonymous = np.isclose(px * scale % 1, 0.5, atol=1e-6) & np.isclose(
            py * scale % 1, 0.5, atol=1e-6
        )
        # Worked out here, apart from the code: the frame's other agencies' incidents,
        # sensitive ones left out, per anonymous cell; cells of fewer than k dropped.
        rows = _in(cols, line, index)
        others = rows & ~own & ~sensitive
        ids = pd.Series(list(zip((cols.px[others] * scale).astype(int),
                                 (cols.py[others] * scale).astype(int), strict=True)))  # fmt: skip
        per_cell = ids.value_counts()
        kept = per_cell[per_cell >= rules.k]
        assert sorted(cells.loc[anonymous, "weight"]) == sorted(kept)
        shown = set(zip((px[anonymous] * scale).astype(int), (py[anonymous] * scale).astype(int),
                        strict=True))  # fmt: skip
        assert shown == set(kept.index)
        # SAPS's own incidents are in fine cells, every one of them.
        assert int(cells.loc[~anonymous, "weight"].sum()) == int((rows & own).sum())
    assert (per_cell < rules.k).any() or index == 0  # something was small enough to drop


def test_the_histogram_is_suppressed_like_a_weekly_trend_under_an_area_filter():
    cols = _hand_made()
    flt = IncidentFilter(precincts=("P1",))
    line = timeline(apply_policy(SAPS, cols, select(cols, flt), flt), first=date(2026, 3, 2),
                    last=date(2026, 3, 22), step="week")  # fmt: skip
    shown = disclose({"h": histogram_figure(line)}, 3)["h"]
    # P1: week 1 holds 2 of Metro's and SAPS's own 5, week 2 Metro's 6, week 3 none. The 2 are
    # hidden, and the empty week beside them: together 2, not enough, so week 2 as well.
    assert shown.isna().tolist() == [True, True, True]
    city = timeline(apply_policy(SAPS, cols, None, IncidentFilter()), first=date(2026, 3, 2),
                    last=date(2026, 3, 22), step="week")  # fmt: skip
    # Over the whole city a count per week is shown as it is (the Map page's weekly trend).
    assert disclose({"h": histogram_figure(city)}, 3)["h"].tolist() == [24, 15, 0]


def test_the_colour_scale_is_the_busiest_frame_at_the_zoom(demo_store):
    cols, flt, first, last = _demo_range(demo_store)
    for policy in (ANALYST, SAPS):
        line = timeline(apply_policy(policy, cols, select(cols, flt), flt), first=first,
                        last=last, step="week")  # fmt: skip
        for zoom in (11, 14):
            scale = playback_scale(line, zoom=zoom)
            peaks = []
            for index in range(len(line)):
                cells = disclose({"heat": frame_heat(line, index, zoom=zoom)}, 3)["heat"]
                peaks.append(peak_density(page_points(cells), zoom=zoom,
                                          sigma_px=scale.radius / 2))  # fmt: skip
            assert scale.top == pytest.approx(max(peaks), rel=1e-12)
            assert scale.busiest == int(np.argmax(peaks))
            assert scale.top > min(peaks)  # frames differ: the scale is not each frame's own
    # Anonymous cells at a close zoom are drawn wider, and the scale is read at that width.
    assert playback_scale(line, zoom=16).radius > 20


def test_the_frame_map_uses_the_view_and_the_areas_one_set_of_classes(demo_store):
    snapshot = open_store(demo_store)
    cols, flt, first, last = _demo_range(demo_store)
    line = timeline(apply_policy(SAPS, cols, select(cols, flt), flt), first=first, last=last,
                    step="month")  # fmt: skip
    box = (18.4, -34.05, 18.55, -33.9)
    near = prepare_frame(snapshot, line, 1, boundary="ward", zoom=13, bounds=box)
    everywhere = prepare_frame(snapshot, line, 1, boundary="ward", zoom=13)
    assert 0 < len(near.heat) < len(everywhere.heat) <= MAX_HEAT_CELLS
    assert near.frame == line.frames[1] and near.frame.label == "April 2026"
    assert near.areas["count_text"].str.startswith("fewer than").any()
    classes = playback_area_classes(snapshot, line, boundary="ward")
    counts = pd.concat([prepare_frame(snapshot, line, i, boundary="ward", zoom=10).areas["count"]
                        for i in range(len(line))]).dropna()  # fmt: skip
    assert classes[0][0] <= counts.min() and classes[-1][1] == counts.max()


# The public's playback: published months only


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pb-site") / "site"
    options = PublishOptions(today=date(2026, 12, 5), months=6)
    publish_site(open_store(demo_store), out, options=options)
    return out


def test_the_public_plays_back_each_month_exactly_as_published(site):
    public = PublicSite.load(site)
    months = tuple(public.months[-4:])
    played = public_playback(public, months, ALL)
    assert played.histogram["label"].tolist()[0] == pd.Timestamp(f"{months[0]}-01").strftime(
        "%B %Y"
    )
    for index, month in enumerate(months):
        one = public_figures(public, (month,), ALL)
        frame = played.frames[index]
        assert frame.months == (month,)
        pd.testing.assert_frame_equal(frame.cells, one.cells)
        view = public.view(month, ALL)
        expected = np.nan if view["total"] is None else float(view["total"])
        assert played.histogram["incidents"].iloc[index] == pytest.approx(expected, nan_ok=True)
        assert played.histogram["end"].iloc[index].month == int(month[5:])
    counts = pd.concat([f.cells["count"] for f in played.frames]).dropna()
    assert played.classes[0][0] == counts.min() and played.classes[-1][1] == counts.max()
    # Every frame's map is drawn on those classes: the same legend in every month.
    legends = set()
    for index in range(len(months)):
        fmap = folium.Map()
        for group in public_frame_layers(public, played, index):
            group.add_to(fmap)
        html = fmap.get_root().render()
        at = html.find("Incidents per cell of about")
        assert at > 0
        # The classes' rows (a "hidden" row shows in the months that hide a count).
        legends.add(html[at : html.find("})", at)].split("Hidden")[0])
    assert len(legends) == 1


def test_a_public_precinct_playback_keeps_to_its_cells(site):
    public = PublicSite.load(site)
    months = tuple(public.months[-3:])
    area = sorted(public.view(months[0], ALL)["areas"])[0]
    played = public_playback(public, months, ALL, area)
    for frame in played.frames:
        assert set(frame.cells["precinct"]) <= {area}
    with pytest.raises(Exception, match="Pick at least one published month"):
        public_playback(public, (), ALL)


# The pages


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=90)


def _heading(at: AppTest) -> str:
    return next(h.value for h in at.subheader if " incidents" in h.value)


def _frame_count(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Incidents in this frame")


def test_the_playback_page_steps_week_by_week_and_month_by_month(app, demo_store):
    at = app(demo_store, since="2026-03-04", until="2026-06-17").run()
    at.switch_page("pages/playback.py").run()
    assert not at.exception
    cols = open_store(demo_store).columns
    local = pd.to_datetime(cols.day, unit="D")

    def in_days(a: str, b: str) -> int:
        return int(((local >= a) & (local <= b)).sum())

    assert _heading(at) == (f"Week of 2 Mar 2026 (4 Mar 2026 to 8 Mar 2026 only): "
                            f"{in_days('2026-03-04', '2026-03-08'):,} incidents")  # fmt: skip
    assert _frame_count(at) == f"{in_days('2026-03-04', '2026-03-08'):,}"
    at.button(key="pb_forward").click().run()
    assert not at.exception
    assert _heading(at) == f"Week of 9 Mar 2026: {in_days('2026-03-09', '2026-03-15'):,} incidents"
    assert at.session_state["pb_frame"] == 1
    at.button(key="pb_back").click().run()
    assert at.session_state["pb_frame"] == 0
    assert len(at.get("vega_lite_chart")) == 1 or len(at.get("arrow_vega_lite_chart")) == 1
    at.radio(key="pb_step").set_value("month").run()
    assert not at.exception
    assert _heading(at).startswith("March 2026 (4 Mar 2026 to 31 Mar 2026 only): ")
    at.button(key="pb_forward").click().run()
    at.button(key="pb_forward").click().run()
    assert _heading(at) == f"May 2026: {in_days('2026-05-01', '2026-05-31'):,} incidents"
    at.button(key="pb_forward").click().run()  # the last frame: no further
    assert _heading(at).startswith("June 2026 (1 Jun 2026 to 17 Jun 2026 only): ")
    assert at.button(key="pb_forward").disabled and not at.button(key="pb_back").disabled
    assert any("one colour scale for the whole playback" in c.value for c in at.caption)


def test_play_pause_and_speed(app, demo_store):
    at = app(demo_store).run()
    at.switch_page("pages/playback.py").run()
    assert at.button(key="pb_play").label == "▶ Play"
    at.button(key="pb_play").click().run()
    assert not at.exception
    assert at.session_state["pb_playing"] is True
    assert at.button(key="pb_play").label == "Pause"
    assert any(c.value == "Playing at 1x: a frame every 1 s." for c in at.caption)
    at.radio(key="pb_speed").set_value(4).run()
    assert any(c.value == "Playing at 4x: a frame every 0.25 s." for c in at.caption)
    at.button(key="pb_play").click().run()
    assert at.session_state["pb_playing"] is False
    assert not any(c.value.startswith("Playing at") for c in at.caption)
    # A step takes over from playing (which may have moved on a frame on a slow machine).
    at.button(key="pb_play").click().run()
    playing_at = at.session_state["pb_frame"]
    at.button(key="pb_forward").click().run()
    assert at.session_state["pb_playing"] is False
    assert at.session_state["pb_frame"] == playing_at + 1


def test_an_agencys_playback_hides_small_counts_as_its_map_does(app, demo_store):
    cols = open_store(demo_store).columns
    precinct = cols.labels["precinct"][5]
    at = app(demo_store, view="agency:SAPS", precincts=precinct).run()
    at.switch_page("pages/playback.py").run()
    assert not at.exception
    assert any("fewer than 3 incidents in a frame" in c.value for c in at.caption)
    # Weeks of one precinct hold a handful of other agencies' incidents: some are hidden.
    policy = Policy(Viewer("", "agency", agency="SAPS"))
    flt = IncidentFilter(precincts=(precinct,))
    first = EPOCH + pd.Timedelta(days=int(cols.day.min()))
    last = EPOCH + pd.Timedelta(days=int(cols.day.max()))
    line = timeline(apply_policy(policy, cols, select(cols, flt), flt), first=first, last=last,
                    step="week")  # fmt: skip
    shown = disclose({"h": histogram_figure(line)}, 3)["h"]
    assert shown.isna().any()
    hidden = int(np.flatnonzero(shown.isna().to_numpy())[0])
    for _ in range(hidden):
        at.button(key="pb_forward").click().run()
    assert _heading(at).endswith(": fewer than 3, or hidden incidents")
    assert _frame_count(at) == "fewer than 3, or hidden"


def test_playback_works_in_meeting_mode(app, demo_store):
    at = app(demo_store, mode="meeting").run()
    at.toggle(key="pb_meeting").set_value(True).run()
    assert not at.exception
    assert _heading(at).startswith("Week of ")
    assert not any(h.value == "CompStat review" for h in at.subheader)
    at.button(key="pb_forward").click().run()
    assert not at.exception and at.session_state["pb_frame"] == 1
    at.toggle(key="pb_meeting").set_value(False).run()
    assert any(h.value == "CompStat review" for h in at.subheader)


def test_the_public_page_plays_back_published_months(app, demo_store, site):
    at = app(demo_store, "--public-site", str(site), view="public").run()
    assert not at.exception
    public = PublicSite.load(site)
    months = public.months
    at.select_slider(key="p_months").set_value((months[-3], months[-1]))
    at.toggle(key="p_play").set_value(True).run()
    assert not at.exception
    first = public.view(months[-3], ALL)["total"]
    label = pd.Timestamp(f"{months[-3]}-01").strftime("%B %Y")
    assert _heading(at) == f"{label}: {first:,} incidents (All published incidents)"
    at.button(key="pp_forward").click().run()
    second = public.view(months[-2], ALL)["total"]
    label = pd.Timestamp(f"{months[-2]}-01").strftime("%B %Y")
    assert _heading(at) == f"{label}: {second:,} incidents (All published incidents)"
    at.button(key="pp_play").click().run()
    assert at.session_state["pp_playing"] is True
    # One month chosen: every published month plays.
    at.select_slider(key="p_months").set_value((months[-1], months[-1])).run()
    assert any(c.value.startswith("Playing every published month") for c in at.caption)
    first = public.view(months[0], ALL)["total"]
    label = pd.Timestamp(f"{months[0]}-01").strftime("%B %Y")
    assert _heading(at) == f"{label}: {first:,} incidents (All published incidents)"


def test_a_range_without_incidents_plays_empty_frames(demo_store):
    snapshot = open_store(demo_store)
    cols = snapshot.columns
    flt = IncidentFilter(categories=("No such category",))
    line = timeline(apply_policy(SAPS, cols, select(cols, flt), flt), first=date(2026, 1, 1),
                    last=date(2026, 2, 28), step="month")  # fmt: skip
    assert disclose({"h": histogram_figure(line)}, 3)["h"].tolist() == [0, 0]
    scale = playback_scale(line, zoom=12)
    assert scale.top == 0.0 and scale.busiest is None
    shown = prepare_frame(snapshot, line, 1, boundary="precinct", zoom=12)
    assert shown.heat.empty and shown.top.empty
    assert (shown.areas["count_text"] == "fewer than 3").all()
    with pytest.raises(IndexError, match="`index` must be 0 to 1"):
        frame_sight(line, 2)
