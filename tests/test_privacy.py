"""Aggregated views protect victims: anonymous cells, k-suppression, sensitive categories."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import pytest

from layers.access.policy import Policy, PrivacyRules, Viewer, anonymous_shift, filter_level
from layers.access.sight import apply_policy
from layers.access.suppression import disclose, hide
from layers.analysis.figures import (
    count,
    heat_figure,
    review_figures,
    rows,
    side_figures,
    side_view,
)
from layers.storage.columnar import IncidentColumns, area_counts, heat_grid, mercator_pixels
from layers.storage.filters import IncidentFilter
from layers.storage.join import OUTSIDE

PUBLIC = Policy(Viewer("cpf", "public"))
ANALYST = Policy(Viewer("analyst", "analyst"))
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))


# Each figure as a page gets it: the access step once, the figure, suppression once.
def seen(figure, cols, policy, flt=None):
    sight = apply_policy(policy, cols, None, flt or IncidentFilter())
    return disclose({"figure": figure(sight)}, sight.k)["figure"]


def seen_heat(cols, mask, policy, **kw):
    assert mask is None
    return seen(lambda sight: heat_figure(sight, **kw), cols, policy)


def seen_area_counts(cols, mask, policy, *, by, names, flt=None):
    assert mask is None
    by_area = partial(area_counts, by=by, names=names)
    return seen(lambda sight: count(sight, by_area, level=by), cols, policy, flt)


def seen_figures(cols, mask, policy, flt, *, boundary):
    assert mask is None
    sight = apply_policy(policy, cols, None, flt)
    return side_view(disclose(side_figures(sight, boundary=boundary), sight.k), boundary=boundary)


def seen_top_areas(cols, mask, policy, *, by, flt=None):
    return seen_figures(cols, mask, policy, flt or IncidentFilter(), boundary=by)["top"]


def seen_review(cols, mask, policy, flt, *, by, today):
    assert mask is None
    sight = apply_policy(policy, cols, None, flt)
    shown = disclose(review_figures(sight, by=by, today=today), sight.k)
    return shown["table"], shown["grid"], shown["weekly"]


def seen_rows(cols, mask, policy, *, level):
    assert mask is None
    sight = apply_policy(policy, cols, None, IncidentFilter())
    return rows(sight, level)


def incidents(points: list[tuple[float, float, str, str]], *, ward: str = "W1") -> IncidentColumns:
    """Coded columns of (lon, lat, agency, category) incidents, all in precinct P1."""
    frame = pd.DataFrame(
        {
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "agency": [p[2] for p in points],
            "category": [p[3] for p in points],
        }
    )
    frame["collaboration_area"] = np.where(
        frame["category"].eq("Sexual offences"), "Gender-based violence", "Property crime"
    )
    frame["precinct"] = "P1"
    frame["ward"] = ward
    frame["occurred_at"] = pd.Timestamp("2026-11-20T10:00:00Z")
    return IncidentColumns.from_frame(frame)


Point = tuple[float, float, str, str]


def spread(n: int, lon: float, lat: float, *, agency="Metro Police", category="Burglary",
           jitter_m: float = 40.0, seed: int = 0) -> list[Point]:  # fmt: skip
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-jitter_m, jitter_m, (2, n)) / 111_000
    return [(lon + a, lat + b, agency, category) for a, b in zip(dx, dy, strict=True)]


def on_anonymous_grid(cells: pd.DataFrame, rules: PrivacyRules) -> bool:
    """Every cell is drawn at the centre of a cell of the fixed anonymous grid."""
    scale = 2.0**rules.anonymous_shift
    px, py = mercator_pixels(cells["lon"].to_numpy(), cells["lat"].to_numpy(), 0)
    fx, fy = px * scale % 1, py * scale % 1
    return bool(np.allclose(fx, 0.5, atol=1e-6) and np.allclose(fy, 0.5, atol=1e-6))


def test_the_anonymous_cell_is_at_least_the_configured_width():
    rules = PrivacyRules()
    edge_m = 2 * math.pi * 6_378_137 / 256 / 2**rules.anonymous_shift
    for lat in (-33.9, -34.36, -30.0):
        assert edge_m * math.cos(math.radians(lat)) >= rules.anonymous_cell_m
    assert anonymous_shift(1000) < anonymous_shift(250) < anonymous_shift(50)


def test_public_heat_is_on_the_anonymous_grid_whatever_the_zoom():
    cols = incidents(spread(40, 18.60, -33.95) + spread(25, 18.50, -33.90, seed=1))
    rules = PUBLIC.rules
    by_zoom = {}
    for zoom in range(11, 19):
        cells = seen_heat(cols, None, PUBLIC, zoom=zoom, bin_px=16)
        assert on_anonymous_grid(cells, rules)
        assert cells["weight"].sum() == 65
        by_zoom[zoom] = cells.sort_values(["lat", "lon"], ignore_index=True)
    # Zooming in shows the same cells: nothing more is learnt from a closer look.
    for zoom in range(12, 19):
        pd.testing.assert_frame_equal(by_zoom[zoom], by_zoom[11], check_exact=False, rtol=1e-9)
    # An analyst at zoom 16 gets cells far finer than the anonymous grid (the check has teeth).
    fine = seen_heat(cols, None, ANALYST, zoom=16)
    assert len(fine) > 3 * len(by_zoom[16])
    assert not on_anonymous_grid(fine, rules)


def test_cells_with_fewer_than_k_incidents_are_dropped():
    lonely = spread(2, 18.70, -34.00, jitter_m=5)  # two incidents, one anonymous cell
    busy = spread(3, 18.40, -33.80, jitter_m=5, seed=2)
    cols = incidents(lonely + busy)
    cells = seen_heat(cols, None, PUBLIC, zoom=15)
    assert cells["weight"].tolist() == [3]
    assert abs(cells["lon"].iloc[0] - 18.40) < 0.01
    cells_k2 = seen_heat(cols, None, Policy(PUBLIC.viewer, PrivacyRules(k=2)), zoom=15)
    assert sorted(cells_k2["weight"]) == [2, 3]
    # The analyst sees both, at their own positions.
    assert seen_heat(cols, None, ANALYST, zoom=15)["weight"].sum() == 5


def test_suppressed_heat_carries_k_to_its_legend():
    """The heat legend (layers.maps.webmap.heat_layer) prints no value below the k the cells were
    suppressed with; an analyst's cells carry none."""
    import re

    from layers.maps.webmap import heat_layer

    cols = incidents(spread(40, 18.40, -33.80, jitter_m=300) + spread(3, 18.7, -34.0, seed=2))
    cells = seen_heat(cols, None, Policy(SAPS.viewer, PrivacyRules(k=5)), zoom=15)
    assert cells.attrs["k"] == 5
    assert "k" not in seen_heat(cols, None, ANALYST, zoom=15).attrs

    def labels(cells: pd.DataFrame) -> list[float]:
        (legend,) = (c.content for c in heat_layer(cells, max_zoom=15)._children.values()
                     if hasattr(c, "content"))  # fmt: skip
        return [float(v.replace(",", "")) for v in re.findall(r'">([\d.,]+)</span>', legend)]

    assert labels(cells) and min(labels(cells)) >= 5
    unsuppressed = cells.copy()
    unsuppressed.attrs = {}
    assert min(labels(unsuppressed)) < 5  # the check has teeth: 0 at least


def test_sensitive_incidents_never_reach_cells_or_ward_counts():
    burglaries = spread(10, 18.60, -33.95, jitter_m=5)
    offences = spread(10, 18.45, -33.85, category="Sexual offences", jitter_m=5, seed=3)
    cols = incidents(burglaries + offences)
    cells = seen_heat(cols, None, PUBLIC, zoom=13)
    assert cells["weight"].sum() == 10
    assert (cells["lon"] > 18.55).all()  # nothing where the offences are
    wards = seen_area_counts(cols, None, PUBLIC, by="ward", names=["W1"])
    precincts = seen_area_counts(cols, None, PUBLIC, by="precinct", names=["P1"])
    assert wards["W1"] == 10 and precincts["P1"] == 20
    # configurable: counted nowhere below the city, or down to wards
    city = Policy(PUBLIC.viewer, PrivacyRules(sensitive_level="city"))
    assert seen_area_counts(cols, None, city, by="precinct", names=["P1"])["P1"] == 10
    ward = Policy(PUBLIC.viewer, PrivacyRules(sensitive_level="ward"))
    assert seen_area_counts(cols, None, ward, by="ward", names=["W1"])["W1"] == 20
    assert seen_heat(cols, None, ward, zoom=13)["weight"].sum() == 10


def test_sensitive_means_category_or_collaboration_area_in_any_case():
    cols = incidents(spread(3, 18.6, -33.9, category="DOMESTIC VIOLENCE")
                     + spread(3, 18.6, -33.9, category="Sexual offences"))  # fmt: skip
    assert seen_rows(cols, None, PUBLIC, level="cell").sum() == 0
    assert seen_rows(cols, None, PUBLIC, level="precinct").all()


def test_small_area_counts_read_as_suppressed():
    cols = incidents(spread(2, 18.6, -33.9))
    counts = seen_area_counts(cols, None, PUBLIC, by="precinct", names=["P1", "P2"])
    # zero is hidden too: a blank must not tell "none" from "one or two"
    assert counts.isna().all()
    assert seen_area_counts(cols, None, ANALYST, by="precinct", names=["P1"])["P1"] == 2


@pytest.mark.parametrize(
    ("counts", "hidden"),
    [
        ([10, 8, 1], [False, True, True]),  # a lone hidden 1 would be the total minus 18
        ([10, 8, 0, 0], [False, False, True, True]),  # hidden, but holding nothing
        ([10, 8, 1, 0], [False, True, True, True]),  # two hidden but holding only 1
        ([10, 8, 2, 2], [False, False, True, True]),  # two hidden holding 4: safe
        ([5, 4, 3], [False, False, False]),
        ([1, 1], [True, True]),
    ],
)
def test_hidden_counts_cannot_be_worked_out_from_a_total(counts, hidden):
    assert hide(pd.Series(counts), 3).tolist() == hidden


def test_top_areas_leave_out_hidden_areas_and_their_cover():
    cols = incidents(spread(5, 18.6, -33.9) + spread(1, 18.6, -33.9), ward="W1")
    cols2 = IncidentColumns.from_frame(
        pd.DataFrame({"lon": 18.6, "lat": -33.9, "agency": "Metro Police", "category": "Burglary",
                      "collaboration_area": "Property crime", "ward": "W1",
                      "precinct": ["P1"] * 5 + ["P2"] * 4 + ["P3"],
                      "occurred_at": pd.Timestamp("2026-11-20T10:00:00Z")})
    )  # fmt: skip
    top = seen_top_areas(cols2, None, PUBLIC, by="precinct")
    assert top["precinct"].tolist() == ["P1"]  # P3's 1 hidden, and P2 with it
    assert seen_top_areas(cols, None, ANALYST, by="ward")["incidents"].tolist() == [6]


def test_an_agency_sees_its_own_incidents_in_full_and_others_aggregated():
    own = spread(2, 18.70, -34.00, agency="SAPS", category="Sexual offences", jitter_m=300)
    others = spread(2, 18.40, -33.80, jitter_m=5, seed=4)
    cols = incidents(own + others)
    cells = seen_heat(cols, None, SAPS, zoom=16)
    assert cells["weight"].sum() == 2  # own two (sensitive too), the others' pair suppressed
    exact = heat_grid(cols, np.array([True, True, False, False]), zoom=16)
    pd.testing.assert_frame_equal(
        cells.sort_values("lon", ignore_index=True), exact.sort_values("lon", ignore_index=True),
        check_exact=False, rtol=1e-12,
    )  # fmt: skip
    # The ward holds 4 the agency may count, but only 2 of other agencies': subtracting its
    # own would give those away, so the count is hidden.
    assert seen_area_counts(cols, None, SAPS, by="ward", names=["W1"]).isna().all()
    more = incidents(own + others + spread(1, 18.40, -33.80, seed=5))
    assert seen_area_counts(more, None, SAPS, by="ward", names=["W1"])["W1"] == 5


def test_a_ward_filter_drops_sensitive_incidents_from_every_figure():
    assert filter_level(IncidentFilter(wards=("W1",))) == "ward"
    assert filter_level(IncidentFilter(precincts=("P1",))) == "precinct"
    assert filter_level(IncidentFilter(agencies=("SAPS",))) == "city"
    cols = incidents(spread(4, 18.6, -33.9, category="Sexual offences") + spread(5, 18.6, -33.9))
    assert (
        seen_rows(cols, None, PUBLIC, level=filter_level(IncidentFilter(wards=("W1",)))).sum() == 5
    )
    assert seen_rows(cols, None, ANALYST, level="ward") is None


def test_figures_under_a_ward_filter_hide_everything_a_small_count_gives_away():
    cols = incidents(spread(2, 18.6, -33.9))
    ward = IncidentFilter(wards=("W1",))
    figures = seen_figures(cols, None, PUBLIC, ward, boundary="ward")
    head = figures["headline"]
    assert figures["hidden"] and head["incidents"] is None and head["first"] is None
    assert head["agencies"] is None and head["outside"] is None
    assert figures["weekly"].isna().all().all()  # the weekly chart would add up to 2
    city = seen_figures(cols, None, PUBLIC, IncidentFilter(), boundary="ward")
    assert not city["hidden"] and city["headline"]["incidents"] == 2
    full = seen_figures(cols, None, ANALYST, ward, boundary="ward")
    assert full["headline"]["incidents"] == 2 and full["weekly"].sum().sum() == 2


def test_an_agency_cannot_subtract_its_own_from_a_figure():
    cols = incidents(spread(5, 18.6, -33.9, agency="SAPS") + spread(2, 18.6, -33.9))
    figures = seen_figures(cols, None, SAPS, IncidentFilter(wards=("W1",)), boundary="ward")
    assert figures["hidden"]  # 7 in the ward, but only 2 of other agencies
    weekly = figures["weekly"]
    assert weekly["SAPS"].sum() == 5 and weekly["Metro Police"].isna().all()


def full_grid_days() -> list[str]:
    from layers.analysis.compstat import WEEKDAYS

    return list(WEEKDAYS)


def test_a_review_hides_small_counts_rows_by_agency_under_a_ward_filter_and_the_grid():
    cols = incidents(spread(2, 18.6, -33.9) + spread(5, 18.6, -33.9, agency="SAPS"))
    today = pd.Timestamp("2026-11-25").date()
    ward = IncidentFilter(wards=("W1",))
    table, grid, weekly = seen_review(cols, None, PUBLIC, ward, by="agency", today=today)
    rows = table.set_index("agency")
    assert np.isnan(rows.loc["Metro Police", "week"]) and np.isnan(rows.loc["SAPS", "week"])
    assert np.isnan(rows.loc["Metro Police", "week_change"])
    assert rows["week"].iloc[-1] == 7  # the total: two hidden rows holding 7 give nothing away
    assert grid.stack().dropna().ge(3).all() and grid.stack().isna().any()
    assert grid.index.tolist() == full_grid_days()  # Monday first, as the analyst's
    assert weekly.isna().all().all()
    full, full_grid, _ = seen_review(cols, None, ANALYST, ward, by="agency", today=today)
    assert full.set_index("agency").loc["Metro Police", "week"] == 2
    assert full_grid.to_numpy().sum() == 7
    # citywide, agencies are not areas: nothing to hide
    city, _, _ = seen_review(cols, None, PUBLIC, IncidentFilter(), by="agency", today=today)
    assert city.set_index("agency").loc["Metro Police", "week"] == 2


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"k": 0}, "at least 1"),
        ({"k": 2.5}, "whole number"),
        ({"sensitive_level": "cell"}, "ward, precinct or city"),
        ({"anonymous_cell_m": 1}, "between 10 and 50000"),
        ({"sensitive_categories": "Rape"}, "list of names"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_bad_privacy_settings_say_what_is_wrong(values, message):
    with pytest.raises(ValueError, match=message):
        PrivacyRules.from_mapping(values)


def test_public_heat_is_drawn_with_a_radius_to_match_its_cells(tmp_path, boundary_files):
    from layers.maps.view import prepare_map
    from layers.maps.webmap import HEAT_RADIUS
    from layers.storage.ingest import ingest
    from layers.storage.store import open_store

    p, w = boundary_files
    rows = pd.DataFrame({"incident_id": [f"I{i}" for i in range(6)], "agency": "SAPS",
                         "category": "Burglary", "occurred_at": "2026-01-05T10:00:00",
                         "lat": -33.97, "lon": 18.05})  # fmt: skip
    rows.to_csv(tmp_path / "rows.csv", index=False)
    ingest(tmp_path / "store", [tmp_path / "rows.csv"], precincts=p, wards=w)
    snapshot = open_store(tmp_path / "store")
    flt = IncidentFilter()
    assert prepare_map(snapshot, flt, zoom=16, policy=ANALYST).heat_radius == HEAT_RADIUS
    public = prepare_map(snapshot, flt, zoom=16, policy=PUBLIC)
    # a 250 m cell is 2**(16 - 9) = 128 px at zoom 16; the heat's bins (0.9 radius) match it
    assert public.heat_radius == math.ceil(128 / 0.9)
    assert prepare_map(snapshot, flt, zoom=10, policy=PUBLIC).heat_radius == HEAT_RADIUS


def test_a_sensitive_category_under_a_ward_filter_shows_no_count_in_precinct_areas():
    """Precinct counts under a ward filter are counts of a ward's piece of each precinct: the
    sensitive rule judges them as ward counts (the filter's level, not the layer's)."""
    cols = incidents(spread(6, 18.6, -33.9, agency="Metro Police", category="Sexual offences"))
    ward_filter = IncidentFilter(wards=("W1",), categories=("Sexual offences",))
    for policy in (PUBLIC, SAPS):
        counts = seen_area_counts(cols, None, policy, by="precinct", names=["P1"],
                                     flt=ward_filter)  # fmt: skip
        assert counts.isna().all(), policy.viewer.label
        top = seen_top_areas(cols, None, policy, by="precinct", flt=ward_filter)
        assert top.empty
    # Without the ward filter a precinct count of a sensitive category is allowed.
    assert seen_area_counts(cols, None, SAPS, by="precinct", names=["P1"])["P1"] == 6
    assert seen_area_counts(cols, None, ANALYST, by="precinct", names=["P1"],
                               flt=ward_filter)["P1"] == 6  # fmt: skip


def test_partner_level_keeps_other_agencies_out_of_finer_views():
    own = spread(4, 18.70, -34.00, agency="SAPS")
    others = spread(9, 18.40, -33.80, seed=4)
    cols = incidents(own + others)
    coarse = Policy(SAPS.viewer, PrivacyRules(partner_level="precinct"))
    assert seen_heat(cols, None, coarse, zoom=14)["weight"].sum() == 4  # own only
    assert seen_heat(cols, None, SAPS, zoom=14)["weight"].sum() == 13
    ward = seen_area_counts(cols, None, coarse, by="ward", names=["W1"])["W1"]
    assert pd.isna(ward) or ward == 4  # the others' 9 are not in it
    assert seen_area_counts(cols, None, coarse, by="precinct", names=["P1"])["P1"] == 13
    with pytest.raises(ValueError, match="partner_level"):
        PrivacyRules(partner_level="street")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="partner_period"):
        PrivacyRules(partner_period="hour")


def test_a_meeting_rotation_steps_only_through_areas_whose_count_is_shown():
    # Ward W1 holds only two sexual offences: a rotation through the wards with incidents of
    # a sensitive filter would step into it, telling a viewer who may not count them there
    # that it holds some.
    from layers.analysis.figures import areas_shown

    cols = incidents(spread(2, 18.6, -33.9, category="Sexual offences"), ward="W1")
    flt = IncidentFilter(categories=("Sexual offences",))
    for policy in (PUBLIC, SAPS):
        assert areas_shown(apply_policy(policy, cols, None, flt), by="ward") == []
    assert areas_shown(apply_policy(ANALYST, cols, None, flt), by="ward") == ["W1"]
    # Enough of them, at the level they may be counted at: shown, so stepped through.
    many = incidents(spread(5, 18.6, -33.9, category="Sexual offences"), ward="W1")
    assert areas_shown(apply_policy(PUBLIC, many, None, flt), by="precinct") == ["P1"]
    assert areas_shown(apply_policy(PUBLIC, many, None, flt), by="ward") == []


def test_outside_boundaries_is_one_area_and_the_headline_shows_its_shown_count():
    cols = incidents(spread(6, 18.6, -33.9) + spread(4, 18.7, -33.8, seed=5))
    codes = cols.codes["precinct"].copy()
    labels = [*cols.labels["precinct"], OUTSIDE]
    codes[6:] = len(labels) - 1  # the last four are outside every precinct
    cols = replace(cols, codes={**cols.codes, "precinct": codes},
                   labels={**cols.labels, "precinct": labels})  # fmt: skip
    for policy in (ANALYST, PUBLIC):
        figures = seen_figures(cols, None, policy, IncidentFilter(), boundary="precinct")
        top = figures["top"].set_index("precinct")["incidents"]
        assert top.index.tolist().count(OUTSIDE) == 1 and top[OUTSIDE] == 4
        assert figures["headline"]["outside"] == 4
    # With sensitive incidents kept to the whole city, the outside count is a precinct-level
    # count without them: the headline must not show more than the table beside it.
    rules = PrivacyRules(sensitive_level="city")
    sensitive = incidents(spread(5, 18.7, -33.8, seed=5)
                          + spread(2, 18.7, -33.8, category="Sexual offences", seed=6))  # fmt: skip
    codes = np.full(len(sensitive), len(labels) - 1, dtype=sensitive.codes["precinct"].dtype)
    sensitive = replace(sensitive, codes={**sensitive.codes, "precinct": codes},
                        labels={**sensitive.labels, "precinct": labels})  # fmt: skip
    figures = seen_figures(sensitive, None, Policy(PUBLIC.viewer, rules), IncidentFilter(),
                           boundary="precinct")  # fmt: skip
    assert figures["headline"]["outside"] == 5  # not 7: the two sensitive ones stay out
    assert figures["top"].set_index("precinct")["incidents"].get(OUTSIDE, 5) == 5
