"""The meeting pack on the Map and Meeting pages: one click makes a PDF of what the page
shows for this viewer (the map as last seen, the figures, the CompStat review), and a
print-ready page of the same.

Everything in the pack comes from the functions the page itself draws from
(:func:`app.data.figures`, :func:`app.data.compstat_tables`, :func:`app.data.map_data`), for
the same filter, boundary and role: already through the access step and suppression, so the
pack holds nothing the viewer was not shown. Chromium draws the map and prints the pages
(:mod:`layers.publishing.chromium`); the downloads go through :func:`app.signin.download`,
so each is in the audit log before it leaves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import streamlit as st

from app import data
from app.basemap import basemap as app_basemap
from app.data import LOCAL_ZONE, is_live, live_store
from app.display import guarded, md
from app.signin import OPEN_VIEWER, download, still_allowed
from app.state import Request, map_view
from layers._errors import LayersError
from layers.analysis.study import HotspotParams
from layers.livefeed.live import LiveStore
from layers.publishing import chromium
from layers.publishing.pack import (
    MAP_H_PX,
    MAP_SCALE,
    MAP_W_PX,
    Pack,
    box_center,
    map_note,
    pack_html,
    pack_map,
    print_view,
    sheet_count,
)
from layers.storage.columnar import fit_zoom
from layers.storage.filters import IncidentFilter
from layers.storage.store import current_version

LOG = logging.getLogger("dashboard")
# Where a session keeps the pack it made last: (what it was made for, the pack).
MADE = "_meeting_pack"


@dataclass(frozen=True)
class PackOrder:
    """What a pack is made for: a pack made for another filter, boundary, style, review,
    role or hotspot choice is not offered again."""

    version: str
    flt: IncidentFilter
    boundary: str
    style: str
    by: str
    role: str
    params: HotspotParams | None


@dataclass(frozen=True)
class MadePack:
    """A pack as made: the PDF (None without Chromium), the print-ready page, and what the
    audit log says of it."""

    pdf: bytes | None
    page: str
    pages: int
    rows: int
    file_stem: str
    made_at: datetime
    problem: str | None = None  # why there is no PDF


def pack_panel(request: Request) -> None:
    """The meeting pack's buttons, in a fragment of their own: making a pack reruns only
    them. Public viewers get none: see the README ("The meeting pack")."""
    if request.viewer.role == "public":
        return
    st.fragment(guarded(_panel))(request)


def _panel(request: Request) -> None:
    still_allowed(request.options)  # a fragment run is a run too
    order = _order(request)
    problem = chromium.chromium_problem()
    label = "Meeting pack (PDF)" if problem is None else "Meeting pack (print-ready page)"
    left, middle, right = st.columns([1, 1, 1])
    clicked = left.button(
        label, key="pack_make", icon=":material/picture_as_pdf:",
        help="The map as you see it, the figures and the CompStat review on A4 landscape "
        "pages, with the filter, the data's date and your name on each.",
    )  # fmt: skip
    if clicked:
        spinning = ("Making the meeting pack: drawing the map in Chromium and printing the "
                    "pages…" if problem is None else "Making the print-ready page…")  # fmt: skip
        with st.spinner(spinning):
            st.session_state[MADE] = (order, make_pack(request, order, render=problem is None))
    made: MadePack | None = None
    kept = st.session_state.get(MADE)
    if kept is not None and kept[0] == order:
        made = kept[1]
    if problem is not None:
        st.caption(
            f"No PDF here: {md(problem)}. Until then, the print-ready page prints from your "
            "own browser: open it, then Print (Ctrl+P), A4 landscape, margins none, "
            "background graphics on."
        )
    if made is None:
        return
    if made.problem is not None and problem is None:
        st.error(f"No PDF this time: {md(made.problem)} The print-ready page below has the "
                 "same pages; print it from your browser.")  # fmt: skip
    flt = request.flt
    if made.pdf is not None:
        pdf = made.pdf
        with middle:
            download(f"Download the meeting pack (PDF, {made.pages} pages)", lambda: pdf,
                     key="pack_pdf", file_name=f"{made.file_stem}.pdf",
                     mime="application/pdf", what="meeting pack", flt=flt,
                     rows=made.rows)  # fmt: skip
    page = made.page
    with right if made.pdf is not None else middle:
        download("Print-ready page (HTML)", lambda: page, key="pack_html",
                 file_name=f"{made.file_stem}.html", mime="text/html",
                 what="meeting pack (print-ready page)", flt=flt, rows=made.rows)  # fmt: skip
    st.caption(f"Made at {made.made_at:%H:%M:%S} for this filter, with the map as it was then. "
               "Each link works once: make the pack again for another copy.")  # fmt: skip


def _order(request: Request) -> PackOrder:
    return PackOrder(
        version=request.version, flt=request.flt, boundary=request.boundary,
        style=st.session_state.get("m_style", "outline"),
        by=st.session_state.get("c_by") or "precinct", role=request.viewer.label,
        params=request.params,
    )  # fmt: skip


def make_pack(request: Request, order: PackOrder, *, render: bool) -> MadePack:
    """The pack for ``order``: its contents from the page's own data functions, its map
    drawn and its pages printed by Chromium when ``render`` (and it works)."""
    source, options = request.source, request.options
    policy = data.as_role(request.policy)  # what is shown is shared by all who may see the same
    if is_live(source):
        live = live_store(source)
        version = live.version
    else:
        live, version = None, current_version(source) or ""
    snapshot = data.load_store(source, version)
    flt, boundary = order.flt, order.boundary
    numbers = data.figures(source, version, flt, boundary, policy)
    # As the review does: as of the last complete local day.
    yesterday = datetime.now(LOCAL_ZONE).date() - timedelta(days=1)
    review, _, _, _ = data.compstat_tables(source, version, flt, order.by, yesterday, policy)
    # The map as the viewer last saw it: their zoom and centre; else the opening view.
    fit_key = f"_fit_{boundary}_{source}"
    fit = st.session_state.get(fit_key) or data.opening_view(source, version, boundary)
    zoom, screen = map_view()
    if zoom is None or screen is None:
        zoom, center = fit_zoom(fit, width_px=MAP_W_PX, height_px=MAP_H_PX), box_center(fit)
    else:
        center = box_center(screen)
    printed = print_view(center, zoom)
    # The screen's own heat cells when they cover the printed map (the same cached figures);
    # else cells for the printed map and a margin.
    covers = screen is not None and (
        screen[0] <= printed[0]
        and screen[1] <= printed[1]
        and screen[2] >= printed[2]
        and screen[3] >= printed[3]
    )
    cells = screen if covers else print_view(center, zoom, margin=0.25)
    shown = data.map_data(source, version, flt, boundary, zoom, cells, policy)
    found, tiles_problem = app_basemap(options.tiles, options.tiles_attribution, fit)
    result = None
    if order.params is not None:
        try:
            result = data.hotspot_result(source, version, flt, order.params, policy)
        except LayersError:
            result = None  # the page says why; the pack leaves them out
    page_of_map = pack_map(
        shown, boundary=boundary, style=order.style, center=center, basemap=found,
        tiles_problem=tiles_problem, synthetic=snapshot.synthetic,
        hotspots=result.layer if result is not None else None,
        hotspot_method=result.method if result is not None else "gistar",
    )  # fmt: skip
    made_at = datetime.now(LOCAL_ZONE)
    pack = Pack(
        flt=flt, data_as_of=_as_of(request, version, live), made_by=_made_by(request),
        made_at=made_at, synthetic=snapshot.synthetic, k=policy.rules.k, full=policy.full,
        figures=numbers, boundary=boundary, review=review, review_by=order.by,
        map_note=map_note(boundary=boundary, style=order.style, zoom=shown.zoom,
                          hotspot_method=result.method if result is not None else None,
                          moved=screen is not None),
    )  # fmt: skip
    rows = len(numbers["top"]) + int((~review["is_total"]).sum())  # type: ignore[arg-type]
    pdf, problem = None, None
    page = None
    if render:
        allow = () if found is None or found.local or not found.url else (_host(found.url),)
        try:
            with chromium.renderer(allow_hosts=allow) as browser:
                shot = browser.map_png(page_of_map, width_px=MAP_W_PX, height_px=MAP_H_PX,
                                       scale=MAP_SCALE)  # fmt: skip
                page = pack_html(pack, map_png=shot.png)
                pdf = browser.pdf(page)
        except LayersError as err:
            LOG.warning("meeting pack: no PDF: %s", err)
            problem, page = str(err), None
    if page is None:
        page = pack_html(pack, map_page=page_of_map)
    return MadePack(pdf, page, sheet_count(pack), rows, pack.file_stem, made_at, problem)


def _made_by(request: Request) -> str:
    """Who made the pack and as which role, "thandi (analyst)"; on the open page, whom it
    was shown as."""
    name, label = request.signed_in.name, request.viewer.label
    if request.signed_in == OPEN_VIEWER and request.viewer.label != OPEN_VIEWER.label:
        return f"{name}, viewing as {label}"
    return f"{name} ({label})"


def _as_of(request: Request, version: str, live: LiveStore | None) -> str:
    """The data's date: its latest incident's day and the store version, and for a live
    store when it was last read."""
    last = request.choices.get("last", [""])[0]
    latest = f"latest incident {datetime.fromisoformat(last):%d %b %Y}" if last else ""
    if live is not None and live.last_success is not None:
        read = live.last_success.astimezone(LOCAL_ZONE)
        return f"{read:%d %b %Y %H:%M:%S} (live store, last read); {latest}".rstrip("; ")
    return f"{latest}; store version {version}" if latest else f"store version {version}"


def _host(url: str) -> str:
    """The host pattern of a tile URL template: ``{s}.tile.example.org`` is any subdomain."""
    return (urlsplit(url).hostname or "").replace("{s}", "*")
