/*
 * incident_heat.js: incident density on a fixed colour scale, for Leaflet 1.9.
 *
 * Part of this project (layers/maps/js/), vendored to static/vendor/ by `python -m layers assets`
 * and inlined into standalone maps. No dependency but Leaflet.
 *
 * L.incidentHeat(points, options) draws a kernel density surface of [lat, lng, count] points:
 *
 *   1. Nodes every `step` px, anchored to Web Mercator's global pixels at the map's zoom
 *      (node u is centred on global pixel (u + 0.5) * step), never to the container: the same
 *      place gets the same nodes whatever the map's size or position.
 *   2. Each point's count is shared bilinearly between the four nodes around its exact
 *      (unrounded) global position.
 *   3. A Gaussian of standard deviation `sigma` px, cut at `truncate` standard deviations and
 *      renormalised, runs along the rows and then the columns (two passes, Float32Arrays).
 *   4. Each node row is divided by a node's ground area at its latitude, in km2: the surface
 *      is in incidents per km2.
 *   5. Screen pixels interpolate the nodes bilinearly. A density d is drawn with the colour
 *      of the ramp at t = min(d / top, 1) ** exponent and opacity t, as leaflet.heat draws
 *      its intensity (t rounded to a byte; 0 draws nothing). An exponent of 0.5 puts a
 *      quarter of the top half-way along the ramp, so the busiest place does not leave every
 *      other hotspot pale; the legend places its numbers on the same scale.
 *
 * `top` is chosen by the server from all the filtered incidents at the zoom
 * (layers/maps/heat.py): nothing here depends on what the canvas holds, so the same data at the
 * same zoom gives the same colour at the same place in any window. The Python side keeps a
 * numpy model of these steps (tests/heat_render.py); change them together.
 */
(function () {
  "use strict";

  var EQUATOR_M = 2 * Math.PI * 6378137; // Leaflet's EPSG:3857 sphere
  var TILE_SIZE = 256;

  function kernelTaps(sigmaNodes, truncate) {
    var half = Math.ceil(truncate * sigmaNodes);
    var taps = new Float64Array(2 * half + 1);
    var sum = 0;
    for (var j = -half; j <= half; j++) {
      taps[j + half] = Math.exp(-(j * j) / (2 * sigmaNodes * sigmaNodes));
      sum += taps[j + half];
    }
    for (j = 0; j < taps.length; j++) taps[j] /= sum;
    return taps;
  }

  function parseHex(colour) {
    var hex = colour.replace("#", "");
    return [0, 2, 4].map(function (i) { return parseInt(hex.substr(i, 2), 16); });
  }

  // 256 RGB entries, linear between the stops ([[position, "#rrggbb"], ...], ascending).
  function colourRamp(stops) {
    var ramp = new Uint8ClampedArray(256 * 3);
    var rgb = stops.map(function (s) { return parseHex(s[1]); });
    for (var b = 0; b < 256; b++) {
      var t = b / 255, k = 0;
      while (k < stops.length - 1 && stops[k + 1][0] < t) k++;
      var colour;
      if (t <= stops[0][0]) colour = rgb[0];
      else if (k === stops.length - 1) colour = rgb[k];
      else {
        var f = (t - stops[k][0]) / (stops[k + 1][0] - stops[k][0]);
        colour = [0, 1, 2].map(function (c) { return rgb[k][c] + f * (rgb[k + 1][c] - rgb[k][c]); });
      }
      for (var c = 0; c < 3; c++) ramp[3 * b + c] = Math.round(colour[c]);
    }
    return ramp;
  }

  // The ramp as one 32-bit RGBA pixel a byte of intensity, its alpha the intensity, in the
  // platform's byte order (for a Uint32Array over ImageData).
  function packedColours(ramp) {
    var packed = new Uint32Array(256), bytes = new Uint8ClampedArray(packed.buffer);
    for (var b = 1; b < 256; b++) {
      bytes[4 * b] = ramp[3 * b];
      bytes[4 * b + 1] = ramp[3 * b + 1];
      bytes[4 * b + 2] = ramp[3 * b + 2];
      bytes[4 * b + 3] = b;
    }
    return packed;
  }

  // Bilinear sampling of a node axis at the centres of `count` pixels from global pixel
  // `first`: the node below (relative to the grid's first node `origin`) and the weight of
  // the node above.
  function sampling(first, count, step, origin) {
    var below = new Int32Array(count), above = new Float64Array(count);
    for (var i = 0; i < count; i++) {
      var a = (first + i + 0.5) / step - 0.5;
      var n = Math.floor(a);
      below[i] = n - origin;
      above[i] = a - n;
    }
    return {below: below, above: above};
  }

  L.IncidentHeat = L.Layer.extend({
    options: {
      sigma: 10,        // kernel standard deviation, screen px
      step: 2,          // node spacing, screen px (an integer)
      truncate: 4,      // kernel cut-off, in standard deviations
      top: 1,           // incidents per km2 drawn in the ramp's last colour
      exponent: 0.5,    // a density d sits at (d / top) ** exponent along the ramp
      gradient: [[0.4, "#0000ff"], [0.6, "#00ffff"], [0.7, "#00ff00"],
                 [0.8, "#ffff00"], [1.0, "#ff0000"]],
      pane: "overlayPane"
    },

    initialize: function (latlngs, options) {
      this._latlngs = latlngs;
      L.setOptions(this, options);
      // The last surface drawn (null until the first draw): the nodes in incidents per km2.
      this._heat = null;
    },

    getLatLngs: function () { return this._latlngs; },

    setLatLngs: function (latlngs) {
      this._latlngs = latlngs;
      return this.redraw();
    },

    redraw: function () {
      if (this._map) this._reset();
      return this;
    },

    onAdd: function (map) {
      if (!this._canvas) {
        var canvas = this._canvas = L.DomUtil.create("canvas", "leaflet-heatmap-layer leaflet-layer");
        var origin = L.DomUtil.testProp(["transformOrigin", "WebkitTransformOrigin", "msTransformOrigin"]);
        canvas.style[origin] = "50% 50%";
        var animated = map.options.zoomAnimation && L.Browser.any3d;
        L.DomUtil.addClass(canvas, "leaflet-zoom-" + (animated ? "animated" : "hide"));
      }
      this.getPane().appendChild(this._canvas);
      this._colours = packedColours(colourRamp(this.options.gradient));
      map.on("moveend viewreset resize", this._reset, this);
      if (map.options.zoomAnimation && L.Browser.any3d) map.on("zoomanim", this._animateZoom, this);
      this._reset();
    },

    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend viewreset resize", this._reset, this);
      map.off("zoomanim", this._animateZoom, this);
    },

    // Incidents per km2 at a container point, as last drawn (0 off the canvas).
    densityAt: function (point) {
      var heat = this._heat, x = Math.round(point.x), y = Math.round(point.y);
      if (!heat || x < 0 || y < 0 || x >= heat.width || y >= heat.height) return 0;
      var col = sampling(heat.x0 + x, 1, heat.step, heat.u0);
      var row = sampling(heat.y0 + y, 1, heat.step, heat.v0);
      return this._interpolate(heat, row.below[0], row.above[0], col.below[0], col.above[0]);
    },

    _interpolate: function (heat, r, fr, c, fc) {
      var g = heat.density, w = heat.nodesAcross, i = r * w + c;
      var upper = g[i] + fc * (g[i + 1] - g[i]);
      var lower = g[i + w] + fc * (g[i + w + 1] - g[i + w]);
      return upper + fr * (lower - upper);
    },

    _reset: function () {
      var map = this._map;
      var size = map.getSize();
      // The canvas's top-left pixel, a whole layer pixel, and the global pixel it shows.
      var corner = map.containerPointToLayerPoint([0, 0]).round();
      L.DomUtil.setPosition(this._canvas, corner);
      if (this._canvas.width !== size.x) this._canvas.width = size.x;
      if (this._canvas.height !== size.y) this._canvas.height = size.y;
      if (!size.x || !size.y) {
        this._heat = null; // nothing to draw into (a hidden map)
        return;
      }
      var global = map.getPixelOrigin().add(corner);
      this._draw(map.getZoom(), global.x, global.y, size.x, size.y);
    },

    // Draws the canvas (width x height px) whose top-left pixel is global pixel (x0, y0).
    _draw: function (zoom, x0, y0, width, height) {
      var o = this.options, step = o.step;
      var taps = kernelTaps(o.sigma / step, o.truncate), half = (taps.length - 1) / 2;
      // Nodes under the canvas, and `half` + 1 more on every side: a visible node's sum
      // reaches `half` nodes, and a point's splat one node further.
      var u0 = Math.floor((x0 + 0.5) / step - 0.5) - half - 1;
      var v0 = Math.floor((y0 + 0.5) / step - 0.5) - half - 1;
      var w = Math.floor((x0 + width - 0.5) / step - 0.5) + half + 2 - u0 + 1;
      var h = Math.floor((y0 + height - 0.5) / step - 0.5) + half + 2 - v0 + 1;
      var grid = new Float32Array(w * h), rowHasMass = new Uint8Array(h);
      var scale = TILE_SIZE * Math.pow(2, zoom);
      var pts = this._latlngs, n = pts.length;
      for (var p = 0; p < n; p++) {
        var pt = pts[p], lat = pt[0], lng = pt[1], count = pt.length > 2 ? +pt[2] : 1;
        var g = this._map.project([lat, lng], zoom);
        var a = g.x / step - 0.5, b = g.y / step - 0.5;
        var c = Math.floor(a), r = Math.floor(b), fc = a - c, fr = b - r;
        c -= u0;
        r -= v0;
        if (c < 0 || r < 0 || c + 1 >= w || r + 1 >= h) continue; // beyond every visible node's reach
        var i = r * w + c;
        grid[i] += count * (1 - fc) * (1 - fr);
        grid[i + 1] += count * fc * (1 - fr);
        grid[i + w] += count * (1 - fc) * fr;
        grid[i + w + 1] += count * fc * fr;
        rowHasMass[r] = rowHasMass[r + 1] = 1;
      }
      var density = this._blur(grid, w, h, taps, half, rowHasMass);
      // Incidents per node to incidents per km2, row by row (a node's ground size follows
      // the latitude).
      for (var row = 0; row < h; row++) {
        var gy = (v0 + row + 0.5) * step;
        var latitude = this._map.unproject([0, gy], zoom).lat;
        var metres = step * EQUATOR_M * Math.cos(latitude * Math.PI / 180) / scale;
        var perKm2 = 1e6 / (metres * metres);
        for (var col = 0; col < w; col++) density[row * w + col] *= perKm2;
      }
      this._heat = {density: density, nodesAcross: w, nodesDown: h, u0: u0, v0: v0, step: step,
                    x0: x0, y0: y0, width: width, height: height, zoom: zoom};
      this._paint(width, height);
    },

    // Rows, then columns, each output a sum over the taps in order (so the same node gets
    // the same sum in any window). Rows without a count are left out of the first pass.
    _blur: function (grid, w, h, taps, half, rowHasMass) {
      var across = new Float32Array(w * h), out = new Float32Array(w * h), k = taps.length;
      var r, c, j, sum, base, t;
      for (r = 0; r < h; r++) {
        if (!rowHasMass[r]) continue;
        base = r * w;
        for (c = 0; c < w; c++) {
          sum = 0;
          for (j = Math.max(0, half - c); j < Math.min(k, w - c + half); j++) {
            sum += taps[j] * grid[base + c + j - half];
          }
          across[base + c] = sum;
        }
      }
      var row = new Float64Array(w);
      for (r = 0; r < h; r++) {
        row.fill(0);
        for (j = Math.max(0, half - r); j < Math.min(k, h - r + half); j++) {
          var from = r + j - half;
          if (!rowHasMass[from]) continue; // a zero row adds exactly nothing
          t = taps[j];
          base = from * w;
          for (c = 0; c < w; c++) row[c] += t * across[base + c];
        }
        out.set(row, r * w);
      }
      return out;
    },

    _paint: function (width, height) {
      var heat = this._heat, ctx = this._canvas.getContext("2d");
      var image = ctx.createImageData(width, height);
      var pixels = new Uint32Array(image.data.buffer), colours = this._colours;
      var cols = sampling(heat.x0, width, heat.step, heat.u0);
      var rows = sampling(heat.y0, height, heat.step, heat.v0);
      var g = heat.density, w = heat.nodesAcross, top = this.options.top;
      var exponent = this.options.exponent, root = exponent === 0.5;
      var colBelow = cols.below, colAbove = cols.above;
      // Node rows interpolated across to pixel columns (as _interpolate does), kept while
      // pixel rows use them: pixel rows go down, so only the last two are kept.
      var cached = {};
      function across(nodeRow) {
        var out = cached[nodeRow];
        if (!out) {
          out = new Float64Array(width);
          for (var x = 0, base = nodeRow * w; x < width; x++) {
            var i = base + colBelow[x];
            out[x] = g[i] + colAbove[x] * (g[i + 1] - g[i]);
          }
          cached = {[nodeRow - 1]: cached[nodeRow - 1], [nodeRow]: out};
        }
        return out;
      }
      for (var y = 0; y < height; y++) {
        var fr = rows.above[y], upper = across(rows.below[y]), lower = across(rows.below[y] + 1);
        for (var x = 0; x < width; x++) {
          var d = upper[x] + fr * (lower[x] - upper[x]);
          if (!(d > 0)) continue;
          var share = d < top ? d / top : 1;
          var byte = Math.round(255 * (root ? Math.sqrt(share) : Math.pow(share, exponent)));
          if (byte) pixels[y * width + x] = colours[byte];
        }
      }
      ctx.putImageData(image, 0, 0);
    },

    _animateZoom: function (e) {
      var map = this._map;
      var scale = map.getZoomScale(e.zoom);
      var offset = map._getCenterOffset(e.center)._multiplyBy(-scale).subtract(map._getMapPanePos());
      L.DomUtil.setTransform(this._canvas, offset, scale);
    }
  });

  L.incidentHeat = function (latlngs, options) {
    return new L.IncidentHeat(latlngs, options);
  };
})();
