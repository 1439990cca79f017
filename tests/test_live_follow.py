"""Issue 16, point 3: the live store follows deletions, is woken by the database's
notifications, and polls when it cannot listen. Against a real PostgreSQL with PostGIS."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from layers.livefeed.live import LiveStore
from layers.livefeed.postgis import CHANNEL, SCHEMA, connect, ingest_postgis
from layers.storage.demo import generate_demo


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("follow") / "files", incidents=600)


@pytest.fixture
def store(postgis_url, demo_files):
    ingest_postgis(
        postgis_url, [demo_files.incident_paths[0]], precincts=demo_files.precincts_path,
        wards=demo_files.wards_path,
    )  # fmt: skip
    live = LiveStore(postgis_url)
    yield live
    live.close()


def _insert(url: str, incident_id: str) -> None:
    with connect(url) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
            "collaboration_area, occurred_at, lon, lat) "
            "SELECT agency, %s, category, collaboration_area, now(), lon, lat "
            f"FROM {SCHEMA}.incidents ORDER BY seq LIMIT 1",
            (incident_id,),
        )


def _delete(url: str, incident_id: str) -> None:
    with connect(url) as conn:
        conn.execute(f"DELETE FROM {SCHEMA}.incidents WHERE incident_id = %s", (incident_id,))


def _ids(live: LiveStore) -> set[str]:
    return set(live.snapshot.frame["incident_id"])


def _wait_for(versions: list[str], count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(versions) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _wait_pushed(store: LiveStore) -> None:
    deadline = time.monotonic() + 30
    while not store.following.pushed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.following.pushed, store.following


def _following(store: LiveStore, *, interval: float, min_gap: float) -> list[str]:
    """Start ``store``'s follower and wait until it listens; the versions it reads after."""
    versions: list[str] = []
    store.refresh()
    store.subscribe(versions.append)
    store.follow(interval=interval, min_gap=min_gap)
    _wait_pushed(store)
    return versions


def test_a_deleted_incident_leaves_the_live_store(postgis_url, store):
    store.refresh()
    n = store.snapshot.n_incidents
    victim = sorted(_ids(store))[0]
    _delete(postgis_url, victim)
    result = store.refresh()
    assert result.error is None and result.deleted_rows == 1 and result.new_rows == 0
    assert victim not in _ids(store)
    assert store.snapshot.n_incidents == len(store.snapshot.columns) == n - 1
    # Written again after its deletion: it is back, once.
    _insert(postgis_url, victim)
    result = store.refresh()
    assert result.new_rows == 1 and result.deleted_rows == 0
    assert (store.snapshot.frame["incident_id"] == victim).sum() == 1
    assert store.snapshot.n_incidents == n
    # Deleted and written again between two reads: held once, as written last.
    _delete(postgis_url, victim)
    _insert(postgis_url, victim)
    store.refresh()
    assert (store.snapshot.frame["incident_id"] == victim).sum() == 1
    assert store.snapshot.n_incidents == n
    # Written and deleted between two reads: never shown.
    _insert(postgis_url, "GONE-BEFORE-READ")
    _delete(postgis_url, "GONE-BEFORE-READ")
    store.refresh()
    assert "GONE-BEFORE-READ" not in _ids(store) and store.snapshot.n_incidents == n
    # What a fresh reader of the database holds is what the follower holds.
    fresh = LiveStore(postgis_url)
    try:
        fresh.refresh()
        assert _ids(fresh) == _ids(store)
    finally:
        fresh.close()


def test_a_notification_wakes_the_follower_long_before_its_polling_interval(postgis_url, store):
    versions = _following(store, interval=60.0, min_gap=0.2)
    for i in range(3):  # each change arrives by push: a poll would take 60 s
        committed = time.monotonic()
        _insert(postgis_url, f"PUSHED-{i}")
        _wait_for(versions, i + 1, timeout_s=20)
        assert len(versions) == i + 1, f"change {i} not pushed within 20 s"
        assert f"PUSHED-{i}" in _ids(store)
        assert time.monotonic() - committed < 20
    _delete(postgis_url, "PUSHED-0")
    _wait_for(versions, 4, timeout_s=20)
    assert len(versions) == 4 and "PUSHED-0" not in _ids(store)
    assert versions[-1] == store.version


def test_a_burst_of_changes_is_read_in_few_reads(postgis_url, store):
    reads = threading.Event()
    versions = _following(store, interval=60.0, min_gap=1.0)
    started = time.monotonic()
    for i in range(20):
        _insert(postgis_url, f"BURST-{i}")
    deadline = time.monotonic() + 30
    while not {f"BURST-{i}" for i in range(20)} <= (_ids(store) if versions else set()):
        assert time.monotonic() < deadline, "the burst was not read within 30 s"
        reads.wait(0.05)
    took = time.monotonic() - started
    # 20 commits, at most one read per second (min_gap): versions are bounded by the time the
    # burst took, not by the number of commits.
    assert 1 <= len(versions) <= min(20, int(took / 1.0) + 2), (len(versions), took)


def test_when_notifications_stop_the_follower_polls_and_says_so(postgis_url, store):
    versions = _following(store, interval=3.0, min_gap=0.2)
    # Cut the listening connection from the server side, as a lost link would.
    with psycopg.connect(postgis_url, autocommit=True) as admin:
        listeners = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE %s AND pid <> pg_backend_pid()",
            (f"LISTEN {CHANNEL}%",),
        ).fetchall()
        assert listeners, "no listening connection found"
        for (pid,) in listeners:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    deadline = time.monotonic() + 30
    while not store.push_losses and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.push_losses == 1
    # For an interval it polls, and says so; then it listens again.
    # How it was following from the loss: polling, since when, and why.
    lost = store.last_loss
    assert lost is not None and not lost.pushed
    assert lost.push_lost_since is not None and lost.reason
    # Changes still arrive (by polling, then by push again once it listens anew).
    _insert(postgis_url, "AFTER-LOSS")
    _wait_for(versions, 1, timeout_s=20)
    assert versions and "AFTER-LOSS" in _ids(store)
    _wait_pushed(store)  # listening again


def test_a_changed_key_leaves_no_ghost_of_the_old_one(postgis_url, store):
    store.refresh()
    n = store.snapshot.n_incidents
    old = sorted(_ids(store))[1]
    with connect(postgis_url) as conn:
        conn.execute(
            f"UPDATE {SCHEMA}.incidents SET incident_id = %s WHERE incident_id = %s",
            ("RENAMED-1", old),
        )
    store.refresh()
    assert old not in _ids(store) and "RENAMED-1" in _ids(store)
    assert store.snapshot.n_incidents == n


def test_an_older_schema_is_named_with_the_command_that_upgrades_it(postgis_url, store):
    with connect(postgis_url) as conn:
        conn.execute(f"UPDATE {SCHEMA}.meta SET value = '1' WHERE key = 'schema_version'")
    result = store.refresh()
    assert result.error and "schema version 1" in result.error
    assert "python -m layers db init --postgis URL" in result.error
