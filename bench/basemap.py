"""Issue 17's figures: how large a local basemap is, and how fast its tiles reach the map.

    .venv/bin/python bench/basemap.py [--max-zoom 14] [--requests 400] [--work DIR]

1. **The file.** A Cape Town basemap over the demo's extent at zooms 8 to ``--max-zoom``, of
   textured JPEG tiles about the size of aerial-imagery tiles (flat test tiles would flatter
   every figure), written as MBTiles and as PMTiles: tiles and MB.
2. **Reading a tile** in process, ``--requests`` random tiles of the file: the project's
   readers (one SQLite connection, or the PMTiles file memory-mapped with its directories
   cached) against a naive reader that opens the MBTiles file for every tile.
3. **Over HTTP**, the same random tiles one after another from a running dashboard
   (``streamlit run server.py -- --tiles FILE``): the project's route (``tileserve.py``)
   against Streamlit's own static file serving of the same tiles copied out as files
   (``static/bench-tiles/``, removed afterwards), the naive way to serve tiles from Streamlit.
4. **In Chromium**, the dashboard opened cold and again warm (the browser's cache kept): from
   navigation to every basemap tile in view loaded, and each tile's own load time from the
   browser's resource timing.

Prints a table and writes ``bench/results/basemap.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.maps.basemap import served_url  # noqa: E402
from layers.maps.tiles import open_basemap, open_tiles, tiles_in  # noqa: E402
from layers.storage.demo import build_demo_store, generate_demo  # noqa: E402

CAPE_TOWN = (18.32, -34.25, 19.0, -33.55)
STATIC_TILES = ROOT / "static" / "bench-tiles"
RESULTS = ROOT / "bench" / "results"
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def textured_jpeg(rng: np.random.Generator) -> bytes:
    """A 256-px JPEG with aerial-photo-like texture: smooth colour fields plus grain."""
    base = rng.integers(60, 200, size=(8, 8, 3)).astype(np.uint8)
    image = Image.fromarray(base).resize((256, 256), Image.Resampling.BICUBIC)
    grain = rng.normal(0, 18, size=(256, 256, 3))
    pixels = np.clip(np.asarray(image, dtype=float) + grain, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=75)
    return buffer.getvalue()


def make_files(work: Path, max_zoom: int) -> tuple[Path, Path, dict]:
    sys.path.insert(0, str(ROOT / "tests"))
    from pmtiles.tile import TileType
    from tilefiles import write_mbtiles, write_pmtiles

    rng = np.random.default_rng(17)
    keys = list(tiles_in(CAPE_TOWN, range(8, max_zoom + 1)))
    # Every tile its own (PMTiles stores identical tiles once: a pool would shrink the file).
    tiles = {key: textured_jpeg(rng) for key in keys}
    mbtiles = write_mbtiles(work / "cape-town.mbtiles", tiles, fmt="jpg",
                            attribution="Bench tiles", date="2026-12-06")  # fmt: skip
    pmtiles = write_pmtiles(work / "cape-town.pmtiles", tiles, tile_type=TileType.JPEG)
    per_zoom = {z: sum(1 for k in keys if k[0] == z) for z in range(8, max_zoom + 1)}
    return (
        mbtiles,
        pmtiles,
        {
            "tiles": len(keys),
            "per_zoom": per_zoom,
            "tile_kb_mean": float(np.mean([len(t) for t in tiles.values()]) / 1024),
        },
    )


def naive_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """What a first version would do: open the file, query, close, for every tile."""
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? "
                         "AND tile_row=?", (z, x, (1 << z) - 1 - y)).fetchone()  # fmt: skip
    finally:
        db.close()
    return row[0] if row else None


def per_read_ms(read, keys) -> list[float]:
    times = []
    for key in keys:
        start = time.perf_counter()
        assert read(*key) is not None
        times.append((time.perf_counter() - start) * 1000)
    return times


def summary(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"p50_ms": statistics.median(ordered),
            "p95_ms": ordered[int(0.95 * (len(ordered) - 1))], "n": len(ordered)}  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch_ms(urls: list[str]) -> list[float]:
    times = []
    for url in urls:
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as reply:
            reply.read()
        times.append((time.perf_counter() - start) * 1000)
    return times


def browser_load(url: str) -> list[dict]:
    from playwright.sync_api import sync_playwright

    runs = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        for label in ("cold", "warm"):
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_function(
                """(frame) => {
                    const f = document.querySelector(frame);
                    const doc = f && f.contentDocument;
                    const imgs = doc ? [...doc.querySelectorAll(".cct-basemap img")] : [];
                    return imgs.length >= 4
                        && imgs.every((i) => i.classList.contains("leaflet-tile-loaded"));
                }""",
                arg=MAP_FRAME, timeout=120_000,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            timing = (
                page.frame_locator(MAP_FRAME)
                .locator("body")
                .evaluate(
                    """() => performance.getEntriesByType("resource")
                    .filter((e) => e.name.includes("/tiles/"))
                    .map((e) => ({ms: e.duration, bytes: e.transferSize}))"""
                )
            )
            ms = [t["ms"] for t in timing]
            runs.append({"load": label, "page_to_tiles_s": elapsed, "tiles": len(timing),
                         "tile_ms": summary(ms) if ms else None,
                         "bytes_over_network": sum(t["bytes"] for t in timing)})  # fmt: skip
            page.close()
        browser.close()
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-zoom", type=int, default=14)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-basemap-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"max_zoom": args.max_zoom}

    start = time.perf_counter()
    mbtiles, pmtiles, made = make_files(work, args.max_zoom)
    results["file"] = {**made, "mbtiles_mb": mbtiles.stat().st_size / 1e6,
                       "pmtiles_mb": pmtiles.stat().st_size / 1e6,
                       "made_s": time.perf_counter() - start}  # fmt: skip

    basemap = open_basemap(mbtiles)
    keys = list(tiles_in(CAPE_TOWN, range(8, args.max_zoom + 1)))
    sample = random.Random(17).sample(keys, min(args.requests, len(keys)))
    reads = {}
    for name, path in (("mbtiles", mbtiles), ("pmtiles", pmtiles)):
        reader = open_tiles(open_basemap(path))
        reads[name] = summary(per_read_ms(reader.tile, sample))
        reader.close()
    reads["naive_mbtiles"] = summary(per_read_ms(lambda *k: naive_tile(mbtiles, *k), sample))
    results["read"] = reads

    store = work / "store"
    if not store.exists():
        build_demo_store(store, generate_demo(work / "demo", incidents=3000))
    shutil.rmtree(STATIC_TILES, ignore_errors=True)
    reader = open_tiles(basemap)
    for z, x, y in sample:
        target = STATIC_TILES / str(z) / str(x) / f"{y}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(reader.tile(z, x, y))
    reader.close()
    port = free_port()
    log = open(work / "streamlit.log", "w")  # noqa: SIM115 (open for the server's lifetime)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true", "--", "--store", str(store), "--tiles", str(mbtiles)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/_stcore/health", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        results["browser"] = browser_load(base)  # also registers the basemap with the route
        route = base + served_url(basemap)
        route_urls = [route.format(z=z, x=x, y=y) for z, x, y in sample]
        static_urls = [f"{base}/app/static/bench-tiles/{z}/{x}/{y}.jpg" for z, x, y in sample]
        fetch_ms(route_urls[:20] + static_urls[:20])  # warm both paths up
        results["http"] = {"route": summary(fetch_ms(route_urls)),
                           "static_files": summary(fetch_ms(static_urls))}  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(STATIC_TILES, ignore_errors=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "basemap.json").write_text(json.dumps(results, indent=1))
    f, r, h = results["file"], results["read"], results["http"]
    print(
        f"File: {f['tiles']:,} tiles (zoom 8-{args.max_zoom}), JPEG {f['tile_kb_mean']:.1f} KB "
        f"a tile: MBTiles {f['mbtiles_mb']:.1f} MB, PMTiles {f['pmtiles_mb']:.1f} MB"
    )
    for name in ("mbtiles", "pmtiles"):
        print(
            f"Read a tile, {name}: p50 {r[name]['p50_ms']:.3f} ms, p95 {r[name]['p95_ms']:.3f} "
            f"ms; naive (open per tile) p50 {r['naive_mbtiles']['p50_ms']:.3f} ms: "
            f"{r['naive_mbtiles']['p50_ms'] / r[name]['p50_ms']:.1f}x"
        )
    print(
        f"HTTP, one at a time: route p50 {h['route']['p50_ms']:.2f} ms, p95 "
        f"{h['route']['p95_ms']:.2f} ms; Streamlit static files p50 "
        f"{h['static_files']['p50_ms']:.2f} ms, p95 {h['static_files']['p95_ms']:.2f} ms: "
        f"{h['static_files']['p50_ms'] / h['route']['p50_ms']:.2f}x"
    )
    for run in results["browser"]:
        tile = run["tile_ms"] or {}
        print(
            f"Chromium {run['load']}: page to every tile in view {run['page_to_tiles_s']:.2f} s; "
            f"{run['tiles']} tiles, each p50 {tile.get('p50_ms', float('nan')):.1f} ms, p95 "
            f"{tile.get('p95_ms', float('nan')):.1f} ms; {run['bytes_over_network']:,} bytes "
            "over the network"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
