"""Telling browsers that the live store has changed, as soon as it has.

A page showing the live map holds one long-poll to ``/live/changes`` (a route of
:mod:`server`, beside :mod:`gate`'s): the request waits until the store in this process has a
new version, or :data:`WAIT_S` has passed, and answers with the version's token and how the
store is followed (pushed by the database's notifications, or polled). The page's watcher
(``app/components/live_watch``) then reruns the map's fragment; a refresh that finds nothing
new never reaches Streamlit at all.

The store wakes the waiting requests from its follower thread
(:meth:`layers.livefeed.live.LiveStore.subscribe`), so one database read per interval serves
every viewer of this process. A watch ticket, signed with Streamlit's cookie secret, names
the store: only a page that was drawn for a viewer of the live map gets one, and a token says
that something changed, not what or how much.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from streamlit.web.server.server_util import get_cookie_secret

from layers.livefeed.live import LiveStore

# A long-poll answers after this long at most: under proxies' and browsers' idle timeouts.
WAIT_S = 25.0
TICKET_MAX_AGE_S = 24 * 3600
SALT = "live-watch"

_lock = threading.Lock()
_stores: dict[str, LiveStore] = {}
_events: dict[str, asyncio.Event] = {}  # store key -> the event its waiters wait on
_loop: asyncio.AbstractEventLoop | None = None
_closing = False  # the server is stopping: every request is answered at once


def store_key(live: LiveStore) -> str:
    """A short name for the store that does not give its URL away."""
    return hashlib.sha256(live.url.encode()).hexdigest()[:16]


def token(version: str) -> str:
    """An opaque token for a data version: equal for equal versions, and nothing more."""
    secret = get_cookie_secret().encode()
    return hashlib.sha256(secret + b"\0" + version.encode()).hexdigest()[:16]


def watch(live: LiveStore) -> str:
    """Serve changes of ``live`` on the route (once per store) and return its key."""
    key = store_key(live)
    with _lock:
        if _stores.get(key) is not live:  # a store made anew (a cleared cache) replaces it
            _stores[key] = live
            live.subscribe(lambda _version: _changed(key))
    return key


def ticket(key: str) -> str:
    """A signed ticket allowing a page to wait for changes of store ``key``."""
    return URLSafeTimedSerializer(get_cookie_secret(), salt=SALT).dumps(key)


def _changed(key: str) -> None:
    """A new version of store ``key`` (called from its follower thread)."""
    loop = _loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(_wake, key)


def _wake(key: str) -> None:
    event = _events.pop(key, None)
    if event is not None:
        event.set()


def _answer_all_on_exit() -> None:
    """On SIGTERM or SIGINT, answer every waiting request at once: the server finishes the
    requests under way before it exits, and would otherwise wait out every long-poll."""

    def chain(previous: Any) -> Callable[[int, Any], None]:
        def handler(signum: int, frame: Any) -> None:
            global _closing
            _closing = True
            loop = _loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(lambda: [_wake(key) for key in list(_events)])
            if callable(previous):
                previous(signum, frame)

        return handler

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, chain(signal.getsignal(signum)))


def _state(live: LiveStore) -> dict[str, object]:
    following = live.following
    checked = live.last_success
    return {
        "token": token(live.version) if live.loaded else "",
        "pushed": following.pushed,
        "interval": following.interval,
        "checked": checked.isoformat() if isinstance(checked, datetime) else None,
        "error": live.error is not None,
    }


async def changes_route(request: Request) -> Response:
    """GET /live/changes?ticket=...&since=TOKEN: wait until the store's version differs from
    ``since`` (or :data:`WAIT_S`), then say what it is now."""
    global _loop
    try:
        key = URLSafeTimedSerializer(get_cookie_secret(), salt=SALT).loads(
            request.query_params.get("ticket", ""), max_age=TICKET_MAX_AGE_S
        )
    except BadSignature:
        return JSONResponse({"error": "Unknown or expired watch ticket: reload the page."},
                            status_code=403)  # fmt: skip
    live = _stores.get(key)
    if live is None:  # a ticket from before this process started
        return JSONResponse({"error": "This server does not follow that store: reload the "
                             "page."}, status_code=404)  # fmt: skip
    if _loop is None:
        _loop = asyncio.get_running_loop()
        _answer_all_on_exit()
    since = request.query_params.get("since", "")
    # Take the event before looking: a version that lands after the look sets this event.
    event = _events.setdefault(key, asyncio.Event())
    if _state(live)["token"] == since and not _closing:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=WAIT_S)
    return JSONResponse(_state(live), headers={"Cache-Control": "no-store"})


ROUTES = [Route("/live/changes", changes_route, methods=["GET"])]
