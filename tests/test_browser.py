"""The dashboard in a real browser: Debian's Chromium driven by Playwright, no internet."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import psycopg
import pytest
from conftest import IN_CI, ROOT

from layers.storage.demo import generate_demo

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
# Chromium as root in a container, and without its own calls home (they are not page requests,
# but they would fail noisily on a closed network).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _require_browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not CHROMIUM.exists():
        message = "needs Debian's chromium (/usr/bin/chromium) and the playwright package"
        if IN_CI:
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(browser_demo):
    _require_browser()
    folder = browser_demo
    options = ["--store", folder / "store", "--tiles", "none", "--uploads", folder / "uploads",
               "--max-upload-mb", "2"]  # fmt: skip
    with _dashboard(options, folder / "streamlit.log") as url:
        yield url, folder


# A line Streamlit logs at WARNING or above (the format _dashboard sets: time, level, logger,
# message).
STREAMLIT_WARNING = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL)\s+streamlit\S*: .*$", re.M)
# What Streamlit logs about the network, not the app: a browser whose websocket dropped (a
# loaded machine can miss a heartbeat) reconnects to its session.
NETWORK_WARNINGS = ("is already connected! Reconnecting to existing session",)


@contextlib.contextmanager
def _dashboard(
    options: list[object], log_path: Path, *, expected_warnings: tuple[str, ...] = ()
) -> Iterator[str]:
    """``streamlit run server.py -- OPTIONS`` on a free local port: its URL, once healthy;
    stopped on the way out. Its output goes to ``log_path``, which must hold no warning from
    Streamlit but those ``expected_warnings`` name (a test of an attack may expect some)."""
    port = _free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--logger.messageFormat", "%(asctime)s %(levelname)s %(name)s: %(message)s",
             "--", *map(str, options)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, proc, log_path)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    lines = [m.group(0) for m in STREAMLIT_WARNING.finditer(log_path.read_text())]
    allowed = (*expected_warnings, *NETWORK_WARNINGS)
    unexpected = [line for line in lines if not any(e in line for e in allowed)]
    assert not unexpected, f"Streamlit warned: {unexpected}"


def _heat_points(body) -> list[list[float]]:
    """[lat, lng, count] of the heat layer (L.IncidentHeat) on the map whose frame ``body`` is."""
    return body.evaluate(
        "() => window.feature_group.filter(g => map_div.hasLayer(g))"
        ".flatMap(g => g.getLayers()).filter(l => l instanceof L.IncidentHeat)"
        ".flatMap(l => l.getLatLngs())"
    )


def _record_frames(page) -> list[str]:
    """Every websocket frame the page receives, as text, from now on."""
    frames: list[str] = []

    def keep(payload: bytes | str) -> None:
        frames.append(payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload)

    page.on("websocket", lambda ws: ws.on("framereceived", keep))
    return frames


def _sign_in(page, name: str, password: str = "a long enough password") -> None:
    """Sign in on the form; the page then fetches its session cookie and reloads."""
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for(state="attached", timeout=60_000)


def _fetch_download(page, url: str, label: str) -> tuple[int, str, int]:
    """Follow a download link as the browser would (its cookies), then once more: the first
    answer's status and body, and the second's status (the link works once)."""
    link = page.get_by_role("link", name=label)
    link.wait_for(timeout=30_000)
    _wait_until_idle(page)  # a rerun still on its way would replace the link
    href = url + link.get_attribute("href")
    first = page.request.get(href)
    again = page.request.get(href)
    return first.status, first.text(), again.status


def _coordinate_pairs(text: str) -> set[tuple[float, float]]:
    """Every pair of decimal numbers in ``text`` that could be coordinates, to 1e-5."""
    numbers = r"(-?\d{1,3}\.\d{3,})"
    return {(round(float(a), 5), round(float(b), 5))
            for a, b in re.findall(numbers + r"\s*,\s*" + numbers, text)}  # fmt: skip


def _assert_no_incident_in(text: str, pairs: set[tuple[float, float]], incidents) -> None:
    """No incident's coordinates (either order), id or description is in ``text``."""
    spots = set(zip(incidents["lat"].round(5), incidents["lon"].round(5), strict=True))
    spots |= {(b, a) for a, b in spots}  # GeoJSON writes lon, lat
    assert not pairs & spots, "an incident's coordinates reached the browser"
    assert not any(i in text for i in incidents["incident_id"].astype(str).head(500))
    assert "demo record of" not in text  # descriptions stay on the server


def test_map_renders_offline_with_no_request_leaving_localhost(server):
    sync_playwright = _require_browser()
    url, _ = server
    requests: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1500, "height": 1000})

        def record(route):
            requests.append(route.request.url)
            if _is_local(route.request.url):
                route.continue_()
            else:
                route.abort()  # the meeting room has no internet

        context.route("**/*", record)
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator(".leaflet-container").wait_for(state="visible", timeout=60_000)
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=30_000)
        frame.locator("path.leaflet-interactive").first.wait_for(state="attached", timeout=30_000)
        page.get_by_text("SYNTHETIC DEMO DATA").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # let the heat canvas draw before the screenshot
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        n_areas = frame.locator("path.leaflet-interactive").count()
        leaflet_loaded = frame.locator("body").evaluate("() => typeof L !== 'undefined'")
        browser.close()
    outside = [u for u in requests if not _is_local(u)]
    assert not outside, f"requests left localhost: {outside[:10]}"
    assert any("/app/static/vendor/leaflet.js" in u for u in requests)
    assert leaflet_loaded
    assert n_areas >= 50  # the demo's ~60 precincts are drawn


def _wait_until_idle(page) -> None:
    """Wait until Streamlit has finished the current run (its "Running" widget is gone)."""
    page.wait_for_timeout(300)  # let a rerun triggered just now start
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=30_000)


def _open_page(page, title: str) -> None:
    """Follow the sidebar's link to the page called ``title``."""
    page.locator('[data-testid="stSidebarNavLink"]', has_text=title).first.click()


def _upload(page, files: list[Path]) -> None:
    """Put ``files`` in the page's uploaders (incidents, precincts, wards, in that order) and
    wait until the app says it has them all ("Ready to load: ...").

    Every upload reruns the app, and a file set on an uploader while a rerun redraws it can
    be dropped by the browser (chip shown, file never sent): any file the app does not list
    is set again, up to three rounds.
    """
    from playwright.sync_api import expect

    inputs = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    ready = page.get_by_text("Ready to load:")
    everything = f"Ready to load: {', '.join(p.name for p in files)}"
    for _ in range(3):
        listed = ready.inner_text() if ready.count() else ""
        for n, path in enumerate(files):
            if path.name not in listed:
                _wait_until_idle(page)
                inputs.nth(n).set_input_files(path)
                expect(page.locator('[data-testid="stFileChipIconSpinner"]')).to_have_count(
                    0, timeout=60_000
                )
        _wait_until_idle(page)
        try:
            expect(ready).to_have_text(everything, timeout=20_000)
            return
        except AssertionError:
            pass
        # Streamlit's frontend can send an upload in one batch with the map fragment's own
        # update (the map reporting its view), and then reruns only the fragment: the app
        # has the file but has not redrawn the panel. A full rerun (its "r" key) shows it.
        page.locator("body").press("r")
        _wait_until_idle(page)
        try:
            expect(ready).to_have_text(everything, timeout=20_000)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the app never had every file: {ready.inner_text()!r}")


def _cell_step(cells: list[list[float]]) -> float:
    """The smallest longitude step between heat cells: the cell width."""
    lngs = sorted({round(lng, 9) for _, lng, _ in cells})
    return min(b - a for a, b in itertools.pairwise(lngs))


def _changed(read, old, timeout_s: float = 30.0, settle_s: float = 2.0):
    """Poll ``read()`` until it differs from ``old`` and then holds still for ``settle_s``
    (the app reruns in the background, possibly more than once)."""
    deadline = time.monotonic() + timeout_s
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif value != old and time.monotonic() - since >= settle_s:
            break
    return value


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("data", "blob", "about", "chrome-extension"):
        return True
    return parsed.hostname in LOCAL_HOSTS


def test_upload_validates_and_offers_rejected_rows(server, tmp_path):
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    url, folder = server
    upload = tmp_path / "my_extract.csv"
    upload.write_text(
        "incident_id,agency,category,occurred_at,lat,lon\n"
        "U1,Metro Police,Illegal dumping,2026-10-01T09:00:00,-33.95,18.60\n"
        "U2,Metro Police,Noise nuisance,2026-10-01T23:00:00,-33.90,18.65\n"
        "U3,Metro Police,Noise nuisance,not a time,-33.90,18.65\n"
        "U4,Metro Police,Noise nuisance,2026-10-02T01:00:00,0,0\n"
    )
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        _open_page(page, "Load data")
        page.get_by_text("Load your own incident or boundary files").wait_for(timeout=30_000)
        # The demo store is synthetic: uploads make a store of their own, with boundaries.
        page.get_by_text("your files go to a store of their own").wait_for(timeout=30_000)
        demo_files = folder / "files"
        _upload(page, [upload, demo_files / "precincts.gpkg", demo_files / "wards.geojson"])
        go = page.get_by_role("button", name="Validate and load")
        expect(go).to_be_enabled(timeout=60_000)
        _wait_until_idle(page)  # a click on a button being redrawn is lost
        go.click()
        page.get_by_text("2 of 4 rows were rejected").wait_for(timeout=60_000)
        report = page.locator('[data-testid="stCode"]').last.inner_text()
        status, rejected, again = _fetch_download(
            page, url, "Download rejected rows of my_extract.csv"
        )
        page.get_by_role("button", name="Show my store").click()
        page.get_by_text("Back to the starting store").wait_for(timeout=30_000)
        # the new store holds only the two good uploaded rows, and is not labelled synthetic
        expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(
            "2", timeout=30_000
        )
        synthetic_banner = page.get_by_text("SYNTHETIC DEMO DATA: these incidents").count()
        browser.close()
    assert "unparseable occurred_at" in report and "null island" in report
    assert (status, again) == (200, 410)
    assert rejected.splitlines()[0].endswith("reject_reason")
    assert len(rejected.strip().splitlines()) == 3
    assert synthetic_banner == 0


def test_a_failed_upload_says_one_thing_and_the_page_offers_map_and_default(server, tmp_path):
    """A file without an agency column: the page says it was not loaded (no success, no
    path, no version, no "Show my store"), shows its first rows, and the same upload with
    "SAPS" for every row loads."""
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    _, folder = server
    upload = tmp_path / "station_extract.csv"
    upload.write_text(
        "id,type,datetime,latitude,longitude\n"
        "S1,Burglary,2026-10-01T09:00:00,-33.95,18.60\n"
        "S2,Robbery,2026-10-01T23:00:00,-33.90,18.65\n"
    )
    files = [upload, folder / "files" / "precincts.gpkg", folder / "files" / "wards.geojson"]
    options = ["--store", folder / "store", "--tiles", "none", "--uploads", tmp_path / "uploads"]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/load_data", wait_until="domcontentloaded")
        page.get_by_text("Load your own incident or boundary files").wait_for(timeout=30_000)
        page.get_by_text("your files go to a store of their own").wait_for(timeout=30_000)
        _upload(page, files)
        page.get_by_text("First rows of station_extract.csv").wait_for(timeout=30_000)
        page.get_by_text("No column found for Agency").wait_for(timeout=30_000)
        go = page.get_by_role("button", name="Validate and load")
        _wait_until_idle(page)
        go.click()
        failure = page.get_by_text("station_extract.csv was not loaded")
        failure.wait_for(timeout=60_000)
        _wait_until_idle(page)
        panel = page.locator('[data-testid="stMain"]', has_text="Load your own")
        failed_text = panel.inner_text()
        show_after_failure = page.get_by_role("button", name="Show my store").count()
        # the page's --default: SAPS for every row
        page.get_by_test_id("stPopoverButton").click()
        page.get_by_role("textbox", name="Agency for every row").fill("SAPS")
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        _wait_until_idle(page)
        go.click()
        page.get_by_text("All 2 rows accepted").wait_for(timeout=60_000)
        expect(page.get_by_role("button", name="Show my store")).to_be_visible(timeout=30_000)
        browser.close()
    assert "has no column for agency" in failed_text
    assert "accepted." not in failed_text and "rows accepted" not in failed_text
    assert "version" not in failed_text.lower() and "/tmp" not in failed_text
    assert str(tmp_path) not in failed_text
    assert show_after_failure == 0


def test_the_compstat_hour_grid_shows_all_24_hours_without_scrolling(server):
    """At 1600 x 1000 the hour-by-weekday grid shows every hour of every day: its table
    scrolls neither across nor down (it showed hours 0 to 11 only)."""
    sync_playwright = _require_browser()
    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{url}/compstat", wait_until="domcontentloaded")
        title = page.get_by_text("Hour of day by day of week, last 28 days")
        title.wait_for(timeout=60_000)
        _wait_until_idle(page)
        column = page.locator('[data-testid="stColumn"]', has=title)
        scroller = column.locator('[data-testid="stDataFrame"] .dvn-scroller').first
        scroller.wait_for(timeout=30_000)
        sizes = scroller.evaluate(
            "el => [el.scrollWidth, el.clientWidth, el.scrollHeight, el.clientHeight]"
        )
        browser.close()
    scroll_width, client_width, scroll_height, client_height = sizes
    assert scroll_width <= client_width + 1, sizes
    assert scroll_height <= client_height + 1, sizes


def test_an_upload_over_the_size_limit_is_refused_before_it_is_read(server, tmp_path):
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    url, folder = server
    big = tmp_path / "big_extract.csv"
    row = "B{},SAPS,Burglary,2026-10-01T09:00:00,-33.95,18.60\n"
    big.write_text("incident_id,agency,category,occurred_at,lat,lon\n"
                   + "".join(row.format(n) for n in range(60_000)))  # fmt: skip
    assert big.stat().st_size > 2 * 1024**2
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/load_data", wait_until="domcontentloaded")
        page.get_by_text("Load your own incident or boundary files").wait_for(timeout=30_000)
        page.get_by_text("your files go to a store of their own").wait_for(timeout=30_000)
        _wait_until_idle(page)
        _upload(page, [big])
        go = page.get_by_role("button", name="Validate and load")
        expect(go).to_be_enabled(timeout=60_000)
        _wait_until_idle(page)
        go.click()
        message = page.get_by_text("big_extract.csv is larger than 2 MB")
        message.wait_for(timeout=30_000)
        browser.close()
    assert not list((folder / "uploads").glob("**/big_extract*"))


def test_filter_change_swaps_layers_without_rebuilding_the_map(server):
    """A filter change replaces the layers in place (the viewer keeps position and zoom); a
    zoom makes finer heat cells for the new view."""
    sync_playwright = _require_browser()
    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=60_000)
        _wait_until_idle(page)
        body = frame.locator("body")

        def heat_points() -> list[list[float]]:
            return _heat_points(body)

        opening = heat_points()
        # Mark this map instance and move the view: both must survive a filter change.
        body.evaluate("() => { window.__sameMap = true; map_div.setView([-33.93, 18.5], 14); }")
        zoomed = _changed(heat_points, opening)
        page.locator('[data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option", name="SAPS").click()
        page.keyboard.press("Escape")
        filtered = _changed(heat_points, zoomed)
        same_map = body.evaluate("() => window.__sameMap === true")
        zoom = body.evaluate("() => map_div.getZoom()")
        legends = frame.locator(".cct-legend").count()
        saps = int(
            page.locator('[data-testid="stMetricValue"]').first.inner_text().replace(",", "")
        )
        # Zoom back out: the cells are made again, coarser, for the whole city.
        body.evaluate("() => map_div.setZoom(9)")
        coarse = _changed(heat_points, filtered)
        browser.close()
    assert same_map, "the filter change rebuilt the map"
    assert zoom == 14, "the viewer lost their zoom"
    # Weights are cell counts, so the sum over the smallest is the number of incidents.
    count = {name: sum(w for _, _, w in cells) / min(w for _, _, w in cells) for name, cells in
             (("zoomed", zoomed), ("filtered", filtered), ("coarse", coarse))}  # fmt: skip
    assert 0 < count["filtered"] < count["zoomed"], "the heat layer did not follow the filter"
    assert count["coarse"] == pytest.approx(saps, rel=1e-3)  # the whole city: every incident
    # Cells are 4 screen pixels: 0.00034 degrees of longitude at zoom 14, 0.011 at zoom 9.
    assert _cell_step(filtered) == pytest.approx(4 / 256 / 2**14 * 360, rel=0.01)
    assert _cell_step(coarse) == pytest.approx(4 / 256 / 2**9 * 360, rel=0.01)
    assert legends == 2  # heat and areas, each once: no stale legend left behind


def test_live_page_follows_another_process_without_a_reload(postgis_url, tmp_path):
    """The meeting's view: incidents ingested by another process appear within one refresh,
    in place (no page reload)."""
    from layers.livefeed.postgis import ingest_postgis

    sync_playwright = _require_browser()
    manifest = generate_demo(tmp_path / "files", incidents=1000)
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path, synthetic=True,
    )  # fmt: skip
    options = ["--postgis", postgis_url, "--refresh", "3", "--tiles", "none"]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url, wait_until="domcontentloaded")
        metric = page.locator('[data-testid="stMetricValue"]').first
        metric.wait_for(timeout=60_000)
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=60_000)
        page.evaluate("() => { window.__noReload = true; }")
        frame.locator("body").evaluate("() => { window.__sameMap = true; }")

        def count() -> int:
            return int(metric.inner_text().replace(",", ""))

        before = count()
        # Another process writes: the CLI ingest of a second agency's file.
        subprocess.run(
            [sys.executable, "-m", "layers", "ingest", "--postgis", postgis_url,
             str(manifest.incident_paths[1])],
            cwd=ROOT, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        written = time.monotonic()
        after = _changed(count, before, timeout_s=20, settle_s=0.5)
        seen_after = time.monotonic() - written
        delta = page.locator('[data-testid="stMetricDelta"]').first.inner_text()
        watcher = page.frame_locator('iframe[title="app.livewatch.live_watch"]')
        status = watcher.locator("#status").inner_text(timeout=30_000)
        no_reload = page.evaluate("() => window.__noReload === true")
        same_map = frame.locator("body").evaluate("() => window.__sameMap === true")
        browser.close()
    assert after > before, "the new incidents never showed"
    assert seen_after < 3 + 5, f"took {seen_after:.1f} s, more than one 3 s refresh and slack"
    assert no_reload and same_map, "the page or the map was reloaded"
    # The count of new incidents is the metric's own delta, and it is the database's count of
    # the incidents first stored since the minute it names.
    fresh, _, at = delta.partition(" new since ")
    zone = ZoneInfo("Africa/Johannesburg")
    now = datetime.now(zone)
    since = now.replace(hour=int(at[:2]), minute=int(at[3:5]), second=0, microsecond=0)
    if since > now:
        since -= timedelta(days=1)
    with psycopg.connect(postgis_url) as conn:
        stored = conn.execute(
            "SELECT count(*) FROM incident_map.incidents WHERE ingested_at >= %s", (since,)
        ).fetchone()[0]
    assert int(fresh.replace(",", "")) == stored >= after - before, delta
    assert status.startswith("Live: changes are pushed"), status


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")


def test_an_agency_viewer_receives_no_other_agencys_incident_coordinates(server, tmp_path):
    """Signed in as an agency, zoomed in on the busiest place: every heat cell of other
    agencies' incidents the page gets is an anonymous cell, and nothing Streamlit sends
    (websocket frames, the page, the map's frame) holds another agency's incident's
    coordinates, id or description."""
    import numpy as np

    from layers.access.policy import PrivacyRules
    from layers.access.users import set_user
    from layers.storage.columnar import mercator_pixels
    from layers.storage.store import open_store

    sync_playwright = _require_browser()
    _, folder = server
    store = folder / "store"
    # A partner whose own incidents are not in the store: everything it gets is other
    # agencies' (its own it would see in full).
    set_user(tmp_path / "users.toml", "cpf", "a long enough password", "agency:Private security")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    incidents = open_store(store).incidents
    assert "Private security" not in set(incidents["agency"].astype(str))
    busiest = incidents.round({"lat": 2, "lon": 2}).value_counts(["lat", "lon"]).index[0]
    options = ["--store", store, "--tiles", "none", "--access", access]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        frames = _record_frames(page)
        page.goto(url, wait_until="domcontentloaded")
        _sign_in(page, "cpf")
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=60_000)
        _wait_until_idle(page)
        body = frame.locator("body")

        def heat_points() -> list[list[float]]:
            return _heat_points(body)

        opening = heat_points()
        lat, lon = busiest
        body.evaluate(f"() => map_div.setView([{lat}, {lon}], 16)")
        zoomed = _changed(heat_points, opening)
        _wait_until_idle(page)
        sent = "\n".join(frames)
        page_html = page.content() + body.evaluate("() => document.documentElement.outerHTML")
        # A download is in the audit log before the file is handed over, and its link
        # works once, for this browser only.
        _open_page(page, "CompStat review")
        status, review, again = _fetch_download(page, url, "Download the review (CSV)")
        link = page.get_by_role("link", name="Download the review (CSV)")
        used = link.get_attribute("href")
        # A new page in the same browser (its cookie: still signed in) makes a new link.
        page.reload(wait_until="domcontentloaded")  # the CompStat page again (its URL)
        link.wait_for(timeout=60_000)
        fresh = link.get_attribute("href")
        try:  # a client without the browser's cookie (another person, a script)
            stranger = urllib.request.urlopen(url + fresh, timeout=30).status
        except urllib.error.HTTPError as err:
            stranger = err.code
        owner = page.request.get(url + fresh).status  # the stranger did not use it up
        browser.close()
    assert fresh != used
    assert (status, again, stranger, owner) == (200, 410, 403, 200)
    assert zoomed and opening
    from layers.access import audit

    exports = audit.read_events(tmp_path / "audit.jsonl", event=audit.EXPORT)
    assert [(e["user"], e["role"], e["detail"]["what"]) for e in exports] == [
        ("cpf", "agency:Private security", "CompStat review")
    ] * 2  # the two downloads served, not the two refused
    assert review.startswith("Precinct,") and exports[0]["detail"]["file"].startswith("compstat_")
    shift = PrivacyRules().anonymous_shift
    for cells in (opening, zoomed):
        points = np.array([c[:2] for c in cells], dtype=float)
        px, py = mercator_pixels(points[:, 1], points[:, 0], 0)
        # The centre of an anonymous cell, or of a block of them (coarse zooms).
        assert any(
            max(np.abs(px * 2.0 ** (shift - m) % 1 - 0.5).max(),
                np.abs(py * 2.0 ** (shift - m) % 1 - 0.5).max()) < 0.02
            for m in range(8)
        ), "a heat cell is finer than the anonymous grid"  # fmt: skip
    text = sent + page_html
    pairs = _coordinate_pairs(text)
    # The scan sees the map's data (the cells are in the frames), so an empty result means
    # something.
    assert any((round(c[0], 5), round(c[1], 5)) in pairs for c in zoomed)
    _assert_no_incident_in(text, pairs, incidents)


def test_a_public_viewer_gets_the_published_map_and_no_incident(server, tmp_path):
    """Signed in as the public: the page draws the published site's cells, and nothing
    Streamlit sends (websocket frames, the page, the map's frame) holds an incident's
    coordinates, id or description."""
    from layers.access.users import set_user
    from layers.storage.store import open_store

    sync_playwright = _require_browser()
    _, folder = server
    store = folder / "store"
    set_user(tmp_path / "users.toml", "cpf", "a long enough password", "public")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    incidents = open_store(store).incidents
    options = ["--store", store, "--tiles", "none", "--access", access]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        frames = _record_frames(page)
        page.goto(url, wait_until="domcontentloaded")
        _sign_in(page, "cpf")
        page.get_by_text("The published monthly map").first.wait_for(timeout=90_000)
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator(".leaflet-container").wait_for(state="visible", timeout=60_000)
        _wait_until_idle(page)
        body = frame.locator("body")
        page_html = page.content() + body.evaluate("() => document.documentElement.outerHTML")
        heat = frame.locator("canvas.leaflet-heatmap-layer").count()
        browser.close()
    assert heat == 0  # no heat of incidents: cells of the published site
    text = "\n".join(frames) + page_html
    assert "cell of about" in text
    pairs = _coordinate_pairs(text)
    assert pairs  # the cells' corners are there: the scan sees the map's data
    _assert_no_incident_in(text, pairs, incidents)


def test_a_removed_user_stops_receiving_the_meeting_rotation(server, tmp_path):
    """The meeting rotation reruns only its fragment: a user removed from the users file
    while it runs gets no further precinct within one step, is told so, and the sign-out is
    in the audit log."""
    from layers.access import audit
    from layers.access.users import set_user

    sync_playwright = _require_browser()
    _, folder = server
    users = tmp_path / "users.toml"
    set_user(users, "ana", "a long enough password", "analyst")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    frames: list[float] = []
    options = ["--store", folder / "store", "--tiles", "none", "--access", access]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})

        def stamp(_payload: object) -> None:
            frames.append(time.monotonic())

        page.on("websocket", lambda ws: ws.on("framereceived", stamp))
        page.goto(f"{url}/?mode=meeting&rotate=precincts&every=5", wait_until="domcontentloaded")
        _sign_in(page, "ana")
        heading = page.get_by_text(re.compile(r"^Precinct: ")).first
        heading.wait_for(timeout=90_000)
        # The step's precinct is outlined and labelled on the map, under the same name.
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        label = frame.locator(".cct-focus-label")
        label.wait_for(timeout=30_000)
        deadline = time.monotonic() + 20  # a step may fall between the two readings
        while True:
            named = {label.inner_text(), heading.inner_text().removeprefix("Precinct: ")}
            if len(named) == 1 or time.monotonic() > deadline:
                break
            page.wait_for_timeout(500)
        # The rotation is running: a new step arrives within its 5 s.
        before = len(frames)
        page.wait_for_timeout(6_000)
        assert len(frames) > before
        # The administrator removes the user (another user stays in the file).
        users.unlink()
        set_user(users, "someone-else", "a long enough password", "public")
        removed = time.monotonic()
        page.get_by_text("Your access has changed").wait_for(timeout=15_000)
        told = time.monotonic() - removed
        page.get_by_role("textbox", name="User name").wait_for(timeout=15_000)
        settled = len(frames)
        page.wait_for_timeout(8_000)  # more than a rotation step: nothing more arrives
        after = len(frames) - settled
        browser.close()
    assert len(named) == 1, named
    assert told < 5 + 5, f"told after {told:.1f} s"
    assert after <= 2, f"{after} frames after sign-out"  # heartbeats at most, no data
    signed_out = audit.read_events(tmp_path / "audit.jsonl", event=audit.SIGN_OUT)
    assert [(e["user"], e["detail"]["reason"]) for e in signed_out] == [("ana", "access changed")]


def test_the_filter_stays_in_the_url_from_page_to_page(server):
    """A shared link's filter and view hold on every page: following a page link (which
    clears the query) writes them back, and the page's own path is kept."""
    sync_playwright = _require_browser()
    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/?agencies=SAPS&boundary=ward", wait_until="domcontentloaded")
        page.get_by_text("Filter: ").first.wait_for(timeout=60_000)
        _wait_until_idle(page)
        _open_page(page, "Hotspots")
        page.get_by_text("Choose an analysis under Hotspots").wait_for(timeout=60_000)
        _wait_until_idle(page)
        on_hotspots = urlparse(page.url)
        _open_page(page, "CompStat review")
        page.get_by_text("Hour of day by day of week").wait_for(timeout=60_000)
        _wait_until_idle(page)
        on_compstat = urlparse(page.url)
        browser.close()
    for seen, path in ((on_hotspots, "/hotspots"), (on_compstat, "/compstat")):
        assert seen.path == path
        assert "agencies=SAPS" in seen.query and "boundary=ward" in seen.query


def test_a_page_address_first_on_a_new_server_runs_inside_the_frame(server, tmp_path):
    """pages/ is also the folder Streamlit's legacy multipage mode serves by itself, each
    page's file alone: the very first request of a new server, for a page's own address,
    still gets the frame's sign-in, and then the page the address names."""
    from layers.access.users import set_user

    sync_playwright = _require_browser()
    _, folder = server
    set_user(tmp_path / "users.toml", "station", "a long enough password", "agency:SAPS")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    options = ["--store", folder / "store", "--tiles", "none", "--access", access]
    log = tmp_path / "streamlit.log"
    with _dashboard(options, log) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(f"{url}/hotspots", wait_until="domcontentloaded")
        page.get_by_role("textbox", name="User name").wait_for(timeout=60_000)
        before = page.get_by_text("Choose an analysis under Hotspots").count()
        _sign_in(page, "station")
        page.get_by_text("Choose an analysis under Hotspots").wait_for(timeout=60_000)
        path = urlparse(page.url).path
        browser.close()
    assert before == 0 and path == "/hotspots"
    assert "without the frame" not in log.read_text()
