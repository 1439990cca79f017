"""The incident list's map (issue 18): the page's incidents, the listed ones in view and the
selected one as layers, checked as the Leaflet code they render to."""

from __future__ import annotations

import json
import re

import folium
import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from layers.maps.points import (
    NEARBY_COLOUR,
    PAGE_COLOUR,
    SELECTED_COLOUR,
    boundary_layer,
    incident_layers,
)


def rows(*specs: tuple[int, str, float, float]) -> pd.DataFrame:
    """List rows (store row, id, lat, lon), as layers.maps.listing.list_rows gives them."""
    return pd.DataFrame(
        {
            "incident_id": [s[1] for s in specs],
            "occurred_at": ["2026-01-02T00:30:00+02:00"] * len(specs),
            "category": ["Burglary"] * len(specs),
            "lat": [s[2] for s in specs],
            "lon": [s[3] for s in specs],
        },
        index=pd.Index([s[0] for s in specs], name="row"),
    )


def rendered(groups: list[folium.FeatureGroup]) -> str:
    m = folium.Map(tiles=None)
    for group in groups:
        group.add_to(m)
    return m.get_root().render()


def features(html: str) -> list[dict]:
    """Every GeoJSON point feature drawn, with its layer's marker colour."""
    found = []
    layer = re.compile(r'"color": "(#[0-9a-f]{6})".*?_add\((\{"features".*?\})\);', re.S)
    for colour, data in layer.findall(html):
        found += [dict(f, colour=colour) for f in json.loads(data)["features"]]
    return found


def test_page_nearby_and_selected_are_drawn_apart_the_page_once():
    page = rows((4, "S-1", -33.912345678, 18.412345678), (9, "S-2", -33.95, 18.45))
    nearby = rows((9, "S-2", -33.95, 18.45), (12, "S-3", -33.96, 18.46))
    groups = incident_layers(page, selected=page.loc[[9]], nearby=nearby)
    names = ["Other listed incidents in view", "Incidents on this page", "Selected incident"]
    assert [g.layer_name for g in groups] == names
    drawn = features(rendered(groups))
    by_colour = {c: [f["properties"]["label"].split(" · ")[0] for f in drawn if f["colour"] == c]
                 for c in (NEARBY_COLOUR, PAGE_COLOUR, SELECTED_COLOUR)}  # fmt: skip
    assert by_colour == {NEARBY_COLOUR: ["S-3"], PAGE_COLOUR: ["S-1", "S-2"],
                         SELECTED_COLOUR: ["S-2"]}  # fmt: skip
    # Positions to 5 decimals (about 1 m), the precision a click comes back with.
    assert drawn[1]["geometry"]["coordinates"] == [18.41235, -33.91235]
    assert drawn[1]["properties"]["label"] == "S-1 · 2026-01-02 00:30 · Burglary"


def test_text_from_incident_files_is_escaped_in_tooltips():
    page = rows((1, '<img src=x onerror="alert(1)">', -33.9, 18.4))
    html = rendered(incident_layers(page))
    assert "<img src=x" not in html
    [drawn] = features(html)  # Leaflet puts the label in the page as HTML: as text, here
    assert drawn["properties"]["label"].startswith("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;")


def test_no_rows_draw_nothing_and_missing_columns_are_named():
    groups = incident_layers(rows())
    assert [g.layer_name for g in groups] == ["Incidents on this page"]
    assert features(rendered(groups)) == []
    with pytest.raises(ValueError, match=r"`page` lacks column\(s\) lat, lon"):
        incident_layers(rows((1, "S-1", -33.9, 18.4)).drop(columns=["lat", "lon"]))


def test_boundaries_are_outlines_that_take_no_clicks():
    areas = gpd.GeoDataFrame({"name": ["P1"]}, geometry=[box(18.4, -34.0, 18.5, -33.9)],
                             crs="EPSG:4326")  # fmt: skip
    html = rendered([boundary_layer(areas, name="SAPS precincts")])
    assert '"interactive": false' in html and '"fill": false' in html
    with pytest.raises(ValueError, match="must have a CRS"):
        boundary_layer(areas.set_crs(None, allow_override=True), name="x")
