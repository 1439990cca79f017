"""Opening the source the pages show: a store folder (the demo store built on first start)
or a live PostGIS store, with a page that waits while there is nothing to show yet."""

from __future__ import annotations

import argparse
import fcntl
from pathlib import Path

import streamlit as st

from app.data import live_store, load_store
from app.display import guarded, md
from layers._errors import LayersError
from layers.storage.store import StoreSnapshot, current_version

ROOT = Path(__file__).resolve().parent.parent
DEMO_STORE = ROOT / "stores" / "demo"
DEMO_FILES = ROOT / "data" / "demo"


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
    from layers.storage.demo import build_demo_store, generate_demo

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


@st.fragment(run_every=5)
@guarded
def wait_for_incidents(url: str) -> None:
    """An empty live store: reload the page once the first incidents arrive."""
    live = live_store(url)
    live.refresh()
    if live.loaded and live.snapshot.n_incidents:
        st.rerun(scope="app")
