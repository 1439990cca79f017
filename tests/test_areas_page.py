"""The areas page (pages/areas.py) with AppTest: a point, an address or a drawn shape, and the
counts inside as each role may see them."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import dashboard_apps
from streamlit.testing.v1 import AppTest

from app.display import md
from layers.access.policy import PrivacyRules
from layers.analysis.areas import buffer_area, drawn_area
from layers.publishing.areas import public_area_counts
from layers.publishing.public import store_site
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
RADIUS = 1500


@pytest.fixture
def app(monkeypatch):
    """An AppTest factory for the dashboard on a given store (conftest.dashboard_apps)."""
    return dashboard_apps(monkeypatch, timeout=90)


@pytest.fixture(scope="module")
def spot(demo_store) -> tuple[float, float]:
    """A point where incidents are: the middle of the busiest precinct's first incident."""
    points = open_store(demo_store).incidents
    busiest = points["precinct"].value_counts().index[0]
    row = points[points["precinct"] == busiest].iloc[0]
    return round(float(row["lat"]), 5), round(float(row["lon"]), 5)


def reference(store: Path, lat: float, lon: float, radius: float) -> gpd.GeoDataFrame:
    """The incidents inside the buffer, by geopandas' own join."""
    points = open_store(store).incidents
    area = gpd.GeoDataFrame(geometry=[buffer_area(lat, lon, radius).geometry], crs=4326)
    return points.loc[gpd.sjoin(points, area, predicate="within").index]


def areas_page(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception
    at.switch_page("pages/areas.py").run()
    assert not at.exception
    return at


def table(at: AppTest, first_column: str) -> pd.DataFrame:
    return next(d.value for d in [*at.dataframe, *at.table] if d.value.columns[0] == first_column)


def metric(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label.startswith("Incidents inside"))


def choose_point(at: AppTest, lat: float, lon: float, radius: float = RADIUS) -> AppTest:
    at.radio(key="a_mode").set_value("point").run()
    at.text_input(key="a_point").input(f"{lat}, {lon}").run()
    at.number_input(key="a_radius").set_value(radius).run()
    assert not at.exception
    return at


def test_an_analyst_counts_every_incident_within_the_radius(app, demo_store, spot):
    at = choose_point(areas_page(app(demo_store)), *spot)
    inside = reference(demo_store, *spot, RADIUS)
    assert len(inside) > 10
    assert metric(at) == f"{len(inside):,}"
    agencies = table(at, "Agency").set_index("Agency")["Incidents"]
    expected = inside["agency"].value_counts()
    assert agencies.to_dict() == {a: f"{n:,}" for a, n in expected[expected > 0].items()}
    categories = table(at, "Category").set_index("Category")["Incidents"]
    assert sum(int(v) for v in categories) == len(inside)
    assert any("counted by its own location" in c.value for c in at.caption)
    # (markdown source: the label is escaped, as text from a file must be)
    assert at.subheader[0].value == md(f"{RADIUS:,} m around {spot[0]:.5f}, {spot[1]:.5f}")
    offered = [b.proto.label for b in at.get("link_button")]
    assert "Download the area (GeoJSON)" in offered


def test_the_sidebar_filter_applies(app, demo_store, spot):
    at = choose_point(areas_page(app(demo_store, agencies="LEAP")), *spot)
    inside = reference(demo_store, *spot, RADIUS)
    assert metric(at) == f"{(inside['agency'] == 'LEAP').sum():,}"
    assert any("Filter: agencies=LEAP" in c.value.replace("\\", "") for c in at.caption)


def test_an_agency_sees_its_own_by_point_and_no_small_count_of_others(app, demo_store, spot):
    at = app(demo_store)
    at.run()
    at.selectbox(key="m_view_as").set_value("agency:SAPS").run()
    at.switch_page("pages/areas.py").run()
    at = choose_point(at, *spot)
    inside = reference(demo_store, *spot, RADIUS)
    agencies = table(at, "Agency").set_index("Agency")["Incidents"]
    assert agencies["SAPS"] == f"{(inside['agency'] == 'SAPS').sum():,}"
    for agency, text in agencies.items():
        if agency != "SAPS":
            assert text == "fewer than 3" or int(text.replace(",", "")) >= 3
    rule = " ".join(c.value for c in at.caption).replace("\\", "")
    assert "Your own (SAPS) incidents are counted by their own location" in rule
    assert "cells of about 250 m that lie wholly inside the area" in rule


def test_a_public_viewer_counts_in_the_published_cells_only(app, demo_store, spot):
    at = app(demo_store)
    at.run()
    at.selectbox(key="m_view_as").set_value("public").run()
    at.switch_page("pages/areas.py").run()
    assert not at.exception
    keys = {getattr(w, "key", None) for w in at.sidebar}
    assert "a_months" in keys and not keys & {"f_agencies", "f_categories", "f_dates"}
    at = choose_point(at, *spot, radius=5000)
    site = store_site(open_store(demo_store), PrivacyRules())
    month = site.months[-1]
    expected = public_area_counts(site, (month,), buffer_area(*spot, 5000))
    first = expected.groups.iloc[0]
    assert metric(at) == expected.text(first["count"], first["partial"], first["cells"])
    shown = table(at, "Published group")
    assert shown["Published group"].tolist() == expected.groups["group"].tolist()
    assert not any(d.value.columns[0] in ("Agency", "Category") for d in [*at.dataframe, *at.table])
    assert any("published monthly map alone" in c.value for c in at.caption)


def test_a_drawn_shape_is_counted(app, demo_store, spot):
    lat, lon = spot
    ring = [[lon - 0.01, lat - 0.01], [lon + 0.01, lat - 0.01], [lon + 0.01, lat + 0.01],
            [lon - 0.01, lat + 0.01], [lon - 0.01, lat - 0.01]]  # fmt: skip
    drawing = {"type": "Feature", "properties": {},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    at = areas_page(app(demo_store))
    assert "Draw a polygon or a rectangle" in at.info[0].value
    at.session_state["a_map"] = {"all_drawings": [drawing], "zoom": 13, "bounds": None}
    at.run()
    assert not at.exception
    points = open_store(demo_store).incidents
    area = gpd.GeoDataFrame(geometry=[drawn_area([drawing]).geometry], crs=4326)
    inside = gpd.sjoin(points, area, predicate="within")
    assert at.subheader[0].value == "Drawn area"
    assert metric(at) == f"{len(inside):,}"


def test_a_click_on_the_map_sets_the_point(app, demo_store, spot):
    at = areas_page(app(demo_store))
    at.radio(key="a_mode").set_value("point").run()
    at.session_state["a_map"] = {"last_clicked": {"lat": spot[0], "lng": spot[1]}}
    at.run()
    assert at.text_input(key="a_point").value == f"{spot[0]:.5f}, {spot[1]:.5f}"
    assert metric(at) == f"{len(reference(demo_store, *spot, 500)):,}"  # the default radius


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("Main Road", "is not a point"),
        ("118.42, -33.92", "out of range"),
        ("18.42, -33.92", "did you mean -33.92, 18.42?"),
    ],
)
def test_a_point_that_is_not_one_says_so(app, demo_store, typed, message):
    at = areas_page(app(demo_store))
    at.radio(key="a_mode").set_value("point").run()
    at.text_input(key="a_point").input(typed).run()
    assert not at.exception
    assert message in at.error[0].value.replace("\\", "")
    assert not at.metric


@pytest.fixture
def address_file(tmp_path, spot) -> Path:
    lat, lon = spot
    path = tmp_path / "address_points.csv"
    path.write_text(
        "ADR_NO,STR_NAME,SUBURB,LAT,LON\n"
        f"12,Main Road,Claremont,{lat},{lon}\n"
        f"14,Main Road,Claremont,{lat + 0.001},{lon}\n"
        "7,Church Street,Far Away,-26.2,28.04\n"
    )
    return path


def test_an_address_and_a_radius(app, demo_store, spot, address_file):
    at = areas_page(app(demo_store, "--addresses", str(address_file)))
    at.radio(key="a_mode").set_value("address").run()
    assert "2 address points" in at.info[0].value
    assert "Address points: 2 of 3 usable" in [e.label for e in at.expander]
    at.text_input(key="a_search").input("12 main").run()
    [matches] = [s for s in at.selectbox if s.key.startswith("a_match_")]
    assert matches.options == ["12 Main Road, Claremont"]
    at.number_input(key="a_radius").set_value(RADIUS).run()
    assert not at.exception
    assert at.subheader[0].value == md(f"{RADIUS:,} m around 12 Main Road, Claremont")
    assert metric(at) == f"{len(reference(demo_store, *spot, RADIUS)):,}"
    at.text_input(key="a_search").input("Long Street").run()
    assert "No address point matches Long Street" in at.info[0].value.replace("\\", "")


def test_without_an_address_file_no_address_mode_is_offered(app, demo_store):
    at = areas_page(app(demo_store))
    assert at.radio(key="a_mode").options == ["Draw on the map", "A point and a radius"]
