"""Issue 16, point 4: a live map in Chromium that sleeps and wakes, and one on a slow link.

A laptop's sleep is played as Chromium plays it to a page: the page is frozen and the network
is gone; on waking both come back. A slow link is Chromium's own network throttling."""

from __future__ import annotations

import re
import time

import psycopg
import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, _dashboard, _require_browser

from layers.livefeed.postgis import SCHEMA, ingest_postgis
from layers.storage.demo import generate_demo

pytestmark = pytest.mark.browser


def _incidents(page):
    """The "Incidents" metric (by its label: other metrics sit beside it)."""
    label = page.locator('[data-testid="stMetricLabel"]', has_text=re.compile(r"^\s*Incidents\s*$"))
    return page.locator('[data-testid="stMetric"]').filter(has=label)


def _insert(url: str, n: int, prefix: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.incidents (agency, incident_id, category, "
            "collaboration_area, occurred_at, lon, lat) "
            "SELECT agency, %s || g, category, collaboration_area, now(), lon, lat "
            f"FROM (SELECT * FROM {SCHEMA}.incidents ORDER BY seq LIMIT 1) AS one, "
            "generate_series(1, %s) AS g",
            (prefix, n),
        )


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {SCHEMA}.incidents").fetchone()[0]


@pytest.fixture
def live_map(postgis_url, tmp_path):
    sync_playwright = _require_browser()
    manifest = generate_demo(tmp_path / "files", incidents=800)
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path, synthetic=True,
    )  # fmt: skip
    options = ["--postgis", postgis_url, "--refresh", "3", "--tiles", "none"]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        frames: list[tuple[float, int]] = []
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda payload: frames.append((time.monotonic(), len(payload))),
            ),
        )
        page.goto(url, wait_until="domcontentloaded")
        _incidents(page).wait_for(timeout=60_000)
        watcher = page.frame_locator('iframe[title="app.livewatch.live_watch"]')
        watcher.locator("#status.pushed").wait_for(timeout=60_000)
        page.evaluate("() => { window.__noReload = true; }")
        yield page, context, frames, postgis_url
        browser.close()


def _shown(page) -> int:
    text = _incidents(page).locator('[data-testid="stMetricValue"]').inner_text()
    return int(text.replace(",", ""))


def _wait_shown(page, expected: int, timeout_s: float) -> float:
    started = time.monotonic()
    while _shown(page) != expected:
        assert time.monotonic() - started < timeout_s, (
            f"the page shows {_shown(page)}, not {expected}, after {timeout_s} s"
        )
        page.wait_for_timeout(100)
    return time.monotonic() - started


def _no_trouble(page) -> None:
    assert page.evaluate("() => window.__noReload === true"), "the page reloaded"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


def test_a_laptop_that_sleeps_and_wakes_catches_up_without_an_error(live_map):
    page, context, _, url = live_map
    cdp = context.new_cdp_session(page)
    assert _shown(page) == _count(url)
    # Sleep: the page is frozen and the network is gone; incidents arrive meanwhile.
    cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
    context.set_offline(True)
    _insert(url, 7, "ASLEEP-")
    time.sleep(8)
    _insert(url, 5, "ASLEEP-MORE-")
    time.sleep(4)
    # Wake: the page catches up on its own (no reload, no error) within a few seconds.
    context.set_offline(False)
    cdp.send("Page.setWebLifecycleState", {"state": "active"})
    _wait_shown(page, _count(url), timeout_s=45)
    watcher = page.frame_locator('iframe[title="app.livewatch.live_watch"]')
    watcher.locator("#status.pushed").wait_for(timeout=30_000)
    _no_trouble(page)
    # ... and it goes on following, holding only the layers it shows (not every one ever
    # shown: st_folium's window.feature_group grew with each change).
    for i in range(3):
        _insert(url, 1, f"AWAKE-{i}-")
        _wait_shown(page, _count(url), timeout_s=20)
    _no_trouble(page)
    held = (
        page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        .locator("body")
        .evaluate("() => window.feature_group.length")
    )
    assert 1 <= held <= 4, f"the map holds {held} layers"


def test_a_slow_link_gets_nothing_while_idle_and_less_than_the_page_for_a_change(live_map):
    page, context, frames, url = live_map
    cdp = context.new_cdp_session(page)
    loaded = sum(size for _, size in frames)  # the page as first drawn
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 300, "downloadThroughput": 256_000 / 8,
         "uploadThroughput": 256_000 / 8},
    )  # fmt: skip
    # Idle: nothing changes, so nothing is sent (no rerun; at most keep-alives).
    start = time.monotonic()
    time.sleep(10)
    idle = sum(size for t, size in frames if t >= start)
    assert idle < 1_000, f"{idle} bytes sent to an idle page in 10 s"
    # A change: the page catches up on the slow link, and is sent less than it first was.
    start = time.monotonic()
    _insert(url, 1, "SLOW-")
    took = _wait_shown(page, _count(url), timeout_s=60)
    page.wait_for_timeout(2_000)  # the rest of that update
    update = sum(size for t, size in frames if t >= start)
    assert 0 < update < 0.6 * loaded, f"an update sent {update} bytes; the page {loaded}"
    _no_trouble(page)
    print(f"slow link: page {loaded} B, idle 10 s {idle} B, update {update} B in {took:.1f} s")
