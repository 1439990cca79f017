"""Drawing an area on the map, and showing what its counts were counted in.

:func:`draw_control` is Leaflet.draw's toolbar (``folium.plugins.Draw``) with its files
vendored from npm (:mod:`layers.maps.assets`), so drawing works with no internet: polygons and
rectangles, which can be edited and removed. ``st_folium`` sends the shapes drawn back to the
page (``all_drawings``).

:func:`area_layer` draws the area (a buffer's circle and centre, or nothing more for a shape
the viewer drew, which is on the map already) and the whole units it was counted in for
incidents the viewer may not locate (anonymous cells, precincts) or the published cells a
public count sums. Every unit drawn is chosen by the area's geometry alone, never by where
incidents are, so the layer tells nothing about them.
"""

from __future__ import annotations

import html

import folium
import folium.plugins
import geopandas as gpd

from layers.analysis.areas import Area
from layers.maps.assets import apply_offline_assets
from layers.settings import COORD_DECIMALS, WGS84

AREA_COLOUR = "#0b5fa5"
UNIT_COLOUR = "#7b3294"
_SHAPE = {"color": AREA_COLOUR, "weight": 3, "fillOpacity": 0.05}


def draw_control() -> folium.plugins.Draw:
    """Leaflet.draw's toolbar for polygons and rectangles, editable and removable, offline.

    Lines, markers and circles are off: an area needs an inside (a circle is the buffer of a
    point and a radius, chosen beside the map).
    """
    draw = folium.plugins.Draw(
        position="topleft",
        show_geometry_on_click=False,
        draw_options={
            "polyline": False,
            "circle": False,
            "marker": False,
            "circlemarker": False,
            "polygon": {"allowIntersection": False, "shapeOptions": _SHAPE},
            "rectangle": {"shapeOptions": _SHAPE},
        },
    )
    return apply_offline_assets(draw, mode="served")


def area_layer(area: Area, *, units: gpd.GeoDataFrame | None = None) -> folium.FeatureGroup:
    """The area and the whole units it was counted in, as one layer.

    Parameters
    ----------
    area : Area
        A buffer is drawn with its centre; a drawn shape is already on the map and is not
        drawn again.
    units : geopandas.GeoDataFrame, optional
        Polygons with ``name`` (what the unit is, for its tooltip), in any CRS.

    Returns
    -------
    folium.FeatureGroup
    """
    group = folium.FeatureGroup(name="Area counted")
    if units is not None and not units.empty:
        shown = units[["name", "geometry"]].to_crs(WGS84)
        shown["name"] = shown["name"].astype(str).map(html.escape)  # names from user files
        folium.GeoJson(
            shown.to_json(),
            style_function=lambda _f: {"color": UNIT_COLOUR, "weight": 1.5, "dashArray": "4 4",
                                       "fillColor": UNIT_COLOUR, "fillOpacity": 0.08},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            control=False,
        ).add_to(group)  # fmt: skip
    if area.centre is not None:
        outline = gpd.GeoDataFrame({"name": [html.escape(area.label)]},
                                   geometry=[area.geometry], crs=WGS84)  # fmt: skip
        folium.GeoJson(
            outline.to_json(),
            style_function=lambda _f: dict(_SHAPE, fill=True),
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            control=False,
        ).add_to(group)
        lat, lon = (round(v, COORD_DECIMALS) for v in area.centre)
        centre = folium.CircleMarker(
            (lat, lon), radius=5, color=AREA_COLOUR, fill=True, fill_opacity=1,
            tooltip=html.escape(area.label),
        )  # fmt: skip
        centre.add_to(group)
    return apply_offline_assets(group, mode="served")
