"""Running the heavy per-row work on a dask.distributed cluster: validation, joins, grid counts.

For provincial and national volumes, ``ingest`` and the grid counts behind hotspots can run on
a cluster (``--scheduler ADDRESS``) and write the same store as the in-process path. What runs
where:

* on the workers: reading and validating each incident file (one task per file), the join of
  incident points to precincts and wards (dask-geopandas partitions of points), and assigning
  points to grid cells with a count per cell for each partition;
* on the client: merging the validated files in file order (a later file updates an earlier
  one, so the merge needs the global order), summing the counts, and the atomic store write.

Every step calls the same functions as the in-process path
(:func:`layers.storage.join.assign_areas`'s
rule, :func:`layers.analysis.grid.assign_cells`, :func:`layers.analysis.grid.cell_counts`), so the
results are
identical, not merely close.

Workers read the incident files themselves: every path must be visible to every worker under
the same name (a shared filesystem), and workers need the same Python environment
(``requirements.txt``, with this package importable).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import itertools
import os
import re
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
from distributed import Client, Future
from distributed.comm import connect as comm_connect
from distributed.comm import parse_address
from distributed.comm.addressing import parse_host_port

from layers._errors import InputFileError, LayersError
from layers.analysis.grid import Grid, assign_cells, cell_counts
from layers.intake.validate import Validated
from layers.settings import WGS84
from layers.storage.join import assign_areas_to_points

_LOCAL = re.compile(r"local(?::(\d+))?", re.IGNORECASE)
# A task has overhead (scheduling, serialising its inputs): fewer than a few thousand rows per
# partition costs more than it saves.
_MIN_PARTITION_ROWS = 2_500
_PARTITIONS_PER_THREAD = 4
_AREAS_META = pd.DataFrame({"precinct": pd.Series(dtype=object), "ward": pd.Series(dtype=object)})


def connect(address: str, *, timeout_s: float = 10.0) -> Client:
    """A client for a running dask scheduler, or for a new cluster on this machine.

    Parameters
    ----------
    address : str
        A scheduler address such as ``tcp://10.0.0.5:8786``; or ``"local"`` for a cluster of
        one single-threaded worker process per core on this machine, ``"local:N"`` for N.
    timeout_s : float, default 10
        How long to wait for the scheduler to answer, and then for at least one worker.

    Returns
    -------
    distributed.Client
        Close it when done (``with connect(...) as client:``); a local cluster closes with it.

    Raises
    ------
    LayersError
        When the address is malformed, no scheduler answers, it has no worker, or the
        scheduler or a worker cannot import this package.
    """
    local = _LOCAL.fullmatch(address.strip())
    if local:
        workers = int(local[1]) if local[1] else os.cpu_count() or 1
        if workers < 1:
            raise LayersError(f"--scheduler {address}: a local cluster needs at least 1 worker.")
        # Port 0: any free port for the scheduler's web pages, so two local clusters never clash.
        return Client(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            set_as_default=False,
        )  # fmt: skip
    _probe(address, timeout_s)
    client = _client_or_none(address, timeout_s)
    if client is None:
        # A Client that failed to start closes itself only when garbage-collected, taking a
        # lock that dask may hold wherever that collection happens to run (a hang): collect
        # it now, while nothing holds the lock.
        gc.collect()
        raise _unreachable(address, f"it stopped answering within {timeout_s:g} s")
    try:
        _check_cluster(client, address, timeout_s)
    except LayersError:
        client.close()
        raise
    return client


def _probe(address: str, timeout_s: float) -> None:
    """Check that a dask scheduler answers at the address before any Client is built.

    A Client given a malformed address, or one where something else listens (the dashboard's
    port, a worker), hangs or is left half-started; the probe makes each of these a clear
    error within the timeout, and an address where nothing listens an error at once.
    """
    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError as err:
        raise LayersError(
            f"--scheduler {address!r} is not a scheduler address ({err}): give "
            "tcp://HOST:8786, or 'local[:N]' for a cluster of N workers on this machine."
        ) from err
    if scheme != "tcp":
        return  # tls:// and others need their security settings: the Client checks those
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except TimeoutError as err:
        raise _unreachable(address, f"no answer within {timeout_s:g} s") from err
    except OSError as err:  # refused, unknown host, no route
        raise _unreachable(address, err.strerror or str(err)) from err
    kind = _identity(address, timeout_s).get("type")
    if kind is None:
        raise _unreachable(
            address, f"something listens there but gave no dask handshake in {timeout_s:g} s"
        )
    if kind != "Scheduler":
        raise LayersError(
            f"{address} is a dask {kind}, not the scheduler: give the scheduler's address "
            "(port 8786 by default)."
        )


def _identity(address: str, timeout_s: float) -> dict[str, object]:
    """What the dask server at an address says it is; empty if it does not say in time."""

    async def ask() -> dict[str, object]:
        comm = await comm_connect(address, timeout=timeout_s)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    # A thread of its own: asyncio.run refuses to start inside a running loop (a notebook).
    with ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, asyncio.wait_for(ask(), timeout_s)).result()
        except OSError:  # includes TimeoutError and dask's CommClosedError
            return {}


def _client_or_none(address: str, timeout_s: float) -> Client | None:
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)
    except OSError:  # the scheduler went away since the probe
        return None


def _unreachable(address: str, why: str) -> LayersError:
    return LayersError(
        f"No dask scheduler answered at {address} ({why}). Start one on that host with "
        f"`dask scheduler` and workers with `dask worker {address}`, check the host, port "
        "(8786 by default) and firewall, or give --scheduler local to run a cluster on this "
        "machine."
    )


def _check_cluster(client: Client, address: str, timeout_s: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError as err:
        raise LayersError(
            f"The dask scheduler at {address} has no workers after {timeout_s:g} s: start "
            f"some with `dask worker {address}`."
        ) from err
    # The scheduler unpickles every task and workers run them: without this package, each
    # task fails with a bare ModuleNotFoundError.
    fix = (
        "start it from an environment installed from requirements.txt, with the project "
        "folder on PYTHONPATH (PYTHONPATH=/path/to/project dask ...)."
    )
    if client.run_on_scheduler(importlib.util.find_spec, "layers") is None:
        raise LayersError(
            f"The dask scheduler at {address} cannot import the `layers` package: {fix}"
        )
    specs = client.run(importlib.util.find_spec, "layers")
    missing = [worker for worker, spec in specs.items() if spec is None]
    if missing:
        raise LayersError(
            f"{len(missing)} dask worker(s) cannot import the `layers` package "
            f"({', '.join(missing[:3])}): {fix}"
        )


def validate_files(
    client: Client, validate_one: Callable[[Path], Validated], paths: Sequence[Path]
) -> Iterator[Validated | InputFileError]:
    """Read and validate incident files on the cluster, one task per file, in file order.

    Every file is submitted at once; the results come back in the order of ``paths`` as the
    caller asks for them, and each is released from the cluster once handed over. Merging
    them needs the global order, so it stays with the caller.

    Parameters
    ----------
    client : distributed.Client
    validate_one : callable
        Reads and validates one file (picklable: a module-level function or a
        ``functools.partial`` of one), such as :func:`layers.storage.ingest.validate_file`.
    paths : sequence of Path
        Incident files. Relative paths are made absolute here; every worker must see the
        files under those names (a shared filesystem).

    Returns
    -------
    iterator of Validated or InputFileError
        One per path, in order: the validated rows, or why the file could not be read.
    """
    futures: deque[Future] = deque()
    for path in map(Path, paths):
        seen = path.exists()
        futures.append(
            client.submit(_validate_on_worker, validate_one, path.absolute(), seen, pure=False)
        )
    while futures:
        yield futures.popleft().result()


def _validate_on_worker(
    validate_one: Callable[[Path], Validated], path: Path, seen_by_client: bool
) -> Validated | InputFileError:
    if seen_by_client and not path.exists():
        return InputFileError(
            f"Incident file {path} exists where ingest runs but not on dask worker "
            f"{socket.gethostname()}: workers read the files themselves, so put them on a "
            "path every worker mounts under the same name (a shared filesystem)."
        )
    try:
        return validate_one(path)
    except InputFileError as err:  # a value, so the other files' results still come back
        return err


def join_areas(
    client: Client,
    lon: np.ndarray,
    lat: np.ndarray,
    precincts: gpd.GeoDataFrame,
    wards: gpd.GeoDataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """The precinct and ward of each point, joined on the cluster.

    The points go to the workers in partitions as a dask-geopandas frame; the boundaries are
    broadcast to every worker once. Each partition is joined with the rule of
    :func:`layers.storage.join.assign_areas` (an edge point goes to the first area in name order, a
    point in no area is "Outside boundaries"), so the names equal the in-process ones.

    Parameters
    ----------
    client : distributed.Client
    lon, lat : numpy.ndarray
        Point coordinates in EPSG:4326.
    precincts, wards : geopandas.GeoDataFrame
        Polygons in EPSG:4326 with a ``name`` column.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Precinct and ward names (object arrays) aligned to the points.
    """
    frame = pd.DataFrame({"lon": np.asarray(lon, dtype=float), "lat": np.asarray(lat, dtype=float)})
    if frame.empty:
        return np.empty(0, dtype=object), np.empty(0, dtype=object)
    # Scattered chunks rather than dd.from_pandas: the coordinates travel as data, not inside
    # the task graph, which stays small however many points there are.
    edges = np.linspace(0, len(frame), _partitions(client, len(frame)) + 1).astype(int)
    table = dd.from_delayed(
        client.scatter([frame.iloc[a:b] for a, b in itertools.pairwise(edges)], hash=False),
        meta=frame.iloc[:0],
        verify_meta=False,
    )
    points = dask_geopandas.from_dask_dataframe(
        table, geometry=dask_geopandas.points_from_xy(table, "lon", "lat", crs=WGS84)
    )
    names = points.map_partitions(
        _areas_of_partition,
        client.scatter(precincts, broadcast=True, hash=False),
        client.scatter(wards, broadcast=True, hash=False),
        meta=_AREAS_META,
    )
    joined = client.compute(names, sync=True)
    return joined["precinct"].to_numpy(dtype=object), joined["ward"].to_numpy(dtype=object)


def _areas_of_partition(
    points: gpd.GeoDataFrame, precincts: gpd.GeoDataFrame, wards: gpd.GeoDataFrame
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "precinct": assign_areas_to_points(points.geometry, precincts),
            "ward": assign_areas_to_points(points.geometry, wards),
        },
        index=points.index,
    )


def grid_cells(
    client: Client, grid: Grid, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The cell of each point and the number of points per cell, counted on the cluster.

    Each partition of the points is assigned to cells and counted on a worker (with
    :func:`layers.analysis.grid.assign_cells` and :func:`layers.analysis.grid.cell_counts`, the
    grid broadcast
    once); the client concatenates the cells and sums the counts.

    Parameters
    ----------
    client : distributed.Client
    grid : Grid
        From :func:`layers.analysis.grid.make_grid`.
    lon, lat : numpy.ndarray
        Point coordinates in EPSG:4326.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``cell_id`` of each point (-1 outside the grid), and int64 counts of length
        ``grid.n_cells``: the same as ``assign_cells`` and ``cell_counts`` in process.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        raise ValueError(
            f"`lon` and `lat` must have the same shape, not {lon.shape} and {lat.shape}."
        )
    parts = _partitions(client, len(lon))
    chunks = client.scatter(
        list(zip(np.array_split(lon, parts), np.array_split(lat, parts), strict=True)),
        hash=False,
    )
    on_workers = client.scatter(grid, broadcast=True, hash=False)
    results = client.gather([client.submit(_cells_of_chunk, on_workers, c) for c in chunks])
    ids = np.concatenate([ids for ids, _ in results])
    counts = np.sum([counts for _, counts in results], axis=0, dtype=np.int64)
    return ids, counts


def _cells_of_chunk(
    grid: Grid, chunk: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    ids = assign_cells(grid, *chunk)
    return ids, cell_counts(grid, ids)


def _partitions(client: Client, rows: int) -> int:
    """About four partitions per worker thread, each of a few thousand rows at least."""
    threads = sum(client.nthreads().values()) or 1
    return max(1, min(_PARTITIONS_PER_THREAD * threads, rows // _MIN_PARTITION_ROWS))
