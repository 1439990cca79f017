"""The project's own start-up script, as the README gives it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from conftest import ROOT
from test_browser import _free_port


def test_scripts_dashboard_takes_a_port_and_passes_the_rest_to_the_app(demo_store, tmp_path):
    port = _free_port()
    log = tmp_path / "dashboard.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "dashboard"), "--port", str(port), "--address",
             "127.0.0.1", "--store", str(demo_store), "--tiles", "none"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # scripts/setup runs first (pip, npm ci)
        healthy = False
        while time.monotonic() < deadline and proc.poll() is None and not healthy:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    healthy = r.status == 200
            except OSError:
                time.sleep(1)
        assert healthy, log.read_text()[-3000:]
        command = " ".join(Path(f"/proc/{proc.pid}/cmdline").read_text().split("\0"))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert f"--server.port {port}" in command
    assert f"-- --store {demo_store} --tiles none" in command  # the rest went to the app
