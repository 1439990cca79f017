"""Issue 4's benchmark: ingest, filter→map latency, page weight, memory and cold start, by size.

    .venv/bin/python bench/run.py [--sizes 100k,1m,10m] [--baseline-max 1m] [--work DIR]
        [--keep] [--repeat 3] [--skip-ingest] [--skip-browser]

For each size a demo set is generated (``layers.storage.demo.generate_demo``; timed, reported, not
counted in ingest) and the project is measured against a naive baseline in the same run:

- ingest: ``build_demo_store`` (validation and both joins) against bench/ingest.py's
  ``naive_ingest`` (read the CSVs, ``sjoin`` to precincts and wards, write parquet);
- filter change to ready map HTML, p50 and p95 over a fixed list of 12 typical filter
  changes, each computed fresh (the dashboard's ``st.cache_data`` is not involved). Project:
  ``prepare_map`` on the store's coded columns, ``map_layers``, every layer added to a fresh
  ``live_base_map`` and the map rendered to HTML, as ``st_folium`` would send it. Baseline:
  the raw incidents read once into a GeoDataFrame; per change, pandas boolean indexing on the
  raw columns, a ``geopandas.sjoin`` per precinct or ward filter, always a ``sjoin`` of the
  kept points to the precincts for the counts, and a folium ``HeatMap`` of every kept point
  over the precinct GeoJSON, rendered to HTML;
- page weight: the largest map HTML over the filter list (Leaflet's JS and CSS are separate,
  cacheable files on both sides, and not counted);
- peak memory: ``ru_maxrss`` of a subprocess that does only that path (ingest, or open,
  read and serve the filter list), so nothing else the bench did is in the figure;
- cold start: in-process, the read plus the first map (both sides, no browser); and for the
  project, the dashboard from ``streamlit run`` to the heat canvas in Chromium.

Above ``--baseline-max`` the baseline is not run (a 10 M-point HeatMap is ~420 MB of HTML
and tens of GB of memory), and the table says so. Stores live in ``--work``
(``demo-<size>``, ``store-<size>``); ``--keep`` reuses them. Prints a table with the issue's
targets and writes bench/results/run.csv, plus per-filter figures in run_filters.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import folium
import folium.plugins
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import naive_boundaries, naive_ingest, naive_join, naive_points
from timing import RESULTS, timed

from layers.intake.taxonomy import load_taxonomy
from layers.maps.view import prepare_map
from layers.maps.webmap import live_base_map, map_layers
from layers.settings import LOCAL_TZ
from layers.storage import columnar
from layers.storage.demo import build_demo_store, generate_demo, load_manifest
from layers.storage.filters import IncidentFilter, filter_from_query
from layers.storage.join import OUTSIDE
from layers.storage.store import current_version, open_store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]  # fmt: skip
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
RESULT_TAG = "BENCH-RESULT "
MB = 1e6
NOT_RUN = "not run (above --baseline-max)"
# The targets: (size it applies at or None for any, measure, limit, comparison).
TARGETS = [
    (1_000_000, "filter→map p50", 0.3, "≤"),
    (1_000_000, "filter→map p50 speed-up (baseline / project)", 40.0, "≥"),
    (None, "page weight, largest map HTML", 1.5, "≤"),
    (1_000_000, "ingest time", 15.0, "≤"),
    (1_000_000, "peak RSS, serving (open + filter list)", 2000.0, "≤"),
    (1_000_000, "peak RSS, ingest", 2000.0, "≤"),
    (10_000_000, "filter→map p50", 2.0, "≤"),
    (10_000_000, "peak RSS, serving (open + filter list)", 12000.0, "≤"),
    (10_000_000, "peak RSS, ingest", 12000.0, "≤"),
]


# --- sizes ---------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``100k`` → 100_000, ``1m`` → 1_000_000, ``2500`` → 2500."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def size_label(n: int) -> str:
    for scale, suffix in ((1_000_000, "m"), (1_000, "k")):
        if n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)


# --- the filter list -----------------------------------------------------------------------


def typical_filters(columns: columnar.IncidentColumns) -> list[tuple[str, IncidentFilter]]:
    """Twelve filter changes a user makes, with values taken from what the store holds."""

    def top(column: str, n: int = 1, mask: np.ndarray | None = None) -> tuple[str, ...]:
        counts = columnar.counts_by(columns, mask, column)
        counts = counts.drop(["Unassigned", OUTSIDE], errors="ignore")
        return tuple(counts.sort_values(ascending=False, kind="stable").index[:n])

    agency = top("agency")
    category = top("category", mask=columnar.select(columns, IncidentFilter(agencies=agency)))
    area, precinct, ward = top("collaboration_area"), top("precinct"), top("ward")
    last = columnar.day_span(columns)[1]
    changes = [
        ("no filter (first view)", IncidentFilter()),
        (f"agency {agency[0]}", IncidentFilter(agencies=agency)),
        (f"agency + category {category[0]}", IncidentFilter(agencies=agency, categories=category)),
        ("last 28 days", IncidentFilter(since=last - timedelta(days=27))),
        ("hours 22-4", IncidentFilter(hours=(22, 4))),
        (f"precinct {precinct[0]}", IncidentFilter(precincts=precinct)),
        (f"collaboration area {area[0]}", IncidentFilter(areas=area)),
        (f"ward {ward[0]}", IncidentFilter(wards=ward)),
        ("2 agencies + last 90 days + hours 18-6",
         IncidentFilter(agencies=top("agency", 2), since=last - timedelta(days=89),
                        hours=(18, 6))),
        ("3 categories + precinct", IncidentFilter(categories=top("category", 3),
                                                   precincts=precinct)),
        ("collaboration area + ward + hours 22-4",
         IncidentFilter(areas=area, wards=ward, hours=(22, 4))),
        ("back to no filter", IncidentFilter()),
    ]  # fmt: skip
    return changes


# --- the two serving paths -----------------------------------------------------------------


def project_map_html(snapshot, flt: IncidentFilter) -> tuple[str, int, int]:
    """What the dashboard does on a filter change, uncached: map data, layers, rendered HTML.

    Returns the HTML, the incidents kept and the heat cells sent.
    """
    data = prepare_map(snapshot, flt, boundary="precinct")
    # As dashboard.py's map_panel: it passes the heat scale when MapData has one (new code).
    scale = {"heat_scale": data.heat_scale} if hasattr(data, "heat_scale") else {}
    groups = map_layers(data.areas, data.heat, area_label="Precinct", style="outline",
                        zoom=data.zoom, **scale)  # fmt: skip
    m = live_base_map(snapshot.precincts, tiles=None, synthetic=snapshot.synthetic)
    for group in groups:
        group.add_to(m)
    return m.get_root().render(), data.incidents, len(data.heat)


def naive_load(manifest) -> dict:
    """The baseline's start: every raw incident and both boundary layers read once."""
    precincts, wards = naive_boundaries(manifest)
    raw = naive_points(manifest)
    text = raw["occurred_at"].astype("string")
    when = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    # Times without an offset are local (UTC+2).
    naive = ~text.str.contains(r"(?:Z|[+-]\d\d:\d\d)$", regex=True).fillna(True).to_numpy()
    when = when.where(~naive, when - pd.Timedelta(hours=2))
    raw["occurred_local"] = when.dt.tz_convert(LOCAL_TZ)
    categories = {a.name: a.categories for a in load_taxonomy().areas}
    return {"raw": raw, "precincts": precincts, "wards": wards, "area_categories": categories}


def naive_mask(raw: pd.DataFrame, flt: IncidentFilter, area_categories: dict) -> pd.Series:
    """Pandas boolean indexing on the raw columns (no precinct or ward: those need a join)."""
    keep = pd.Series(True, index=raw.index)
    if flt.agencies:
        keep &= raw["agency"].isin(flt.agencies)
    if flt.categories:
        keep &= raw["category"].isin(flt.categories)
    if flt.areas:
        # A stated collaboration area wins; otherwise the area is the category's.
        stated = raw["collaboration_area"]
        listed = [c for area in flt.areas for c in area_categories.get(area, ())]
        keep &= stated.isin(flt.areas) | (stated.isna() & raw["category"].isin(listed))
    when = raw["occurred_local"]
    if flt.since:
        keep &= when >= pd.Timestamp(flt.since).tz_localize(LOCAL_TZ)
    if flt.until:
        keep &= when < pd.Timestamp(flt.until).tz_localize(LOCAL_TZ) + pd.Timedelta(days=1)
    if flt.hours:
        hour, (start, end) = when.dt.hour, flt.hours
        keep &= (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
    return keep


def naive_map_html(data: dict, flt: IncidentFilter) -> tuple[str, int, int]:
    """The baseline on a filter change: filter, sjoin, HeatMap of every kept point, render."""
    raw, precincts = data["raw"], data["precincts"]
    points = raw.loc[naive_mask(raw, flt, data["area_categories"]), ["lat", "lon", "geometry"]]
    if flt.wards:
        in_wards = naive_join(points, data["wards"], how="inner")
        points = in_wards.loc[in_wards["ward_name"].isin(flt.wards), ["lat", "lon", "geometry"]]
    joined = naive_join(points, precincts)
    if flt.precincts:
        joined = joined[joined["precinct_name"].isin(flt.precincts)]
    counts = joined.groupby("precinct_name").size()
    areas = precincts.assign(count=counts.reindex(precincts["precinct_name"], fill_value=0).values)
    west, south, east, north = precincts.total_bounds
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10, tiles=None)
    folium.GeoJson(
        areas, tooltip=folium.GeoJsonTooltip(["precinct_name", "count"], ["Precinct", "Incidents"])
    ).add_to(m)
    folium.plugins.HeatMap(joined[["lat", "lon"]].to_numpy().tolist()).add_to(m)
    return m.get_root().render(), len(joined), len(joined)


# --- subprocess workers: each measures one path and its own peak RSS ----------------------


def work_generate(demo: str, n: int) -> dict:
    seconds = timed(lambda: generate_demo(Path(demo), incidents=n), 1)
    return {"seconds": seconds}


def work_ingest_project(demo: str, store: str) -> dict:
    manifest = load_manifest(Path(demo))
    reports = []
    seconds = timed(lambda: reports.append(build_demo_store(Path(store), manifest)), 1)
    return {"seconds": seconds, "rows": reports[0].totals()["read"]}


def work_ingest_naive(demo: str, out: str) -> dict:
    manifest = load_manifest(Path(demo))
    seconds = timed(lambda: naive_ingest(manifest, Path(out)), 1)
    Path(out).unlink(missing_ok=True)
    return {"seconds": seconds}


def _serve(load, request, make_filters, repeat: int) -> dict:
    """Cold start (load, then the first view), then the filter list ``repeat`` times."""
    start = time.perf_counter()
    state = load()
    loaded = time.perf_counter() - start
    request(state, IncidentFilter())
    first = time.perf_counter() - start
    filters = make_filters(state)  # outside every timed part
    seconds: list[list[float]] = [[] for _ in filters]
    sizes, kept, cells = [0] * len(filters), [0] * len(filters), [0] * len(filters)
    for _ in range(repeat):
        for i, (_, flt) in enumerate(filters):
            begin = time.perf_counter()
            html, kept[i], cells[i] = request(state, flt)
            seconds[i].append(time.perf_counter() - begin)
            sizes[i] = len(html.encode("utf-8"))
            del html
    return {"load_s": loaded, "first_map_s": first, "seconds": seconds, "bytes": sizes,
            "kept": kept, "cells": cells,
            "filters": [(label, flt.to_query()) for label, flt in filters]}  # fmt: skip


def work_serve_project(store: str, repeat: int) -> dict:
    def load():
        snapshot = open_store(store)
        snapshot.columns  # noqa: B018 - the parquet read, counted in the cold start
        return snapshot

    return _serve(load, project_map_html, lambda s: typical_filters(s.columns), repeat)


def work_serve_naive(demo: str, filters: list, repeat: int) -> dict:
    manifest = load_manifest(Path(demo))
    parsed = [(label, filter_from_query(query)) for label, query in filters]
    return _serve(lambda: naive_load(manifest), naive_map_html, lambda _: parsed, repeat)


WORKERS = {
    "generate": work_generate,
    "ingest_project": work_ingest_project,
    "ingest_naive": work_ingest_naive,
    "serve_project": work_serve_project,
    "serve_naive": work_serve_naive,
}


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # kB on Linux


def run_worker(spec: str) -> None:
    kwargs = json.loads(spec)
    imports = _max_rss_mb()
    out = WORKERS[kwargs.pop("kind")](**kwargs)
    out.update(rss_mb=_max_rss_mb(), rss_imports_mb=imports)
    print(RESULT_TAG + json.dumps(out), flush=True)


def in_subprocess(kind: str, **kwargs) -> dict:
    """Run one worker in a fresh interpreter: its ``ru_maxrss`` is that path's alone."""
    spec = json.dumps({"kind": kind, **kwargs})
    done = subprocess.run([sys.executable, __file__, "--worker", spec], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, check=True)  # fmt: skip
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    return json.loads(lines[-1].removeprefix(RESULT_TAG))


# --- the dashboard in a browser ------------------------------------------------------------


def dashboard_cold_start(store: Path, work: Path, timeout_s: float) -> dict:
    """Seconds from ``streamlit run`` to the heat canvas in the map's iframe, in Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} is missing"}
    streamlit = ROOT / ".venv" / "bin" / "streamlit"
    command = [str(streamlit)] if streamlit.exists() else [sys.executable, "-m", "streamlit"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log_path = work / f"streamlit-{store.name}.log"
    timeout_ms = timeout_s * 1000
    with sync_playwright() as pw, open(log_path, "w") as log:
        # The browser is started before the clock: its own start-up is not the dashboard's.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.route("**/*", lambda route: route.continue_() if _is_local(route.request.url)
                      else route.abort())  # fmt: skip
        page = context.new_page()
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "run", "dashboard.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--", "--store", str(store), "--tiles", "none", "--uploads", str(work / "uploads")],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            healthy = _wait_healthy(url, start + timeout_s) - start
            page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
            _wait_for_map(page, start + timeout_s)
            drawn = time.perf_counter() - start
        except Exception as err:  # report it in the table, keep the other measures
            tail = log_path.read_text(errors="replace")[-1500:]
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            return {"failed": f"{type(err).__name__}: {reason}", "log": tail}
        finally:
            _stop_group(proc)
            browser.close()
    return {"seconds": drawn, "healthy_s": healthy}


def _wait_for_map(page, deadline: float) -> None:
    """Poll (every 50 ms) until the map's iframe holds the heat canvas and the precincts.

    As tests/test_browser.py finds them; a Streamlit exception on the page ends the wait.
    """
    frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
    heat = frame.locator("canvas.leaflet-heatmap-layer")
    areas = frame.locator("path.leaflet-interactive")
    error = page.locator('[data-testid="stException"]')
    while time.perf_counter() < deadline:
        if heat.count() and areas.count():
            return
        if error.count():
            raise RuntimeError(f"the app raised: {error.first.inner_text()[:300]}")
        page.wait_for_timeout(50)
    raise TimeoutError("no heat canvas in the map's iframe before --browser-timeout")


def _wait_healthy(url: str, deadline: float) -> float:
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("streamlit did not answer /_stcore/health in time")


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in LOCAL_HOSTS


# --- one size ------------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_size(n: int, args: argparse.Namespace, work: Path) -> tuple[list[dict], list[dict]]:
    label = size_label(n)
    demo, store = work / f"demo-{label}", work / f"store-{label}"
    with_baseline = n <= args.baseline_max
    rows: list[dict] = []

    def row(measure: str, unit: str, project, baseline="—", ratio=None, note: str = "") -> None:
        rows.append({"size": label, "measure": measure, "unit": unit, "project": project,
                     "baseline": baseline, "ratio": ratio, "note": note})  # fmt: skip

    def skipped_or(value):
        return value if with_baseline else NOT_RUN

    reuse_demo = args.keep and (demo / "manifest.json").is_file()
    if reuse_demo and load_manifest(demo).n_incidents != n:
        reuse_demo = False
    if reuse_demo:
        say(f"{label}: reusing the demo files in {demo}")
        row("demo generation (not counted in ingest)", "s", "reused (--keep)")
    else:
        say(f"{label}: generating {n:,} demo incidents")
        generated = in_subprocess("generate", demo=str(demo), n=n)
        row("demo generation (not counted in ingest)", "s", round(generated["seconds"], 2))
    manifest = load_manifest(demo)
    csv_rows = manifest.n_incidents + manifest.n_faulty + manifest.n_updates

    reuse_store = args.keep and current_version(store) is not None
    if not reuse_store:
        shutil.rmtree(store, ignore_errors=True)
    if args.skip_ingest and reuse_store:
        say(f"{label}: --skip-ingest, reusing {store}")
    else:
        # A kept store is served as is; the ingest is then measured into a scratch store.
        target = work / f"ingest-{label}" if reuse_store else store
        shutil.rmtree(target, ignore_errors=True)
        say(f"{label}: project ingest")
        project = in_subprocess("ingest_project", demo=str(demo), store=str(target))
        if target != store:
            shutil.rmtree(target, ignore_errors=True)
        baseline = None
        if with_baseline:
            say(f"{label}: baseline ingest")
            out = work / f"naive-{label}.parquet"
            baseline = in_subprocess("ingest_naive", demo=str(demo), out=str(out))
        p_s, b_s = project["seconds"], baseline["seconds"] if baseline else None
        row("ingest time", "s", round(p_s, 2), skipped_or(b_s and round(b_s, 2)),
            _ratio(b_s, p_s), f"{project['rows']:,} CSV rows")  # fmt: skip
        row("ingest throughput", "rows/s", round(csv_rows / p_s),
            skipped_or(b_s and round(csv_rows / b_s)))  # fmt: skip
        row("peak RSS, ingest", "MB", round(project["rss_mb"]),
            skipped_or(baseline and round(baseline["rss_mb"])),
            _ratio(baseline and baseline["rss_mb"], project["rss_mb"]))  # fmt: skip

    say(f"{label}: project serving path (filter list x {args.repeat})")
    served = in_subprocess("serve_project", store=str(store), repeat=args.repeat)
    naive = None
    if with_baseline:
        say(f"{label}: baseline serving path (filter list x {args.baseline_repeat})")
        naive = in_subprocess("serve_naive", demo=str(demo), filters=served["filters"],
                              repeat=args.baseline_repeat)  # fmt: skip

    def pct(result, q):
        return float(np.percentile([s for per in result["seconds"] for s in per], q))

    p50, p95 = pct(served, 50), pct(served, 95)
    b50, b95 = (pct(naive, 50), pct(naive, 95)) if naive else (None, None)
    row("cold start in-process: load (project: open store + columns; baseline: read raw)", "s",
        round(served["load_s"], 3), skipped_or(naive and round(naive["load_s"], 3)),
        _ratio(naive and naive["load_s"], served["load_s"]))  # fmt: skip
    row("cold start in-process: load + first map HTML (no browser)", "s",
        round(served["first_map_s"], 3), skipped_or(naive and round(naive["first_map_s"], 3)),
        _ratio(naive and naive["first_map_s"], served["first_map_s"]))  # fmt: skip
    row("filter→map p50", "s", round(p50, 4), skipped_or(b50 and round(b50, 3)),
        _ratio(b50, p50), f"{len(served['filters'])} changes x {args.repeat} runs")  # fmt: skip
    row("filter→map p95", "s", round(p95, 4), skipped_or(b95 and round(b95, 3)),
        _ratio(b95, p95))  # fmt: skip
    row("filter→map p50 speed-up (baseline / project)", "x",
        round(b50 / p50, 1) if b50 else NOT_RUN, "—" if b50 else NOT_RUN)  # fmt: skip
    p_bytes = max(served["bytes"]) / MB
    b_bytes = max(naive["bytes"]) / MB if naive else None
    row("page weight, largest map HTML", "MB", round(p_bytes, 3),
        skipped_or(b_bytes and round(b_bytes, 2)), _ratio(b_bytes, p_bytes),
        "Leaflet JS/CSS not counted: separate cached files")  # fmt: skip
    row("peak RSS, serving (open + filter list)", "MB", round(served["rss_mb"]),
        skipped_or(naive and round(naive["rss_mb"])),
        _ratio(naive and naive["rss_mb"], served["rss_mb"]),
        f"interpreter + imports alone: {served['rss_imports_mb']:.0f} MB")  # fmt: skip

    if args.skip_browser:
        row("dashboard cold start to first map (browser)", "s", "skipped (--skip-browser)")
    else:
        say(f"{label}: dashboard cold start in Chromium")
        browser = dashboard_cold_start(store, work, timeout_s=args.browser_timeout)
        if "seconds" in browser:
            row("dashboard cold start to first map (browser)", "s", round(browser["seconds"], 2),
                "n/a (no browser)", None,
                f"server healthy after {browser['healthy_s']:.2f} s")  # fmt: skip
        else:
            reason = browser.get("skipped") or browser["failed"]
            print(f"dashboard cold start not measured: {reason}\n{browser.get('log', '')}",
                  file=sys.stderr)  # fmt: skip
            row("dashboard cold start to first map (browser)", "s", f"not measured: {reason}")

    per_filter = []
    for i, (name, _) in enumerate(served["filters"]):
        per_filter.append({
            "size": label, "filter": name,
            "project_s": round(float(np.median(served["seconds"][i])), 4),
            "baseline_s": round(float(np.median(naive["seconds"][i])), 3) if naive else None,
            "project_bytes": served["bytes"][i],
            "baseline_bytes": naive["bytes"][i] if naive else None,
            "project_incidents": served["kept"][i], "project_heat_cells": served["cells"][i],
            "baseline_incidents": naive["kept"][i] if naive else None,
        })  # fmt: skip
    for r in rows:
        _check_target(r, n)
    return rows, per_filter


def _ratio(baseline, project) -> float | None:
    if not baseline or not project:
        return None
    return round(baseline / project, 1)


def _check_target(row: dict, n: int) -> None:
    row["target"], row["met"] = "", ""
    for size, measure, limit, sign in TARGETS:
        if measure == row["measure"] and size in (None, n):
            unit = "×" if row["unit"] == "x" else f" {row['unit']}"
            row["target"] = f"{sign} {limit:g}{unit}" + ("" if size is None else f" at {n:,}")
            value = row["project"]
            if not isinstance(value, int | float):
                row["met"] = "n/a"
                continue
            ok = value <= limit if sign == "≤" else value >= limit
            row["met"] = "met" if ok else "NOT met"


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1m,10m", help="comma-separated, e.g. 100k,1m")
    parser.add_argument("--baseline-max", default="1m", type=parse_size,
                        help="largest size the naive baseline is run at (default 1m)")  # fmt: skip
    parser.add_argument("--work", type=Path, help="folder for demo files and stores (a temp dir)")
    parser.add_argument(
        "--keep", action="store_true", help="reuse demo-<size> and store-<size> in --work"
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes over the filter list")
    parser.add_argument("--baseline-repeat", type=int, default=1,
                        help="passes over the filter list for the (slow) baseline")  # fmt: skip
    parser.add_argument("--skip-ingest", action="store_true",
                        help="with --keep and a kept store, do not measure ingest")  # fmt: skip
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--browser-timeout", type=float, default=900.0, help="seconds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker)
        return

    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bench-run-")) if temporary else args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    rows, per_filter = [], []
    try:
        for n in sizes:
            size_rows, size_filters = measure_size(n, args, work)
            rows += size_rows
            per_filter += size_filters
            _report(rows, per_filter)  # after each size, so a long run leaves results early
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    table = _report(rows, per_filter)
    print(_text_table(table.drop(columns="note")))
    print("\nNotes:\n" + _text_table(table.loc[table["note"] != "", ["size", "measure", "note"]]))
    print(
        "\nratio = baseline / project (above 1: the project is smaller or faster). Page weight "
        "is the map HTML only; Leaflet's JS/CSS are separate static files, cached by the "
        "browser, on both sides. The baseline keeps rows the project rejects or merges "
        "(malformed rows, status updates): see run_filters.csv for the incidents each kept. "
        "Each filter→map time is computed fresh, without the dashboard's st.cache_data. "
        f"Results: {RESULTS / 'run.csv'}, {RESULTS / 'run_filters.csv'}."
    )


def _text_table(table: pd.DataFrame) -> str:
    """Left-aligned text, numbers right-aligned."""
    cells = [[str(v) for v in table.columns]] + [
        ["" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in r]
        for r in table.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    numeric = [all(isinstance(v, int | float) or v in ("", "—") for v in table[c])
               for c in table.columns]  # fmt: skip
    lines = []
    for r in cells:
        parts = [
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(r, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _report(rows: list[dict], per_filter: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(rows, dtype=object)  # object: counts stay integers in the output
    table["ratio"] = table["ratio"].astype(object).where(table["ratio"].notna(), "")
    table = table[["size", "measure", "unit", "project", "baseline", "ratio", "target", "met",
                   "note"]]  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "run.csv", index=False)
    pd.DataFrame(per_filter).to_csv(RESULTS / "run_filters.csv", index=False)
    return table


if __name__ == "__main__":
    main()
