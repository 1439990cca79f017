"""Following the PostGIS live store from a long-running viewer: what is new, and what failed.

A :class:`LiveStore` keeps every incident in memory and tops it up on each
:meth:`~LiveStore.refresh` with the rows whose ``seq`` is above the largest it has seen
(:func:`layers.postgis.read_incidents`), so a refresh costs what changed, not the table.
Connections come from a small pool. When the database cannot be reached the store keeps
serving the last good snapshot and says since when it could not refresh.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.columnar import IncidentColumns
from layers.postgis import (
    CONNECT_TIMEOUT_S,
    SCHEMA,
    _read_areas,
    read_incidents,
    read_meta,
    redact,
    unreachable_message,
)
from layers.store import StoreSnapshot
from layers.validate import to_geodataframe

KEY = ["agency", "incident_id"]


@dataclass(frozen=True, eq=False)
class LiveSnapshot(StoreSnapshot):
    """A :class:`~layers.store.StoreSnapshot` of incidents held in memory, not in files."""

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
    it from their own threads; one refresh runs at a time and the others see its result.

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
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S},
            name="incident-map",
        )
        self._pool.open(wait=False)
        self._lock = threading.Lock()
        self._frame: pd.DataFrame | None = None
        self._seq = 0
        self._snapshot: LiveSnapshot | None = None
        self.last_success: datetime | None = None
        self.error: str | None = None
        self.error_since: datetime | None = None

    @property
    def loaded(self) -> bool:
        """True once a first read has succeeded (there is data to show)."""
        return self._snapshot is not None

    @property
    def snapshot(self) -> LiveSnapshot:
        """The latest good snapshot (raises if nothing was ever read)."""
        if self._snapshot is None:
            raise RuntimeError("No data read yet: call refresh() first.")
        return self._snapshot

    @property
    def version(self) -> str:
        return self.snapshot.version

    def refresh(self) -> RefreshResult:
        """Fetch what is new since the last refresh; on failure keep the last good data."""
        import psycopg
        from psycopg_pool import PoolTimeout

        with self._lock:
            try:
                with self._pool.connection() as conn:
                    new = read_incidents(conn, after_seq=self._seq)
                    if self._snapshot is None or len(new):
                        precincts = _read_areas(conn, "precinct")
                        wards = _read_areas(conn, "ward")
                        meta = read_meta(conn)
            except (psycopg.Error, PoolTimeout, OSError) as err:
                now = datetime.now(UTC)
                self.error = unreachable_message(self.url, err)
                self.error_since = self.error_since or now
                version = self._snapshot.version if self._snapshot else ""
                return RefreshResult(0, version, self.error)
            self.error, self.error_since = None, None
            self.last_success = datetime.now(UTC)
            if self._snapshot is None or len(new):
                self._frame = _merge(self._frame, new)
                if len(new):
                    self._seq = int(new["seq"].max())
                self._snapshot = LiveSnapshot(
                    path=Path(f"postgis/{SCHEMA}"),
                    version=f"seq-{self._seq}",
                    precincts=precincts,
                    wards=wards,
                    meta={"synthetic": bool(meta.get("synthetic", False))},
                    frame=self._frame,
                )
            return RefreshResult(len(new), self._snapshot.version)

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


__all__ = ["Any", "LiveSnapshot", "LiveStore", "RefreshResult", "count_since", "recent_rows"]
