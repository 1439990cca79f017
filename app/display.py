"""Showing things safely: text from data as written, and an unexpected error as a plain
message with a reference (its detail goes to the server's log only)."""

from __future__ import annotations

import functools
import logging
import os
import re
import uuid
from collections.abc import Callable

import streamlit as st

LOG = logging.getLogger("dashboard")


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
