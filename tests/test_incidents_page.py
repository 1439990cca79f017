"""The Incidents page (issue 18) with AppTest: who is offered the list, paging and sorting,
a click on the map selecting its row, and the list's exports as each role fetches them, in
the audit log first."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from urllib.parse import urlparse

import geopandas as gpd
import pandas as pd
import pytest
from conftest import dashboard_apps
from starlette.requests import Request
from streamlit.testing.v1 import AppTest

import gate
from layers.access import audit
from layers.access.users import set_user
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"
PAGE = "pages/incidents.py"


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=90)


@pytest.fixture(scope="module")
def stored(demo_store) -> pd.DataFrame:
    """The demo store's incidents, with their local times as the list writes them."""
    incidents = open_store(demo_store).incidents.copy()
    local = incidents["occurred_at"].dt.tz_convert("Africa/Johannesburg")
    incidents["local"] = local.dt.strftime("%Y-%m-%d %H:%M")
    return incidents


def table(at: AppTest) -> pd.DataFrame:
    [shown] = [d for d in at.dataframe if d.key and d.key.startswith("l_table_")]
    return shown.value


def open_list(at: AppTest) -> AppTest:
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def test_an_analyst_pages_through_every_incident_newest_first(app, demo_store, stored):
    at = open_list(app(demo_store))
    assert "3,000 incidents match the filter" in captions(at)
    first = table(at)
    newest = stored.sort_values("occurred_at", ascending=False, kind="stable")
    assert len(first) == 50
    assert list(first["occurred_at"]) == list(newest["local"][:50])
    assert "Incidents 1–50 of 3,000, page 1 of 60." in captions(at)
    at.button(key="l_next").click().run()
    assert list(table(at)["occurred_at"]) == list(newest["local"][50:100])
    assert at.session_state["l_page"] == 2
    at.number_input(key="l_page").set_value(60).run()
    assert list(table(at)["occurred_at"]) == list(newest["local"][-50:])
    assert at.button(key="l_next").proto.disabled  # the last page: no next
    at.selectbox(key="l_size").set_value(100).run()  # another page size starts again
    assert at.session_state["l_page"] == 1 and len(table(at)) == 100


def test_sorting_by_a_column_goes_a_to_z_and_keeps_choices_across_pages(app, demo_store, stored):
    at = open_list(app(demo_store))
    at.selectbox(key="l_sort").set_value("precinct").run()
    assert at.session_state["l_desc"] is False  # the natural way for names: A to Z
    shown = table(at)
    first = sorted(stored["precinct"].astype(str).unique(), key=str.casefold)[0]
    assert set(shown["precinct"][:3]) == {first}
    same = stored[stored["precinct"].astype(str) == first]
    assert shown["occurred_at"].iloc[0] == same["local"].max()  # newest first within
    at.radio(key="l_desc").set_value(True).run()
    assert table(at)["precinct"].iloc[0] != first
    at.button(key="l_next").click().run()
    shown = table(at)
    at.switch_page("pages/map.py").run()
    at.switch_page(PAGE).run()
    assert (at.session_state["l_sort"], at.session_state["l_desc"]) == ("precinct", True)
    assert at.session_state["l_page"] == 2 and table(at).equals(shown)


def test_an_agency_lists_only_its_own_and_the_public_no_list(app, demo_store, stored):
    at = open_list(app(demo_store, view="agency:SAPS"))
    saps = stored[stored["agency"].astype(str) == "SAPS"]
    assert f"{len(saps):,} incidents of SAPS match the filter" in captions(at)
    assert "other agencies' are never listed" in captions(at)
    at.selectbox(key="l_size").set_value(100).run()
    for _ in range(3):
        assert set(table(at)["agency"]) == {"SAPS"}
        at.button(key="l_next").click().run()
    # Another agency's filter: nothing to list, and nothing said of theirs.
    at.multiselect(key="f_agencies").set_value(["LEAP"]).run()
    assert not at.exception
    assert not [d for d in at.dataframe if d.key and d.key.startswith("l_table_")]
    assert at.info[0].value == "No SAPS incidents match these filters: widen them in the sidebar."
    assert not at.get("link_button")
    public = app(demo_store, view="public").run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        public.switch_page(PAGE)


def _clicked(at: AppTest, row: pd.Series, count: int) -> AppTest:
    """What the map component reports after a click on ``row``'s point (5 decimals)."""
    at.session_state["l_map"] = {
        "last_object_clicked": {"lat": round(row["lat"], 5), "lng": round(row["lon"], 5)},
        "last_object_clicked_tooltip": f"{row['incident_id']} · {row['local']}",
        "last_object_clicked_count": count, "zoom": 16, "bounds": None,
    }  # fmt: skip
    return at.run()


def test_a_click_on_the_map_selects_the_row_on_its_page(app, demo_store, stored):
    at = open_list(app(demo_store))
    newest = stored.sort_values("occurred_at", ascending=False, kind="stable")
    target = newest.iloc[137]  # page 3, row 38
    _clicked(at, target, 1)
    assert not at.exception
    assert at.session_state["l_page"] == 3
    assert at.session_state["l_selected"][1] == target.name
    shown = next(d for d in at.dataframe if d.key and d.key.startswith("l_table_"))
    assert json.loads(shown.proto.selection_default)["selection"]["rows"] == [37]
    line = next(m.value for m in at.markdown if m.value.startswith("**Selected:"))
    assert target["incident_id"].replace("-", "\\-") in line
    assert "row 38 of this page, number 138 of 3,000" in line
    detail = next(d.value for d in at.dataframe if "Field" in d.value.columns).set_index("Field")
    assert detail.loc["Incident id", "Value"] == target["incident_id"]
    assert detail.loc["Latitude", "Value"] == f"{target['lat']:.5f}"
    # The map centres on it: its component is told the incident's position and a close zoom.
    [component] = at.get("component_instance")
    args = json.loads(component.proto.json_args)
    assert args["center"][0] == pytest.approx(target["lat"], abs=1e-8)
    assert args["zoom"] == pytest.approx(16, abs=1e-6)
    # The same click again is not a new choice; clearing it clears it.
    at.number_input(key="l_page").set_value(1).run()
    _clicked(at, target, 1)
    assert at.session_state["l_page"] == 1
    at.button(key="l_clear").click().run()
    assert at.session_state["l_selected"] is None


def test_a_click_on_another_agencys_incident_selects_nothing(app, demo_store, stored):
    at = open_list(app(demo_store, view="agency:SAPS"))
    leap = stored[stored["agency"].astype(str) == "LEAP"].iloc[0]
    _clicked(at, leap, 1)
    assert not at.exception
    assert at.session_state.get("l_selected") is None
    assert at.session_state["l_page"] == 1


# --- exports, as each role fetches them ------------------------------------------------------

JAR: dict[str, str] = {}
BROWSER = "the test's browser"


@pytest.fixture
def signed(app, demo_store, tmp_path, monkeypatch):
    """Sign ``name`` in on a deployment with an access file and audit log; the AppTest."""
    JAR.clear()
    monkeypatch.setattr(gate, "presented_cookie", lambda: JAR.get(gate.COOKIE))
    monkeypatch.setattr(gate, "browser_key", lambda: BROWSER)
    users = tmp_path / "users.toml"
    for name, role in (("ana", "analyst"), ("saps", "agency:SAPS"), ("cpf", "public")):
        set_user(users, name, PASSWORD, role)
    access = tmp_path / "access.toml"
    access.write_text(f'[sign_in]\nusers = "{users}"\naudit_log = "audit.jsonl"\n')

    def sign_in(name: str, **query: str) -> AppTest:
        at = app(demo_store, "--access", str(access), **query).run()
        at.text_input(key="si_name").input(name)
        at.text_input(key="si_password").input(PASSWORD)
        at = next(b for b in at.button if b.label == "Sign in").click().run()
        JAR[gate.COOKIE] = gate.redeem(at.session_state["_bind"][0], BROWSER)
        return at.run()

    return sign_in, tmp_path / "audit.jsonl"


def fetch(at: AppTest, label: str) -> tuple[int, bytes]:
    """Follow the page's download link as its browser would (with its cookie)."""
    [link] = [b for b in at.get("link_button") if b.proto.label == label]
    token = urlparse(link.proto.url).path.rsplit("/", 1)[1]
    cookie = f"{gate.COOKIE}={JAR[gate.COOKIE]}".encode()
    scope = {"type": "http", "method": "GET", "path": f"/download/{token}", "query_string": b"",
             "headers": [(b"cookie", cookie)], "path_params": {"token": token}}  # fmt: skip
    response = asyncio.run(gate.download_route(Request(scope)))
    return response.status_code, bytes(response.body)


@pytest.mark.parametrize(("name", "role", "agency"),
                         [("ana", "analyst", None), ("saps", "agency:SAPS", "SAPS")])  # fmt: skip
def test_each_export_is_audited_and_holds_what_the_viewer_sees_in_full(
    signed, stored, tmp_path, name, role, agency
):
    sign_in, log = signed
    at = sign_in(name, categories="Burglary at residential premises")
    at.switch_page(PAGE).run()
    assert not at.exception
    kept = stored[stored["category"].astype(str) == "Burglary at residential premises"]
    if agency:
        kept = kept[kept["agency"].astype(str) == agency]
    newest = kept.sort_values("occurred_at", ascending=False, kind="stable")
    assert 50 < len(newest) < 1000
    status, csv = fetch(at, "Download CSV")
    assert status == 200
    exported = pd.read_csv(io.BytesIO(csv))
    assert list(exported["incident_id"]) == list(newest["incident_id"])  # all pages, in order
    assert exported["occurred_at"].str.endswith("+02:00").all()
    assert "geometry" not in exported.columns
    status, gpkg = fetch(at, "Download GeoPackage")
    assert status == 200
    (tmp_path / "list.gpkg").write_bytes(gpkg)
    layer = gpd.read_file(tmp_path / "list.gpkg", layer="incidents")
    assert list(layer["incident_id"]) == list(newest["incident_id"])
    assert layer.crs.to_epsg() == 4326
    exports = audit.read_events(log, event=audit.EXPORT)
    assert [(e["user"], e["role"], e["detail"]["what"], e["detail"]["rows"]) for e in exports] == [
        (name, role, "Incident list", len(newest))] * 2  # fmt: skip
    suffix = "all" if agency is None else agency
    assert [Path(e["detail"]["file"]).suffix for e in exports] == [".csv", ".gpkg"]
    assert all(e["detail"]["file"].startswith(f"incidents_{suffix}_") for e in exports)
    assert exports[0]["detail"]["filters"] == {"categories": ["Burglary at residential premises"]}
    assert fetch(at, "Download CSV")[0] == 410  # once


def test_a_public_viewer_gets_no_list_and_no_export(signed):
    sign_in, log = signed
    at = sign_in("cpf")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)
    assert not [b for b in at.get("link_button") if "CSV" in b.proto.label]
    assert audit.read_events(log, event=audit.EXPORT) == []


def test_a_viewer_who_may_not_see_rows_is_told_why_if_they_reach_the_page():
    """The page is not offered to the public; run all the same, it says why and shows none."""
    import argparse

    from app.state import REQUEST, Request
    from layers.access.policy import PrivacyRules, Viewer

    public = Viewer("cpf", "public")
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    at.session_state[REQUEST] = Request(argparse.Namespace(), "nowhere", "v1", True, public,
                                        public, PrivacyRules())  # fmt: skip
    at.run()
    assert not at.exception
    said = at.info[0].value
    assert said.startswith("The incident list shows incidents one by one, so it is for analysts")
    assert not at.dataframe and not at.get("link_button")
