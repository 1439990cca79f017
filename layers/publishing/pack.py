"""The meeting pack: the map, the figures and the CompStat review of one filter, on A4
landscape pages, for a safety cluster meeting.

Pure: what the page shows in, HTML out. The pack holds nothing the viewer was not shown:
its figures are the page's own (already through the access step and suppression, see
:mod:`layers.access.sight`), its map the page's layers (:func:`pack_map`, from the same
:class:`~layers.maps.view.MapData`), and it writes them as the page does ("fewer than 3",
"<3", "–"). Chromium draws the map and prints the pages (:mod:`layers.publishing.chromium`);
without it, :func:`pack_html` embeds the live map itself, for the browser's own Print.

The pages are laid out here, not by the printer: each sheet is exactly an A4 page, holding a
known number of table rows, so that the header and footer (title, the filter in words,
"data as of", who made it and when, page n of m) are on every page in any browser, and a
long CompStat review goes on to further sheets.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import pandas as pd
from branca.element import Element

from layers.analysis import compstat
from layers.analysis.study import METHODS
from layers.maps.assets import apply_offline_assets, standalone_html
from layers.maps.tiles import Basemap
from layers.maps.view import MapData
from layers.maps.webmap import base_map, map_layers
from layers.storage.columnar import mercator_pixels, pixels_to_lonlat
from layers.storage.filters import IncidentFilter

# A4 landscape, and what a sheet holds (millimetres). A sheet is exactly one page: its
# header, body and footer have fixed heights, so rows per sheet are known here.
PAGE_W_MM, PAGE_H_MM = 297.0, 210.0
PAD_Y_MM, PAD_X_MM = 8.0, 10.0
HEADER_MM, FOOTER_MM, GAP_MM = 15.0, 7.0, 2.0
BODY_W_MM = PAGE_W_MM - 2 * PAD_X_MM
BODY_H_MM = PAGE_H_MM - 2 * PAD_Y_MM - HEADER_MM - FOOTER_MM - 2 * GAP_MM
MAP_H_MM = BODY_H_MM - 15.0  # beneath it, the filter in full and what the map shows
CSS_PX_PER_MM = 96 / 25.4
# The map window Chromium draws, in CSS pixels (at 96 to the inch, the printed size); the
# dashboard's own map is about 900 by 640.
MAP_W_PX = round(BODY_W_MM * CSS_PX_PER_MM)
MAP_H_PX = round(MAP_H_MM * CSS_PX_PER_MM)
# Device pixels to the CSS pixel of the map's PNG: about 290 dpi on the page.
MAP_SCALE = 3.0
ROW_MM = 4.6
# CompStat rows on the figures page (beside the figures) and on each page after it.
REVIEW_ROWS_FIRST = 20
REVIEW_ROWS_MORE = 33
TOP_AREAS = 10
# The band of page 2 above the review: the figures, and the top areas in two halves of five.
BAND_MM = 44.0
TITLE = "Safety cluster incident map"
# The CompStat review's columns, named as the page names them (app/review.py).
REVIEW_LABELS = {
    "week": "This week", "week_prev": "Week before", "week_change": "Change",
    "week_pct": "% change", "days28": "Last 28 days", "days28_prev": "28 before",
    "days28_change": "Change", "days28_pct": "% change", "ytd": "Year to date",
    "ytd_prev": "Last year to date", "ytd_change": "Change", "ytd_pct": "% change",
}  # fmt: skip
BY_LABELS = {"precinct": "Precinct", "ward": "Ward", "agency": "Agency",
             "collaboration_area": "Collaboration area"}  # fmt: skip
FILTER_WORDS = (
    ("agencies", "Agencies"), ("areas", "Collaboration areas"), ("categories", "Categories"),
    ("precincts", "Precincts"), ("wards", "Wards"),
)  # fmt: skip


@dataclass(frozen=True)
class Pack:
    """What a meeting pack holds: the page's figures for one filter and viewer, and who
    made it when.

    Attributes
    ----------
    flt : IncidentFilter
        The filter the figures are of.
    data_as_of : str
        When the data is from, in words ("latest incident 14 Nov 2026; store version ...").
    made_by : str
        Who made the pack and as which role ("thandi (analyst)").
    made_at : datetime
        When, in local time (aware).
    synthetic : bool
        The store holds generated demo incidents.
    k : int
        Counts under ``k`` are hidden from this viewer (when ``full`` is False).
    full : bool
        The viewer sees every count (an analyst).
    figures : mapping
        :func:`layers.analysis.figures.side_view`'s result as the page has it: ``headline``,
        ``hidden``, ``top``.
    boundary : {"precinct", "ward"}
        What the map's areas and the top areas are.
    review : pandas.DataFrame
        The disclosed CompStat table (:func:`layers.analysis.compstat.compare_periods`'s
        columns, hidden counts NaN), as the page has it.
    review_by : str
        What the review's rows are (``review``'s ``by`` column).
    map_note : str
        One line under the map: what it shows (areas, heat, hotspots) and which view.
    """

    flt: IncidentFilter
    data_as_of: str
    made_by: str
    made_at: datetime
    synthetic: bool
    k: int
    full: bool
    figures: Mapping[str, object]
    boundary: str
    review: pd.DataFrame
    review_by: str
    map_note: str

    @property
    def file_stem(self) -> str:
        """``meeting_pack_20261114_1042``."""
        return f"meeting_pack_{self.made_at:%Y%m%d_%H%M}"


# ---- the figures, as the page writes them ------------------------------------------------


def filter_in_words(flt: IncidentFilter, *, most: int | None = 6) -> str:
    """A filter as a person says it: "Agencies: SAPS, Metro Police. Dates: 1 Jan 2026 to 31 Mar
    2026. Time of day: 22:00 to 04:00", or "All incidents (no filter)".

    ``most`` values of one kind are named, then "and N more" (None: all of them).
    """
    parts = []
    for name, label in FILTER_WORDS:
        values = list(getattr(flt, name))
        if not values:
            continue
        named = values if most is None or len(values) <= most else values[:most]
        rest = f" and {len(values) - len(named)} more" if len(named) < len(values) else ""
        parts.append(f"{label}: {', '.join(named)}{rest}")
    if flt.since or flt.until:
        if flt.since and flt.until:
            parts.append(f"Dates: {_day(flt.since)} to {_day(flt.until)}")
        elif flt.since:
            parts.append(f"Dates: from {_day(flt.since)}")
        else:
            parts.append(f"Dates: up to {_day(flt.until)}")  # type: ignore[arg-type]
    if flt.hours:
        start, end = flt.hours
        parts.append(f"Time of day: {start:02d}:00 to {(end - 1) % 24:02d}:59")
    return ". ".join(parts) if parts else "All incidents (no filter)"


def headline_texts(figures: Mapping[str, object], *, k: int) -> list[tuple[str, str]]:
    """The four figures above the map as the page shows them, (label, text)."""
    head: dict = figures["headline"]  # type: ignore[assignment]
    fewer = f"fewer than {k}"
    days = (head["last"] - head["first"]).days + 1 if head["first"] else None
    return [
        ("Incidents", fewer if figures["hidden"] else f"{head['incidents']:,}"),
        ("Agencies", "–" if head["agencies"] is None else str(head["agencies"])),
        ("Outside boundaries", fewer if head["outside"] is None else f"{head['outside']:,}"),
        ("Days covered", "–" if days is None else f"{days:,}"),
    ]


def span_text(figures: Mapping[str, object]) -> str:
    """The dates the figures span ("01 Jan 2026 to 31 Mar 2026"); empty when they are
    hidden or there are none."""
    head: dict = figures["headline"]  # type: ignore[assignment]
    if not head["first"]:
        return ""
    return f"{head['first']:%d %b %Y} to {head['last']:%d %b %Y}"


def top_rows(top: pd.DataFrame, *, boundary: str) -> pd.DataFrame:
    """The top areas as text: area, incidents ("1,234"), share ("12.3%"); only the rows the
    page shows (hidden counts are not among them)."""
    if top.empty:
        return pd.DataFrame(columns=[BY_LABELS[boundary], "Incidents", "Share"])
    return pd.DataFrame({
        BY_LABELS[boundary]: top[top.columns[0]].astype(str).to_numpy(),
        "Incidents": [f"{int(n):,}" for n in top["incidents"]],
        "Share": [f"{s:.1%}" for s in top["share"]],
    })  # fmt: skip


def review_rows(review: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """The CompStat table as the page shows it: counts "1,234" (a hidden one "<3"),
    % changes "+25% ▲", "new" or "–" (:func:`layers.analysis.compstat.pct_text`)."""
    by = next(c for c in review.columns if c in compstat.TOTAL_LABELS)
    out = pd.DataFrame({BY_LABELS[by]: review[by].astype(str).to_numpy()})
    for prefix in compstat.PERIODS:
        for column in (prefix, f"{prefix}_prev", f"{prefix}_change"):
            out[column] = [f"<{k}" if pd.isna(v) else f"{v:,.0f}" for v in review[column]]
        out[f"{prefix}_pct"] = compstat.pct_text(review, prefix).to_numpy()
    return out


def review_caption(review: pd.DataFrame) -> str:
    """The review's windows and what its marks mean, as the page says them."""
    windows = review.attrs.get("windows", {})
    day = review.attrs.get("today")
    periods = " · ".join(f"{compstat.PERIODS[p]}: {compstat.window_text(w)}"
                         for p, w in windows.items())  # fmt: skip
    return (
        (f"As of {day:%d %b %Y}. " if day else "")
        + (f"{periods}. " if periods else "")
        + "▲ up, ▼ down, where the change is more than chance (exact Poisson test, "
        f"p < {compstat.SIGNIFICANCE:g}); an unmarked change could be chance, however large "
        "its percentage. % change is blank (–) where there was nothing before."
    )


# ---- the map -----------------------------------------------------------------------------


def print_view(center: tuple[float, float], zoom: int, *, width_px: int = MAP_W_PX,
               height_px: int = MAP_H_PX, margin: float = 0.0
               ) -> tuple[float, float, float, float]:  # fmt: skip
    """The lon/lat box (west, south, east, north) a map of ``width_px`` by ``height_px``
    shows around ``center`` (lat, lon) at ``zoom``, widened by ``margin`` of its size on
    every side."""
    lat, lon = center
    x, y = mercator_pixels(lon, lat, zoom)
    half_w, half_h = width_px * (0.5 + margin), height_px * (0.5 + margin)
    west, north = pixels_to_lonlat(x - half_w, y - half_h, zoom)
    east, south = pixels_to_lonlat(x + half_w, y + half_h, zoom)
    return float(west), float(south), float(east), float(north)


def box_center(box: Sequence[float]) -> tuple[float, float]:
    """The (lat, lon) a map fitted to a lon/lat box is centred on (Leaflet's fitBounds:
    the middle in Web Mercator)."""
    west, south, east, north = (float(v) for v in box)
    _, y0 = mercator_pixels(west, north, 0)
    _, y1 = mercator_pixels(east, south, 0)
    _, lat = pixels_to_lonlat(0.0, (y0 + y1) / 2, 0)
    return float(lat), (west + east) / 2


# Print is not a screen: no zoom buttons on paper.
_PRINT_MAP_CSS = "<style>.leaflet-control-zoom { display: none !important; }</style>"


def pack_map(
    shown: MapData,
    *,
    boundary: str,
    style: str,
    center: tuple[float, float],
    basemap: Basemap | None = None,
    tiles_problem: str | None = None,
    synthetic: bool = False,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_method: str = "gistar",
) -> str:
    """The page's map as one self-contained HTML page, for Chromium to draw: the same base
    map and layers as the dashboard's (:func:`layers.maps.webmap.base_map` and
    :func:`~layers.maps.webmap.map_layers`, with their legends), from the same
    :class:`~layers.maps.view.MapData`, centred on ``center`` (lat, lon) at ``shown.zoom``
    (the zoom its heat cells and colour scale were made for), everything inline (a local
    basemap's tiles embedded for the printed view).

    Returns
    -------
    str
        HTML (see :func:`layers.maps.assets.standalone_html`).
    """
    west, south, east, north = print_view(center, shown.zoom)
    m = base_map(
        shown.areas, basemap=basemap, tiles_problem=tiles_problem, center=center,
        zoom=shown.zoom, fit=False, synthetic=synthetic, bounds=[[south, west], [north, east]],
        mode="inline",
    )  # fmt: skip
    groups = map_layers(
        shown.areas, shown.heat, area_label=BY_LABELS[boundary], style=style,  # type: ignore[arg-type]
        zoom=shown.zoom, heat_radius=shown.heat_radius, heat_scale=shown.heat_scale,
        hotspots=hotspots, hotspot_method=hotspot_method,  # type: ignore[arg-type]
    )  # fmt: skip
    for group in groups:
        group.add_to(m)
    m.get_root().header.add_child(Element(_PRINT_MAP_CSS), name="print_map_css")
    return standalone_html(apply_offline_assets(m, mode="inline"))


def map_note(*, boundary: str, style: str, zoom: int, hotspot_method: str | None,
             moved: bool) -> str:  # fmt: skip
    """The line under the pack's map: what it shows, and which view."""
    areas = "Precincts" if boundary == "precinct" else "Wards"
    drawn = "shaded by incidents" if style == "choropleth" else "outlined"
    hot = f"; hotspots: {METHODS[hotspot_method]}" if hotspot_method else ""
    view = "as it was last shown on screen" if moved else "at its opening view"
    return (f"{areas} {drawn}; heat in incidents per km² at zoom {zoom}{hot}. The map "
            f"{view}; its legend is the map's own.")  # fmt: skip


# ---- the pages ---------------------------------------------------------------------------


def pack_html(pack: Pack, *, map_png: bytes | None = None, map_page: str | None = None) -> str:
    """The pack's pages as one HTML document, ready to print (A4 landscape, no margins: each
    sheet is a page).

    Page 1 is the map: ``map_png`` (Chromium's drawing of :func:`pack_map`) or, without
    one, ``map_page`` itself in a frame, which the browser draws and prints. Page 2 holds
    the headline figures, the top areas and the first rows of the CompStat review; further
    pages hold the rest of the review. Every page has the header (title, the filter in
    words, "data as of") and the footer (who made it and when, "SYNTHETIC DEMO DATA" for
    the demo, page n of m).

    Raises
    ------
    ValueError
        Without ``map_png`` or ``map_page``.
    """
    if map_png is None and map_page is None:
        raise ValueError("A pack needs its map: pass `map_png` (drawn) or `map_page` (HTML).")
    review = review_rows(pack.review, k=pack.k)
    first, rest = review.iloc[:REVIEW_ROWS_FIRST], review.iloc[REVIEW_ROWS_FIRST:]
    more = [rest.iloc[i : i + REVIEW_ROWS_MORE] for i in range(0, len(rest), REVIEW_ROWS_MORE)]
    bodies = [
        ("Map", _map_body(pack, map_png, map_page)),
        ("Figures and CompStat review", _figures_body(pack, first, shown=len(review))),
        *((f"CompStat review (continued, {n + 2} of {len(more) + 1})",
           _review_table(part, continued=True)) for n, part in enumerate(more)),
    ]  # fmt: skip
    sheets = [
        _sheet(pack, heading, body, number=n + 1, of=len(bodies))
        for n, (heading, body) in enumerate(bodies)
    ]
    title = f"Meeting pack: {_esc(filter_in_words(pack.flt))}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{PACK_CSS}</style></head><body>"
        f'<p class="screen-only">Print this page with your browser (Ctrl+P or ⌘P): A4, '
        "landscape, margins none, background graphics on. Each grey-edged sheet is one "
        f"page.</p>{''.join(sheets)}</body></html>"
    )


def sheet_count(pack: Pack) -> int:
    """How many pages :func:`pack_html` lays ``pack`` out on."""
    rows = len(pack.review)
    return 2 + max(0, math.ceil((rows - REVIEW_ROWS_FIRST) / REVIEW_ROWS_MORE))


def _sheet(pack: Pack, heading: str, body: str, *, number: int, of: int) -> str:
    synthetic = (
        '<span class="synthetic">SYNTHETIC DEMO DATA: generated incidents, not real</span>'
        if pack.synthetic else ""
    )  # fmt: skip
    made = f"Made by {_esc(pack.made_by)} at {pack.made_at:%d %b %Y %H:%M %Z}".rstrip()
    seen = "" if pack.full else (
        f'<span class="seen">Restricted: as this role may see it; counts under {pack.k} '
        f"hidden</span>"
    )  # fmt: skip
    return (
        '<section class="sheet">'
        f'<header><div class="title"><b>Meeting pack · {TITLE}</b> · {_esc(heading)}</div>'
        f'<div class="asof">Data as of {_esc(pack.data_as_of)}</div>'
        f'<div class="filter">Filter: {_esc(filter_in_words(pack.flt, most=3))}</div>'
        "</header>"
        f'<main class="body">{body}</main>'
        f'<footer><span class="made">{made}</span>{synthetic}{seen}'
        f'<span class="page">Page {number} of {of}</span></footer>'
        "</section>"
    )


def _map_body(pack: Pack, map_png: bytes | None, map_page: str | None) -> str:
    if map_png is not None:
        data = base64.b64encode(map_png).decode("ascii")
        picture = f'<img class="map" alt="The map" src="data:image/png;base64,{data}">'
    else:
        picture = (f'<iframe class="map" title="The map" srcdoc="{_esc(map_page or "")}">'
                   "</iframe>")  # fmt: skip
    # The header names at most three values of a kind; here the filter is in full (up to a
    # dozen of a kind).
    full = filter_in_words(pack.flt, most=12)
    return (f'{picture}<p class="note full-filter">Filter: {_esc(full)}</p>'
            f'<p class="note">{_esc(pack.map_note)}</p>')  # fmt: skip


def _figures_body(pack: Pack, review: pd.DataFrame, *, shown: int) -> str:
    boxes = "".join(
        f'<div class="figure"><div class="label">{_esc(label)}</div>'
        f'<div class="value">{_esc(text)}</div></div>'
        for label, text in headline_texts(pack.figures, k=pack.k)
    )
    span = span_text(pack.figures)
    nothing = pack.figures["top"].empty and not pack.figures["hidden"]  # type: ignore[union-attr]
    figures = (
        f'<div class="figures-block"><h2>Figures</h2><div class="figures">{boxes}</div>'
        f'<p class="note">{_esc(span + ".") if span else ""}'
        f"{' Nothing matches this filter.' if nothing else ''}</p></div>"
    )
    top = top_rows(pack.figures["top"], boundary=pack.boundary)  # type: ignore[arg-type]
    top.insert(0, "#", [str(n) for n in range(1, len(top) + 1)])
    half = TOP_AREAS // 2
    halves = [top.iloc[:half], top.iloc[half:]] if len(top) > half else [top]
    areas = "precincts" if pack.boundary == "precinct" else "wards"
    hidden = "" if pack.full else (
        f'<p class="note">{areas.capitalize()} with fewer than {pack.k} incidents are left '
        "out, with a few more so that theirs cannot be worked out.</p>"
    )  # fmt: skip
    tops = (
        f'<div class="top-block"><h2>Top {areas}</h2><div class="halves">'
        + "".join(_table(part, cls="top") for part in halves)
        + f"</div>{hidden}</div>"
    )
    by = BY_LABELS[pack.review_by].lower()
    more = f" (rows 1–{len(review)} of {shown}; the rest follow)" if shown > len(review) else ""
    return (
        f'<div class="band">{figures}{tops}</div>'
        f"<h2>CompStat review by {by}{more}</h2>"
        f'<p class="note">{_esc(review_caption(pack.review))}</p>'
        + _review_table(review, continued=False)
    )


def _review_table(rows: pd.DataFrame, *, continued: bool) -> str:
    head = [rows.columns[0], *(REVIEW_LABELS[c] for c in rows.columns[1:])]
    periods = "".join(f'<th colspan="4">{_esc(compstat.PERIODS[p].capitalize())}</th>'
                      for p in compstat.PERIODS)  # fmt: skip
    group = f'<tr class="periods"><th></th>{periods}</tr>'
    body = "".join(
        f'<tr class="{"total" if i == len(rows) - 1 and _is_total(row[0]) else ""}">'
        + "".join(f"<td>{_esc(v)}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(rows.itertuples(index=False))
    )
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    cls = "review continued" if continued else "review"
    return (f'<table class="{cls}">{REVIEW_COLUMNS}<thead>{group}<tr>{header}</tr></thead>'
            f"<tbody>{body}</tbody></table>")  # fmt: skip


# The review's column widths, on the page's whole width: the name (36 characters: "By-law
# enforcement and public spaces"), then per period three counts and the % change (wider:
# "+1234% ▲").
REVIEW_COLUMNS = (
    '<colgroup><col style="width: 22%">'
    + ('<col style="width: 6.3%">' * 3 + '<col style="width: 7.1%">') * 3
    + "</colgroup>"
)


def _is_total(label: object) -> bool:
    return str(label) in compstat.TOTAL_LABELS.values()


def _table(frame: pd.DataFrame, *, cls: str) -> str:
    header = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<table class="{cls}"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


PACK_CSS = f"""
@page {{ size: A4 landscape; margin: 0; }}
* {{ box-sizing: border-box; }}
html, body {{ margin: 0; padding: 0; }}
body {{ font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 8pt;
  color: #1b1b1b; -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
.sheet {{ width: {PAGE_W_MM}mm; height: {PAGE_H_MM}mm; padding: {PAD_Y_MM}mm {PAD_X_MM}mm;
  overflow: hidden; display: flex; flex-direction: column; gap: {GAP_MM}mm;
  break-after: page; page-break-after: always; background: #fff; }}
.sheet:last-child {{ break-after: auto; page-break-after: auto; }}
header {{ height: {HEADER_MM}mm; flex: none; border-bottom: 0.4mm solid #1b1b1b;
  display: grid; grid-template-columns: 1fr 85mm; grid-template-rows: auto auto;
  column-gap: 6mm; align-content: start; }}
header .title {{ font-size: 11pt; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
header .asof {{ grid-row: 1 / 3; grid-column: 2; font-size: 8pt; text-align: right;
  line-height: 1.25; max-height: 3.75em; overflow: hidden; overflow-wrap: anywhere; }}
header .filter {{ grid-column: 1; font-size: 8.5pt; margin-top: 1mm; line-height: 1.25;
  max-height: 2.5em; overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2;
  -webkit-box-orient: vertical; }}
p.full-filter {{ margin: 1mm 0 0 0; max-height: 3.9em; overflow: hidden; }}
p.full-filter + p.note {{ margin: 0.5mm 0 0 0; }}
main.body {{ height: {BODY_H_MM}mm; flex: none; overflow: hidden; }}
footer {{ height: {FOOTER_MM}mm; flex: none; border-top: 0.3mm solid #999; font-size: 7.5pt;
  display: flex; gap: 5mm; align-items: center; white-space: nowrap; }}
footer .page {{ margin-left: auto; }}
footer .synthetic {{ color: #b00020; font-weight: bold; }}
footer .seen {{ color: #555; overflow: hidden; text-overflow: ellipsis; }}
.map {{ display: block; width: {BODY_W_MM}mm; height: {MAP_H_MM}mm; border: 0.2mm solid #999;
  object-fit: contain; }}
iframe.map {{ border: 0.2mm solid #999; }}
h2 {{ font-size: 9.5pt; margin: 0 0 1.2mm 0; height: 4.5mm; white-space: nowrap; }}
.note {{ font-size: 7pt; color: #444; margin: 1mm 0 2mm 0; line-height: 1.3; }}
.band {{ display: flex; gap: 8mm; height: {BAND_MM}mm; margin-bottom: 2mm; }}
.figures-block {{ width: 84mm; flex: none; }}
.top-block {{ flex: 1; min-width: 0; }}
.halves {{ display: flex; gap: 5mm; }}
.halves table {{ flex: 1; min-width: 0; }}
.figures {{ display: grid; grid-template-columns: 1fr 1fr; gap: 2mm; }}
.figure {{ border: 0.2mm solid #bbb; border-radius: 1mm; padding: 1mm 1.5mm; height: 14mm; }}
.figure .label {{ font-size: 7pt; color: #555; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
.figure .value {{ font-size: 13pt; margin-top: 1.5mm; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
th, td {{ height: {ROW_MM}mm; padding: 0 1.2mm; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; border-bottom: 0.15mm solid #ddd; line-height: 1; }}
th {{ font-size: 6.6pt; font-weight: bold; text-align: right; vertical-align: bottom;
  padding: 0 0.6mm; line-height: 1.1;
  white-space: normal; height: {2 * ROW_MM}mm; border-bottom: 0.3mm solid #1b1b1b; }}
td {{ text-align: right; font-size: 7.4pt; }}
th:first-child, td:first-child {{ text-align: left; }}
table.top th:first-child {{ width: 8%; }}
table.top th:nth-child(2) {{ width: 56%; }}
table.top th:nth-child(2), table.top td:nth-child(2) {{ text-align: left; }}
table.top th {{ height: {ROW_MM}mm; }}
table.review tr.periods th {{ height: {ROW_MM}mm; text-align: center;
  border-bottom: 0.15mm solid #999; }}
table.review td:nth-child(4n+1):not(:first-child),
table.review th:nth-child(4n+1):not(:first-child) {{ border-right: 0.2mm solid #bbb; }}
tr.total td {{ font-weight: bold; border-top: 0.3mm solid #1b1b1b; }}
.screen-only {{ font-size: 10pt; margin: 4mm; }}
@media screen {{
  body {{ background: #e6e6e6; }}
  .sheet {{ margin: 4mm auto; box-shadow: 0 0 2mm rgba(0, 0, 0, 0.3); }}
}}
@media print {{ .screen-only {{ display: none; }} }}
"""
