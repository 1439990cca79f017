"""Headless Chromium on the server: a map page drawn to a PNG, a print page printed to a PDF.

The meeting pack (:mod:`layers.publishing.pack`) is drawn by the same browser engine the
dashboard is viewed in, from the same Leaflet page: its map is what the screen shows, not a
second drawing of it by another library. Debian's ``chromium`` is driven through Playwright
(``executable_path``: Playwright's own browser download is never used, and the server needs
no internet).

The pages rendered here are self-contained (scripts, styles, images and embedded tiles
inline). Chromium is allowed no request but to the hosts a page is expected to need (a
remote basemap's tile server, when one is configured); everything else is refused, so a
page can make the server fetch nothing else.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from layers._errors import LayersError

CHROMIUM = Path("/usr/bin/chromium")
# Chromium without its own calls home (they would fail on a closed network, noisily), and
# without its sandbox only where it cannot have one: run as root (a container).
CHROMIUM_ARGS = (
    *(("--no-sandbox",) if os.geteuid() == 0 else ()),
    "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
INSTALL_HINT = (
    "an administrator installs Debian's chromium package (as root: apt-get install "
    "chromium; scripts/setup does it when run as root or with sudo)"
)
# A Chromium takes a few hundred MB: at most this many draw at once in one process, the
# others wait their turn.
MAX_AT_ONCE = 2
_TURNS = threading.BoundedSemaphore(MAX_AT_ONCE)

# The page's maps: folium names each a global variable (reading some of window's own
# properties throws on a page without an origin, hence the try).
MAPS = """(() => {
  const maps = [];
  for (const key of Object.keys(window)) {
    try { if (window[key] instanceof L.Map) maps.push(window[key]); } catch (e) {}
  }
  return maps;
})()"""
# True once every map on the page has drawn: no zoom or pan under way, and the heat layer's
# surface made for the current view (the areas are SVG, drawn as they are added). Tile layers
# are waited for separately (READY_TILES), and for a limited time: a tile server that does not
# answer must not stop the pack.
READY_MAP = """() => {
  if (typeof L === "undefined") return false;
  const maps = FIND_MAPS;
  if (!maps.length) return false;
  return maps.every(map => {
    if (map._animatingZoom || (map._panAnim && map._panAnim._inProgress)) return false;
    let drawn = true;
    map.eachLayer(layer => {
      if (L.IncidentHeat && layer instanceof L.IncidentHeat) {
        drawn = drawn && !!layer._heat && layer._heat.zoom === map.getZoom();
      }
    });
    return drawn;
  });
}""".replace("FIND_MAPS", MAPS)
READY_TILES = """() => FIND_MAPS.every(map => {
  let loaded = true;
  map.eachLayer(layer => {
    if (layer instanceof L.GridLayer && layer.isLoading && layer.isLoading()) loaded = false;
  });
  return loaded;
})""".replace("FIND_MAPS", MAPS)
# Two animation frames: what the last change drew is on the screen by then.
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


class ChromiumError(LayersError):
    """Chromium is missing, or could not draw or print a page: the message says why."""


def chromium_problem(executable: Path | None = None) -> str | None:
    """Why this server cannot draw a pack in Chromium (None: it can).

    Parameters
    ----------
    executable : Path, optional
        The Chromium to use; default :data:`CHROMIUM`.

    Returns
    -------
    str or None
        A sentence that says what is missing and how to install it.
    """
    executable = executable or CHROMIUM
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "The playwright package is not installed on the server: run scripts/setup "
            "(pip install -r requirements.txt)"
        )
    if not executable.is_file():
        return f"Chromium is not installed on the server: {INSTALL_HINT}"
    return None


@dataclass(frozen=True)
class MapShot:
    """A map drawn by Chromium: the PNG, and its size in device pixels."""

    png: bytes
    width_px: int
    height_px: int


class Renderer:
    """One Chromium, for the pages of one pack (see :func:`renderer`)."""

    def __init__(self, browser: object, allow_hosts: frozenset[str], timeout_s: float) -> None:
        self._browser = browser
        self._allow_hosts = allow_hosts
        self._timeout_ms = timeout_s * 1000

    def _page(self, *, width_px: int, height_px: int, scale: float) -> tuple[object, list[str]]:
        context = self._browser.new_context(  # type: ignore[attr-defined]
            viewport={"width": width_px, "height": height_px}, device_scale_factor=scale
        )
        allowed = self._allow_hosts

        def route(request_route: object) -> None:
            url = request_route.request.url  # type: ignore[attr-defined]
            host = urlsplit(url).hostname or ""
            if url.startswith(("data:", "about:")) or any(
                fnmatch.fnmatchcase(host, pattern) for pattern in allowed
            ):
                request_route.continue_()  # type: ignore[attr-defined]
            else:
                request_route.abort()  # type: ignore[attr-defined]

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(self._timeout_ms)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page, errors

    def map_png(self, page_html: str, *, width_px: int, height_px: int, scale: float = 3.0,
                tiles_wait_s: float = 20.0) -> MapShot:  # fmt: skip
        """Draw a standalone map page (:func:`layers.maps.assets.standalone_html`) in a
        window of ``width_px`` by ``height_px`` CSS pixels, at ``scale`` device pixels to
        the CSS pixel (3: about 290 dpi at 96 CSS px to the inch), once the map and its heat
        have drawn and its tiles have loaded (or ``tiles_wait_s`` has passed)."""
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page, errors = self._page(width_px=width_px, height_px=height_px, scale=scale)
        try:
            page.set_content(page_html, wait_until="load")
            try:
                page.wait_for_function(READY_MAP)
            except PlaywrightTimeout as err:
                said = f" (the page said: {errors[0]})" if errors else ""
                raise ChromiumError(
                    f"The map did not finish drawing in Chromium within "
                    f"{self._timeout_ms / 1000:g} s{said}: try again, or use the print-ready "
                    "page."
                ) from err
            # Drawn without tiles that never came, if need be: the map's credit says so.
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(READY_TILES, timeout=tiles_wait_s * 1000)
            page.evaluate(TWO_FRAMES)
            if errors:
                raise ChromiumError(f"The map page failed in Chromium: {errors[0]}")
            png = page.screenshot(type="png")
        except PlaywrightError as err:
            raise ChromiumError(f"Chromium could not draw the map: {err}") from err
        finally:
            page.context.close()
        return MapShot(png, round(width_px * scale), round(height_px * scale))

    def pdf(self, page_html: str) -> bytes:
        """Print a page to PDF, its paper size and margins from its own CSS (``@page``),
        backgrounds included."""
        from playwright.sync_api import Error as PlaywrightError

        page, errors = self._page(width_px=1123, height_px=794, scale=1.0)  # A4 at 96 dpi
        try:
            page.set_content(page_html, wait_until="load")
            page.emulate_media(media="print")
            if errors:
                raise ChromiumError(f"The print page failed in Chromium: {errors[0]}")
            return page.pdf(prefer_css_page_size=True, print_background=True)
        except PlaywrightError as err:
            raise ChromiumError(f"Chromium could not print the pack: {err}") from err
        finally:
            page.context.close()


@contextmanager
def renderer(*, executable: Path | None = None, allow_hosts: Sequence[str] = (),
             timeout_s: float = 60.0) -> Iterator[Renderer]:  # fmt: skip
    """A headless Chromium for the length of the ``with`` block (and this thread: Playwright's
    objects belong to the thread that made them).

    Parameters
    ----------
    executable : Path, optional
        Default :data:`CHROMIUM`.
    allow_hosts : sequence of str
        Host names pages may load from (a remote basemap's), as shell patterns
        (``*.tile.openstreetmap.org``); every other request is refused.
    timeout_s : float, default 60
        How long any one step (drawing the map, printing) may take.

    Raises
    ------
    ChromiumError
        When Chromium or Playwright is missing (the message says how to install them), or
        Chromium does not start.
    """
    executable = executable or CHROMIUM
    problem = chromium_problem(executable)
    if problem is not None:
        raise ChromiumError(f"No PDF can be made. {problem}.")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with _TURNS, sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(executable), args=list(CHROMIUM_ARGS))
        except PlaywrightError as err:
            raise ChromiumError(f"Chromium ({executable}) did not start: {err}") from err
        try:
            yield Renderer(browser, frozenset(allow_hosts), timeout_s)
        finally:
            browser.close()
