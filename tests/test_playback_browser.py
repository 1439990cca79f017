"""Time playback in a real browser: the frame's heading and heat step together, on one colour
scale, in one map that is never rebuilt; play, pause, step and speed. Every wait is for a
condition (a heading's text, the heat's total), never for a length of time."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pytest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _dashboard,
    _heat_points,
    _require_browser,
    _wait_until_idle,
)

from layers.storage.columnar import EPOCH
from layers.storage.store import open_store

pytestmark = pytest.mark.browser
FIRST, WEEKS = date(2026, 1, 5), 20  # a Monday, and twenty whole weeks from it
# Every heading the page shows, in order, as the browser draws it (a frame at 4x lasts a
# quarter of a second: too short to be sure of catching it by polling).
RECORD_HEADINGS = """() => {
    window.__headings = [];
    const seen = () => {
        for (const h of document.querySelectorAll("h3")) {
            const text = h.innerText.trim();
            if (text.endsWith(" incidents") && window.__headings.at(-1) !== text) {
                window.__headings.push(text);
            }
        }
    };
    new MutationObserver(seen).observe(document.body,
        {childList: true, subtree: true, characterData: true});
    seen();
}"""


@pytest.fixture(scope="module")
def playback_server(browser_demo):
    _require_browser()
    folder = browser_demo
    options = ["--store", folder / "store", "--tiles", "none", "--uploads",
               folder / "uploads-playback"]  # fmt: skip
    with _dashboard(options, folder / "streamlit-playback.log") as url:
        yield url


def _until(read: Callable[[], object], done: Callable[[object], bool], what: str,
           timeout_s: float = 60.0) -> object:  # fmt: skip
    """Poll ``read()`` until ``done`` holds for it; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {value!r} after {timeout_s:g} s")
        time.sleep(0.1)


def _total(points: list[list[float]]) -> int:
    """Incidents in the heat layer: weights are cell counts."""
    return round(sum(w for _, _, w in points)) if points else 0


def test_playback_steps_the_heading_and_heat_together(playback_server, browser_demo):
    sync_playwright = _require_browser()
    from playwright.sync_api import expect

    url = playback_server
    day = open_store(browser_demo / "store").columns.day
    mondays = [FIRST + timedelta(weeks=w) for w in range(WEEKS)]
    counts = [int(((day >= (m - EPOCH).days) & (day < (m - EPOCH).days + 7)).sum())
              for m in mondays]  # fmt: skip
    headings = [f"Week of {m.day} {m:%b %Y}: {n:,} incidents" for m, n in
                zip(mondays, counts, strict=True)]  # fmt: skip
    last = mondays[-1] + timedelta(days=6)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        page.goto(f"{url}/playback?since={FIRST}&until={last}", wait_until="domcontentloaded")
        heading = page.locator("h3").filter(has_text=re.compile(r" incidents$"))
        expect(heading).to_have_text(headings[0], timeout=90_000)
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=60_000)
        _wait_until_idle(page)
        body = frame.locator("body")
        # Mark this map: it must be the same one after every frame. Zoom out to the whole
        # city, so that every cell is sent and the heat holds every incident of the frame.
        top = frame.locator(".cct-heat-note").first
        opening = top.inner_text()
        body.evaluate("() => { window.__sameMap = true; map_div.setZoom(9); }")
        # The scale at the new zoom is another; the heat holds the week's every incident.
        scale = {0: _until(top.inner_text, lambda t: t != opening, "the zoom's colour scale")}
        heat = {0: _until(lambda: _heat_points(body), lambda p: _total(p) == counts[0],
                          "the first week's heat")}  # fmt: skip
        forward = page.get_by_role("button", name="Forward ▶")
        back = page.get_by_role("button", name="◀ Back")
        play = page.get_by_role("button", name="▶ Play")
        pause = page.get_by_role("button", name="Pause")

        # Step forward twice and back once: the heading and the heat follow each step.
        for index in (1, 2):
            forward.click()
            expect(heading).to_have_text(headings[index], timeout=30_000)
            heat[index] = _until(lambda: _heat_points(body),
                                 lambda p, n=counts[index]: _total(p) == n,
                                 f"week {index}'s heat")  # fmt: skip
            scale[index] = top.inner_text()
        back.click()
        expect(heading).to_have_text(headings[1], timeout=30_000)
        _until(lambda: _heat_points(body), lambda p: _total(p) == counts[1], "week 1 again")

        # Play at 4x: the frames go by one after another, in order.
        page.evaluate(RECORD_HEADINGS)
        page.get_by_text("4x", exact=True).click()
        play.click()
        expect(page.get_by_text("Playing at 4x: a frame every 0.25 s.")).to_be_visible(
            timeout=30_000
        )
        page.wait_for_function(f"() => window.__headings.includes({headings[5]!r})", timeout=60_000)
        pause.click()
        expect(page.get_by_role("button", name="▶ Play")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Playing at 4x")).to_have_count(0, timeout=30_000)
        _wait_until_idle(page)
        played = page.evaluate("() => window.__headings")
        stopped = heading.inner_text()
        # Paused: a run of the fragment for another reason (a zoom, which makes new cells)
        # shows the same frame.
        before = _heat_points(body)
        body.evaluate("() => map_div.setZoom(10)")
        _until(lambda: _heat_points(body), lambda p: p != before, "the zoom's new cells")
        _wait_until_idle(page)
        after_zoom = heading.inner_text()

        # Another speed, and a step from where it stopped.
        page.get_by_text("2x", exact=True).click()
        play.click()
        expect(page.get_by_text("Playing at 2x: a frame every 0.5 s.")).to_be_visible(
            timeout=30_000
        )
        at = headings.index(stopped)
        page.wait_for_function(
            f"() => window.__headings.includes({headings[at + 1]!r})", timeout=60_000
        )
        forward.click()  # a step takes over from playing
        expect(page.get_by_role("button", name="▶ Play")).to_be_visible(timeout=30_000)
        _wait_until_idle(page)
        stepped = heading.inner_text()
        same_map = body.evaluate("() => window.__sameMap === true")
        browser.close()

    indexes = [headings.index(h) for h in played]
    assert indexes[0] == 1 and indexes == sorted(indexes), played
    assert len(set(indexes)) >= 4  # frame 1, and frames through 5 drawn one after another
    assert after_zoom == stopped
    assert headings.index(stepped) >= at + 2
    assert same_map, "a frame rebuilt the map"
    # One colour scale: the top is the same in every frame; the heat is each frame's own.
    assert scale[0] == scale[1] == scale[2] and "Red: " in scale[0]
    assert heat[1] != heat[2]
    weights = np.array([w for _, _, w in heat[2]])
    assert weights.min() >= 1
