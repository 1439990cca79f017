"""The dask path writes the same store, and counts the same cells, as the in-process path.

One LocalCluster of two single-threaded worker processes serves the whole module; the code
under test connects to it by its address, as it would to a real scheduler.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster
from geopandas.testing import assert_geodataframe_equal

from layers._errors import LayersError
from layers.analysis.grid import assign_cells, cell_counts, make_grid
from layers.analysis.study import HotspotParams, run_hotspots
from layers.cli import main
from layers.distributed import connect, grid_cells, join_areas
from layers.intake.sources import read_incident_file
from layers.storage.demo import generate_demo
from layers.storage.filters import IncidentFilter
from layers.storage.ingest import IngestReport, ingest
from layers.storage.join import OUTSIDE, assign_areas
from layers.storage.store import StoreSnapshot, open_store

NOW = pd.Timestamp("2027-01-01", tz="UTC")
# __main__ as it was when tests were collected, before any test ran a script as __main__.
_MAIN = sys.modules["__main__"]


@pytest.fixture(scope="module", autouse=True)
def _pytest_main():
    """New worker processes import the parent's ``__main__`` first. Streamlit's AppTest (in
    test_dashboard.py) leaves dashboard.py there, whose argument parsing would stop them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "__main__", _MAIN)
        yield


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def client(scheduler):
    with connect(scheduler) as client:
        yield client


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo"), incidents=20_000)


@dataclasses.dataclass
class Run:
    """One ingest run: its report and the store as it left it."""

    report: IngestReport
    snapshot: StoreSnapshot
    incidents: gpd.GeoDataFrame  # sorted by agency and incident_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory, demo, scheduler) -> dict[str, list[Run]]:
    """The demo ingested twice into each of two stores, in process and on the cluster.

    The second run holds updates of stored incidents (moved, so joined again), a repeated
    file, a file that does not exist and new ward boundaries (every incident joined again).
    """
    root = tmp_path_factory.mktemp("stores")
    first = list(demo.incident_paths)
    second = [_moved_incidents(first[0], root / "moved.csv"), first[1], root / "missing.csv"]
    out: dict[str, list[Run]] = {}
    for where, address in (("here", None), ("cluster", scheduler)):
        store = root / where
        out[where] = []
        for files, boundaries in (
            (first, {"precincts": demo.precincts_path, "wards": demo.wards_path}),
            (second, {"wards": demo.precincts_path}),
        ):
            report = ingest(store, files, **boundaries, synthetic=True, now=NOW,
                            scheduler=address)  # fmt: skip
            snapshot = open_store(store)
            incidents = snapshot.incidents.sort_values(["agency", "incident_id"])
            out[where].append(Run(report, snapshot, incidents.reset_index(drop=True)))
    return out


def _moved_incidents(source: Path, target: Path) -> Path:
    """The first 3,000 rows of a demo file, 300 of them moved about 1 km north-east."""
    rows = read_incident_file(source).rows.iloc[:3000].copy()
    lat, lon = (pd.to_numeric(rows[c], errors="coerce") for c in ("lat", "lon"))
    rows.loc[rows.index[:300], "lat"] = (lat.iloc[:300] + 0.009).round(6).astype(str)
    rows.loc[rows.index[:300], "lon"] = (lon.iloc[:300] + 0.011).round(6).astype(str)
    rows.to_csv(target, index=False)
    return target


RUNS = pytest.mark.parametrize("run", [0, 1], ids=["new store", "updates and new wards"])


@RUNS
def test_cluster_ingest_writes_the_same_incidents(runs, run):
    here, cluster = runs["here"][run], runs["cluster"][run]
    assert len(here.incidents) > 19_000
    assert here.incidents["precinct"].nunique() > 20
    assert here.incidents["ward"].nunique() > 20
    assert here.incidents["row_hash"].is_unique
    assert_geodataframe_equal(here.incidents, cluster.incidents)


def test_second_run_updated_rows_and_joined_everything_to_the_new_wards(runs):
    before, after = runs["here"][0], runs["here"][1]
    assert after.report.totals()["updated"] >= 250
    assert after.report.totals()["unchanged"] > 2000
    assert "does not exist" in str(after.report.files[2].error)
    # the wards are now the precinct polygons, so every incident's ward is its precinct
    assert (after.incidents["ward"].astype(str) == after.incidents["precinct"].astype(str)).all()
    assert (before.incidents["ward"].astype(str) != before.incidents["precinct"].astype(str)).any()


@RUNS
def test_cluster_ingest_reports_the_same_counts_and_rejects(runs, run):
    here, cluster = runs["here"][run].report, runs["cluster"][run].report
    assert here.totals() == cluster.totals()
    assert here.rejected_by_reason() == cluster.rejected_by_reason()
    assert [_comparable(f) for f in here.files] == [_comparable(f) for f in cluster.files]
    written = [
        (f.rejects_file, g.rejects_file) for f, g in zip(here.files, cluster.files, strict=True)
    ]
    assert any(a for a, _ in written)
    for a, b in written:
        assert (a is None) == (b is None)
        if a is not None:
            assert Path(a).read_bytes() == Path(b).read_bytes()


def _comparable(report) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(report).items() if k != "rejects_file"}


@RUNS
def test_cluster_ingest_writes_the_same_boundaries_and_metadata(runs, run):
    here, cluster = runs["here"][run].snapshot, runs["cluster"][run].snapshot
    assert_geodataframe_equal(here.precincts, cluster.precincts)
    assert_geodataframe_equal(here.wards, cluster.wards)
    assert _without_time(here.meta) == _without_time(cluster.meta)


def _without_time(meta: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in meta.items() if k not in ("written_at", "version")}


def test_cluster_join_keeps_the_edge_and_outside_rules(client, precincts, wards):
    # Points on the shared precinct edge (lon 18.1), the ward edge (lat -33.95), corners and
    # outside, over enough rows for several partitions.
    rng = np.random.default_rng(4)
    lon = rng.choice([17.9, 18.0, 18.05, 18.1, 18.15, 18.2, 18.3], size=12_000)
    lat = rng.choice([-34.1, -34.0, -33.97, -33.95, -33.92, -33.9, -33.8], size=12_000)
    wards = wards.rename(columns={"ward_name": "name"})
    on_cluster = join_areas(client, lon, lat, precincts, wards)
    in_process = (assign_areas(lon, lat, precincts), assign_areas(lon, lat, wards))
    np.testing.assert_array_equal(on_cluster[0], in_process[0])
    np.testing.assert_array_equal(on_cluster[1], in_process[1])
    edge = (lon == 18.1) & (lat == -33.97)
    assert set(on_cluster[0][edge]) == {"East"}  # first in row order, not West
    assert set(on_cluster[0][lon == 18.3]) == {OUTSIDE}
    assert set(on_cluster[1][(lon == 18.05) & (lat == -33.95)]) == {"1"}


def test_cluster_join_of_no_points_is_empty(client, precincts, wards):
    names = join_areas(client, np.empty(0), np.empty(0), precincts, wards)
    assert [len(n) for n in names] == [0, 0]


def test_cluster_grid_counts_equal_in_process(client, runs):
    area = runs["here"][0].snapshot.wards
    grid = make_grid(area, cell_m=500.0)
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = area.total_bounds
    lon = rng.uniform(x0 - 0.05, x1 + 0.05, 30_000)
    lat = rng.uniform(y0 - 0.05, y1 + 0.05, 30_000)
    lon[:10] = np.nan  # missing coordinates count nowhere
    ids, counts = grid_cells(client, grid, lon, lat)
    expected = assign_cells(grid, lon, lat)
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(counts, cell_counts(grid, expected))
    assert counts.dtype == np.int64 and 0 < counts.sum() < len(lon)


@pytest.mark.parametrize("method", ["gistar", "emerging"])
def test_cluster_hotspots_equal_in_process(scheduler, runs, method):
    snapshot = runs["here"][0].snapshot
    params = HotspotParams(method=method, cell_m=1000.0)
    here = run_hotspots(snapshot, IncidentFilter(), params)
    cluster = run_hotspots(snapshot, IncidentFilter(), params, scheduler=scheduler)
    assert_geodataframe_equal(here.layer, cluster.layer)
    pd.testing.assert_frame_equal(here.by_area, cluster.by_area)
    assert (here.explanation, here.parameters) == (cluster.explanation, cluster.parameters)


def test_unreachable_scheduler_is_a_clear_error_before_the_store_is_touched(tmp_path, demo, capsys):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    store = tmp_path / "store"
    code = main(
        ["ingest", "--store", str(store), "--precincts", str(demo.precincts_path),
         "--wards", str(demo.wards_path), "--scheduler", address, str(demo.incident_paths[0])]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert f"error: No dask scheduler answered at {address} (Connection refused)" in err
    assert "`dask scheduler`" in err and "--scheduler local" in err
    assert not store.exists()


def test_hotspots_command_takes_the_scheduler(tmp_path, runs, capsys):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    store = runs["here"][0].snapshot.path
    out = tmp_path / "hot.gpkg"
    code = main(["hotspots", "--store", str(store), "--out", str(out), "--scheduler", address])
    assert code == 1
    assert f"No dask scheduler answered at {address}" in capsys.readouterr().err
    assert not out.exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_listener_that_is_not_a_scheduler_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(LayersError, match="gave no dask handshake in 1 s"):
            connect(address, timeout_s=1)


def test_a_worker_address_is_not_taken_for_the_scheduler(client):
    worker = next(iter(client.scheduler_info()["workers"]))
    with pytest.raises(LayersError, match="is a dask Worker, not the scheduler"):
        connect(worker, timeout_s=5)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("not-an-address", "is not a scheduler address"),
        ("tcp://host-without-port", "is not a scheduler address"),
        ("local:0", "at least 1 worker"),
    ],
)
def test_bad_scheduler_addresses_say_what_to_give(address, message):
    with pytest.raises(LayersError, match=message):
        connect(address)


def test_local_cluster_of_n_single_threaded_workers():
    with connect("local:1") as client:
        assert list(client.nthreads().values()) == [1]
