"""The folium map: area boundaries or a choropleth, an incident heat layer, legends.

Pure: frames in, a ``folium.Map`` out. The only files touched are the vendored JS/CSS, and
only for ``assets="inline"`` (see :mod:`layers.maps.assets`). Nothing here loads from a CDN; tiles
are optional and the map stays readable without them.

Text that came from user files (area names) is HTML-escaped here, because Leaflet puts
tooltip, legend and layer-control text into the page with ``innerHTML``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import ClassVar, Literal

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.map import Layer
from jinja2 import Template

from layers.maps import legend as section
from layers.maps.assets import (
    INCIDENT_HEAT_JS,
    SERVED_URL_PREFIX,
    AssetMode,
    apply_offline_assets,
)
from layers.maps.basemap import add_basemap
from layers.maps.heat import (
    HEAT_SIGMA_PX,
    SCALE_EXPONENT,
    TRUNCATE_SD,
    format_density,
    grid_step_px,
    page_points,
    peak_density,
    scale_ticks,
)
from layers.maps.legend import Legend
from layers.maps.tiles import Basemap, open_basemap
from layers.settings import COORD_DECIMALS, METRIC_CRS, WGS84
from layers.storage.columnar import fit_zoom

AreaStyle = Literal["outline", "choropleth"]

# UTM 34S: metres across the City of Cape Town, for simplifying boundaries.
SIMPLIFY_TOLERANCE_M = 15.0

# No basemap unless asked for: OpenStreetMap's tile server (``tiles="osm"``) needs the internet,
# a local tiles file must be made first (layers.maps.tiles). Without one the map is offline:
# boundaries on a plain background.
DEFAULT_TILES: str | None = None
# Used only when there are no areas to fit the view to.
CAPE_TOWN_CENTER = (-33.95, 18.55)
CAPE_TOWN_ZOOM = 10

NO_TILES_BACKGROUND = "#f2efe9"
# The outline and label of the area a meeting's rotation is on.
FOCUS_COLOUR = "#1b1b1b"
# ColorBrewer YlOrRd, 5 classes: sequential, readable over a basemap, colour-blind safe.
CHOROPLETH_PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
# Areas with no incident in a choropleth: a class of their own, outside the ramp.
NO_INCIDENT_COLOUR = "#f0f0f0"
# Areas whose count is suppressed (too few to show, or protecting one that is).
HIDDEN_COLOUR = "#9e9e9e"
# The heat ramp (leaflet.heat's, which users know: blue, cyan, lime, yellow, red) as positions
# from 0 to the top of the scale. Below 0.4 the colour is blue, fading out towards 0.
HEAT_GRADIENT = {0.4: "#0000ff", 0.6: "#00ffff", 0.7: "#00ff00", 0.8: "#ffff00", 1.0: "#ff0000"}
# The heat kernel's radius in screen pixels: two standard deviations of the Gaussian (see
# layers.maps.heat), where a cell's heat has fallen to 14 % of its centre.
HEAT_RADIUS = round(2 * HEAT_SIGMA_PX)


def build_map(
    areas: gpd.GeoDataFrame,
    heat: pd.DataFrame | None,
    *,
    area_label: str,
    style: AreaStyle = "outline",
    tiles: str | Basemap | None = DEFAULT_TILES,
    attribution: str | None = None,
    tiles_problem: str | None = None,
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    heat_radius: int = HEAT_RADIUS,
    heat_scale: float | None = None,
    heat_legend: bool | None = None,
    layer_control: bool = True,
    title: str | None = None,
    synthetic: bool = False,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_method: HotspotMethod = "gistar",
    assets: AssetMode = "served",
) -> folium.Map:
    """Build the incident map: areas, heat, legend, layer control, offline assets.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Polygons with columns ``name`` (str) and ``count`` (int, incidents after filtering).
        Reprojected to EPSG:4326 if in another CRS.
    heat : pandas.DataFrame or None
        Grid cells with ``lat``, ``lon`` and ``weight``, already aggregated. ``None`` leaves
        the heat layer out, e.g. to add it with ``st_folium(feature_group_to_add=...)``.
    area_label : str
        What an area is called, for tooltips and legend ("SAPS precinct", "Ward").
    style : {"outline", "choropleth"}, default "outline"
        Thin outlines over the heat, or areas filled by incident count.
    tiles : str or Basemap or None, default None
        The basemap (see :func:`layers.maps.tiles.open_basemap`): ``"osm"`` for
        OpenStreetMap's tile server (needs the internet), a tile URL template, or a local
        MBTiles or PMTiles file or folder of tiles, which a standalone map (``assets=
        "inline"``) embeds for its extent. ``None`` or ``"none"``: no basemap; the map shows
        the boundaries on a plain light background.
    attribution : str, optional
        Tile attribution (HTML). Required for a custom tile URL; OpenStreetMap's tiles and
        local files bring their own.
    tiles_problem : str, optional
        Why there is no basemap (a tiles file that could not be used): the legend says it.
    center : (float, float), optional
        Initial (lat, lon). Without ``center`` and ``zoom`` the map fits the areas.
    zoom : int, optional
        Initial zoom.
    heat_radius : int, default HEAT_RADIUS
        The heat kernel's radius in pixels (see :func:`heat_layer`).
    heat_scale : float, optional
        The top of the heat colour scale, in incidents per km² (see :func:`heat_layer`).
    heat_legend : bool, optional
        Whether the heat layer brings its legend, a scale in incidents per km²; default
        True. Without ``heat`` there is no heat legend.
    layer_control : bool, default True
        Add a control to toggle the layers. Leave it out when the layers come through
        ``st_folium(feature_group_to_add=..., layer_control=folium.LayerControl())``, or the
        map shows two controls.
    title : str, optional
        Shown at the top of the map.
    synthetic : bool, default False
        Show a "SYNTHETIC DEMO DATA" banner.
    hotspots : geopandas.GeoDataFrame, optional
        Hotspot cells or polygons to draw above the heat (see :func:`hotspot_layer`).
    hotspot_method : {"gistar", "kde", "emerging"}
        Which analysis ``hotspots`` came from: sets colours, tooltips and legend.
    assets : {"served", "inline"}, default "served"
        How Leaflet is loaded: from the app (``/app/static/vendor/``) or inlined in the page
        (for a standalone file; see :func:`layers.maps.assets.standalone_html`).

    Returns
    -------
    folium.Map

    Raises
    ------
    ValueError
        If ``areas`` or ``heat`` lack their columns or a CRS, or ``tiles`` cannot be used
        (:class:`layers.maps.tiles.BasemapError`: a custom tile URL without an attribution,
        or a tiles file that is missing or not one).
    """
    areas = _check_areas(areas)
    basemap = _resolve_tiles(tiles, attribution)
    bounds = _bounds(areas)
    fit = center is None and zoom is None and bounds is not None
    if center is None:
        center = _middle(bounds) if bounds else CAPE_TOWN_CENTER
    if zoom is None:
        zoom = fit_zoom(areas.total_bounds) if bounds else CAPE_TOWN_ZOOM

    m = base_map(
        areas,
        basemap=basemap,
        tiles_problem=tiles_problem,
        center=center,
        zoom=zoom,
        fit=fit,
        title=title,
        synthetic=synthetic,
        mode=assets,
    )
    for group in map_layers(
        areas,
        heat,
        area_label=area_label,
        style=style,
        zoom=zoom,
        heat_radius=heat_radius,
        heat_scale=heat_scale,
        heat_legend=heat_legend is not False,
        hotspots=hotspots,
        hotspot_method=hotspot_method,
    ):
        group.add_to(m)
    if layer_control:
        folium.LayerControl(collapsed=True).add_to(m)
    return apply_offline_assets(m, mode=assets)


def live_base_map(
    areas: gpd.GeoDataFrame,
    *,
    tiles: str | Basemap | None = DEFAULT_TILES,
    attribution: str | None = None,
    tiles_problem: str | None = None,
    synthetic: bool = False,
    large: bool = False,
    fit: tuple[float, float, float, float] | None = None,
) -> folium.Map:
    """The dashboard's base map: :func:`base_map` fitted to ``fit`` (a lon/lat box, west,
    south, east, north: where the incidents are) or else to ``areas``, Leaflet served by the
    app, no layer control (``st_folium`` gets one for the layers it adds). ``large`` sets
    legend and banner type for a projector across a room (meeting mode)."""
    areas = _check_areas(areas, needs=())
    basemap = _resolve_tiles(tiles, attribution)
    box = fit if fit is not None else tuple(areas.total_bounds) if not areas.empty else None
    bounds = [[box[1], box[0]], [box[3], box[2]]] if box is not None else None
    m = base_map(
        areas,
        basemap=basemap,
        tiles_problem=tiles_problem,
        center=_middle(bounds) if bounds else CAPE_TOWN_CENTER,
        zoom=fit_zoom(box) if box is not None else CAPE_TOWN_ZOOM,
        synthetic=synthetic,
        bounds=bounds,
    )
    if large:
        _LargeType().add_to(m)
    return apply_offline_assets(m, mode="served")


def base_map(
    areas: gpd.GeoDataFrame,
    *,
    basemap: Basemap | None,
    center: tuple[float, float],
    zoom: int,
    fit: bool = True,
    title: str | None = None,
    synthetic: bool = False,
    bounds: list[list[float]] | None = None,
    mode: AssetMode = "served",
    tiles_problem: str | None = None,
) -> folium.Map:
    """The part of the map that does not change with the filters.

    Tiles, page style, the banner and the opening view. The dashboard draws
    this once and sends everything that depends on the filters as layers
    (:func:`map_layers`) through ``st_folium(feature_group_to_add=...)``, so a filter change
    never rebuilds the map and the viewer keeps their position and zoom.

    ``bounds`` (``[[south, west], [north, east]]``), or else ``areas``, gives the view to
    fit; a local ``basemap`` is drawn from tiles served by the app (``mode="served"``) or
    embedded for that view (``mode="inline"``, see :func:`layers.maps.basemap.add_basemap`).
    """
    m = folium.Map(location=center, zoom_start=zoom, tiles=None, control_scale=True)
    bounds = bounds or (_bounds(areas) if not areas.empty else None)
    box = (bounds[0][1], bounds[0][0], bounds[1][1], bounds[1][0]) if bounds else None
    add_basemap(m, basemap, mode=mode, box=box, zoom=zoom, missing=tiles_problem)
    _MapStyle().add_to(m)
    if title or synthetic:
        _Banner(_banner_html(title, synthetic=synthetic)).add_to(m)
    if fit and bounds is not None:
        # Jump, don't animate: the opening zoom is only an estimate, and an animated zoom on
        # load redraws the heat twice and can be caught half-way by a screenshot or print.
        fit_bounds = folium.FitBounds(bounds)
        fit_bounds.options["animate"] = False
        m.add_child(fit_bounds)
    return m


def map_layers(
    areas: gpd.GeoDataFrame,
    heat: pd.DataFrame | None,
    *,
    area_label: str,
    style: AreaStyle = "outline",
    zoom: int,
    heat_radius: int = HEAT_RADIUS,
    heat_scale: float | None = None,
    heat_legend: bool = True,
    hotspots: gpd.GeoDataFrame | None = None,
    hotspot_method: HotspotMethod = "gistar",
    recent: pd.DataFrame | None = None,
    recent_minutes: float = 60.0,
    area_classes: list[tuple[int, int]] | None = None,
) -> list[folium.FeatureGroup]:
    """The layers that change with the filters, each with its own legend, bottom to top:
    areas, heat, hotspots, just-reported incidents. ``heat_radius``, ``heat_scale`` and
    ``heat_legend`` are :func:`heat_layer`'s ``radius``, ``scale`` and ``legend``, for cells
    made at ``zoom``; ``recent`` holds cells of recent incidents (see :func:`recent_layer`);
    ``area_classes`` are :func:`area_layer`'s ``classes``.

    Each legend is tied to its layer: it appears when the layer is added to a map and goes
    when the layer is removed, so ``st_folium`` can swap the layers without leaving stale
    legends behind.
    """
    areas = _check_areas(areas)
    group = area_layer(areas, area_label=area_label, style=style, classes=area_classes)
    Legend(_area_legend_html(areas, area_label=area_label, style=style, classes=area_classes),
           order=section.AREAS).add_to(group)  # fmt: skip
    groups = [group]
    if heat is not None:
        # The heat goes above the areas, so a choropleth fill cannot hide it; its canvas lets
        # the mouse through to the area tooltips (see _MapStyle).
        groups.append(heat_layer(heat, radius=heat_radius, max_zoom=zoom, scale=heat_scale,
                                 legend=heat_legend))  # fmt: skip
    if hotspots is not None:
        group = hotspot_layer(hotspots, method=hotspot_method)
        key = {"gistar": "gi_bin", "emerging": "category"}.get(hotspot_method)
        present = sorted(set(hotspots[key])) if key in hotspots.columns else ()
        Legend(hotspot_legend_html(hotspot_method, present), order=section.HOTSPOTS).add_to(group)
        groups.append(group)
    if recent is not None and len(recent):
        groups.append(recent_layer(recent, minutes=recent_minutes))
    return [apply_offline_assets(g, mode="served") for g in groups]


RECENT_COLOUR = "#d6006f"
MAX_RECENT_MARKERS = 500


def recent_layer(cells: pd.DataFrame, *, minutes: float) -> folium.FeatureGroup:
    """Ringed markers on cells holding incidents from the last ``minutes``, for a live map.

    ``cells`` has ``lat``, ``lon`` (cell centres, never an incident's own position) and
    ``weight`` (incidents). The busiest :data:`MAX_RECENT_MARKERS` are drawn, as one GeoJSON
    layer of circle markers (a ring grows with the count, up to 5), so a live map's many
    refreshes do not render each marker on its own.
    """
    points = _check_heat(cells)
    points = points[points["weight"] > 0].nlargest(MAX_RECENT_MARKERS, "weight")
    span = f"{minutes:g} minutes" if minutes < 120 else f"{minutes / 60:g} hours"
    group = folium.FeatureGroup(name=f"Reported in the last {span}")
    features = [
        {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [round(float(lon), COORD_DECIMALS),
                                round(float(lat), COORD_DECIMALS)],
            },
            "properties": {
                "radius": 7 + 2 * min(float(weight), 5),
                "label": f"{int(weight)} incident{'s' if weight != 1 else ''} in the last {span}",
            },
        }
        for lat, lon, weight in points.itertuples(index=False, name=None)
    ]  # fmt: skip
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=f"Reported in the last {span}",
            marker=folium.CircleMarker(
                radius=7, color=RECENT_COLOUR, weight=3, fill=True, fill_opacity=0.15
            ),
            style_function=lambda feature: {"radius": feature["properties"]["radius"]},
            tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
            control=False,
        ).add_to(group)
    Legend(
        f'<div class="cct-legend-row"><span class="cct-swatch cct-recent"></span>'
        f"Reported in the last {html.escape(span)}</div>",
        order=section.RECENT,
    ).add_to(group)
    return group


def focus_layer(area: gpd.GeoDataFrame) -> folium.FeatureGroup:
    """The area a meeting's rotation is on: a heavy outline and its name in large type at
    a point inside it (``area`` has ``name`` and a geometry, in any CRS)."""
    area = _check_areas(area, needs=())
    shown = display_geometry(area)
    group = folium.FeatureGroup(name="Area in focus")
    folium.GeoJson(
        shown[["geometry"]].to_json(),
        style_function=lambda _feature: {"color": FOCUS_COLOUR, "weight": 5, "fill": False},
        interactive=False,
    ).add_to(group)
    for name, point in zip(shown["name"].astype(str), shown.representative_point(), strict=True):
        folium.Marker(
            (round(point.y, COORD_DECIMALS), round(point.x, COORD_DECIMALS)),
            icon=folium.DivIcon(
                html=f'<div class="cct-focus-label">{html.escape(name)}</div>',
                icon_size=(0, 0),
                class_name="cct-focus-icon",
            ),
            interactive=False,
        ).add_to(group)
    return apply_offline_assets(group, mode="served")


def area_layer(
    areas: gpd.GeoDataFrame, *, area_label: str, style: AreaStyle = "outline",
    labels: bool = True, classes: list[tuple[int, int]] | None = None,
) -> folium.FeatureGroup:  # fmt: skip
    """Draw area boundaries, or a choropleth of incident counts, with name/count tooltips.

    Geometry is simplified in metres (EPSG:32734, 15 m, topology preserved) and rounded to
    about 1 m, so a precinct with tens of thousands of vertices does not bloat the page.

    Parameters
    ----------
    areas : geopandas.GeoDataFrame
        Polygons with columns ``name`` and ``count``, and optionally ``count_text``: the
        count as the tooltip shows it, e.g. "fewer than 3" where it is suppressed (NaN).
    area_label : str
        What an area is called; the tooltip's heading for the name.
    style : {"outline", "choropleth"}, default "outline"
        Outlines with a transparent fill, or fill colour by count class.
    labels : bool, default True
        Write each area's name on the map at the zooms where it fits inside the area.
    classes : list of (int, int), optional
        The choropleth's classes (:func:`choropleth_classes`), when they must not follow
        ``areas``' own counts: a playback colours every frame on the classes of all of them.
        They must cover every count shown.

    Returns
    -------
    folium.FeatureGroup
        Named for the layer control.
    """
    areas = _check_areas(areas)
    if style not in ("outline", "choropleth"):
        raise ValueError(f"`style` must be 'outline' or 'choropleth', not {style!r}.")
    label = html.escape(area_label)
    name = f"Incidents per {label}" if style == "choropleth" else f"{label} boundaries"
    group = folium.FeatureGroup(name=name)
    if areas.empty:
        return group
    display = _display_frame(areas)
    if style == "choropleth":
        if classes is None:
            classes = choropleth_classes(display.loc[~display["hidden"], "count"].to_numpy())
        colours = class_colours(classes)
        uppers = np.array([high for _, high in classes])

        def style_function(feature: dict) -> dict:
            if feature["properties"]["hidden"]:  # suppressed: its own colour, not a count's
                fill = HIDDEN_COLOUR
            else:
                count = feature["properties"]["count"]
                fill = colours[int(np.searchsorted(uppers, count, side="left"))]
            return {"color": "#555555", "weight": 0.8, "fillColor": fill, "fillOpacity": 0.65}

        highlight = {"color": "#111111", "weight": 2.5, "fillOpacity": 0.85}
    else:

        def style_function(feature: dict) -> dict:
            # A fill with zero opacity still catches the mouse, so the tooltip works inside
            # the area and not only on its edge.
            return {"color": "#333333", "weight": 1.2, "fillColor": "#333333", "fillOpacity": 0}

        highlight = {"color": "#000000", "weight": 3, "fillOpacity": 0.08}

    folium.GeoJson(
        display.to_geo_dict(drop_id=False),
        name=name,
        style_function=style_function,
        highlight_function=lambda _feature: highlight,
        tooltip=_tooltip(["name", "incidents"], [label, "Incidents"]),
        control=False,
    ).add_to(group)
    if labels:
        _AreaLabels(area_labels(areas["name"].fillna("(unnamed)").astype(str),
                                display.geometry)).add_to(group)  # fmt: skip
    return group


def area_labels(names: pd.Series, shapes: gpd.GeoSeries) -> list[list[object]]:
    """Where each area's name goes, and the box it must fit in: ``[lat, lon, name, west,
    south, east, north]`` per area, a point inside the area (``representative_point``),
    coordinates rounded to about 1 m; the name HTML-escaped, as every name the page puts in
    with ``innerHTML``."""
    points = shapes.representative_point()
    boxes = shapes.bounds.round(COORD_DECIMALS)
    return [
        [
            round(p.y, COORD_DECIMALS),
            round(p.x, COORD_DECIMALS),
            html.escape(str(name)),
            *map(float, b),
        ]
        for name, p, b in zip(names, points, boxes.itertuples(index=False), strict=True)
        if not p.is_empty
    ]


def heat_layer(
    heat: pd.DataFrame,
    *,
    radius: int = HEAT_RADIUS,
    max_zoom: int,
    scale: float | None = None,
    name: str = "Incident heat",
    legend: bool = True,
    k: int | None = None,
) -> folium.FeatureGroup:
    """Draw aggregated incident cells as a density surface on a fixed colour scale.

    The layer (:class:`IncidentHeat`) spreads each cell's count over a Gaussian and colours
    the result, in incidents per km², from 0 to ``scale``; see :mod:`layers.maps.heat`. The
    colours depend on the cells, the zoom and ``scale`` only: not on the window's size, the
    map's position, or what is in view.

    Parameters
    ----------
    heat : pandas.DataFrame
        Columns ``lat``, ``lon``, ``weight`` (incidents, ≥ 0), one row per grid cell. Cells of
        weight 0 draw nothing and are left out of the page.
    radius : int, default HEAT_RADIUS
        The kernel's radius in pixels: two standard deviations of the Gaussian.
    max_zoom : int
        The zoom the cells were made for, at which ``scale`` is the surface's peak.
    scale : float, optional
        The top of the colour scale, in incidents per km²: the peak density of all the
        filtered incidents at ``max_zoom``, in view or not (see
        :func:`layers.maps.view.prepare_map`). Needed when ``heat`` holds only the cells near the
        viewport. Without it, the peak of ``heat`` itself.
    name : str, default "Incident heat"
        Layer-control label (plain text).
    legend : bool, default True
        Give the layer its legend: the colour bar with numbers, in incidents per km². It
        shows while the layer is on the map.
    k : int, optional
        For a viewer whose counts are suppressed below ``k``: the legend prints no value
        below ``k``. Defaults to ``heat.attrs["k"]``, which
        :func:`layers.analysis.figures.heat_figure`
        sets for such a viewer.

    Returns
    -------
    folium.FeatureGroup
        Holding one :class:`IncidentHeat` (and its legend), its JS already pointed at the
        served vendored copy, so it can go straight to
        ``st_folium(feature_group_to_add=...)``.

    Raises
    ------
    ValueError
        If columns are missing, or a value is missing or a weight negative.
    """
    k = heat.attrs.get("k") if k is None else k
    points = page_points(_check_heat(heat))
    sigma = radius / 2
    top = scale if scale is not None and scale > 0 else None
    if top is None:
        top = peak_density(points, zoom=max_zoom, sigma_px=sigma)
    layer = IncidentHeat(points, name=name, sigma_px=sigma, top=top)
    group = folium.FeatureGroup(name=html.escape(name))
    layer.add_to(group)
    if legend:
        Legend(_heat_legend_html(top, k=k), order=section.HEAT).add_to(group)
    return apply_offline_assets(group, mode="served")


class IncidentHeat(JSCSSMixin, Layer):
    """The heat layer of ``layers/maps/js/incident_heat.js`` (``L.incidentHeat``), as folium
    writes it: ``[lat, lon, count]`` points and the kernel and scale to draw them with.

    Its script is one of the vendored assets (see :mod:`layers.maps.assets`), never a CDN's.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.incidentHeat(
                {{ this.data|tojson }},
                {{ this.options|tojson }}
            );
        {% endmacro %}
        """
    )
    default_js: ClassVar[list[tuple[str, str]]] = [
        (INCIDENT_HEAT_JS.name, SERVED_URL_PREFIX + INCIDENT_HEAT_JS.filename)
    ]
    vendored_assets = (INCIDENT_HEAT_JS,)

    def __init__(self, points: np.ndarray, *, name: str, sigma_px: float, top: float) -> None:
        super().__init__(name=name, overlay=True, control=False)
        self._name = "IncidentHeat"
        # Whole counts as integers: the page is shorter and reads as counts.
        self.data = [
            [lat, lon, int(w) if w.is_integer() else round(w, 6)] for lat, lon, w in points.tolist()
        ]
        self.options = {
            "sigma": float(sigma_px),
            "step": grid_step_px(sigma_px),
            "truncate": TRUNCATE_SD,
            # With nothing to draw there is no peak; any positive top draws the same nothing.
            "top": float(top) if top > 0 else 1.0,
            "exponent": SCALE_EXPONENT,
            "gradient": [[stop, colour] for stop, colour in sorted(HEAT_GRADIENT.items())],
        }


GI_BIN_STYLE: dict[int, tuple[str, str]] = {
    # Esri's Hot Spot Analysis renderer: Gi_Bin -> (colour, label).
    3: ("#d62f27", "Hot spot, 99 % confidence"),
    2: ("#ed7551", "Hot spot, 95 % confidence"),
    1: ("#fab984", "Hot spot, 90 % confidence"),
    -1: ("#c0ccbe", "Cold spot, 90 % confidence"),
    -2: ("#849eba", "Cold spot, 95 % confidence"),
    -3: ("#4575b5", "Cold spot, 99 % confidence"),
}
EMERGING_STYLE: dict[str, str] = {
    "new hot spot": "#7f0000",
    "consecutive hot spot": "#b30000",
    "intensifying hot spot": "#e34a33",
    "persistent hot spot": "#fc8d59",
    "diminishing hot spot": "#fdbb84",
    "sporadic hot spot": "#fdd49e",
    "oscillating hot spot": "#d7a1c4",
    "historical hot spot": "#969696",
    "new cold spot": "#08306b",
    "consecutive cold spot": "#08519c",
    "intensifying cold spot": "#2171b5",
    "persistent cold spot": "#4292c6",
    "diminishing cold spot": "#6baed6",
    "sporadic cold spot": "#9ecae1",
    "oscillating cold spot": "#c6dbef",
    "historical cold spot": "#bdbdbd",
}
HotspotMethod = Literal["gistar", "kde", "emerging"]
_HOTSPOT_TOOLTIPS: dict[str, list[tuple[str, str]]] = {
    "gistar": [("count", "Incidents"), ("gi_z", "Gi* z"), ("gi_p", "p"),
               ("gi_p_fdr", "p (FDR)"), ("gi_bin", "Gi bin")],
    "emerging": [("category", "Category"), ("count", "Incidents"), ("trend_z", "Trend z"),
                 ("trend_p", "Trend p"), ("hot_steps", "Hot periods")],
    "kde": [("rank", "Rank"), ("peak_density", "Peak per km²"), ("area_km2", "Area km²")],
}  # fmt: skip


def hotspot_layer(hotspots: gpd.GeoDataFrame, *, method: HotspotMethod) -> folium.FeatureGroup:
    """Draw hotspot cells or polygons, coloured by Gi* bin, emerging category or KDE rank.

    Only what is significant is drawn (Gi* bins other than 0, cells with an emerging-hot-spot
    category, KDE hotspot polygons), which keeps the page small at tens of thousands of cells.

    Parameters
    ----------
    hotspots : geopandas.GeoDataFrame
        Output of the hotspot analysis with the columns its method produces, in any CRS.
    method : {"gistar", "kde", "emerging"}

    Returns
    -------
    folium.FeatureGroup
    """
    if method not in _HOTSPOT_TOOLTIPS:
        raise ValueError(f"`method` must be one of {', '.join(_HOTSPOT_TOOLTIPS)}, not {method!r}.")
    frame = hotspots
    if method == "gistar":
        frame = frame[frame["gi_bin"] != 0]
    elif method == "emerging":
        frame = frame[frame["category"].str.lower().isin(list(EMERGING_STYLE))]
    fields = [(c, label) for c, label in _HOTSPOT_TOOLTIPS[method] if c in frame.columns]
    frame = frame[[c for c, _ in fields] + [frame.geometry.name]].to_crs(WGS84)
    frame = frame.set_geometry(shapely.set_precision(frame.geometry.array, 10**-COORD_DECIMALS))
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column].dtype):
            frame[column] = frame[column].round(4)
    group = folium.FeatureGroup(name={"gistar": "Gi* hot and cold spots",
                                      "kde": "KDE hotspots",
                                      "emerging": "Emerging hot spots"}[method])  # fmt: skip
    if frame.empty:
        return group
    max_rank = int(frame["rank"].max()) if method == "kde" else 1

    def style_function(feature: dict) -> dict:
        props = feature["properties"]
        if method == "gistar":
            colour = GI_BIN_STYLE[int(props["gi_bin"])][0]
        elif method == "emerging":
            colour = EMERGING_STYLE[props["category"].lower()]
        else:
            colour = "#bd0026"
        opacity = 1.0 if method != "kde" else 1.0 - 0.5 * (props["rank"] - 1) / max(max_rank, 1)
        # Hatched in the class colour and outlined, so hotspots stand apart from the heat's
        # smooth colours beneath them (see _HatchPatterns).
        return {"color": colour, "weight": 1.6, "fillColor": f"url(#{hatch_id(colour)})",
                "fillOpacity": opacity}  # fmt: skip

    if "category" in frame.columns:
        frame["category"] = frame["category"].map(html.escape)
    colours = (
        [c for c, _ in GI_BIN_STYLE.values()] if method == "gistar"
        else list(EMERGING_STYLE.values()) if method == "emerging" else ["#bd0026"]
    )  # fmt: skip
    _HatchPatterns(colours).add_to(group)
    folium.GeoJson(
        frame.to_geo_dict(drop_id=True),
        style_function=style_function,
        tooltip=_tooltip([c for c, _ in fields], [label for _, label in fields]),
        control=False,
    ).add_to(group)
    return group


def hatch_id(colour: str) -> str:
    """The id of the SVG hatch pattern in ``colour`` (see :class:`_HatchPatterns`)."""
    return f"cct-hatch-{colour.lstrip('#').lower()}"


def _hatch_css(colour: str) -> str:
    """A legend swatch drawn like the hatched cells it stands for."""
    return (f"background: repeating-linear-gradient(45deg, {colour} 0 3px, transparent 3px "
            f"7px); border: 1.5px solid {colour}")  # fmt: skip


def hotspot_legend_html(method: HotspotMethod, present: Sequence[object] = ()) -> str:
    """Legend rows for a hotspot layer; ``present`` limits them to the classes on the map."""
    if method == "gistar":
        rows = [(colour, label) for b, (colour, label) in GI_BIN_STYLE.items()
                if not present or b in present]  # fmt: skip
        title = "Getis-Ord Gi* (FDR-corrected)"
    elif method == "emerging":
        shown = {str(p).lower() for p in present}
        rows = [(colour, name.capitalize()) for name, colour in EMERGING_STYLE.items()
                if not present or name in shown]  # fmt: skip
        title = "Emerging hot spots"
    else:
        rows = [("#bd0026", "KDE hotspot (darker = higher rank)")]
        title = "Kernel density hotspots"
    items = "".join(
        f'<div class="cct-legend-row"><span class="cct-swatch" style="{_hatch_css(colour)}">'
        f"</span>{html.escape(label)}</div>"
        for colour, label in rows
    )
    return f'<div class="cct-legend-title">{html.escape(title)}</div>{items}'


def choropleth_classes(
    counts: np.ndarray, *, k: int = len(CHOROPLETH_PALETTE)
) -> list[tuple[int, int]]:
    """Split incident counts into classes with integer bounds: areas with none apart, and up
    to ``k`` quantile classes among the rest.

    Counts per area are skewed: most wards of a city may hold a handful and a few thousands.
    Quantiles over every count put all the small ones together ("0" and "1–6,666"); areas
    with no incident are a class of their own, and the quantiles split only the others.

    Parameters
    ----------
    counts : numpy.ndarray
        Non-negative integer counts, one per area.
    k : int, default 5
        Most classes wanted above zero; fewer come back when there are fewer distinct counts
        or ties.

    Returns
    -------
    list of (int, int)
        Inclusive ``(low, high)`` count ranges, ascending, together covering every count;
        ``(0, 0)`` first when some area has none. Empty for empty input.
    """
    values = np.asarray(counts, dtype=float)
    if values.size == 0:
        return []
    classes = [(0, 0)] if (values == 0).any() else []
    positive = values[values > 0]
    if positive.size == 0:
        return classes
    k = max(1, min(k, np.unique(positive).size))
    # Class tops are counts that occur, the j/k quantiles by rank in whole numbers (no
    # interpolation, which makes a class like "1–46" that no area is in).
    ranked = np.sort(positive)
    n = ranked.size
    uppers = np.unique(ranked[[(j * n + k - 1) // k - 1 for j in range(1, k + 1)]].astype(int))
    lows = [int(positive.min()), *(int(u) + 1 for u in uppers[:-1])]
    return classes + list(zip(lows, (int(u) for u in uppers), strict=True))


def class_colours(classes: list[tuple[int, int]]) -> list[str]:
    """A colour per class of :func:`choropleth_classes`: pale grey for areas with none, the
    palette spread over the rest."""
    zero = bool(classes) and classes[0] == (0, 0)
    return [NO_INCIDENT_COLOUR] * zero + _class_colours(len(classes) - zero)


def _tooltip(fields: list[str], aliases: list[str]) -> folium.GeoJsonTooltip:
    return folium.GeoJsonTooltip(
        fields=fields,
        aliases=aliases,
        localize=True,
        sticky=True,
        style="font: 13px/1.35 system-ui, sans-serif;",
    )


def _class_colours(n: int) -> list[str]:
    # Fewer classes than colours: spread them over the ramp so the ends stay light and dark.
    picks = np.linspace(0, len(CHOROPLETH_PALETTE) - 1, max(n, 1)).round().astype(int)
    return [CHOROPLETH_PALETTE[i] for i in picks[:n]]


def _check_areas(
    areas: gpd.GeoDataFrame, *, needs: tuple[str, ...] = ("name", "count")
) -> gpd.GeoDataFrame:
    if not isinstance(areas, gpd.GeoDataFrame):
        raise ValueError(f"`areas` must be a GeoDataFrame, not {type(areas).__name__}.")
    missing = set(needs) - set(areas.columns)
    if missing:
        raise ValueError(
            f"`areas` lacks column(s) {sorted(missing)}: it needs {' and '.join(needs)}."
        )
    if areas.crs is None:
        raise ValueError("`areas` must have a CRS (set it with `areas.set_crs(...)`).")
    return areas if areas.crs.equals(WGS84) else areas.to_crs(WGS84)


def _check_heat(heat: pd.DataFrame) -> pd.DataFrame:
    missing = {"lat", "lon", "weight"} - set(heat.columns)
    if missing:
        raise ValueError(f"`heat` lacks column(s) {sorted(missing)}: it needs lat, lon, weight.")
    points = heat[["lat", "lon", "weight"]]
    if points.isna().any().any():
        raise ValueError("`heat` has missing lat, lon or weight values; drop or fill them first.")
    if (points["weight"] < 0).any():
        raise ValueError("`heat` has negative weights; weights are incident counts or rates.")
    return points


def display_geometry(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``areas`` in EPSG:4326 with geometry simplified for drawing.

    Simplified in metres (EPSG:32734, 15 m, topology preserved) and rounded to about 1 m. The
    result is marked (``attrs["display_tolerance_m"]``), so drawing it again skips the work:
    a caller that draws the same boundaries on every filter change simplifies them once.
    """
    if areas.attrs.get("display_tolerance_m") == SIMPLIFY_TOLERANCE_M:
        return areas
    metric = areas.geometry.to_crs(METRIC_CRS)
    simple = metric.simplify(SIMPLIFY_TOLERANCE_M, preserve_topology=True).to_crs(WGS84)
    rounded = shapely.transform(simple.to_numpy(), lambda xy: xy.round(COORD_DECIMALS))
    out = areas.set_geometry(gpd.GeoSeries(rounded, index=areas.index, crs=WGS84))
    out.attrs["display_tolerance_m"] = SIMPLIFY_TOLERANCE_M
    return out


def _display_frame(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    names = areas["name"].fillna("(unnamed)").astype(str)
    # A suppressed count (NaN, with its wording in ``count_text``; see layers.access.suppression) is
    # marked hidden: a class of its own, never drawn as 0 or as the lowest counts.
    numbers = pd.to_numeric(areas["count"])
    counts = numbers.fillna(0).astype(int)
    text = areas["count_text"].astype(str) if "count_text" in areas else counts.map("{:,}".format)
    return gpd.GeoDataFrame(
        # Escaped here because GeoJsonTooltip writes properties into the page as HTML.
        {
            "name": names.map(html.escape).to_numpy(),
            "count": counts.to_numpy(),
            "hidden": numbers.isna().to_numpy(),
            "incidents": text.map(html.escape).to_numpy(),
        },
        geometry=display_geometry(areas).geometry.to_numpy(),
        crs=WGS84,
    )


def _resolve_tiles(tiles: str | Basemap | None, attribution: str | None) -> Basemap | None:
    if isinstance(tiles, Basemap):
        return tiles
    return open_basemap(tiles, attribution=attribution)


def _bounds(areas: gpd.GeoDataFrame) -> list[list[float]] | None:
    if areas.empty or areas.geometry.is_empty.all():
        return None
    west, south, east, north = areas.total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


def _middle(bounds: list[list[float]]) -> tuple[float, float]:
    (south, west), (north, east) = bounds
    return (south + north) / 2, (west + east) / 2


def _heat_legend_html(top: float, *, k: int | None = None) -> str:
    """The heat legend: the colour bar from 0 to ``top`` incidents per km², with numbers.

    The bar shows each colour at the opacity the layer draws it with, and each number where
    it falls on the layer's scale (``(value / top) ** SCALE_EXPONENT``). With ``k`` (a viewer
    whose counts are suppressed below ``k``) no number below ``k`` is printed, 0 included.
    """
    first = min(HEAT_GRADIENT)
    stops = [(0.0, HEAT_GRADIENT[first]), *sorted(HEAT_GRADIENT.items())]
    bar = ", ".join(f"{_rgba(colour, stop)} {stop * 100:.0f}%" for stop, colour in stops)
    ticks = scale_ticks(top, k=k)
    labels = "".join(
        # Shifted by their own position: the first sits on the bar's left end, the last on
        # its right, the rest centred on their value.
        f'<span style="left:{share:.1f}%;transform:translateX(-{share:.1f}%)">'
        f"{format_density(tick)}</span>"
        for tick in ticks
        for share in [100 * (tick / top) ** SCALE_EXPONENT if top > 0 else 0.0]
    )
    notes = []
    if top > 0 and (k is None or top >= k):
        notes.append(f"Red: {format_density(top)} or more, the busiest place at this zoom.")
    if k is not None:
        notes.append(f"No value under {k} is labelled.")
    note = "".join(f'<div class="cct-heat-note">{html.escape(n)}</div>' for n in notes)
    return (
        '<div class="cct-legend-title">Incidents per km²</div>'
        f'<div class="cct-heat-bar" style="background: linear-gradient(to right, {bar})"></div>'
        f'<div class="cct-heat-ticks">{labels}</div>{note}'
    )


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha:g})"


def _area_legend_html(
    areas: gpd.GeoDataFrame,
    *,
    area_label: str,
    style: AreaStyle,
    classes: list[tuple[int, int]] | None = None,
) -> str:
    label = html.escape(area_label)
    if style == "choropleth" and not areas.empty:
        counts = pd.to_numeric(areas["count"])
        if classes is None:
            classes = choropleth_classes(counts.dropna().to_numpy())
        rows = "".join(
            f'<div class="cct-legend-row"><span class="cct-swatch" style="background:{colour}">'
            f"</span>{low:,}{'' if low == high else f'–{high:,}'}</div>"
            for (low, high), colour in zip(classes, class_colours(classes), strict=True)
        )
        if counts.isna().any():  # what a hidden count is, and nothing about its size
            rows += (
                '<div class="cct-legend-row"><span class="cct-swatch" '
                f'style="background:{HIDDEN_COLOUR}"></span>Hidden: too few to show</div>'
            )
        return f'<div class="cct-legend-title">Incidents per {label}</div>{rows}'
    return (
        '<div class="cct-legend-row"><span class="cct-swatch cct-outline"></span>'
        f"{label} boundary</div>"
    )


def _banner_html(title: str | None, *, synthetic: bool) -> str:
    parts = [f'<div class="cct-title">{html.escape(title)}</div>'] if title else []
    if synthetic:
        parts.append('<div class="cct-synthetic">SYNTHETIC DEMO DATA</div>')
    return "".join(parts)


class _MapStyle(MacroElement):
    """Page CSS: a light map background for when there are no tiles, and the legend's look."""

    # `div.leaflet-container` outranks leaflet.css's `.leaflet-container { background: #ddd }`
    # whatever order the stylesheets load in. System fonts only: a web font would be a download.
    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          div.leaflet-container { background: """
        + NO_TILES_BACKGROUND
        + """; }
          .leaflet-heatmap-layer { pointer-events: none; }
          .cct-legends { background: rgba(255, 255, 255, 0.92); color: #222; padding: 6px 9px;
            border-radius: 4px; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.35); min-width: 140px;
            font: 12px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
            display: flex; flex-direction: column; gap: 4px; max-width: 22em; }
          .cct-legend + .cct-legend { border-top: 1px solid #ddd; padding-top: 4px; }
          .cct-basemap-legend { color: #555; font-size: 0.9em; }
          .cct-area-label { pointer-events: none; white-space: nowrap; width: max-content;
            transform: translate(-50%, -50%); color: #1b1b1b; visibility: hidden;
            font: 600 12px/1.1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
            text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff; }
          .cct-legend-title { font-weight: 600; margin: 2px 0 3px; }
          .cct-legend-row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
          .cct-swatch { display: inline-block; width: 16px; height: 12px;
            border: 1px solid #555; }
          .cct-swatch.cct-outline { background: transparent; border: 1.5px solid #333; }
          .cct-swatch.cct-recent { background: transparent; border: 3px solid """
        + RECENT_COLOUR
        + """;
            border-radius: 50%; width: 12px; }
          .cct-heat-bar { height: 10px; border-radius: 2px; margin-bottom: 1px; }
          .cct-heat-bar, .cct-heat-ticks { min-width: 14em; }
          .cct-heat-ticks { position: relative; height: 1.4em; color: #333; }
          .cct-heat-ticks span { position: absolute; top: 0; white-space: nowrap; }
          .cct-heat-note { color: #555; font-size: 0.9em; max-width: 16em; margin-bottom: 4px; }
          .cct-focus-label { transform: translate(-50%, -50%); white-space: nowrap;
            font: 700 20px/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
            color: #1b1b1b; background: rgba(255, 255, 255, 0.85); padding: 2px 8px;
            border: 2px solid #1b1b1b; border-radius: 4px; width: max-content; }
          .cct-banner { position: absolute; top: 10px; left: 50%; transform: translateX(-50%);
            z-index: 1000; pointer-events: none; text-align: center;
            font: 14px/1.3 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
          .cct-title { background: rgba(255, 255, 255, 0.9); padding: 3px 10px;
            border-radius: 4px; font-weight: 600; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.3); }
          .cct-synthetic { margin-top: 4px; padding: 2px 10px; background: #fff3cd;
            border: 2px solid #b00020; color: #b00020; font-weight: 700; letter-spacing: 1px; }
        </style>
        {% endmacro %}
        """
    )


class _HatchPatterns(MacroElement):
    """SVG patterns of diagonal lines, one per colour, for hatched hotspot cells: put into
    the map's SVG layer when the hotspots are added (a path's ``fill`` can then be
    ``url(#cct-hatch-...)``)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var group = {{ this._parent.get_name() }};
            var colours = {{ this.colours|tojson }};
            var NS = "http://www.w3.org/2000/svg";
            function install(map) {
                var svg = map.getRenderer({options: {}})._container;
                var defs = svg.querySelector("defs");
                if (!defs) { defs = document.createElementNS(NS, "defs"); svg.prepend(defs); }
                colours.forEach(function (colour) {
                    var id = "cct-hatch-" + colour.replace("#", "").toLowerCase();
                    if (svg.querySelector("#" + id)) { return; }
                    var pattern = document.createElementNS(NS, "pattern");
                    pattern.setAttribute("id", id);
                    pattern.setAttribute("patternUnits", "userSpaceOnUse");
                    pattern.setAttribute("width", "7");
                    pattern.setAttribute("height", "7");
                    pattern.setAttribute("patternTransform", "rotate(45)");
                    var line = document.createElementNS(NS, "rect");
                    line.setAttribute("width", "3");
                    line.setAttribute("height", "7");
                    line.setAttribute("fill", colour);
                    pattern.appendChild(line);
                    defs.appendChild(pattern);
                });
            }
            group.on("add", function () { install(group._map); });
            if (group._map) { install(group._map); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, colours: Sequence[str]) -> None:
        super().__init__()
        self._name = "HatchPatterns"
        self.colours = list(dict.fromkeys(colours))


class _AreaLabels(MacroElement):
    """Area names on the map, each shown only at the zooms where it fits inside its area's
    box (so the labels never pile up at a city-wide zoom), hidden from the mouse."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var group = {{ this._parent.get_name() }};
            var markers = {{ this.labels|tojson }}.map(function (l) {
                var icon = L.divIcon({className: "cct-area-label", html: "", iconSize: null});
                var marker = L.marker([l[0], l[1]], {icon: icon, interactive: false,
                                                     keyboard: false});
                marker.cct = l;
                return marker;
            });
            var map = null;
            function fit() {
                markers.forEach(function (marker) {
                    var el = marker.getElement();
                    if (!el) { return; }
                    var l = marker.cct;
                    if (!el.innerHTML) { el.innerHTML = l[2]; }  // escaped in Python
                    var a = map.latLngToContainerPoint([l[6], l[3]]);
                    var b = map.latLngToContainerPoint([l[4], l[5]]);
                    var fits = el.offsetWidth + 6 <= 0.8 * Math.abs(b.x - a.x)
                        && el.offsetHeight <= 0.6 * Math.abs(b.y - a.y);
                    el.style.visibility = fits ? "visible" : "hidden";
                });
            }
            group.on("add", function () {
                map = group._map;
                markers.forEach(function (marker) { group.addLayer(marker); });
                fit();
                map.on("zoomend", fit);
            });
            group.on("remove", function () {
                if (map) { map.off("zoomend", fit); }
                markers.forEach(function (marker) { group.removeLayer(marker); });
            });
            if (group._map) { group.fire("add"); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, labels: list[list[object]]) -> None:
        super().__init__()
        self._name = "AreaLabels"
        self.labels = labels


class _LargeType(MacroElement):
    """Legend and banner type readable from across a room (meeting mode)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .cct-legends { font-size: 20px !important; line-height: 1.45 !important;
            padding: 10px 14px !important; flex-direction: row !important;
            align-items: flex-start; gap: 18px !important; max-width: none !important; }
          .cct-legend + .cct-legend { border-top: none !important; padding-top: 0 !important;
            border-left: 1px solid #ccc; padding-left: 18px; }
          .cct-swatch { width: 26px !important; height: 18px !important; }
          .cct-heat-bar { height: 16px !important; }
          .cct-banner { font-size: 22px !important; }
          .cct-area-label { font-size: 17px !important; }
          .leaflet-control-scale-line { font-size: 16px !important; }
        </style>
        {% endmacro %}
        """
    )


class _Banner(MacroElement):
    """Title and synthetic-data warning, centred over the top of the map."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var banner = L.DomUtil.create("div", "cct-banner", map.getContainer());
            banner.innerHTML = {{ this.content|tojson }};
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content: str) -> None:
        super().__init__()
        self._name = "Banner"
        self.content = content
