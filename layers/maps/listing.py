"""The incident list: the filtered incidents a viewer sees in full, sorted, a page at a time.

A list shows incidents one by one, so it holds only the rows the access step
(:func:`layers.access.sight.apply_policy`) gives at point level
(:data:`~layers.access.sight.POINT`): every filtered incident for an analyst, an agency's own
for an agency viewer. Other agencies'
incidents, and sensitive ones the viewer may only count coarsely, are never listed, in any
position: the list, its length, its order and its exports are the same whether they exist
or not (``tests/test_listing.py``). Its one number, how many rows it holds, is a count of
rows the viewer sees in full anyway, so it needs no suppression.

Fast at millions of incidents, because nothing here sorts per request:

- :func:`store_order` sorts every incident of a store version once per sort key, on the coded
  columns (labels ranked once, then one ``argsort`` of an integer key), the incident ids with
  Arrow, the times as integers;
- :func:`listing` keeps, in that order, the rows one viewer sees of one filter: one boolean
  gather, a few milliseconds at a million;
- :func:`incident_page` materialises only the page's rows.

The dashboard caches the first per version and the second per (version, filter, role, sort).
The columns shown are the store's incident fields, with times in local ISO 8601 as every
export writes them (:func:`layers.maps.export.plain_values`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from layers._errors import StoreError
from layers.access.sight import POINT, Sight
from layers.livefeed.live import LiveSnapshot
from layers.maps.export import plain_values
from layers.settings import COORD_DECIMALS
from layers.storage.columnar import IncidentColumns, mercator_pixels
from layers.storage.store import StoreSnapshot

SortKey = Literal[
    "occurred_at", "incident_id", "agency", "category", "collaboration_area", "precinct", "ward"
]
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
#: What each sort key is called on the page.
SORT_LABELS: dict[SortKey, str] = {
    "occurred_at": "Occurred", "incident_id": "Incident id", "agency": "Agency",
    "category": "Category", "collaboration_area": "Collaboration area", "precinct": "Precinct",
    "ward": "Ward",
}  # fmt: skip
#: The columns of a listed page, named as in the store and in exports.
LIST_COLUMNS = (
    "incident_id", "occurred_at", "agency", "category", "collaboration_area", "precinct",
    "ward", "lat", "lon",
)  # fmt: skip
#: What a list shows besides the coded columns, read once per store version.
RECORD_COLUMNS = ("incident_id", "occurred_at", "lon", "lat")
MAX_PAGE_SIZE = 1000
_CODED = ("agency", "category", "collaboration_area", "precinct", "ward")
_NS_PER_S = 1_000_000_000
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True, eq=False)
class IncidentRecords:
    """What a list shows of each incident besides its coded columns, row for row with them.

    Attributes
    ----------
    incident_id : pyarrow.Array
        The incidents' ids, as text.
    occurred_ns : numpy.ndarray
        When each occurred, as int64 nanoseconds since 1970-01-01 UTC.
    lon, lat : numpy.ndarray
        Where, in degrees (EPSG:4326).
    """

    incident_id: pa.Array
    occurred_ns: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    def __len__(self) -> int:
        return len(self.occurred_ns)

    @classmethod
    def from_frame(cls, incidents: pd.DataFrame) -> IncidentRecords:
        """Records of a frame of stored incidents (columns as in :data:`RECORD_COLUMNS`)."""
        missing = [c for c in RECORD_COLUMNS if c not in incidents.columns]
        if missing:
            raise ValueError(
                f"`incidents` lacks column(s) {', '.join(missing)}: a list needs "
                f"{', '.join(RECORD_COLUMNS)} (the store's incident fields)."
            )
        times = pd.to_datetime(incidents["occurred_at"], utc=True)
        return cls(
            incident_id=pa.array(incidents["incident_id"].astype(str), type=pa.large_string()),
            occurred_ns=times.to_numpy(dtype="datetime64[ns]").view(np.int64),
            lon=incidents["lon"].to_numpy(dtype=float),
            lat=incidents["lat"].to_numpy(dtype=float),
        )


def read_records(snapshot: StoreSnapshot) -> IncidentRecords:
    """The list's records of every incident of ``snapshot``: four columns of its file, no
    geometry (a live store's, from memory)."""
    if isinstance(snapshot, LiveSnapshot):
        frame = snapshot.frame
        if frame is None:
            frame = pd.DataFrame({c: pd.Series(dtype=object) for c in RECORD_COLUMNS})
            frame["occurred_at"] = pd.Series(dtype="datetime64[ns, UTC]")
        return IncidentRecords.from_frame(frame)
    path = snapshot.folder / "incidents.parquet"
    try:
        table = pq.read_table(path, columns=list(RECORD_COLUMNS))
    except FileNotFoundError as err:
        raise StoreError(
            f"Store {snapshot.path} version {snapshot.version} is gone (a newer ingest "
            "replaced it and pruned it). Reload the page or reopen the store."
        ) from err
    return IncidentRecords.from_frame(table.to_pandas())


def store_order(
    columns: IncidentColumns,
    records: IncidentRecords,
    *,
    by: SortKey = "occurred_at",
    descending: bool = True,
) -> np.ndarray:
    """Every incident of a store version, in list order: sorted by ``by``.

    By time, ties keep store order (reversed when descending). By incident id, as text. By
    a coded column, its labels in natural order (ward 9 before ward 10, case ignored),
    missing values last either way, and the newest first within each value.

    Returns
    -------
    numpy.ndarray
        A permutation of ``range(len(columns))`` (int32 or int64).
    """
    _check_sort(by)
    if len(records) != len(columns):
        raise ValueError(
            "`records` and `columns` are of different store versions: read both from one snapshot."
        )
    index_type = np.int32 if len(columns) < 2**31 else np.int64
    if by == "occurred_at":
        order = np.argsort(records.occurred_ns, kind="stable")
    elif by == "incident_id":
        order = pc.sort_indices(records.incident_id).to_numpy()
    else:
        order = np.argsort(_coded_key(columns, records, by, descending=descending), kind="stable")
        return order.astype(index_type, copy=False)
    order = order.astype(index_type, copy=False)
    return order[::-1].copy() if descending else order


def _coded_key(
    columns: IncidentColumns, records: IncidentRecords, column: str, *, descending: bool
) -> np.ndarray:
    """One int64 per incident: its label's rank in the high bits, then the seconds before
    the newest incident, so one stable argsort orders by label and newest first."""
    keys = [_natural(label) for label in columns.labels[column]]
    distinct = sorted(set(keys))  # labels equal but for case share a rank
    places = {key: n for n, key in enumerate(distinct[::-1] if descending else distinct)}
    rank = np.empty(len(keys) + 1, dtype=np.int64)  # the last slot is code -1: missing
    rank[: len(keys)] = [places[key] for key in keys]
    rank[-1] = len(distinct)
    seconds = records.occurred_ns // _NS_PER_S
    age = seconds.max(initial=0) - seconds  # 0 for the newest; below 2**48 for 8 million years
    return (rank[columns.codes[column]] << 48) | np.clip(age, 0, 2**48 - 1)


def _natural(label: str) -> tuple[tuple[int, int | str], ...]:
    parts = _DIGITS.split(label.casefold())
    return tuple((0, int(p)) if p.isdecimal() else (1, p) for p in parts if p != "")


def _check_sort(by: str) -> None:
    if by not in SORT_KEYS:
        raise ValueError(f"`by` must be one of {', '.join(SORT_KEYS)}, not {by!r}.")


def shown_in_full(sight: Sight) -> np.ndarray | None:
    """The incidents ``sight``'s viewer sees in full (None: every incident).

    Only these are ever listed: the filter's rows for an analyst, and of them an agency's
    own for an agency viewer; never rows the viewer may only count, however coarsely.
    """
    if sight.full:
        return sight.mask
    assert sight.finest is not None  # a sight that is not full says each row's level
    return sight.finest == POINT


def listing(sight: Sight, order: np.ndarray) -> np.ndarray:
    """The incidents ``sight``'s viewer sees in full, as store row numbers in ``order``
    (:func:`store_order` of the same version). Read-only."""
    if len(order) != len(sight.columns):
        raise ValueError(
            "`order` was made for another version of the store than `sight`: make both from "
            "one snapshot."
        )
    seen = shown_in_full(sight)
    listed = order if seen is None else order[seen[order]]
    listed = listed.view()
    listed.flags.writeable = False
    return listed


@dataclass(frozen=True)
class IncidentPage:
    """One page of a list.

    Attributes
    ----------
    rows : pandas.DataFrame
        The page's incidents, columns :data:`LIST_COLUMNS`, indexed by store row number.
        Times are local ISO 8601 text with their offset, as exports write them.
    total : int
        Incidents in the whole list.
    page : int
        This page's number, from 1.
    size : int
        Rows a page holds.
    """

    rows: pd.DataFrame
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        """How many pages the list has (1 for an empty list)."""
        return pages_of(self.total, self.size)

    @property
    def first(self) -> int:
        """The list position of this page's first row, from 1 (0 when the page is empty)."""
        return (self.page - 1) * self.size + 1 if len(self.rows) else 0

    @property
    def last(self) -> int:
        """The list position of this page's last row, from 1 (0 when the page is empty)."""
        return self.first + len(self.rows) - 1 if len(self.rows) else 0


def pages_of(total: int, size: int) -> int:
    """How many pages of ``size`` rows ``total`` rows take (at least 1)."""
    return max(1, math.ceil(total / size))


def incident_page(
    columns: IncidentColumns,
    records: IncidentRecords,
    listed: np.ndarray,
    *,
    page: int = 1,
    size: int = 50,
) -> IncidentPage:
    """Page ``page`` of ``size`` rows of a list (:func:`listing`), materialised.

    Raises
    ------
    ValueError
        If ``size`` is not between 1 and :data:`MAX_PAGE_SIZE`, or ``page`` is not between 1
        and the last page.
    """
    if not isinstance(size, int | np.integer) or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValueError(f"`size` must be a whole number from 1 to {MAX_PAGE_SIZE}, not {size!r}.")
    last = pages_of(len(listed), size)
    if not isinstance(page, int | np.integer) or not 1 <= page <= last:
        raise ValueError(
            f"`page` must be a whole number from 1 to {last} (the last page of {len(listed):,} "
            f"incidents at {size} a page), not {page!r}."
        )
    rows = np.asarray(listed[(page - 1) * size : page * size])
    return IncidentPage(list_rows(columns, records, rows), len(listed), int(page), int(size))


def list_rows(columns: IncidentColumns, records: IncidentRecords, rows: np.ndarray) -> pd.DataFrame:
    """The incidents at store row numbers ``rows``, as a list shows them (:data:`LIST_COLUMNS`,
    indexed by row number, in the order given)."""
    rows = np.asarray(rows, dtype=np.int64)
    values: dict[str, object] = {
        "incident_id": records.incident_id.take(pa.array(rows)).to_pylist(),
        "occurred_at": pd.to_datetime(records.occurred_ns[rows], utc=True),
    }
    for column in _CODED:
        labels = np.asarray([*columns.labels[column], None], dtype=object)  # -1: missing
        values[column] = labels[columns.codes[column][rows]]
    values["lat"] = records.lat[rows]
    values["lon"] = records.lon[rows]
    frame = pd.DataFrame(values, index=pd.Index(rows, name="row"))
    return plain_values(frame)[list(LIST_COLUMNS)]


def position(listed: np.ndarray, row: int) -> int | None:
    """Where store row ``row`` is in the list, from 0; None when it is not listed."""
    found = np.flatnonzero(listed == row)
    return int(found[0]) if len(found) else None


def page_of(listed: np.ndarray, row: int, *, size: int) -> int | None:
    """The page (from 1) of ``size`` rows holding store row ``row``; None when not listed."""
    at = position(listed, row)
    return None if at is None else at // size + 1


def listed_at(
    listed: np.ndarray, records: IncidentRecords, *, lat: float, lon: float,
    decimals: int = COORD_DECIMALS,
) -> np.ndarray:  # fmt: skip
    """The listed incidents drawn at ``(lat, lon)`` on a map that writes ``decimals``
    decimals of a degree: the store rows a click on that point may mean, in list order."""
    rows = np.asarray(listed)
    # Rounded as the map writes them (:func:`layers.maps.points.incident_layer`).
    near = (np.round(records.lat[rows], decimals) == np.round(lat, decimals)) & (
        np.round(records.lon[rows], decimals) == np.round(lon, decimals)
    )
    return rows[near]


def listed_in_view(
    columns: IncidentColumns,
    listed: np.ndarray,
    bounds: tuple[float, float, float, float],
    *,
    limit: int,
) -> np.ndarray:
    """The first ``limit`` listed incidents (in list order) inside the lon/lat box ``bounds``
    (west, south, east, north), as store row numbers."""
    west, south, east, north = bounds
    (x0, x1), (y1, y0) = mercator_pixels(np.array([west, east]), np.array([south, north]), 0)
    rows = np.asarray(listed)
    px, py = columns.px[rows], columns.py[rows]
    inside = (px >= x0) & (px <= x1) & (py >= y0) & (py <= y1)
    return rows[np.flatnonzero(inside)[:limit]]
