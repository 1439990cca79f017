"""The incident list (issue 18): sorting on every column, paging edges, and only the rows a
viewer sees in full, never other agencies' or sensitive ones they may only count."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.access.sight import apply_policy
from layers.maps import listing
from layers.maps.listing import (
    LIST_COLUMNS,
    SORT_KEYS,
    IncidentRecords,
    incident_page,
    listed_at,
    listed_in_view,
    page_of,
    position,
    store_order,
)
from layers.storage.columnar import IncidentColumns, select
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

ANALYST = Policy(Viewer("ana", "analyst"))
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))
METRO = Policy(Viewer("metro", "agency", agency="Metro Police"))
PUBLIC = Policy(Viewer("cpf", "public"))
EVERYTHING = IncidentFilter()

# Ten hand-made incidents: (id, agency, category, ward, occurred_at UTC). Wards 9, 10 and 2
# test natural order; one has no ward; two share a time.
ROWS = [
    ("S-1", "SAPS", "Burglary", "10", "2026-01-05T08:00:00Z"),
    ("S-2", "SAPS", "Sexual offences", "9", "2026-01-07T08:00:00Z"),
    ("M-1", "Metro Police", "Assault", "2", "2026-01-06T08:00:00Z"),
    ("S-3", "SAPS", "assault", None, "2026-01-03T08:00:00Z"),
    ("M-2", "Metro Police", "Sexual offences", "9", "2026-01-08T08:00:00Z"),
    ("L-1", "LEAP", "Burglary", "10", "2026-01-06T08:00:00Z"),
    ("S-4", "SAPS", "Burglary", "2", "2026-01-01T22:30:00Z"),
    ("M-3", "Metro Police", "Burglary", "9", "2026-01-02T08:00:00Z"),
    ("S-5", "SAPS", "Theft", "9", "2026-01-09T08:00:00Z"),
    ("L-2", "LEAP", "Theft", "2", "2026-01-04T08:00:00Z"),
]


def frame(rows: list[tuple] = ROWS) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["incident_id", "agency", "category", "ward", "occurred_at"])
    out["occurred_at"] = pd.to_datetime(out["occurred_at"], utc=True)
    out["collaboration_area"] = np.where(out["category"].eq("Sexual offences"),
                                         "Gender-based violence", "Property crime")  # fmt: skip
    out["precinct"] = ["P" + str(i % 3) for i in range(len(out))]
    out["lon"] = 18.4 + np.arange(len(out)) * 0.01
    out["lat"] = -33.9 - np.arange(len(out)) * 0.01
    return out


@pytest.fixture
def tiny() -> tuple[IncidentColumns, IncidentRecords]:
    incidents = frame()
    return IncidentColumns.from_frame(incidents), IncidentRecords.from_frame(incidents)


def ids(columns, records, policy=ANALYST, flt=EVERYTHING, *, by="occurred_at",
        descending=True) -> list[str]:  # fmt: skip
    mask = None if flt.is_empty else select(columns, flt)
    sight = apply_policy(policy, columns, mask, flt)
    listed = listing.listing(sight, store_order(columns, records, by=by, descending=descending))
    pages = listing.pages_of(len(listed), 1000)
    shown = [
        incident_page(columns, records, listed, page=n, size=1000) for n in range(1, pages + 1)
    ]
    return [incident for page in shown for incident in page.rows["incident_id"]]


def test_newest_first_by_default_and_oldest_first_reversed(tiny):
    newest = ids(*tiny)
    assert newest == ["S-5", "M-2", "S-2", "L-1", "M-1", "S-1", "L-2", "S-3", "M-3", "S-4"]
    # L-1 and M-1 share a time: store order, reversed when newest come first
    assert ids(*tiny, descending=False) == newest[::-1]


def test_sorted_by_id_as_text(tiny):
    assert ids(*tiny, by="incident_id", descending=False) == sorted(r[0] for r in ROWS)
    assert ids(*tiny, by="incident_id") == sorted((r[0] for r in ROWS), reverse=True)


def test_sorted_by_a_coded_column_in_natural_order_newest_first_within(tiny):
    # 2 before 9 before 10, however the labels were coded; no ward last, either way.
    assert ids(*tiny, by="ward", descending=False) == [
        "M-1", "L-2", "S-4", "S-5", "M-2", "S-2", "M-3", "L-1", "S-1", "S-3"]  # fmt: skip
    assert ids(*tiny, by="ward") == [
        "L-1", "S-1", "S-5", "M-2", "S-2", "M-3", "M-1", "L-2", "S-4", "S-3"]  # fmt: skip
    # Case is ignored: "assault" and "Assault" together, the newest first.
    assert ids(*tiny, by="category", descending=False)[:2] == ["M-1", "S-3"]
    assert ids(*tiny, by="agency", descending=False)[:2] == ["L-1", "L-2"]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("by", SORT_KEYS)
def test_every_sort_matches_a_pandas_sort_of_the_store(demo_store, by, descending):
    snapshot = open_store(demo_store)
    columns, records = snapshot.columns, listing.read_records(snapshot)
    flt = IncidentFilter(agencies=("SAPS", "LEAP"), since="2025-06-01")
    got = ids(columns, records, flt=flt, by=by, descending=descending)
    # The reference: pandas on the stored incidents, filtered and sorted the documented way.
    raw = snapshot.incidents
    when = raw["occurred_at"].dt.tz_convert("Africa/Johannesburg")
    kept = raw[
        raw["agency"].isin(["SAPS", "LEAP"]) & (when.dt.date >= pd.Timestamp("2025-06-01").date())
    ]
    kept = kept.assign(position=np.arange(len(kept)))
    if by == "occurred_at":
        expected = kept.sort_values(["occurred_at", "position"], kind="stable")
        expected = expected[::-1] if descending else expected
    elif by == "incident_id":
        expected = kept.sort_values("incident_id", kind="stable", ascending=not descending)
    else:
        natural = kept[by].astype(str).map(
            lambda v: tuple((0, int(p)) if p.isdecimal() else (1, p)
                            for p in re.split(r"(\d+)", v.casefold()) if p))  # fmt: skip
        ranks = {v: n for n, v in enumerate(sorted(set(natural)))}
        rank = natural.map(ranks)
        expected = kept.assign(rank=-rank if descending else rank).sort_values(
            ["rank", "occurred_at", "position"], ascending=[True, False, True], kind="stable"
        )
    assert got == list(expected["incident_id"])
    assert len(got) > 100


def test_pages_hold_the_list_in_order_and_say_where_they_are(tiny):
    columns, records = tiny
    listed = listing.listing(apply_policy(ANALYST, columns, None, EVERYTHING),
                             store_order(columns, records))  # fmt: skip
    pages = [incident_page(columns, records, listed, page=n, size=4) for n in (1, 2, 3)]
    assert [p.pages for p in pages] == [3, 3, 3]
    assert [(p.first, p.last, len(p.rows)) for p in pages] == [(1, 4, 4), (5, 8, 4), (9, 10, 2)]
    assert [i for p in pages for i in p.rows["incident_id"]] == ids(*tiny)
    assert list(pages[0].rows.columns) == list(LIST_COLUMNS)
    assert list(pages[0].rows.index) == list(listed[:4])  # indexed by store row
    with pytest.raises(ValueError, match=r"`page` must be a whole number from 1 to 3"):
        incident_page(columns, records, listed, page=4, size=4)
    with pytest.raises(ValueError, match=r"`page` must be .* not 0"):
        incident_page(columns, records, listed, page=0, size=4)
    for size in (0, 1001, 2.5):
        with pytest.raises(ValueError, match=r"`size` must be a whole number from 1 to 1000"):
            incident_page(columns, records, listed, size=size)
    one = incident_page(columns, records, listed, page=10, size=1)
    assert (one.first, one.last, one.pages) == (10, 10, 10)


def test_a_page_shows_local_times_labels_and_positions(tiny):
    columns, records = tiny
    listed = listing.listing(apply_policy(ANALYST, columns, None, EVERYTHING),
                             store_order(columns, records, descending=False))  # fmt: skip
    first = incident_page(columns, records, listed, size=2).rows.iloc[0]
    # S-4: 22:30 UTC on 1 January is 00:30 on the 2nd in Cape Town.
    assert first["incident_id"] == "S-4"
    assert first["occurred_at"] == "2026-01-02T00:30:00+02:00"
    assert (first["agency"], first["ward"], first["precinct"]) == ("SAPS", "2", "P0")
    assert first["lat"] == pytest.approx(-33.96) and first["lon"] == pytest.approx(18.46)
    missing = incident_page(columns, records, listed, size=10).rows.set_index("incident_id")
    assert pd.isna(missing.loc["S-3", "ward"])


def test_no_incidents_is_one_empty_page(tiny):
    columns, records = tiny
    flt = IncidentFilter(agencies=("Nobody",))
    sight = apply_policy(ANALYST, columns, select(columns, flt), flt)
    listed = listing.listing(sight, store_order(columns, records))
    page = incident_page(columns, records, listed)
    assert (page.total, page.pages, page.first, page.last, len(page.rows)) == (0, 1, 0, 0, 0)
    assert list(page.rows.columns) == list(LIST_COLUMNS)


def test_an_agency_lists_only_its_own_incidents_sensitive_ones_included(tiny):
    assert ids(*tiny, SAPS) == ["S-5", "S-2", "S-1", "S-3", "S-4"]
    assert ids(*tiny, METRO, by="incident_id", descending=False) == ["M-1", "M-2", "M-3"]
    flt = IncidentFilter(wards=("9",))  # a ward filter: partners' rows count in no figure here
    assert ids(*tiny, SAPS, flt) == ["S-5", "S-2"]
    assert ids(*tiny, ANALYST, flt) == ["S-5", "M-2", "S-2", "M-3"]


def test_partners_and_sensitive_rows_are_never_listed_for_any_rules(tiny):
    """Whatever the rules share with partners (cells, wards, precincts), an agency lists its
    own rows and nothing else; the public lists nothing."""
    columns, records = tiny
    for partner_level in ("cell", "ward", "precinct", "city"):
        rules = PrivacyRules(partner_level=partner_level, k=1)
        for viewer in (SAPS.viewer, METRO.viewer):
            sight = apply_policy(Policy(viewer, rules), columns, None, EVERYTHING)
            listed = listing.listing(sight, store_order(columns, records))
            agencies = np.asarray(columns.labels["agency"])[columns.codes["agency"][listed]]
            assert set(agencies) == {viewer.agency}
        public = apply_policy(Policy(PUBLIC.viewer, rules), columns, None, EVERYTHING)
        assert len(listing.listing(public, store_order(columns, records))) == 0


def test_other_agencies_incidents_change_nothing_an_agency_is_listed(demo_store):
    """The list of SAPS's incidents, in every order, is the same on the store as on the store
    without any other agency's incidents: nothing in it tells of theirs."""
    incidents = open_store(demo_store).incidents
    own = incidents[incidents["agency"] == "SAPS"].reset_index(drop=True)
    assert 0 < len(own) < len(incidents)
    flt = IncidentFilter(since="2025-03-01", hours=(18, 6))
    for by in SORT_KEYS:
        lists = []
        for stored in (incidents, own):
            columns, records = (
                IncidentColumns.from_frame(stored),
                IncidentRecords.from_frame(stored),
            )
            lists.append(ids(columns, records, SAPS, flt, by=by))
        assert lists[0] == lists[1], by
        assert lists[0]


def test_a_viewers_list_is_its_sight_in_full(tiny):
    columns, records = tiny
    order = store_order(columns, records)
    flt = IncidentFilter(agencies=("SAPS", "LEAP"))
    listed = listing.listing(apply_policy(ANALYST, columns, select(columns, flt), flt), order)
    assert sorted(listed) == list(np.flatnonzero(select(columns, flt)))
    assert not listed.flags.writeable  # shared by every session of the role


def test_finding_an_incident_in_the_list_and_on_the_map(tiny):
    columns, records = tiny
    listed = listing.listing(apply_policy(SAPS, columns, None, EVERYTHING),
                             store_order(columns, records))  # fmt: skip
    row = listed[3]
    assert position(listed, row) == 3 and page_of(listed, row, size=2) == 2
    metro_row = int(np.flatnonzero(records.incident_id.to_numpy(zero_copy_only=False) == "M-1")[0])
    assert position(listed, metro_row) is None and page_of(listed, metro_row, size=2) is None
    # A click comes back at the 5 decimals the map writes.
    lat, lon = round(records.lat[row], 5), round(records.lon[row], 5)
    assert list(listed_at(listed, records, lat=lat, lon=lon)) == [row]
    # Another agency's incident is never found, even clicked where it is.
    lat, lon = records.lat[metro_row], records.lon[metro_row]
    assert len(listed_at(listed, records, lat=lat, lon=lon)) == 0
    box = (18.4, -34.0, 18.455, -33.8)  # the first six incidents by longitude, of them SAPS's
    inside = listed_in_view(columns, listed, box, limit=10)
    assert sorted(records.incident_id.take(inside).to_pylist()) == ["S-1", "S-2", "S-3"]
    assert list(listed_in_view(columns, listed, box, limit=2)) == list(inside[:2])


def test_bad_requests_say_what_is_wrong(tiny):
    columns, records = tiny
    with pytest.raises(ValueError, match="`by` must be one of occurred_at, incident_id"):
        store_order(columns, records, by="description")  # type: ignore[arg-type]
    half = IncidentRecords.from_frame(frame(ROWS[:5]))
    with pytest.raises(ValueError, match="different store versions"):
        store_order(columns, half)
    sight = apply_policy(ANALYST, IncidentColumns.from_frame(frame(ROWS[:5])), None, EVERYTHING)
    with pytest.raises(ValueError, match="another version of the store"):
        listing.listing(sight, store_order(columns, records))
    with pytest.raises(ValueError, match=r"lacks column.* incident_id"):
        IncidentRecords.from_frame(frame().drop(columns="incident_id"))
