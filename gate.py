"""What stands between a browser and the data outside the page's websocket: the cookie that
binds a signed-in session to its browser, and downloads served once.

Streamlit carries a page over one websocket, and a session id is all a client needs to
resume a session (Streamlit's reconnect). For st.login, Streamlit binds the session to its
signed, HttpOnly ``_streamlit_user`` cookie. A sign-in from the users file gets the same
here: once the password is right the page asks ``/auth/bind`` (a route of :mod:`server`)
for a signed, HttpOnly cookie naming a ticket, and reloads. Every run, fragment runs
included, then checks that the connection it serves presents that cookie, so a session id
without the browser's cookie resumes nothing.

Downloads leave through ``/download/<token>``: a token is made for one session and served
once, to a request that carries that session's cookie, and only after the audit log has the
download. Streamlit's own download button would hand its file to any GET for as long as the
session lives.

The tickets and tokens live in this process, like the sessions they belong to: a restart
signs everyone out. Replicas behind a proxy keep a browser on one process (sticky sessions)
and share ``server.cookieSecret``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import streamlit as st
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.web.server.server_util import get_cookie_secret

LOG = logging.getLogger("dashboard.gate")
COOKIE = "incident_map_session"
# A sign-in lasts a working day; a meeting screen left on overnight signs in again.
TICKET_S = 12 * 3600
# The page has this long to turn a correct password into the cookie.
BIND_S = 60
# A download link is good for this long (and once).
DOWNLOAD_S = 15 * 60


@dataclass(frozen=True)
class Ticket:
    """One sign-in: who, how (``password`` or ``oidc``), and until when."""

    id: str
    user: str
    method: str
    expires: float


@dataclass(frozen=True)
class Download:
    """A file one session may fetch once: ``make`` builds it, ``log`` records it first."""

    session: str
    key: str  # what the page offers it as: a new offer under the same key replaces it
    ticket: str | None
    file_name: str
    mime: str
    make: Callable[[], bytes | str]
    log: Callable[[], None]
    expires: float
    allowed: Callable[[], bool] = lambda: True  # the viewer's access, checked again on fetch


_lock = threading.Lock()
_tickets: dict[str, Ticket] = {}
# one-time code -> (ticket id, expiry, the browser it was made for)
_binds: dict[str, tuple[str, float, str | None]] = {}
# Streamlit's XSRF cookie: random per browser, and only a page of this site can read it. A
# code works only from the browser whose sign-in made it.
BROWSER_COOKIE = "_streamlit_xsrf"
# A bind request is a few dozen bytes; anything much larger is refused unread.
MAX_BIND_BYTES = 1024
_downloads: dict[str, Download] = {}
_offered: dict[tuple[str, str], str] = {}  # (session id, key) -> its current token


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_cookie_secret(), salt=COOKIE)


def _expire(now: float) -> None:
    """Forget what has run out (called under the lock)."""
    for tid in [t for t, ticket in _tickets.items() if ticket.expires <= now]:
        del _tickets[tid]
    for code in [c for c, (_, until, _) in _binds.items() if until <= now]:
        del _binds[code]
    for token in [t for t, d in _downloads.items() if d.expires <= now]:
        _drop_download(token)


def _drop_download(token: str) -> Download | None:
    download = _downloads.pop(token, None)
    if download is not None:
        offered = (download.session, download.key)
        if _offered.get(offered) == token:
            del _offered[offered]
    return download


def issue(user: str, method: str, browser: str | None = None) -> tuple[Ticket, str]:
    """A new ticket for a sign-in, and the one-time code that turns it into a cookie, for the
    browser whose :data:`BROWSER_COOKIE` is ``browser``."""
    now = time.time()
    ticket = Ticket(secrets.token_urlsafe(24), user, method, now + TICKET_S)
    code = secrets.token_urlsafe(24)
    with _lock:
        _expire(now)
        _tickets[ticket.id] = ticket
        _binds[code] = (ticket.id, now + BIND_S, browser)
    return ticket, code


def redeem(code: str, browser: str | None = None) -> str | None:
    """The signed cookie value for a one-time code, asked for by ``browser`` (None: unknown,
    used, too old, or another browser's: a code someone else obtained signs no one in)."""
    with _lock:
        _expire(time.time())
        bound = _binds.get(code)
        if bound is None or bound[2] != browser:
            return None
        del _binds[code]
        if bound[0] not in _tickets:
            return None
    return _serializer().dumps(bound[0])


def ticket_in(cookie: str | None) -> Ticket | None:
    """The live ticket a cookie names, when its signature holds."""
    if not cookie:
        return None
    try:
        tid = _serializer().loads(cookie, max_age=TICKET_S)
    except BadSignature:
        return None
    with _lock:
        ticket = _tickets.get(tid) if isinstance(tid, str) else None
    if ticket is None or ticket.expires <= time.time():
        return None
    return ticket


def revoke(ticket_id: str | None) -> None:
    """End a sign-in: its cookie opens nothing any more, nor do its download links."""
    if not ticket_id:
        return
    with _lock:
        _tickets.pop(ticket_id, None)
        for code in [c for c, (tid, _, _) in _binds.items() if tid == ticket_id]:
            del _binds[code]
        for token in [t for t, d in _downloads.items() if d.ticket == ticket_id]:
            _drop_download(token)


def presented_cookie() -> str | None:
    """The session cookie of the connection this run serves (a reconnect is a new one)."""
    return st.context.cookies.get(COOKIE)


def browser_key() -> str | None:
    """The browser behind this run, as its :data:`BROWSER_COOKIE` names it."""
    return st.context.cookies.get(BROWSER_COOKIE)


def browser_ticket() -> Ticket | None:
    """The live ticket the browser behind this run presents, if any."""
    return ticket_in(presented_cookie())


def bind_page(code: str) -> str:
    """The page's part of a sign-in: fetch the cookie for ``code`` and reload.

    ``code`` is our own token: URL-safe base64, so nothing in it can end the script.
    """
    return f"""
<p id="incident-map-binding">Signing you in…</p>
<script>
fetch("/auth/bind", {{method: "POST", credentials: "same-origin",
  headers: {{"Content-Type": "application/json"}},
  body: JSON.stringify({{code: {json.dumps(code)}}})}})
  .then((r) => {{ if (r.ok) {{ window.location.reload(); }} else {{ failed(); }} }})
  .catch(failed);
function failed() {{
  document.getElementById("incident-map-binding").textContent =
    "Sign-in could not be completed: reload the page and sign in again.";
}}
</script>
"""


def offer(key: str, file_name: str, mime: str, make: Callable[[], bytes | str],
          log: Callable[[], None], ticket: str | None,
          allowed: Callable[[], bool] = lambda: True) -> str:  # fmt: skip
    """The URL of a one-time download for this session (a new one replaces ``key``'s last)."""
    ctx = get_script_run_ctx()
    session = ctx.session_id if ctx is not None else "no-session"
    token = secrets.token_urlsafe(24)
    now = time.time()
    with _lock:
        _expire(now)
        old = _offered.get((session, key))
        if old is not None:
            _drop_download(old)
        _downloads[token] = Download(session, key, ticket, file_name, mime, make, log,
                                     now + DOWNLOAD_S, allowed)  # fmt: skip
        _offered[(session, key)] = token
    return f"/download/{token}"


def forget_session(session: str) -> None:
    """Drop the download links a session was offered (it signed out)."""
    with _lock:
        for token in [t for t, d in _downloads.items() if d.session == session]:
            _drop_download(token)


async def bind_route(request: Request) -> Response:
    """POST /auth/bind {"code": ...}: set the session cookie for a correct sign-in.

    Only the page itself can make this request: JSON (which another site cannot send
    without a preflight we never answer), from this origin, from the browser the code was
    made for, small."""
    if (
        not _same_origin(request)
        or request.headers.get("content-type", "").split(";")[0].strip().lower()
        != "application/json"
    ):
        return PlainTextResponse("Sign-in requests come from the dashboard's own page.", 403)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BIND_BYTES:
            return PlainTextResponse("Request too large.", status_code=413)
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError, RecursionError):
        code = None
    value = redeem(code, request.cookies.get(BROWSER_COOKIE)) if isinstance(code, str) else None
    if value is None:
        return PlainTextResponse(
            "This sign-in has expired or was already used: reload the page and sign in again.",
            status_code=403,
        )
    response = PlainTextResponse("signed in")
    response.set_cookie(
        COOKIE, value, max_age=TICKET_S, path="/", httponly=True, samesite="strict",
        secure=request.url.scheme == "https"
        or request.headers.get("x-forwarded-proto") == "https",
    )  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


def _same_origin(request: Request) -> bool:
    """Whether the browser says the request comes from a page of this site."""
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return False
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == request.headers.get("host")


async def download_route(request: Request) -> Response:
    """GET /download/<token>: the file, once, to the session it was made for, once logged."""
    token = request.path_params["token"]
    presented = ticket_in(request.cookies.get(COOKIE))
    with _lock:
        _expire(time.time())
        download = _downloads.get(token)
        foreign = (
            download is not None
            and download.ticket is not None
            and (presented is None or presented.id != download.ticket)
        )
        if foreign:
            LOG.warning("download %s refused: not the session it was made for", token[:6])
            return PlainTextResponse(
                "This download belongs to another signed-in session: sign in and prepare it again.",
                status_code=403,
            )
        download = _drop_download(token)
    if download is None:
        return PlainTextResponse(
            "This download link has been used or has expired: prepare the download again on "
            "the page.",
            status_code=410,
        )
    if not await run_in_threadpool(download.allowed):  # removed or changed since offered
        return PlainTextResponse(
            "Your access has changed since this download was offered: sign in again.", 403
        )
    try:
        await run_in_threadpool(download.log)
    except Exception:  # a download that is not in the audit log does not leave
        reference = uuid.uuid4().hex[:10]
        LOG.exception("download not logged, so not served (reference %s)", reference)
        return PlainTextResponse(
            f"The download could not be written to the audit log, so it was not served "
            f"(reference {reference}). Tell the administrator.",
            status_code=503,
        )
    data = await run_in_threadpool(download.make)
    quoted = download.file_name.replace('"', "")
    return Response(
        data.encode("utf-8") if isinstance(data, str) else data,
        media_type=download.mime,
        headers={
            "Content-Disposition": f'attachment; filename="{quoted}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def on_script_error(error: Exception) -> bool:
    """An error Streamlit raises around the script (a crafted widget state, a callback): a
    plain message with a reference for the viewer, the detail in the server's log."""
    reference = uuid.uuid4().hex[:10]
    LOG.error("error %s", reference, exc_info=error)
    st.error(
        f"Something went wrong on the server (reference {reference}). Nothing was changed: "
        "reload the page, and give the reference to the administrator if it happens again."
    )
    return True


def connection() -> object | None:
    """The connection (Streamlit's session client) this run serves; a reconnect, with the
    same session id or not, is a different object."""
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    return Runtime.instance().get_client(ctx.session_id)


ROUTES = [
    Route("/auth/bind", bind_route, methods=["POST"]),
    Route("/download/{token}", download_route, methods=["GET"]),
]
