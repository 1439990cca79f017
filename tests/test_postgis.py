"""The live PostGIS store against a real PostgreSQL/PostGIS server (required under CI=true)."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from conftest import ROOT

from layers._errors import StoreError
from layers.livefeed.live import LiveStore, stored_since
from layers.livefeed.postgis import (
    SCHEMA,
    SCHEMA_VERSION,
    connect,
    ingest_postgis,
    init_db,
    read_boundaries_from_db,
    read_incidents,
)
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.join import assign_areas
from layers.storage.store import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pgdemo")
    manifest = generate_demo(folder / "files", incidents=3000)
    build_demo_store(folder / "store", manifest)
    return manifest, folder / "store"


def test_schema_init_is_idempotent(postgis_url):
    init_db(postgis_url)
    init_db(postgis_url)
    with connect(postgis_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (SCHEMA,),
            )
        }
        version = conn.execute(
            f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'"
        ).fetchone()[0]
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (SCHEMA,)
            )
        }
    assert {"incidents", "precincts", "wards", "rejects", "ingest_runs", "meta",
            "deleted_incidents"} <= tables  # fmt: skip
    assert version == SCHEMA_VERSION == 2
    assert {"incidents_occurred_at", "incidents_geom", "incidents_seq"} <= indexes


def test_ingest_matches_the_file_store_and_is_idempotent(postgis_url, demo):
    manifest, file_store = demo
    files = list(manifest.incident_paths)
    report = ingest_postgis(
        postgis_url, files, precincts=manifest.precincts_path, wards=manifest.wards_path,
        synthetic=True,
    )  # fmt: skip
    totals = report.totals()
    assert totals["read"] == totals["accepted"] + totals["rejected"]
    assert totals["new"] == 3000 and totals["rejected"] > 0
    with connect(postgis_url) as conn:
        stored = read_incidents(conn)
        rejects = conn.execute(
            f"SELECT reason, count(*) FROM {SCHEMA}.rejects GROUP BY reason"
        ).fetchall()
        runs = conn.execute(f"SELECT count(*) FROM {SCHEMA}.ingest_runs").fetchone()[0]
    assert sum(n for _, n in rejects) == totals["rejected"]
    assert runs == 1
    # The same incidents, joins and content hashes as the file store built from the same files.
    reference = open_store(file_store).incidents.sort_values(["agency", "incident_id"])
    stored = stored.sort_values(["agency", "incident_id"])
    for column in ("agency", "incident_id", "category", "precinct", "ward"):
        assert stored[column].astype(str).tolist() == reference[column].astype(str).tolist()
    hashes = stored["row_hash"].astype("int64").to_numpy().view(np.uint64)
    assert (hashes == reference["row_hash"].to_numpy()).all()
    assert (stored["occurred_at"].to_numpy() == reference["occurred_at"].to_numpy()).all()
    # Again: nothing new, nothing changes, the sequence does not move.
    again = ingest_postgis(postgis_url, files).totals()
    assert again["new"] == again["updated"] == 0 and again["unchanged"] == 3000
    with connect(postgis_url) as conn:
        assert read_incidents(conn, after_seq=int(stored["seq"].max())).empty


def test_incremental_reads_see_new_and_updated_rows_once(postgis_url, demo, tmp_path):
    manifest, _ = demo
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path,
    )  # fmt: skip
    with connect(postgis_url) as conn:
        first = read_incidents(conn)
    last = int(first["seq"].max())
    assert first["seq"].is_monotonic_increasing and len(first) > 0
    # An update of one incident and one new incident, from another file.
    row = first.iloc[0]
    extract = tmp_path / "update.csv"
    extract.write_text(
        "incident_id,agency,category,occurred_at,reported_at,status,lat,lon\n"
        f"{row.incident_id},{row.agency},{row.category},{row.occurred_at.isoformat()},"
        f"2030-01-01T00:00:00Z,closed,{row.lat},{row.lon}\n"
        f"NEW-1,{row.agency},{row.category},2026-10-30T10:00:00+02:00,,open,{row.lat},{row.lon}\n"
    )
    totals = ingest_postgis(postgis_url, [extract], now=pd.Timestamp("2031-01-01", tz="UTC"))
    assert totals.totals()["updated"] == 1 and totals.totals()["new"] == 1
    with connect(postgis_url) as conn:
        new = read_incidents(conn, after_seq=last)
        assert read_incidents(conn, after_seq=int(new["seq"].max())).empty
    assert sorted(new["incident_id"]) == sorted([row.incident_id, "NEW-1"])
    assert (new["seq"] > last).all()
    updated = new.set_index("incident_id").loc[row.incident_id]
    assert updated["status"] == "closed"
    assert updated["ingested_at"] == row.ingested_at  # first seen stays; updated_at moves


def test_direct_sql_writers_get_the_same_join(postgis_url, demo):
    manifest, _ = demo
    ingest_postgis(postgis_url, [], precincts=manifest.precincts_path, wards=manifest.wards_path)
    precincts, wards = read_boundaries_from_db(postgis_url)
    rng = np.random.default_rng(3)
    minx, miny, maxx, maxy = precincts.total_bounds
    lon = rng.uniform(minx - 0.05, maxx + 0.05, 200)
    lat = rng.uniform(miny - 0.05, maxy + 0.05, 200)
    with connect(postgis_url) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
            "collaboration_area, occurred_at, lon, lat) VALUES (%s, %s, %s, %s, now(), %s, %s)",
            [("SAPS", f"SQL-{i}", "Burglary", "Unassigned", float(x), float(y))
             for i, (x, y) in enumerate(zip(lon, lat, strict=True))],
        )  # fmt: skip
    with connect(postgis_url) as conn:
        rows = read_incidents(conn).sort_values("incident_id", key=lambda s: s.str[4:].astype(int))
    assert rows["precinct"].tolist() == list(assign_areas(lon, lat, precincts))
    assert rows["ward"].tolist() == list(assign_areas(lon, lat, wards))
    assert "Outside boundaries" in set(rows["precinct"])


def test_an_unreachable_database_says_so_quickly():
    started = time.monotonic()
    with pytest.raises(StoreError, match="Cannot reach the PostGIS database") as info:
        init_db("postgresql://nobody:secret@127.0.0.1:1/nowhere")
    assert time.monotonic() - started < 10
    assert "secret" not in str(info.value)  # no password in messages


def test_live_store_keeps_the_last_good_data_when_the_database_goes(postgis_url, demo):
    manifest, _ = demo
    ingest_postgis(
        postgis_url, list(manifest.incident_paths), precincts=manifest.precincts_path,
        wards=manifest.wards_path,
    )  # fmt: skip
    live = LiveStore(postgis_url)
    started = pd.Timestamp.now(tz="UTC")
    try:
        first = live.refresh()
        assert first.error is None and first.new_rows == 3000
        assert live.refresh().new_rows == 0  # nothing new: nothing fetched
        assert stored_since(live.snapshot, started).sum() == 0
        with connect(postgis_url) as conn:
            conn.execute(
                f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
                "collaboration_area, occurred_at, lon, lat) "
                "SELECT agency, 'LIVE-1', category, collaboration_area, now(), lon, lat "
                f"FROM {SCHEMA}.incidents LIMIT 1"
            )
        assert live.refresh().new_rows == 1
        assert live.snapshot.n_incidents == len(live.snapshot.columns) == 3001
        assert stored_since(live.snapshot, started).sum() == 1
        # The database goes away: the viewer keeps the last data and is told why.
        admin = psycopg.connect(
            postgis_url.rsplit("/", 1)[0] + "/postgres", autocommit=True, connect_timeout=3
        )
        admin.execute(f'DROP DATABASE "{postgis_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        admin.close()
        failed = live.refresh()
        assert failed.error and "Cannot reach the PostGIS database" in failed.error
        assert live.snapshot.n_incidents == 3001 and live.error_since is not None
    finally:
        live.close()


def test_cli_db_init_and_ingest(postgis_url, demo):
    manifest, _ = demo
    run = [sys.executable, "-m", "layers"]
    init = subprocess.run([*run, "db", "init", "--postgis", postgis_url], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert init.returncode == 0, init.stderr
    done = subprocess.run(
        [*run, "ingest", "--postgis", postgis_url, "--precincts", str(manifest.precincts_path),
         "--wards", str(manifest.wards_path), str(manifest.incident_paths[0])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rejected" in done.stdout and "incidents" in done.stdout
    down = subprocess.run([*run, "db", "init", "--postgis", "postgresql://x@127.0.0.1:1/none"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode == 1 and "Cannot reach the PostGIS database" in down.stderr


def test_cli_watch_ingests_dropped_files_into_postgis(postgis_url, demo, tmp_path):
    manifest, _ = demo
    drop = tmp_path / "drop"
    drop.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "layers", "ingest", "--postgis", postgis_url,
         "--precincts", str(manifest.precincts_path), "--wards", str(manifest.wards_path),
         "--watch", str(drop), "--settle", "0.3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # The writer's convention: write under a temporary name, then rename into place.
        part = drop / "metro.csv.part"
        part.write_bytes(manifest.incident_paths[1].read_bytes())
        part.rename(drop / "metro.csv")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((drop / "processed").glob("*metro.csv")):
            time.sleep(0.3)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    processed = list((drop / "processed").glob("*metro.csv"))
    assert len(processed) == 1, output
    assert list((drop / "processed").glob("*metro.csv.report.json"))
    assert not (drop / "metro.csv").exists()
    with connect(postgis_url) as conn:
        stored = conn.execute(f"SELECT count(*) FROM {SCHEMA}.incidents").fetchone()[0]
    assert stored > 0
    assert "processed: metro.csv" in output


def test_ingest_again_with_the_same_boundaries_keeps_them(postgis_url, demo):
    manifest, _ = demo
    args = dict(precincts=manifest.precincts_path, wards=manifest.wards_path)
    ingest_postgis(postgis_url, [manifest.incident_paths[0]], **args)
    with connect(postgis_url) as conn:
        before = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'boundaries_version'")
        stamp = before.fetchone()[0]
    again = ingest_postgis(postgis_url, [manifest.incident_paths[0]], **args)
    assert again.totals()["unchanged"] == again.totals()["accepted"] - again.totals()["superseded"]
    with connect(postgis_url) as conn:
        after = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'boundaries_version'")
        assert after.fetchone()[0] == stamp  # not rewritten, nothing joined again


def test_sql_edge_points_and_moves_follow_the_python_rule(postgis_url, demo):
    manifest, _ = demo
    ingest_postgis(postgis_url, [], precincts=manifest.precincts_path, wards=manifest.wards_path)
    precincts, _ = read_boundaries_from_db(postgis_url)
    from layers.intake.sources import read_boundaries

    python_order = read_boundaries(manifest.precincts_path, kind="precinct").areas
    assert precincts["name"].tolist() == python_order["name"].tolist()
    # Points on shared edges: vertices of the first precinct's boundary.
    ring = shapely.get_coordinates(python_order.geometry.iloc[0].boundary)
    lon, lat = ring[:20, 0], ring[:20, 1]
    with connect(postgis_url) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
            "collaboration_area, occurred_at, lon, lat) VALUES (%s, %s, %s, %s, now(), %s, %s)",
            [("SAPS", f"EDGE-{i:02d}", "Burglary", "Unassigned", float(x), float(y))
             for i, (x, y) in enumerate(zip(lon, lat, strict=True))],
        )  # fmt: skip
    with connect(postgis_url) as conn:
        rows = read_incidents(conn).sort_values("incident_id")
    assert rows["precinct"].tolist() == list(assign_areas(lon, lat, python_order))
    # A writer moves a point and leaves the areas as they were: they are joined again.
    far_lon, far_lat = float(precincts.total_bounds[0]) - 0.2, float(lon[0])
    with connect(postgis_url) as conn:
        conn.execute(
            f"UPDATE {SCHEMA}.incidents SET lon = %s, lat = %s WHERE incident_id = 'EDGE-00'",
            (far_lon, float(lat[0])),
        )
        moved = conn.execute(
            f"SELECT precinct, ward FROM {SCHEMA}.incidents WHERE incident_id = 'EDGE-00'"
        ).fetchone()
    assert moved == ("Outside boundaries", "Outside boundaries")
    assert far_lat  # (the latitude is unchanged)


def test_live_store_replaces_an_updated_incident(postgis_url, demo):
    manifest, _ = demo
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path,
    )  # fmt: skip
    live = LiveStore(postgis_url)
    try:
        live.refresh()
        n = live.snapshot.n_incidents
        with connect(postgis_url) as conn:
            conn.execute(
                f"UPDATE {SCHEMA}.incidents SET status = 'closed' WHERE incident_id = "
                f"(SELECT min(incident_id) FROM {SCHEMA}.incidents)"
            )
        assert live.refresh().new_rows == 1
        assert live.snapshot.n_incidents == n  # replaced, not added
        assert (live.snapshot.frame["status"] == "closed").sum() >= 1
        old = live.snapshot_at("no-such-version")
        assert old is live.snapshot
    finally:
        live.close()
