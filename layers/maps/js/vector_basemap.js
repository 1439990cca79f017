/*
 * vector_basemap.js: how every map of the project draws a vector basemap with protomaps-leaflet.
 *
 * Part of this project (layers/maps/js/), vendored to static/vendor/ by `python -m layers assets`,
 * inlined into standalone maps and copied into a public site that has a vector basemap. Used
 * by layers/maps/basemap.py (the dashboard's and standalone maps) and by the public site's page
 * (layers/publishing/site/index.html), so both draw the same tiles the same way. Needs Leaflet
 * and protomaps-leaflet (protomapsL), looked up when called.
 *
 * cctVectorBasemap.options(spec) gives protomapsL.leafletLayer's options for
 *
 *   spec.url            the tiles' URL template ({z}/{x}/{y}), served or relative
 *   spec.attribution    credit (HTML)
 *   spec.maxNativeZoom  the deepest zoom of the tiles; deeper zooms enlarge them
 *   spec.maxZoom        the deepest zoom the map shows
 *   spec.bounds         an L.LatLngBounds the tiles cover (tiles are asked for there only)
 *   spec.flavor         a protomaps-leaflet flavor ("light") for tiles in the Protomaps basemap
 *                       schema; null for others, drawn with plainRules(spec.layers)
 *   spec.layers         the tiles' vector layer names
 *   spec.className      a class for the layer's element
 *
 * cctVectorBasemap.plainRules(names) paints each layer of tiles in another schema than
 * Protomaps': polygons filled by what the layer's name suggests (water, green, buildings,
 * land), lines in grey or blue. No labels: they would need the schema's attribute names.
 */
(function () {
  "use strict";

  function plainRules(names) {
    var rules = [];
    var G = protomapsL.GeomType;
    (names || []).forEach(function (name) {
      var n = String(name).toLowerCase();
      var water = /water|ocean|sea|lake|river|coast/.test(n);
      var green = /park|green|wood|forest|land|grass|natural/.test(n);
      var fill = water ? "#aacbe3" : green ? "#dbe8cf" : /building/.test(n) ? "#d9d0c9" : "#e4e0d8";
      rules.push({
        dataLayer: name,
        symbolizer: new protomapsL.PolygonSymbolizer({ fill: fill }),
        filter: function (z, f) { return f.geomType === G.Polygon; }
      });
      rules.push({
        dataLayer: name,
        symbolizer: new protomapsL.LineSymbolizer({ color: water ? "#8db3d1" : "#a7a39b", width: 1 }),
        filter: function (z, f) { return f.geomType === G.Line; }
      });
    });
    return rules;
  }

  function options(spec) {
    var out = {
      url: spec.url, attribution: spec.attribution, maxDataZoom: spec.maxNativeZoom,
      maxZoom: spec.maxZoom, bounds: spec.bounds, className: spec.className
    };
    if (spec.flavor) {
      out.flavor = spec.flavor;
      out.lang = "en";
    } else {
      out.paintRules = plainRules(spec.layers);
      out.labelRules = [];
      out.backgroundColor = "#f2efe9";
    }
    return out;
  }

  window.cctVectorBasemap = { options: options, plainRules: plainRules };
})();
