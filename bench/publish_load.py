"""The published public site under load from nginx, against the Streamlit public page.

    .venv/bin/python bench/publish_load.py [--site DIR [--store STORE] | --work DIR]
        [--incidents 50000] [--clients 1000] [--views 5] [--duration 120] [--viewers 20]
        [--skip-browser] [--skip-streamlit]

The site: ``--site`` (a published folder or link), or the synthetic demo of ``--incidents``
incidents generated, stored and published (``today`` 2026-12-05: months 2025-11 to 2026-10)
into ``--work`` (a temporary folder by default; an existing one is reused). nginx serves it
through ``tests/site_server.serve_site`` (``scripts/serve-site``: gzip on the fly, level 5).

1. nginx, HTTP: an asyncio HTTP/1.1 client (plain streams) sends ``Accept-Encoding: gzip``.
   A *page view* is what a first-time visitor's browser fetches: ``index.html``,
   ``vendor/leaflet.js``, ``vendor/leaflet.css``, ``manifest.json``, ``precincts.geojson``
   and the latest month's "all" view, one after another on one new keep-alive connection
   (a browser would open a few in parallel; this is the slower, simpler pattern). First one
   client alone (``--baseline`` page views: the unloaded latency), then ``--clients``
   clients at once, each doing ``--views`` page views back to back, stopping early after
   ``--duration`` seconds. Reported: page-view and per-request latency (p50/p95), page views
   and requests per second, errors, bytes per page view on the wire (headers and gzipped
   bodies) and uncompressed (the files), and the CPU of the client, of nginx and of the
   machine. Every body of the first page view is checked against the file on disk.
2. nginx, Chromium: ``--viewers`` fresh browser contexts (cold caches) open the site at
   once; time from navigation until the map is drawn (the page's ``data-ready``: cells added
   to the map) and bytes per page view (Chromium's own count, from the DevTools protocol).
3. Streamlit: ``streamlit run server.py -- --store STORE --tiles none
   [--public-site SITE]`` on the same store, opened as ``?view=public`` by ``--viewers``
   contexts at once (after one unmeasured view warms the server's caches). The map is drawn
   when the Leaflet map in the page has a path or canvas in its overlay pane; bytes are
   Chromium's HTTP bytes plus WebSocket payloads, counted until the network has been quiet
   for a second. The page says which view it shows: the ``view`` column reports it (the
   dashboard opens as analyst when it does not know ``?view=public``).

The machine may have only 2 CPUs: the client, nginx, Chromium and Streamlit share them, so
the load figures are a lower bound on what nginx alone would do; the CPU columns say who
was busy. Writes bench/results/publish_load.csv (one row per scenario) and
publish_load_requests.csv (latency by file), and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gzip
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_load import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CLK_TCK,
    code_version,
    cpu_seconds,
    descendants,
    free_port,
    machine_times,
    start_server,
    stop_server,
)
from site_server import serve_site
from timing import RESULTS

from layers.publishing.publish import PublishOptions, publish_site
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 12, 5)
# A page view: these, then the latest month's "all" view.
PAGE = ["index.html", "vendor/leaflet.js", "vendor/leaflet.css", "manifest.json",
        "precincts.geojson"]  # fmt: skip
KINDS = ["index.html", "leaflet.js", "leaflet.css", "manifest.json", "precincts.geojson", "view"]

# In every frame of a measured page: note (console) when a Leaflet map has its layers, once.
DRAWN_JS = """(() => {
  const condition = %s;
  const timer = setInterval(() => {
    let done = false;
    try { done = condition(); } catch (e) {}
    if (done) { clearInterval(timer); console.log("__drawn__ " + Date.now()); }
  }, 25);
})();"""
STATIC_DRAWN = "() => window === window.top && document.body?.dataset.ready === '1'"
STREAMLIT_DRAWN = (
    "() => Boolean(document.querySelector("
    "'.leaflet-overlay-pane path, .leaflet-overlay-pane canvas'))"
)
PUBLIC_MARK = "Public map"  # the public page's sidebar header (dashboard.public_page)


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


# -- the site ------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, work: Path) -> tuple[Path, Path | None]:
    """The site to serve and the store behind it (None: not known)."""
    if args.site:
        site = args.site.absolute()
        if not (site / "manifest.json").is_file():
            sys.exit(f"{site} is not a published site (no manifest.json)")
        return site, args.store
    store, site = work / "store", work / "site"
    if not (store / "CURRENT").is_file():
        started = time.monotonic()
        manifest = generate_demo(work / "files", incidents=args.incidents)
        build_demo_store(store, manifest)
        print(f"demo store of {args.incidents:,} incidents in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    report = publish_site(open_store(store), site, options=PublishOptions(today=TODAY))
    print(f"published in {time.monotonic() - started:.1f} s: {report.as_text().splitlines()[0]}")
    return site, store


# -- nginx over HTTP -----------------------------------------------------------------------


@dataclass
class Stats:
    page_ms: list[float] = field(default_factory=list)
    request_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    wire_in: int = 0
    wire_out: int = 0
    body: int = 0
    page_views: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


async def get(reader, writer, host: str, path: str) -> tuple[int, dict[str, str], bytes, int, int]:
    """One GET on an open connection: status, headers, body as sent (gzipped), bytes read
    and bytes sent."""
    request = (f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: gzip\r\n"
               "User-Agent: publish_load\r\n\r\n").encode()  # fmt: skip
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    read = len(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            read += len(size_line)
            size = int(size_line.split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            read += len(chunk)
            if size == 0:
                break
            parts.append(chunk[:-2])
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        read += len(body)
    return status, headers, body, read, len(request)


async def page_view(host: str, port: int, paths: list[str], stats: Stats, check: dict | None):
    """Connect, fetch the page's files one after another, close. ``check``: file contents to
    compare the (unzipped) bodies with."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as err:
        stats.error(f"connect: {type(err).__name__}")
        return
    ok = True
    try:
        for kind, path in zip(KINDS, paths, strict=True):
            t = time.perf_counter()
            status, headers, body, read, sent = await get(reader, writer, f"{host}:{port}", path)
            stats.request_ms[kind].append((time.perf_counter() - t) * 1000)
            stats.wire_in += read
            stats.wire_out += sent
            stats.body += len(body)
            if status != 200:
                stats.error(f"HTTP {status}")
                ok = False
                continue
            if headers.get("content-encoding") != "gzip":
                stats.error(f"not gzipped: {kind}")
            if check is not None:
                plain = gzip.decompress(body) if headers.get("content-encoding") else body
                if plain != check[path]:
                    stats.error(f"wrong body: {path}")
                    ok = False
    except (OSError, asyncio.IncompleteReadError, ValueError) as err:
        stats.error(f"{type(err).__name__}")
        ok = False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if ok:
        stats.page_ms.append((time.perf_counter() - started) * 1000)
        stats.page_views += 1


async def load(url: str, paths: list[str], clients: int, views: int, duration: float) -> Stats:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    stats = Stats()
    deadline = time.monotonic() + duration

    async def client() -> None:
        for _ in range(views):
            if time.monotonic() >= deadline:
                break
            await page_view(host, port, paths, stats, None)

    await asyncio.gather(*(client() for _ in range(clients)))
    return stats


class Cpu:
    """CPU seconds of this process, of some other processes, and of the machine."""

    def __init__(self, others: dict[str, list[int]]) -> None:
        self.others = others
        self.start = self.read()

    def read(self) -> dict[str, float]:
        times = os.times()
        out = {"client": times.user + times.system, "wall": time.monotonic()}
        for name, pids in self.others.items():
            out[name] = sum(cpu_seconds(p) for p in pids)
        busy, total = machine_times()
        out["machine_busy"], out["machine_total"] = busy, total
        return out

    def shares(self, **measured: float) -> dict[str, float]:
        """Per process group (and ``measured``: CPU seconds of groups counted elsewhere):
        percent of one CPU; ``rest``: the machine's other busy time (the kernel's network
        work, other processes) in percent of one CPU; ``machine_busy``: percent of all CPUs."""
        end = self.read()
        wall = end["wall"] - self.start["wall"]
        used = {name: end[name] - self.start[name] for name in ["client", *self.others]}
        used.update(measured)
        busy_s = (end["machine_busy"] - self.start["machine_busy"]) / CLK_TCK
        out = {f"{name}_cpu_pct": round(100 * value / wall, 0) for name, value in used.items()}
        out["rest_cpu_pct"] = round(100 * max(busy_s - sum(used.values()), 0.0) / wall, 0)
        total = end["machine_total"] - self.start["machine_total"]
        out["machine_busy_pct"] = round(
            100 * (end["machine_busy"] - self.start["machine_busy"]) / total if total else 0, 0
        )
        return out


def nginx_pids(run_dir: Path) -> list[int]:
    master = int((run_dir / "nginx.pid").read_text())
    return [master, *descendants(master, set())]


def http_row(name: str, clients: int, stats: Stats, wall: float, cpu: dict, plain: int) -> dict:
    requests = sum(len(v) for v in stats.request_ms.values())
    every = [ms for values in stats.request_ms.values() for ms in values]
    pv = max(stats.page_views, 1)
    return {
        "scenario": name,
        "clients": clients,
        "page_views": stats.page_views,
        "errors": sum(stats.errors.values()),
        "page_p50_ms": round(pct(stats.page_ms, 50), 1),
        "page_p95_ms": round(pct(stats.page_ms, 95), 1),
        "request_p50_ms": round(pct(every, 50), 2),
        "request_p95_ms": round(pct(every, 95), 2),
        "page_views_per_s": round(stats.page_views / wall, 1),
        "requests_per_s": round(requests / wall, 0),
        "wire_kb_per_view": round(stats.wire_in / pv / 1024, 1),
        "plain_kb_per_view": round(plain / 1024, 1),
        "seconds": round(wall, 1),
        **cpu,
        "notes": "; ".join(f"{k}: {v}" for k, v in stats.errors.items()),
    }


def request_rows(name: str, stats: Stats, sizes: dict[str, int]) -> list[dict]:
    return [
        {"scenario": name, "file": kind, "requests": len(values),
         "p50_ms": round(pct(values, 50), 2), "p95_ms": round(pct(values, 95), 2),
         "max_ms": round(max(values, default=float("nan")), 1), "plain_kb": sizes[kind] / 1024}
        for kind, values in stats.request_ms.items()
    ]  # fmt: skip


# -- Chromium --------------------------------------------------------------------------------


@dataclass
class Visit:
    drawn_s: float | None = None
    bytes_at_drawn: int = 0
    bytes_total: int = 0
    requests: int = 0
    ws_frames: int = 0
    view: str = ""
    error: str = ""


async def visit(browser, url: str, condition: str, timeout_s: float, contexts: list) -> Visit:
    """One cold visitor: a new context opens ``url``; when the map is drawn and how many bytes
    Chromium received (HTTP including headers, plus WebSocket payloads). The context is left
    open (in ``contexts``): its renderer's CPU time is counted before it goes."""
    out = Visit()
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    contexts.append(context)
    try:
        await context.add_init_script(DRAWN_JS % condition)
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        counted = {"bytes": 0, "last": time.monotonic()}
        drawn = asyncio.get_running_loop().create_future()

        def http_done(event: dict) -> None:
            counted["bytes"] += int(event.get("encodedDataLength", 0))
            counted["last"] = time.monotonic()
            out.requests += 1

        def frame(event: dict) -> None:
            payload = event["response"]["payloadData"]
            size = (
                len(base64.b64decode(payload))
                if event["response"]["opcode"] == 2
                else len(payload.encode())
            )
            counted["bytes"] += size
            counted["last"] = time.monotonic()
            out.ws_frames += 1

        def console(message) -> None:
            if message.text.startswith("__drawn__") and not drawn.done():
                drawn.set_result(int(message.text.split()[1]) / 1000)
                out.bytes_at_drawn = counted["bytes"]

        cdp.on("Network.loadingFinished", http_done)
        cdp.on("Network.webSocketFrameReceived", frame)
        await cdp.send("Network.enable")
        page.on("console", console)
        started = time.time()
        await page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
        at = await asyncio.wait_for(drawn, timeout_s)
        out.drawn_s = at - started
        # Then everything else the page loads: until no byte has come for a second.
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and time.monotonic() - counted["last"] < 1.0:
            await asyncio.sleep(0.1)
        out.bytes_total = counted["bytes"]
        text = await page.evaluate("() => document.body.innerText")
        out.view = "public" if PUBLIC_MARK in text else "other"
    except Exception as err:  # reported per viewer
        out.error = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return out


async def browse(
    url: str, condition: str, viewers: int, timeout_s: float, servers: set[int]
) -> tuple[list[Visit], float]:
    """``viewers`` visits at once in one Chromium; and the CPU seconds Chromium and
    Playwright's driver (every process below this one but the servers) spent on them."""
    from playwright.async_api import async_playwright

    def browser_cpu() -> dict[int, float]:
        return {p: cpu_seconds(p) for p in descendants(os.getpid(), servers)}

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts: list = []
        try:
            before = browser_cpu()
            visits = await asyncio.gather(
                *(visit(browser, url, condition, timeout_s, contexts) for _ in range(viewers))
            )
            after = browser_cpu()
            cpu = sum(after.values()) - sum(before.get(p, 0.0) for p in after)
            return list(visits), cpu
        finally:
            for context in contexts:
                with contextlib.suppress(Exception):
                    await context.close()
            await browser.close()


def browser_row(name: str, visits: list[Visit], wall: float, cpu: dict, notes: str) -> dict:
    ok = [v for v in visits if v.drawn_s is not None and not v.error]
    drawn = [v.drawn_s * 1000 for v in ok]
    views = sorted({v.view for v in ok})
    errors = [v.error for v in visits if v.error]
    return {
        "scenario": name,
        "clients": len(visits),
        "page_views": len(ok),
        "errors": len(errors),
        "page_p50_ms": round(pct(drawn, 50), 0),
        "page_p95_ms": round(pct(drawn, 95), 0),
        "wire_kb_per_view": round(float(np.mean([v.bytes_total for v in ok])) / 1024, 1)
        if ok else float("nan"),
        "kb_at_drawn": round(float(np.mean([v.bytes_at_drawn for v in ok])) / 1024, 1)
        if ok else float("nan"),
        "requests_per_view": round(float(np.mean([v.requests for v in ok])), 1) if ok else 0,
        "ws_frames_per_view": round(float(np.mean([v.ws_frames for v in ok])), 1) if ok else 0,
        "view": "+".join(views),
        "seconds": round(wall, 1),
        **cpu,
        "notes": "; ".join([notes, *sorted(set(errors))[:3]]).strip("; "),
    }  # fmt: skip


# -- the run -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a published site (default: publish the demo)")
    parser.add_argument("--store", type=Path, help="with --site: its store, for Streamlit")
    parser.add_argument("--work", type=Path, help="folder for the demo store and site (reused)")
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--views", type=int, default=5, help="page views per client")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds, at most")
    parser.add_argument("--baseline", type=int, default=200, help="page views of one client")
    parser.add_argument("--viewers", type=int, default=20, help="browser contexts at once")
    parser.add_argument("--timeout", type=float, default=180.0, help="per browser view, s")
    parser.add_argument("--skip-browser", action="store_true", help="no Chromium at all")
    parser.add_argument("--skip-streamlit", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    RESULTS.mkdir(exist_ok=True)
    rows: list[dict] = []
    by_file: list[dict] = []
    with contextlib.ExitStack() as stack:
        if args.work:
            work = args.work.absolute()
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="publish_load_")))
        site, store = prepare(args, work)
        manifest = json.loads((site / "manifest.json").read_text())
        latest = next(
            v for v in manifest["views"] if v["month"] == manifest["as_of"] and v["group"] == "all"
        )
        paths = [*PAGE, latest["file"]]
        files = {p: (site / p).read_bytes() for p in paths}
        sizes = {kind: len(files[p]) for kind, p in zip(KINDS, paths, strict=True)}
        plain = sum(sizes.values())
        run_dir = work / "nginx"

        def missing(message: str):
            sys.exit(f"publish_load: {message}")

        url = stack.enter_context(serve_site(site, run_dir=run_dir, on_missing=missing))
        parts = urlsplit(url)
        print(f"nginx serves {site} at {url}; a page view is {len(paths)} files, "
              f"{plain / 1024:,.0f} KB uncompressed ({', '.join(paths)})")  # fmt: skip
        others = {"nginx": nginx_pids(run_dir)}

        # A check: one page view, every body against the file.
        checked = Stats()
        asyncio.run(page_view(parts.hostname, parts.port, paths, checked, files))
        if checked.errors or checked.page_views != 1:
            print(f"FAIL: the first page view: {checked.errors}")
            return 1

        cpu = Cpu(others)
        started = time.monotonic()
        alone = asyncio.run(load(url, paths, 1, args.baseline, args.duration))
        rows.append(http_row("nginx http, 1 client", 1, alone, time.monotonic() - started,
                             cpu.shares(), plain))  # fmt: skip
        by_file += request_rows("1 client", alone, sizes)

        cpu = Cpu(others)
        started = time.monotonic()
        loaded = asyncio.run(load(url, paths, args.clients, args.views, args.duration))
        name = f"nginx http, {args.clients} clients"
        rows.append(http_row(name, args.clients, loaded, time.monotonic() - started,
                             cpu.shares(), plain))  # fmt: skip
        by_file += request_rows(f"{args.clients} clients", loaded, sizes)

        if not args.skip_browser:
            servers = set(others["nginx"])
            for viewers in (1, args.viewers):
                cpu = Cpu(others)
                started = time.monotonic()
                visits, browser_s = asyncio.run(
                    browse(url + "/", STATIC_DRAWN, viewers, args.timeout, servers)
                )
                wall = time.monotonic() - started
                row = browser_row(f"nginx site, {viewers} Chromium viewer(s)", visits, wall,
                                  cpu.shares(browser=browser_s),
                                  "drawn: data-ready (cells on the map)")  # fmt: skip
                rows.append({**row, "view": "static site"})

        if not args.skip_browser and not args.skip_streamlit:
            if store is None:
                print("no --store for the site: the Streamlit comparison is skipped")
            else:
                rows += streamlit_rows(args, store, site, set(others["nginx"]))

    code = code_version()
    table = pd.DataFrame(rows)
    table.insert(0, "code", code)
    table.insert(1, "cpus", os.cpu_count())
    table.to_csv(RESULTS / "publish_load.csv", index=False)
    pd.DataFrame(by_file).to_csv(RESULTS / "publish_load_requests.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.max_colwidth", 80):  # fmt: skip
        print(table.drop(columns=["notes"]).T.to_string(header=False))
        print()
        print(pd.DataFrame(by_file).to_string(index=False))
    for row in rows:
        if row.get("notes"):
            print(f"{row['scenario']}: {row['notes']}")
    print(
        f"\nnote: {os.cpu_count()} CPUs for everything: the load client (one Python process, "
        "client_cpu_pct of one CPU), nginx (nginx_cpu_pct), Chromium and Streamlit; "
        "machine_busy_pct near 100 means the figures are bounded by the machine, not nginx."
    )
    print(f"wrote {RESULTS / 'publish_load.csv'} and {RESULTS / 'publish_load_requests.csv'}")
    return 0


def streamlit_rows(
    args: argparse.Namespace, store: Path, site: Path, servers: set[int]
) -> list[dict]:
    port = free_port()
    log = RESULTS / "publish_load_streamlit.log"
    options = ["--store", str(store), "--tiles", "none", "--public-site", str(site)]
    server = start_server(options, port, log)
    try:
        url = f"http://127.0.0.1:{port}/?view=public"
        pids = [server.pid, *descendants(server.pid, set())]
        servers = servers | set(pids)
        # One view first, not measured: the server loads the store and fills its caches.
        (first,), _ = asyncio.run(browse(url, STREAMLIT_DRAWN, 1, args.timeout, servers))
        measured = []
        for viewers in (1, args.viewers):
            cpu = Cpu({"streamlit": pids})
            started = time.monotonic()
            visits, browser_s = asyncio.run(
                browse(url, STREAMLIT_DRAWN, viewers, args.timeout, servers)
            )
            wall = time.monotonic() - started
            measured.append((viewers, visits, wall, cpu.shares(browser=browser_s)))
    finally:
        stop_server(server)
    notes = (f"?view=public --public-site SITE; first (warm-up) view drawn in "
             f"{first.drawn_s if first and first.drawn_s else float('nan'):.1f} s"
             f"{' (' + first.error + ')' if first and first.error else ''}")  # fmt: skip
    return [
        browser_row(f"streamlit, {viewers} Chromium viewer(s)", visits, wall, shares, notes)
        for viewers, visits, wall, shares in measured
    ]


if __name__ == "__main__":
    sys.exit(main())
