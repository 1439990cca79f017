"""Following the PostGIS live store from a long-running viewer: what is new, and what failed.

A :class:`LiveStore` keeps every incident in memory and tops it up on each
:meth:`~LiveStore.refresh` with the rows whose ``seq`` is above the largest it has seen
(:func:`layers.livefeed.postgis.read_incidents`), and drops the ones deleted since
(:func:`~layers.livefeed.postgis.read_deletions`), so a refresh costs what changed, not the
table. Connections come from a small pool. When the database cannot be reached the store keeps
serving the last good snapshot and says since when it could not refresh.

:meth:`LiveStore.follow` runs the refreshes in one background thread per process, however
many viewers there are: it listens (``LISTEN``) on :data:`~layers.livefeed.postgis.CHANNEL`, reads
as soon as a change is committed (at most once per ``min_gap``), and polls every ``interval``
when notifications cannot be had. :meth:`LiveStore.subscribe` hands each new version to a
callback, e.g. to wake the pages that show it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.intake.validate import to_geodataframe
from layers.livefeed.postgis import (
    CHANNEL,
    CONNECT_TIMEOUT_S,
    SCHEMA,
    SCHEMA_VERSION,
    SESSION_OPTIONS,
    last_seq,
    read_areas,
    read_deletions,
    read_incidents,
    read_meta,
    redact,
    unreachable_message,
)
from layers.storage.columnar import IncidentColumns
from layers.storage.store import StoreSnapshot

LOG = logging.getLogger(__name__)
KEY = ["agency", "incident_id"]
# Snapshots kept by version, so a page run that started on one version finishes on it.
KEEP_SNAPSHOTS = 8
# After a failed refresh, viewers get the last good data at once for this long.
RETRY_AFTER_S = 5.0
# How long a session waits for another session's refresh before showing what it has.
WAIT_FOR_REFRESH_S = 2.0
# A follower reads at most this often, however many changes are announced.
MIN_GAP_S = 1.0
# ... and a viewer's page is redrawn at most every half refresh interval, between these.
MAX_PACE_S = 5.0


def live_pace(refresh: float) -> float:
    """Seconds between reads (and redraws) under a steady stream of changes, for a page that
    would poll every ``refresh`` seconds: half of it, from :data:`MIN_GAP_S` to
    :data:`MAX_PACE_S`. A change after a quiet spell is read at once."""
    return min(max(MIN_GAP_S, refresh / 2), MAX_PACE_S)


class SchemaOutdated(Exception):
    """The live store's schema is older than this code reads."""


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
    deleted_rows: int = 0


@dataclass(frozen=True)
class Following:
    """How a followed store learns of changes: ``pushed`` while it listens for notifications,
    else polled every ``interval`` seconds; ``push_lost_since`` when listening failed, and
    why (``reason``)."""

    pushed: bool
    interval: float
    push_lost_since: datetime | None = None
    reason: str | None = None


class LiveStore:
    """Incidents of a PostGIS store, in memory, refreshed incrementally.

    Thread-safe: Streamlit sessions share one instance (``st.cache_resource``) and refresh
    it from their own threads. One refresh runs at a time; a session that finds one running
    does not wait for it but carries on with the latest snapshot, so a slow or unreachable
    database never freezes the viewers. After a failure the database is asked again only
    after :data:`RETRY_AFTER_S`.

    Deleted incidents are dropped from memory (their tombstones carry a ``seq`` too). A
    store re-initialised under the same URL is detected (its ``seq`` goes back) and read
    again in full; a ``TRUNCATE`` leaves no tombstones and is only noticed that way.

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
        self._keys: set[tuple[str, str]] = set()
        self._seq = 0
        self._subscribers: list[Callable[[str], None]] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.following = Following(pushed=False, interval=0.0)
        self.push_losses = 0  # times listening was lost or refused
        self.last_loss: Following | None = None  # how it was following when last lost
        self._areas: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None
        self._areas_version: object = None
        self._display_cache: dict[str, gpd.GeoDataFrame] = {}
        self._snapshots: OrderedDict[str, LiveSnapshot] = OrderedDict()
        # The newest snapshot, swapped in one assignment: read from other threads (the push
        # route) while a refresh changes the OrderedDict above.
        self._latest: LiveSnapshot | None = None
        self._listening: object | None = None  # the follower's LISTEN connection
        self._failed_at = 0.0
        self._read_started = 0.0
        self._read_at = float("-inf")  # monotonic start of the last successful read
        self.last_success: datetime | None = None
        self.error: str | None = None
        self.error_since: datetime | None = None

    @property
    def loaded(self) -> bool:
        """True once a first read has succeeded (there is data to show)."""
        return self._latest is not None

    @property
    def snapshot(self) -> LiveSnapshot:
        """The latest good snapshot (raises if nothing was ever read)."""
        latest = self._latest
        if latest is None:
            raise RuntimeError("No data read yet: call refresh() first.")
        return latest

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
        return RefreshResult(0, self.snapshot.version if self.loaded else "", error)

    def _refresh(self) -> RefreshResult:
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            # One snapshot of the database for every statement below: a deletion committed
            # between the read of new rows and the read of deletions would otherwise move the
            # last seq seen past rows never read.
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                meta = read_meta(conn)
                if meta.get("schema_version") != SCHEMA_VERSION:
                    raise SchemaOutdated(
                        f"The live store at {self.label} has schema version "
                        f"{meta.get('schema_version')}; this dashboard needs "
                        f"{SCHEMA_VERSION}. Run `python -m layers db init --postgis URL` once "
                        "to upgrade it: it keeps every incident."
                    )
                if last_seq(conn) < self._seq:  # the store was re-initialised: start over
                    self._frame, self._keys, self._seq = None, set(), 0
                new = read_incidents(conn, after_seq=self._seq)
                gone = read_deletions(conn, after_seq=self._seq)
                areas_version = meta.get("boundaries_version")
                if self._areas is None or areas_version != self._areas_version:
                    self._areas = (read_areas(conn, "precinct"), read_areas(conn, "ward"))
                    self._areas_version = areas_version
                    self._display_cache = {}
                    new_areas = True
                else:
                    new_areas = False
        except SchemaOutdated as err:
            self.error = str(err)
            self.error_since = self.error_since or datetime.now(UTC)
            self._failed_at = time.monotonic()
            return self._current(self.error)
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
        if self._snapshots and not len(new) and not len(gone) and not new_areas:
            return self._current(None)
        self._frame, self._keys, deleted = _merge(self._frame, self._keys, new, gone)
        self._seq = max(
            self._seq,
            int(new["seq"].max()) if len(new) else 0,
            int(gone["seq"].max()) if len(gone) else 0,
        )
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
        self._latest = self._snapshots[version]
        while len(self._snapshots) > KEEP_SNAPSHOTS:
            self._snapshots.popitem(last=False)
        self._announce(version)
        return RefreshResult(len(new), version, deleted_rows=deleted)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(version)`` from the refreshing thread after each new version."""
        with self._lock:
            self._subscribers.append(callback)

    def _announce(self, version: str) -> None:
        for callback in list(self._subscribers):
            try:
                callback(version)
            except Exception:  # a subscriber's failure must not stop the refreshes
                LOG.exception("A live-store subscriber failed on version %s", version)

    def follow(self, interval: float, *, min_gap: float = MIN_GAP_S) -> None:
        """Refresh from one background thread from now on (once; later calls do nothing).

        The thread listens for the store's notifications and reads when one arrives, at
        most once per ``min_gap`` seconds, and at least every ``interval`` seconds. While it
        cannot listen (the database is down, or refuses ``LISTEN``) it polls every
        ``interval`` and tries to listen again.
        """
        with self._lock:
            if self._thread is not None:
                return
            self.following = Following(pushed=False, interval=interval)
            self._thread = threading.Thread(
                target=self._follow, args=(interval, min_gap), name="live-store", daemon=True
            )
            self._thread.start()

    @property
    def followed(self) -> bool:
        """True while a :meth:`follow` thread refreshes this store."""
        return self._thread is not None and self._thread.is_alive()

    def _listen(self, interval: float) -> object | None:
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                   options=SESSION_OPTIONS)  # fmt: skip
            conn.execute(f"LISTEN {CHANNEL}")
        except (psycopg.Error, OSError) as err:
            if self.following.pushed or self.following.push_lost_since is None:
                LOG.warning("Live store %s: polling, cannot listen: %s", self.label, err)
                self.following = Following(False, interval, datetime.now(UTC), str(err))
                self.last_loss = self.following
                self.push_losses += 1
            return None
        self.following = Following(pushed=True, interval=interval)
        self._listening = conn
        return conn

    def _follow(self, interval: float, min_gap: float) -> None:
        import psycopg

        conn = None
        last_read = float("-inf")
        listen_after = 0.0  # after a loss, poll for an interval before listening again
        while not self._stop.is_set():
            if conn is None and time.monotonic() >= listen_after:
                conn = self._listen(interval)
                if conn is not None:  # what changed before we listened is read now
                    last_read = time.monotonic()
                    self.refresh()
            if conn is None:
                self._stop.wait(max(0.0, last_read + interval - time.monotonic()))
            else:
                try:
                    # Wait for a change (or the interval: a read now and then costs little
                    # and covers a notification lost on the way), then for the rest of the
                    # gap, so a burst of changes is read once.
                    woke = list(conn.notifies(timeout=interval, stop_after=1))
                    if woke:
                        self._stop.wait(max(0.0, last_read + min_gap - time.monotonic()))
                    list(conn.notifies(timeout=0))  # what came meanwhile is read now too
                except (psycopg.Error, OSError) as err:
                    if self._stop.is_set():
                        break
                    LOG.warning("Live store %s: notifications lost: %s", self.label, err)
                    self.following = Following(False, interval, datetime.now(UTC), str(err))
                    self.last_loss = self.following
                    self.push_losses += 1
                    listen_after = time.monotonic() + interval
                    with contextlib.suppress(psycopg.Error, OSError):
                        conn.close()
                    conn = None
            if self._stop.is_set():
                break
            last_read = time.monotonic()
            self.refresh()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        listening = self._listening
        if listening is not None:  # wakes the follower from its wait for notifications
            with contextlib.suppress(Exception):
                listening.close()  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=CONNECT_TIMEOUT_S + 2)
        self._pool.close()


def _merge(
    frame: pd.DataFrame | None,
    keys: set[tuple[str, str]],
    new: pd.DataFrame,
    gone: pd.DataFrame,
) -> tuple[pd.DataFrame, set[tuple[str, str]], int]:
    """``frame`` with the rows of ``new`` replacing those with the same (agency,
    incident_id), and the rows deleted by ``gone`` dropped unless written again after their
    deletion; the keys of the result; and how many rows were dropped. ``keys`` are
    ``frame``'s keys: a batch of new incidents only is appended without looking at the rows
    already held."""
    if frame is None or frame.empty:
        frame, keys = new.iloc[:0], set()
    new_keys = list(zip(new["agency"], new["incident_id"], strict=True))
    if any(key in keys for key in new_keys):
        replaced = pd.MultiIndex.from_frame(frame[KEY]).isin(pd.MultiIndex.from_frame(new[KEY]))
        frame = frame.loc[~replaced]
    if len(new):
        frame = pd.concat([frame, new], ignore_index=True) if len(frame) else new
        frame = frame.reset_index(drop=True)
        keys = keys | set(new_keys)
    dropped = 0
    if len(gone):
        # A deletion counts unless the key was written again after it (a larger seq).
        last = gone.groupby(KEY, sort=False)["seq"].max()
        held = pd.MultiIndex.from_frame(frame[KEY])
        deleted_at = last.reindex(held).to_numpy(dtype="float64", na_value=np.nan)
        drop = deleted_at > frame["seq"].to_numpy(dtype="float64")
        if drop.any():
            keys = keys - set(zip(frame.loc[drop, "agency"], frame.loc[drop, "incident_id"],
                                  strict=True))  # fmt: skip
            frame = frame.loc[~drop].reset_index(drop=True)
            dropped = int(drop.sum())
    return frame, keys, dropped


def stored_since(snapshot: LiveSnapshot, since: datetime) -> np.ndarray:
    """Mask of the incidents first stored at or after ``since``."""
    if snapshot.frame is None or snapshot.frame.empty:
        return np.zeros(0, dtype=bool)
    stamps = snapshot.frame["ingested_at"].to_numpy(dtype="datetime64[ns]")
    return stamps >= np.datetime64(pd.Timestamp(since).tz_convert("UTC").tz_localize(None))


def recent_rows(
    snapshot: LiveSnapshot, *, minutes: float, now: datetime | None = None
) -> np.ndarray:
    """Mask of incidents that occurred in the last ``minutes``."""
    if snapshot.frame is None or snapshot.frame.empty:
        return np.zeros(0, dtype=bool)
    now = now or datetime.now(UTC)
    cutoff = pd.Timestamp(now).tz_convert("UTC") - pd.Timedelta(minutes=minutes)
    return (snapshot.frame["occurred_at"] >= cutoff).to_numpy()
