"""The incident store: GeoParquet files with the join results, written atomically.

Layout of a store directory::

    CURRENT                      name of the live version (replaced atomically)
    versions/<version>/          one complete snapshot
        incidents.parquet        GeoParquet, EPSG:4326, with precinct and ward columns
        precincts.parquet        GeoParquet boundary layers (name, geometry)
        wards.parquet
        meta.json                provenance: sources, counts, synthetic flag
    rejects/                     rejected rows per ingested file, as CSV, each with its
                                 data dictionary (<stem>.dictionary.csv)
    reports/                     one JSON summary per ingest run

A writer builds a new version in a temporary folder, renames it into place and only then
points ``CURRENT`` at it, so a reader (or a crash) sees the old snapshot or the new one, never
a half-written one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from layers._errors import StoreError
from layers.storage.columnar import IncidentColumns, read_columns

SCHEMA_VERSION = 1
CATEGORICAL_COLUMNS = (
    "agency",
    "category",
    "collaboration_area",
    "precinct",
    "ward",
    "source_file",
)
KEEP_VERSIONS = 2
STALE_STAGING_S = 3600


@dataclass(frozen=True, eq=False)
class StoreSnapshot:
    """One consistent version of a store.

    Boundaries and metadata are read when the store is opened. Incidents are read on first
    use, in one of two shapes: :attr:`columns`, the coded columns the map and figures need
    (about 30 bytes an incident, read without geometry), or :attr:`incidents`, the full
    GeoDataFrame for analysis and exports. A dashboard that only filters and maps never
    pays for the second.
    """

    path: Path
    version: str
    precincts: gpd.GeoDataFrame
    wards: gpd.GeoDataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    # Boundaries simplified for drawing, by layer (filled by layers.maps.view); snapshots with the
    # same boundaries may share one.
    display_cache: dict[str, gpd.GeoDataFrame] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def synthetic(self) -> bool:
        """True when the store was built from the project's synthetic demo data."""
        return bool(self.meta.get("synthetic", False))

    @property
    def folder(self) -> Path:
        """The version's folder."""
        return self.path / "versions" / self.version

    @property
    def n_incidents(self) -> int:
        """Stored incidents, from the metadata (no incident is read)."""
        return int(self.meta.get("incidents", len(self.columns)))

    @cached_property
    def incidents(self) -> gpd.GeoDataFrame:
        """Every stored incident with all its columns and a point geometry (EPSG:4326)."""
        with self._lock:
            return self._read(gpd.read_parquet)

    @cached_property
    def columns(self) -> IncidentColumns:
        """The coded columns filters and maps run on (see :mod:`layers.storage.columnar`)."""
        with self._lock:
            if "incidents" in self.__dict__:
                return IncidentColumns.from_frame(self.__dict__["incidents"])
            return self._read(read_columns)

    def _read(self, reader: Any) -> Any:
        try:
            return reader(self.folder / "incidents.parquet")
        except FileNotFoundError as err:
            raise StoreError(
                f"Store {self.path} version {self.version} is gone (a newer ingest replaced "
                "it and pruned it). Reload the page or reopen the store."
            ) from err


@contextlib.contextmanager
def store_lock(path: Path | str) -> Iterator[None]:
    """Hold the store's writer lock: one ingest at a time per store (readers never wait)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_version(path: Path | str) -> str | None:
    """The live version of the store at ``path``, or None when there is no store yet."""
    pointer = Path(path) / "CURRENT"
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def open_store(path: Path | str, *, version: str | None = None) -> StoreSnapshot:
    """Load the live version of a store, or a given version while it is kept.

    Parameters
    ----------
    path : path-like
        The store directory, as given to ``python -m layers ingest --store``.
    version : str, optional
        The version to open (one of the last few); the live one by default.

    Returns
    -------
    StoreSnapshot
    """
    path = Path(path)
    version = version or current_version(path)
    if version is None:
        raise StoreError(
            f"No incident store at {path}. Build one with `python -m layers ingest --store {path} "
            "--precincts FILE --wards FILE INCIDENTS...`, or `python -m layers demo`."
        )
    folder = path / "versions" / version
    try:
        if not (folder / "incidents.parquet").is_file():
            raise FileNotFoundError(2, "missing", str(folder / "incidents.parquet"))
        precincts = gpd.read_parquet(folder / "precincts.parquet")
        wards = gpd.read_parquet(folder / "wards.parquet")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StoreError(f"Store {path} version {version} is incomplete: {err.filename}.") from err
    return StoreSnapshot(path, version, precincts, wards, meta)


def write_snapshot(
    path: Path | str,
    *,
    incidents: gpd.GeoDataFrame,
    precincts: gpd.GeoDataFrame,
    wards: gpd.GeoDataFrame,
    meta: dict[str, Any],
) -> str:
    """Write a new store version atomically and make it the live one.

    Returns
    -------
    str
        The new version's name.
    """
    path = Path(path)
    versions = path / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version = f"{stamp}-{uuid.uuid4().hex[:8]}"
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))
    try:
        _prepare_incidents(incidents).to_parquet(staging / "incidents.parquet", index=False)
        precincts.to_parquet(staging / "precincts.parquet", index=False)
        wards.to_parquet(staging / "wards.parquet", index=False)
        meta = {**meta, "schema_version": SCHEMA_VERSION, "version": version}
        (staging / "meta.json").write_text(json.dumps(meta, indent=2, default=str), "utf-8")
        _fsync_tree(staging)
        os.rename(staging, versions / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_text_atomic(path / "CURRENT", version + "\n")
    _prune(versions, keep=version)
    return version


def _prepare_incidents(incidents: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dictionary-encode the low-cardinality text columns: smaller files, faster filters."""
    out = incidents.reset_index(drop=True)
    for column in CATEGORICAL_COLUMNS:
        if column in out.columns:
            out[column] = out[column].astype("category")
    return out


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it when the block succeeds.

    Same folder, so ``os.replace`` is an atomic rename: readers see the old file or the new
    one, never half of one, and a failed write leaves the old file as it was. The suffix is
    kept because GDAL picks its driver by extension. The new file is flushed to disk and gets
    the mode a new file gets under the process umask.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.tmp{target.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, readable_mode())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(Path(target)) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


def _read_umask() -> int:
    # os.umask can only be read by setting it; do it once, at import, before any threads.
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def readable_mode() -> int:
    """The mode a new file gets under the process umask (mkstemp's own files are 0600)."""
    return 0o666 & ~_UMASK


def write_frame_atomic(frame: pd.DataFrame, target: Path, **to_csv: Any) -> None:
    """Write a CSV through a temporary file and an atomic rename."""
    write_text_atomic(target, frame.to_csv(index=False, **to_csv))


def safe_filename(name: str) -> str:
    """A file name safe to create: no folders, only letters, digits, dots, dashes, underscores."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".")
    return safe or "file"


def _fsync_tree(folder: Path) -> None:
    for child in folder.iterdir():
        with open(child, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune(versions: Path, *, keep: str) -> None:
    """Remove old versions, keeping the newest few for readers still holding them.

    Staging folders left by a writer that died are removed once they are an hour old (a
    younger one may belong to a writer still at work).
    """
    done = sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    cutoff = time.time() - STALE_STAGING_S
    for staging in versions.glob(".staging-*"):
        with contextlib.suppress(FileNotFoundError):
            if staging.stat().st_mtime < cutoff:
                shutil.rmtree(staging, ignore_errors=True)
