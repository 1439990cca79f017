"""Tiny hand-made fixtures: two square precincts, two wards that cut across them."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from layers.intake.taxonomy import load_taxonomy
from layers.intake.validate import Extent

ROOT = Path(__file__).resolve().parent.parent
# Hosts a map must never load from, and patterns to find what a page links or mentions.
CDN_HOSTS = (
    "cdn.jsdelivr",
    "cdnjs",
    "unpkg",
    "code.jquery",
    "netdna",
    "d3js",
    "maxcdn",
    "bootstrapcdn",
)
URL = re.compile(r"""https?://[^\s"'\\)<>]+""")
LINKED = re.compile(r"""\b(?:src|href)=\\?["']([^"'\\]+)""")

REALDATA = ROOT.parent / "shared" / "realdata"
# The dashboard shows an unexpected error as a plain message with a reference (see
# dashboard.guarded); under test it raises as well, so that AppTest sees a crash as a crash.
os.environ.setdefault("DASHBOARD_RAISE_ERRORS", "1")
IN_CI = os.environ.get("CI", "").lower() == "true"


def dashboard_apps(monkeypatch: pytest.MonkeyPatch, *, timeout: float) -> Callable[..., object]:
    """A factory of Streamlit AppTests of the dashboard: ``make(store, *options, **query)``
    runs ``dashboard.py`` on a store folder or a ``postgresql://`` URL, without map tiles,
    with ``options`` on its command line and ``query`` in its URL, each run within
    ``timeout`` seconds. The app tests' fixtures are this, with their own timeouts."""
    from streamlit.testing.v1 import AppTest

    def make(store: Path | str, *extra: str, **query: str) -> AppTest:
        source = ["--postgis", str(store)] if str(store).startswith("postgresql://") else [
            "--store", str(store)]  # fmt: skip
        monkeypatch.setattr("sys.argv", ["dashboard.py", *source, "--tiles", "none", *extra])
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
        at.query_params.update(query)
        return at

    return make


# AppTest's own constructor sets session state outside a script run, and Streamlit warns
# about that ("missing ScriptRunContext"); a test that imports an app module to watch it
# makes its caches outside a running app ("No runtime found"): the test harness's noise,
# never the app's.
HARNESS_NOISE = ("missing ScriptRunContext", "No runtime found, using MemoryCacheStorageManager")


@pytest.fixture(autouse=True)
def no_legacy_pages_mode(monkeypatch):
    """AppTest runs dashboard.py as server.py serves it: without Streamlit's legacy pages/
    mode (server.py turns it off; AppTest turns it back on before every run, finding the
    pages/ folder, so it is turned off again once AppTest has looked)."""
    from streamlit.runtime.pages_manager import PagesManager

    looked = PagesManager.__init__

    def init(self, *args, **kwargs):
        looked(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def no_streamlit_warnings(caplog):
    """Every test fails on a warning Streamlit logs while the app runs in it (AppTest runs
    the app in the test's process): a widget given two values, a deprecated call."""
    yield
    warned = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.get_records("call")
        if r.name.startswith("streamlit") and r.levelno >= logging.WARNING
        and not any(noise in r.getMessage() for noise in HARNESS_NOISE)
    ]  # fmt: skip
    assert not warned, f"Streamlit warned: {warned}"


def require_realdata() -> Path:
    """The real files in ../shared/realdata; a clear skip without them (a failure under CI)."""
    if not (REALDATA / "SOURCES.md").exists():
        message = f"real data not found at {REALDATA} (../shared/realdata beside the project)"
        if IN_CI:
            pytest.fail(message + "; CI must have it")
        pytest.skip(message)
    return REALDATA


@pytest.fixture
def realdata() -> Path:
    return require_realdata()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A synthetic demo store of 3,000 incidents, shared by the app tests (read only)."""
    from layers.storage.demo import build_demo_store, generate_demo

    folder = tmp_path_factory.mktemp("demo")
    manifest = generate_demo(folder / "files", incidents=3000)
    build_demo_store(folder / "store", manifest)
    return folder / "store"


@pytest.fixture(scope="session")
def browser_demo(tmp_path_factory) -> Path:
    """The 5,000-incident demo (``files/`` and ``store/``) the browser tests' dashboards
    serve; built once. Its store is only read (uploads go to a store of their own)."""
    from layers.storage.demo import build_demo_store, generate_demo

    folder = tmp_path_factory.mktemp("browser")
    build_demo_store(folder / "store", generate_demo(folder / "files", incidents=5000))
    return folder


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy()


@pytest.fixture
def precincts() -> gpd.GeoDataFrame:
    """West (18.0-18.1 E) and East (18.1-18.2 E), both -34.0 to -33.9 S."""
    return gpd.GeoDataFrame(
        {"name": ["East", "West"]},
        geometry=[box(18.1, -34.0, 18.2, -33.9), box(18.0, -34.0, 18.1, -33.9)],
        crs="EPSG:4326",
    )


@pytest.fixture
def wards() -> gpd.GeoDataFrame:
    """South and North halves, split at -33.95, crossing both precincts."""
    return gpd.GeoDataFrame(
        {"ward_name": ["1", "2"]},
        geometry=[box(18.0, -34.0, 18.2, -33.95), box(18.0, -33.95, 18.2, -33.9)],
        crs="EPSG:4326",
    )


@pytest.fixture
def boundary_files(tmp_path: Path, precincts, wards) -> tuple[Path, Path]:
    p = tmp_path / "precincts.geojson"
    w = tmp_path / "wards.gpkg"
    precincts.rename(columns={"name": "precinct_name"}).to_file(p, driver="GeoJSON")
    wards.to_file(w, driver="GPKG", layer="wards")
    return p, w


@pytest.fixture
def extent() -> Extent:
    return Extent.of((18.0, -34.0, 18.2, -33.9), margin_km=50)


def incident_rows(**overrides: list) -> pd.DataFrame:
    """Four good incidents; keyword lists replace columns."""
    rows = {
        "incident_id": ["1", "2", "3", "4"],
        "agency": ["SAPS", "SAPS", "Metro Police", "LEAP"],
        "category": ["Murder", "Common assault", "Illegal dumping", "Shooting incident"],
        "occurred_at": [
            "2025-01-01T10:00:00",
            "2025-01-02T23:30:00+02:00",
            "2025-01-03T08:15:00Z",
            "2025-01-04 12:00",
        ],
        "lat": ["-33.97", "-33.92", "-33.97", "-33.92"],
        "lon": ["18.05", "18.05", "18.15", "18.15"],
    }
    rows.update(overrides)
    return pd.DataFrame(rows)


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


# The live store's tests run against a real PostgreSQL with PostGIS (scripts/postgis starts
# one); each test gets a database of its own, dropped afterwards.
POSTGIS_ADMIN_URL = os.environ.get(
    "POSTGIS_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _admin_connection():
    import psycopg

    try:
        return psycopg.connect(POSTGIS_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as err:
        message = (
            f"needs PostgreSQL with PostGIS at {POSTGIS_ADMIN_URL} (run scripts/postgis, or "
            f"set POSTGIS_ADMIN_URL): {str(err).strip().splitlines()[0]}"
        )
        if IN_CI:
            pytest.fail(message + "; CI must run the live-store tests")
        pytest.skip(message)


@pytest.fixture
def postgis_url():
    """URL of a new, empty database on the local server, dropped after the test."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    name = f"incident_map_test_{uuid.uuid4().hex[:10]}"
    with _admin_connection() as admin:
        available = admin.execute(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'"
        ).fetchone()[0]
        if not available:
            message = "PostgreSQL is running but PostGIS is not installed (run scripts/postgis)"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(POSTGIS_ADMIN_URL)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
