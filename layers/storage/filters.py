"""Filtering stored incidents by agency, collaboration area, category, time and area.

Filters run on the stored, already-joined columns with numpy masks; they never repeat the
spatial join. An :class:`IncidentFilter` is a frozen value object of tuples, so it can key a
cache and round-trip through a URL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd

from layers.settings import LOCAL_TZ

_LIST_FIELDS = ("agencies", "areas", "categories", "precincts", "wards")


@dataclass(frozen=True)
class IncidentFilter:
    """Which incidents to show. Empty tuples and None mean "no restriction".

    Attributes
    ----------
    agencies, areas, categories, precincts, wards : tuple of str
        Keep incidents whose value is one of these.
    since, until : datetime.date, optional
        First and last local (Africa/Johannesburg) day to keep, both inclusive.
    hours : tuple of int, optional
        ``(start, end)`` local hours: keep incidents with ``start <= hour < end``; when
        ``start > end`` the window wraps past midnight (``(22, 4)`` is 22:00 to 03:59).
    """

    agencies: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    hours: tuple[int, int] | None = None
    precincts: tuple[str, ...] = ()
    wards: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Normalise what callers pass (a bare string, lists, ISO strings) so that equal filters
        # compare and hash equal: a filter keys caches and URLs.
        for name in _LIST_FIELDS:
            value = getattr(self, name)
            values = (value,) if isinstance(value, str) else tuple(value)
            object.__setattr__(self, name, tuple(sorted({str(v) for v in values})))
        for name in ("since", "until"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, date.fromisoformat(value))
            elif isinstance(value, datetime):
                object.__setattr__(self, name, value.date())
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"`since` ({self.since}) must not be after `until` ({self.until}).")
        if self.hours is not None:
            start, end = (int(h) for h in self.hours)
            if not (0 <= start <= 23 and 1 <= end <= 24 and start != end):
                raise ValueError(
                    "`hours` must be (start, end) local hours with start in 0-23, end in 1-24 "
                    "and start != end; start > end wraps past midnight (22, 4)."
                )
            object.__setattr__(self, "hours", None if (start, end) == (0, 24) else (start, end))

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps everything."""
        return self == IncidentFilter()

    def describe(self) -> str:
        """A one-line human description, for captions and export provenance."""
        parts = [
            f"{f.name}={','.join(v) if isinstance(v, tuple) and f.name != 'hours' else v}"
            for f in fields(self)
            if (v := getattr(self, f.name)) not in ((), None)
        ]
        return "; ".join(parts) or "all incidents"

    def to_query(self) -> dict[str, list[str]]:
        """Query-string parameters for a shareable URL (see :func:`filter_from_query`)."""
        query: dict[str, list[str]] = {}
        for name in _LIST_FIELDS:
            if values := getattr(self, name):
                query[name] = list(values)
        if self.since:
            query["since"] = [self.since.isoformat()]
        if self.until:
            query["until"] = [self.until.isoformat()]
        if self.hours:
            query["hours"] = [f"{self.hours[0]}-{self.hours[1]}"]
        return query


def filter_from_query(query: Mapping[str, Sequence[str] | str]) -> IncidentFilter:
    """Build a filter from URL query parameters, ignoring values that do not parse.

    URL values are untrusted: they only ever select among stored values, and a malformed
    date or hour range is dropped rather than raising.
    """

    def values(key: str) -> tuple[str, ...]:
        raw = query.get(key, ())
        items = [raw] if isinstance(raw, str) else list(raw)
        return tuple(str(v) for v in items if str(v).strip())

    kwargs: dict[str, Any] = {name: values(name) for name in _LIST_FIELDS}
    for key in ("since", "until"):
        if found := values(key):
            with contextlib.suppress(ValueError):
                kwargs[key] = date.fromisoformat(found[0])
    if kwargs.get("since") and kwargs.get("until") and kwargs["since"] > kwargs["until"]:
        del kwargs["since"], kwargs["until"]
    if found := values("hours"):
        with contextlib.suppress(ValueError):
            kwargs["hours"] = parse_hours(found[0])
    return IncidentFilter(**kwargs)


def parse_hours(text: str) -> tuple[int, int]:
    """Parse a local time-of-day window "START-END" such as "22-4".

    Raises
    ------
    ValueError
        When the text is not two hours that make a valid window.
    """
    try:
        start, end = (int(part) for part in text.split("-"))
    except ValueError as err:
        raise ValueError(f"hours must look like 22-4, not {text!r}") from err
    IncidentFilter(hours=(start, end))  # validates the range
    return start, end


def filter_mask(incidents: pd.DataFrame, flt: IncidentFilter) -> np.ndarray:
    """Boolean mask of the incidents ``flt`` keeps, aligned to ``incidents``' rows.

    Parameters
    ----------
    incidents : pandas.DataFrame
        Stored incidents (see :mod:`layers.storage.store`).
    flt : IncidentFilter

    Returns
    -------
    numpy.ndarray
    """
    mask = np.ones(len(incidents), dtype=bool)
    for name, column in FILTER_COLUMNS.items():
        if wanted := getattr(flt, name):
            mask &= incidents[column].isin(wanted).to_numpy()
    if flt.since or flt.until or flt.hours:
        local = incidents["occurred_at"].dt.tz_convert(LOCAL_TZ)
        if flt.since:
            mask &= (local >= _local_start(flt.since)).to_numpy()
        if flt.until:
            mask &= (local < _local_start(flt.until) + pd.Timedelta(days=1)).to_numpy()
        if flt.hours:
            hour = local.dt.hour.to_numpy()
            start, end = flt.hours
            mask &= (
                (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
            )
    return mask


FILTER_COLUMNS = {
    "agencies": "agency",
    "areas": "collaboration_area",
    "categories": "category",
    "precincts": "precinct",
    "wards": "ward",
}


def apply_filter(incidents: pd.DataFrame, flt: IncidentFilter) -> pd.DataFrame:
    """The incidents ``flt`` keeps; the input is never modified (returned as is when the
    filter keeps everything)."""
    if flt.is_empty:
        return incidents
    return incidents.loc[filter_mask(incidents, flt)]


def _local_start(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(day, time.min)).tz_localize(LOCAL_TZ)
