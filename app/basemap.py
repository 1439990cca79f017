"""The dashboard's basemap (``--tiles``): opened once per process, its tiles served by the
app itself (:mod:`tileserve`), and any problem with it said above the map, which opens
without one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

import tileserve
from app.display import md
from layers.maps.tiles import Basemap, BasemapError, check_extent, open_basemap

log = logging.getLogger(__name__)


def _stamp(spec: str) -> tuple[int, int] | None:
    """What changes when a local tiles file is made again (so it is opened anew)."""
    try:
        stat = Path(spec).expanduser().stat()
    except (OSError, ValueError):
        return None
    return stat.st_size, stat.st_mtime_ns


@st.cache_resource(show_spinner=False, max_entries=8)
def _opened(spec: str, attribution: str | None, stamp: tuple[int, int] | None
            ) -> tuple[Basemap | None, str | None]:  # fmt: skip
    try:
        found = open_basemap(spec, attribution=attribution)
        if found is not None and found.advice:
            log.warning("Basemap %s: %s", spec, found.advice)
        return found, None
    except BasemapError as err:
        log.warning("Basemap %s not used: %s", spec, err)
        return None, str(err)


def basemap(spec: str, attribution: str | None, box: Sequence[float] | None
            ) -> tuple[Basemap | None, str | None]:  # fmt: skip
    """The basemap ``--tiles`` names, checked against the lon/lat ``box`` the map shows and
    served if local; or ``None`` and what was wrong with it."""
    found, problem = _opened(spec, attribution, _stamp(spec) if "://" not in spec else None)
    if found is None:
        return None, problem
    try:
        found = check_extent(found, box)
    except BasemapError as err:
        return None, str(err)
    if found.local:
        tileserve.serve(found)
    return found, None


def basemap_notice(found: Basemap | None, problem: str | None) -> None:
    """Say above the map what is wrong with its basemap, if anything."""
    if problem:
        st.warning(f"The map opens without a basemap. {md(problem)}", icon=None)
    elif found is not None and found.warning:
        st.caption(found.warning)
