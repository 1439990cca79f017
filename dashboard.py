"""Safety cluster incident map: the Streamlit face of the `layers` package.

Run ``streamlit run dashboard.py`` for the synthetic demo, or
``streamlit run dashboard.py -- --store DIR`` for a store built with ``python -m layers ingest``.
This file only reads widgets, calls ``layers`` and lays out what comes back.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import functools
import hashlib
import logging
import math
import os
import re
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit_folium import st_folium

import gate
from layers._errors import LayersError
from layers.access import audit
from layers.access.privacy import (
    Policy,
    PrivacyRules,
    private_figures,
    private_heat,
    private_review,
)
from layers.access.throttle import SignInThrottle
from layers.access.users import (
    AccessConfig,
    LocalUser,
    Viewer,
    authenticate,
    load_access,
    load_users,
    parse_role,
)
from layers.analysis import compstat, evaluate
from layers.analysis.evaluate import evaluate_hotspots
from layers.analysis.study import (
    METHODS,
    HotspotParams,
    HotspotResult,
    hotspot_provenance,
    private_hotspots,
)
from layers.intake.ingest import IngestReport, ingest
from layers.intake.sources import read_incident_file
from layers.intake.validate import resolve_columns
from layers.livefeed.live import LiveStore, count_since, recent_rows
from layers.livefeed.postgis import describe
from layers.maps.dictionary import dictionary_csv, dictionary_path
from layers.maps.hotspot_export import HOTSPOT_SUFFIXES, export_hotspots
from layers.maps.view import MapData, prepare_map
from layers.maps.webmap import focus_layer, live_base_map, map_layers
from layers.publishing.public import (
    GROUP_LABELS,
    PublicFigures,
    PublicSite,
    month_run,
    public_figures,
    public_map,
    store_site,
)
from layers.storage import columnar
from layers.storage.filters import IncidentFilter, filter_from_query
from layers.storage.join import OUTSIDE
from layers.storage.store import StoreSnapshot, current_version, open_store, safe_filename

ROOT = Path(__file__).resolve().parent
LOCAL_ZONE = ZoneInfo("Africa/Johannesburg")
DEMO_STORE = ROOT / "stores" / "demo"
DEMO_FILES = ROOT / "data" / "demo"
UPLOAD_STORE = ROOT / "stores" / "uploads"
LOG = logging.getLogger("dashboard")


def _refuse_clear_cache(session: AppSession) -> None:
    """Streamlit clears every cache of the process for any client that asks (a websocket
    message, no rights needed), which makes every session reload the store. Viewers do not
    steer the server: the request is logged and refused. Operators restart the app instead."""
    LOG.warning("A client asked to clear the server's caches (session %s): refused.", session.id)


AppSession._handle_clear_cache_request = _refuse_clear_cache  # type: ignore[method-assign]
# Streamlit refuses uploads over server.maxUploadSize (.streamlit/config.toml, 200 MB);
# --max-upload-mb can only lower that.
MAX_UPLOAD_MB = 200
MODES = {
    "boundary": ("precinct", "ward"),
    "style": ("outline", "choropleth"),
    "hotspots": ("none", "gistar", "kde", "emerging"),
    "step": ("M", "W"),
    "mode": ("normal", "meeting"),
    "rotate": ("none", "precincts", "wards", "areas"),
}
HOTSPOT_LABELS = {"none": "None", **METHODS}
# Numeric view options in the URL: name -> (default, lowest, highest).
NUMBERS = {"cell_m": (0, 0, 5000), "share": (3, 1, 10), "every": (30, 5, 600)}
# Below this a metro-sized grid has hundreds of thousands of cells: slow, and heavy to cache.
MIN_CELL_M = 100
# The map's widget key, one per boundary layer: choosing the other layer makes a new map,
# fitted to its incidents, instead of keeping the old view.
MAP_KEY = "map_{boundary}"
LIST_FILTERS = ("agencies", "areas", "categories", "precincts", "wards")
# A map view to move to: centre (lat, lon), zoom, and the lon/lat box to make heat cells for.
Focus = tuple[tuple[float, float], int, tuple[float, float, float, float]]
# Heat cells are made for the viewport and this share of it again on every side, so a short
# pan shows heat at once while the fragment refreshes the cells.
VIEW_MARGIN = 0.5
LIVE_SCHEMES = ("postgresql://", "postgres://")
# Meeting mode: a projector across a room. Our own constant CSS, never user input.
MEETING_CSS = """
<style>
  [data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
  [data-testid="stHeader"], [data-testid="stToolbar"] { display: none !important; }
  .block-container { padding-top: 0.8rem !important; max-width: 100% !important; }
  h1 { font-size: 2.6rem !important; }
  h2, h3 { font-size: 2rem !important; }
  [data-testid="stMetricValue"] { font-size: 3.4rem !important; }
  [data-testid="stMetricLabel"] p { font-size: 1.5rem !important; }
  [data-testid="stCaptionContainer"] p { font-size: 1.25rem !important; }
</style>
"""


def parse_options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streamlit run dashboard.py --")
    parser.add_argument("--store", type=Path, default=DEMO_STORE, help="incident store folder")
    parser.add_argument(
        "--uploads",
        type=Path,
        default=UPLOAD_STORE,
        help="store for files uploaded while the synthetic demo is open",
    )
    parser.add_argument(
        "--tiles",
        default="none",
        help="basemap: 'none' (default: offline, boundaries on a plain background), 'osm' for "
        "OpenStreetMap's tile server (needs the internet), or a tile URL template",
    )
    parser.add_argument(
        "--postgis", metavar="URL", help="follow a live PostGIS store instead of --store"
    )
    parser.add_argument(
        "--refresh", type=float, default=30.0,
        help="with --postgis: seconds between refreshes of map and figures (0: off; default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--recent-minutes", type=float, default=60.0,
        help="with --postgis: mark incidents that occurred this recently (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--max-upload-mb", type=float, default=MAX_UPLOAD_MB,
        help=f"largest file the page accepts, in MB (default and most {MAX_UPLOAD_MB})",
    )  # fmt: skip
    parser.add_argument(
        "--access", type=Path, metavar="FILE",
        help="sign-in, roles and privacy settings (TOML); without it the page is open to all",
    )  # fmt: skip
    parser.add_argument(
        "--public-site", type=Path, metavar="DIR",
        help="the published site public viewers see (python -m layers publish --out DIR); "
        "default: the store's own, published on first use",
    )  # fmt: skip
    options = parser.parse_args(argv)
    if options.postgis and not options.postgis.startswith(LIVE_SCHEMES):
        parser.error("--postgis takes a postgresql:// URL")
    if not 0 < options.max_upload_mb <= MAX_UPLOAD_MB:
        parser.error(f"--max-upload-mb must be above 0 and at most {MAX_UPLOAD_MB}")
    return options


def guarded(run: Callable[..., None]) -> Callable[..., None]:
    """Run a page or fragment function; an unexpected error shows a plain message with a
    reference, and its detail (paths, source lines) goes to the server's log only.

    Streamlit's own stop and rerun are not errors (they are not ``Exception``s) and pass.
    With ``DASHBOARD_RAISE_ERRORS=1`` (the test suite sets it) the error is raised after it is
    logged, so that a test sees a crash as a crash.
    """

    @functools.wraps(run)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            run(*args, **kwargs)
        except Exception:
            reference = uuid.uuid4().hex[:10]
            LOG.exception("error %s", reference)
            if os.environ.get("DASHBOARD_RAISE_ERRORS") == "1":
                raise
            st.error(
                f"Something went wrong on the server (reference {reference}). Nothing was "
                "changed: reload the page, and give the reference to the administrator if it "
                "happens again."
            )

    return wrapper


def md(text: object) -> str:
    """``text`` for a Markdown element, shown as written: names and messages that come from
    data (a category like ``[x](http://...)``, ``**bold**`` or ``:red[...]``) must not turn into
    links or formatting. Every ASCII punctuation character gets a backslash (CommonMark)."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", str(text))


def is_live(source: str) -> bool:
    """True for a PostGIS URL, false for a store folder."""
    return source.startswith(LIVE_SCHEMES)


# --- Who is looking ------------------------------------------------------------------------
# Without --access the page is open (the demo): everyone is an analyst, and may preview the
# page as a lesser role. With it, nobody sees anything before signing in.
OPEN_VIEWER = Viewer("anyone (no sign-in)", "analyst")


@st.cache_resource(show_spinner=False)
def access_config(path: str, mtime: float) -> AccessConfig:
    # Keyed by modification time: an administrator's edit applies on the next run.
    return load_access(path)


@st.cache_resource(show_spinner=False)
def sign_in_throttle(path: str) -> SignInThrottle:
    # Only the file's path lives here: the counts are in the file, so clearing the app's
    # caches (or restarting it) resets nothing.
    return SignInThrottle(path)


def client_address(config: AccessConfig) -> str:
    """The viewer's address: the connection's, or what a trusted proxy says it is."""
    address = st.context.ip_address or "unknown"
    if address in config.trusted_proxies:
        forwarded = st.context.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        # The last hop that is not one of our proxies: a client can prepend what it likes.
        for hop in reversed(hops):
            if hop not in config.trusted_proxies:
                return hop
    return address


def record(event: str, detail: dict[str, object] | None = None, *, user: str, role: str,
           config: AccessConfig | None = None) -> None:  # fmt: skip
    """Append to the deployment's audit log, when it has one; a log that cannot be written
    stops the page (nothing happens that is not logged)."""
    config = config or st.session_state.get("_access")
    if config is None or config.audit_log is None:
        return
    try:
        audit.AuditLog(config.audit_log).record(event, user=user, role=role, detail=detail)
    except LayersError as err:
        LOG.error("audit log: %s", err)
        st.error(
            "The audit log cannot be written, so nothing more is shown. Tell the administrator."
        )
        st.stop()


@st.cache_resource(show_spinner=False)
def local_users(path: str, mtime: float) -> dict[str, LocalUser]:
    # Keyed by modification time: a changed role or a removed user applies on the next run.
    return load_users(path)


def who_is_looking(options: argparse.Namespace) -> tuple[Viewer, PrivacyRules, bool]:
    """The signed-in viewer and the privacy rules; stops at a sign-in page until there is
    one. The flag is True when the page is open (no --access).

    A signed-in viewer is checked against the configuration on every run, so a removed user
    or a changed role takes effect at once, also on a meeting room's screen left open.
    """
    if options.access is None:
        return OPEN_VIEWER, PrivacyRules(), True
    try:
        config = access_config(str(options.access), options.access.stat().st_mtime)
    except (LayersError, OSError) as err:
        LOG.error("access file %s: %s", options.access, err)
        st.title("Safety cluster incident map")
        st.error("Sign-in is not available (the access configuration cannot be read), so "
                 "nothing is shown. Tell the administrator.")  # fmt: skip
        st.stop()
    st.session_state["_access"] = config
    if not config.sign_in_required:
        st.title("Safety cluster incident map")
        st.error(
            "The access configuration names no sign-in method, so nothing is shown. Tell the "
            "administrator: its [sign_in] section needs users = FILE or oidc = PROVIDER."
        )
        st.stop()
    pending = st.session_state.get("_bind")
    if pending is not None and not _presents_ticket() and pending[1]() is gate.connection():
        # The password (or the identity provider) was right on this very connection: the
        # page now turns the sign-in into the browser's cookie, and reloads.
        st.title("Safety cluster incident map")
        st.html(gate.bind_page(pending[0]), unsafe_allow_javascript=True)
        st.stop()
    viewer = bound_viewer(config)
    if viewer is None:
        viewer = resumed_viewer(config)
    if st.session_state.pop("_access_changed", False):
        st.warning("Your access has changed: sign in again.")
    if viewer is None and config.oidc and st.user.get("is_logged_in", False):
        oidc_sign_in(config)
    if viewer is None:
        sign_in_page(config)
        st.stop()
    return viewer, config.privacy, False


def bound_viewer(config: AccessConfig) -> Viewer | None:
    """The session's signed-in viewer, if the browser behind this run still presents the
    sign-in's cookie and the access file still gives the same role; otherwise nobody.

    A client that resumes a session by its id alone (Streamlit's reconnect) has no cookie:
    it finds the session signed out and gets the sign-in form. The sign-in itself (the
    ticket) stays valid for the browser that holds the cookie.
    """
    viewer = st.session_state.get("viewer")
    if viewer is None:
        return None
    if not _presents_ticket():
        record(audit.ACCESS_DENIED, {"reason": "session resumed without its cookie"},
               user=viewer.name, role=viewer.label, config=config)  # fmt: skip
        LOG.warning("session %s resumed without its sign-in cookie: signed out", _session_id())
        _forget_session()
        return None
    if st.session_state.get("_method") == "oidc" and st.user.get("email") != viewer.name:
        sign_out(config, reason="identity provider sign-out")
        return None
    if current_role(config, viewer) != viewer:
        sign_out(config, reason="access changed")
        st.session_state["_access_changed"] = True
        return None
    st.session_state.pop("_bind", None)
    return viewer


def resumed_viewer(config: AccessConfig) -> Viewer | None:
    """The viewer a browser's sign-in cookie names (a reload, or a new tab), with the role
    the access file gives now; a user removed since is signed out and the cookie is void."""
    ticket = gate.browser_ticket()
    if ticket is None:
        return None
    oidc = ticket.method == "oidc"
    viewer = config.oidc_viewer(ticket.user) if oidc else _users_file_viewer(config, ticket.user)
    if oidc and st.user.get("email") != ticket.user:
        viewer = None
    if viewer is None:
        record(audit.SIGN_OUT, {"reason": "access changed"}, user=ticket.user, role="",
               config=config)  # fmt: skip
        gate.revoke(ticket.id)
        st.session_state["_access_changed"] = True
        return None
    st.session_state.update(viewer=viewer, _method=ticket.method, _ticket=ticket.id)
    return viewer


def _presents_ticket() -> bool:
    """Whether the browser behind this run presents the cookie of this session's sign-in."""
    ticket = gate.browser_ticket()
    return ticket is not None and ticket.id == st.session_state.get("_ticket")


def _session_id() -> str:
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "?"


def _forget_session() -> None:
    """Forget everything this session saw and was offered (its downloads included)."""
    gate.forget_session(_session_id())
    access = st.session_state.get("_access")  # the deployment's, not the viewer's: it stays
    st.session_state.clear()  # exports prepared, uploads shown, filters: nothing carries over
    if access is not None:
        st.session_state["_access"] = access


def still_allowed(options: argparse.Namespace) -> None:
    """The check :func:`who_is_looking` makes, for fragment runs (the live refresh, the
    meeting rotation, map moves): a removed or changed user gets nothing more from them. The
    sign-out is logged and the whole page reruns, to say so and ask for sign-in again."""
    if options.access is None:
        return
    try:
        config = access_config(str(options.access), options.access.stat().st_mtime)
    except (LayersError, OSError):
        # Unreadable for a moment (an edit in progress): show nothing more, sign nobody out;
        # the full run says what is wrong.
        st.rerun(scope="app")
    if bound_viewer(config) is None:
        if st.session_state.get("viewer") is not None:
            sign_out(config, reason="access changed")
            st.session_state["_access_changed"] = True
        st.rerun(scope="app")


def current_role(config: AccessConfig, viewer: Viewer) -> Viewer | None:
    """What the configuration says ``viewer`` is now (None: no longer allowed in)."""
    if st.session_state.get("_method") == "oidc":
        return config.oidc_viewer(viewer.name)
    return _users_file_viewer(config, viewer.name)


def _users_file_viewer(config: AccessConfig, name: str) -> Viewer | None:
    if config.users_file is None:
        return None
    try:
        users = local_users(str(config.users_file), config.users_file.stat().st_mtime)
    except (LayersError, OSError):
        return None
    user = users.get(name)
    return user.viewer if user else None


def oidc_sign_in(config: AccessConfig) -> None:
    """Sign in the viewer an identity provider vouches for; stops with a message when it has
    no role here or its e-mail is not verified."""
    email = str(st.user.get("email") or "")
    viewer = config.oidc_viewer(email)
    reason = None
    if st.user.get("email_verified") is False:
        reason = "e-mail not verified"  # anyone can claim an address they have not proven
    elif viewer is None:
        reason = "no role"
    if reason is None:
        record(audit.SIGN_IN, {"method": "oidc"}, user=viewer.name, role=viewer.label,
               config=config)  # fmt: skip
        signed_in(viewer, "oidc")
    if not st.session_state.get("_denied"):  # once a session, not on every rerun
        record(audit.ACCESS_DENIED, {"method": "oidc", "reason": reason}, user=email or "?",
               role="", config=config)  # fmt: skip
        st.session_state["_denied"] = True
    st.title("Safety cluster incident map")
    st.error(
        f"You are signed in as {md(email)}, but that account has no role here ({reason}). Ask "
        "an administrator to add it to [oidc_users] in the access file."
    )
    st.button("Sign out", on_click=st.logout)
    st.stop()


def sign_in_page(config: AccessConfig) -> None:
    """The sign-in page: the identity provider's button, and a user name and password form
    for local users. Sets the session's viewer on success (after the audit log has it)."""
    st.title("Safety cluster incident map")
    st.info("Incident data is restricted: sign in to see it.")
    if config.oidc:
        provider = None if config.oidc == "default" else config.oidc
        if st.button("Sign in with your organisation's account", key="oidc_sign_in"):
            st.login(provider) if provider else st.login()
    if config.users_file is None:
        return
    with st.form("sign_in", clear_on_submit=True):
        name = st.text_input("User name", key="si_name").strip()
        password = st.text_input("Password", type="password", key="si_password")
        if not st.form_submit_button("Sign in"):
            return
    try:
        users = local_users(str(config.users_file), config.users_file.stat().st_mtime)
    except (LayersError, OSError) as err:
        LOG.error("users file %s: %s", config.users_file, err)
        st.error("Sign-in is not available (the users file cannot be read). Tell the "
                 "administrator.")  # fmt: skip
        return
    # A name that is no user's is logged as such: it may be a password typed in the wrong box.
    logged = name if name in users else "(unknown user name)"
    throttle = sign_in_throttle(str(config.throttle))
    address = client_address(config)
    verdict = throttle.attempt(name, address)  # counted before the password is checked
    if not verdict.allowed:
        record(audit.SIGN_IN_FAILED, {"method": "password", "reason": "paused"}, user=logged,
               role="", config=config)  # fmt: skip
        wait = math.ceil(verdict.wait_s)
        when = f"{wait} seconds" if wait < 120 else f"{math.ceil(wait / 60)} minutes"
        st.error(f"Too many failed sign-ins: try again in {when}.")
        return
    viewer = authenticate(users, name, password)
    if viewer is None:
        record(audit.SIGN_IN_FAILED, {"method": "password", "reason": "wrong name or password"},
               user=logged, role="", config=config)  # fmt: skip
        st.error("Unknown user name or wrong password.")
        return
    throttle.succeeded(name, address)
    record(audit.SIGN_IN, {"method": "password"}, user=viewer.name, role=viewer.label,
           config=config)  # fmt: skip
    signed_in(viewer, "password")


def signed_in(viewer: Viewer, method: str) -> None:
    """A sign-in that succeeded (and is logged): a ticket for it, which the next run turns
    into the browser's cookie. Nothing is shown before that cookie is back."""
    ticket, code = gate.issue(viewer.name, method, gate.browser_key())
    connection = gate.connection()
    st.session_state.update(
        viewer=viewer, _method=method, _ticket=ticket.id,
        _bind=(code, weakref.ref(connection) if connection is not None else lambda: None),
    )  # fmt: skip
    st.rerun()


def sign_out(config: AccessConfig | None, *, reason: str = "signed out") -> None:
    """End the session's sign-in: logged, its cookie void, and every trace of what it saw
    forgotten."""
    viewer = st.session_state.get("viewer")
    if viewer is not None:
        record(audit.SIGN_OUT, {"reason": reason}, user=viewer.name, role=viewer.label,
               config=config)  # fmt: skip
    gate.revoke(st.session_state.get("_ticket"))
    _forget_session()


def download(label: str, make: Callable[[], bytes | str], *, key: str, file_name: str,
             mime: str, what: str, flt: IncidentFilter | None, rows: int,
             dictionary: Callable[[], str] | None = None) -> None:  # fmt: skip
    """A download link, served once to this session's browser, and only once the download is
    in the audit log (what, which file, with which filters, how many rows): a log that
    cannot be written means no file. :mod:`gate` serves it. A CSV's ``dictionary`` (what
    each column means) is offered beside it; it holds no incident data, so it is not
    logged."""
    config: AccessConfig | None = st.session_state.get("_access")
    who: Viewer = st.session_state.get("viewer") or OPEN_VIEWER
    detail = {"what": what, "file": file_name, "rows": int(rows),
              "filters": flt.to_query() if flt is not None else {}}  # fmt: skip

    def log() -> None:
        if config is not None and config.audit_log is not None:
            audit.AuditLog(config.audit_log).record(
                audit.EXPORT, user=who.name, role=who.label, detail=detail
            )

    ticket = st.session_state.get("_ticket")
    method = st.session_state.get("_method")

    def allowed() -> bool:  # asked again when the link is followed, from the files
        if config is None:
            return True  # the open page
        if method == "oidc":
            return config.oidc_viewer(who.name) == who
        try:
            user = load_users(config.users_file).get(who.name) if config.users_file else None
        except (LayersError, OSError):
            return False
        return user is not None and user.viewer == who

    url = gate.offer(key, file_name, mime, make, log, ticket, allowed)
    st.link_button(label, url, icon=":material/download:",
                   help="The link works once: reload the page for another copy.")  # fmt: skip
    if dictionary is not None:
        name = dictionary_path(file_name).name
        url = gate.offer(f"{key}_dictionary", name, "text/csv", dictionary, lambda: None, ticket)
        st.link_button(f"What the columns mean ({name})", url, icon=":material/description:")


def viewer_sidebar(viewer: Viewer, rules: PrivacyRules, *, open_page: bool,
                   agencies: list[str]) -> Viewer:  # fmt: skip
    """Who is signed in (and a sign-out button), or the open page's "view as" preview."""
    sb = st.sidebar
    if open_page:
        roles = ["analyst", "public", *(f"agency:{a}" for a in agencies)]
        if st.session_state.get("m_view_as") not in roles:
            # The open page may be linked as a role's preview (?view=public); only the open
            # page: a signed-in viewer's role comes from the access file alone.
            asked = st.query_params.get("view")
            st.session_state["m_view_as"] = asked if asked in roles else "analyst"
        label = sb.selectbox(
            "View as", roles, key="m_view_as",
            help="Open page (no sign-in): preview what each role would see.",
        )  # fmt: skip
        viewer = parse_role(label, name=OPEN_VIEWER.name)
    else:
        sb.markdown(f"Signed in as **{md(viewer.name)}** ({md(viewer.label)})")
        if sb.button("Sign out", key="sign_out"):
            oidc = st.session_state.get("_method") == "oidc"
            sign_out(st.session_state.get("_access"))
            if oidc:
                st.logout()
            st.rerun()
    if viewer.role == "public":
        sb.caption(
            f"You see the published monthly map: whole months, counts under {rules.k} and "
            "whatever would give them away hidden, sexual offences and gender-based violence "
            "left out. The same numbers anyone can download."
        )
    elif not viewer.sees_all_points:
        sb.caption(
            f"You see {viewer.describe()}: places as cells of at least "
            f"{rules.anonymous_cell_m:g} m, counts under {rules.k} hidden, and sexual offences, "
            f"domestic violence and other gender-based violence counted by "
            f"{rules.sensitive_level} only."
        )
    return viewer


@st.cache_resource(show_spinner=False)
def live_store(url: str) -> LiveStore:
    # One per database, shared by every session: a pool of connections and the incidents in
    # memory, topped up with what is new on each refresh.
    return LiveStore(url)


@st.cache_resource(max_entries=4, show_spinner=False)
def load_store(path: str, version: str) -> StoreSnapshot:
    # A snapshot is read-only and shared by every session; cache_data would copy it per rerun,
    # which at millions of incidents costs more than the filter itself. `version` keys the cache
    # so a new ingest is picked up.
    if is_live(path):
        return live_store(path).snapshot_at(version)
    return open_store(path, version=version or None)


@st.cache_data(max_entries=64, show_spinner=False)
def filter_choices(path: str, version: str) -> dict[str, list[str]]:
    snapshot = load_store(path, version)
    columns = snapshot.columns

    def present(column: str) -> list[str]:
        counts = columnar.counts_by(columns, None, column)
        return sorted(str(label) for label in counts.index[counts.to_numpy() > 0])

    def with_outside(names: pd.Series, column: str) -> list[str]:
        outside = OUTSIDE in present(column)
        return [*names, *([OUTSIDE] if outside else [])]

    first, last = columnar.day_span(columns) or (date.today(), date.today())
    return {
        "agencies": present("agency"),
        "areas": present("collaboration_area"),
        "categories": present("category"),
        "precincts": with_outside(snapshot.precincts["name"], "precinct"),
        "wards": with_outside(snapshot.wards["name"], "ward"),
        "first": [str(first)],
        "last": [str(last)],
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def kept(path: str, version: str, flt: IncidentFilter) -> np.ndarray | None:
    """The filter's mask over the store's incidents (None: all), shared by the map and the
    figures; a resource, so it is neither copied nor hashed on each use."""
    if flt.is_empty:
        return None
    mask = columnar.select(load_store(path, version).columns, flt)
    mask.flags.writeable = False
    return mask


@st.cache_data(max_entries=8, show_spinner=False)
def opening_view(path: str, version: str, boundary: str) -> tuple[float, float, float, float]:
    """Where the map opens: the incidents inside the chosen boundary layer, without a few
    far-off ones (see :func:`layers.storage.columnar.robust_extent`), or the boundaries' own extent
    when there are none. Choosing the other layer fits the map again."""
    snapshot = load_store(path, version)
    columns = snapshot.columns
    labels, codes = columns.labels[boundary], columns.codes[boundary]
    inside = codes >= 0
    if OUTSIDE in labels:
        inside &= codes != labels.index(OUTSIDE)
    extent = columnar.robust_extent(columns, inside)
    if extent is None:
        areas = snapshot.precincts if boundary == "precinct" else snapshot.wards
        extent = tuple(float(v) for v in areas.total_bounds)
    # Out to whole hundredths of a degree (about 1 km): the box's edges are otherwise some
    # incident's own longitude or latitude, and every viewer gets them.
    west, south, east, north = extent
    return (math.floor(west * 100) / 100, math.floor(south * 100) / 100,
            math.ceil(east * 100) / 100, math.ceil(north * 100) / 100)  # fmt: skip


# A filter's parts, as a viewer names them: (the field(s) to clear, the label).
FILTER_PARTS = (
    (("agencies",), "agency"), (("areas",), "collaboration area"),
    (("categories",), "category"), (("since", "until"), "dates"), (("hours",), "time of day"),
    (("precincts",), "precinct"), (("wards",), "ward"),
)  # fmt: skip


@st.cache_data(max_entries=16, show_spinner=False)
def why_nothing(path: str, version: str, flt: IncidentFilter, least: int) -> str:
    """Which filters exclude everything: the parts of ``flt`` that, cleared on their own,
    would leave at least ``least`` incidents (the privacy threshold for a viewer who does
    not see every incident, so that no count under it is implied)."""
    columns = load_store(path, version).columns
    freeing = []
    for names, label in FILTER_PARTS:
        if not any(getattr(flt, n) for n in names):
            continue
        wider = dataclasses.replace(flt, **{n: None if n in ("since", "until", "hours") else ()
                                            for n in names})  # fmt: skip
        mask = columnar.select(columns, wider) if not wider.is_empty else None
        if (len(columns) if mask is None else int(mask.sum())) >= least:
            freeing.append(f"the {label} filter")
    if not freeing:
        return ("No incidents match these filters, and clearing any one of them would not "
                "change that: widen several, or start again from all incidents.")  # fmt: skip
    either = " or ".join([", ".join(freeing[:-1]), freeing[-1]] if len(freeing) > 1 else freeing)
    return (f"No incidents match all of these filters together. Clearing {either} would "
            "show incidents.")  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def map_data(
    path: str,
    version: str,
    flt: IncidentFilter,
    boundary: str,
    zoom: int | None,
    bounds: tuple[float, float, float, float] | None,
    policy: Policy,
) -> MapData:
    # Keyed by filter, view and viewer: going back to an earlier one costs nothing.
    snapshot = load_store(path, version)
    mask = kept(path, version, flt)
    return prepare_map(snapshot, flt, boundary=boundary, zoom=zoom, bounds=bounds, mask=mask,
                       policy=policy)  # fmt: skip


@st.cache_data(max_entries=64, show_spinner=False)
def figures(
    path: str, version: str, flt: IncidentFilter, boundary: str, policy: Policy
) -> dict[str, object]:
    """Headline, top areas and weekly trend: every figure beside the map, for one filter,
    as the viewer may see them (see layers.access.privacy)."""
    columns = load_store(path, version).columns
    mask = kept(path, version, flt)
    if mask is not None and len(mask) != len(columns):  # the version moved on under us
        mask = columnar.select(columns, flt)
    return private_figures(columns, mask, policy, flt, boundary=boundary)


def map_view() -> tuple[int | None, tuple[float, float, float, float] | None]:
    """The zoom and padded lon/lat bounds the viewer last left the map at, if any."""
    key = MAP_KEY.format(boundary=st.session_state.get("m_boundary", "precinct"))
    state = st.session_state.get(key) or {}
    zoom, bounds = state.get("zoom"), state.get("bounds")
    try:
        south, west = bounds["_southWest"]["lat"], bounds["_southWest"]["lng"]
        north, east = bounds["_northEast"]["lat"], bounds["_northEast"]["lng"]
        zoom = int(zoom)
    except (KeyError, TypeError, ValueError):
        return None, None
    if None in (south, west, north, east) or not 0 <= zoom <= 22:
        return None, None
    dx, dy = (east - west) * VIEW_MARGIN, (north - south) * VIEW_MARGIN
    padded = (west - dx, max(south - dy, -85.0), east + dx, min(north + dy, 85.0))
    return zoom, tuple(round(v, 4) for v in padded)  # type: ignore[return-value]


def map_panel(
    store: str,
    version: str,
    flt: IncidentFilter,
    *,
    boundary: str,
    style: str,
    tiles: str,
    result: HotspotResult | None,
    large: bool = False,
    recent: pd.DataFrame | None = None,
    recent_minutes: float = 60.0,
    focus: Focus | None = None,
    outline: gpd.GeoDataFrame | None = None,
    policy: Policy,
) -> None:
    """The map. It runs inside the view fragment: panning or zooming reruns only that, to
    refine the heat cells.

    The base map (tiles, legend, banner, opening view) is the same on every run, so
    streamlit-folium never rebuilds it; everything that depends on the filters or the view
    goes in as ``feature_group_to_add`` layers, and the viewer keeps their position. A
    ``focus`` (centre, zoom, padded bounds) moves the view without a rebuild (meeting-mode
    rotation).
    """
    snapshot = load_store(store, version)
    # Fixed for the session once made: a live store's new incidents must not move the
    # opening view, which would rebuild the map under the viewer.
    fit_key = f"_fit_{boundary}_{store}"
    if fit_key not in st.session_state:
        st.session_state[fit_key] = opening_view(store, version, boundary)
    fit = st.session_state[fit_key]
    zoom, bounds = map_view()
    if focus is not None:
        zoom, bounds = focus[1], focus[2]
    elif zoom is None:  # a new map: heat for the zoom it opens at
        zoom = columnar.fit_zoom(fit)
    data = map_data(store, version, flt, boundary, zoom, bounds, policy)
    label = "Precinct" if boundary == "precinct" else "Ward"
    base = live_base_map(snapshot.precincts, tiles=tiles, synthetic=snapshot.synthetic,
                         large=large, fit=fit)  # fmt: skip
    layers = map_layers(
        data.areas,
        data.heat,
        area_label=label,
        style=style,
        zoom=data.zoom,
        heat_scale=data.heat_scale,
        heat_radius=data.heat_radius,
        hotspots=result.layer if result is not None else None,
        hotspot_method=result.method if result is not None else "gistar",
        recent=recent,
        recent_minutes=recent_minutes,
    )
    if outline is not None:
        layers.append(focus_layer(outline))
    st_folium(
        base,
        key=MAP_KEY.format(boundary=boundary),
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=True),
        returned_objects=["zoom", "bounds"],
        height=780 if large else 640,
        width=None,
        center=focus[0] if focus is not None else None,
        zoom=focus[1] if focus is not None else None,
    )


def ensure_demo_store(store: Path) -> None:
    """Build the default store from the demo files on first start, with visible progress.

    A file lock makes concurrent first visits wait for one build instead of racing.
    """
    store.parent.mkdir(parents=True, exist_ok=True)
    with open(store.parent / f".{store.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if current_version(store) is None:
            _build_demo_store(store)


def _build_demo_store(store: Path) -> None:
    from layers.intake.demo import build_demo_store, generate_demo

    with st.status(
        "First start: building the demo store from synthetic data…", expanded=True
    ) as box:
        bar = st.progress(0.0, text="Generating synthetic demo incidents")
        manifest = generate_demo(DEMO_FILES)
        st.write(f"Wrote {manifest.n_incidents:,} synthetic incidents to `{DEMO_FILES}`.")

        def progress(message: str, fraction: float) -> None:
            bar.progress(min(max(fraction, 0.0), 1.0), text=message)

        report = build_demo_store(store, manifest, progress=progress)
        st.code(report.as_text(), language=None)
        box.update(label="Demo store ready", state="complete", expanded=False)


def init_widgets_from_url(choices: dict[str, list[str]], *, source: str) -> None:
    """Seed widget state from the URL on a session's first run on a store, keeping only
    values that exist in it.

    Later runs keep what the viewer chose: when the data changes (a live refresh, an upload)
    only values that are no longer offered are dropped, and a date range that ran to the last
    day keeps running to the (new) last day. The URL always holds the current filters (see
    :func:`sync_url`), so nothing is lost.
    """
    first, last = date.fromisoformat(choices["first"][0]), date.fromisoformat(choices["last"][0])
    state = st.session_state
    if state.get("_seeded_for") == source:
        for name in LIST_FILTERS:
            state[f"f_{name}"] = [v for v in state.get(f"f_{name}", []) if v in choices[name]]
        dates = state.get("f_dates") or (first, last)
        since, until = (dates[0], dates[-1]) if dates else (first, last)
        if until == state.get("_seeded_last"):
            until = last  # "to the end" stays "to the end" as new days arrive
        since = min(max(since, first), last)
        state["f_dates"] = (since, max(min(until, last), since))
        state["_seeded_last"] = last
        return
    state["_seeded_for"] = source
    state["_seeded_last"] = last
    query = {key: st.query_params.get_all(key) for key in st.query_params}
    flt = filter_from_query(query)
    for name in LIST_FILTERS:
        state[f"f_{name}"] = [v for v in getattr(flt, name) if v in choices[name]]
    since = min(max(flt.since or first, first), last)
    until = max(min(flt.until or last, last), since)
    state["f_dates"] = (since, until)
    state["f_hour_from"], state["f_hour_to"] = flt.hours or (0, 24)
    for key, allowed in MODES.items():
        value = query.get(key, [allowed[0]])[0]
        state[f"m_{key}"] = value if value in allowed else allowed[0]
    for key, (default, low, high) in NUMBERS.items():
        try:
            value = int(query.get(key, [default])[0])
        except ValueError:
            value = default
        state[f"n_{key}"] = value if low <= value <= high else default


def sidebar_filter(choices: dict[str, list[str]]) -> IncidentFilter:
    first, last = date.fromisoformat(choices["first"][0]), date.fromisoformat(choices["last"][0])
    sb = st.sidebar
    sb.header("Filters")
    agencies = sb.multiselect("Agency", choices["agencies"], key="f_agencies", placeholder="All")
    areas = sb.multiselect("Collaboration area", choices["areas"], key="f_areas", placeholder="All")
    categories = sb.multiselect(
        "Category", choices["categories"], key="f_categories", placeholder="All"
    )
    dates = sb.date_input("Dates", min_value=first, max_value=last, key="f_dates")
    hours = hours_control()
    precincts = sb.multiselect(
        "Precinct", choices["precincts"], key="f_precincts", placeholder="All"
    )
    wards = sb.multiselect("Ward", choices["wards"], key="f_wards", placeholder="All")
    since, until = (dates[0], dates[-1]) if isinstance(dates, tuple) and dates else (first, last)
    return IncidentFilter(
        agencies=tuple(agencies),
        areas=tuple(areas),
        categories=tuple(categories),
        since=None if since == first else since,
        until=None if until == last else until,
        hours=hours,
        precincts=tuple(precincts),
        wards=tuple(wards),
    )


def hours_control() -> tuple[int, int] | None:
    """Time of day as a window from one hour to another; a window past midnight (22:00 to
    04:00) is an overnight one, as ``?hours=22-4`` is. None: all hours."""
    sb = st.sidebar
    left, right = sb.columns(2)
    start = left.selectbox("Time of day from", range(24), key="f_hour_from",
                           format_func=lambda h: f"{h:02d}:00")  # fmt: skip
    end = right.selectbox("to", range(1, 25), key="f_hour_to",
                          format_func=lambda h: f"{h:02d}:00")  # fmt: skip
    if (start, end) == (0, 24):
        return None
    if start == end % 24:
        sb.caption("Time of day: choose a window at least an hour wide; showing all hours.")
        return None
    if start > end:
        sb.caption(f"Overnight: {start:02d}:00 to {end:02d}:00 the next morning.")
    return int(start), int(end)


def sync_url(flt: IncidentFilter) -> None:
    params: dict[str, list[str] | str] = dict(flt.to_query())
    for key in MODES:
        params[key] = st.session_state[f"m_{key}"]
    for key in NUMBERS:
        params[key] = str(st.session_state[f"n_{key}"])
    st.query_params.from_dict(params)


def upload_panel(store: Path, *, synthetic: bool, uploads: Path, max_mb: float,
                 who: Viewer) -> None:  # fmt: skip
    """Validate uploaded files into a store; the synthetic demo is never mixed with real data.
    Every upload is in the audit log, loaded or refused, with its files' names."""
    target = uploads.resolve() if synthetic else store
    with st.expander("Load your own incident or boundary files"):
        st.caption(
            "Incidents: CSV, GeoJSON, GeoPackage, GeoParquet or zipped Shapefile with "
            "incident_id, agency, category, occurred_at (ISO 8601) and lat/lon. Boundaries: "
            "zipped Shapefile, GeoPackage or GeoJSON. Files go through the same validation as "
            "`python -m layers ingest`."
        )
        if synthetic:
            st.info(
                "This is the synthetic demo store, so your files go to a store of their own "
                f"(`{target.name}`), which needs precinct and ward boundaries the first time."
            )
        else:
            st.caption(f"Files are added to this store (`{target.name}`).")
        incidents = st.file_uploader(
            "Incident files",
            accept_multiple_files=True,
            key="up_incidents",
            type=["csv", "gz", "geojson", "json", "gpkg", "parquet", "zip"],
        )
        precincts = st.file_uploader(
            "Precinct boundaries", key="up_precincts", type=["zip", "gpkg", "geojson", "json"]
        )
        wards = st.file_uploader(
            "Ward boundaries", key="up_wards", type=["zip", "gpkg", "geojson", "json"]
        )
        column_map, defaults = (
            column_choices(incidents[0], max_mb=max_mb) if incidents else ({}, {})
        )
        chosen = [f.name for f in (*(incidents or []), precincts, wards) if f is not None]
        if chosen:  # plain text: file names are the uploader's, never markup
            st.text(f"Ready to load: {', '.join(chosen)}")
        # Always enabled: the panel may not have been redrawn since the last upload (Streamlit
        # can answer an upload with a rerun of the map's fragment only); the click reruns it.
        clicked = st.button("Validate and load", key="up_go")
        if clicked and not (incidents or precincts):
            st.warning("Choose incident or precinct files first.")
        elif clicked:
            report, refusal = _load_uploads(target, incidents or [], precincts, wards,
                                            max_mb=max_mb, column_map=column_map,
                                            defaults=defaults)  # fmt: skip
            detail: dict[str, object] = {"files": chosen, "store": target.name}
            if report is not None:
                detail.update(report.totals())
            else:
                detail["refused"] = refusal
            record(audit.UPLOAD, detail, user=who.name, role=who.label)
            if report is not None:
                st.session_state["up_report"] = (str(target), report)
        # The report stays until the next upload: a download button's rerun keeps it.
        if (shown := st.session_state.get("up_report")) is None:
            return
        show_report(shown[1])
        # Only when the upload made a store with incidents: there is nothing else to show.
        other = Path(shown[0]) != store and current_version(shown[0]) is not None
        if other and st.button("Show my store", key="up_show", type="primary"):
            st.session_state["active_store"] = shown[0]
            st.rerun()


# The fields an incident file is read into, as the page names them (see layers.intake.validate).
UPLOAD_FIELDS = {
    "incident_id": "Incident id", "agency": "Agency", "category": "Category",
    "occurred_at": "Date and time", "lat": "Latitude", "lon": "Longitude",
    "wkt": "Geometry (WKT)", "collaboration_area": "Collaboration area",
    "reported_at": "Reported at", "status": "Status", "description": "Description",
}  # fmt: skip
AUTO = "(found automatically)"
NONE = "(none)"


def column_choices(upload: UploadedFile, *, max_mb: float) -> tuple[dict[str, str], dict[str, str]]:
    """The first rows of an incident file, and the viewer's choice of column for each field
    and of a value for every row where the file has none (the CLI's ``--map`` and
    ``--default``)."""
    preview = _preview(upload, max_mb)
    if isinstance(preview, str):
        st.error(md(preview))
        return {}, {}
    head, found = preview
    st.caption(f"First rows of {md(upload.name)}, as read:")
    st.dataframe(head, hide_index=True, width="stretch")
    column_map: dict[str, str] = {}
    defaults: dict[str, str] = {}
    with st.popover("Columns and values for every row"):
        st.caption("Which column holds each field, read from the first incident file and "
                   "applied to every incident file of this upload. Fields found under a known "
                   "name are read from it unless you choose another column.")  # fmt: skip
        columns = [str(c) for c in head.columns]
        for field, label in UPLOAD_FIELDS.items():
            auto = f"{AUTO}: {found[field]}" if field in found else NONE
            pick = st.selectbox(label, [auto, *columns], key=f"up_map_{field}")
            if pick != auto:
                column_map[field] = pick
        st.caption("A value for every row, for a field the file lacks (e.g. every row of a "
                   "station's extract is SAPS).")  # fmt: skip
        agency = st.text_input("Agency for every row", key="up_default_agency").strip()
        category = st.text_input("Category for every row", key="up_default_category").strip()
    defaults.update({k: v for k, v in (("agency", agency), ("category", category)) if v})
    missing = [
        UPLOAD_FIELDS[f] for f in ("incident_id", "agency", "occurred_at")
        if f not in found and f not in column_map and f not in defaults
    ]  # fmt: skip
    if not ({"lat", "lon"} <= {*found, *column_map} or "wkt" in {*found, *column_map}
            or preview_has_geometry(upload)):  # fmt: skip
        missing.append("Latitude and Longitude")
    if missing:
        st.warning(f"No column found for {', '.join(missing)}: choose one under \"Columns and "
                   "values for every row\", or give a value for every row.")  # fmt: skip
    return column_map, defaults


def preview_has_geometry(upload: UploadedFile) -> bool:
    """Spatial formats carry their points as geometry, not as columns."""
    return Path(upload.name).suffix.lower() in (".geojson", ".json", ".gpkg", ".zip", ".parquet")


def _preview(upload: UploadedFile, max_mb: float) -> tuple[pd.DataFrame, dict[str, str]] | str:
    """The first rows of ``upload`` and the columns found for each field (or why the file
    cannot be read), read once per uploaded file."""
    cached = st.session_state.get("_up_preview")
    if cached is not None and cached[0] == upload.file_id:
        return cached[1]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _save_upload(upload, Path(tmp), max_mb)
            table = read_incident_file(path)
        except LayersError as err:
            result: tuple[pd.DataFrame, dict[str, str]] | str = str(err).replace(tmp + "/", "")
        else:
            found = resolve_columns(table.rows.columns, rows=table.rows)
            result = (table.rows.head(5).reset_index(drop=True), found)
    st.session_state["_up_preview"] = (upload.file_id, result)
    return result


def _load_uploads(
    target: Path,
    incidents: list[UploadedFile],
    precincts: UploadedFile | None,
    wards: UploadedFile | None,
    *,
    max_mb: float,
    column_map: dict[str, str],
    defaults: dict[str, str],
) -> tuple[IngestReport | None, str]:
    """Validate and ingest uploaded files into ``target``: the report, or None and why not
    (the message is shown)."""
    with tempfile.TemporaryDirectory() as tmp:
        # Each upload in its own folder: two files with the same name must not collide.
        files = [f for f in (*incidents, precincts, wards) if f is not None]
        folders = {id(f): Path(tmp, str(n)) for n, f in enumerate(files)}
        try:
            paths = {id(f): _save_upload(f, folders[id(f)], max_mb) for f in files}
            report = ingest(
                target,
                [paths[id(f)] for f in incidents],
                precincts=paths.get(id(precincts)),
                wards=paths.get(id(wards)),
                column_map=column_map,
                defaults=defaults,
            )
            return report, ""
        except LayersError as err:
            st.error(md(err))
            return None, str(err).replace(tmp, "")
        except Exception as err:  # a file we could not anticipate: say so, keep the page
            LOG.exception("upload failed")
            st.error(f"Could not load these files: {type(err).__name__}: {md(err)}")
            return None, type(err).__name__


def _save_upload(upload: UploadedFile, folder: Path, max_mb: float) -> Path:
    if upload.size > max_mb * 1024 * 1024:
        raise LayersError(
            f"{upload.name} is larger than {max_mb:g} MB, the most this page takes; "
            "split it, or ingest it with `python -m layers ingest`."
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_filename(upload.name)
    target.write_bytes(upload.getvalue())
    return target


def show_report(report: IngestReport) -> None:
    """What an upload did, in one voice: a failed file says so and nothing else claims
    success. File names only: never a path on the server."""
    totals = report.totals()
    if not report.files:  # boundaries only
        st.success(f"Boundaries loaded. The store holds {report.total_incidents:,} incidents.")
        for note in report.boundary_warnings:
            st.caption(md(note))
        return
    failed = [file for file in report.files if file.error]
    for file in failed:
        st.error(md(f"{Path(file.file).name} was not loaded: {file.error}"))
    if totals["accepted"] == 0:
        if not failed:
            st.error(f"No row was loaded: all {totals['read']:,} were rejected (see below).")
    elif totals["rejected"]:
        st.warning(f"{totals['rejected']:,} of {totals['read']:,} rows were rejected; "
                   f"{totals['accepted']:,} were loaded.")  # fmt: skip
    else:
        st.success(f"All {totals['read']:,} rows accepted. The store now holds "
                   f"{report.total_incidents:,} incidents.")  # fmt: skip
    lines = [f"Read {totals['read']:,} rows: accepted {totals['accepted']:,} (new "
             f"{totals['new']:,}, updated {totals['updated']:,}, unchanged "
             f"{totals['unchanged']:,}); rejected {totals['rejected']:,}."]  # fmt: skip
    lines += [f"  rejected {count:>7,}  {reason}"
              for reason, count in report.rejected_by_reason().most_common()]  # fmt: skip
    for file in report.files:
        if not file.error:
            lines.append(f"- {Path(file.file).name}: {file.read:,} read, {file.accepted:,} "
                         f"accepted, {file.rejected_total:,} rejected")  # fmt: skip
            lines += [f"    note: {w}" for w in file.warnings]
    lines += [f"note: {w}" for w in report.boundary_warnings]
    st.code("\n".join(lines), language=None)
    for file in report.files:
        if file.rejects_file:
            rejects = Path(file.rejects_file)
            described = dictionary_path(rejects)
            download(f"Download rejected rows of {Path(file.file).name}", rejects.read_bytes,
                     key=f"rej_{rejects}", file_name=rejects.name, mime="text/csv",
                     what="Rejected rows", flt=None, rows=file.rejected_total,
                     dictionary=described.read_text if described.exists() else None)  # fmt: skip


def hotspot_sidebar(*, full: bool) -> HotspotParams | None:
    """The hotspot options; None when no analysis is asked for. Kernel density surfaces
    (which peak on a lone incident) are offered only to viewers who see every incident."""
    sb = st.sidebar
    sb.header("Hotspots")
    offered = [m for m in MODES["hotspots"] if full or m != "kde"]
    method = sb.selectbox("Analysis", offered, key="m_hotspots",
                          format_func=HOTSPOT_LABELS.get)  # fmt: skip
    cell_m = sb.number_input("Cell size in metres (0: chosen from the data)", 0, 5000, step=50,
                             key="n_cell_m", disabled=method in ("none", "kde"),
                             help=f"0, or {MIN_CELL_M} m and more")  # fmt: skip
    if 0 < cell_m < MIN_CELL_M:
        sb.caption(f"Cells smaller than {MIN_CELL_M} m are too many to map; using {MIN_CELL_M} m.")
        cell_m = MIN_CELL_M
    share = sb.slider("KDE hotspot area, % of the study area", 1, 10, key="n_share",
                      disabled=method not in ("kde",))  # fmt: skip
    sb.radio("Time step", MODES["step"], key="m_step", horizontal=True,
             format_func={"M": "Months", "W": "Weeks"}.get,
             disabled=method != "emerging")  # fmt: skip
    if method == "none":
        return None
    return HotspotParams(method=method, cell_m=cell_m or None, area_share=share / 100,
                         freq=st.session_state["m_step"])  # fmt: skip


@st.cache_data(max_entries=4, ttl=3600, show_spinner="Finding hotspots…")
def hotspot_result(
    path: str, version: str, flt: IncidentFilter, params: HotspotParams, policy: Policy
) -> HotspotResult:
    return private_hotspots(load_store(path, version), flt, params, policy=policy)


@st.cache_data(max_entries=8, ttl=3600, show_spinner="Scoring earlier hotspots on later incidents…")
def evaluation(
    path: str, version: str, flt: IncidentFilter, split: date, area_share: float, cell_m: float
) -> pd.DataFrame:
    params = HotspotParams(cell_m=cell_m or None)
    return evaluate_hotspots(
        load_store(path, version), flt, split=split, area_share=area_share, params=params
    )


def hotspot_panel(
    result: HotspotResult, snapshot: StoreSnapshot, flt: IncidentFilter, *, boundary: str,
    policy: Policy,
) -> None:  # fmt: skip
    st.subheader(METHODS[result.method])
    st.caption(result.explanation)
    level = result.by_area[result.by_area["level"] == boundary].drop(columns="level")
    st.markdown(f"**Hot cells and incidents inside them, per {boundary}**")
    st.dataframe(
        level.head(15), hide_index=True, width="stretch",
        column_config={
            "area": boundary.capitalize(),
            "hot_cells": "Hot cells" if result.method != "kde" else "Hotspots",
            "in_hotspots": "Incidents in hotspots",
            "share_in_hotspots": st.column_config.ProgressColumn(
                "Share in hotspots", format="percent", min_value=0, max_value=1),
        },
    )  # fmt: skip
    suffix = st.selectbox("Export as", HOTSPOT_SUFFIXES, key="h_suffix",
                          format_func={".zip": "Shapefile (.zip)", ".gpkg": "GeoPackage",
                                       ".geojson": "GeoJSON"}.get)  # fmt: skip
    # An export belongs to the view it was made for: a changed filter, method or store
    # version hides it rather than offering a file that no longer matches the map.
    view = (snapshot.version, flt, result.method, result.parameters.get("cell_m"), suffix,
            policy)  # fmt: skip
    if st.button("Prepare the export", key="h_prepare"):
        with tempfile.TemporaryDirectory() as tmp:
            out = export_hotspots(
                result.layer,
                Path(tmp, f"hotspots_{result.method}{suffix}"),
                provenance=hotspot_provenance(result, snapshot, flt),
            )
            st.session_state["h_export"] = (view, out.name, out.read_bytes())
    prepared = st.session_state.get("h_export")
    if prepared and prepared[0] == view:
        _, name, data = prepared
        download(f"Download {name}", lambda: data, key="h_download", file_name=name,
                 mime="application/octet-stream", what=f"Hotspots ({METHODS[result.method]})",
                 flt=flt, rows=len(result.layer))  # fmt: skip


def evaluation_panel(
    snapshot: StoreSnapshot, flt: IncidentFilter, version: str, stats: dict[str, object]
) -> None:
    # The split must fall inside the filtered incidents, not the whole store.
    first, last = stats["first"], stats["last"]
    with st.expander("How well did last period's hotspots predict this one?"):
        if stats["incidents"] < 2 or first is None or first == last:
            st.info("An evaluation needs incidents on at least two days in the filter: widen "
                    "the filters.")  # fmt: skip
            return
        st.caption(
            "Hotspots are fitted on incidents before the split date and scored on those after "
            "it. Hit rate: share of later incidents inside the hotspots. PAI: hit rate divided "
            "by the share of the area covered (1 = chance). RRI: above 1, the hotspots took a "
            "larger share of incidents than before. Every method covers the same share of "
            "the study area."
        )
        low, high = first + timedelta(days=1), last
        default = min(max(last - timedelta(days=90), low), high)
        if not low <= st.session_state.get("e_split", default) <= high:
            st.session_state["e_split"] = default  # the filters moved the period
        st.session_state.setdefault("e_split", default)  # the widget's value: no second one
        split = st.date_input("Split date", min_value=low, max_value=high, key="e_split")
        if st.button("Evaluate", key="e_go"):
            try:
                table = evaluation(str(snapshot.path), version, flt, split,
                                   st.session_state["n_share"] / 100,
                                   st.session_state["n_cell_m"])  # fmt: skip
            except LayersError as err:
                st.error(md(err))
                return
            st.dataframe(evaluate.readable_table(table), hide_index=True, width="stretch")
            name = f"hotspot_evaluation_{split}.csv"
            readable = evaluate.readable_table(table)
            download("Download the table (CSV)", lambda: evaluate.to_csv(table), key="e_csv",
                     file_name=name, mime="text/csv", what="Hotspot evaluation", flt=flt,
                     rows=len(table),
                     dictionary=lambda: dictionary_csv("evaluation", readable))  # fmt: skip


def open_source(options: argparse.Namespace) -> tuple[str, StoreSnapshot]:
    """The store to show (a folder or a PostGIS URL) and its snapshot; stops with a clear
    message when there is none."""
    if options.postgis:
        live = live_store(options.postgis)
        if not live.loaded:
            live.refresh()
        if not live.loaded:
            st.title("Safety cluster incident map")
            st.error(f"{live.error} Retrying every 5 seconds.")
            wait_for_database(options.postgis)
            st.stop()
        return options.postgis, live.snapshot
    # A store chosen by code in this session (after an upload), never from the URL.
    store = Path(st.session_state.get("active_store", options.store)).resolve()
    if "active_store" in st.session_state and st.sidebar.button(
        "Back to the starting store", key="back_to_start"
    ):
        del st.session_state["active_store"]
        st.rerun()
    if current_version(store) is None:
        if store != DEMO_STORE.resolve():
            st.error(
                f"No incident store at `{store}`. Build one with `python -m layers ingest "
                f"--store {store} --precincts FILE --wards FILE INCIDENTS...`."
            )
            st.stop()
        ensure_demo_store(store)
    try:
        return str(store), load_store(str(store), current_version(store) or "")
    except LayersError as err:
        st.error(md(err))
        st.stop()


@st.fragment(run_every=5)
@guarded
def wait_for_database(url: str) -> None:
    """Until the database answers: try again, and reload the page once it does."""
    live = live_store(url)
    if live.loaded or live.refresh().error is None:
        st.rerun(scope="app")


def meeting_sidebar() -> None:
    sb = st.sidebar
    sb.header("Meeting")
    if sb.button("Meeting mode (full screen)", key="to_meeting", type="primary"):
        st.session_state["m_mode"] = "meeting"
        st.rerun()
    sb.selectbox("Rotate through", MODES["rotate"], key="m_rotate",
                 format_func={"none": "Nothing (stay put)", "precincts": "Precincts",
                              "wards": "Wards", "areas": "Collaboration areas"}.get)  # fmt: skip
    sb.number_input("Seconds per step", 5, 600, step=5, key="n_every")


def rotation(
    source: str, snapshot: StoreSnapshot, flt: IncidentFilter, choices: dict[str, list[str]]
) -> tuple[IncidentFilter, Focus | None, str | None, gpd.GeoDataFrame | None]:
    """Meeting-mode rotation: the filter, map focus, heading and outlined area of the
    current step. A precinct or ward step filters everything on the page to that area,
    outlines and labels it and fits it to the map, as a collaboration-area step filters."""
    rotate, every = st.session_state["m_rotate"], st.session_state["n_every"]
    if st.session_state["m_mode"] != "meeting" or rotate == "none":
        return flt, None, None, None
    step = int(time.time() // every)
    if rotate == "areas" and choices["areas"]:
        area = choices["areas"][step % len(choices["areas"])]
        return (dataclasses.replace(flt, areas=(area,)), None,
                f"Collaboration area: {md(area)}", None)  # fmt: skip
    if rotate in ("precincts", "wards"):
        boundaries = snapshot.precincts if rotate == "precincts" else snapshot.wards
        # The areas the viewer chose, or else every area with incidents in the filter (an
        # empty area would be an empty step).
        mask = kept(source, snapshot.version, flt)
        counts = columnar.counts_by(snapshot.columns, mask, rotate[:-1])
        held = set(counts[counts > 0].index) - {OUTSIDE}
        names = [n for n in (getattr(flt, rotate) or choices[rotate])
                 if n in held and (boundaries["name"] == n).any()]  # fmt: skip
        if names:
            name = names[step % len(names)]
            outline = boundaries[boundaries["name"] == name]
            minx, miny, maxx, maxy = outline.total_bounds
            zoom = columnar.fit_zoom((minx, miny, maxx, maxy), width_px=1000, height_px=700)
            dx, dy = maxx - minx, maxy - miny
            padded = (minx - dx, miny - dy, maxx + dx, maxy + dy)
            label = "Precinct" if rotate == "precincts" else "Ward"
            return (
                dataclasses.replace(flt, **{rotate: (name,)}),
                (((miny + maxy) / 2, (minx + maxx) / 2), zoom, padded),
                f"{label}: {md(name)}",
                outline,
            )
    return flt, None, None, None


def view_panel(
    source: str,
    flt: IncidentFilter,
    choices: dict[str, list[str]],
    *,
    boundary: str,
    style: str,
    options: argparse.Namespace,
    result: HotspotResult | None,
    policy: Policy,
) -> None:
    """Figures and map. A fragment: map moves rerun only this, and with a live store it
    reruns every ``--refresh`` seconds, fetching only what is new."""
    still_allowed(options)  # before anything is read: a fragment run is a run too
    meeting = st.session_state["m_mode"] == "meeting"
    note = None
    if is_live(source):
        live = live_store(source)
        outcome = live.refresh()
        # Pin this run's snapshot in the version-keyed cache now, while that version is
        # certainly kept: every figure, the map and the caption below come from it.
        snapshot = load_store(source, live.version)
        if outcome.error:
            since = live.error_since.astimezone(LOCAL_ZONE) if live.error_since else None
            good = live.last_success.astimezone(LOCAL_ZONE) if live.last_success else None
            st.warning(
                f"{outcome.error} Showing the data as of {good:%H:%M:%S}"
                f"{f' (no refresh since {since:%H:%M:%S})' if since else ''}."
                if good
                else outcome.error
            )
        started = st.session_state.setdefault("meeting_started", datetime.now(UTC))
        fresh = count_since(snapshot, started)
        read_at = live.last_success or datetime.now(UTC)
        note = (
            f"Last updated {read_at.astimezone(LOCAL_ZONE):%H:%M:%S}. "
            f"{fresh:,} new since the meeting started at "
            f"{started.astimezone(LOCAL_ZONE):%H:%M}."
        )
    else:
        snapshot = load_store(source, current_version(source) or "")
    version = snapshot.version
    flt, focus, heading, outline = rotation(source, snapshot, flt, choices)
    numbers = figures(source, version, flt, boundary, policy)
    stats = numbers["headline"]
    if heading:
        st.header(heading)
    nothing = stats["incidents"] == 0 and not numbers["hidden"]
    if nothing:
        st.info(why_nothing(source, version, flt, 1 if policy.full else policy.rules.k))
    cols = st.columns(4)
    fewer = f"fewer than {policy.rules.k}"  # a figure hidden to protect victims (None)
    cols[0].metric("Incidents", fewer if numbers["hidden"] else f"{stats['incidents']:,}")
    cols[1].metric("Agencies", "–" if stats["agencies"] is None else stats["agencies"])
    cols[2].metric("Outside boundaries", fewer if stats["outside"] is None else
                   f"{stats['outside']:,}")  # fmt: skip
    days = (stats["last"] - stats["first"]).days + 1 if stats["first"] else None
    cols[3].metric("Days covered", "–" if days is None else f"{days:,}")
    if note:
        st.caption(note)
    span = f"{stats['first']:%d %b %Y} to {stats['last']:%d %b %Y}. " if stats["first"] else ""
    st.caption(f"{span}Filter: {md(flt.describe())}. Store version {version}.")
    recent = None
    if is_live(source):
        recent = recent_cells(source, version, flt, options.recent_minutes, policy)
    left, right = st.columns([3, 2])
    with left:
        map_panel(source, version, flt, boundary=boundary, style=style, tiles=options.tiles,
                  result=result, large=meeting, recent=recent,
                  recent_minutes=options.recent_minutes, focus=focus, outline=outline,
                  policy=policy)  # fmt: skip
    with right:
        st.subheader(f"Top {'precincts' if boundary == 'precinct' else 'wards'}")
        if nothing:
            st.caption("No incidents in this filter.")
        st.dataframe(
            numbers["top"],
            hide_index=True,
            width="stretch",
            column_config={
                "incidents": st.column_config.NumberColumn("incidents", format="localized"),
                "share": st.column_config.ProgressColumn(
                    "Share", format="percent", min_value=0, max_value=1
                ),
            },
        )
        if not policy.full:
            st.caption(f"Areas with fewer than {policy.rules.k} incidents are left out, with "
                       "a few more so that theirs cannot be worked out.")  # fmt: skip
        st.subheader("Weekly incidents by agency")
        # A live store runs to today (its week in progress); a file store to its last day.
        today = datetime.now(LOCAL_ZONE).date()
        last = today if is_live(source) else date.fromisoformat(choices["last"][0])
        trend_chart(numbers["weekly"], height=260,
                    first=flt.since or date.fromisoformat(choices["first"][0]),
                    last=min(flt.until, last) if flt.until else last)  # fmt: skip
    if meeting:
        st.subheader("CompStat review")
        compstat_panel(source, version, flt, large=True, policy=policy)
    st.session_state["_shown"] = (version, stats)


COMPSTAT_BY = {
    "precinct": "Precincts", "ward": "Wards", "agency": "Agencies",
    "collaboration_area": "Collaboration areas",
}  # fmt: skip
UP, DOWN = "rgba(214, 47, 39, {a:.2f})", "rgba(26, 152, 80, {a:.2f})"


@st.cache_data(max_entries=32, show_spinner=False)
def compstat_tables(
    source: str, version: str, flt: IncidentFilter, by: str, today: date, policy: Policy
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, date]:
    """The period comparison, hour-by-weekday grid and weekly counts for a filter (its dates
    ignored: the review sets its own windows), as the viewer may see them."""
    columns = load_store(source, version).columns
    undated = dataclasses.replace(flt, since=None, until=None)
    mask = None if undated.is_empty else columnar.select(columns, undated)
    day = compstat.default_reference_day(columns, today)
    return (*private_review(columns, mask, policy, flt, by=by, today=day), day)


def compstat_panel(
    source: str, version: str, flt: IncidentFilter, *, large: bool, policy: Policy
) -> None:
    """CompStat review: up or down against the previous period, by area, agency or
    collaboration area; when in the day and week; exportable."""
    by = st.segmented_control("Review by", list(COMPSTAT_BY), key="c_by",
                              format_func=COMPSTAT_BY.get) or "precinct"  # fmt: skip
    # As of the last complete local day: today's partial counts against full days would read
    # as "down" everywhere in a morning meeting.
    yesterday = datetime.now(LOCAL_ZONE).date() - timedelta(days=1)
    table, grid, weekly, day = compstat_tables(source, version, flt, by, yesterday, policy)
    windows = table.attrs["windows"]
    st.caption(
        f"As of {day:%d %b %Y}. "
        + " · ".join(f"{compstat.PERIODS[k]}: {compstat.window_text(w)}"
                     for k, w in windows.items())
        + ". Red: up on the previous period; green: down. % change is blank where there "
        "was nothing before."
    )  # fmt: skip
    shown = table.drop(columns="is_total")
    shown.attrs = {}  # window dates: shown in the caption, not sent with the table
    pct = [c for c in shown.columns if c.endswith("_pct")]
    for column in pct:  # "+25%", "new" or "–", coloured by the number behind it
        shown[column] = compstat.pct_text(table, column.removesuffix("_pct"))
    counts = [c for c in shown.columns if c not in (by, *pct)]
    styled = (
        shown.style.format("{:,.0f}", subset=counts, na_rep=f"<{policy.rules.k}")
        .apply(lambda text: [_change_colour(v) for v in table[text.name]], subset=pct)
    )  # fmt: skip
    if large:
        styled = styled.set_properties(**{"font-size": "1.3rem"})
    st.dataframe(
        styled, hide_index=True, width="stretch", height=420 if large else 360,
        column_config={by: COMPSTAT_BY[by][:-1] if by != "agency" else "Agency",
                       "week": "This week", "week_prev": "Week before",
                       "week_change": "Change", "week_pct": "% change",
                       "days28": "Last 28 days", "days28_prev": "28 before",
                       "days28_change": "Change ", "days28_pct": "% change ",
                       "ytd": "Year to date", "ytd_prev": "Last year to date",
                       "ytd_change": "Change  ", "ytd_pct": "% change  "},
    )  # fmt: skip
    if large:
        return
    name = f"compstat_{by}_{day:%Y%m%d}.csv"
    download("Download the review (CSV)", lambda: compstat.to_csv(table), key="c_csv",
             file_name=name, mime="text/csv", what="CompStat review", flt=flt,
             rows=len(table) - 1,
             dictionary=lambda: dictionary_csv("compstat", compstat.readable_table(table)),
             )  # fmt: skip
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Hour of day by day of week, last 28 days**")
        peak = max(float(np.nanmax(grid.to_numpy(dtype=float), initial=0)), 1.0)
        # Hours down, days across: the whole day fits the column, with no scrolling inside
        # the table (24 hours across did not fit at 1600 px).
        hours = grid.T
        hours.index = pd.Index([f"{int(h):02d}:00" for h in hours.index], name="Hour")
        row = 34 if large else 26
        styled = hours.style.map(lambda v: _shade(v, peak))
        st.dataframe(styled.format("{:.0f}", na_rep=f"<{policy.rules.k}"), width="stretch",
                     row_height=row, height=row * 25 + 14)  # fmt: skip
    with right:
        st.markdown(f"**Weekly trend, top five {COMPSTAT_BY[by].lower()}**")
        top = [v for v in table.loc[~table["is_total"], by].head(5)]
        shown = weekly[[c for c in top if c in weekly.columns]].tail(26)
        # The weeks hold what the store holds: from its first day to its last (today's
        # incidents included on a live store), which may cut the first and last week.
        held = filter_choices(source, version)
        start = date.fromisoformat(held["first"][0])
        if len(shown):
            start = max(start, shown.index.min().date())
        end = datetime.now(LOCAL_ZONE).date() if is_live(source) else date.fromisoformat(
            held["last"][0])  # fmt: skip
        trend_chart(shown, height=280, first=start, last=max(end, day))


def trend_chart(weekly: pd.DataFrame, *, height: int, first: date, last: date) -> None:
    """Weekly counts as lines, one per column, for the period ``first`` to ``last``. A week
    the period cuts (the first and last of a date range, the week in progress on a live
    store) is drawn at its daily rate times seven and marked, so that it never looks like a
    fall. A fixed Vega-Lite spec: st.line_chart builds an Altair chart on every run, which
    on a live page refreshing for 20 viewers costs more than everything else on it."""
    days = columnar.week_days(weekly.index, first, last) if len(weekly) else np.array([], int)
    long = (
        weekly.rename_axis("week")
        .reset_index()
        .melt(id_vars="week", var_name="group", value_name="incidents")
    )
    long["days"] = long["week"].map(dict(zip(weekly.index, days, strict=True))).astype(int)
    long = long[long["days"] > 0]
    long["per_week"] = (long["incidents"] * 7 / long["days"]).round(1)
    long["week_kind"] = np.where(long["days"] < 7, "Part week: daily rate × 7", "Whole week")
    x = {"field": "week", "type": "temporal", "title": None}
    y = {"field": "per_week", "type": "quantitative", "title": "Incidents per week"}
    colour = {"field": "group", "type": "nominal", "title": None}
    spec = {
        "layer": [
            {"mark": {"type": "line"}, "encoding": {"x": x, "y": y, "color": colour}},
            {
                "mark": {"type": "point", "size": 45, "tooltip": True},
                "encoding": {
                    "x": x, "y": y, "color": colour,
                    "shape": {"field": "week_kind", "type": "nominal", "title": None,
                              "scale": {"domain": ["Whole week", "Part week: daily rate × 7"],
                                        "range": ["circle", "diamond"]}},
                    "filled": {"value": True},
                    "tooltip": [
                        {"field": "group", "title": "Series"},
                        {"field": "week", "type": "temporal", "title": "Week of"},
                        {"field": "incidents", "title": "Incidents"},
                        {"field": "days", "title": "Days in the period"},
                        {"field": "per_week", "title": "Per week"},
                    ],
                },
            },
        ],
        "config": {"legend": {"orient": "bottom"}},
    }  # fmt: skip
    st.vega_lite_chart(long, spec, width="stretch", height=height)
    part = sorted({(w, d) for w, d in zip(weekly.index, days, strict=True) if 0 < d < 7})
    if part:
        weeks = "; ".join(f"week of {w:%d %b}: {d} of 7 days" for w, d in part)
        st.caption(f"Part weeks ({weeks}) are drawn at their daily rate times 7 (diamonds).")


def _change_colour(value: float) -> str:
    if pd.isna(value) or value == 0:
        return ""
    alpha = min(abs(float(value)) / 100, 1.0) * 0.45 + 0.1
    return f"background-color: {(UP if value > 0 else DOWN).format(a=alpha)}"


def _shade(value: float, peak: float) -> str:
    if pd.isna(value):
        return ""
    return f"background-color: rgba(214, 47, 39, {0.85 * float(value) / peak:.2f})"


def recent_cells(
    source: str, version: str, flt: IncidentFilter, minutes: float, policy: Policy
) -> pd.DataFrame | None:
    """Cells (16 px at the current zoom) of the kept incidents that occurred in the last
    ``minutes``, for the "just reported" markers of a live store."""
    snapshot = load_store(source, version)
    mask = recent_rows(snapshot, minutes=minutes)
    if not mask.any():
        return None
    keep = kept(source, version, flt)
    if keep is not None and len(keep) == len(mask):
        mask = mask & keep
    zoom, _ = map_view()
    if zoom is None:
        zoom = columnar.fit_zoom(snapshot.precincts.total_bounds)
    return private_heat(snapshot.columns, mask, policy, zoom=zoom, cell_px=16)


def main() -> None:
    st.set_page_config(page_title="Safety cluster incident map", layout="wide")
    options = parse_options(sys.argv[1:])
    # Before anything is read: a configured deployment shows nothing to an anonymous viewer.
    signed_in, rules, open_page = who_is_looking(options)
    source, snapshot = open_source(options)
    version = snapshot.version
    if snapshot.n_incidents == 0:
        st.title("Safety cluster incident map")
        if is_live(source):
            st.warning("The live store has no incidents yet; the page follows it as they arrive.")
            wait_for_incidents(source)
            st.stop()
        st.warning(f"The store at `{source}` has boundaries but no incidents yet.")
        if signed_in.sees_all_points:
            upload_panel(Path(source), synthetic=snapshot.synthetic, uploads=options.uploads,
                         max_mb=options.max_upload_mb, who=signed_in)  # fmt: skip
        st.stop()
    choices = filter_choices(source, version)
    init_widgets_from_url(choices, source=source)
    meeting = st.session_state["m_mode"] == "meeting"
    if meeting:
        st.markdown(MEETING_CSS, unsafe_allow_html=True)
        if st.button("Leave meeting mode", key="leave_meeting"):
            st.session_state["m_mode"] = "normal"
            st.rerun()

    st.title("Safety cluster incident map")
    if snapshot.synthetic:
        st.warning(
            "SYNTHETIC DEMO DATA: these incidents are generated, not real. "
            + ("The demo runs without sign-in." if open_page else "")
        )
    elif open_page:
        st.warning(
            "No sign-in is configured: anyone who can open this page sees every incident. "
            "Start the dashboard with `--access FILE` to require sign-in (see the README)."
        )
    if is_live(source):
        st.caption(f"Live store: {describe(source)}, refreshed every {options.refresh:g} s.")
    viewer = viewer_sidebar(signed_in, rules, open_page=open_page, agencies=choices["agencies"])
    if viewer.role == "public":
        public_page(source, snapshot, rules, options)
        return
    # Named by role, not by person: every viewer of a role shares the cached figures.
    policy = Policy(dataclasses.replace(viewer, name=viewer.label), rules)
    flt = sidebar_filter(choices)
    st.sidebar.header("Map")
    st.sidebar.radio(
        "Boundaries",
        MODES["boundary"],
        key="m_boundary",
        format_func={"precinct": "SAPS precincts", "ward": "City wards"}.get,
    )
    st.sidebar.radio(
        "Area style",
        MODES["style"],
        key="m_style",
        format_func={"outline": "Outlines", "choropleth": "Choropleth of counts"}.get,
    )
    if not policy.full and st.session_state["m_hotspots"] == "kde":  # asked for in a link
        record(audit.ACCESS_DENIED, {"what": "KDE hotspots"}, user=signed_in.name,
               role=viewer.label)  # fmt: skip
        st.session_state["m_hotspots"] = "none"
        st.info("The link asked for kernel density hotspots, which are for analysts: choose "
                "Gi* or emerging hot spots under Hotspots.")  # fmt: skip
    params = hotspot_sidebar(full=policy.full)
    meeting_sidebar()
    sync_url(flt)

    result = None
    if params is not None:
        try:
            result = hotspot_result(source, version, flt, params, policy)
        except LayersError as err:
            st.error(md(err))
    boundary = st.session_state["m_boundary"]
    run_every = options.refresh if is_live(source) and options.refresh > 0 else None
    if meeting and st.session_state["m_rotate"] != "none":
        every = float(st.session_state["n_every"])
        run_every = min(run_every, every) if run_every else every
    view = st.fragment(guarded(view_panel), run_every=run_every)
    view(source, flt, choices, boundary=boundary, style=st.session_state["m_style"],
         options=options, result=result, policy=policy)  # fmt: skip
    if meeting:
        return
    shown_version, stats = st.session_state.get("_shown", (version, None))
    # Outside the refreshing fragment: the review's windows are whole days, and its styled
    # tables are the dearest thing on the page to redraw for every viewer every refresh.
    with st.expander("CompStat review: up or down against the previous period", expanded=False):
        compstat_panel(source, shown_version, flt, large=False, policy=policy)
    if result is not None:
        hotspot_panel(result, load_store(source, shown_version), flt, boundary=boundary,
                      policy=policy)  # fmt: skip
    if not policy.full:
        return  # evaluation and uploads work on every incident: analysts only
    if stats is not None:
        evaluation_panel(load_store(source, shown_version), flt, shown_version, stats)
    if not is_live(source):
        upload_panel(Path(source), synthetic=snapshot.synthetic, uploads=options.uploads,
                     max_mb=options.max_upload_mb, who=signed_in)  # fmt: skip


@st.cache_resource(max_entries=4, show_spinner="Publishing the public monthly map…")
def public_site(source: str, version: str, site_dir: str | None, _snapshot: StoreSnapshot,
                _rules: PrivacyRules) -> PublicSite:  # fmt: skip
    """The published site public viewers see: ``--public-site``, or the store's own,
    published (incrementally) for each store version."""
    if site_dir:
        return PublicSite.load(site_dir)
    if is_live(source):
        digest = hashlib.sha256(source.encode()).hexdigest()[:12]
        target = ROOT / "stores" / f"public-live-{digest}"
    else:
        target = Path(source) / "public-site"
    return store_site(_snapshot, _rules, publish_to=target)


@st.cache_data(max_entries=32, show_spinner=False)
def public_view(source: str, version: str, site_dir: str | None, months: tuple[str, ...],
                group: str, area: str | None, _site: PublicSite) -> PublicFigures:  # fmt: skip
    return public_figures(_site, months, group, area)


def public_page(
    source: str, snapshot: StoreSnapshot, rules: PrivacyRules, options: argparse.Namespace
) -> None:
    """The public role's page: the published monthly site's numbers, nothing else.

    Whole months (one, or a run), a group and a precinct: no day, hour, agency, category or
    ward filter, no live refresh, no hotspots, and no zoom level with finer numbers.
    """
    # A site published by `python -m layers publish` is a link swapped to each new version:
    # the version it points at now is the cache key, so a new publication is read at once.
    site_dir = str(options.public_site.resolve()) if options.public_site else None
    try:
        site = public_site(source, snapshot.version, site_dir, snapshot, rules)
    except LayersError as err:
        st.error(md(err))
        return
    if not site.months:
        st.info("No whole month is published yet: the public map shows months once they end.")
        return
    sb = st.sidebar
    sb.header("Public map")
    months = site.months
    run = sb.select_slider(
        "Months", options=months, value=(months[-1], months[-1]), key="p_months",
        help="Whole months only: one month, or a run of months added up.",
    )  # fmt: skip
    group = sb.selectbox(
        "Incidents", site.groups, key="p_group", format_func=lambda g: GROUP_LABELS.get(g, g)
    )
    names = sorted(site.view(months[-1], "all")["areas"])
    area = sb.selectbox("Precinct", ["", *names], key="p_area",
                        format_func=lambda a: a or "All precincts")  # fmt: skip
    try:
        chosen = month_run(site, run[0], run[1])
        figures = public_view(source, snapshot.version, site_dir, chosen, group, area or None, site)
    except LayersError as err:
        st.error(md(err))
        return
    st.caption(
        f"The published monthly map, data as of the end of {site.manifest['as_of']}. Counts "
        f"under {site.k} are hidden, with whatever would give them away; sexual offences and "
        "gender-based violence are left out. Anyone can download these numbers."
    )
    label = GROUP_LABELS.get(group, group)
    st.metric(
        f"Incidents{' in ' + area if area else ''}: {label}, {figures.label}",
        figures.text(figures.total, figures.total_partial),
    )
    if len(chosen) > 1:
        st.caption("A run of months adds up the published months; where one is hidden, the sum "
                   "is marked 'at least'.")  # fmt: skip
    fmap = public_map(site, figures, tiles=options.tiles)
    st_folium(fmap, key="public_map", returned_objects=[], height=640, width=None)
    table = figures.areas.assign(
        incidents=[figures.text(c, p) for c, p in zip(figures.areas["count"],
                                                      figures.areas["partial"], strict=True)]
    )  # fmt: skip
    if area:
        table = table[table["name"] == area]
    table = table.sort_values(["count", "name"], ascending=[False, True], na_position="last")
    st.dataframe(
        table[["name", "incidents"]].rename(columns={"name": "Precinct", "incidents": "Incidents"}),
        hide_index=True, width="stretch",
    )  # fmt: skip


@st.fragment(run_every=5)
@guarded
def wait_for_incidents(url: str) -> None:
    """An empty live store: reload the page once the first incidents arrive."""
    live = live_store(url)
    live.refresh()
    if live.loaded and live.snapshot.n_incidents:
        st.rerun(scope="app")


guarded(main)()
