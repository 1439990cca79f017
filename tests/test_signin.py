"""Sign-in and roles on the dashboard, exercised with AppTest on a small demo store."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import dashboard_apps
from streamlit.testing.v1 import AppTest

import gate
from layers.access import audit
from layers.access.users import set_user
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "a long enough password"


@pytest.fixture
def store(demo_store) -> Path:
    return demo_store


@pytest.fixture(scope="module")
def users(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("users") / "users.toml"
    for name, role in (("ana", "analyst"), ("cpf", "public"), ("saps", "agency:SAPS"),
                       ("saps2", "agency:SAPS")):  # fmt: skip
        set_user(path, name, PASSWORD, role)
    return path


@pytest.fixture
def access(tmp_path, users) -> Path:
    path = tmp_path / "access.toml"
    path.write_text(f'[sign_in]\nusers = "{users}"\naudit_log = "audit.jsonl"\n')
    return path


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=90)


# The browser's cookie jar. AppTest has no connection, so no cookies: gate reads this jar
# instead, and sign_in does what the page's script does in a browser (redeem the one-time
# code at /auth/bind, keep the cookie, reload).
JAR: dict[str, str] = {}
BROWSER = "the test's browser"  # its XSRF cookie, which a sign-in code is bound to


@pytest.fixture(autouse=True)
def cookie_jar(monkeypatch) -> dict[str, str]:
    JAR.clear()
    monkeypatch.setattr(gate, "presented_cookie", lambda: JAR.get(gate.COOKIE))
    monkeypatch.setattr(gate, "browser_key", lambda: BROWSER)
    return JAR


def sign_in(at: AppTest, name: str, password: str = PASSWORD) -> AppTest:
    at.text_input(key="si_name").input(name)
    at.text_input(key="si_password").input(password)
    at = next(b for b in at.button if b.label == "Sign in").click().run()
    if "_bind" in at.session_state:
        assert "Signing you in" in at.html[0].proto.body  # and nothing else yet
        assert not at.metric
        JAR[gate.COOKIE] = gate.redeem(at.session_state["_bind"][0], BROWSER)
        at.run()
    return at


def events(access: Path) -> list[dict]:
    log = access.parent / "audit.jsonl"
    return audit.read_events(log) if log.exists() else []


def test_a_configured_deployment_shows_nothing_before_sign_in(app, store, access):
    at = app(store, "--access", str(access)).run()
    assert not at.exception
    assert not at.metric and not at.dataframe
    assert "Incident data is restricted" in at.info[0].value
    assert not any("SYNTHETIC" in w.value for w in at.warning)


def test_a_wrong_password_is_refused_and_audited_without_the_password(app, store, access):
    at = sign_in(app(store, "--access", str(access)).run(), "cpf", "not the password!")
    assert not at.exception
    assert at.error[0].value == "Unknown user name or wrong password."
    assert not at.metric
    [event] = events(access)
    assert (event["event"], event["user"], event["role"]) == (audit.SIGN_IN_FAILED, "cpf", "")
    assert "not the password!" not in (access.parent / "audit.jsonl").read_text()
    # a name that is nobody's may be a password typed in the wrong box: not logged as typed
    sign_in(app(store, "--access", str(access)).run(), PASSWORD, "x" * 12)
    assert events(access)[1]["user"] == "(unknown user name)"
    assert PASSWORD not in (access.parent / "audit.jsonl").read_text()


def test_a_public_viewer_gets_the_published_map_and_no_analyst_tools(app, store, access):
    at = sign_in(app(store, "--access", str(access)).run(), "cpf")
    assert not at.exception
    metric = next(m for m in at.metric if m.label.startswith("Incidents"))
    assert int(metric.value.replace(",", "")) > 0
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Signed in as **cpf** (public)" in sidebar
    assert any("published monthly map" in c.value for c in at.sidebar.caption)
    # The published map, and areas counted in its cells, are the only pages: no other is
    # offered, so none can be switched to.
    for page in ("map", "hotspots", "compstat", "meeting", "load_data"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")
    assert not any(h.value.startswith(("Load your own", "CompStat")) for h in at.subheader)
    assert not any(e.label.startswith("How well did") for e in at.expander)
    # Whole months, a group and a precinct: no day, hour, agency, category or ward filter, no
    # hotspots, no meeting rotation.
    keys = {getattr(w, "key", None) for w in at.sidebar}
    assert {"p_months", "p_group", "p_area"} <= keys
    assert not keys & {"f_dates", "f_hour_from", "f_hour_to", "f_agencies", "f_categories",
                       "f_wards", "m_hotspots", "m_rotate"}  # fmt: skip
    assert [e["event"] for e in events(access)] == [audit.SIGN_IN]


def test_an_analyst_keeps_every_tool_and_signs_out(app, store, access):
    at = sign_in(app(store, "--access", str(access)).run(), "ana")
    assert not at.exception
    at.switch_page("pages/load_data.py").run()
    assert not at.exception
    assert any(h.value.startswith("Load your own") for h in at.subheader)
    at.switch_page("pages/hotspots.py").run()
    assert any(e.label.startswith("How well did") for e in at.expander)
    assert not any("aggregated" in c.value for c in at.sidebar.caption)
    at.session_state["h_export"] = ("a view", "hotspots_gistar.gpkg", b"analyst's export")
    at.button(key="sign_out").click().run()
    assert not at.metric
    assert [e["event"] for e in events(access)] == [audit.SIGN_IN, audit.SIGN_OUT]
    assert events(access)[1]["role"] == "analyst"
    assert audit.verify(access.parent / "audit.jsonl").ok
    assert "h_export" not in at.session_state  # nothing the analyst had carries over


def test_a_removed_user_is_signed_out_on_the_next_run(app, store, tmp_path):
    users = tmp_path / "users.toml"
    set_user(users, "cpf", PASSWORD, "public")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    at = sign_in(app(store, "--access", str(access)).run(), "cpf")
    assert at.metric
    set_user(users, "cpf", PASSWORD, "agency:SAPS")  # the administrator changes the role
    at.run()
    assert not at.metric and "Your access has changed" in at.warning[0].value
    assert events(access)[-1]["event"] == audit.SIGN_OUT
    assert events(access)[-1]["detail"] == {"reason": "access changed"}


def test_no_sign_in_without_the_audit_log(app, store, users, tmp_path):
    (tmp_path / "audit.jsonl").mkdir()  # a folder where the log should be: cannot be written
    access = tmp_path / "access.toml"
    access.write_text(f'[sign_in]\nusers = "{users}"\naudit_log = "audit.jsonl"\n')
    at = sign_in(app(store, "--access", str(access)).run(), "ana")
    assert "audit log cannot be written" in at.error[0].value
    assert not at.metric
    at.run()
    assert not at.metric and "Incident data is restricted" in at.info[0].value


def test_a_ward_filter_hides_sensitive_incidents_from_an_agency(app, store, access):
    incidents = open_store(store).incidents
    sensitive = incidents["collaboration_area"].astype(str).eq("Gender-based violence")
    own = incidents["agency"].astype(str).eq("SAPS")
    offences = incidents["category"].astype(str).eq("Sexual offences")
    ward = incidents.loc[offences, "ward"].astype(str).value_counts().index[0]
    in_ward = incidents["ward"].astype(str).eq(ward)
    counts = {}
    for name in ("ana", "saps"):
        JAR.clear()  # two people, two browsers
        at = sign_in(app(store, "--access", str(access)).run(), name)
        at.multiselect(key="f_wards").set_value([ward]).run()
        counts[name] = next(m.value for m in at.metric if m.label == "Incidents")
        at.multiselect(key="f_categories").set_value(["Sexual offences"]).run()
        counts[f"{name} offences"] = next(m.value for m in at.metric if m.label == "Incidents")
    assert int(counts["ana"].replace(",", "")) == in_ward.sum()
    saps = counts["saps"].replace(",", "")
    assert saps == "fewer than 3" or int(saps) == (in_ward & (~sensitive | own)).sum()
    assert counts["ana offences"] not in ("0", "fewer than 3")
    assert counts["saps offences"] == "fewer than 3"  # others' are left out: hidden


def test_the_open_demo_says_so_and_previews_roles(app, store):
    at = app(store).run()
    assert any("runs without sign-in" in w.value for w in at.warning)
    at.selectbox(key="m_view_as").set_value("agency:SAPS").run()
    assert not at.exception
    assert any("other agencies' aggregated" in c.value for c in at.sidebar.caption)
    # An agency gets neither uploads nor the evaluation: analysts only.
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/load_data.py")
    at.switch_page("pages/hotspots.py").run()
    assert not at.exception
    assert not any(e.label.startswith("How well did") for e in at.expander)
    at.selectbox(key="m_view_as").set_value("public").run()
    assert not at.exception
    assert any("published monthly map" in c.value for c in at.sidebar.caption)
    assert not any(h.value.startswith("Load your own") for h in at.subheader)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/load_data.py")


def test_an_access_file_without_a_sign_in_method_shows_nothing(app, store, tmp_path):
    path = tmp_path / "access.toml"
    path.write_text("[privacy]\nk = 5\n")
    at = app(store, "--access", str(path)).run()
    assert "names no sign-in method" in at.error[0].value
    assert not at.metric


def test_an_unreadable_access_file_shows_nothing(app, store, tmp_path):
    path = tmp_path / "access.toml"
    path.write_text("[sign_in\n")
    at = app(store, "--access", str(path)).run()
    # the detail (a path on the server, the TOML error) goes to the server's log, not to an
    # anonymous visitor
    assert "cannot be read" in at.error[0].value and str(tmp_path) not in at.error[0].value
    assert not at.metric


def test_oidc_sign_in_offers_the_provider_and_shows_nothing_before(app, store, tmp_path):
    path = tmp_path / "access.toml"
    path.write_text('[sign_in]\noidc = "default"\n[oidc_users]\n"a@b.org" = "analyst"\n')
    at = app(store, "--access", str(path)).run()
    assert not at.exception
    assert at.button(key="oidc_sign_in").label == "Sign in with your organisation's account"
    assert not at.metric and not at.text_input


def test_audit_events_are_json_lines(access, app, store):
    sign_in(app(store, "--access", str(access)).run(), "saps")
    line = (access.parent / "audit.jsonl").read_text().splitlines()[0]
    assert json.loads(line)["role"] == "agency:SAPS"


HOSTILE_QUERY = {
    "store": "/etc", "postgis": "postgresql://evil@example.org/db", "access": "/dev/null",
    "active_store": "/tmp", "role": "analyst", "view_as": "analyst", "viewer": "ana",
    "agencies": "'; DROP TABLE incident_map.incidents; --", "precincts": "../../etc/passwd",
    "cell_m": "1e9", "every": "-1", "mode": "<script>alert(1)</script>", "boundary": "/etc/passwd",
}  # fmt: skip


def test_url_parameters_never_choose_a_path_a_role_or_sql(app, store, access):
    at = app(store, "--access", str(access))
    at.query_params.update(HOSTILE_QUERY)
    at.run()
    assert not at.exception and not at.metric  # still asked to sign in
    at = sign_in(at, "saps")
    assert not at.exception
    assert "Signed in as **saps** (agency\\:SAPS)" in " ".join(m.value for m in at.sidebar.markdown)
    assert any(f"Store version {open_store(store).version}" in c.value for c in at.caption)
    assert at.multiselect(key="f_agencies").value == []
    assert at.multiselect(key="f_precincts").value == []
    assert at.radio(key="m_boundary").value == "precinct"
    assert at.number_input(key="n_every").value == 30
    assert at.session_state["m_mode"] == "normal"
    assert "active_store" not in at.session_state


def test_the_throttle_survives_a_cleared_cache(app, store, access, caplog):
    """Streamlit's clear-cache used to wipe the failure counts: they now live in a file."""
    import streamlit as st

    at = app(store, "--access", str(access)).run()
    for _ in range(5):
        at = sign_in(at, "ana", "a wrong password, long enough")
        assert "wrong password" in at.error[0].value
    # (cleared from the test, outside any app: Streamlit says so, and that is the test's doing)
    with caplog.at_level(logging.ERROR, logger="streamlit"):
        st.cache_resource.clear()
        st.cache_data.clear()
    at = sign_in(at, "ana")  # the right password, but the name is paused
    assert "Too many failed sign-ins" in at.error[0].value
    assert not at.metric


def test_kde_is_not_offered_to_an_agency_and_a_link_asking_for_it_is_logged(app, store, access):
    at = sign_in(app(store, "--access", str(access)).run(), "saps")
    kde = "Kernel density hotspots"
    assert kde not in at.selectbox(key="m_hotspots").options  # no control that fails
    JAR.clear()
    assert kde in sign_in(app(store, "--access", str(access)).run(), "ana").selectbox(
        key="m_hotspots").options  # fmt: skip
    JAR.clear()
    at = sign_in(app(store, "--access", str(access), hotspots="kde").run(), "saps")
    assert any("for analysts" in i.value for i in at.info)
    assert at.selectbox(key="m_hotspots").value == "none" and not at.error
    at.run()  # logged once for the link, not on every rerun
    denied = [e for e in events(access) if e["event"] == audit.ACCESS_DENIED]
    assert [(e["user"], e["role"], e["detail"]["what"]) for e in denied] == [
        ("saps", "agency:SAPS", "KDE hotspots")
    ]


def test_a_session_without_its_browsers_cookie_is_signed_out(app, store, access):
    """Attack 4 as AppTest sees it: the session (all Streamlit's reconnect hands over) run
    for a connection that does not present the sign-in's cookie."""
    at = sign_in(app(store, "--access", str(access)).run(), "ana")
    assert at.metric
    cookie = JAR.pop(gate.COOKIE)
    at.run()
    assert not at.metric and "Incident data is restricted" in at.info[0].value
    assert "viewer" not in at.session_state
    denied = events(access)[-1]
    assert (denied["event"], denied["user"]) == (audit.ACCESS_DENIED, "ana")
    assert denied["detail"] == {"reason": "session resumed without its cookie"}
    # the browser that holds the cookie is still signed in (a reload, no password)
    JAR[gate.COOKIE] = cookie
    assert app(store, "--access", str(access)).run().metric
    # a forged or tampered cookie opens nothing
    JAR[gate.COOKIE] = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    at = app(store, "--access", str(access)).run()
    assert not at.metric and "Incident data is restricted" in at.info[0].value


def test_a_reload_resumes_the_sign_in_and_sign_out_voids_the_cookie(app, store, access):
    at = sign_in(app(store, "--access", str(access)).run(), "saps")
    at.button(key="sign_out").click().run()
    assert not at.metric
    assert gate.COOKIE in JAR  # the browser still has it, but it names a revoked ticket
    at = app(store, "--access", str(access)).run()
    assert not at.metric and "Incident data is restricted" in at.info[0].value
    assert [e["event"] for e in events(access)] == [audit.SIGN_IN, audit.SIGN_OUT]


def test_a_removed_user_cannot_resume_with_the_cookie(app, store, tmp_path):
    users = tmp_path / "users.toml"
    set_user(users, "cpf", PASSWORD, "public")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    sign_in(app(store, "--access", str(access)).run(), "cpf")
    users.write_text("")  # the administrator removes every user
    at = app(store, "--access", str(access)).run()
    assert not at.metric and "Your access has changed" in at.warning[0].value
    assert events(access)[-1]["event"] == audit.SIGN_OUT
    users.unlink()
    set_user(users, "cpf", PASSWORD, "public")  # and adds the name again: the old cookie is void
    assert not app(store, "--access", str(access)).run().metric


def test_a_sign_in_code_turns_into_a_cookie_once():
    ticket, code = gate.issue("ana", "password", "browser-a")
    assert gate.redeem(code, "browser-b") is None  # a code obtained by another browser
    cookie = gate.redeem(code, "browser-a")
    assert gate.ticket_in(cookie) == ticket
    assert gate.redeem(code) is None  # used
    assert gate.redeem("made-up") is None
    gate.revoke(ticket.id)
    assert gate.ticket_in(cookie) is None


def test_an_agency_map_page_takes_the_access_step_once(app, store, access, monkeypatch):
    """The map, the figures beside it and (on the Hotspots page) the hotspots of one filter
    share one access step: a page run as an agency applies the viewer's policy once."""
    from app import data

    calls = []
    taken = data.apply_policy

    def counted(policy, columns, mask, flt):
        calls.append((policy.viewer.label, flt))
        return taken(policy, columns, mask, flt)

    from layers.maps import view

    for module in (data, view):  # the app's own calls, and prepare_map's
        monkeypatch.setattr(module, "apply_policy", counted)
    # A filter no other test asks for: nothing of it is cached yet.
    query = {"categories": "Burglary", "agencies": "LEAP", "boundary": "ward"}
    at = sign_in(app(store, "--access", str(access), **query).run(), "saps")
    assert not at.exception and any(m.label.startswith("Incidents") for m in at.metric)
    assert [label for label, _ in calls] == ["agency:SAPS"]
    calls.clear()
    at.switch_page("pages/hotspots.py").run()
    at.selectbox(key="m_hotspots").select("gistar").run()
    assert not at.exception
    assert calls == [], "the hotspots reuse the map's access step"


def test_two_people_of_one_agency_share_what_the_map_shows(app, store, access, monkeypatch):
    """Figures and map layers depend on the role, not the person: a second SAPS user with the
    same filter is served from what the first one's page made (a live meeting's laptops)."""
    from app import data

    calls = []
    taken = data.apply_policy

    def counted(policy, columns, mask, flt):
        calls.append(policy.viewer.label)
        return taken(policy, columns, mask, flt)

    from layers.maps import view

    for module in (data, view):
        monkeypatch.setattr(module, "apply_policy", counted)
    query = {"categories": "Robbery", "agencies": "Metro Police", "boundary": "ward"}
    first = sign_in(app(store, "--access", str(access), **query).run(), "saps")
    assert not first.exception and calls == ["agency:SAPS"]
    JAR.clear()  # two people, two browsers
    second = sign_in(app(store, "--access", str(access), **query).run(), "saps2")
    assert not second.exception
    assert calls == ["agency:SAPS"], "the second person's page took the access step again"
    assert [m.value for m in second.metric] == [m.value for m in first.metric]
