"""The meeting pack in a real browser: an agency viewer signed in, a filter and a map moved
on screen, one click on "Meeting pack (PDF)", and the PDF the link serves has the pages of
what the page showed that viewer; the download is in the audit log."""

from __future__ import annotations

import io
import re

import pytest
from test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    _dashboard,
    _require_browser,
    _sign_in,
    _wait_until_idle,
)

from layers.publishing import pack as pack_module

pytestmark = pytest.mark.browser


def test_the_meeting_pack_button_gives_the_pdf_of_what_the_page_shows(browser_demo, tmp_path):
    from pypdf import PdfReader

    from layers.access import audit
    from layers.access.users import set_user

    sync_playwright = _require_browser()
    set_user(tmp_path / "users.toml", "mp", "a long enough password", "agency:Metro Police")
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    options = ["--store", browser_demo / "store", "--tiles", "none", "--access", access]
    with _dashboard(options, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.goto(url + "/?agencies=SAPS", wait_until="domcontentloaded")
        _sign_in(page, "mp")
        frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
        frame.locator("canvas.leaflet-heatmap-layer").wait_for(state="attached", timeout=60_000)
        _wait_until_idle(page)
        # The viewer moves the map: the pack shows it as it was last shown on screen.
        frame.locator("body").evaluate("() => map_div.setView([-33.95, 18.6], 12)")
        _wait_until_idle(page)
        incidents = page.locator('[data-testid="stMetricValue"]').first.inner_text()
        page.get_by_role("button", name="Meeting pack (PDF)").click()
        link = page.get_by_role("link", name=re.compile(r"Download the meeting pack \(PDF"))
        link.wait_for(timeout=90_000)
        _wait_until_idle(page)
        label = link.inner_text()
        answer = page.request.get(url + link.get_attribute("href"))
        pdf = (answer.status, answer.headers["content-type"], answer.body())
        html_link = page.get_by_role("link", name="Print-ready page (HTML)")
        answer = page.request.get(url + html_link.get_attribute("href"))
        printable = (answer.status, answer.text())
        browser.close()
    assert pdf[:2] == (200, "application/pdf")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "meeting_pack_agency.pdf").write_bytes(pdf[2])  # to look at
    assert printable[0] == 200 and "Meeting pack" in printable[1]
    reader = PdfReader(io.BytesIO(pdf[2]))
    pages = len(reader.pages)
    assert pages >= 2 and f"PDF, {pages} pages" in label
    text = [re.sub(r"\s+", " ", p.extract_text()) for p in reader.pages]
    for n, page_text in enumerate(text, start=1):
        assert "Meeting pack · Safety cluster incident map" in page_text
        assert "Filter: Agencies: SAPS" in page_text
        assert "Data as of latest incident" in page_text
        assert "Made by mp (agency:Metro Police)" in page_text
        assert "Restricted: as this role may see it; counts under 3 hidden" in page_text
        assert "SYNTHETIC DEMO DATA" in page_text
        assert f"Page {n} of {pages}" in page_text
    assert "at zoom 12" in text[0] and "as it was last shown on screen" in text[0]
    assert f"Incidents {incidents}" in text[1]  # the figure the page showed this viewer
    assert "CompStat review by precinct" in text[1]
    [picture] = reader.pages[0].images
    scale = pack_module.MAP_SCALE
    size = (round(pack_module.MAP_W_PX * scale), round(pack_module.MAP_H_PX * scale))
    assert picture.image.size == size
    exports = audit.read_events(tmp_path / "audit.jsonl", event=audit.EXPORT)
    logged = [(e["user"], e["role"], e["detail"]["what"], e["detail"]["filters"])
              for e in exports]  # fmt: skip
    assert logged == [
        ("mp", "agency:Metro Police", "meeting pack", {"agencies": ["SAPS"]}),
        ("mp", "agency:Metro Police", "meeting pack (print-ready page)", {"agencies": ["SAPS"]}),
    ]
    assert exports[0]["detail"]["file"].startswith("meeting_pack_")
