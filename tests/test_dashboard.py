"""The Streamlit app, exercised with AppTest on a small store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from layers.demo import build_demo_store, generate_demo

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    manifest = generate_demo(folder / "files", incidents=3000)
    build_demo_store(folder / "store", manifest)
    return folder / "store"


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store, without map tiles."""

    def make(store: Path, **query: str) -> AppTest:
        monkeypatch.setattr("sys.argv", ["dashboard.py", "--store", str(store), "--tiles", "none"])
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.query_params.update(query)
        return at

    return make


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
    from layers.ingest import ingest

    p, w = boundary_files
    ingest(tmp_path / "store", [], precincts=p, wards=w)
    at = app(tmp_path / "store").run()
    assert not at.exception
    assert "no incidents yet" in at.warning[0].value


@pytest.mark.parametrize("method", ["gistar", "kde", "emerging"])
def test_hotspots_show_on_the_map_with_areas_and_an_export(app, demo_store, method):
    at = app(demo_store, hotspots=method, cell_m="500").run(timeout=120)
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    headings = [h.value for h in at.subheader]
    assert any(h.startswith(("Getis-Ord", "Kernel density", "Emerging")) for h in headings)
    table = at.dataframe[1].value  # after the top-areas table
    assert {"area", "hot_cells", "incidents", "in_hotspots"} <= set(table.columns)
    at.button(key="h_prepare").click().run(timeout=120)
    assert not at.exception
    assert at.session_state["h_export"][1] == f"hotspots_{method}.zip"
    assert at.get("download_button")  # offered for this view
    # another filter: the prepared file no longer matches the map and is not offered
    at.multiselect(key="f_agencies").set_value(["LEAP"]).run(timeout=120)
    assert not at.exception
    assert not at.get("download_button")
    assert at.query_params["hotspots"] == method


def test_evaluation_table_in_the_dashboard(app, demo_store):
    at = app(demo_store).run()
    at.date_input(key="e_split").set_value(date(2026, 5, 1))
    at.button(key="e_go").click().run(timeout=120)
    assert not at.exception
    table = at.dataframe[-1].value
    assert len(table) == 4 and {"hit_rate", "pai", "rri"} <= set(table.columns)


def test_evaluation_default_split_falls_inside_the_filtered_period(app, demo_store):
    at = app(demo_store, since="2025-01-01", until="2025-06-30").run()
    split = at.date_input(key="e_split").value
    assert date(2025, 1, 2) <= split <= date(2025, 6, 30)
    at.button(key="e_go").click().run(timeout=120)
    assert not at.exception and not at.error
    assert len(at.dataframe[-1].value) == 4
