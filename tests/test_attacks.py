"""Attacks a bare websocket client can make, speaking Streamlit's own protocol to a real
dashboard: the server must not let a client steer it or read what it may not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from test_browser import _dashboard

from layers.access import set_user
from layers.demo import build_demo_store, generate_demo

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
    protocols = ["streamlit", "", session_id] if session_id else ["streamlit"]
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
    with _dashboard(["--store", store, "--tiles", "none"], log) as url, _connect(url) as ws:
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
