"""Incidents drawn one by one: the incident list's map.

Only for incidents the viewer sees in full (:mod:`layers.maps.listing`); everything else the
dashboard draws is aggregated. Each incident is a circle marker at its position, written to
:data:`~layers.settings.COORD_DECIMALS` decimals (about 1 m), the precision a click on it
comes back with (:func:`layers.maps.listing.listed_at` finds the incident again from it). Its
tooltip starts with the incident's id, which tells apart incidents drawn at one spot.

Text from incident files (ids, categories) is HTML-escaped here, because Leaflet puts tooltip
text into the page with ``innerHTML``.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from layers.maps.assets import apply_offline_assets
from layers.maps.webmap import display_geometry
from layers.settings import COORD_DECIMALS, WGS84

PAGE_COLOUR = "#1f5fbf"
NEARBY_COLOUR = "#6b6b6b"
SELECTED_COLOUR = "#e4572e"
_NEEDED = ("incident_id", "occurred_at", "category", "lat", "lon")


def incident_layers(
    page: pd.DataFrame,
    *,
    selected: pd.DataFrame | None = None,
    nearby: pd.DataFrame | None = None,
) -> list[folium.FeatureGroup]:
    """The list's incidents as map layers, bottom to top: ``nearby`` (other listed incidents
    in view, small and grey), the ``page``'s (blue), and the ``selected`` one (a larger
    orange ring).

    Parameters
    ----------
    page, selected, nearby : pandas.DataFrame
        Rows as :func:`layers.maps.listing.list_rows` gives them (``incident_id``,
        ``occurred_at``, ``category``, ``lat``, ``lon``). ``nearby`` rows also on the page
        are drawn once, as the page's.

    Returns
    -------
    list of folium.FeatureGroup
        For ``st_folium(feature_group_to_add=...)``, with Leaflet served by the app.
    """
    for name, frame in (("page", page), ("selected", selected), ("nearby", nearby)):
        if frame is not None and (missing := [c for c in _NEEDED if c not in frame.columns]):
            raise ValueError(
                f"`{name}` lacks column(s) {', '.join(missing)}: pass rows of "
                "layers.maps.listing.list_rows."
            )
    groups = []
    if nearby is not None:
        others = nearby[~nearby.index.isin(page.index)]
        groups.append(_points(others, name="Other listed incidents in view", radius=4,
                              colour=NEARBY_COLOUR, fill_opacity=0.55, weight=1))  # fmt: skip
    groups.append(_points(page, name="Incidents on this page", radius=6, colour=PAGE_COLOUR,
                          fill_opacity=0.75, weight=1.5))  # fmt: skip
    if selected is not None and len(selected):
        groups.append(_points(selected, name="Selected incident", radius=11,
                              colour=SELECTED_COLOUR, fill_opacity=0.35, weight=4))  # fmt: skip
    return [apply_offline_assets(g, mode="served") for g in groups]


def _points(
    rows: pd.DataFrame, *, name: str, radius: float, colour: str, fill_opacity: float,
    weight: float,
) -> folium.FeatureGroup:  # fmt: skip
    group = folium.FeatureGroup(name=name)
    if rows.empty:
        return group
    lat = np.round(rows["lat"].to_numpy(dtype=float), COORD_DECIMALS)
    lon = np.round(rows["lon"].to_numpy(dtype=float), COORD_DECIMALS)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
            "properties": {"label": _label(incident, when, category)},
        }
        for x, y, incident, when, category in zip(
            lon, lat, rows["incident_id"], rows["occurred_at"], rows["category"], strict=True
        )
    ]
    marker = folium.CircleMarker(radius=radius, color=colour, weight=weight, fill=True,
                                 fill_color=colour, fill_opacity=fill_opacity)  # fmt: skip
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        marker=marker,
        tooltip=folium.GeoJsonTooltip(fields=["label"], labels=False),
        control=False,
    ).add_to(group)
    return group


def _label(incident: object, when: object, category: object) -> str:
    """``SAPS-000123 · 2025-01-01 10:00 · Burglary``, escaped: the id first, always."""
    parts = [str(incident)]
    if isinstance(when, str):  # local ISO 8601 text: the date and the minute
        parts.append(when[:16].replace("T", " "))
    if category is not None and not pd.isna(category):
        parts.append(str(category))
    return html.escape(" · ".join(parts))


def boundary_layer(areas: gpd.GeoDataFrame, *, name: str) -> folium.FeatureGroup:
    """Area outlines for orientation (``areas`` has a geometry, any CRS): thin, and not
    clickable, so a click on the map means an incident or nothing."""
    if areas.crs is None:
        raise ValueError("`areas` must have a CRS (set it with `areas.set_crs(...)`).")
    group = folium.FeatureGroup(name=name)
    if not areas.empty:
        shown = display_geometry(areas if areas.crs.equals(WGS84) else areas.to_crs(WGS84))
        folium.GeoJson(
            shown[["geometry"]].to_json(),
            style_function=lambda _feature: {"color": "#555555", "weight": 1, "fill": False},
            interactive=False,
            control=False,
        ).add_to(group)
    return apply_offline_assets(group, mode="served")
