"""The Streamlit app, exercised with AppTest on a small store."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from conftest import dashboard_apps
from streamlit.testing.v1 import AppTest

from layers.storage.demo import generate_demo
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=60)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_app_boots_without_exception_and_says_synthetic(app, demo_store):
    at = app(demo_store).run()
    assert not at.exception
    assert any("SYNTHETIC" in w.value for w in at.warning)
    assert int(metric(at, "Incidents").replace(",", "")) == 3000


def test_changing_a_filter_changes_the_counts(app, demo_store):
    at = app(demo_store).run()
    before = int(metric(at, "Incidents").replace(",", ""))
    at.multiselect(key="f_agencies").set_value(["SAPS"]).run()
    after = int(metric(at, "Incidents").replace(",", ""))
    assert not at.exception
    assert 0 < after < before
    assert at.query_params["agencies"] == "SAPS"


def test_url_parameters_set_the_filters(app, demo_store):
    at = app(demo_store, agencies="LEAP", boundary="ward").run()
    assert not at.exception
    assert at.multiselect(key="f_agencies").value == ["LEAP"]
    assert at.radio(key="m_boundary").value == "ward"
    leap = int(metric(at, "Incidents").replace(",", ""))
    assert 0 < leap < 3000


def test_unknown_url_values_are_ignored(app, demo_store):
    at = app(demo_store, agencies="<script>", boundary="../../etc", since="garbage").run()
    assert not at.exception
    assert at.multiselect(key="f_agencies").value == []
    assert at.radio(key="m_boundary").value == "precinct"


def test_missing_store_gives_a_clear_error(app, tmp_path):
    at = app(tmp_path / "nowhere").run()
    assert not at.exception
    assert "No incident store" in at.error[0].value


def test_store_without_incidents_offers_upload(app, tmp_path, boundary_files):
    from layers.storage.ingest import ingest

    p, w = boundary_files
    ingest(tmp_path / "store", [], precincts=p, wards=w)
    at = app(tmp_path / "store").run()
    assert not at.exception
    assert "no incidents yet" in at.warning[0].value


@pytest.mark.parametrize("method", ["gistar", "kde", "emerging"])
def test_hotspots_show_on_the_map_with_areas_and_an_export(app, demo_store, method):
    at = app(demo_store, hotspots=method, cell_m="500").run(timeout=120)
    assert not at.exception
    at.switch_page("pages/hotspots.py").run(timeout=120)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    headings = [h.value for h in at.subheader]
    assert any(h.startswith(("Getis-Ord", "Kernel density", "Emerging")) for h in headings)
    tables = [d.value for d in at.dataframe if "hot_cells" in getattr(d.value, "columns", [])]
    assert len(tables) == 1
    assert {"area", "hot_cells", "incidents", "in_hotspots"} <= set(tables[0].columns)
    at.button(key="h_prepare").click().run(timeout=120)
    assert not at.exception
    assert at.session_state["h_export"][1] == f"hotspots_{method}.zip"
    offered = [b.proto.label for b in at.get("link_button")]
    assert f"Download hotspots_{method}.zip" in offered  # for this view
    # another filter: the prepared file no longer matches the map and is not offered
    at.multiselect(key="f_agencies").set_value(["LEAP"]).run(timeout=120)
    assert not at.exception
    assert not any(b.proto.label.startswith("Download hotspots") for b in at.get("link_button"))
    assert at.query_params["hotspots"] == method


def test_evaluation_table_in_the_dashboard(app, demo_store):
    at = app(demo_store).run()
    at.switch_page("pages/hotspots.py").run()
    at.date_input(key="e_split").set_value(date(2026, 5, 1))
    at.button(key="e_go").click().run(timeout=120)
    assert not at.exception
    table = at.dataframe[-1].value
    assert len(table) == 4 and {"Hit rate (%)", "PAI", "RRI"} <= set(table.columns)


def test_evaluation_default_split_falls_inside_the_filtered_period(app, demo_store):
    at = app(demo_store, since="2025-01-01", until="2025-06-30").run()
    at.switch_page("pages/hotspots.py").run()
    split = at.date_input(key="e_split").value
    assert date(2025, 1, 2) <= split <= date(2025, 6, 30)
    at.button(key="e_go").click().run(timeout=120)
    assert not at.exception and not at.error
    assert len(at.dataframe[-1].value) == 4


def test_meeting_mode_from_the_url_hides_the_sidebar_and_shows_the_review(app, demo_store):
    at = app(demo_store, mode="meeting").run()
    assert not at.exception
    assert any("stSidebar" in m.value and "display: none" in m.value for m in at.markdown)
    assert any(b.label == "Leave meeting mode" for b in at.button)
    assert any(h.value == "CompStat review" for h in at.subheader)
    at.button(key="leave_meeting").click().run()
    assert not at.exception
    assert at.query_params["mode"] == ["normal"] or at.query_params["mode"] == "normal"
    assert not any("stSidebar" in m.value for m in at.markdown)


def test_meeting_mode_button_and_rotation_through_precincts(app, demo_store):
    at = app(demo_store).run()
    at.button(key="to_meeting").click().run()
    assert not at.exception and at.session_state["m_mode"] == "meeting"
    at = app(demo_store, mode="meeting", rotate="precincts", every="5").run()
    assert not at.exception
    headings = [h.value for h in at.header if h.value.startswith("Precinct: ")]
    assert len(headings) == 1
    names = set(at.session_state["f_precincts"]) | set(
        next(s for s in at.sidebar.multiselect if s.key == "f_precincts").options
    )
    shown = re.sub(r"\\(.)", r"\1", headings[0].removeprefix("Precinct: "))  # Markdown escapes
    assert shown in names
    # The step filters the page to that precinct, not only the map.
    incidents = open_store(demo_store).incidents
    in_precinct = int((incidents["precinct"].astype(str) == shown).sum())
    assert metric(at, "Incidents").replace(",", "") == f"{in_precinct}"
    assert f"precincts={shown}" in " ".join(c.value for c in at.caption).replace("\\", "")


def test_meeting_rotation_through_wards_filters_to_each_ward(app, demo_store):
    at = app(demo_store, mode="meeting", rotate="wards", every="5").run()
    assert not at.exception
    [heading] = [h.value for h in at.header if h.value.startswith("Ward: ")]
    shown = re.sub(r"\\(.)", r"\1", heading.removeprefix("Ward: "))
    incidents = open_store(demo_store).incidents
    in_ward = int((incidents["ward"].astype(str) == shown).sum())
    assert metric(at, "Incidents").replace(",", "") == f"{in_ward}"


def test_compstat_review_in_the_page(app, demo_store):
    at = app(demo_store).run()
    at.switch_page("pages/compstat.py").run()
    assert not at.exception
    assert any(h.value.startswith("CompStat review") for h in at.subheader)
    assert any(b.proto.label == "Download the review (CSV)" for b in at.get("link_button"))
    assert any("As of 31 Oct 2026" in c.value for c in at.caption)


def test_a_page_keeps_its_choices_when_the_viewer_comes_back(app, demo_store):
    at = app(demo_store).run()
    at.switch_page("pages/compstat.py").run()
    at.get("button_group")[0].set_value("agency").run()
    assert at.session_state["c_by"] == "agency"
    at.switch_page("pages/hotspots.py").run()
    at.switch_page("pages/compstat.py").run()
    assert not at.exception
    assert at.session_state["c_by"] == "agency"
    assert any(m.value == "**Weekly trend, top five agencies**" for m in at.markdown)


def test_live_store_counts_follow_inserts(app, postgis_url, tmp_path):
    from layers.livefeed.postgis import ingest_postgis

    manifest = generate_demo(tmp_path / "files", incidents=1000)
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path, synthetic=True,
    )  # fmt: skip
    at = app(postgis_url, "--refresh", "5").run()
    assert not at.exception
    before = int(metric(at, "Incidents").replace(",", ""))
    assert before > 0
    ingest_postgis(postgis_url, [manifest.incident_paths[1]])
    # The store's follower thread reads the change when the database announces it.
    deadline = time.monotonic() + 30
    after = before
    while after == before and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
        after = int(metric(at, "Incidents").replace(",", ""))
    assert not at.exception
    assert after > before
    # "N new since HH:MM" is the metric's delta: the incidents first stored since that minute.
    delta = next(m.delta for m in at.metric if m.label == "Incidents")
    fresh, _, at_minute = delta.partition(" new since ")
    started = at.session_state["meeting_started"]
    assert at_minute == started.astimezone(ZoneInfo("Africa/Johannesburg")).strftime("%H:%M")
    with psycopg.connect(postgis_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM incident_map.incidents WHERE ingested_at >= %s", (started,)
        ).fetchone()[0]
    assert int(fresh.replace(",", "")) == stored >= after - before
    # The minute is in the URL: a page that lost its session, or a shared link, counts from it.
    url_started = at.query_params["started"]
    url_started = url_started[0] if isinstance(url_started, list) else url_started
    assert url_started == started.strftime("%Y%m%dT%H%MZ")
    again = app(postgis_url, "--refresh", "5", started="20260101T0000Z").run()  # too old
    assert again.session_state["meeting_started"] > started - timedelta(minutes=1)
    earlier = started - timedelta(minutes=7)
    resumed = app(postgis_url, "--refresh", "5", started=f"{earlier:%Y%m%dT%H%MZ}").run()
    assert not resumed.exception
    assert resumed.session_state["meeting_started"] == earlier
    zone = ZoneInfo("Africa/Johannesburg")
    assert next(m.delta for m in resumed.metric if m.label == "Incidents").endswith(
        f" new since {earlier.astimezone(zone):%H:%M}"
    )


def test_unreachable_database_is_explained(app):
    at = app("postgresql://nobody@127.0.0.1:1/none").run()
    assert not at.exception
    assert "Cannot reach the PostGIS database" in at.error[0].value


def test_live_refresh_keeps_the_viewers_filter_choices(app, postgis_url, tmp_path):
    from layers.livefeed.postgis import ingest_postgis

    manifest = generate_demo(tmp_path / "files", incidents=1000)
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path,
    )  # fmt: skip
    at = app(postgis_url).run()
    category = at.multiselect(key="f_categories").options[0]
    at.multiselect(key="f_categories").set_value([category]).run()
    ingest_postgis(postgis_url, [manifest.incident_paths[1]])  # a new version arrives
    at.run()
    assert not at.exception
    assert at.multiselect(key="f_categories").value == [category]
    at.button(key="to_meeting").click().run()
    ingest_postgis(postgis_url, [manifest.incident_paths[2]])
    at.run()
    assert at.session_state["m_mode"] == "meeting"


def test_names_from_the_data_are_shown_as_written_not_as_markdown(app, tmp_path, boundary_files):
    from conftest import incident_rows, write_csv

    from layers.storage.ingest import ingest

    hostile = "[click](http://evil.example) **loud** :red[x]"
    p, w = boundary_files
    rows = incident_rows(category=[hostile] * 4)
    ingest(tmp_path / "store", [write_csv(tmp_path / "rows.csv", rows)], precincts=p, wards=w)
    at = app(tmp_path / "store").run()
    at.multiselect(key="f_categories").set_value([hostile]).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "Filter:" in c.value)
    assert "[click](http" not in caption and "**loud**" not in caption
    assert r"\[click\]\(http\:\/\/evil\.example\)" in caption


def test_an_unexpected_error_shows_a_reference_and_no_detail(app, demo_store, monkeypatch):
    """Outside the test suite's raise mode, a crash shows a plain message with a reference;
    the exception's text (paths, values) stays in the server's log."""
    monkeypatch.setenv("DASHBOARD_RAISE_ERRORS", "0")

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail /srv/stores/live")

    monkeypatch.setattr("app.view.show_folium", broken)  # drawn on every run, not cached
    at = app(demo_store).run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "Something went wrong on the server (reference " in shown
    assert "secret detail" not in shown and "/srv/" not in shown


def test_an_overnight_window_can_be_set_on_the_page_and_from_the_url(app, demo_store):
    from layers.storage.filters import IncidentFilter, filter_mask

    incidents = open_store(demo_store).incidents
    overnight = int(filter_mask(incidents, IncidentFilter(hours=(22, 4))).sum())
    assert 0 < overnight < len(incidents)
    at = app(demo_store, hours="22-4").run()
    assert not at.exception
    assert (at.selectbox(key="f_hour_from").value, at.selectbox(key="f_hour_to").value) == (22, 4)
    assert metric(at, "Incidents").replace(",", "") == f"{overnight}"
    assert any("Overnight: 22:00 to 04:00" in c.value for c in at.sidebar.caption)
    # chosen on the page: the handles of a slider could not cross, these can
    at = app(demo_store).run()
    assert not any("Time of day" in c.value for c in at.sidebar.caption)  # all hours: no note
    at.selectbox(key="f_hour_from").set_value(22).run()
    at.selectbox(key="f_hour_to").set_value(4).run()
    assert metric(at, "Incidents").replace(",", "") == f"{overnight}"
    assert at.query_params["hours"] in ("22-4", ["22-4"])


def test_a_filter_with_no_results_says_which_filters_exclude_everything(app, demo_store):
    incidents = open_store(demo_store).incidents
    pairs = incidents.groupby(["agency", "collaboration_area"], observed=False).size()
    agency, area = pairs[pairs == 0].index[0]
    at = app(demo_store, agencies=agency, areas=area).run()
    assert not at.exception
    assert metric(at, "Incidents") == "0"
    [message] = [i.value for i in at.info if "No incidents match" in i.value]
    assert "the agency filter or the collaboration area filter" in message
    assert any(c.value == "No incidents in this filter." for c in at.caption)
    # every panel stays in place, on its page, and says why it is empty
    at.switch_page("pages/hotspots.py").run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert "How well did last period's hotspots predict this one?" in labels
    assert any("needs incidents on at least two days" in i.value for i in at.info)
    at.switch_page("pages/compstat.py").run()
    assert not at.exception
    assert any(h.value.startswith("CompStat review") for h in at.subheader)
    assert at.query_params["agencies"] in (agency, [agency])  # the filter is kept


def test_part_weeks_are_drawn_at_their_daily_rate_and_marked(app, demo_store):
    # Thursday 1 October to Saturday 17 October 2026: 4 days, a whole week, 6 days
    at = app(demo_store, since="2026-10-01", until="2026-10-17").run()
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Part weeks"))
    assert "week of 28 Sep: 4 of 7 days" in caption and "week of 12 Oct: 6 of 7 days" in caption
    charts = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert charts and all('"per_week"' in spec for spec in charts)
