"""Issue 5, point 7: the live page under load, real browsers watching while incidents arrive.

    .venv/bin/python bench/live_load.py [--viewers 20] [--duration 300] [--rate 10]
        [--refresh 5] [--seed-incidents 20000] [--port 0] [--grace 2] [--tail 60] [--pin]
        [--replicas 1] [--out live_load]

A fresh database (``incident_map_load_<random>`` on the local PostgreSQL, dropped at the end)
is seeded with the synthetic demo (``generate_demo`` + ``ingest_postgis``), and
``streamlit run dashboard.py -- --postgis URL --refresh R --tiles none`` serves it. One
Debian Chromium holds ``--viewers`` browser contexts, each its own Streamlit session on the
live page. In every page a 100 ms sampler notes each change of the "Incidents" metric, the
"Data read" caption (with the metric's "N new since" delta), exceptions, error alerts,
unexpected warnings and the connection badge, stamped with the wall clock; the script drains
those logs every 0.5 s (one
``page.evaluate`` per page). ``window.__loadMarker`` is set once: if it is gone, the page
reloaded. While the pages watch, a thread inserts ``--rate`` rows a second for
``--duration`` seconds, one parameterised INSERT per transaction into
``incident_map.incidents`` (points of seeded incidents inside the boundaries,
``occurred_at = now()``; the trigger fills precinct, ward and seq), noting when each
commit started and returned.

Checks (exit code 1 if any fails):

- every viewer's metric reaches the final database count within ``--refresh`` +
  ``--grace`` seconds of the last insert, and still shows it at the end;
- no viewer's metric ever exceeds the database count at that moment (rows whose INSERT had
  started by then) or goes down;
- no viewer shows an exception, an error alert or a warning other than the synthetic-data
  banner, loses its connection or reloads;
- the largest gap between two "Data read" changes is at most ``--refresh`` + ``--grace``.

Reported: the gaps between "Data read" changes (p50/p95/max over all viewers, from the
first insert to the end); the lag from an insert's commit to the first moment a viewer's
metric counts it (p50/p95/max over every row and viewer: exact per row, since the store is
read in commit order, to the sampler's 100 ms); how old the data of each update is when it
appears (its count includes row k but not row k + 1: it was read before k + 1 committed;
p50/p95, and how many updates showed data older than ``--refresh``); how old the "Last
updated HH:MM:SS" a page states already is when it appears (p50/max); the live store's
database reads per viewer and interval (pg_stat_database transactions less the inserts; a
refresh that finds another under way reads nothing); the streamlit process's CPU (share of
one core over the insert phase, from /proc/PID/stat; and per caption update seen) and peak
RSS (VmHWM), with the browser's and the whole machine's CPU for context. ``--pin`` puts the
server on CPU 0 and the browser on CPU 1, to tell a slow server from a starved one.

``--replicas N`` (N > 1) serves the page from N streamlit processes behind nginx
(``replicas.py``, as ``scripts/serve --replicas N`` does; its run folder, with each replica's
log, is bench/results/OUT_replicas/): the viewers go through nginx, which spreads new ones
round robin and keeps each on its replica. The server's CPU and RSS are then the sums over
the replicas (nginx left out), and the run also reports which viewers landed on which
replica, with each replica's CPU and peak RSS. With ``--pin`` every replica shares CPU 0.

Prints a table and writes bench/results/live_load.csv (also appended to
live_load_history.csv), per-viewer figures in live_load_viewers.csv, a per-second timeline
(inserts, database count, viewers' lowest and highest count, server CPU and RSS) in
live_load_timeline.csv and every viewer's raw change log in live_load_logs.json. The
``code`` column is the commit the server ran ("+dirty": dashboard.py or layers/ edited).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import RESULTS

from layers.livefeed.postgis import SCHEMA, connect, ingest_postgis, init_db
from layers.storage.demo import generate_demo

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# As in tests/test_browser.py: Chromium as root in a container, without its own calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ADMIN_URL = os.environ.get("POSTGIS_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
OUTSIDE = "Outside boundaries"
LOCAL_ZONE = ZoneInfo("Africa/Johannesburg")  # dashboard.LOCAL_ZONE: its captions' clock
POLL_S = 0.5
SAMPLE_MS = 100
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Installed once per page: samples what the viewer sees every SAMPLE_MS and logs each change.
SAMPLER_JS = """(ms) => {
  if (window.__lb) return false;
  window.__loadMarker = 1;
  const lb = {log: [], last: ""};
  window.__lb = lb;
  // The "Incidents" metric by its label: while Streamlit swaps elements the first
  // stMetricValue on the page can briefly be another metric.
  const incidents = () => [...document.querySelectorAll('[data-testid="stMetric"]')]
    .filter((e) => e.querySelector('[data-testid="stMetricLabel"]')?.textContent.trim()
      === "Incidents")[0] || null;
  const texts = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
  const tick = () => {
    const box = incidents();
    const metric = box && box.querySelector('[data-testid="stMetricValue"]');
    // "N new since HH:MM" is the metric's delta; "Data read HH:MM:SS." opens a caption.
    const delta = box && box.querySelector('[data-testid="stMetricDelta"]');
    const read = texts('[data-testid="stCaptionContainer"]')
      .find((t) => t.startsWith("Data read"));
    const caption = read === undefined ? null
      : `${read.split(".")[0]}. ${delta ? delta.textContent.trim() : ""}`;
    const conn = document.querySelector('[data-testid="stConnectionStatus"]');
    const state = [
      metric ? metric.textContent.trim() : null,
      caption,
      document.querySelectorAll('[data-testid="stException"]').length,
      texts('[data-testid="stAlertContentError"]'),
      texts('[data-testid="stAlertContentWarning"]')
        .filter((t) => !t.startsWith("SYNTHETIC DEMO DATA")),
      conn ? conn.textContent.trim() || "?" : null,
    ];
    const key = JSON.stringify(state);
    if (key !== lb.last) {
      lb.last = key;
      lb.log.push([Date.now() / 1000, ...state]);
    }
  };
  tick();
  lb.timer = setInterval(tick, ms);
  return true;
}"""
DRAIN_JS = """() => {
  if (!window.__loadMarker || !window.__lb) return null;
  const out = window.__lb.log;
  window.__lb.log = [];
  return out;
}"""
READY_JS = """() => {
  const m = document.querySelector('[data-testid="stMetricValue"]');
  const c = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .some((e) => e.textContent.trim().startsWith("Data read"));
  return Boolean(m && /\\d/.test(m.textContent) && c);
}"""


# -- database -----------------------------------------------------------------------------


def ingested_stamps(url: str) -> np.ndarray:
    """When each incident now in the store was first stored (epoch seconds), by ``seq``."""
    with connect(url) as conn:
        rows = conn.execute(
            f"SELECT extract(epoch FROM ingested_at) FROM {SCHEMA}.incidents ORDER BY seq"
        ).fetchall()
    return np.array([float(r[0]) for r in rows])


def create_database() -> tuple[str, str]:
    """A new empty database on the local server: (its name, its URL)."""
    import psycopg

    name = f"incident_map_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, urlunsplit(urlsplit(ADMIN_URL)._replace(path=f"/{name}"))


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, incidents: int, folder: Path) -> int:
    """The demo set ingested into ``url``; returns the stored count."""
    manifest = generate_demo(folder / "demo", incidents=incidents)
    init_db(url)
    report = ingest_postgis(
        url,
        manifest.incident_paths,
        precincts=manifest.precincts_path,
        wards=manifest.wards_path,
        synthetic=True,
    )
    return report.total_incidents


def db_count(url: str) -> int:
    with connect(url) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {SCHEMA}.incidents").fetchone()[0])


def transactions(url: str) -> int:
    """Transactions ended in the database so far (pg_stat_database): each dashboard refresh
    is one (the live store's read), so with the inserter's known count this counts the
    refreshes the server ran."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return int(row[0])


def templates(url: str, n: int = 2000) -> list[tuple]:
    """Seeded (agency, category, collaboration_area, lon, lat) inside both boundary layers."""
    with connect(url) as conn:
        return conn.execute(
            f"SELECT agency, category, collaboration_area, lon, lat FROM {SCHEMA}.incidents "
            "WHERE precinct <> %s AND ward <> %s ORDER BY random() LIMIT %s",
            (OUTSIDE, OUTSIDE, n),
        ).fetchall()


class Inserter(threading.Thread):
    """Inserts ``rate`` rows a second, one per transaction, for ``duration`` seconds, noting
    when each INSERT started and when its commit returned (wall clock)."""

    def __init__(self, url: str, rate: float, duration: float, rows: list[tuple]) -> None:
        super().__init__(name="inserter", daemon=True)
        self.url, self.rate, self.duration, self.rows = url, rate, duration, rows
        self.starts: list[float] = []
        self.commits: list[float] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.tag = uuid.uuid4().hex[:6]

    def run(self) -> None:
        sql = (
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
            "collaboration_area, occurred_at, lon, lat) VALUES (%s, %s, %s, %s, now(), %s, %s)"
        )
        try:
            with connect(self.url) as conn:
                begin = time.perf_counter()
                total = round(self.rate * self.duration)
                for k in range(total):
                    due = begin + k / self.rate
                    while (wait := due - time.perf_counter()) > 0:
                        if self.stop.wait(wait):
                            return
                    if self.stop.is_set():
                        return
                    agency, category, area, lon, lat = self.rows[k % len(self.rows)]
                    self.starts.append(time.time())
                    conn.execute(sql, (agency, f"LOAD-{self.tag}-{k}", category, area, lon, lat))
                    conn.commit()
                    self.commits.append(time.time())
        except BaseException as err:  # reported by the main thread
            self.error = err


# -- server -------------------------------------------------------------------------------


def code_version() -> str:
    """The commit the server runs, "+dirty" when dashboard.py or layers/ differ from it."""

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "dashboard.py", "layers")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    options: list[str], port: int, log: Path, *, pin: bool = False
) -> subprocess.Popen:
    """``streamlit run server.py -- OPTIONS`` (the dashboard, as ``scripts/dashboard`` serves
    it) on ``port``, once it answers (the publish bench starts its dashboard with this too)."""
    command = [
        *(["taskset", "-c", "0"] if pin else []),
        str(ROOT / ".venv" / "bin" / "streamlit"), "run", "server.py",
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1",
        # Others may edit dashboard.py during a run: no "source file changed" mid-benchmark.
        "--server.fileWatcherType", "none",
        "--", *options,
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/_stcore/health", timeout=2
            ) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer in 90 s: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def start_replicas(
    options: list[str], port: int, replicas: int, log: Path, run_dir: Path, *, pin: bool = False
) -> tuple[subprocess.Popen, dict[str, int]]:
    """``scripts/serve --replicas N`` (replicas.py: N streamlit processes behind nginx on
    ``port``), once nginx serves: the serve process and each replica's process id."""
    shutil.rmtree(run_dir, ignore_errors=True)  # the last run's logs
    command = [
        *(["taskset", "-c", "0"] if pin else []),
        sys.executable, str(ROOT / "replicas.py"), "--replicas", str(replicas),
        "--port", str(port), "--address", "127.0.0.1", "--first-replica-port", "0",
        "--run-dir", str(run_dir), "--", *options,
    ]  # fmt: skip
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 90 + 30 * replicas
    while "behind nginx at" not in log.read_text():
        if proc.poll() is not None:
            raise RuntimeError(f"scripts/serve exited: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"scripts/serve did not serve in time: {log.read_text()[-3000:]}")
        time.sleep(0.5)
    state = json.loads((run_dir / "replicas.json").read_text())
    return proc, {name: r["pid"] for name, r in state["replicas"].items()}


# -- resources ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def descendants(root: int, skip: set[int]) -> list[int]:
    """Processes below ``root`` (from /proc), leaving out ``skip`` and what is below them."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def machine_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


# -- viewers ------------------------------------------------------------------------------


@dataclass
class Viewer:
    index: int
    page: object = None
    log: list[list] = field(default_factory=list)  # [t, metric, caption, exc, err, warn, conn]
    reloads: int = 0
    poll_errors: list[str] = field(default_factory=list)
    replica: str | None = None  # the replica nginx pinned it to (--replicas N > 1)


async def open_viewer(browser, url: str, viewer: Viewer, gate: asyncio.Semaphore) -> None:
    async with gate:
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        viewer.page = await context.new_page()
        await viewer.page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        await viewer.page.wait_for_function(READY_JS, timeout=180_000, polling=250)
        await viewer.page.evaluate(SAMPLER_JS, SAMPLE_MS)
        cookies = {c["name"]: c["value"] for c in await context.cookies()}
        viewer.replica = cookies.get("replica")


async def drain(viewer: Viewer) -> None:
    try:
        out = await viewer.page.evaluate(DRAIN_JS)
    except Exception as err:  # page crashed or navigating: a reload, as far as we know
        viewer.poll_errors.append(str(err).splitlines()[0])
        out = None
    if out is None:
        viewer.reloads += 1
        with contextlib.suppress(Exception):
            await viewer.page.wait_for_function(READY_JS, timeout=60_000, polling=250)
            await viewer.page.evaluate(SAMPLER_JS, SAMPLE_MS)
        return
    viewer.log.extend(out)


class ServerGone(RuntimeError):
    """The streamlit process exited during the run."""


async def watch(server: subprocess.Popen, viewers: list[Viewer], until: float) -> None:
    while time.time() < until:
        if server.poll() is not None:
            raise ServerGone(
                f"streamlit exited with code {server.returncode} at "
                f"{time.strftime('%H:%M:%S')} (negative: killed by that signal)"
            )
        tick = time.monotonic()
        await asyncio.gather(*(drain(v) for v in viewers))
        await asyncio.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))


class Resources(threading.Thread):
    """Per-second samples of the server's CPU and RSS (summed over its processes)."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(name="resources", daemon=True)
        self.pids = pids
        self.samples: list[tuple[float, float, float]] = []  # (time, cpu s, rss MB)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append((
                time.time(),
                sum(cpu_seconds(p) for p in self.pids),
                sum(memory_mb(p)[0] for p in self.pids),
            ))  # fmt: skip


def latest(viewer: Viewer) -> int | None:
    """The count the viewer shows now (as of the last drain)."""
    return next((v for r in reversed(viewer.log) if (v := metric_value(r[1])) is not None), None)


async def drive(
    args: argparse.Namespace, url: str, server: subprocess.Popen, processes: dict[str, int]
) -> dict:
    """Viewers, inserts and measurements; ``processes`` are the server's streamlit processes
    by name (one, or each replica's)."""
    from playwright.async_api import async_playwright

    page_url = f"http://127.0.0.1:{args.port}"
    viewers = [Viewer(i) for i in range(args.viewers)]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            started = time.monotonic()
            gate = asyncio.Semaphore(4)
            await asyncio.gather(*(open_viewer(browser, page_url, v, gate) for v in viewers))
            print(f"{args.viewers} viewers ready in {time.monotonic() - started:.0f} s")
            # A refresh interval for every page's auto-rerun timer to get going.
            await watch(server, viewers, time.time() + args.refresh + 1)
            initial = db_count(url)
            inserter = Inserter(url, args.rate, args.duration, templates(url))
            resources = Resources(list(processes.values()))
            skip = {server.pid}
            browser_pids = descendants(os.getpid(), skip)
            each0 = {name: cpu_seconds(pid) for name, pid in processes.items()}
            cpu0 = (sum(each0.values()), sum(cpu_seconds(p) for p in browser_pids))
            machine0, wall0 = machine_times(), time.time()
            xacts0 = transactions(url)
            resources.start()
            inserter.start()
            insert_start = time.time()
            await watch(server, viewers, insert_start + args.duration + 0.2)
            while inserter.is_alive():
                await watch(server, viewers, time.time() + POLL_S)
            insert_end = max(inserter.commits, default=insert_start)
            browser_pids = descendants(os.getpid(), skip)
            each1 = {name: cpu_seconds(pid) for name, pid in processes.items()}
            cpu1 = (sum(each1.values()), sum(cpu_seconds(p) for p in browser_pids))
            machine1, wall1 = machine_times(), time.time()
            xacts1 = transactions(url)
            final = db_count(url)
            # Watch for one interval and the grace, then as long again, then on until every
            # viewer shows the final count (at most --tail s after the last insert): a late
            # viewer fails the check either way, but the table says how late.
            await watch(server, viewers, insert_end + 2 * (args.refresh + args.grace))
            while time.time() < insert_end + args.tail and not all(
                latest(v) == final for v in viewers
            ):
                await watch(server, viewers, time.time() + POLL_S)
            resources.stop.set()
            if inserter.error is not None:
                raise RuntimeError(f"inserter failed: {inserter.error!r}")
        finally:
            await browser.close()
    return {
        "viewers": viewers,
        "initial": initial,
        "final": final,
        "starts": np.array(inserter.starts),
        "commits": np.array(inserter.commits),
        "insert_start": insert_start,
        "insert_end": insert_end,
        "server_cpu_s": cpu1[0] - cpu0[0],
        "browser_cpu_s": cpu1[1] - cpu0[1],
        "machine": (machine1[0] - machine0[0], machine1[1] - machine0[1]),
        "wall": wall1 - wall0,
        "resources": resources.samples,
        "peak_rss_mb": sum(memory_mb(pid)[1] for pid in processes.values()),
        "process_cpu_s": {name: each1[name] - each0[name] for name in processes},
        "process_peak_rss_mb": {name: memory_mb(pid)[1] for name, pid in processes.items()},
        # Transactions less the inserts and the count query that opens the window: the live
        # store's reads (a refresh that finds another under way reads nothing).
        "server_refreshes": xacts1 - xacts0 - len(inserter.commits) - 1,
    }


# -- analysis -----------------------------------------------------------------------------


def metric_value(text: str | None) -> int | None:
    digits = "".join(ch for ch in text or "" if ch.isdigit())
    return int(digits) if digits else None


def new_since(caption: str | None) -> tuple[int, str] | None:
    """N and HH:MM of "Data read HH:MM:SS. N new since HH:MM" (the metric's delta)."""
    if not caption or " new since " not in caption:
        return None
    head, _, minute = caption.partition(" new since ")
    n = metric_value(head.rsplit(".", 1)[-1])
    return None if n is None else (n, minute.strip())


def stored_since(stamps: np.ndarray, shown: int, minute: str, sampled: float) -> int:
    """Of the first ``shown`` incidents in commit order (``stamps``: when each was first
    stored), those stored at or after ``minute`` (HH:MM, the dashboard's zone) of the day
    ``sampled`` falls on: what "N new since HH:MM" beside that count must say."""
    seen = datetime.fromtimestamp(sampled, LOCAL_ZONE)
    hour, _, mins = minute.partition(":")
    start = seen.replace(hour=int(hour), minute=int(mins), second=0, microsecond=0)
    if start > seen:
        start -= timedelta(days=1)
    return int((stamps[:shown] >= start.timestamp()).sum())


def stated_age(sampled: float, caption: str) -> float | None:
    """Seconds between the "Data read HH:MM:SS" a caption states (the dashboard's local
    zone) and the moment it was first on screen: how stale the page's own claim is."""
    try:
        stated = datetime.strptime(caption.split(".")[0], "Data read %H:%M:%S").time()
    except ValueError:
        return None
    seen = datetime.fromtimestamp(sampled, LOCAL_ZONE)
    age = (seen - seen.replace(hour=stated.hour, minute=stated.minute, second=stated.second,
                               microsecond=0)).total_seconds()  # fmt: skip
    return age if -43_200 < age < 43_200 else None


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def analyse(run: dict, args: argparse.Namespace) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    initial, final = run["initial"], run["final"]
    starts, commits = run["starts"], run["commits"]
    t0, t_end = run["insert_start"], run["insert_end"]
    deadline = t_end + args.refresh + args.grace
    rows, all_gaps, all_lags, all_ages, data_ages = [], [], [], [], []
    updates = 0  # caption changes during the inserts, all viewers: the fragment runs seen
    for viewer in run["viewers"]:
        log = viewer.log
        times = np.array([r[0] for r in log])
        counts = [metric_value(r[1]) for r in log]
        seen = [(t, c) for t, c in zip(times, counts, strict=True) if c is not None]
        down = sum(1 for (_, a), (_, b) in itertools.pairwise(seen) if b < a)
        # The database count at t is at most the rows whose INSERT had started by then.
        over = sum(1 for t, c in seen if c > initial + np.searchsorted(starts, t, side="right"))
        reached = next((t for t, c in seen if c >= final), None)
        last = seen[-1][1] if seen else None
        # Lag of row k (count initial + k): the first sample counting it minus its commit.
        s_times = np.array([t for t, _ in seen])
        s_max = np.maximum.accumulate(np.array([c for _, c in seen])) if seen else np.array([])
        need = initial + np.arange(1, len(commits) + 1)
        where = np.searchsorted(s_max, need, side="left")
        found = where < len(s_max)
        lags = s_times[where[found]] - commits[found]
        all_lags.append(lags)
        # Caption changes from the first insert on.
        captions, changes, previous = [], [], None
        for r in log:
            if r[2] is not None and r[2] != previous:
                previous = r[2]
                captions.append(r)
                if r[0] >= t0:
                    changes.append(r[0])
        gaps = np.diff(changes)
        updates += sum(1 for t in changes if t <= t_end)
        all_gaps.append(gaps)
        # How old the data of each update is when it appears: its count includes row k but
        # not row k + 1, so it was read before row k + 1 committed (0 if it had all rows).
        for r in captions:
            k = (metric_value(r[1]) or 0) - initial
            if t0 <= r[0] <= t_end and 0 <= k < len(commits):
                data_ages.append(max(0.0, r[0] - commits[k]))
        ages = [stated_age(r[0], r[2]) for r in captions if r[0] >= t0]
        all_ages.append(np.array([a for a in ages if a is not None]))
        # "N new since": compared with the metric where both held still for a second.
        mismatch, examples = 0, []
        for r, nxt in zip(log, [*log[1:], None], strict=True):
            held = (nxt[0] if nxt else time.time()) - r[0]
            said, c = new_since(r[2]), metric_value(r[1])
            if held < 1.0 or said is None or c is None:
                continue
            n, minute = said
            if n != stored_since(run["stamps"], c, minute, r[0]):
                mismatch += 1
                examples.append(f"metric {r[1]} with {r[2]!r} for {held:.1f} s")
        exceptions = max((r[3] for r in log), default=0)
        errors = sorted({t for r in log for t in r[4]})
        warnings = sorted({t for r in log for t in r[5]})
        offline = sorted({r[6] for r in log if r[6]})
        rows.append({
            "viewer": viewer.index,
            "final_count": last,
            "reached_final_s": round(reached - t_end, 2) if reached is not None else None,
            "ok_final": last == final and reached is not None and reached <= deadline,
            "went_down": down,
            "above_db": over,
            "rows_never_seen": int((~found).sum()),
            "updates": len(changes),
            "gap_p50_s": round(pct(gaps, 50), 2),
            "gap_max_s": round(float(gaps.max()), 2) if len(gaps) else None,
            "lag_p50_s": round(pct(lags, 50), 2),
            "lag_max_s": round(float(lags.max()), 2) if len(lags) else None,
            "exceptions": exceptions,
            "error_alerts": len(errors),
            "warnings": len(warnings),
            "connection_lost": len(offline),
            "reloads": viewer.reloads,
            "new_since_mismatch": mismatch,
            "messages": " | ".join(
                [*errors, *warnings, *offline, *viewer.poll_errors, *examples[:3]]
            )[:1000],
        })  # fmt: skip
    per_viewer = pd.DataFrame(rows)
    if args.replicas > 1:
        per_viewer.insert(1, "replica", [v.replica for v in run["viewers"]])
    gaps, lags = np.concatenate(all_gaps), np.concatenate(all_lags)
    ages = np.concatenate(all_ages)
    busy, total = run["machine"]
    errors = int(
        (per_viewer[["exceptions", "error_alerts", "warnings", "connection_lost"]] > 0)
        .any(axis=1)
        .sum()
    )
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "code": run["code"],
        "out": args.out,
        "viewers": args.viewers,
        "duration_s": args.duration,
        "rate_per_s": args.rate,
        "refresh_s": args.refresh,
        "seed_incidents": initial,
        "inserted": len(commits),
        "achieved_rate_per_s": round(len(commits) / max(t_end - t0, 1e-9), 2),
        "final_db_count": final,
        "viewers_final_ok": f"{int(per_viewer['ok_final'].sum())}/{args.viewers}",
        "viewers_reached_final_max_s": per_viewer["reached_final_s"].max(),
        "count_went_down": int(per_viewer["went_down"].sum()),
        "count_above_db": int(per_viewer["above_db"].sum()),
        "viewers_with_errors": errors,
        "reloads": int(per_viewer["reloads"].sum()),
        "new_since_mismatch": int(per_viewer["new_since_mismatch"].sum()),
        "refresh_gap_p50_s": round(pct(gaps, 50), 2),
        "refresh_gap_p95_s": round(pct(gaps, 95), 2),
        "refresh_gap_max_s": round(float(gaps.max()), 2) if len(gaps) else None,
        "lag_p50_s": round(pct(lags, 50), 2),
        "lag_p95_s": round(pct(lags, 95), 2),
        "lag_max_s": round(float(lags.max()), 2) if len(lags) else None,
        "data_age_p50_s": round(pct(np.array(data_ages), 50), 2),
        "data_age_p95_s": round(pct(np.array(data_ages), 95), 2),
        "updates_over_refresh_old": f"{sum(a > args.refresh for a in data_ages)}/{len(data_ages)}",
        "stated_age_p50_s": round(pct(ages, 50), 2),
        "stated_age_max_s": round(float(ages.max()), 2) if len(ages) else None,
        "db_reads": run["server_refreshes"],
        "db_reads_per_viewer_interval": round(
            run["server_refreshes"] / (args.viewers * max(t_end - t0, 1e-9) / args.refresh), 2
        ),
        "server_cpu_s_per_update": round(run["server_cpu_s"] / max(updates, 1), 3),
        "server_cpu_pct": round(100 * run["server_cpu_s"] / run["wall"], 1),
        "server_peak_rss_mb": round(run["peak_rss_mb"], 1),
        "server_rss_start_mb": round(run["resources"][0][2], 1) if run["resources"] else None,
        "server_rss_end_mb": round(run["resources"][-1][2], 1) if run["resources"] else None,
        "browser_cpu_pct": round(100 * run["browser_cpu_s"] / run["wall"], 1),
        "machine_busy_pct": round(100 * busy / total, 1) if total else None,
        "pinned": args.pin,
    }
    if args.replicas > 1:
        summary.update(replica_summary(run, per_viewer))
    timeline = make_timeline(run, t0)
    return summary, per_viewer, timeline


def replica_summary(run: dict, per_viewer: pd.DataFrame) -> dict:
    """Where the viewers landed, and each replica's share of a core and peak RSS."""
    landed = per_viewer.groupby("replica", dropna=False)["viewer"].apply(list)
    names = sorted(run["process_cpu_s"], key=lambda n: int(n[1:]))
    return {
        "replicas": len(names),
        "viewers_per_replica": " ".join(f"{n}:{len(landed.get(n, []))}" for n in names),
        "replica_viewers": " ".join(
            f"{n}={','.join(map(str, landed.get(n, []))) or '-'}" for n in names
        ),
        "replica_cpu_pct": " ".join(
            f"{n}:{100 * run['process_cpu_s'][n] / run['wall']:.1f}" for n in names
        ),
        "replica_peak_rss_mb": " ".join(f"{n}:{run['process_peak_rss_mb'][n]:.0f}" for n in names),
    }


def make_timeline(run: dict, t0: float) -> pd.DataFrame:
    """Per second from the first insert: inserts, DB count, viewers' counts, server CPU/RSS."""
    commits, initial = run["commits"], run["initial"]
    end = int(max(run["insert_end"], *(v.log[-1][0] for v in run["viewers"] if v.log)) - t0) + 1
    seconds = np.arange(end + 1)
    stamps = t0 + seconds + 1.0  # end of each second
    out = pd.DataFrame({"second": seconds})
    out["inserted"] = np.bincount(((commits - t0) // 1).astype(int), minlength=end + 1)[: end + 1]
    out["db_count"] = initial + np.searchsorted(commits, stamps, side="right")
    shown = []
    for viewer in run["viewers"]:
        seen = [(r[0], metric_value(r[1])) for r in viewer.log if metric_value(r[1]) is not None]
        if not seen:
            shown.append(np.full(len(stamps), -1))
            continue
        times = np.array([t for t, _ in seen])
        values = np.array([c for _, c in seen])
        idx = np.searchsorted(times, stamps, side="right") - 1
        shown.append(np.where(idx >= 0, values[np.clip(idx, 0, None)], -1))
    shown = np.array(shown)
    out["viewer_min"] = shown.min(axis=0)
    out["viewer_max"] = shown.max(axis=0)
    res = pd.DataFrame(run["resources"], columns=["t", "cpu_s", "rss_mb"])
    if len(res):
        res["second"] = ((res["t"] - t0) // 1).astype(int)
        res["server_cpu_pct"] = (res["cpu_s"].diff() / res["t"].diff() * 100).round(1)
        res = res.drop_duplicates("second", keep="last")
        out = out.merge(res[["second", "server_cpu_pct", "rss_mb"]], on="second", how="left")
    return out


def checks(summary: dict, per_viewer: pd.DataFrame, args: argparse.Namespace) -> list[str]:
    failed = []
    if not per_viewer["ok_final"].all():
        failed.append(
            f"only {summary['viewers_final_ok']} viewers showed the final count "
            f"{summary['final_db_count']} within {args.refresh + args.grace:g} s"
        )
    if summary["count_went_down"]:
        failed.append(f"a viewer's count went down {summary['count_went_down']} times")
    if summary["count_above_db"]:
        failed.append(f"a viewer's count exceeded the database {summary['count_above_db']} times")
    if summary["viewers_with_errors"]:
        failed.append(f"{summary['viewers_with_errors']} viewers saw an error or warning")
    if summary["reloads"]:
        failed.append(f"{summary['reloads']} page reloads")
    gap = summary["refresh_gap_max_s"]
    if gap is None or gap > args.refresh + args.grace:
        failed.append(f"largest refresh gap {gap} s > {args.refresh + args.grace:g} s")
    if summary["inserted"] < round(args.rate * args.duration):
        failed.append("the inserter did not insert every row")
    return failed


# -- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of inserts")
    parser.add_argument("--rate", type=float, default=10.0, help="inserts per second")
    parser.add_argument("--refresh", type=float, default=5.0, help="the dashboard's --refresh")
    parser.add_argument("--seed-incidents", type=int, default=20_000)
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--grace", type=float, default=2.0, help="seconds allowed on top of --refresh"
    )
    parser.add_argument(
        "--tail", type=float, default=60.0,
        help="after the last insert, watch at most this long for late viewers (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--pin", action="store_true",
        help="streamlit on CPU 0, the browser and this script on CPU 1 (needs 2 CPUs)",
    )  # fmt: skip
    parser.add_argument(
        "--replicas", type=int, default=1,
        help="streamlit processes behind nginx (scripts/serve --replicas N); 1: one streamlit, "
        "no nginx (default)",
    )  # fmt: skip
    parser.add_argument(
        "--out", default="live_load",
        help="result files bench/results/OUT.csv, OUT_viewers.csv, ... (default live_load)",
    )  # fmt: skip
    args = parser.parse_args()
    args.port = args.port or free_port()
    # A plain `kill` still cleans up: server, browser and database (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    name, url = create_database()
    server = None
    try:
        with tempfile.TemporaryDirectory(prefix="live_load_") as tmp:
            started = time.monotonic()
            seeded = seed(url, args.seed_incidents, Path(tmp))
            print(f"database {name}: {seeded:,} incidents in {time.monotonic() - started:.0f} s")
            RESULTS.mkdir(exist_ok=True)
            log = RESULTS / f"{args.out}_server.log"
            code = code_version()  # as the server starts: others may commit meanwhile
            options = ["--postgis", url, "--refresh", f"{args.refresh:g}", "--tiles", "none"]
            if args.replicas > 1:
                run_dir = RESULTS / f"{args.out}_replicas"
                server, processes = start_replicas(
                    options, args.port, args.replicas, log, run_dir, pin=args.pin
                )
                print(f"{args.replicas} replicas behind nginx: {processes}")
            else:
                server = start_server(options, args.port, log, pin=args.pin)
                processes = {"streamlit": server.pid}
            if args.pin:  # this script, its inserter and the browser on the other CPU
                os.sched_setaffinity(0, {1})
            try:
                run = asyncio.run(drive(args, url, server, processes))
                run["stamps"] = ingested_stamps(url)  # every row's, in commit (seq) order
            except ServerGone as gone:
                print(f"FAIL: {gone}; its log ({log}) ends:\n{log.read_text()[-3000:]}")
                return 1
            run["code"] = code
            summary, per_viewer, timeline = analyse(run, args)
            # What each viewer saw, for a closer look: the insert commits and every change.
            logs = {
                "initial": run["initial"],
                "commits": run["commits"].tolist(),
                "viewers": [v.log for v in run["viewers"]],
            }
            server_log = log.read_text()
            if args.replicas > 1:  # and what each replica said
                server_log += "".join(p.read_text() for p in sorted(run_dir.glob("r*.log")))
    finally:
        if server is not None:
            stop_server(server)
        drop_database(name)
    failed = checks(summary, per_viewer, args)
    summary["checks"] = "pass" if not failed else "FAIL: " + "; ".join(failed)
    RESULTS.mkdir(exist_ok=True)
    pd.DataFrame([summary]).to_csv(RESULTS / f"{args.out}.csv", index=False)
    history = RESULTS / "live_load_history.csv"
    try:
        earlier = [pd.read_csv(history)] if history.exists() else []
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        history.replace(history.with_suffix(".bad.csv"))  # unreadable: keep it aside
        earlier = []
    pd.concat([*earlier, pd.DataFrame([summary])]).to_csv(history, index=False)
    per_viewer.to_csv(RESULTS / f"{args.out}_viewers.csv", index=False)
    timeline.to_csv(RESULTS / f"{args.out}_timeline.csv", index=False)
    (RESULTS / f"{args.out}_logs.json").write_text(json.dumps(logs))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(per_viewer.drop(columns="messages").to_string(index=False))
    for viewer, messages in zip(per_viewer["viewer"], per_viewer["messages"], strict=True):
        if messages:
            print(f"viewer {viewer}: {messages}")
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {value}")
    problems = [line for line in server_log.splitlines() if "Traceback" in line or "Error" in line]
    if problems:
        print(f"server log: {len(problems)} lines with errors, e.g. {problems[:3]}")
    if summary["machine_busy_pct"] and summary["machine_busy_pct"] >= 95:
        print(
            f"note: the machine was {summary['machine_busy_pct']}% busy during the inserts "
            f"(browser {summary['browser_cpu_pct']}%, server {summary['server_cpu_pct']}% of "
            f"a core): the viewers and the server compete for {os.cpu_count()} CPUs"
        )
    if args.replicas > 1:
        for name, group in per_viewer.groupby("replica", dropna=False):
            print(f"replica {name}: viewers {', '.join(map(str, group['viewer']))}")
    print(json.dumps({"failed": failed}) if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
