"""The heat layer drawn from the cells we send looks like a heat map of every incident.

The dashboard never sends incident points: :func:`layers.storage.columnar.heat_cells` counts them in
cells of ``cell_px`` (default 4) screen pixels at the map zoom, each occupied cell becomes one
point at the cell centre weighted by its count, and :func:`layers.maps.webmap.heat_layer` hands
those to our heat layer (``layers/maps/js/incident_heat.js``). These tests draw two pictures with
:mod:`heat_render`, a model of that layer (``test_heat_browser`` holds it to what Chromium
draws), and compare where each pixel sits along the colour ramp (the intensity, in [0, 1],
before rounding to a byte):

* every point: the layer drawing all the filtered incidents, weight 1 each, on the scale
  their own peak density sets (:func:`layers.maps.heat.peak_density`);
* cells: what the page draws from the points and options of the layer ``heat_layer`` builds
  from ``heat_cells`` (its scale set by the cells).

Data: 100 000 synthetic incidents, seeded, in 15 Gaussian clusters (sd 250 m to 2.5 km) over
the Cape Town metro plus 15 % uniform background (lon 18.3 to 18.9, lat -34.2 to -33.7). Views:
the metro at zoom 10, the Cape Flats at 12, Khayelitsha at 14 (800 x 600 px) and a 400 x 300
px view into Nyanga at 16. Kernel radii 20 (the dashboard's: sigma 10 px) and 30 (sigma 15).

Tolerance, for every view and radius, over the view's pixels:

    max |intensity difference| <= 0.05,  99th percentile <= 0.035,  mean <= 0.01,

and the scale's top from the cells within 2 % of the one from every point.

Measured with 4 px cells (max / p99 / mean): radius 20 0.004-0.036 / 0.003-0.025 /
0.0004-0.0073; radius 30 0.002-0.017 / 0.001-0.012 / 0.0002-0.0037; tops within 0.8 %. The
worst case is the 400 x 300 px view at zoom 16, radius 20, where a 4 px cell is 40 % of sigma.
The dashboard's own path (cells only near the view, the top from every incident) 0.005-0.011
/ 0.004-0.007 / 0.0012-0.0021. The bounds sit about 40 % above the worst case.

Why this close. A cell centre moves each incident by at most half a cell diagonal (2.8 px)
and the renderer is continuous in positions: the splat is bilinear and the kernel a Gaussian
of 10 px or more, so the surface moves by a small fraction of its own slope. The square-root
scale (``layers.maps.heat.SCALE_EXPONENT``) stretches faint differences, and the comparison is
made on that scale, as the colours show it. The old leaflet.heat summed weights in screen
bins aligned to the map pane and divided by the busiest bin on the canvas: a point moved
across a bin edge jumped a whole bin, and the same map opened a few pixels away differed by
up to 0.29. There is no such step now.

Teeth: cells of 4 x the radius (80 px at radius 20) put whole neighbourhoods on one point; they
are off by at least 0.35 max, 0.31 p99 and 0.047 mean, and must fail every bound. And the
dashboard path scaled by what is in view (the busiest place among the cells sent, as a canvas
normaliser would) must fail the mean bound in a quiet view (Durbanville: off by 0.36 on
average, its own top 450 per km² against the city's 5,982).
"""

from __future__ import annotations

import inspect
from functools import cache

import numpy as np
import pandas as pd
import pytest
from heat_render import Viewport, density, intensity

from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.maps.heat import page_points, peak_density
from layers.maps.view import heat_figures, view_heat
from layers.maps.webmap import HEAT_RADIUS, IncidentHeat, heat_layer
from layers.storage.columnar import IncidentColumns, heat_cells, pixels_to_lonlat
from layers.storage.filters import IncidentFilter

SEED = 20240604
N_POINTS = 100_000
BACKGROUND_SHARE = 0.15
# What the dashboard sends: heat_cells' default cell size.
CELL_PX = float(inspect.signature(heat_cells).parameters["cell_px"].default)
DISHONEST_FACTOR = 4.0
RADII = (HEAT_RADIUS, 30)
MAX_TOL = 0.05
P99_TOL = 0.035
MEAN_TOL = 0.01
TOP_TOL = 0.02

# (lon, lat, standard deviation in km, share of the clustered incidents).
CLUSTERS = (
    (18.423, -33.925, 0.6, 0.10),  # city centre
    (18.630, -33.900, 1.0, 0.06),  # Bellville
    (18.675, -34.040, 1.8, 0.14),  # Khayelitsha
    (18.610, -34.050, 1.5, 0.10),  # Mitchells Plain
    (18.585, -33.990, 0.5, 0.08),  # Nyanga
    (18.570, -33.975, 0.8, 0.06),  # Gugulethu
    (18.640, -33.970, 1.2, 0.06),  # Delft
    (18.570, -34.010, 1.0, 0.06),  # Philippi
    (18.465, -34.000, 0.4, 0.04),  # Wynberg
    (18.465, -33.980, 0.25, 0.03),  # Claremont
    (18.470, -34.105, 0.8, 0.04),  # Muizenberg
    (18.650, -33.830, 1.5, 0.05),  # Durbanville
    (18.500, -33.870, 1.2, 0.06),  # Milnerton
    (18.680, -33.930, 1.0, 0.05),  # Kuils River
    (18.830, -34.080, 2.5, 0.07),  # Somerset West / Strand
)
WEST, EAST, SOUTH, NORTH = 18.3, 18.9, -34.2, -33.7

VIEWS = {
    "metro-z10": Viewport.centred(-33.95, 18.60, 10),
    "cape-flats-z12": Viewport.centred(-34.00, 18.60, 12),
    "khayelitsha-z14": Viewport.centred(-34.04, 18.675, 14),
    "nyanga-z16": Viewport.centred(-33.988, 18.587, 16, width=400, height=300),
}


@cache
def incidents() -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic incidents ``(lat, lon)``, in a shuffled (page) order."""
    rng = np.random.default_rng(SEED)
    n_background = int(N_POINTS * BACKGROUND_SHARE)
    shares = np.array([share for *_, share in CLUSTERS])
    counts = rng.multinomial(N_POINTS - n_background, shares / shares.sum())
    lat = [rng.uniform(SOUTH, NORTH, n_background)]
    lon = [rng.uniform(WEST, EAST, n_background)]
    km_per_degree_lon = 111.32 * np.cos(np.radians(34.0))
    for (x, y, sd_km, _), n in zip(CLUSTERS, counts, strict=True):
        lat.append(rng.normal(y, sd_km / 110.6, n))
        lon.append(rng.normal(x, sd_km / km_per_degree_lon, n))
    lat, lon = np.concatenate(lat), np.concatenate(lon)
    inside = (lon > WEST) & (lon < EAST) & (lat > SOUTH) & (lat < NORTH)
    order = rng.permutation(int(inside.sum()))
    return lat[inside][order], lon[inside][order]


def page_layer(cells: pd.DataFrame, **kwargs: object) -> IncidentHeat:
    """The heat layer ``heat_layer`` puts on the page for ``cells``."""
    (layer,) = (c for c in heat_layer(cells, **kwargs)._children.values()
                if isinstance(c, IncidentHeat))  # fmt: skip
    return layer


@cache
def sent(zoom: int, radius: int, cell_px: float) -> tuple[np.ndarray, dict]:
    """The ``[lat, lon, count]`` rows and options of the layer the page gets."""
    lat, lon = incidents()
    layer = page_layer(heat_cells(lon, lat, zoom=zoom, cell_px=cell_px), radius=radius,
                       max_zoom=zoom)  # fmt: skip
    return np.asarray(layer.data, dtype=float), dict(layer.options)


def draw(points: np.ndarray, view: Viewport, options: dict) -> np.ndarray:
    """Intensity per pixel, as the layer with ``options`` draws ``points`` in ``view``."""
    surface = density(points, view, sigma=options["sigma"], step=options["step"],
                      truncate=options["truncate"])  # fmt: skip
    return intensity(surface, options["top"], exponent=options["exponent"])


@cache
def every_point_top(zoom: int, radius: int) -> float:
    lat, lon = incidents()
    points = np.column_stack([lat, lon, np.ones(len(lat))])
    return peak_density(points, zoom=zoom, sigma_px=radius / 2)


@cache
def every_point(view: str, radius: int) -> np.ndarray:
    """What the layer draws in ``view`` given every incident, weight 1, on their own scale."""
    lat, lon = incidents()
    zoom = VIEWS[view].zoom
    options = {**sent(zoom, radius, CELL_PX)[1], "top": every_point_top(zoom, radius)}
    return draw(np.column_stack([lat, lon]), VIEWS[view], options)


def cells_picture(view: str, radius: int, cell_px: float) -> np.ndarray:
    data, options = sent(VIEWS[view].zoom, radius, cell_px)
    return draw(data, VIEWS[view], options)


def differences(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff = np.abs(a - b)
    return {
        "max": float(diff.max()),
        "p99": float(np.percentile(diff, 99)),
        "mean": float(diff.mean()),
    }


CASES = [pytest.param(view, radius, id=f"{view}-r{radius}") for view in VIEWS for radius in RADII]


def test_cells_carry_raw_counts_of_every_incident() -> None:
    # The surface is in incidents per km² only if each weight is the cell's count.
    for zoom in {view.zoom for view in VIEWS.values()}:
        data, _ = sent(zoom, HEAT_RADIUS, CELL_PX)
        weights = data[:, 2]
        assert weights.sum() == len(incidents()[0])
        assert np.array_equal(weights, np.round(weights)) and weights.min() >= 1


@pytest.mark.parametrize(("view", "radius"), CASES)
def test_cells_draw_what_every_point_draws(view: str, radius: int) -> None:
    truth = every_point(view, radius)
    # A view with nothing in it would pass anything.
    assert truth.mean() > 0.05
    got = differences(truth, cells_picture(view, radius, CELL_PX))
    assert got["max"] <= MAX_TOL, got
    assert got["p99"] <= P99_TOL, got
    assert got["mean"] <= MEAN_TOL, got
    top = sent(VIEWS[view].zoom, radius, CELL_PX)[1]["top"]
    assert top == pytest.approx(every_point_top(VIEWS[view].zoom, radius), rel=TOP_TOL)


@pytest.mark.parametrize(("view", "radius"), CASES)
def test_cells_much_larger_than_the_radius_fail(view: str, radius: int) -> None:
    got = differences(
        every_point(view, radius), cells_picture(view, radius, DISHONEST_FACTOR * radius)
    )
    assert got["max"] > MAX_TOL, got
    assert got["p99"] > P99_TOL, got
    assert got["mean"] > MEAN_TOL, got


# The dashboard's own path (layers.maps.view.heat_figures, view_heat): only the cells near the
# viewport are sent (the view and half of it again on every side), on the scale of every
# incident. Views away from the densest area are the hard case: scaled by what they hold, they
# would draw brighter.
DASHBOARD_VIEWS = {
    "durbanville-z14": Viewport.centred(-33.83, 18.65, 14),
    "khayelitsha-z14": VIEWS["khayelitsha-z14"],
    "muizenberg-z13": Viewport.centred(-34.105, 18.47, 13),
}


@cache
def columns() -> IncidentColumns:
    lat, lon = incidents()
    frame = pd.DataFrame(
        {"lon": lon, "lat": lat, "occurred_at": pd.Timestamp("2026-01-01", tz="UTC")}
    )
    for column in ("agency", "collaboration_area", "category", "precinct", "ward"):
        frame[column] = "x"
    return IncidentColumns.from_frame(frame)


def dashboard_layer(view: Viewport) -> IncidentHeat:
    """The layer the dashboard draws ``view`` with: ``view_heat``'s cells and scale."""
    west, south = view_lonlat(view, 0, view.height)
    east, north = view_lonlat(view, view.width, 0)
    dx, dy = (east - west) / 2, (north - south) / 2
    sight = apply_policy(None, columns(), None, IncidentFilter())
    bounds = (west - dx, south - dy, east + dx, north + dy)
    shown = disclose(heat_figures(sight, zoom=view.zoom, bounds=bounds), sight.k)
    heat = view_heat(shown, zoom=view.zoom)
    return page_layer(heat.cells, radius=heat.radius, max_zoom=view.zoom, scale=heat.top)


def view_lonlat(view: Viewport, x: float, y: float) -> tuple[float, float]:
    lon, lat = pixels_to_lonlat(np.array([view.left + x]), np.array([view.top + y]), view.zoom)
    return float(lon[0]), float(lat[0])


def dashboard_truth(view: Viewport) -> np.ndarray:
    lat, lon = incidents()
    options = {**sent(view.zoom, HEAT_RADIUS, CELL_PX)[1],
               "top": every_point_top(view.zoom, HEAT_RADIUS)}  # fmt: skip
    return draw(np.column_stack([lat, lon]), view, options)


@pytest.mark.parametrize("name", DASHBOARD_VIEWS)
def test_dashboard_view_draws_what_every_point_draws(name: str) -> None:
    view = DASHBOARD_VIEWS[name]
    layer = dashboard_layer(view)
    got = differences(dashboard_truth(view), draw(np.asarray(layer.data), view, layer.options))
    assert got["max"] <= MAX_TOL, got
    assert got["p99"] <= P99_TOL, got
    assert got["mean"] <= MEAN_TOL, got


def test_the_dashboard_scale_is_the_same_in_every_view() -> None:
    # Two views at zoom 14, one on the busiest area and one far from it.
    tops = {name: dashboard_layer(DASHBOARD_VIEWS[name]).options["top"]
            for name in ("durbanville-z14", "khayelitsha-z14")}  # fmt: skip
    assert len(set(tops.values())) == 1, tops
    assert tops["durbanville-z14"] == pytest.approx(every_point_top(14, HEAT_RADIUS), rel=TOP_TOL)


def test_scaled_by_what_is_in_view_a_quiet_view_draws_too_bright() -> None:
    view = DASHBOARD_VIEWS["durbanville-z14"]
    layer = dashboard_layer(view)
    own_top = peak_density(np.asarray(layer.data), zoom=view.zoom, sigma_px=HEAT_RADIUS / 2)
    assert own_top < layer.options["top"] / 2
    own_scale = draw(np.asarray(layer.data), view, {**layer.options, "top": own_top})
    got = differences(dashboard_truth(view), own_scale)
    assert got["mean"] > MEAN_TOL, got


def test_the_scale_is_the_peak_of_the_surface() -> None:
    """``peak_density`` is the densest pixel the layer draws, wherever the peak is in view."""
    data, options = sent(12, HEAT_RADIUS, CELL_PX)
    top = options["top"]
    x, y = (VIEWS["cape-flats-z12"].left, VIEWS["cape-flats-z12"].top)
    drawn = max(
        density(data, Viewport(12, 800, 600, x + dx, y + dy), sigma=options["sigma"],
                step=options["step"]).max()
        for dx in (-400, 0, 400) for dy in (-300, 0, 300)
    )  # fmt: skip
    assert drawn <= top * (1 + 1e-9)
    assert drawn == pytest.approx(top, rel=0.01)
    assert page_points(pd.DataFrame({"lat": [], "lon": [], "weight": []})).shape == (0, 3)
