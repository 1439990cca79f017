"""streamlit-folium's map component, with its arguments made once and shared.

``st_folium`` renders the whole map (base map, added layers, layer control) to JavaScript on
every call, about 70 ms of Jinja templates for the dashboard's map, although every viewer of
one (data version, filter, view, role) gets the same text. :func:`folium_args` does that
rendering, exactly as ``st_folium`` 0.27 does, and returns the component's arguments, so the
caller can cache them across sessions; :func:`show_folium` sends them to the same frontend
component. The base map's script is the same on every call, so the component keeps its map and
only swaps the added layers (``feature_group_to_add``), as with ``st_folium``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import branca
import folium
import folium.elements
import streamlit as st
import streamlit_folium as sf

# The answers a map sends back before the viewer has touched it (st_folium's defaults).
_DEFAULTS = (
    "last_clicked", "last_object_clicked", "last_object_clicked_count",
    "last_object_clicked_tooltip", "last_object_clicked_popup", "all_drawings",
    "last_active_drawing", "bounds", "zoom", "last_circle_radius", "last_circle_polygon",
    "selected_layers", "selected_tags", "last_geocoder_result",
)  # fmt: skip


def folium_args(
    fig: folium.Map,
    *,
    key: str,
    height: int,
    width: int | None,
    returned_objects: Sequence[str],
    feature_group_to_add: Sequence[folium.FeatureGroup],
    layer_control: folium.LayerControl | None,
    zoom: int | None = None,
    center: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The map component's arguments for ``fig`` and its added layers: what ``st_folium``
    would send. ``fig`` and the layers are rendered (and changed) on the way."""
    fig.get_root().render()
    fig.render()
    html = sf._get_html(fig)
    header = sf._get_header(fig)
    leaflet = sf._get_map_string(fig)
    try:
        (south, west), (north, east) = fig.get_bounds()
    except (AttributeError, TypeError, ValueError):
        south = west = north = east = None
    bounds = {"_southWest": {"lat": south, "lng": west},
              "_northEast": {"lat": north, "lng": east}}  # fmt: skip
    defaults = dict.fromkeys(_DEFAULTS)
    defaults.update(bounds=bounds, zoom=fig.options.get("zoom"))
    defaults = {k: v for k, v in defaults.items() if k in returned_objects}
    # The frontend takes the previous layers off the map before it runs this, but each layer
    # also pushes itself onto window.feature_group, which st_folium never empties: a live
    # page kept every layer it had ever shown (heat canvases included) and took each off the
    # map again on every change, growing by about 1 GB in half an hour. Start it empty.
    groups = "window.feature_group = [];\n" + "".join(
        sf._get_feature_group_string(group, map=fig, idx=idx)
        for idx, group in enumerate(feature_group_to_add)
    )
    control = sf._get_layer_control_string(layer_control, fig) if layer_control else None
    css: list[str] = []
    js: list[str] = []
    for element in _walk(fig):
        css.extend(href for _, href in getattr(element, "default_css", []))
        js.extend(src for _, src in getattr(element, "default_js", []))
    return {
        "script": leaflet,
        "header": header,
        "html": html,
        "id": sf.get_full_id(fig),
        "key": sf.generate_js_hash(leaflet, key, False),
        "height": height,
        "width": width,
        "returned_objects": list(returned_objects),
        "default": defaults,
        "zoom": zoom,
        "center": center,
        "feature_group": groups,
        "return_on_hover": False,
        "layer_control": control,
        "pixelated": False,
        "css_links": list(dict.fromkeys(css)),
        "js_links": list(dict.fromkeys(js)),
        "wrap_longitude": False,
    }


def _walk(element: Any) -> Any:
    if isinstance(element, branca.colormap.ColorMap | folium.elements.JSCSSMixin):
        yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def show_folium(
    args: Mapping[str, Any], *, key: str, on_feature: Callable[[dict], None] | None = None
) -> Any:
    """Draw the map component with ``args`` from :func:`folium_args`. What the viewer does
    with the map lands in ``st.session_state[key]``, as with ``st_folium(key=key)``; with
    ``"last_active_drawing"`` among the returned objects, a click on a GeoJSON feature calls
    ``on_feature`` with the feature's properties (from the browser: check them)."""
    state_key = args["key"]

    def changed() -> None:
        before = (st.session_state.get(key) or {}).get("last_active_drawing")
        st.session_state[key] = value = st.session_state.get(state_key, {})
        feature = (value or {}).get("last_active_drawing")
        if on_feature is not None and isinstance(feature, dict) and feature != before:
            properties = feature.get("properties")
            if isinstance(properties, dict):
                on_feature(properties)

    return sf._component_func(**args, on_change=changed)
