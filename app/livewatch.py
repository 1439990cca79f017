"""The live map's watcher: a small component that waits, in the browser, for the live store to
change (:mod:`push`), and then reruns the view fragment, and nothing else.

Without it a live page would rerun its whole view every few seconds whether or not anything
had changed. With it an idle page costs the server nothing, and a change reaches every page
within about a second of the database's notification.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

import push
from layers.livefeed.live import LiveStore

# The view fragment's key: the watcher reruns that fragment alone.
VIEW_FRAGMENT = "live_view"

_watcher = components.declare_component(
    "live_watch", path=str(Path(__file__).parent / "components" / "live_watch")
)


# What the watcher sends when its ticket is refused (expired, or from before a restart): the
# whole page reruns, which draws the watcher with a new ticket.
RENEW = "renew"


def _rerun_view() -> None:
    if st.session_state.get("live_watch") == RENEW:
        return  # a callback that returns: the interaction's own full rerun
    st.rerun(VIEW_FRAGMENT)


def live_watch(live: LiveStore, *, every: float, interval: float, zone: str) -> None:
    """Draw the watcher for ``live``, whose data the page now shows: it reruns the view at
    most every ``every`` seconds, and retries every ``interval`` seconds while the server
    cannot be reached. ``zone`` is the time zone its status line tells the time in."""
    key = push.watch(live)
    _watcher(
        ticket=push.ticket(key),
        since=push.token(live.version),
        every=every,
        interval=interval,
        zone=zone,
        renew=RENEW,
        wait=push.WAIT_S,
        key="live_watch",
        default=None,
        on_change=_rerun_view,
    )
