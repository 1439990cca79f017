"""A `kill -9` during ingest leaves the store as it was before or as it is after, never half
written: tested with a real subprocess killed at several moments of its run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.ingest import ingest
from layers.storage.store import current_version, open_store

# Moments (seconds after start) to kill the writer: reading, validating, joining, writing.
KILL_AFTER_S = (0.3, 0.8, 1.3, 1.8, 2.0, 2.2, 2.4, 3.0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small store, a big extract to ingest into it, and what the store holds after."""
    folder = tmp_path_factory.mktemp("durable")
    before = generate_demo(folder / "before", incidents=2000)
    after = generate_demo(folder / "after", incidents=60_000, seed=7)
    build_demo_store(folder / "template", before)
    finished = folder / "finished"
    shutil.copytree(folder / "template", finished)
    ingest(finished, after.incident_paths)
    return before, after, folder / "template", keys(finished)


def keys(store) -> set[tuple[str, str]]:
    frame = open_store(store).incidents
    return set(zip(frame["agency"].astype(str), frame["incident_id"].astype(str), strict=True))


@pytest.mark.parametrize("kill_after", KILL_AFTER_S)
def test_kill_minus_nine_leaves_the_old_or_the_new_store(tmp_path, demo, kill_after):
    before, after, template, new_keys = demo
    store = tmp_path / "store"
    shutil.copytree(template, store)
    old_version, old_keys = current_version(store), keys(store)
    proc = subprocess.Popen(
        [sys.executable, "-m", "layers", "ingest", "--store", str(store),
         *map(str, after.incident_paths)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    time.sleep(kill_after)
    finished = proc.poll() is not None
    if not finished:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    version = current_version(store)
    snapshot = open_store(store)  # opens, whatever moment the writer died at
    assert snapshot.version == version
    now_keys = keys(store)
    # Exactly the old store, or exactly what a finished ingest gives: nothing in between.
    assert now_keys == (old_keys if version == old_version else new_keys)
    # The store still takes writes: no lock or staging left in the way.
    report = subprocess.run(
        [sys.executable, "-m", "layers", "ingest", "--store", str(store),
         str(before.incident_paths[0])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
