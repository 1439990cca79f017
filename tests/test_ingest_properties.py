"""Property-based: whatever rows arrive, every one is accepted or rejected with a reason."""

from __future__ import annotations

import csv
import string
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layers.intake.sources import read_incident_file
from layers.intake.validate import Extent, validate_incidents
from layers.storage.ingest import ingest
from layers.storage.store import open_store

FIXTURES = HealthCheck.function_scoped_fixture
AGENCIES = ["SAPS", "Metro Police", "LEAP", "saps", "Neighbourhood Watch", "", "Unknown Agency"]
TIMES = st.one_of(
    st.datetimes(min_value=pd.Timestamp("2015-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("2026-11-01").to_pydatetime()).map(lambda d: d.isoformat()),
    st.sampled_from(["", "not a time", "2026-13-45T10:00", "31/12/2025 10:00", "2099-01-01"]),
)  # fmt: skip
COORD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-34.3, max_value=-33.5),
    st.floats(min_value=18.2, max_value=19.0),
    st.just(0.0),
)
TEXT = st.text(alphabet=string.printable + "éü—", max_size=12)
COLUMNS = ["incident_id", "agency", "category", "occurred_at", "lat", "lon"]
ROW = st.fixed_dictionaries(
    {
        "incident_id": st.one_of(st.sampled_from(["A1", "A2", "A3"]), TEXT),
        "agency": st.sampled_from(AGENCIES),
        "category": st.one_of(st.sampled_from(["Burglary", "Common assault", ""]), TEXT),
        "occurred_at": TIMES,
        "lat": COORD,
        "lon": COORD,
    }
)


def write_csv(rows: list[dict], folder: Path) -> Path:
    path = folder / "generated.csv"
    # Every field quoted: a bare carriage return in an unquoted field is a line break to any
    # CSV reader, so the file would hold more records than rows were generated.
    pd.DataFrame(rows, columns=COLUMNS).to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, min_size=1, max_size=40))
def test_every_row_is_accepted_or_rejected_with_a_reason(rows, tmp_path_factory, taxonomy):
    path = write_csv(rows, tmp_path_factory.mktemp("prop"))
    checked = validate_incidents(
        read_incident_file(path), taxonomy=taxonomy,
        extent=Extent.of((18.3, -34.2, 18.9, -33.7)), now=pd.Timestamp("2026-11-28", tz="UTC"),
    )  # fmt: skip
    assert checked.read == len(rows)
    assert len(checked.accepted) + checked.superseded + len(checked.rejected) == checked.read
    assert checked.rejected["reject_reason"].astype(str).str.len().gt(0).all()
    accepted = checked.accepted
    assert accepted["lon"].between(17.0, 20.0).all() and accepted["lat"].between(-35.0, -33.0).all()
    assert not accepted.duplicated(["agency", "incident_id"]).any()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, min_size=1, max_size=30))
def test_ingesting_twice_changes_nothing(rows, tmp_path_factory, boundary_files):
    precinct_file, ward_file = boundary_files
    folder = tmp_path_factory.mktemp("twice")
    path = write_csv(rows, folder)
    first = ingest(folder / "store", [path], precincts=precinct_file, wards=ward_file)
    totals = first.totals()
    assert totals["read"] == totals["accepted"] + totals["rejected"] == len(rows)
    again = ingest(folder / "store", [path], precincts=precinct_file, wards=ward_file).totals()
    assert again["new"] == again["updated"] == 0
    assert again["unchanged"] + again["older"] == totals["new"] + totals["updated"]
    if totals["new"]:
        assert len(open_store(folder / "store").incidents) == totals["new"]
