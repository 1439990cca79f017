"""The map's JavaScript and CSS, served by the app itself: offline first.

No asset may come from a CDN at run time. The setup step installs Leaflet (and
protomaps-leaflet, which draws a local vector basemap) from npm
(``npm ci``, pinned in ``package-lock.json``) and :func:`vendor_assets` copies it, with the
leaflet.heat build that ships inside folium's wheel and our own scripts (the heat layer,
``layers/maps/js/incident_heat.js``, and the vector basemap's style, ``vector_basemap.js``),
into ``static/vendor/``. Streamlit serves
that folder at ``/app/static/vendor/`` (``server.enableStaticServing``).

A folium map names its JS/CSS in each element's ``default_js``/``default_css``; folium writes
them into the page header and streamlit-folium loads every one of them into its iframe.
:func:`apply_offline_assets` points those lists at the vendored files, in one of two modes:

``"served"``
    ``<script src="/app/static/vendor/leaflet.js">`` and friends, for the Streamlit app.
``"inline"``
    the file contents themselves in ``<script>``/``<style>`` blocks (Leaflet's CSS images as
    ``data:`` URIs), for a standalone HTML file that opens from ``file://`` with no server.

:func:`standalone_html` renders any offline map as such a file.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import branca.colormap
import folium
import folium.plugins
from branca.element import CssLink, Element, Figure, JavascriptLink
from folium.elements import JSCSSMixin

from layers._errors import LayersError
from layers.storage.store import atomic_path

AssetMode = Literal["served", "inline"]
ElementT = TypeVar("ElementT", bound=Element)

LEAFLET_VERSION = "1.9.4"
PROTOMAPS_LEAFLET_VERSION = "5.1.0"
LEAFLET_DRAW_VERSION = "1.0.4"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENDOR_SUBDIR = Path("static", "vendor")
# Streamlit serves <app dir>/static/ at /app/static/. Behind `server.baseUrlPath` the prefix
# becomes /<base>/app/static/vendor/: pass that as `url_prefix`.
SERVED_URL_PREFIX = "/app/static/vendor/"


class MissingAssetsError(LayersError, FileNotFoundError):
    """A vendored JS/CSS file is not where the map expects it."""


@dataclass(frozen=True)
class VendorAsset:
    """One vendored JS or CSS file.

    Attributes
    ----------
    name : str
        The key folium files the link under in the page header. It is the key folium itself
        uses for that library, so a vendored link replaces the CDN one instead of joining it.
    filename : str
        File name in ``static/vendor/``.
    kind : {"js", "css"}
        Script or stylesheet.
    """

    name: str
    filename: str
    kind: Literal["js", "css"]


LEAFLET_JS = VendorAsset("leaflet", "leaflet.js", "js")
LEAFLET_CSS = VendorAsset("leaflet_css", "leaflet.css", "css")
LEAFLET_HEAT_JS = VendorAsset("leaflet-heat.js", "leaflet_heat.min.js", "js")
# Our own heat layer (layers/maps/js/), which the map's heat is drawn with: a density surface on a
# fixed colour scale (see layers.maps.heat). leaflet.heat stays vendored for folium's HeatMap.
INCIDENT_HEAT_JS = VendorAsset("incident-heat.js", "incident_heat.js", "js")
# protomaps-leaflet draws a local vector basemap (PMTiles of vector tiles) on canvas, with its
# own styles: no glyphs, sprites or styles fetched (see layers.maps.tiles).
PROTOMAPS_JS = VendorAsset("protomaps-leaflet", "protomaps-leaflet.js", "js")
# Our own use of it (layers/maps/js/): the same style on every map and on the public site.
VECTOR_BASEMAP_JS = VendorAsset("vector-basemap.js", "vector_basemap.js", "js")
# Leaflet.draw, for drawing an area on the areas page (folium.plugins.Draw), under the keys
# folium's Draw files it under. Its stylesheet's sprites are vendored beside Leaflet's images.
LEAFLET_DRAW_JS = VendorAsset("leaflet_draw_js", "leaflet.draw.js", "js")
LEAFLET_DRAW_CSS = VendorAsset("leaflet_draw_css", "leaflet.draw.css", "css")

# What each folium element needs. The Map gets Leaflet only: folium's default jQuery,
# Bootstrap, Font Awesome and awesome-markers serve popups and icon markers, which
# `apply_offline_assets` refuses (see `_refuse_cdn_only`).
MAP_ASSETS: tuple[VendorAsset, ...] = (LEAFLET_JS, LEAFLET_CSS)
HEAT_ASSETS: tuple[VendorAsset, ...] = (LEAFLET_HEAT_JS,)
OWN_ASSETS: tuple[VendorAsset, ...] = (INCIDENT_HEAT_JS, VECTOR_BASEMAP_JS)
VECTOR_BASEMAP_ASSETS: tuple[VendorAsset, ...] = (PROTOMAPS_JS, VECTOR_BASEMAP_JS)
DRAW_ASSETS: tuple[VendorAsset, ...] = (LEAFLET_DRAW_JS, LEAFLET_DRAW_CSS)
ALL_ASSETS: tuple[VendorAsset, ...] = (
    *MAP_ASSETS,
    *HEAT_ASSETS,
    *OWN_ASSETS,
    PROTOMAPS_JS,
    *DRAW_ASSETS,
)


def vendor_dir(*, project_root: Path | None = None) -> Path:
    """Return the folder the vendored files are copied to and served from.

    Parameters
    ----------
    project_root : Path, optional
        The folder holding ``dashboard.py`` and ``node_modules/``; defaults to this
        package's parent.

    Returns
    -------
    Path
        ``<project_root>/static/vendor``.
    """
    return (project_root or PROJECT_ROOT) / VENDOR_SUBDIR


def vendor_assets(*, project_root: Path | None = None) -> list[Path]:
    """Copy Leaflet, protomaps-leaflet and Leaflet.draw (from ``node_modules``), leaflet.heat
    (from folium) and our own scripts (from ``layers/maps/js/``) into static/vendor/.

    Each file is written to a temporary file beside its target and moved into place with
    ``os.replace``, so the running app never serves a half-written file.

    Parameters
    ----------
    project_root : Path, optional
        The folder holding ``package.json`` and ``node_modules/``; defaults to this package's
        parent.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    MissingAssetsError
        If ``node_modules/leaflet`` is missing or is not version 1.9.4.
    """
    root = project_root or PROJECT_ROOT
    dist = _npm_dist(root, "leaflet", LEAFLET_VERSION)
    protomaps = _npm_dist(root, "protomaps-leaflet", PROTOMAPS_LEAFLET_VERSION)
    draw = _npm_dist(root, "leaflet-draw", LEAFLET_DRAW_VERSION)
    # Only the draw toolbar's sprites: leaflet-draw also ships an older Leaflet's images, which
    # must not replace Leaflet's own.
    sprites = sorted(draw.glob("images/spritesheet*"))
    target = vendor_dir(project_root=root)
    copies = [
        (dist / LEAFLET_JS.filename, target / LEAFLET_JS.filename),
        (dist / LEAFLET_CSS.filename, target / LEAFLET_CSS.filename),
        *((image, target / "images" / image.name) for image in sorted(dist.glob("images/*"))),
        (protomaps / PROTOMAPS_JS.filename, target / PROTOMAPS_JS.filename),
        *((draw / a.filename, target / a.filename) for a in DRAW_ASSETS),
        *((image, target / "images" / image.name) for image in sprites),
    ]
    written = [_atomic_copy(source, dest) for source, dest in copies]
    heat = resources.files("folium") / "templates" / LEAFLET_HEAT_JS.filename
    with resources.as_file(heat) as heat_path:
        written.append(_atomic_copy(heat_path, target / LEAFLET_HEAT_JS.filename))
    for asset in OWN_ASSETS:
        with resources.as_file(resources.files("layers.maps") / "js" / asset.filename) as own:
            written.append(_atomic_copy(own, target / asset.filename))
    return written


def _npm_dist(root: Path, name: str, pinned: str) -> Path:
    package = root / "node_modules" / name
    fix = f"run `npm ci` in {root} first (package-lock.json pins {name} {pinned})"
    if not (package / "package.json").is_file():
        raise MissingAssetsError(f"{package} is missing: {fix}.")
    found = re.search(r'"version"\s*:\s*"([^"]+)"', (package / "package.json").read_text())
    version = found.group(1) if found else "unknown"
    if version != pinned:
        raise MissingAssetsError(f"{package} holds {name} {version}, not {pinned}: {fix}.")
    return package / "dist"


def _atomic_copy(source: Path, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)
    return dest


def apply_offline_assets(
    element: ElementT,
    *,
    mode: AssetMode,
    url_prefix: str = SERVED_URL_PREFIX,
    project_root: Path | None = None,
) -> ElementT:
    """Point every JS/CSS link in a folium element tree at the vendored files.

    Sets ``default_js``/``default_css`` on each element as *instance* attributes (folium's own
    lists are class attributes shared by every map in the process and must stay untouched).
    Links a previous render left in the page header are dropped too.

    Parameters
    ----------
    element : branca.element.Element
        A ``folium.Map`` (usual case) or a layer such as a ``FeatureGroup`` that will be
        handed to ``st_folium(feature_group_to_add=...)``.
    mode : {"served", "inline"}
        ``"served"``: links to ``url_prefix + filename`` for the Streamlit app. ``"inline"``:
        the file contents go into the page header, so ``m.get_root().render()`` or
        ``m.save()`` gives a page that needs no server; the element must belong to a Map.
    url_prefix : str, default "/app/static/vendor/"
        Where Streamlit serves ``static/vendor/`` (served mode only).
    project_root : Path, optional
        Where to read ``static/vendor/`` from (inline mode only).

    Returns
    -------
    branca.element.Element
        ``element``, changed in place.

    Raises
    ------
    ValueError
        If the tree holds something that only works with a CDN library: a branca colormap,
        a Popup or an awesome-markers Icon (both need jQuery/Bootstrap), an un-embedded
        GeoJson, or a plugin whose files are not vendored.
    MissingAssetsError
        In inline mode, if ``static/vendor/`` has not been filled by :func:`vendor_assets`.
    """
    if mode not in ("served", "inline"):
        raise ValueError(f"`mode` must be 'served' or 'inline', not {mode!r}.")
    figure = element.get_root()
    if mode == "inline" and not isinstance(figure, Figure):
        raise ValueError("`mode='inline'` needs an element that belongs to a folium.Map.")
    needed: list[VendorAsset] = []
    for node in _walk(element):
        _refuse_cdn_only(node)
        if isinstance(node, JSCSSMixin):
            assets = _assets_for(node)
            needed.extend(a for a in assets if a not in needed)
            links = [] if mode == "inline" else assets
            node.default_js = [(a.name, url_prefix + a.filename) for a in links if a.kind == "js"]
            node.default_css = [(a.name, url_prefix + a.filename) for a in links if a.kind == "css"]
    if isinstance(figure, Figure):
        _drop_stale_links(figure, keep_prefix=url_prefix if mode == "served" else None)
        if mode == "inline":
            for asset in needed:
                block = _InlineAsset(inline_tag(asset, project_root=project_root))
                figure.header.add_child(block, name=asset.name)
    return element


class _InlineAsset(Element):
    """A vendored file's contents in the page header, kept out of Jinja's reach."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def render(self, **kwargs: object) -> str:
        return self.tag


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in element._children.values():
        yield from _walk(child)


def _assets_for(node: JSCSSMixin) -> tuple[VendorAsset, ...]:
    if isinstance(node, folium.Map):
        return MAP_ASSETS
    if isinstance(node, folium.plugins.HeatMap):
        return HEAT_ASSETS
    if isinstance(node, folium.plugins.Draw):
        return DRAW_ASSETS
    # Our own elements (layers.maps.webmap.IncidentHeat) name the vendored files they need.
    declared = getattr(node, "vendored_assets", None)
    if declared is not None:
        return tuple(declared)
    urls = [url for _, url in (*node.default_js, *node.default_css)]
    raise ValueError(
        f"{type(node).__name__} needs {urls}, which are not vendored. Add its files to "
        "layers/maps/assets.py (and package.json if they come from npm), or use another element."
    )


def _refuse_cdn_only(node: Element) -> None:
    # Each of these either pulls a CDN library into streamlit-folium's iframe (it adds d3 for
    # any colormap) or renders JS that calls jQuery (`$(...)`), which the offline map lacks.
    reason = None
    if isinstance(node, branca.colormap.ColorMap):
        reason = "streamlit-folium loads d3 from a CDN for it; draw the legend as plain HTML"
    elif isinstance(node, folium.Popup):
        reason = "folium renders popup content with jQuery; use a GeoJsonTooltip or Tooltip"
    elif isinstance(node, folium.Icon):
        reason = "it needs awesome-markers, Bootstrap and Font Awesome; use a CircleMarker"
    elif isinstance(node, folium.GeoJson) and not node.embed:
        reason = "folium loads un-embedded GeoJSON with jQuery; pass the data, embed=True"
    elif isinstance(node, folium.Map) and node.objects_to_stay_in_front:
        reason = "keep_in_front() is wired up with jQuery; add the layers in drawing order"
    if reason:
        raise ValueError(f"{type(node).__name__} does not work offline: {reason}.")


def _drop_stale_links(figure: Figure, *, keep_prefix: str | None) -> None:
    # A map rendered before this call already holds folium's CDN links (or the other mode's
    # assets) in its header; left there, they would load alongside the new ones.
    for name, child in list(figure.header._children.items()):
        stale_link = isinstance(child, (JavascriptLink, CssLink)) and (
            keep_prefix is None or not child.url.startswith(keep_prefix)
        )
        if stale_link or isinstance(child, _InlineAsset):
            del figure.header._children[name]


def inline_tag(asset: VendorAsset, *, project_root: Path | None = None) -> str:
    """Return a vendored file as an inline ``<script>`` or ``<style>`` block.

    Leaflet's CSS refers to ``images/layers.png`` and others by relative URL; those become
    ``data:`` URIs so the layers control keeps its icon in a file opened from ``file://``.

    Parameters
    ----------
    asset : VendorAsset
        The file to inline.
    project_root : Path, optional
        Where ``static/vendor/`` is; defaults to this package's parent.

    Returns
    -------
    str
        ``<script>...</script>`` or ``<style>...</style>``.

    Raises
    ------
    MissingAssetsError
        If the file has not been vendored yet.
    """
    folder = vendor_dir(project_root=project_root)
    text = _require_vendored(folder / asset.filename).read_text(encoding="utf-8")
    tag = "script" if asset.kind == "js" else "style"
    # The HTML parser ends a raw-text block at the first "</script" or "</style", wherever it
    # is; the vendored files have none, and inlining must not silently cut one short.
    if re.search(rf"</{tag}", text, flags=re.IGNORECASE):
        raise ValueError(f"{asset.filename} contains '</{tag}' and cannot be inlined.")
    if asset.kind == "css":
        text = _CSS_IMAGE_URL.sub(lambda match: _data_uri_css(match, folder), text)
    return f"<{tag}>/* {asset.filename} (vendored) */\n{text}\n</{tag}>"


_CSS_IMAGE_URL = re.compile(r"""url\((['"]?)(images/[^'")]+)\1\)""")


_IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}


def _data_uri_css(match: re.Match[str], folder: Path) -> str:
    image = folder / match.group(2)
    payload = base64.b64encode(_require_vendored(image).read_bytes()).decode("ascii")
    kind = _IMAGE_TYPES.get(image.suffix.lower(), "application/octet-stream")
    return f'url("data:{kind};base64,{payload}")'


def _require_vendored(path: Path) -> Path:
    if not path.is_file():
        raise MissingAssetsError(
            f"{path} is missing: run `npm ci`, then `python -m layers assets` to vendor the "
            "map's JavaScript and CSS."
        )
    return path


_SCRIPT_SRC = re.compile(r"""<script\b[^>]*\bsrc=["']([^"']+)["'][^>]*>\s*</script\s*>""", re.I)
_STYLESHEET = re.compile(r"""<link\b[^>]*\bhref=["']([^"']+)["'][^>]*>""", re.I)


def standalone_html(m: folium.Map, *, project_root: Path | None = None) -> str:
    """Render a map as one self-contained HTML page that opens offline from ``file://``.

    Every ``<script src>`` and ``<link href>`` of a vendored file is replaced by the file's
    contents. The map itself is not changed, so the same object can still go to
    ``st_folium``. Tiles, if the map has them, still load from their server; without network
    the map shows its boundaries on a plain background.

    Parameters
    ----------
    m : folium.Map
        A map whose assets were set by :func:`apply_offline_assets` (``build_map`` does it),
        in either mode.
    project_root : Path, optional
        Where ``static/vendor/`` is; defaults to this package's parent.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ValueError
        If the page links a file that is not vendored (a CDN URL, say).
    MissingAssetsError
        If ``static/vendor/`` has not been filled by :func:`vendor_assets`.
    """
    by_filename = {asset.filename: asset for asset in ALL_ASSETS}

    def inline(match: re.Match[str]) -> str:
        url = match.group(1)
        filename = url.rsplit("/", 1)[-1]
        if "://" in url or url.startswith("//") or filename not in by_filename:
            raise ValueError(
                f"The map links {url}, which is not a vendored file: build it with "
                "layers.maps.webmap.build_map or call "
                "layers.maps.assets.apply_offline_assets on it."
            )
        return inline_tag(by_filename[filename], project_root=project_root)

    page = m.get_root().render()
    # A function replacement, not a template string: the inlined code holds backslashes.
    page = _SCRIPT_SRC.sub(inline, page)
    page = _STYLESHEET.sub(inline, page)
    return page
