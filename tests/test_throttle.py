"""The sign-in throttle holds: not reset by the app, not raced, not turned against others."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from layers.access.throttle import SignInThrottle

ROOT = Path(__file__).resolve().parent.parent


def test_after_the_free_failures_each_attempt_waits_twice_as_long(tmp_path):
    throttle = SignInThrottle(tmp_path / "t.sqlite", free=3, base_delay_s=10, max_delay_s=60)
    for t in range(3):
        assert throttle.attempt("bob", "10.0.0.1", now=float(t)).allowed
    verdict = throttle.attempt("bob", "10.0.0.2", now=2.0)
    assert not verdict.allowed and verdict.wait_s == pytest.approx(10.0)
    assert throttle.attempt("bob", "10.0.0.2", now=12.5).allowed  # 4th counted
    assert throttle.attempt("bob", "10.0.0.3", now=13.0).wait_s == pytest.approx(19.5)  # 20 s
    assert throttle.attempt("bob", "10.0.0.3", now=33.0).allowed  # 5th
    assert throttle.attempt("bob", "10.0.0.4", now=34.0).wait_s == pytest.approx(39.0)  # 40 s
    assert throttle.attempt("bob", "10.0.0.4", now=73.0).allowed  # 6th
    assert throttle.attempt("bob", "10.0.0.5", now=74.0).wait_s == pytest.approx(59.0)  # capped
    throttle.succeeded("bob", "10.0.0.5")
    assert throttle.failures("name:bob") == 0
    assert throttle.attempt("bob", "10.0.0.6", now=75.0).allowed


def test_the_counts_outlive_the_object_that_made_them(tmp_path):
    """What Streamlit's clear-cache message wiped before: a new throttle object (a cleared
    cache, a restarted app, another process) reads the same counts."""
    first = SignInThrottle(tmp_path / "t.sqlite", free=5)
    for _ in range(5):
        assert first.attempt("bob", "a").allowed
    again = SignInThrottle(tmp_path / "t.sqlite", free=5)
    assert not again.attempt("bob", "b").allowed
    assert again.failures("name:bob") == 5


def test_twelve_attempts_at_the_same_moment_check_only_five_passwords(tmp_path):
    throttle = SignInThrottle(tmp_path / "t.sqlite", free=5, base_delay_s=60)
    start = threading.Barrier(12)
    allowed: list[bool] = []
    errors: list[BaseException] = []

    def tab(i: int) -> None:
        mine = SignInThrottle(tmp_path / "t.sqlite", free=5, base_delay_s=60)
        start.wait()
        try:
            allowed.append(mine.attempt("bob", f"10.0.0.{i}").allowed)
        except BaseException as err:  # surfaced below: a thread's error would be lost
            errors.append(err)

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(allowed) == [False] * 7 + [True] * 5
    assert throttle.failures("name:bob") == 5


ATTEMPT = """
import sys, time
from layers.access.throttle import SignInThrottle
throttle = SignInThrottle(sys.argv[1], free=5, base_delay_s=60)
time.sleep(max(float(sys.argv[3]) - time.time(), 0))  # all start together
print(throttle.attempt("bob", sys.argv[2]).allowed)
"""


def test_processes_racing_are_counted_one_by_one(tmp_path):
    """Several dashboard processes behind one proxy share the file."""
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ATTEMPT, str(tmp_path / "t.sqlite"), f"p{i}", str(start)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(out.strip())
    assert results.count("True") == 5 and results.count("False") == 3


def test_a_flood_of_made_up_names_slows_its_own_address_and_nobody_else(tmp_path):
    throttle = SignInThrottle(tmp_path / "t.sqlite", free=5, base_delay_s=60)
    # One stranger: 53 made-up names from one address.
    seen = [throttle.attempt(f"made-up-{n}", "203.0.113.9", now=float(n)).allowed
            for n in range(53)]  # fmt: skip
    assert seen[:5] == [True] * 5 and not any(seen[5:])
    # Many strangers: a different address for each made-up name.
    for n in range(60):
        assert throttle.attempt(f"other-{n}", f"198.51.100.{n}", now=100.0).allowed
    # The analyst, from their own address, is not paused by any of it.
    assert throttle.attempt("analyst", "192.0.2.10", now=101.0).allowed
