"""The map's legend: one panel in the bottom-right corner, a section for each layer shown.

Each layer brings its legend as a section (:class:`Legend`) that joins the panel when the
layer is added to a map and leaves it when the layer is removed, so ``st_folium`` can swap
layers without leaving stale legends behind, and legends never pile up as separate boxes
over the map. Sections keep a fixed order (areas, heat, hotspots, just-reported incidents,
then the line about the basemap) whatever order their layers arrive in. The panel's look is
the page CSS's (``layers.maps.webmap``: ``.cct-legends``, ``.cct-legend``); on a wall screen it
lays the sections side by side.
"""

from __future__ import annotations

from branca.element import MacroElement
from jinja2 import Template

# Where each kind of section goes in the panel, top to bottom (left to right on a wall).
AREAS, HEAT, HOTSPOTS, RECENT, BASEMAP = 10, 20, 30, 40, 90


class Legend(MacroElement):
    """A section of the map's legend panel holding pre-escaped legend HTML.

    Added to a map, it stays; added to a layer, it shows while the layer is on a map. A
    Leaflet control, not a fixed-position ``<div>``, so it sits inside the map both in a
    standalone page and in streamlit-folium's iframe, which only runs the map's scripts.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var parent = {{ this._parent.get_name() }};
            var section = L.DomUtil.create("div", {{ this.css_class|tojson }});
            section.innerHTML = {{ this.content|tojson }};
            section.setAttribute("data-order", {{ this.order|tojson }});
            function panel(map) {
                if (!map._cctLegends) {
                    var control = L.control({position: "bottomright"});
                    control.onAdd = function () {
                        var div = L.DomUtil.create("div", "cct-legends");
                        L.DomEvent.disableClickPropagation(div);
                        L.DomEvent.disableScrollPropagation(div);
                        return div;
                    };
                    control.addTo(map);
                    map._cctLegends = control.getContainer();
                }
                return map._cctLegends;
            }
            function show(map) {
                var box = panel(map), order = {{ this.order|tojson }};
                var after = Array.prototype.find.call(box.children, function (other) {
                    return Number(other.getAttribute("data-order")) > order;
                });
                box.insertBefore(section, after || null);
                box.style.display = "";
            }
            function hide() {
                var box = section.parentNode;
                if (!box) { return; }
                box.removeChild(section);
                if (!box.children.length) { box.style.display = "none"; }
            }
            if (parent instanceof L.Map) {
                show(parent);
                return;
            }
            parent.on("add", function () { show(parent._map); });
            parent.on("remove", hide);
            if (parent._map) { show(parent._map); }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content: str, *, order: int, css_class: str = "cct-legend") -> None:
        super().__init__()
        self._name = "Legend"
        self.content = content
        self.order = int(order)
        self.css_class = css_class
