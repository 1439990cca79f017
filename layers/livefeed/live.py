"""Following the PostGIS live store from a long-running viewer: what is new, and what failed.

A :class:`LiveStore` keeps every incident in memory and tops it up on each
:meth:`~LiveStore.refresh` with the rows whose ``seq`` is above the largest it has seen
(:func:`layers.livefeed.postgis.read_incidents`), so a refresh costs what changed, not the table.
Connections come from a small pool. When the database cannot be reached the store keeps
serving the last good snapshot and says since when it could not refresh.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.intake.validate import to_geodataframe
from layers.livefeed.postgis import (
    CONNECT_TIMEOUT_S,
    SCHEMA,
    SESSION_OPTIONS,
    read_areas,
    read_incidents,
    read_meta,
    redact,
    unreachable_message,
)
from layers.storage.columnar import IncidentColumns
from layers.storage.store import StoreSnapshot

KEY = ["agency", "incident_id"]
# Snapshots kept by version, so a page run that started on one version finishes on it.
KEEP_SNAPSHOTS = 8
# After a failed refresh, viewers get the last good data at once for this long.
RETRY_AFTER_S = 5.0
# How long a session waits for another session's refresh before showing what it has.
WAIT_FOR_REFRESH_S = 2.0


@dataclass(frozen=True, eq=False)
class LiveSnapshot(StoreSnapshot):
    """A :class:`~layers.storage.store.StoreSnapshot` of incidents held in memory, not in files."""

    frame: pd.DataFrame | None = None

    @property
    def n_incidents(self) -> int:
        return 0 if self.frame is None else len(self.frame)

    @cached_property
    def incidents(self) -> gpd.GeoDataFrame:
        frame = self.frame if self.frame is not None else pd.DataFrame()
        return to_geodataframe(frame.reset_index(drop=True))

    @cached_property
    def columns(self) -> IncidentColumns:
        return IncidentColumns.from_frame(self.frame)


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh found."""

    new_rows: int
    version: str
    error: str | None = None


class LiveStore:
    """Incidents of a PostGIS store, in memory, refreshed incrementally.

    Thread-safe: Streamlit sessions share one instance (``st.cache_resource``) and refresh
    it from their own threads. One refresh runs at a time; a session that finds one running
    does not wait for it but carries on with the latest snapshot, so a slow or unreachable
    database never freezes the viewers. After a failure the database is asked again only
    after :data:`RETRY_AFTER_S`.

    Limits: rows are never deleted from memory (the store's incidents are not deleted; a
    withdrawn incident is an update of its status), and a store re-initialised under the
    same URL is detected (its ``seq`` goes back) and read again in full.

    Parameters
    ----------
    url : str
        ``postgresql://`` URL of the database.
    pool_size : int
        Most connections held open.
    """

    def __init__(self, url: str, *, pool_size: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.label = redact(url)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            open=False,
            timeout=CONNECT_TIMEOUT_S,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "options": SESSION_OPTIONS},
            name="incident-map",
        )
        self._pool.open(wait=False)
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._seq = 0
        self._areas: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None
        self._areas_version: object = None
        self._display_cache: dict[str, gpd.GeoDataFrame] = {}
        self._snapshots: OrderedDict[str, LiveSnapshot] = OrderedDict()
        self._failed_at = 0.0
        self._read_started = 0.0
        self._read_at = float("-inf")  # monotonic start of the last successful read
        self.last_success: datetime | None = None
        self.error: str | None = None
        self.error_since: datetime | None = None

    @property
    def loaded(self) -> bool:
        """True once a first read has succeeded (there is data to show)."""
        return bool(self._snapshots)

    @property
    def snapshot(self) -> LiveSnapshot:
        """The latest good snapshot (raises if nothing was ever read)."""
        if not self._snapshots:
            raise RuntimeError("No data read yet: call refresh() first.")
        return next(reversed(self._snapshots.values()))

    @property
    def version(self) -> str:
        return self.snapshot.version

    def snapshot_at(self, version: str) -> LiveSnapshot:
        """The snapshot of ``version`` while it is among the last few; else the latest."""
        return self._snapshots.get(version) or self.snapshot

    def refresh(self) -> RefreshResult:
        """Fetch what is new since the last refresh; on failure keep the last good data.

        A session that finds a refresh under way waits for it (at most
        :data:`WAIT_FOR_REFRESH_S`) and then uses its result, so every viewer shows data read
        after its own refresh began; one read serves them all. Past the wait, or while the
        database is failing, it gets the last good snapshot at once.
        """
        asked = time.monotonic()
        if not self._lock.acquire(timeout=WAIT_FOR_REFRESH_S):
            return self._current(self.error)
        try:
            if self._read_at >= asked:  # a refresh that began after we asked has just run
                return self._current(self.error)
            if self.error and asked - self._failed_at < RETRY_AFTER_S:
                return self._current(self.error)
            self._read_started = time.monotonic()
            result = self._refresh()
            if result.error is None:
                self._read_at = self._read_started
            return result
        finally:
            self._lock.release()

    def _current(self, error: str | None) -> RefreshResult:
        return RefreshResult(0, self.snapshot.version if self._snapshots else "", error)

    def _refresh(self) -> RefreshResult:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            with self._pool.connection() as conn:
                meta = read_meta(conn)
                top = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.incidents")
                if top.fetchone()[0] < self._seq:  # the store was re-initialised: start over
                    self._frame, self._seq = None, 0
                new = read_incidents(conn, after_seq=self._seq)
                areas_version = meta.get("boundaries_version")
                if self._areas is None or areas_version != self._areas_version:
                    self._areas = (read_areas(conn, "precinct"), read_areas(conn, "ward"))
                    self._areas_version = areas_version
                    self._display_cache = {}
                    new_areas = True
                else:
                    new_areas = False
        except (psycopg.Error, PoolTimeout, OSError, ValueError) as err:
            self.error = unreachable_message(self.url, err)
            self.error_since = self.error_since or datetime.now(UTC)
            self._failed_at = time.monotonic()
            return self._current(self.error)
        self.error, self.error_since = None, None
        # The data is as of the moment the read began.
        self.last_success = datetime.now(UTC) - timedelta(
            seconds=time.monotonic() - self._read_started
        )
        if self._snapshots and not len(new) and not new_areas:
            return self._current(None)
        self._frame = _merge(self._frame, new)
        if len(new):
            self._seq = int(new["seq"].max())
        precincts, wards = self._areas
        version = f"seq-{self._seq}-b{zlib.crc32(str(self._areas_version).encode()):08x}"
        self._snapshots[version] = LiveSnapshot(
            path=Path(f"postgis/{SCHEMA}"),
            version=version,
            precincts=precincts,
            wards=wards,
            meta={"synthetic": bool(meta.get("synthetic", False))},
            display_cache=self._display_cache,
            frame=self._frame,
        )
        while len(self._snapshots) > KEEP_SNAPSHOTS:
            self._snapshots.popitem(last=False)
        return RefreshResult(len(new), version)

    def close(self) -> None:
        self._pool.close()


def _merge(frame: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``new`` replace the rows with the same (agency, incident_id)."""
    if frame is None or frame.empty:
        return new.reset_index(drop=True)
    if new.empty:
        return frame
    keys = pd.MultiIndex.from_frame(frame[KEY])
    replaced = keys.isin(pd.MultiIndex.from_frame(new[KEY]))
    return pd.concat([frame.loc[~replaced], new], ignore_index=True)


def count_since(snapshot: LiveSnapshot, since: datetime) -> int:
    """Incidents first stored at or after ``since``."""
    if snapshot.frame is None or snapshot.frame.empty:
        return 0
    stamps = snapshot.frame["ingested_at"].to_numpy(dtype="datetime64[ns]")
    return int(
        (stamps >= np.datetime64(pd.Timestamp(since).tz_convert("UTC").tz_localize(None))).sum()
    )


def recent_rows(
    snapshot: LiveSnapshot, *, minutes: float, now: datetime | None = None
) -> np.ndarray:
    """Mask of incidents that occurred in the last ``minutes``."""
    if snapshot.frame is None or snapshot.frame.empty:
        return np.zeros(0, dtype=bool)
    now = now or datetime.now(UTC)
    cutoff = pd.Timestamp(now).tz_convert("UTC") - pd.Timedelta(minutes=minutes)
    return (snapshot.frame["occurred_at"] >= cutoff).to_numpy()
