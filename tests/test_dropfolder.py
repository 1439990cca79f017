"""The drop folder, with a real file-store ingest of demo files."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from layers._errors import DatabaseUnavailable, LayersError
from layers.storage.demo import DemoManifest, generate_demo
from layers.storage.dropfolder import FAILED, LOCK_NAME, PROCESSED, scan, watch
from layers.storage.ingest import ingest
from layers.storage.store import current_version, open_store

SETTLE = 5.0
STAMPED = re.compile(r"^\d{8}T\d{6}Z(-\d+)?_")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoManifest:
    return generate_demo(tmp_path_factory.mktemp("demo"), incidents=500)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def ingest_one(store: Path, demo: DemoManifest):
    return lambda p: ingest(store, [p], precincts=demo.precincts_path, wards=demo.wards_path)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def put(demo: DemoManifest, drop: Path, name: str = "incidents.csv", *, age_s: float = 0) -> Path:
    """Copy the first demo CSV into the drop folder, last modified ``age_s`` seconds ago."""
    target = drop / name
    shutil.copyfile(demo.incident_paths[0], target)
    if age_s:
        then = time.time() - age_s
        os.utime(target, (then, then))
    return target


def settled_scan(drop: Path, ingest_one, *, state: dict | None = None, at: float | None = None):
    """Two passes ``SETTLE`` apart, well after the files were written: anything complete is
    ingested by the second."""
    state = {} if state is None else state
    at = time.time() + 60 if at is None else at
    first = scan(drop, ingest_one=ingest_one, settle_s=SETTLE, now=at, state=state)
    return first + scan(drop, ingest_one=ingest_one, settle_s=SETTLE, now=at + SETTLE, state=state)


def rows_in(path: Path) -> int:
    return len(pd.read_csv(path, dtype=str, keep_default_na=False))


def test_good_csv_is_ingested_once_and_moved_with_its_report(drop, demo, store, ingest_one):
    dropped = put(demo, drop)
    [result] = settled_scan(drop, ingest_one)
    assert result.ok and result.path == dropped
    assert not dropped.exists()
    assert result.moved_to.parent == drop / PROCESSED
    assert STAMPED.match(result.moved_to.name)
    assert result.moved_to.name.endswith("_incidents.csv")
    assert result.moved_to.read_bytes() == demo.incident_paths[0].read_bytes()
    assert result.report_path == result.moved_to.with_name(result.moved_to.name + ".report.json")

    report = json.loads(result.report_path.read_text())
    [file_report] = report["files"]
    assert file_report["error"] is None
    assert file_report["read"] == rows_in(demo.incident_paths[0])
    assert file_report["new"] == open_store(store).n_incidents > 0
    assert report["totals"]["rejected"] == sum(file_report["rejected"].values()) > 0
    assert f"{file_report['new']:,} new" in result.message

    version = current_version(store)
    assert settled_scan(drop, ingest_one, at=time.time() + 600) == []
    assert current_version(store) == version
    assert sorted(p.name for p in (drop / PROCESSED).iterdir()) == sorted(
        [result.moved_to.name, result.report_path.name]
    )


def test_same_name_dropped_again_is_kept_apart_and_ingests_as_unchanged(drop, demo, ingest_one):
    at = time.time() + 60
    put(demo, drop)
    [first] = settled_scan(drop, ingest_one, at=at)
    put(demo, drop)
    [again] = settled_scan(drop, ingest_one, at=at)  # same second: the name must still differ
    assert again.ok
    assert again.moved_to != first.moved_to and again.report_path != first.report_path
    assert first.moved_to.exists() and first.report_path.exists()
    before = json.loads(first.report_path.read_text())["totals"]
    totals = json.loads(again.report_path.read_text())["totals"]
    assert (totals["new"], totals["updated"]) == (0, 0)
    assert totals["unchanged"] == before["new"] > 0


def test_file_missing_required_columns_goes_to_failed_with_its_error(drop, ingest_one):
    bad = drop / "wrong_export.csv"
    bad.write_text("ref,when,what\n1,2026-01-01,Theft\n")
    [result] = settled_scan(drop, ingest_one)
    assert not result.ok
    assert result.moved_to.parent == drop / FAILED and not bad.exists()
    assert "has no column for" in result.message
    [file_report] = json.loads(result.report_path.read_text())["files"]
    assert "has no column for" in file_report["error"]


def test_crash_in_the_ingest_goes_to_failed_with_the_exception(drop, demo):
    def crash(path: Path):
        raise RuntimeError("database is down")

    put(demo, drop)
    [result] = settled_scan(drop, crash)
    assert not result.ok and result.moved_to.parent == drop / FAILED
    assert json.loads(result.report_path.read_text()) == {
        "error": "database is down",
        "type": "RuntimeError",
    }
    assert "RuntimeError" in result.message


def test_half_written_file_is_waited_for_until_it_settles(drop, demo, ingest_one):
    whole = demo.incident_paths[0].read_bytes()
    target = drop / "incidents.csv"
    t = time.time()
    old = t - 100  # old enough that only the size, watched across scans, shows the writing

    def write(data: bytes, mode: str) -> None:
        with open(target, mode) as handle:
            handle.write(data)
        os.utime(target, (old, old))

    state: dict = {}
    write(whole[: len(whole) // 2], "wb")
    assert scan(drop, ingest_one=ingest_one, settle_s=SETTLE, now=t, state=state) == []
    write(whole[len(whole) // 2 :], "ab")
    for now in (t + SETTLE, t + 1.5 * SETTLE):
        assert scan(drop, ingest_one=ingest_one, settle_s=SETTLE, now=now, state=state) == []
    assert target.exists()
    [result] = scan(drop, ingest_one=ingest_one, settle_s=SETTLE, now=t + 2 * SETTLE, state=state)
    assert result.ok
    assert json.loads(result.report_path.read_text())["totals"]["read"] == rows_in(
        demo.incident_paths[0]
    )
    assert state == {}


def test_recently_modified_file_waits_even_when_its_size_is_steady(drop, demo, ingest_one):
    target = put(demo, drop)
    t = time.time()
    os.utime(target, (t + 100, t + 100))  # modified "later" than the scans below
    assert settled_scan(drop, ingest_one, at=t) == []
    [result] = settled_scan(drop, ingest_one, at=t + 100)
    assert result.ok


def test_a_pass_without_state_goes_by_modification_time(drop, demo, ingest_one):
    put(demo, drop, age_s=100)
    recent = put(demo, drop, "recent.csv")
    [result] = scan(drop, ingest_one=ingest_one, settle_s=SETTLE)
    assert result.path.name == "incidents.csv"
    assert recent.exists()


def test_part_hidden_temporary_and_other_files_are_left_alone(drop, demo, ingest_one):
    ignored = [
        "incidents.csv.part", ".incidents.csv", "~$incidents.csv", "incidents.csv~",
        "incidents.csv.tmp", "incidents.csv.crdownload", "notes.pdf", "boundaries.shp",
    ]  # fmt: skip
    for name in ignored:
        put(demo, drop, name, age_s=100)
    (drop / "later").mkdir()
    put(demo, drop / "later", age_s=100)
    (drop / PROCESSED).mkdir()
    put(demo, drop / PROCESSED, age_s=100)
    assert settled_scan(drop, ingest_one) == []
    assert all((drop / name).exists() for name in ignored)

    # The hand-over convention: write under .part, then rename into place.
    os.replace(drop / "incidents.csv.part", drop / "incidents.csv")
    [result] = settled_scan(drop, ingest_one)
    assert result.ok and result.path.name == "incidents.csv"


def test_file_under_an_exclusive_lock_is_skipped_until_released(drop, demo, ingest_one):
    target = put(demo, drop, age_s=100)
    state: dict = {}
    with open(target, "ab") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        assert settled_scan(drop, ingest_one, state=state) == []
        assert target.exists()
        fcntl.flock(writer, fcntl.LOCK_UN)
    [result] = settled_scan(drop, ingest_one, state=state)
    assert result.ok


def test_a_second_watcher_on_the_folder_does_nothing(drop, demo, ingest_one):
    target = put(demo, drop, age_s=100)
    with open(drop / LOCK_NAME, "a") as other:
        fcntl.flock(other, fcntl.LOCK_EX)
        assert settled_scan(drop, ingest_one) == []
    assert target.exists()


def test_ready_files_are_ingested_oldest_first(drop, demo, ingest_one):
    put(demo, drop, "b_first.csv", age_s=200)
    put(demo, drop, "a_second.csv", age_s=100)
    results = settled_scan(drop, ingest_one)
    assert [r.path.name for r in results] == ["b_first.csv", "a_second.csv"]


def test_watch_handles_a_file_and_stops_promptly(drop, demo, ingest_one):
    target = put(demo, drop, age_s=100)
    results = []
    stop = threading.Event()
    worker = threading.Thread(
        target=watch,
        args=(drop,),
        kwargs={
            "ingest_one": ingest_one, "settle_s": 0.05, "poll_s": 0.05, "stop": stop,
            "on_result": results.append,
        },
        daemon=True,
    )  # fmt: skip
    worker.start()
    deadline = time.monotonic() + 30
    while not results and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(timeout=2)
    assert not worker.is_alive()
    [result] = results
    assert result.ok and not target.exists()
    assert (drop / FAILED).is_dir() and (drop / PROCESSED).is_dir()


def test_watch_refuses_a_folder_that_is_not_there(tmp_path, ingest_one):
    with pytest.raises(LayersError, match="does not exist"):
        watch(tmp_path / "nowhere", ingest_one=ingest_one)
    (tmp_path / "file").write_text("")
    with pytest.raises(LayersError, match="is not a directory"):
        watch(tmp_path / "file", ingest_one=ingest_one)


def test_an_unreachable_database_leaves_the_file_for_the_next_pass(drop, demo, ingest_one):
    def down(path):
        raise DatabaseUnavailable("Cannot reach the PostGIS database at postgresql://x: refused")

    path = drop / "later.csv"
    path.write_bytes(demo.incident_paths[0].read_bytes())
    old = time.time() - 60
    os.utime(path, (old, old))
    assert scan(drop, ingest_one=down, settle_s=1.0) == []
    assert path.exists()
    assert not (drop / FAILED).exists() or not list((drop / FAILED).iterdir())
    results = scan(drop, ingest_one=ingest_one, settle_s=1.0)
    assert [r.ok for r in results] == [True] and not path.exists()
