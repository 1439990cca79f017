"""The meeting pack (issue 18, item 6): its pages hold the page's own figures for the viewer
(the access step and suppression already taken), the filter in words, "data as of" and who
made it; the PDF Chromium prints has those pages; a public viewer gets no pack."""

from __future__ import annotations

import contextlib
import io
import re
import threading
from datetime import date, datetime
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from conftest import dashboard_apps
from streamlit.testing.v1 import AppTest
from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _assert_no_incident_in,
    _coordinate_pairs,
    _require_browser,
)

from layers.analysis import compstat
from layers.publishing import pack as pack_module
from layers.publishing.chromium import ChromiumError, chromium_problem, renderer
from layers.publishing.pack import (
    Pack,
    filter_in_words,
    pack_html,
    sheet_count,
)
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

LOCAL = ZoneInfo("Africa/Johannesburg")
MADE = "_meeting_pack"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=120)


class Sheets(HTMLParser):
    """A pack's pages as a reader sees them: per sheet, the header's and footer's text, the
    figure boxes (label, value), every table (rows of cell texts, header rows included), and
    how many images and frames it holds."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sheets: list[dict] = []
        self._where: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "section" and "sheet" in cls:
            self.sheets.append({"header": "", "footer": "", "figures": [], "tables": [],
                                "images": 0, "frames": 0, "text": ""})  # fmt: skip
        if not self.sheets:
            return
        sheet = self.sheets[-1]
        self._where.append(tag if tag in ("header", "footer") else cls or tag)
        if tag == "table":
            sheet["tables"].append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            sheet["images"] += 1
            self._where.pop()  # a void element: no end tag
        elif tag == "iframe":
            sheet["frames"] += 1
        elif cls == "figure":
            sheet["figures"].append(["", ""])

    def handle_endtag(self, tag: str) -> None:
        if not self.sheets or not self._where:
            return
        sheet = self.sheets[-1]
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            sheet["tables"][-1].append(self._row)
            self._row = None
        self._where.pop()

    def handle_data(self, text: str) -> None:
        if not self.sheets:
            return
        sheet = self.sheets[-1]
        sheet["text"] += text + " "
        for place in ("header", "footer"):
            if place in self._where:
                sheet[place] += text + " "
        if self._cell is not None:
            self._cell.append(text)
        if self._where and self._where[-1] in ("label", "value") and sheet["figures"]:
            sheet["figures"][-1][0 if self._where[-1] == "label" else 1] += text


def _made(at):
    """The pack the session made last."""
    return at.session_state[MADE][1]


def _no_chromium(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("layers.publishing.chromium.CHROMIUM", tmp_path / "no-chromium")


def _shown_review(at, k: int) -> list[list[str]]:
    """The CompStat page's table as it shows it: counts as "1,234" or "<k", changes as text."""
    [table] = [d.value for d in at.dataframe if "week_pct" in d.value.columns]
    rows = []
    for record in table.itertuples(index=False):
        rows.append([
            f"<{k}" if isinstance(v, float) and np.isnan(v) else
            (f"{v:,.0f}" if isinstance(v, (int, float)) else str(v))
            for v in record
        ])  # fmt: skip
    return rows


def _top_areas(sheets: Sheets) -> list[list[str]]:
    """The top areas of the pack (in two halves of five), rank left out: area, incidents,
    share."""
    halves = [t for t in sheets.sheets[1]["tables"] if t[0][0] == "#"]
    rows = [row for half in halves for row in half[1:]]
    assert [r[0] for r in rows] == [str(n) for n in range(1, len(rows) + 1)]
    return [r[1:] for r in rows]


def _pack_review(sheets: Sheets) -> list[list[str]]:
    """The CompStat rows of every page of the pack, header rows left out."""
    rows = []
    for sheet in sheets.sheets[1:]:
        tables = sheet["tables"]
        review = tables[-1]
        rows += review[2:]  # two header rows: the periods, and the columns
    return rows


def _pack_and_page(app, store, monkeypatch, tmp_path, **query):
    """Make the pack on the Map page (without Chromium: the print-ready page), and read what
    the page shows: its figures, its top areas and, on the CompStat page, the review."""
    _no_chromium(monkeypatch, tmp_path)
    at = app(store, **query).run()
    assert not at.exception
    figures = [(m.label, m.value) for m in at.metric]
    [top] = [d.value for d in at.dataframe if d.key and d.key.startswith("top_")]
    at.button(key="pack_make").click().run()
    assert not at.exception
    made = _made(at)
    at.switch_page("pages/compstat.py").run()
    assert not at.exception
    return made, figures, top, at


def test_the_filter_in_words():
    flt = IncidentFilter(agencies=("SAPS", "Metro Police"), since=date(2026, 1, 1),
                         until=date(2026, 3, 31), hours=(22, 4),
                         precincts=tuple(f"P{i}" for i in range(9)))  # fmt: skip
    assert filter_in_words(flt) == (
        "Agencies: Metro Police, SAPS. Precincts: P0, P1, P2, P3, P4, P5 and 3 more. "
        "Dates: 1 Jan 2026 to 31 Mar 2026. Time of day: 22:00 to 03:59"
    )
    assert "P8" in filter_in_words(flt, most=None)
    assert filter_in_words(IncidentFilter(since=date(2026, 2, 1))) == "Dates: from 1 Feb 2026"
    assert filter_in_words(IncidentFilter()) == "All incidents (no filter)"


def _small_pack(*, review_rows: int = 3, names: tuple[str, ...] = (), hidden: bool = False,
                k: int = 3, places: tuple[str, ...] = (),
                flt: IncidentFilter | None = None) -> Pack:  # fmt: skip
    """A hand-made pack: a review of ``review_rows`` rows (or ``names``) and its total, the
    top ``places`` (default: the review's first ten); ``hidden``: the figures of a viewer
    whose counts are hidden under ``k``."""
    labels = list(names) or [f"Precinct {i}" for i in range(review_rows)]
    table = pd.DataFrame({"precinct": [*labels, "All precincts"],
                          "is_total": [False] * len(labels) + [True]})  # fmt: skip
    for prefix in compstat.PERIODS:
        now = np.arange(len(labels) + 1, dtype=float) * 10_000 + 10
        table[prefix], table[f"{prefix}_prev"] = now, now - 1
        table[f"{prefix}_change"] = 1.0
        table[f"{prefix}_pct"] = 1234.0
        table[f"{prefix}_p"] = 0.001
    n = min(len(labels), 10)
    top = pd.DataFrame({"precinct": list(places) or labels[:n],
                        "incidents": np.arange(n, 0, -1) * 123_456.0,
                        "share": np.linspace(0.5, 0.01, n)})  # fmt: skip
    head = {"incidents": 1_234_567, "agencies": 2, "first": date(2026, 1, 1),
            "last": date(2026, 3, 31), "outside": 123_456}  # fmt: skip
    if hidden:
        table.loc[::2, ["week", "week_prev", "week_change", "week_pct", "week_p"]] = np.nan
        head = {"incidents": None, "agencies": None, "first": None, "last": None,
                "outside": None}  # fmt: skip
    return Pack(
        flt=flt or IncidentFilter(precincts=tuple(labels[:1])),
        data_as_of="latest incident 31 Mar 2026; store version 20260331T105844377340Z-b66f6ce5",
        made_by="thandi (analyst)", made_at=datetime(2026, 4, 1, 9, 30, tzinfo=LOCAL),
        synthetic=True, k=k, full=not hidden,
        figures={"headline": head, "hidden": hidden, "top": top},
        boundary="precinct", review=table, review_by="precinct", map_note="Precincts outlined.",
    )  # fmt: skip


def test_a_pack_needs_its_map():
    with pytest.raises(ValueError, match="map_png"):
        pack_html(_small_pack())


def test_names_from_the_data_are_written_as_text_not_markup():
    page = pack_html(_small_pack(names=('<img src=x onerror="alert(1)">', "A & B")),
                     map_png=b"png")  # fmt: skip
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    sheets = Sheets(page)
    assert _top_areas(sheets)[1][0] == "A & B"  # the top areas, as written


def test_every_page_has_the_header_and_footer_and_a_long_review_goes_on():
    pack = _small_pack(review_rows=80)
    sheets = Sheets(pack_html(pack, map_png=b"png")).sheets
    assert len(sheets) == sheet_count(pack) == 2 + 2  # 81 rows: 20 on page 2, then 33, 28
    for n, sheet in enumerate(sheets, start=1):
        assert "Meeting pack" in sheet["header"]
        assert "Filter: Precincts: Precinct 0" in sheet["header"]
        assert "Data as of latest incident 31 Mar 2026; store version" in sheet["header"]
        assert "Made by thandi (analyst) at 01 Apr 2026 09:30 SAST" in sheet["footer"]
        assert "SYNTHETIC DEMO DATA" in sheet["footer"]
        assert f"Page {n} of {len(sheets)}" in sheet["footer"]
    assert sheets[0]["images"] == 1
    rows = _pack_review(Sheets(pack_html(pack, map_png=b"png")))
    assert [r[0] for r in rows] == [*(f"Precinct {i}" for i in range(80)), "All precincts"]
    assert rows[0][1:5] == ["10", "9", "1", "+1234% ▲"]
    assert rows[1][1:5] == ["10,010", "10,009", "1", "+1234% ▲"]


def test_the_analysts_pack_shows_the_figures_and_review_as_the_page_does(
    app, demo_store, monkeypatch, tmp_path
):
    made, figures, top, at = _pack_and_page(app, demo_store, monkeypatch, tmp_path,
                                            agencies="SAPS")  # fmt: skip
    sheets = Sheets(made.page)
    assert len(sheets.sheets) == made.pages >= 2
    first, second = sheets.sheets[0], sheets.sheets[1]
    assert "Filter: Agencies: SAPS" in first["header"]
    assert "Data as of latest incident 31 Oct 2026; store version" in first["header"]
    assert "Made by anyone (no sign-in) (analyst) at" in first["footer"]
    assert "SYNTHETIC DEMO DATA" in first["footer"] and "Restricted" not in first["footer"]
    assert first["frames"] == 1 and first["images"] == 0  # no Chromium: the live map
    assert [tuple(f) for f in second["figures"]] == figures
    assert [r[:2] for r in _top_areas(sheets)] == [
        [name, f"{int(n):,}"] for name, n in zip(top["precinct"], top["incidents"], strict=True)
    ]
    assert _pack_review(sheets) == _shown_review(at, 3)
    assert made.rows == len(top) + len(_shown_review(at, 3)) - 1


def test_an_agency_viewers_pack_hides_what_the_page_hides_and_holds_no_more(
    app, demo_store, monkeypatch, tmp_path
):
    """An agency viewer whose view hides counts ("fewer than 3", "<3"): the pack shows
    exactly the page's figures, top areas and review rows, and its map holds no other
    agency's incident."""
    made, figures, top, at = _pack_and_page(app, demo_store, monkeypatch, tmp_path,
                                            view="agency:LEAP", agencies="SAPS")  # fmt: skip
    sheets = Sheets(made.page)
    second = sheets.sheets[1]
    assert ("Outside boundaries", "fewer than 3") in figures  # the page hides a count...
    assert [tuple(f) for f in second["figures"]] == figures  # ...and so does the pack
    assert "Made by anyone (no sign-in), viewing as agency:LEAP" in second["footer"]
    assert "Restricted: as this role may see it; counts under 3 hidden" in second["footer"]
    assert [r[0] for r in _top_areas(sheets)] == list(top["precinct"])
    review = _pack_review(sheets)
    assert review == _shown_review(at, 3)
    hidden = sum(cell == "<3" for row in review for cell in row)
    assert hidden > 10  # a review with many hidden counts, each kept hidden in the pack
    # Every incident on the map is another agency's (SAPS): none of their coordinates, ids
    # or descriptions is in the pack; the map holds only anonymous cells' centres.
    incidents = open_store(demo_store).incidents
    saps = incidents[incidents["agency"].astype(str) == "SAPS"]
    pairs = _coordinate_pairs(made.page)
    assert len(pairs) > 100  # the scan sees the map's data (areas and heat cells)
    _assert_no_incident_in(made.page, pairs, saps)


def test_the_analyst_sees_what_the_agency_viewer_does_not(app, demo_store, monkeypatch, tmp_path):
    """The two packs of one filter differ where suppression differs: the analyst's holds the
    numbers the agency viewer's hides."""
    analyst, _, _, _ = _pack_and_page(app, demo_store, monkeypatch, tmp_path, agencies="SAPS")
    agency, _, _, _ = _pack_and_page(app, demo_store, monkeypatch, tmp_path,
                                     view="agency:LEAP", agencies="SAPS")  # fmt: skip
    full, partial = _pack_review(Sheets(analyst.page)), _pack_review(Sheets(agency.page))
    assert [r[0] for r in full] == [r[0] for r in partial]
    opened = [(a, b) for ra, rb in zip(full, partial, strict=True)
              for a, b in zip(ra, rb, strict=True) if b == "<3"]  # fmt: skip
    assert opened and all(a != "<3" for a, _ in opened)
    # Every count the agency viewer is shown is the analyst's (a % change of a hidden count
    # reads "–" instead).
    counts = [i for i in range(1, 13) if i % 4 != 0]
    assert all(ra[i] == rb[i] for ra, rb in zip(full, partial, strict=True)
               for i in counts if rb[i] != "<3")  # fmt: skip


def test_a_public_viewer_is_offered_no_pack(app, demo_store):
    at = app(demo_store, view="public").run()
    assert not at.exception
    assert not any(b.key == "pack_make" for b in at.button)


def test_without_chromium_the_button_says_so_and_offers_the_print_ready_page(
    app, demo_store, monkeypatch, tmp_path
):
    _no_chromium(monkeypatch, tmp_path)
    at = app(demo_store).run()
    assert at.button(key="pack_make").label == "Meeting pack (print-ready page)"
    said = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "Chromium is not installed on the server" in said
    assert "apt-get install chromium" in said and str(tmp_path) not in said
    at.button(key="pack_make").click().run()
    assert not at.exception
    links = [b.proto.label for b in at.get("link_button")]
    assert "Print-ready page (HTML)" in links
    assert not any("PDF" in label for label in links)


def test_when_chromium_fails_the_page_says_why_and_offers_the_print_ready_page(
    app, demo_store, monkeypatch
):
    monkeypatch.setattr("layers.publishing.chromium.chromium_problem", lambda *a: None)
    monkeypatch.setattr("layers.publishing.chromium.renderer", _stuck_chromium)
    at = app(demo_store).run()
    at.button(key="pack_make").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("No PDF this time: The map did not finish drawing")
    links = [b.proto.label for b in at.get("link_button")]
    assert links == ["Print-ready page (HTML)"]
    assert Sheets(_made(at).page).sheets[0]["frames"] == 1  # the live map instead


class _StuckRenderer:
    """A Chromium whose map never finishes drawing."""

    def map_png(self, *args, **kwargs):
        raise ChromiumError("The map did not finish drawing in Chromium within 60 s.")


@contextlib.contextmanager
def _stuck_chromium(**kwargs):
    yield _StuckRenderer()


def test_a_live_stores_pack_says_when_the_data_was_read(app, postgis_url, tmp_path, monkeypatch):
    from layers.livefeed.postgis import ingest_postgis
    from layers.storage.demo import generate_demo

    manifest = generate_demo(tmp_path / "files", incidents=500)
    ingest_postgis(
        postgis_url, [manifest.incident_paths[0]], precincts=manifest.precincts_path,
        wards=manifest.wards_path, synthetic=True,
    )  # fmt: skip
    _no_chromium(monkeypatch, tmp_path)
    at = app(postgis_url, "--refresh", "0").run()
    assert not at.exception
    figures = [(m.label, m.value.split(" ")[0]) for m in at.metric]
    at.button(key="pack_make").click().run()
    assert not at.exception
    sheets = Sheets(_made(at).page).sheets
    assert re.search(r"Data as of \d\d \w{3} \d{4} \d\d:\d\d:\d\d \(live store, last read\); "
                     r"latest incident", sheets[0]["header"])  # fmt: skip
    assert [(label, value.split(" ")[0]) for label, value in sheets[1]["figures"]] == figures


def test_the_meeting_page_offers_the_pack(app, demo_store, monkeypatch, tmp_path):
    _no_chromium(monkeypatch, tmp_path)
    at = app(demo_store, mode="meeting").run()
    assert not at.exception
    at.button(key="pack_make").click().run()
    assert not at.exception
    assert _made(at).pages >= 2


def test_a_pack_made_for_another_filter_is_not_offered(app, demo_store, monkeypatch, tmp_path):
    _no_chromium(monkeypatch, tmp_path)
    at = app(demo_store).run()
    at.button(key="pack_make").click().run()
    assert "Print-ready page (HTML)" in [b.proto.label for b in at.get("link_button")]
    at.multiselect(key="f_agencies").set_value(["SAPS"]).run()
    assert not at.exception
    assert "Print-ready page (HTML)" not in [b.proto.label for b in at.get("link_button")]


# ---- Chromium ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analyst_pdf(demo_store):
    """The analyst's pack of SAPS incidents, drawn and printed by Chromium in the app, with
    the figures and links the page showed."""
    _require_browser()
    from streamlit.runtime.pages_manager import PagesManager

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--store", str(demo_store), "--tiles",
                                     "none"])  # fmt: skip
    looked = PagesManager.__init__

    def init(self, *args, **kwargs):  # as conftest's no_legacy_pages_mode, for the module
        looked(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
    try:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
        at.query_params.update(agencies="SAPS")
        at.run()
        figures = dict((m.label, m.value) for m in at.metric)
        at.button(key="pack_make").click().run()
        assert not at.exception
        made = _made(at)
        links = [b.proto.label for b in at.get("link_button")]
    finally:
        monkeypatch.undo()
    return made, figures, links


def test_chromium_prints_the_pack_on_a4_landscape_pages(analyst_pdf):
    from pypdf import PdfReader

    made, figures, links = analyst_pdf
    assert made.problem is None and made.pdf is not None
    assert f"Download the meeting pack (PDF, {made.pages} pages)" in links
    reader = PdfReader(io.BytesIO(made.pdf))
    assert len(reader.pages) == made.pages >= 2
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    text = [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]
    for n, page_text in enumerate(text, start=1):
        assert "Meeting pack" in page_text and "Filter: Agencies: SAPS" in page_text
        assert "Data as of latest incident 31 Oct 2026" in page_text
        assert "Made by anyone (no sign-in) (analyst)" in page_text
        assert "SYNTHETIC DEMO DATA" in page_text
        assert f"Page {n} of {len(text)}" in page_text
    assert "CompStat review by precinct" in text[1]
    assert f"Incidents {figures['Incidents']}" in text[1]  # the page's own figure


def test_the_map_page_is_chromiums_drawing_of_the_map_at_print_resolution(analyst_pdf):
    from pypdf import PdfReader

    made, _, _ = analyst_pdf
    first = PdfReader(io.BytesIO(made.pdf)).pages[0]
    [picture] = first.images
    image = picture.image.convert("RGB")
    scale = pack_module.MAP_SCALE
    assert image.size == (round(pack_module.MAP_W_PX * scale), round(pack_module.MAP_H_PX * scale))
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    red = (pixels[:, 0] > 200) & (pixels[:, 1] < 90) & (pixels[:, 2] < 90)
    background = np.abs(pixels - [0xF2, 0xEF, 0xE9]).max(axis=1) <= 2  # no basemap
    assert red.sum() > 200  # the heat has drawn, to its top colour
    assert background.mean() > 0.1  # the plain offline background around the areas
    text = re.sub(r"\s+", " ", first.extract_text())
    assert "heat in incidents per km² at zoom" in text


@pytest.mark.parametrize("hidden", [False, True], ids=["analyst", "hidden counts"])
def test_a_pack_page_overflows_nothing(hidden):
    """Laid out by Chromium, the sheets hold their rows: no page's body overflows, and no
    cell is cut short: "+1234% ▲" and "123,456" in their columns, the longest collaboration
    area's name in its own, "fewer than 10" in a figure's box."""
    sync_playwright = _require_browser()
    names = tuple(f"By-law enforcement and public spaces {i}" for i in range(70))
    # Top areas are precincts or wards ("Cape Town Central"), never a collaboration area.
    places = tuple(f"Cape Town Central {i}" for i in range(10))
    # A long filter: the header names three of a kind (in two lines at most), page 1 all.
    flt = IncidentFilter(
        agencies=("LEAP", "Law Enforcement", "Metro Police", "Neighbourhood Watch", "SAPS"),
        areas=("By-law enforcement and public spaces", "Gang and firearm violence"),
        categories=("Assault", "Burglary", "Robbery"), precincts=places[:8],
        since=date(2026, 1, 1), until=date(2026, 3, 31), hours=(22, 4),
    )  # fmt: skip
    pack = _small_pack(names=names, hidden=hidden, k=10, places=places, flt=flt)
    page = pack_html(pack, map_png=_png(40, 30))
    assert ("fewer than 10" in page) == hidden
    assert "Cape Town Central 7. Dates" in page  # page 1 names every precinct of the filter
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page()
        tab.set_content(page)
        tab.emulate_media(media="print")
        measured = tab.evaluate(MEASURE)
        browser.close()
    assert measured["sheets"] == sheet_count(pack) == 4
    assert measured["overflowing"] == []
    assert measured["cut"] == []
    assert measured["rows"] == [0, 20, 33, 70 + 1 - 20 - 33]


# Per sheet: whether its body's content reaches past it; every cell whose text is cut short;
# the review rows on each sheet.
MEASURE = """() => {
  const sheets = [...document.querySelectorAll("section.sheet")];
  const overflowing = [];
  sheets.forEach((sheet, n) => {
    const body = sheet.querySelector("main.body"), box = body.getBoundingClientRect();
    for (const e of body.querySelectorAll("table, p, h2, .figures, img, iframe")) {
      if (e.getBoundingClientRect().bottom > box.bottom + 0.5) overflowing.push(n + 1);
    }
    if (sheet.getBoundingClientRect().height > 210 / 25.4 * 96 + 0.5) overflowing.push(n + 1);
  });
  const cut = [...document.querySelectorAll("td, th, .figure .value, header .title")]
    .filter(c => c.scrollWidth > c.clientWidth + 0.5).map(c => c.textContent);
  for (const c of document.querySelectorAll("header .asof, p.full-filter")) {
    if (c.scrollHeight > c.clientHeight + 0.5) cut.push(c.textContent);
  }
  const rows = sheets.map(s => s.querySelectorAll("table.review tbody tr").length);
  return {sheets: sheets.length, overflowing: [...new Set(overflowing)], cut, rows};
}"""


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 220, 240)).save(out, format="PNG")
    return out.getvalue()


class _Recorder(BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_chromium_loads_nothing_a_pack_did_not_allow():
    """A page that asks for a file elsewhere gets nothing: the request never leaves, unless
    its host is allowed (a remote basemap's tile server)."""
    _require_browser()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    page = (f'<img src="http://127.0.0.1:{port}/tile.png">'
            "<script>window.L = undefined;</script>")  # fmt: skip
    try:
        with renderer() as browser:
            browser.pdf(page)
        refused = list(_Recorder.asked)
        with renderer(allow_hosts=["127.0.0.*"]) as browser:
            browser.pdf(page)
    finally:
        server.shutdown()
    assert refused == []
    assert _Recorder.asked == ["/tile.png"]


def test_a_missing_chromium_is_named_with_how_to_install_it(tmp_path):
    problem = chromium_problem(tmp_path / "chromium")
    assert problem is not None and "apt-get install chromium" in problem
    with (
        pytest.raises(ChromiumError, match="No PDF can be made"),
        renderer(executable=tmp_path / "chromium"),
    ):
        pass
