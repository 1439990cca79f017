"""Attacks a bare websocket client can make, speaking Streamlit's own protocol to a real
dashboard: the server must not let a client steer it or read what it may not."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from test_browser import _dashboard

from layers.access.users import set_user
from layers.storage.demo import build_demo_store, generate_demo

websockets = pytest.importorskip("websockets.sync.client", reason="websockets is not installed")
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("attacks")
    build_demo_store(folder / "store", generate_demo(folder / "files", incidents=2000))
    return folder / "store"


@pytest.fixture
def access(tmp_path) -> Path:
    set_user(tmp_path / "users.toml", "ana", PASSWORD, "analyst")
    path = tmp_path / "access.toml"
    path.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    return path


def _connect(url: str, session_id: str = ""):
    """A websocket to the dashboard, as Streamlit's frontend opens it (an existing session's
    id in the third subprotocol entry asks to resume that session)."""
    # (the second entry is the XSRF token, which the frontend fills with a placeholder)
    protocols = ["streamlit", "PLACEHOLDER_AUTH_TOKEN", session_id] if session_id else ["streamlit"]
    return websockets.connect(
        url.replace("http://", "ws://") + "/_stcore/stream",
        subprotocols=protocols, origin=url, open_timeout=20,
    )  # fmt: skip


def _rerun(ws) -> None:
    msg = BackMsg()
    msg.rerun_script.query_string = ""
    msg.rerun_script.page_script_hash = ""
    ws.send(msg.SerializeToString())


def _read(ws, seconds: float) -> list[ForwardMsg]:
    """Every message the server sends within ``seconds`` (until the script finishes)."""
    out: list[ForwardMsg] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            raw = ws.recv(timeout=max(deadline - time.monotonic(), 0.05))
        except TimeoutError:
            break
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        out.append(msg)
        if msg.WhichOneof("type") == "script_finished":
            break
    return out


def test_a_client_cannot_clear_the_servers_caches(store, access, tmp_path):
    log = tmp_path / "streamlit.log"
    with _dashboard(["--store", store, "--tiles", "none", "--access", access], log) as url:
        with _connect(url) as ws:
            _rerun(ws)
            _read(ws, 30)
            clear = BackMsg()
            clear.clear_cache = True
            ws.send(clear.SerializeToString())
            _rerun(ws)
            _read(ws, 30)
        deadline = time.monotonic() + 10
        while "clear the server's caches" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert "asked to clear the server's caches" in log.read_text()
    assert "refused" in log.read_text()


def _widgets(messages: list[ForwardMsg]) -> list[tuple[str, str]]:
    """(widget id, element type) of every widget the page drew."""
    found = []
    for msg in messages:
        if msg.WhichOneof("type") != "delta" or msg.delta.WhichOneof("type") != "new_element":
            continue
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        widget = getattr(element, kind)
        if hasattr(widget, "id") and widget.id:
            found.append((widget.id, kind))
    return found


def test_a_crafted_widget_state_gets_no_traceback(store, tmp_path):
    """Widget values of the wrong type for every widget on the page, as a bare client can
    send them: whatever breaks, the browser gets a plain message, never a traceback, a
    source line or a server path."""
    log = tmp_path / "streamlit.log"
    # Streamlit logs the crash (the detail stays in the server's log, as it should)
    expected = ("Uncaught app execution",)
    with (
        _dashboard(["--store", store, "--tiles", "none"], log, expected_warnings=expected) as url,
        _connect(url) as ws,
    ):
        _rerun(ws)
        widgets = _widgets(_read(ws, 60))
        assert len(widgets) > 5
        crafted = BackMsg()
        crafted.rerun_script.query_string = ""
        for widget_id, _ in widgets:
            state = crafted.rerun_script.widget_states.widgets.add()
            state.id = widget_id
            state.string_array_value.data.extend(["../../etc/passwd", "\x00", "9" * 400])
        ws.send(crafted.SerializeToString())
        replies = _read(ws, 60)
    # (Streamlit's session handshake names the script it runs; that message is left out)
    text = "\n".join(str(m) for m in replies if m.WhichOneof("type") != "new_session")
    assert "Traceback" not in text and 'File "' not in text
    shown = [m.delta.new_element.exception for m in replies if m.WhichOneof("type") == "delta"
             and m.delta.new_element.WhichOneof("type") == "exception"]  # fmt: skip
    for exception in shown:  # Streamlit's own, before the script runs: bare, as configured
        assert not exception.stack_trace and "unhashable" not in exception.message
    assert str(Path(__file__).resolve().parent.parent) not in text  # no server path
    assert ".py" not in text.replace("dashboard.py", "")


def test_a_session_id_alone_does_not_resume_a_signed_in_session(store, access, tmp_path):
    """Attack 4: the analyst signs in in Chromium; a bare client presents that session's id
    (Streamlit's reconnect) without the browser's cookie, and gets the sign-in form. The
    browser, which holds the cookie, stays signed in."""
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _require_browser, _sign_in, _wait_until_idle

    from layers.access import audit

    sync_playwright = _require_browser()
    session_ids: list[str] = []

    def keep(payload: bytes | str) -> None:
        if isinstance(payload, bytes):
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") == "new_session":
                session_ids.append(msg.new_session.initialize.session_id)

    log = tmp_path / "streamlit.log"
    options = ["--store", store, "--tiles", "none", "--access", access]
    # Streamlit says it hands the session over: the attack, logged.
    expected = ("is already connected! Reconnecting to existing session",)
    with _dashboard(options, log, expected_warnings=expected) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("websocket", lambda ws: ws.on("framereceived", keep))
        page.goto(url, wait_until="domcontentloaded")
        _sign_in(page, "ana")
        page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
        _wait_until_idle(page)  # nothing of the analyst's page still on its way
        stolen = session_ids[-1]
        with _connect(url, stolen) as ws:
            _rerun(ws)
            # Everything the session sends until its sign-in page is drawn: a fragment run
            # still on its way when the session was taken may finish first.
            replies: list[ForwardMsg] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                "Incident data is restricted" in str(m) for m in replies
            ):
                replies += _read(ws, deadline - time.monotonic())
        # The browser that holds the cookie is still signed in: a new page, no password.
        page.reload(wait_until="domcontentloaded")
        page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
        reloaded_form = page.get_by_role("textbox", name="Password").count()
        # A sign-in code is redeemed only by the page itself: not by a form another site
        # posts (text/plain), nor from another origin.
        forged = urllib.request.Request(
            url + "/auth/bind", data=b'{"code": "x"}', method="POST",
            headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        )  # fmt: skip
        try:
            forged_status = urllib.request.urlopen(forged, timeout=30).status
        except urllib.error.HTTPError as err:
            forged_status = err.code
        browser.close()
    assert reloaded_form == 0 and forged_status == 403
    resumed = [m.new_session.initialize.session_id for m in replies
               if m.WhichOneof("type") == "new_session"]  # fmt: skip
    assert resumed == [stolen]  # Streamlit did hand the session over: the script refused it
    texts = [str(m.delta.new_element) for m in replies if m.WhichOneof("type") == "delta"]
    shown = "\n".join(texts)
    assert "Incident data is restricted: sign in to see it." in shown
    assert "Signed in as" not in shown and "metric" not in shown
    denied = audit.read_events(access.parent / "audit.jsonl", event=audit.ACCESS_DENIED)
    assert [(e["user"], e["detail"]["reason"]) for e in denied] == [
        ("ana", "session resumed without its cookie")
    ]
