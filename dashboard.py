"""Safety cluster incident map: the Streamlit face of the `layers` package.

Run ``streamlit run server.py`` for the synthetic demo, or
``streamlit run server.py -- --store DIR`` for a store built with ``python -m layers ingest``
(``server.py`` adds the routes sign-in and downloads need; see :mod:`gate`).

This file is the frame every page runs in: it parses the options, works out who is looking,
opens the source, draws the sidebar's shared filter, and runs the page the viewer asked for
among those their role is offered (``pages/``). What the pages share is in ``app/``.

Streamlit also takes a ``pages/`` folder beside the entry point for a legacy multipage app,
which runs a page's file without this frame (no sign-in check, no filter): ``server.py``
turns that mode off before the first run, and a page run without the frame shows nothing
(:func:`app.state.request`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from app import data, signin, state
from app.data import LIVE_SCHEMES, is_live
from app.display import guarded
from app.source import DEMO_STORE, open_source, wait_for_incidents
from layers.access import audit
from layers.access.policy import Viewer
from layers.livefeed.postgis import describe
from layers.storage.store import StoreSnapshot

ROOT = Path(__file__).resolve().parent
UPLOAD_STORE = ROOT / "stores" / "uploads"
# Streamlit refuses uploads over server.maxUploadSize (.streamlit/config.toml, 200 MB);
# --max-upload-mb can only lower that.
MAX_UPLOAD_MB = 200
TITLE = "Safety cluster incident map"
# The pages, by URL path: file and title. Which a viewer is offered: see offered_pages. No
# icons: Streamlit fetches a page's Material icon from Google's font server.
PAGES = {
    "map": ("pages/map.py", "Map"),
    "playback": ("pages/playback.py", "Playback"),
    "incidents": ("pages/incidents.py", "Incidents"),
    "hotspots": ("pages/hotspots.py", "Hotspots"),
    "compstat": ("pages/compstat.py", "CompStat review"),
    "meeting": ("pages/meeting.py", "Meeting"),
    "areas": ("pages/areas.py", "Areas and buffers"),
    "load_data": ("pages/load_data.py", "Load data"),
    "public": ("pages/public.py", "Public map"),
}


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
        help="basemap: 'none' (default: offline, boundaries on a plain background); a local "
        "tiles file served by the dashboard itself, offline: .mbtiles (raster), .pmtiles "
        "(raster or vector) or a folder of z/x/y tiles; 'osm' for OpenStreetMap's tile server "
        "(needs the internet); or a tile URL template",
    )
    parser.add_argument(
        "--tiles-attribution", metavar="HTML",
        help="credit for --tiles: required with a tile URL template; replaces a local file's own",
    )  # fmt: skip
    parser.add_argument(
        "--postgis", metavar="URL", help="follow a live PostGIS store instead of --store"
    )
    parser.add_argument(
        "--refresh", type=float, default=30.0,
        help="with --postgis: seconds between reads of the database when its change "
        "notifications are unavailable; with them a change shows at once, and a steady stream "
        "of changes at most every half of this, 1 to 5 s (0: no refresh; default 30)",
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
    parser.add_argument(
        "--addresses", type=Path, metavar="FILE",
        help="address points to search on the areas page: a CSV with an address column and "
        "lon/lat, or a GeoPackage, Shapefile or GeoJSON of points with an address column",
    )  # fmt: skip
    parser.add_argument(
        "--address-column", metavar="NAME",
        help="with --addresses: the column holding the address (found by name when not given)",
    )  # fmt: skip
    options = parser.parse_args(argv)
    if options.addresses is not None and not options.addresses.is_file():
        parser.error(f"--addresses {options.addresses}: no such file")
    if options.postgis and not options.postgis.startswith(LIVE_SCHEMES):
        parser.error("--postgis takes a postgresql:// URL")
    if not 0 < options.max_upload_mb <= MAX_UPLOAD_MB:
        parser.error(f"--max-upload-mb must be above 0 and at most {MAX_UPLOAD_MB}")
    return options


def offered_pages(viewer: Viewer, *, source: str, empty: bool) -> dict[str, StreamlitPage]:
    """The pages ``viewer`` is offered, by URL path, the first the default (at ``/``).

    The public role sees the published site alone (its areas page counts in the published
    cells). The incident list shows incidents one by one, so it is for viewers who see some
    in full: analysts, and agencies (their own). Loading data works on every incident, so it
    is for analysts, and only into a file store (a live store is fed by ``python -m layers
    ingest --postgis``); a store without incidents offers nothing else.
    """
    if viewer.role == "public":
        names = ["public", "areas"]
    elif empty:
        names = ["load_data"] if viewer.sees_all_points and not is_live(source) else []
    else:
        names = ["map", "playback", "hotspots", "compstat", "meeting", "areas"]
        if viewer.may_export_incidents:  # rows, one by one: an analyst's all, an agency's own
            names.insert(1, "incidents")
        if viewer.sees_all_points and not is_live(source):
            names.append("load_data")
    pages = {}
    for n, name in enumerate(names):
        path, title = PAGES[name]
        pages[name] = st.Page(path, title=title, url_path=name, default=n == 0)
    return pages


def banner(snapshot: StoreSnapshot, source: str, options: argparse.Namespace, *,
           open_page: bool) -> None:  # fmt: skip
    """The title, and what every page must say first: synthetic data, no sign-in, live."""
    st.title(TITLE)
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


def main() -> None:
    st.set_page_config(page_title=TITLE, layout="wide")
    options = parse_options(sys.argv[1:])
    # Before anything is read: a configured deployment shows nothing to an anonymous viewer.
    signed_in, rules, open_page = signin.who_is_looking(options)
    source, snapshot = open_source(options)
    request = state.Request(options, source, snapshot.version, snapshot.synthetic, signed_in,
                            signed_in, rules)  # fmt: skip
    if snapshot.n_incidents == 0:
        st.title(TITLE)
        if is_live(source):
            st.warning("The live store has no incidents yet; the page follows it as they arrive.")
            wait_for_incidents(source)
            st.stop()
        st.warning(f"The store at `{source}` has boundaries but no incidents yet.")
        pages = offered_pages(signed_in, source=source, empty=True)
        if not pages:
            st.stop()
        run(st.navigation(list(pages.values())), dataclasses.replace(request, pages=pages))
        return
    choices = data.filter_choices(source, snapshot.version)
    state.init_widgets_from_url(choices, source=source)
    state.keep_page_choices()
    banner(snapshot, source, options, open_page=open_page)
    viewer = signin.viewer_sidebar(signed_in, rules, open_page=open_page,
                                   agencies=choices["agencies"])  # fmt: skip
    request = dataclasses.replace(request, viewer=viewer, choices=choices)
    if viewer.role != "public":

        def denied() -> None:
            signin.record(audit.ACCESS_DENIED, {"what": "KDE hotspots"}, user=signed_in.name,
                          role=viewer.label)  # fmt: skip

        flt, params = state.view_sidebar(choices, full=request.policy.full, denied=denied)
        request = dataclasses.replace(request, flt=flt, params=params)
    pages = offered_pages(viewer, source=source, empty=False)
    page = st.navigation(list(pages.values()))
    if "meeting" in pages:
        # Meeting mode is the meeting page: an old link (?mode=meeting) or the sidebar's
        # button lands there, and the page's own button leaves it.
        if page.url_path == "meeting":
            st.session_state["m_mode"] = "meeting"
        elif st.session_state["m_mode"] == "meeting":
            st.switch_page(pages["meeting"])
        # Every page writes the filter and view back: following a page link clears the URL.
        state.sync_url(request.flt)
    run(page, dataclasses.replace(request, pages=pages))


def run(page: StreamlitPage, request: state.Request) -> None:
    """Run ``page`` with what this run worked out."""
    state.hand_over(request)
    page.run()


guarded(main)()
