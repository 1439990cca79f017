"""The published public site as a visitor gets it: served by nginx (scripts/serve-site), read
by a client and by Debian's Chromium, and swapped for a new version while being read."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import threading
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import ROOT
from site_server import serve_site
from test_browser import CHROMIUM, CHROMIUM_ARGS, _is_local, _require_browser

from layers.publishing.publish import PublishOptions, publish_site
from layers.storage.store import open_store

# The demo's incidents run to 2026-10-31: on this day the last 12 whole, settled months are
# 2025-11 to 2026-10 whenever the tests run.
TODAY = date(2026, 12, 5)
IMMUTABLE = "public, max-age=31536000, immutable"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def site(demo_store: Path, tmp_path_factory) -> Path:
    """The 3,000-incident demo store published (read only: tests that publish again make a
    site of their own)."""
    out = tmp_path_factory.mktemp("site") / "site"
    publish_site(open_store(demo_store), out, options=PublishOptions(today=TODAY))
    return out


@pytest.fixture(scope="module")
def served(site: Path):
    with serve_site(site) as url:
        yield url


def _manifest(site: Path) -> dict:
    return json.loads((site / "manifest.json").read_text(encoding="utf-8"))


class Client:
    """One keep-alive HTTP/1.1 connection to nginx; reconnects when the server closes it."""

    def __init__(self, url: str) -> None:
        self.host = urlsplit(url).netloc
        self.conn = http.client.HTTPConnection(self.host, timeout=10)

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            try:
                self.conn.request("GET", "/" + path.lstrip("/"), headers=headers)
                reply = self.conn.getresponse()
                body = reply.read()
                return reply.status, {k.lower(): v for k, v in reply.getheaders()}, body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, timeout=10)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


# --- nginx ---------------------------------------------------------------------------------


def test_nginx_serves_the_site_with_types_compression_and_cache_headers(site, served):
    manifest = _manifest(site)
    view = next(v for v in manifest["views"] if v["month"] == manifest["as_of"])
    client = Client(served)
    try:
        # manifest.json: revalidated on every use, and a 304 when unchanged
        status, head, body = client.get("manifest.json", **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert head["content-type"].startswith("application/json")
        assert head["cache-control"] == "no-cache"
        assert head["content-encoding"] == "gzip"
        assert "Accept-Encoding" in head["vary"]
        assert json.loads(gzip.decompress(body)) == manifest
        assert head["etag"] and head["last-modified"]
        status, _, body = client.get(
            "manifest.json", **{"Accept-Encoding": "gzip", "If-None-Match": head["etag"]}
        )
        assert (status, body) == (304, b"")

        # a view: immutable, GeoJSON, gzipped when asked and only then
        status, head, body = client.get(view["file"], **{"Accept-Encoding": "gzip"})
        assert status == 200
        assert head["content-type"].startswith("application/geo+json")
        assert head["cache-control"] == IMMUTABLE
        assert head["content-encoding"] == "gzip"
        on_disk = (site / view["file"]).read_bytes()
        assert gzip.decompress(body) == on_disk
        assert len(body) < len(on_disk) / 2
        status, head, body = client.get(view["file"])
        assert status == 200 and "content-encoding" not in head and body == on_disk

        # pages and the precinct outlines change with each publish: revalidated too
        for path, kind in [("", "text/html"), ("index.html", "text/html"),
                           ("method.html", "text/html"),
                           ("precincts.geojson", "application/geo+json")]:  # fmt: skip
            status, head, body = client.get(path, **{"Accept-Encoding": "gzip"})
            assert status == 200, path
            assert head["content-type"].startswith(kind), (path, head["content-type"])
            assert head["cache-control"] == "no-cache", path
            assert head.get("content-encoding") == "gzip", path

        # vendored Leaflet: immutable, compressed
        for path, kind in [("vendor/leaflet.js", "application/javascript"),
                           ("vendor/leaflet.css", "text/css")]:  # fmt: skip
            status, head, body = client.get(path, **{"Accept-Encoding": "gzip"})
            assert status == 200, path
            assert head["content-type"].startswith(kind), (path, head["content-type"])
            assert head["cache-control"] == IMMUTABLE, path
            assert head.get("content-encoding") == "gzip", path
            assert gzip.decompress(body) == (site / path).read_bytes()

        status, head, _ = client.get("views/1999-01/all.000000000000.geojson")
        assert status == 404
        assert "immutable" not in head.get("cache-control", "")
    finally:
        client.close()


# --- a real browser ------------------------------------------------------------------------

# Whether Leaflet has painted the page's cells layer. Leaflet 1.9's canvas renderer (the
# page sets preferCanvas) holds each path it draws in its _layers, keeps the path's projected
# rings in _parts (empty when out of view) and paints on the next animation frame, clearing
# _redrawRequest: all of it true means every cell is on the canvas.
PAINTED_JS = """() => {
  const cells = state.cells && map.hasLayer(state.cells) ? state.cells.getLayers() : [];
  return cells.length > 0 && cells.every((l) => l._renderer instanceof L.Canvas
    && l._renderer._layers[L.stamp(l)] === l && l._parts.length > 0
    && l._renderer._redrawRequest === null
    && l._renderer._container.width > 0 && l._renderer._container.height > 0);
}"""
# The cells layer the page has on its map: [cell id, count] of each feature.
CELLS_JS = """() => state.cells && map.hasLayer(state.cells)
  ? state.cells.getLayers().map((l) => [l.feature.properties.cell, l.feature.properties.count])
  : null"""
TABLE_JS = """() => [...document.querySelectorAll('#areas tr')]
  .map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent))"""


def _shown(page, value: int | None, k: int) -> str:
    """The page's text() of a count."""
    if value is None:
        return f"fewer than {k}, or hidden"
    return page.evaluate("(n) => n.toLocaleString('en-ZA')", value)


def _expect_view(page, site: Path, manifest: dict, month: str, group: str) -> None:
    """Wait until the page shows ``month`` and ``group``: headline, table and cells."""
    view = next(v for v in manifest["views"] if v["month"] == month and v["group"] == group)
    k = manifest["k"]
    headline = f"{_shown(page, view['total'], k)} incidents, {month}"
    if manifest["withheld"].get(month):
        headline += f" (withheld: {manifest['withheld'][month]})"
    page.wait_for_function(
        "(text) => document.getElementById('headline').textContent === text",
        arg=headline, timeout=30_000,
    )  # fmt: skip
    features = json.loads((site / view["file"]).read_text())["features"]
    cells = [[f["properties"]["cell"], f["properties"]["count"]] for f in features]
    assert cells, f"{month} {group}: no cells to draw"
    page.wait_for_function(
        f"(cells) => JSON.stringify(({CELLS_JS})()) === JSON.stringify(cells)",
        arg=cells, timeout=30_000,
    )  # fmt: skip
    outlines = json.loads((site / "precincts.geojson").read_text())["features"]
    assert page.evaluate("() => state.outlines.getLayers().length") == len(outlines)
    # and Leaflet has painted every one of them on its canvas
    page.wait_for_function(PAINTED_JS, timeout=30_000)
    rows = page.evaluate(TABLE_JS)
    assert {name: count for name, count in rows} == {
        name: _shown(page, count, k) for name, count in view["areas"].items()
    }
    assert len(rows) == len(view["areas"])


@pytest.mark.browser
def test_browser_draws_the_site_from_nginx_with_no_request_leaving_localhost(site, served):
    sync_playwright = _require_browser()
    manifest = _manifest(site)
    latest = manifest["as_of"]
    totals = {(v["month"], v["group"]): v["total"] for v in manifest["views"]}
    # Another month (settled, not withheld, a different total) and a group of it with a
    # count of its own: both changes must show on the page.
    month = next(
        m for m in reversed(manifest["months"][:-1])
        if m not in manifest["withheld"] and totals[m, "all"] not in (None, totals[latest, "all"])
    )  # fmt: skip
    group = next(
        g for g in manifest["groups"][1:] if totals[month, g] not in (None, totals[month, "all"])
    )
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            # Nothing may leave the machine: anything not local is aborted (and recorded).
            context.route(
                "**/*", lambda route: route.continue_() if _is_local(route.request.url)
                else route.abort()
            )  # fmt: skip
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
            page.on("response", lambda r: failed.append(f"{r.url}: {r.status}")
                    if r.status >= 400 else None)  # fmt: skip
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(served + "/", wait_until="domcontentloaded")
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
            _expect_view(page, site, manifest, latest, "all")
            page.screenshot(path=str(ARTIFACTS / "site.png"))

            page.select_option("#month", month)
            _expect_view(page, site, manifest, month, "all")
            page.select_option("#group", group)
            _expect_view(page, site, manifest, month, group)
            has_leaflet = page.evaluate("() => typeof L !== 'undefined' && L.version")
        finally:
            browser.close()
    outside = [u for u in requests if not _is_local(u)]
    assert not outside, f"requests left 127.0.0.1: {outside[:10]}"
    assert all(urlsplit(u).netloc == urlsplit(served).netloc for u in requests), requests
    assert not failed, failed
    assert not errors, errors
    assert has_leaflet
    paths = {urlsplit(u).path for u in requests}
    views = {(v["month"], v["group"]): "/" + v["file"] for v in manifest["views"]}
    expected = {"/", "/vendor/leaflet.js", "/vendor/leaflet.css", "/manifest.json",
                "/precincts.geojson", views[latest, "all"], views[month, "all"],
                views[month, group]}  # fmt: skip
    assert expected <= paths, expected - paths


# --- publishing again ----------------------------------------------------------------------


def test_publishing_unchanged_data_again_rewrites_no_month(demo_store, tmp_path):
    snapshot = open_store(demo_store)
    out = tmp_path / "site"
    options = PublishOptions(today=TODAY)
    first = publish_site(snapshot, out, options=options)
    before = out.resolve()
    manifest = _manifest(out)
    stats = {v["file"]: os.stat(before / v["file"]) for v in manifest["views"]}

    second = publish_site(snapshot, out, options=options)

    after = out.resolve()
    assert after != before  # a new version was swapped in ...
    assert first.rewritten == first.months and len(first.months) == 12
    assert second.rewritten == [] and second.kept == first.months  # ... rewriting nothing
    assert second.withheld == first.withheld
    again = _manifest(out)
    assert again["views"] == manifest["views"]
    for name, stat in stats.items():
        now = os.stat(after / name)
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), name


# --- swapping a version in while visitors read -------------------------------------------


class Reader(threading.Thread):
    """A visitor in a loop: manifest.json, the page, the outlines, then every view the
    manifest lists, checking each answer, until told to stop (or for at most ``limit_s``)."""

    def __init__(self, url: str, stop: threading.Event, limit_s: float) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.limit_s = url, stop, limit_s
        self.rounds: list[tuple[float, float, str]] = []  # (start, end, manifest's published)
        self.problems: list[str] = []
        self.crashed: BaseException | None = None

    def run(self) -> None:
        client = Client(self.url)
        deadline = time.monotonic() + self.limit_s
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                start = time.monotonic()
                version = self.round(client)
                self.rounds.append((start, time.monotonic(), version))
        except BaseException as err:  # reported by the test
            self.crashed = err
        finally:
            client.close()

    def fetch(self, client: Client, path: str) -> object | None:
        status, _, body = client.get(path, **{"Cache-Control": "no-cache"})
        if status != 200:
            self.problems.append(f"{path}: {status}")
            return None
        if path.endswith((".json", ".geojson")):
            try:
                return json.loads(body)
            except ValueError:
                self.problems.append(f"{path}: not whole JSON ({len(body)} bytes)")
        return body

    def round(self, client: Client) -> str:
        manifest = self.fetch(client, "manifest.json")
        if not isinstance(manifest, dict):
            return "?"
        # A whole site: every month of the manifest has every group's view, and nothing else.
        listed = sorted((v["month"], v["group"]) for v in manifest["views"])
        if listed != sorted((m, g) for m in manifest["months"] for g in manifest["groups"]):
            self.problems.append(f"manifest {manifest['published']} lists other views")
        self.fetch(client, "index.html")
        self.fetch(client, manifest["precincts"])
        for view in manifest["views"]:
            data = self.fetch(client, view["file"])
            if data is not None and not (isinstance(data, dict) and "features" in data):
                self.problems.append(f"{view['file']}: not a FeatureCollection")
        return manifest["published"] + " " + ",".join(manifest["months"])


def test_a_new_version_swapped_in_while_visitors_read_never_gives_a_404(demo_store, tmp_path):
    snapshot = open_store(demo_store)
    out = tmp_path / "site"
    # A month earlier: the site then ended with September.
    publish_site(snapshot, out, options=PublishOptions(today=date(2026, 10, 8)))
    with serve_site(out, run_dir=tmp_path / "nginx") as url:
        old = Client(url)
        old_manifest = json.loads(old.get("manifest.json")[2])
        stop = threading.Event()
        readers = [Reader(url, stop, limit_s=120) for _ in range(3)]
        for reader in readers:
            reader.start()
        try:
            # Every reader has read the old site whole at least once before the swap.
            deadline = time.monotonic() + 60
            while not all(r.rounds for r in readers) and time.monotonic() < deadline:
                assert all(r.is_alive() for r in readers), [r.crashed for r in readers]
                time.sleep(0.05)
            assert all(r.rounds for r in readers), "readers never finished a round"
            # October is published, the six months before it are kept as published (and the
            # publish takes a while, with the readers going round meanwhile).
            report = publish_site(snapshot, out, options=PublishOptions(today=TODAY, months=6))
            swapped = time.monotonic()
            # A visitor who loaded the old manifest just before the swap still gets its views.
            for view in old_manifest["views"]:
                status, _, body = old.get(view["file"])
                assert status == 200, view["file"]
                assert body == (tmp_path / "site").resolve().joinpath(view["file"]).read_bytes()
            # Then every reader goes round the new site whole at least once.
            deadline = time.monotonic() + 60
            while (
                not all(any(start > swapped for start, _, _ in r.rounds) for r in readers)
                and time.monotonic() < deadline
            ):
                assert all(r.is_alive() for r in readers), [r.crashed for r in readers]
                time.sleep(0.05)
        finally:
            stop.set()
            for reader in readers:
                reader.join(timeout=30)
            old.close()
    assert report.rewritten == ["2026-10"] and len(report.months) == 6
    for reader in readers:
        assert reader.crashed is None, reader.crashed
        assert not reader.problems, reader.problems[:10]
        versions = [version for _, _, version in reader.rounds]
        # it read the old site, then the new one, and never the old one again
        old_version, new_version = versions[0], versions[-1]
        assert old_version == old_manifest["published"] + " " + ",".join(old_manifest["months"])
        assert new_version.endswith(" " + ",".join(report.months))
        assert set(versions) == {old_version, new_version}
        assert old_version not in versions[versions.index(new_version) :]


# --- a basemap in the site -----------------------------------------------------------------

# The basemap layer has loaded every tile it asked for, holds some, and has faded them all in
# (Leaflet 1.9 marks a tile active when its fade-in has ended).
TILES_LOADED_JS = """() => {
  const layer = state.basemap;
  if (!layer || !map.hasLayer(layer) || layer.isLoading()) return false;
  const tiles = Object.values(layer._tiles).filter((t) => t.current);
  return tiles.length > 0 && tiles.every((t) => t.loaded && t.active);
}"""
# How many pixels of each tile canvas a vector basemap drew are exactly this colour.
CANVAS_PIXELS_JS = """([r, g, b]) => Object.values(state.basemap._tiles).map((t) => {
  const data = t.el.getContext("2d").getImageData(0, 0, t.el.width, t.el.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === r && data[i + 1] === g && data[i + 2] === b && data[i + 3] === 255) n++;
  }
  return n;
})"""


def _site_with_basemap(demo_store: Path, out: Path, basemap) -> dict:
    publish_site(open_store(demo_store), out,
                 options=PublishOptions(today=TODAY, months=1, basemap=basemap))  # fmt: skip
    return _manifest(out)


def _open_page(pw, url: str, requests: list[str], problems: list[str]):
    """Chromium on ``url``, nothing leaving the machine; requests and problems recorded."""
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    context.route(
        "**/*", lambda route: route.continue_() if _is_local(route.request.url) else route.abort()
    )
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: problems.append(f"{r.url}: {r.status}")
            if r.status >= 400 else None)  # fmt: skip
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(url + "/", wait_until="domcontentloaded")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
    return browser, page


def _tile_requests(requests: list[str], served: str, record: dict) -> list[str]:
    folder = "/" + record["url"].split("{z}")[0]
    assert all(urlsplit(u).netloc == urlsplit(served).netloc for u in requests), requests
    return [urlsplit(u).path for u in requests if urlsplit(u).path.startswith(folder)]


@pytest.mark.browser
def test_browser_draws_a_local_raster_basemap_from_the_sites_own_tiles(demo_store, tmp_path):
    from PIL import Image
    from tilefiles import CAPE_TOWN, TILE_COLOUR, raster_tiles, write_mbtiles

    from layers.maps.tiles import open_basemap

    sync_playwright = _require_browser()
    path = write_mbtiles(tmp_path / "cape-town.mbtiles", raster_tiles(CAPE_TOWN, range(8, 13)),
                         date="2026-11-30")  # fmt: skip
    site = tmp_path / "site"
    record = _site_with_basemap(demo_store, site, open_basemap(path))["basemap"]
    requests: list[str] = []
    problems: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve_site(site) as url, sync_playwright() as pw:
        browser, page = _open_page(pw, url, requests, problems)
        try:
            page.wait_for_function(TILES_LOADED_JS, timeout=30_000)
            page.wait_for_function(PAINTED_JS, timeout=30_000)
            legend = page.text_content("#basemap-note")
            attribution = page.text_content(".leaflet-control-attribution")
            shot = page.screenshot(path=str(ARTIFACTS / "site-raster-basemap.png"))
        finally:
            browser.close()
    assert not problems, problems
    tiles = _tile_requests(requests, url, record)
    assert tiles and all((site / p.lstrip("/")).is_file() for p in tiles), tiles
    assert {p.rsplit("/", 3)[1] for p in tiles} <= {str(z) for z in range(8, 13)}
    assert legend == "Basemap: local file cape-town.mbtiles (raster tiles, 2026-11-30)"
    assert "cape-town.mbtiles, 2026-11-30" in attribution
    # The tiles' colour shows where no cell or precinct covers them.
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert sum(1 for pixel in image.get_flattened_data() if pixel == TILE_COLOUR) > 5_000


@pytest.mark.browser
def test_browser_draws_a_local_vector_basemap_on_canvas(demo_store, tmp_path):
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point, box
    from tilefiles import CAPE_TOWN, write_vector_pmtiles

    from layers.maps.tiles import open_basemap

    sync_playwright = _require_browser()
    # A layer named "water" (not the Protomaps schema): its polygon filled in the plain style's
    # water blue. Its points are not drawn, but make tiles big enough for nginx to compress.
    west, south, east, north = CAPE_TOWN
    xs, ys = np.meshgrid(np.linspace(west, east, 62)[1:-1], np.linspace(south, north, 62)[1:-1])
    shapes = [box(*CAPE_TOWN), *(Point(x, y) for x, y in zip(xs.ravel(), ys.ravel(), strict=True))]
    frame = gpd.GeoDataFrame({"kind": ["sea"] + ["buoy"] * (len(shapes) - 1)}, geometry=shapes,
                             crs="EPSG:4326")  # fmt: skip
    path = write_vector_pmtiles(tmp_path / "sea.pmtiles", frame, layer="water", maxzoom=12)
    site = tmp_path / "site"
    record = _site_with_basemap(demo_store, site, open_basemap(path))["basemap"]
    assert record["vector"] and not record["protomaps_schema"]
    requests: list[str] = []
    problems: list[str] = []
    with serve_site(site) as url, sync_playwright() as pw:
        browser, page = _open_page(pw, url, requests, problems)
        try:
            page.wait_for_function(TILES_LOADED_JS, timeout=30_000)
            water = page.evaluate(CANVAS_PIXELS_JS, [0xAA, 0xCB, 0xE3])
            legend = page.text_content("#basemap-note")
            page.screenshot(path=str(ARTIFACTS / "site-vector-basemap.png"))
        finally:
            browser.close()
        # nginx: vector tiles by their type, compressed, cached for good; a missing one empty.
        folder = record["url"].split("/{z}")[0]
        biggest = max((site / folder).rglob("*.mvt"), key=lambda f: f.stat().st_size)
        client = Client(url)
        try:
            status, head, body = client.get(str(biggest.relative_to(site)),
                                            **{"Accept-Encoding": "gzip"})  # fmt: skip
            assert status == 200
            assert head["content-type"] == "application/vnd.mapbox-vector-tile"
            assert head["cache-control"] == IMMUTABLE
            assert head["content-encoding"] == "gzip"
            assert gzip.decompress(body) == biggest.read_bytes()
            status, head, body = client.get(f"{folder}/12/0/0.mvt")
            assert (status, body, head["cache-control"]) == (204, b"", IMMUTABLE)
        finally:
            client.close()
    assert not problems, problems
    tiles = _tile_requests(requests, url, record)
    assert tiles and all(p.endswith(".mvt") and (site / p.lstrip("/")).is_file() for p in tiles)
    assert "/vendor/protomaps-leaflet.js" in {urlsplit(u).path for u in requests}
    assert legend.startswith("Basemap: local file sea.pmtiles (vector tiles, ")
    # Every tile drawn, and most of each in the water colour (the whole box is sea).
    assert water and min(water) > 0 and sum(water) > len(water) * 256 * 256 // 4, water


@pytest.mark.browser
def test_browser_says_when_a_remote_basemap_cannot_be_reached(demo_store, tmp_path):
    from layers.maps.tiles import OSM_TILES, open_basemap

    sync_playwright = _require_browser()
    site = tmp_path / "site"
    record = _site_with_basemap(demo_store, site, open_basemap("osm"))["basemap"]
    requests: list[str] = []
    problems: list[str] = []
    with serve_site(site) as url, sync_playwright() as pw:
        # No request leaves the machine: the tile server's are aborted, as with no internet.
        browser, page = _open_page(pw, url, requests, problems)
        try:
            page.wait_for_function(
                "() => document.getElementById('basemap-note')?.textContent === "
                "'Basemap unavailable: no connection to the tile server'", timeout=30_000,
            )  # fmt: skip
            page.wait_for_function(PAINTED_JS, timeout=30_000)
        finally:
            browser.close()
    assert record["legend"] == "Basemap: remote, from tile.openstreetmap.org (needs the internet)"
    server = urlsplit(OSM_TILES).netloc
    remote = [u for u in requests if not _is_local(u)]
    assert remote and all(urlsplit(u).netloc == server for u in remote), remote
    assert all(server in p or "ERR_FAILED" in p for p in problems), problems
