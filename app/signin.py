"""Who is looking: sign-in (a users file or an identity provider), the session's cookie
(see :mod:`gate`), roles checked on every run, sign-out, and what is written to the audit log
(sign-ins, refusals, downloads)."""

from __future__ import annotations

import argparse
import logging
import math
import weakref
from collections.abc import Callable

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import gate
from app.display import md
from layers._errors import LayersError
from layers.access import audit
from layers.access.policy import PrivacyRules, Viewer, parse_role
from layers.access.throttle import SignInThrottle
from layers.access.users import AccessConfig, LocalUser, authenticate, load_access, load_users
from layers.dictionary import dictionary_path
from layers.storage.filters import IncidentFilter

LOG = logging.getLogger("dashboard")
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
