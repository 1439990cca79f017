"""The basemap on a folium map, and the line saying what it is.

A remote basemap is an ordinary ``L.tileLayer``. A local one (:mod:`layers.maps.tiles`) is
drawn from tiles the app serves (``assets="served"``: the dashboard's ``/tiles/`` route, see
``tileserve.py``) or, in a standalone file (``assets="inline"``), from tiles embedded in the
page for the map's extent and a few zooms around its opening one. Raster tiles go into a
tile layer; vector tiles are drawn on canvas by protomaps-leaflet (vendored), with the
Protomaps basemap's own light style for files in its schema, and a plain style of each layer
otherwise (``layers/maps/js/vector_basemap.js``, which the public site draws with too).

Every map says what it is drawn over, in the attribution and in a line of the legend: no
basemap (and why, when a file could not be used), a local file (name and date) or a tile
server (which needs the internet; when none of its tiles loads, the map says so instead of
crediting tiles that never drew).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import ClassVar

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from jinja2 import Template

from layers.maps.assets import VECTOR_BASEMAP_ASSETS, AssetMode
from layers.maps.legend import BASEMAP, Legend
from layers.maps.tiles import (
    MEDIA_TYPES,
    Basemap,
    embed_tiles,
    embed_zooms,
    extension,
)

NO_BASEMAP = "No basemap: an offline map"
TILES_UNAVAILABLE = "Basemap unavailable: no connection to the tile server"
# Where the dashboard serves a local basemap's tiles (tileserve.py answers there).
SERVED_TILES_PREFIX = "/tiles/"
# What an embedded raster basemap shows where it has no tile: a transparent pixel.
EMPTY_TILE = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
# The deepest zoom the map lets a viewer reach; tiles are enlarged past the file's deepest.
MAP_MAX_ZOOM = 19


def served_url(basemap: Basemap) -> str:
    """The URL template the dashboard serves ``basemap``'s tiles at."""
    return f"{SERVED_TILES_PREFIX}{basemap.key}/{{z}}/{{x}}/{{y}}.{extension(basemap.format)}"


def add_basemap(
    m: folium.Map,
    basemap: Basemap | None,
    *,
    mode: AssetMode,
    box: Sequence[float] | None,
    zoom: int,
    missing: str | None = None,
) -> folium.Map:
    """Draw ``basemap`` under everything on ``m`` and say what it is.

    Parameters
    ----------
    m : folium.Map
        A map with no layers yet (the basemap goes first, under them).
    basemap : Basemap or None
        What to draw; ``None`` draws nothing and says the map has no basemap.
    mode : {"served", "inline"}
        A local basemap's tiles from the dashboard's route, or embedded in the page.
    box : sequence of float or None
        The lon/lat box the map opens on (west, south, east, north): what an embedded
        basemap holds tiles for.
    zoom : int
        The zoom the map opens at; an embedded basemap holds tiles a few zooms around it.
    missing : str, optional
        Why there is no basemap (a tiles file that could not be used), for the legend.
    """
    if basemap is None:
        _BasemapNote(None).add_to(m)
        if missing:
            _legend_line(f"No basemap: {missing}").add_to(m)
        return m
    if not basemap.local:
        folium.TileLayer(basemap.url, attr=basemap.attribution, name="Basemap", overlay=True,
                         max_zoom=MAP_MAX_ZOOM).add_to(m)  # fmt: skip
        _BasemapNote(basemap).add_to(m)
        _legend_line(basemap.legend_text()).add_to(m)
        return m
    embedded = None
    legend = basemap.legend_text()
    if mode == "inline":
        if box is None:
            raise ValueError("An embedded basemap needs the box the map shows (`box`).")
        embedded = embed_tiles(basemap, box, embed_zooms(basemap, zoom))
        legend += f", embedded to zoom {embedded.max_zoom}"
    if basemap.coverage is not None:
        legend += f"; it covers {basemap.coverage:.0%} of this map"
    _LocalBasemap(basemap, embedded=embedded, url=None if embedded else served_url(basemap)
                  ).add_to(m)  # fmt: skip
    _BasemapNote(basemap).add_to(m)
    _legend_line(legend).add_to(m)
    return m


def _legend_line(text: str) -> Legend:
    """The legend's last line, about the basemap (plain text)."""
    return Legend(html.escape(text), order=BASEMAP, css_class="cct-legend cct-basemap-legend")


class _LocalBasemap(JSCSSMixin, MacroElement):
    """A local basemap's layer: raster tiles in an ``L.TileLayer``, vector tiles through
    protomaps-leaflet; from ``url`` (served) or ``embedded`` tiles (a standalone page)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var spec = {{ this.spec|tojson }};
            var embedded = {{ this.tiles|tojson }};
            var bounds = spec.bounds ? L.latLngBounds(spec.bounds) : undefined;
            var layer;
            if (!spec.vector) {
                var EMPTY = {{ this.empty|tojson }};
                var Tiles = L.TileLayer.extend({
                    getTileUrl: function (c) {
                        if (!embedded) { return L.TileLayer.prototype.getTileUrl.call(this, c); }
                        var tile = embedded[c.z + "/" + c.x + "/" + c.y];
                        return tile ? "data:" + spec.mime + ";base64," + tile : EMPTY;
                    }
                });
                layer = new Tiles(spec.url || "", {
                    attribution: spec.attribution, maxZoom: spec.maxZoom,
                    minNativeZoom: spec.minNativeZoom, maxNativeZoom: spec.maxNativeZoom,
                    bounds: bounds, className: "cct-basemap"
                });
            } else {
                if (typeof protomapsL === "undefined" || typeof cctVectorBasemap === "undefined") {
                    return;
                }
                // vendor/vector_basemap.js: the style the public site draws with too.
                layer = protomapsL.leafletLayer(cctVectorBasemap.options({
                    url: spec.url || "embedded/{z}/{x}/{y}.mvt", attribution: spec.attribution,
                    maxNativeZoom: spec.maxNativeZoom, maxZoom: spec.maxZoom, bounds: bounds,
                    flavor: spec.flavor, layers: spec.layers, className: "cct-basemap"
                }));
                if (embedded) {
                    var source = {
                        get: function (c, size) {
                            var tile = embedded[c.z + "/" + c.x + "/" + c.y];
                            if (!tile) { return Promise.resolve(new Map()); }
                            var url = "data:application/x-protobuf;base64," + tile;
                            return new protomapsL.ZxySource(url, false).get(c, size);
                        }
                    };
                    var cache = new protomapsL.TileCache(source, 512);
                    var view = new protomapsL.View(cache, spec.maxNativeZoom, 1);
                    layer.views = new Map([["", view]]);
                }
            }
            layer.addTo(map);
            layer.bringToBack();
        })();
        {% endmacro %}
        """
    )
    vendored_assets: ClassVar[tuple] = ()

    def __init__(self, basemap: Basemap, *, embedded: object | None, url: str | None) -> None:
        super().__init__()
        self._name = "LocalBasemap"
        # apply_offline_assets links (or inlines) what an element declares here.
        self.vendored_assets = VECTOR_BASEMAP_ASSETS if basemap.vector else ()
        b = basemap.bounds
        max_native = embedded.max_zoom if embedded is not None else basemap.max_zoom
        self.spec = {
            "url": url,
            "vector": basemap.vector,
            "mime": MEDIA_TYPES[basemap.format],
            "attribution": credit(basemap),
            "bounds": [[b[1], b[0]], [b[3], b[2]]] if b else None,
            "minNativeZoom": embedded.min_zoom if embedded is not None else basemap.min_zoom,
            "maxNativeZoom": max_native,
            "maxZoom": MAP_MAX_ZOOM,
            "flavor": "light" if basemap.protomaps_schema else None,
            "layers": list(basemap.vector_layers),
        }
        self.tiles = embedded.tiles if embedded is not None else None
        self.empty = EMPTY_TILE


def credit(basemap: Basemap) -> str:
    """A local basemap's attribution: the tiles' own credit, with the file and its date (the
    public site's too)."""
    dated = f", {html.escape(basemap.date)}" if basemap.date else ""
    source = f"{html.escape(basemap.label)}{dated}"
    return f"{basemap.attribution} ({source})" if basemap.attribution else f"Basemap: {source}"


class _BasemapNote(MacroElement):
    """What the map is drawn over, in the attribution: none; or, when a tile server is
    configured but no tile of it loads, that it is unavailable, instead of crediting tiles
    that never drew. (The legend's last line says the rest: :func:`_legend_line`.)"""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            {% if not this.remote and not this.local %}
            map.attributionControl.addAttribution({{ this.none|tojson }});
            {% elif this.remote %}
            map.whenReady(function () {
                map.eachLayer(function (layer) {
                    if (!(layer instanceof L.TileLayer)) { return; }
                    var loaded = false, failed = false;
                    layer.on("tileload", function () {
                        loaded = true;
                        if (failed) {
                            failed = false;
                            map.attributionControl.removeAttribution({{ this.unavailable|tojson }});
                            map.attributionControl.addAttribution(layer.getAttribution());
                        }
                    });
                    layer.on("tileerror", function () {
                        if (loaded || failed) { return; }
                        failed = true;
                        map.attributionControl.removeAttribution(layer.getAttribution());
                        map.attributionControl.addAttribution({{ this.unavailable|tojson }});
                    });
                });
            });
            {% endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(self, basemap: Basemap | None) -> None:
        super().__init__()
        self._name = "BasemapNote"
        self.remote = basemap is not None and not basemap.local
        self.local = basemap is not None and basemap.local
        self.none = NO_BASEMAP
        self.unavailable = TILES_UNAVAILABLE
