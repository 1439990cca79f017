"""Time playback: a date range cut into weeks or months, and each frame's figures.

A playback shows the filter's date range one frame at a time (kepler.gl's time filter,
ArcGIS Dashboards' time slider): the heat and the figures beside it step together, week by
week or month by month. Frames are local (Africa/Johannesburg) days: weeks run Monday to
Sunday as :func:`layers.storage.columnar.weekly_counts` counts them, months are calendar
months, and the range's first and last frames may be part ones (:attr:`Frame.whole`).

Everything a frame shows is an ordinary figure over what the viewer may see. The access step
is taken once for the range (:func:`layers.access.sight.apply_policy`); :func:`timeline`
puts the range's incidents in frame order once, so that each frame's incidents are one
contiguous slice, and :func:`frame_sight` is that slice of the range's sight: for every
incident the same finest level as the range's, which is what the access step gives for a
filter narrowed to the frame's dates (the level depends on who is looking and on the
incident, never on the dates). A frame's figures then go through
:func:`layers.analysis.figures.count` and :func:`~layers.analysis.figures.heat_figure` and are
suppressed by :func:`layers.access.suppression.disclose` like any other: an agency's frame is
suppressed as the same filter with the frame's dates would be.

The cost of a frame is that of its own incidents, not of the store's: a week of a 1 M-incident
store is a slice of about 10,000 rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Literal, get_args

import numpy as np
import pandas as pd

from layers.access.sight import Sight
from layers.access.suppression import Counted
from layers.analysis.figures import count, heat_figure, rows, total
from layers.storage.columnar import EPOCH, HEAT_CELL_PX, IncidentColumns, area_counts

Step = Literal["week", "month"]
STEPS: tuple[Step, ...] = get_args(Step)
#: The most frames one playback holds: five years of weeks. Each frame's heat is made once
#: for the colour scale, so a longer playback would be slow to start.
MAX_FRAMES = 261


@dataclass(frozen=True)
class Frame:
    """One step of a playback: a local week (Monday first) or calendar month, cut to the range.

    Attributes
    ----------
    start, end : datetime.date
        The frame's first and last local day inside the range (both inclusive).
    period_start, period_end : datetime.date
        The whole week's or month's first and last day.
    step : {"week", "month"}
    """

    start: date
    end: date
    period_start: date
    period_end: date
    step: Step

    @property
    def days(self) -> int:
        """Days of the frame inside the range."""
        return (self.end - self.start).days + 1

    @property
    def whole(self) -> bool:
        """False for a week or month the range cuts: fewer days, so fewer incidents."""
        return (self.start, self.end) == (self.period_start, self.period_end)

    @property
    def label(self) -> str:
        """``Week of 3 Mar 2026`` or ``March 2026``."""
        if self.step == "week":
            return f"Week of {_day_text(self.period_start)}"
        return f"{self.period_start:%B %Y}"

    @property
    def note(self) -> str:
        """For a part frame, the days it holds (``4 to 8 Mar 2026 only``); else empty."""
        if self.whole:
            return ""
        if self.start == self.end:
            return f"{_day_text(self.start)} only"
        return f"{_day_text(self.start)} to {_day_text(self.end)} only"


def frames(first: date, last: date, *, step: Step) -> tuple[Frame, ...]:
    """The weeks or months from local day ``first`` to ``last`` (inclusive), in order.

    Raises
    ------
    ValueError
        For an unknown ``step``, a range that ends before it starts, or more than
        :data:`MAX_FRAMES` frames.
    """
    if step not in STEPS:
        raise ValueError(f"`step` must be 'week' or 'month', not {step!r}.")
    for name, day in (("first", first), ("last", last)):
        if not isinstance(day, date) or hasattr(day, "hour"):
            raise TypeError(f"`{name}` must be a datetime.date (a local day), not {day!r}.")
    if last < first:
        raise ValueError(f"The range ends ({last}) before it starts ({first}): swap the dates.")
    out = []
    period = _period_start(first, step)
    while period <= last:
        following = _period_start(period + timedelta(days=31 if step == "month" else 7), step)
        period_end = following - timedelta(days=1)
        out.append(Frame(max(period, first), min(period_end, last), period, period_end, step))
        if len(out) > MAX_FRAMES:
            raise ValueError(
                f"Playing {first} to {last} {step} by {step} takes more than {MAX_FRAMES} "
                f"frames: choose {'months' if step == 'week' else 'a shorter range'}, or "
                "narrow the dates."
            )
        period = following
    return tuple(out)


def _period_start(day: date, step: Step) -> date:
    if step == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _day_text(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


@dataclass(frozen=True, eq=False)
class Timeline:
    """A range's incidents, as the viewer may count them, in frame order.

    Made once per (data version, filter, viewer, range, step) by :func:`timeline`; each
    frame is then a slice (:func:`frame_sight`).

    Attributes
    ----------
    frames : tuple of Frame
    sight : Sight
        The range's sight over its own incidents only (those the viewer may count at some
        level and that fall in the range), ordered by frame.
    bounds : numpy.ndarray
        Frame ``i`` is rows ``bounds[i]`` to ``bounds[i + 1]`` of ``sight.columns``.
    frame_of : numpy.ndarray
        Each row's frame (int16).
    """

    frames: tuple[Frame, ...]
    sight: Sight
    bounds: np.ndarray
    frame_of: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def timeline(sight: Sight, *, first: date, last: date, step: Step) -> Timeline:
    """Cut the range ``first`` to ``last`` into frames and put ``sight``'s incidents in
    frame order: one pass to find each incident's frame, one sort, one gather.

    Parameters
    ----------
    sight : Sight
        The access step for the filter whose dates the range is (or a wider one).
    first, last : datetime.date
        The range's first and last local day (inclusive).
    step : {"week", "month"}

    Returns
    -------
    Timeline
    """
    cut = frames(first, last, step=step)
    columns = sight.columns
    starts = np.array([(f.start - EPOCH).days for f in cut], dtype=np.int64)
    in_range = (columns.day >= starts[0]) & (columns.day <= (last - EPOCH).days)
    counted = rows(sight, "city")  # what the viewer may count at all (None: every incident)
    picked = np.flatnonzero(in_range if counted is None else in_range & counted)
    frame_of = (np.searchsorted(starts, columns.day[picked], side="right") - 1).astype(np.int16)
    by_frame = np.argsort(frame_of, kind="stable")
    order = picked[by_frame]
    frame_of = frame_of[by_frame]
    bounds = np.concatenate([[0], np.cumsum(np.bincount(frame_of, minlength=len(cut)))])
    finest = None if sight.finest is None else _frozen(sight.finest[order])
    ordered = dataclasses.replace(sight, columns=_take(columns, order), mask=None, finest=finest)
    return Timeline(cut, ordered, _frozen(bounds), _frozen(frame_of))


def _take(columns: IncidentColumns, order: np.ndarray) -> IncidentColumns:
    """``columns``' rows ``order``, read-only (a timeline is shared by every session)."""
    return IncidentColumns(
        codes={name: _frozen(codes[order]) for name, codes in columns.codes.items()},
        labels=columns.labels,
        day=_frozen(columns.day[order]),
        hour=_frozen(columns.hour[order]),
        px=_frozen(columns.px[order]),
        py=_frozen(columns.py[order]),
    )


def _frozen(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False
    return values


def _slice(columns: IncidentColumns, a: int, b: int) -> IncidentColumns:
    return IncidentColumns(
        codes={name: codes[a:b] for name, codes in columns.codes.items()},
        labels=columns.labels,
        day=columns.day[a:b],
        hour=columns.hour[a:b],
        px=columns.px[a:b],
        py=columns.py[a:b],
    )


def frame_sight(line: Timeline, index: int) -> Sight:
    """The sight of frame ``index``: the range's sight, on that frame's incidents only."""
    if not 0 <= index < len(line.frames):
        raise IndexError(f"`index` must be 0 to {len(line.frames) - 1}, not {index}.")
    a, b = int(line.bounds[index]), int(line.bounds[index + 1])
    sight = line.sight
    finest = None if sight.finest is None else sight.finest[a:b]
    return dataclasses.replace(sight, columns=_slice(sight.columns, a, b), finest=finest)


def histogram_figure(line: Timeline) -> Counted:
    """Incidents per frame, counted as the range's weekly trend is: a Series indexed by the
    frames' first days (``frame``), suppressed (under an area filter) with complements so
    that no hidden frame can be worked out from the range's total."""
    starts = pd.DatetimeIndex([pd.Timestamp(f.start) for f in line.frames], name="frame")

    def per_frame(columns: IncidentColumns, mask: np.ndarray | None) -> pd.Series:
        counted = line.frame_of if mask is None else line.frame_of[mask]
        counts = np.bincount(counted, minlength=len(line.frames)).astype(np.int64)
        return pd.Series(counts, index=starts, name="incidents")

    return count(line.sight, per_frame)


def frame_figures(
    line: Timeline, index: int, *, boundary: str, names: list[str] | tuple[str, ...]
) -> dict[str, Counted]:
    """The figures beside the map for frame ``index``: incidents per area of ``boundary``
    (every one of ``names``, and outside boundaries), and the total they share."""
    sight = frame_sight(line, index)
    by_area = partial(area_counts, by=boundary, names=names)
    return {
        "areas": count(sight, by_area, level=boundary),  # type: ignore[arg-type]
        "area_total": count(sight, total, level=boundary, how="none"),  # type: ignore[arg-type]
    }


def frame_heat(
    line: Timeline,
    index: int,
    *,
    zoom: int,
    cell_px: float = HEAT_CELL_PX,
    bounds: tuple[float, float, float, float] | None = None,
    max_cells: int | None = None,
) -> Counted:
    """Heat cells of frame ``index``, as the map makes them for the viewer
    (:func:`layers.analysis.figures.heat_figure`: own incidents in fine cells, others in
    anonymous cells, small cells dropped)."""
    return heat_figure(
        frame_sight(line, index), zoom=zoom, cell_px=cell_px, bounds=bounds, max_cells=max_cells
    )
