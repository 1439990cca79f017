"""Counts inside an area (layers.analysis.areas, layers.publishing.areas): an analyst's equal
a geopandas reference; other viewers never locate an incident finer than the level they may
count it at, whatever area is drawn, and their counts are suppressed like every other."""

from __future__ import annotations

import json
import math
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import box
from test_privacy import incidents, spread

from layers.access.policy import Policy, PrivacyRules, Viewer, anonymous_shift
from layers.access.sight import apply_policy, sensitive_rows
from layers.access.suppression import disclose
from layers.analysis.areas import (
    MAX_RADIUS_M,
    Area,
    AreaError,
    area_counts,
    area_figures,
    area_geojson,
    area_rule,
    buffer_area,
    check_near,
    counted_units,
    drawn_area,
    parse_point,
    whole_cells,
)
from layers.publishing.areas import public_area_counts
from layers.publishing.public import PublicSite, store_site
from layers.storage.columnar import select
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

ANALYST = Policy(Viewer("analyst", "analyst"))
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))
PUBLIC = Policy(Viewer("cpf", "public"))
SHIFT = PrivacyRules().anonymous_shift
HALF_WORLD_M = math.pi * 6_378_137


def shown_for(policy, columns, area, boundaries, flt=None):
    """The figures as a page gets them: the access step, the figures, suppression once."""
    flt = flt or IncidentFilter()
    mask = None if flt.is_empty else select(columns, flt)
    sight = apply_policy(policy, columns, mask, flt)
    counted = area_figures(sight, area, boundaries=boundaries)
    return sight, counted, disclose(counted, sight.k)


def within(points: gpd.GeoDataFrame, area: Area) -> pd.Series:
    """The reference: geopandas' own point-in-polygon join."""
    joined = gpd.sjoin(
        points, gpd.GeoDataFrame(geometry=[area.geometry], crs=4326), predicate="within"
    )
    return points.index.isin(joined.index)


def cell_box(lon: float, lat: float, shift: int = SHIFT):
    """The anonymous cell holding (lon, lat), worked out in EPSG:3857 metres, independently of
    the module's pixel maths."""
    to_m = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    to_deg = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
    size = 2 * HALF_WORLD_M / 256 / 2**shift
    x, y = to_m.transform(lon, lat)
    ix, iy = math.floor((x + HALF_WORLD_M) / size), math.floor((HALF_WORLD_M - y) / size)
    west, north = to_deg.transform(ix * size - HALF_WORLD_M, HALF_WORLD_M - iy * size)
    east, south = to_deg.transform((ix + 1) * size - HALF_WORLD_M, HALF_WORLD_M - (iy + 1) * size)
    return box(west, south, east, north)


@pytest.fixture(scope="module")
def demo(demo_store):
    snapshot = open_store(demo_store)
    return snapshot, {"precinct": snapshot.precincts, "ward": snapshot.wards}


def a_drawn_polygon(lon: float, lat: float) -> Area:
    """An irregular five-cornered area of a few km around (lon, lat), as Leaflet sends it."""
    ring = [
        (lon - 0.03, lat - 0.02),
        (lon + 0.025, lat - 0.025),
        (lon + 0.035, lat + 0.01),
        (lon, lat + 0.03),
        (lon - 0.02, lat + 0.012),
        (lon - 0.03, lat - 0.02),
    ]
    return drawn_area(
        [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ]
    )


@pytest.mark.parametrize(
    "flt", [IncidentFilter(), IncidentFilter(agencies=("SAPS", "LEAP"), hours=(18, 6))]
)
@pytest.mark.parametrize("make", ["buffer", "drawn"])
def test_an_analysts_counts_equal_a_geopandas_within_join(demo, flt, make):
    snapshot, boundaries = demo
    points = snapshot.incidents
    codes = snapshot.columns.codes["precinct"]
    busiest = points[codes == np.argmax(np.bincount(codes[codes >= 0]))].iloc[0]
    if make == "buffer":
        area = buffer_area(busiest["lat"], busiest["lon"], 2500)
    else:
        area = a_drawn_polygon(busiest["lon"], busiest["lat"])
    mask = np.ones(len(points), bool) if flt.is_empty else select(snapshot.columns, flt)
    inside = points[mask & within(points, area)]
    assert len(inside) > 20  # the check has something to count
    sight, _, shown = shown_for(ANALYST, snapshot.columns, area, boundaries, flt)
    assert shown["total"] == len(inside)
    expected = inside["category"].value_counts()[lambda s: s > 0]
    assert shown["categories"][shown["categories"] > 0].sort_index().to_dict() == (
        expected.sort_index().to_dict()
    )
    assert shown["agencies"].iloc[0][lambda s: s > 0].to_dict() == (
        inside["agency"].value_counts()[lambda s: s > 0].to_dict()
    )
    table = shown["table"].stack()
    pairs = inside.groupby(["category", "agency"], observed=True).size()
    assert table[table > 0].to_dict() == pairs[pairs > 0].to_dict()
    counts = area_counts(shown, sight=sight, rule=area_rule(sight, ANALYST.rules, lat=-33.9))
    assert counts.total == len(inside) and counts.hidden_categories == 0
    assert counts.rule == "Every incident is counted by its own location."


def test_an_agency_counts_its_own_by_point_and_others_only_in_whole_cells_and_precincts(demo):
    snapshot, boundaries = demo
    points = snapshot.incidents
    # A buffer that holds one precinct whole: the sensitive rule has something to count.
    precinct = snapshot.precincts.iloc[int(np.argmin(snapshot.precincts.to_crs(32734).area))]
    centre = precinct.geometry.centroid
    corners = shapely.get_coordinates(precinct.geometry)
    geod = pyproj.Geod(ellps="WGS84")
    reach = max(geod.inv(centre.x, centre.y, x, y)[2] for x, y in corners)
    area = buffer_area(centre.y, centre.x, reach + 300)
    sensitive = sensitive_rows(snapshot.columns, SAPS.rules)
    own = (points["agency"] == "SAPS").to_numpy()
    by_point = within(points, area)
    whole_cell = np.array(
        [
            area.geometry.contains(cell_box(x, y))
            for x, y in zip(points["lon"], points["lat"], strict=True)
        ]
    )
    precincts = snapshot.precincts
    wholly = precincts["name"][[area.geometry.contains(g) for g in precincts.geometry]]
    whole_precinct = points["precinct"].isin(wholly).to_numpy()
    expected = np.where(own, by_point, np.where(sensitive, whole_precinct, whole_cell))
    assert whole_precinct.any() and (expected & sensitive & ~own).any()
    assert (by_point & ~own & ~expected).any()  # partners' points inside, not counted
    sight, counted, shown = shown_for(SAPS, snapshot.columns, area, boundaries)
    values = counted["agencies"].value.iloc[0]
    assert values[values > 0].to_dict() == (
        points[expected]["agency"].value_counts()[lambda s: s > 0].to_dict()
    )
    assert counted["total"].value == expected.sum()
    assert counted["total"].basis == (expected & ~own).sum()
    # Shown: SAPS's own count whole; the others as counted, or hidden.
    assert shown["agencies"].iloc[0]["SAPS"] == (expected & own).sum()
    units = counted_units(sight, area, boundaries=boundaries, rules=SAPS.rules)
    assert units["name"].str.contains("cells of about 250 m wholly inside").sum() == 1
    assert units["name"].str.contains(f"Precinct {precinct['name']}").any()


def sliver_store():
    """Metro Police's ten incidents in one anonymous cell, one more alone, SAPS's six."""
    lone = (18.6012, -33.9431)
    cluster = cell_box(18.585, -33.955).centroid
    cols = incidents(
        [
            *spread(10, cluster.x, cluster.y, jitter_m=4),
            (lone[0], lone[1], "Metro Police", "Burglary"),
            *spread(6, 18.59, -33.95, agency="SAPS", category="Robbery", seed=3),
        ]
    )
    return cols, lone, cluster


def test_two_nearly_equal_areas_cannot_single_out_another_agencys_incident():
    cols, (lon, lat), _ = sliver_store()
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18, -34.5, 19, -33)], crs=4326)
    }
    metre = 1 / 111_000
    a = Area(box(18.55, -33.98, lon - 5 * metre, -33.92), "A")  # the lone incident 5 m outside
    sliver = box(lon - 6 * metre, lat - 10 * metre, lon + 10 * metre, lat + 10 * metre)
    b = Area(shapely.union(a.geometry, sliver), "A and a sliver around the lone incident")
    analyst = [shown_for(ANALYST, cols, x, boundaries)[2] for x in (a, b)]
    assert analyst[1]["total"] - analyst[0]["total"] == 1  # by point, the sliver tells
    agency = [shown_for(SAPS, cols, x, boundaries) for x in (a, b)]
    for name in ("total", "categories", "agencies", "table"):
        first, second = (counted[name] for _, counted, _ in agency)
        for part in ("value", "basis"):
            x, y = getattr(first, part), getattr(second, part)
            assert x == y if np.isscalar(x) else x.equals(y), (name, part)
    assert agency[0][2]["total"] == agency[1][2]["total"] == 16  # 10 in a whole cell, SAPS's 6


def test_a_hole_around_one_incident_takes_out_its_whole_cell_never_just_it():
    cols, _, cluster = sliver_store()
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18, -34.5, 19, -33)], crs=4326)
    }
    a = Area(box(18.55, -33.98, 18.60, -33.92), "A")
    hole = shapely.Point(cluster.x, cluster.y).buffer(0.0001)  # about 10 m around the cluster
    b = Area(a.geometry.difference(hole), "A with a hole")
    counts = [shown_for(SAPS, cols, x, boundaries)[1]["agencies"].value.iloc[0] for x in (a, b)]
    assert counts[0]["Metro Police"] - counts[1]["Metro Police"] == 10  # the whole cell
    assert counts[0]["SAPS"] == counts[1]["SAPS"] == 6  # own, by point: none in the hole


def test_sensitive_incidents_count_only_in_whole_precincts_and_never_under_a_ward_filter():
    cols = incidents(
        spread(5, 18.60, -33.95, category="Sexual offences")
        + spread(4, 18.60, -33.95, agency="SAPS", category="Robbery", seed=2)
    )
    precinct = box(18.58, -33.97, 18.62, -33.93)
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[precinct], crs=4326),
        "ward": gpd.GeoDataFrame({"name": ["W1"]}, geometry=[precinct], crs=4326),
    }
    around_points = buffer_area(-33.95, 18.60, 500)  # every point, not the whole precinct
    around_precinct = Area(precinct.buffer(0.005), "P1 and more")

    def offences(policy, area, flt=None):
        """Sexual offences counted inside ``area`` (before suppression: which are counted)."""
        counted = shown_for(policy, cols, area, boundaries, flt)[1]
        return counted["categories"].value["Sexual offences"]

    assert offences(ANALYST, around_points) == 5
    assert offences(SAPS, around_points) == 0  # their points are inside; their precinct is not
    assert offences(SAPS, around_precinct) == 5
    ward = IncidentFilter(wards=("W1",))
    sight, counted, _ = shown_for(SAPS, cols, around_precinct, boundaries, ward)
    assert counted["categories"].value["Sexual offences"] == 0
    assert "of sensitive categories are left out" in area_rule(sight, SAPS.rules, lat=-33.95)
    assert "counted only in precincts" in area_rule(
        shown_for(SAPS, cols, around_precinct, boundaries)[0], SAPS.rules, lat=-33.95
    )


def test_counts_of_fewer_than_k_other_incidents_are_hidden_with_their_complements():
    cell = cell_box(18.585, -33.955).centroid
    other = cell_box(18.60, -33.94).centroid
    cols = incidents(
        spread(2, cell.x, cell.y, category="Arson", jitter_m=4)
        + spread(6, other.x, other.y, category="Burglary", jitter_m=4, seed=1)
        + spread(5, 18.59, -33.95, agency="SAPS", category="Robbery", seed=2)
    )
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18, -34.5, 19, -33)], crs=4326)
    }
    area = Area(box(18.55, -33.98, 18.63, -33.92), "A")
    sight, counted, shown = shown_for(SAPS, cols, area, boundaries)
    assert counted["categories"].value[["Arson", "Burglary", "Robbery"]].tolist() == [2, 6, 5]
    categories = shown["categories"]
    # Arson's 2 hidden, and Burglary's 6 with them (else the total would give Arson away);
    # Robbery, SAPS's own only, is a zero of others': hidden too, as a blank must not tell.
    assert categories[["Arson", "Burglary", "Robbery"]].isna().all()
    assert shown["total"] == 13  # eight others' in whole cells: at least k
    assert shown["agencies"].iloc[0]["SAPS"] == 5  # own, whole
    assert shown["agencies"].iloc[0]["Metro Police"] == 8  # others' in whole cells, k or more
    counts = area_counts(shown, sight=sight, rule="")
    assert counts.text(counts.total) == "13"
    assert counts.categories.empty and counts.hidden_categories == len(categories)
    assert counts.agencies.set_index("agency")["text"].to_dict()["SAPS"] == "5"
    # With a k of 10, the total is hidden too.
    strict = Policy(SAPS.viewer, PrivacyRules(k=10))
    assert shown_for(strict, cols, area, boundaries)[2]["total"] is None


def test_suppression_holds_for_every_role_over_many_buffers(demo):
    snapshot, boundaries = demo
    points = snapshot.incidents
    rng = np.random.default_rng(7)
    for row in rng.choice(len(points), 12, replace=False):
        area = buffer_area(
            points.iloc[row]["lat"], points.iloc[row]["lon"], float(rng.choice([300, 800, 2000]))
        )
        _, counted, shown = shown_for(ANALYST, snapshot.columns, area, boundaries)
        assert shown["total"] == within(points, area).sum()  # nothing held back
        for policy in (SAPS, PUBLIC):
            sight, counted, shown = shown_for(policy, snapshot.columns, area, boundaries)
            k = sight.k
            basis = counted["categories"].basis
            visible = shown["categories"].notna()
            assert (basis[visible] >= k).all()  # every count shown holds k others or more
            assert (~visible).sum() != 1  # one hidden count is the total less the rest
            if shown["total"] is not None:
                # The total less what is shown is what is hidden: none, or at least k.
                assert counted["total"].basis >= k
                assert basis[~visible].sum() == 0 or basis[~visible].sum() >= k
            table = shown["table"].drop(columns=list(sight.keep)).stack()
            others = counted["table"].basis.drop(columns=list(sight.keep)).stack()
            assert (others[table.notna()] >= k).all()


def test_the_public_counts_in_published_cells_alone(demo_store, tmp_path):
    snapshot = open_store(demo_store)
    published = store_site(snapshot, PrivacyRules(), publish_to=tmp_path / "site")
    copy = tmp_path / "copy"
    shutil.copytree(published.folder, copy)  # the site alone: nothing of the store
    site = PublicSite.load(copy)
    month = site.months[-1]
    cells = site.cells(month, "all")
    listed = cells[cells["count"].notna()]
    centre = listed.geometry.iloc[int(np.argmax(listed["count"]))].centroid
    area = buffer_area(centre.y, centre.x, 4000)
    counts = public_area_counts(site, (month,), area)
    for group, row in zip(site.groups, counts.groups.itertuples(), strict=True):
        view = site.cells(month, group)
        inside = view[view.within(area.geometry)]
        assert row.cells == len(inside)
        assert row.count == pytest.approx(inside["count"].sum()) or (
            np.isnan(row.count) and inside["count"].isna().all()
        )
        assert row.partial == bool(inside["count"].isna().any() and inside["count"].notna().any())
    assert counts.groups.iloc[0]["cells"] > 0 and counts.groups.iloc[0]["count"] >= site.k
    assert set(counts.cells["cell"]) == set(cells[cells.within(area.geometry)]["cell"])
    assert f"published cells of about {site.cell_m:,.0f} m" in counts.rule
    nowhere = buffer_area(-34.2, 18.33, 50)
    empty = public_area_counts(site, (month,), nowhere)
    assert empty.text(*empty.groups.iloc[0][["count", "partial", "cells"]]) == "none published"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-33.9249, 18.4241", (-33.9249, 18.4241)),
        ("-33.9249 18.4241", (-33.9249, 18.4241)),
        (" -33.9;18.4 ", (-33.9, 18.4)),
    ],
)
def test_a_typed_point_is_latitude_then_longitude(text, expected):
    assert parse_point(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Main Road", "not a point"),
        ("-33.9", "not a point"),
        ("1, 2, 3", "not a point"),
        ("nan, 18", "finite"),
        ("18.42, -193.9", "out of range"),
        ("118.42, -33.92", "Latitude comes first: try -33.92, 118.42"),
    ],
)
def test_a_typed_point_that_is_not_one_says_how_to_type_it(text, message):
    with pytest.raises(AreaError, match=message):
        parse_point(text)


def test_a_point_far_from_every_precinct_is_refused_with_a_hint_when_swapped():
    bounds = (18.3, -34.36, 19.0, -33.47)
    check_near(-33.92, 18.42, bounds)  # Cape Town: fine
    with pytest.raises(AreaError, match=r"from every precinct.*did you mean -33\.92, 18\.42\?"):
        check_near(18.42, -33.92, bounds)
    with pytest.raises(AreaError, match=r"more than 50 km from every precinct") as err:
        check_near(-26.2, 28.04, bounds)  # Johannesburg
    assert "did you mean" not in str(err.value)


def test_a_buffer_is_a_circle_in_metres():
    area = buffer_area(-33.92, 18.42, 1000, label="Parliament")
    assert area.label == "1,000 m around Parliament"
    assert area.area_km2 == pytest.approx(math.pi, rel=1e-3)
    geod = pyproj.Geod(ellps="WGS84")
    ring = shapely.get_coordinates(area.geometry.exterior)
    distances = [geod.inv(18.42, -33.92, x, y)[2] for x, y in ring]
    assert min(distances) == pytest.approx(1000, rel=3e-3)
    assert max(distances) == pytest.approx(1000, rel=3e-3)
    for radius in (0, 5, MAX_RADIUS_M + 1, float("nan")):
        with pytest.raises(AreaError, match="radius must be from 10 to 25,000 m"):
            buffer_area(-33.92, 18.42, radius)


def test_drawn_shapes_make_one_area_and_bad_ones_say_what_to_do():
    square = {
        "type": "Polygon",
        "coordinates": [
            [[18.4, -33.9], [18.41, -33.9], [18.41, -33.91], [18.4, -33.91], [18.4, -33.9]]
        ],
    }
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[18.5, -33.9], [18.51, -33.91], [18.51, -33.9], [18.5, -33.91], [18.5, -33.9]]
        ],
    }
    area = drawn_area(
        [
            {"type": "Feature", "geometry": square},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},
            bowtie,
        ]
    )
    assert area.geometry.is_valid and area.geometry.geom_type == "MultiPolygon"
    assert area.geometry.area == pytest.approx(0.0001 + 0.00005, rel=1e-6)
    with pytest.raises(AreaError, match="No area is drawn yet"):
        drawn_area(
            [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
                }
            ]
        )
    flat = {
        "type": "Polygon",
        "coordinates": [[[18.4, -33.9], [18.5, -33.9], [18.6, -33.9], [18.4, -33.9]]],
    }
    with pytest.raises(AreaError, match="no area"):
        drawn_area([flat])
    huge = {"type": "Polygon", "coordinates": [[[17, -35], [20, -35], [20, -32], [17, -35]]]}
    with pytest.raises(AreaError, match="km across"):
        drawn_area([huge])


def test_the_exported_area_holds_its_outline_and_nothing_of_the_incidents():
    area = buffer_area(-33.92, 18.42, 250, label="12 Main Road")
    data = json.loads(area_geojson(area))
    [feature] = data["features"]
    assert feature["properties"] == {
        "label": "250 m around 12 Main Road",
        "area_km2": pytest.approx(math.pi * 0.25**2, rel=1e-3),
        "centre_lat": -33.92,
        "centre_lon": 18.42,
        "radius_m": 250.0,
    }
    outline = shapely.geometry.shape(feature["geometry"])
    assert outline.symmetric_difference(area.geometry).area < 1e-9


def test_the_cells_drawn_are_every_cell_inside_occupied_or_not():
    area = buffer_area(-33.95, 18.6, 1200)
    cells = whole_cells(area, SHIFT)
    edge = 2 * HALF_WORLD_M / 256 / 2**SHIFT * math.cos(math.radians(-33.95))
    # Every cell whose four corners are inside: about the circle less a rim of a cell's width.
    assert cells["cells"].iloc[0] == pytest.approx(math.pi * (1200 - edge) ** 2 / edge**2, rel=0.2)
    assert area.geometry.contains(cells.geometry.iloc[0])
    assert anonymous_shift(250) == SHIFT


def test_a_viewer_of_no_agency_counts_every_incident_in_whole_cells():
    cols = incidents(spread(4, 18.6, -33.95, jitter_m=4))
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18, -34.5, 19, -33)], crs=4326)
    }
    cell = cell_box(18.6, -33.95)
    sight, _, shown = shown_for(PUBLIC, cols, buffer_area(-33.95, 18.6, 600), boundaries)
    assert shown["total"] == (4 if buffer_area(-33.95, 18.6, 600).geometry.contains(cell) else 0)
    assert area_rule(sight, PUBLIC.rules, lat=-33.95).startswith("Incidents are counted only in ")
    tiny = buffer_area(-33.95, 18.6, 50)  # inside one cell: nothing can be counted
    assert shown_for(PUBLIC, cols, tiny, boundaries)[1]["total"].value == 0


def test_the_map_draws_the_buffer_and_its_units_offline_with_names_escaped():
    import folium
    from conftest import CDN_HOSTS

    from layers.maps.assets import apply_offline_assets
    from layers.maps.drawing import area_layer, draw_control

    m = folium.Map(tiles=None)
    m.add_child(draw_control())
    units = gpd.GeoDataFrame({"name": ["Precinct <b>X</b>: counted here"]},
                             geometry=[box(18.41, -33.93, 18.43, -33.91)], crs=4326)  # fmt: skip
    area_layer(buffer_area(-33.92, 18.42, 2000, label="<i>12</i> Main Rd"), units=units).add_to(m)
    page = apply_offline_assets(m, mode="served").get_root().render()
    assert "/app/static/vendor/leaflet.draw.js" in page
    assert not any(host in page for host in CDN_HOSTS)
    assert '"polyline": false' in page and '"rectangle": {' in page
    # Escaped (in the GeoJSON, as JSON's \\u0026lt;), never markup a tooltip would run.
    assert "\\u0026lt;b\\u0026gt;X" in page and "<b>X</b>" not in page
    assert "&lt;i&gt;12&lt;/i&gt; Main Rd" in page and "<i>12</i>" not in page
    # A drawn shape is on the map already: only a buffer's outline and centre are drawn.
    drawn = folium.Map(tiles=None)
    square = box(18.4, -33.93, 18.42, -33.91)
    area_layer(Area(square, "Drawn area")).add_to(drawn)
    assert "circle_marker" not in drawn.get_root().render()


def test_an_agency_cannot_work_out_a_hidden_cell_from_the_totals_beside_it():
    """The review's case: Metro Police's 1 arson hidden in a category-by-agency table would be
    its total (11) less its burglaries (10), or arson's total (13) less LEAP's (12) and SAPS's
    (0). An agency's table holds its own column alone."""
    west = cell_box(18.585, -33.955).centroid
    east = cell_box(18.60, -33.94).centroid
    cols = incidents(
        spread(1, west.x, west.y, agency="Metro Police", category="Arson", jitter_m=4)
        + spread(10, west.x, west.y, agency="Metro Police", category="Burglary", seed=1)
        + spread(12, east.x, east.y, agency="LEAP", category="Arson", jitter_m=4, seed=2)
        + spread(10, east.x, east.y, agency="LEAP", category="Burglary", jitter_m=4, seed=3)
        + spread(5, 18.59, -33.95, agency="SAPS", category="Burglary", seed=4)
    )
    boundaries = {
        "precinct": gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18, -34.5, 19, -33)], crs=4326)
    }
    area = Area(box(18.55, -33.98, 18.63, -33.92), "A")
    sight, counted, shown = shown_for(SAPS, cols, area, boundaries)
    assert list(shown["table"].columns) == ["SAPS"]
    assert shown["table"].loc["Burglary", "SAPS"] == 5
    # Every total beside what is hidden leaves it hidden: the others' part of a category
    # shown is none or at least k, and so is what the shown agencies leave of the total.
    own = counted["table"].value["SAPS"]
    categories = shown["categories"].dropna()
    others = categories - own.reindex(categories.index, fill_value=0)
    assert ((others == 0) | (others >= sight.k)).all()
    agencies = shown["agencies"].iloc[0]
    left = shown["total"] - agencies.dropna().sum()
    assert left == 0 or left >= sight.k
    analyst = shown_for(ANALYST, cols, area, boundaries)[2]["table"]
    assert analyst.loc["Arson", "Metro Police"] == 1  # an analyst sees the whole table
