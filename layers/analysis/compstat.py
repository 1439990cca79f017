"""CompStat review: where crime is up or down against the previous period, and by how much.

The classic safety-cluster review compares, per precinct (or ward, agency, collaboration
area), the incidents of three recent periods with the period before each:

- ``week``: the 7 local days ending on the reference day, against the 7 days before;
- ``days28``: the 28 local days ending on the reference day, against the 28 days before;
- ``ytd``: 1 January to the reference day, against 1 January to the same date a year
  earlier (29 February compares with 28 February).

Each change comes with whether it is more than chance (:func:`change_p_value`): counts of
incidents are Poisson, and "+122 %" from 9 to 20 is a surge only if a Poisson process at one
steady rate would rarely give such a split. The exact conditional test: given the two
periods' total ``n``, the current count is binomial(``n``, ``t / (t + t_prev)``) under a
steady rate (``t`` the periods' lengths in days), and the two-sided p-value is that of the
exact binomial test. A change is marked when p < :data:`SIGNIFICANCE`.

Everything runs on :class:`layers.storage.columnar.IncidentColumns`: the incidents inside the
comparison span are counted once into a small (day x value) table with one
``numpy.bincount``, and each window's counts are a difference of two rows of its running
sum, so the cost is one pass over the incidents whatever the number of windows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from layers.dictionary import headers
from layers.spreadsheet import spreadsheet_csv
from layers.storage.columnar import EPOCH, IncidentColumns, day_span

#: The columns a review can be broken down by, with the label of their total row.
TOTAL_LABELS = {
    "precinct": "All precincts",
    "ward": "All wards",
    "agency": "All agencies",
    "collaboration_area": "All collaboration areas",
}
#: Column prefix of each compared period, and how the page names it.
PERIODS = {"week": "week", "days28": "28 days", "ytd": "year to date"}
#: Row label of incidents with no recorded value in the ``by`` column.
NOT_RECORDED = "Not recorded"
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: A change is marked as more than chance when its p-value is below this.
SIGNIFICANCE = 0.05


class Window(NamedTuple):
    """A compared period and the period it is compared with, local days, both inclusive."""

    start: date
    end: date
    prev_start: date
    prev_end: date


def review_windows(today: date) -> dict[str, Window]:
    """The week, 28-day and year-to-date windows of a review as of ``today``.

    Parameters
    ----------
    today : datetime.date
        The reference day, the last day of every current window.

    Returns
    -------
    dict of str to Window
        Keyed by the prefixes in :data:`PERIODS`.
    """
    _check_today(today)
    day = timedelta(days=1)
    # 29 February has no twin a year earlier: 28 February is the same number of days into
    # the year save one, and keeps the previous window inside its own year.
    if (today.month, today.day) == (2, 29):
        last_year = date(today.year - 1, 2, 28)
    else:
        last_year = today.replace(year=today.year - 1)
    return {
        "week": Window(today - 6 * day, today, today - 13 * day, today - 7 * day),
        "days28": Window(today - 27 * day, today, today - 55 * day, today - 28 * day),
        "ytd": Window(date(today.year, 1, 1), today, date(today.year - 1, 1, 1), last_year),
    }


def compare_periods(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    *,
    by: str,
    today: date,
    sort_by: str = "days28_change",
) -> pd.DataFrame:
    """Incidents per ``by`` value in each review window and the window before it.

    Parameters
    ----------
    columns : IncidentColumns
    mask : numpy.ndarray or None
        Which incidents to count (see :func:`layers.storage.columnar.select`); None counts all.
        A date range in the filter also limits the windows, so leave it out for a review.
    by : {"precinct", "ward", "agency", "collaboration_area"}
        What each row is.
    today : datetime.date
        The reference day, last day of the current windows (see :func:`review_windows`
        and :func:`default_reference_day`).
    sort_by : str, default "days28_change"
        A numeric column to sort the rows by, largest first (ties by label).

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` value with an incident in any window, then one total row (label
        from :data:`TOTAL_LABELS`, ``is_total`` True). Incidents with no ``by`` value get a
        :data:`NOT_RECORDED` row, so the rows add up to the total. For each prefix ``p``
        in :data:`PERIODS`: ``p`` (current count), ``p_prev`` (previous count),
        ``p_change`` (current - previous), ``p_pct`` (change as a percentage of the
        previous count; NaN, not infinity, when the previous count is 0: see
        :func:`pct_text` to show it as "new") and ``p_p`` (the change's two-sided p-value:
        see :func:`change_p_value`; NaN when both counts are 0). ``attrs["windows"]`` holds
        each prefix's :class:`Window`, ``attrs["by"]`` and ``attrs["today"]`` the arguments.
    """
    if by not in TOTAL_LABELS:
        raise ValueError(f"`by` must be one of {', '.join(map(repr, TOTAL_LABELS))}, not {by!r}.")
    windows = review_windows(today)
    ranges = {}
    for prefix, window in windows.items():
        ranges[prefix] = _day_range(window.start, window.end)
        ranges[f"{prefix}_prev"] = _day_range(window.prev_start, window.prev_end)
    labels = (*columns.labels[by], NOT_RECORDED)
    counts = _range_counts(columns, _checked_mask(columns, mask), by=by, ranges=ranges)
    present = np.flatnonzero(np.any(np.column_stack(list(counts.values())) > 0, axis=1))
    out = pd.DataFrame(
        {by: [*(labels[i] for i in present), TOTAL_LABELS[by]],
         "is_total": np.arange(len(present) + 1) == len(present)}
    )  # fmt: skip
    for prefix in windows:
        # The rows with any incident, then the total of all rows.
        current, previous = (
            np.append(c[present], c.sum()) for c in (counts[prefix], counts[f"{prefix}_prev"])
        )
        out[prefix], out[f"{prefix}_prev"] = current, previous
        out[f"{prefix}_change"] = current - previous
        out[f"{prefix}_pct"] = _pct_change(current, previous)
        out[f"{prefix}_p"] = change_p_value(current, previous, share=_share(windows[prefix]))
    if sort_by not in out.columns or not pd.api.types.is_numeric_dtype(out[sort_by].dtype):
        raise ValueError(
            f"`sort_by` must be a count column such as 'days28_change', not {sort_by!r}."
        )
    rows = out[~out["is_total"]].sort_values([sort_by, by], ascending=[False, True], kind="stable")
    out = pd.concat([rows, out[out["is_total"]]], ignore_index=True)
    out.attrs.update(windows=windows, by=by, today=today)
    return out


def change_p_value(
    current: np.ndarray | int, previous: np.ndarray | int, *, share: float = 0.5
) -> np.ndarray:
    """Two-sided p-value of a change from ``previous`` to ``current`` incidents, were both
    periods one Poisson process at a steady rate: the exact conditional test.

    Given the two counts' sum ``n``, the current count is binomial(``n``, ``share``) under
    a steady rate, ``share`` being the current period's part of the two periods' length
    (0.5 for equal periods); the p-value is the exact binomial test's (the probability of
    a split at most as likely as the one seen). 9 → 20 in equal periods gives p = 0.061:
    not significant at 0.05, although "+122 %"; 20 → 45 gives p = 0.002.

    Parameters
    ----------
    current, previous : array-like of int
        Counts of the current and the previous period, element by element.
    share : float, default 0.5
        The current period's length over the two periods' length.

    Returns
    -------
    numpy.ndarray
        One p-value per pair, in [0, 1]; NaN where both counts are 0 (nothing to test) or
        either is missing.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"`share` must be between 0 and 1, not {share!r}.")
    cur = np.atleast_1d(np.asarray(current, dtype=float))
    prev = np.atleast_1d(np.asarray(previous, dtype=float))
    out = np.full(np.broadcast(cur, prev).shape, np.nan)
    cur, prev = np.broadcast_arrays(cur, prev)
    cache: dict[tuple[int, int], float] = {}
    for i in np.flatnonzero(np.isfinite(cur) & np.isfinite(prev) & (cur + prev > 0)):
        key = (int(cur[i]), int(prev[i]))
        if key not in cache:
            cache[key] = float(binomtest(key[0], key[0] + key[1], share).pvalue)
        out[i] = cache[key]
    return out


def significant(frame: pd.DataFrame, prefix: str) -> pd.Series:
    """Whether each row's ``prefix`` change is more than chance: ``"up"``, ``"down"`` or
    ``""`` (not significant, or no p-value because a count is hidden or both are 0)."""
    p = frame[f"{prefix}_p"].astype(float)
    change = frame[f"{prefix}_change"].astype(float)
    marked = p.lt(SIGNIFICANCE) & change.ne(0)
    return pd.Series(np.where(marked, np.where(change > 0, "up", "down"), ""),
                     index=frame.index, name=f"{prefix}_sig")  # fmt: skip


def pct_text(frame: pd.DataFrame, prefix: str) -> pd.Series:
    """The ``prefix`` period's % change as display text: "+25%", "-10%", "0%" or "new",
    with " ▲" or " ▼" where the change is more than chance (:func:`significant`).

    "new" stands for a NaN percentage with incidents now and none before; anything else
    without a percentage (nothing now and before, or a count hidden to protect victims)
    shows as "–".

    Returns
    -------
    pandas.Series
        Text aligned to ``frame``'s index, named ``{prefix}_pct``.
    """
    pct = frame[f"{prefix}_pct"]
    text = pct.map(lambda v: f"{v:+.0f}%" if v else "0%", na_action="ignore")
    new = (frame[prefix] > 0) & (frame[f"{prefix}_prev"] == 0)
    text = text.where(pct.notna(), np.where(new, "new", "–"))
    if f"{prefix}_p" in frame:  # ▲/▼: more than chance (see change_p_value)
        marks = significant(frame, prefix).map({"up": " ▲", "down": " ▼", "": ""})
        text = text.where(text == "–", text + marks)
    return text.astype(object).rename(f"{prefix}_pct")


def window_text(window: Window) -> str:
    """A window as the page says it: "1–7 Nov 2026 vs 25–31 Oct 2026"."""
    return (
        f"{_range_text(window.start, window.end)} vs "
        f"{_range_text(window.prev_start, window.prev_end)}"
    )


def hour_by_weekday(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    *,
    since: date | None = None,
    until: date | None = None,
) -> pd.DataFrame:
    """Kept incidents per local weekday and hour: when in the week incidents happen.

    Parameters
    ----------
    columns : IncidentColumns
    mask : numpy.ndarray or None
        Which incidents to count; None counts all.
    since, until : datetime.date, optional
        First and last local day to count, both inclusive.

    Returns
    -------
    pandas.DataFrame
        7 x 24 int64 counts: index ``weekday`` Monday to Sunday, columns ``hour`` 0 to 23.
    """
    keep = _checked_mask(columns, mask)
    if since is not None:
        keep = _and(keep, columns.day >= (since - EPOCH).days)
    if until is not None:
        keep = _and(keep, columns.day <= (until - EPOCH).days)
    day = columns.day if keep is None else columns.day[keep]
    hour = columns.hour if keep is None else columns.hour[keep]
    # 1970-01-01 (day 0) was a Thursday, weekday 3 counting Monday as 0.
    weekday = (day.astype(np.int64) + 3) % 7
    table = np.bincount(weekday * 24 + hour, minlength=7 * 24).reshape(7, 24)
    return pd.DataFrame(
        table.astype(np.int64),
        index=pd.Index(WEEKDAYS, name="weekday"),
        columns=pd.RangeIndex(24, name="hour"),
    )


def default_reference_day(columns: IncidentColumns, today: date) -> date:
    """The day a review is "as of": ``today``, or the last day with data if that is earlier.

    A demo or an old extract ends before today; reviewing it as of today would compare
    empty windows and show every area down 100 %. Ending on its last day reviews the data
    as it was when it was extracted. That day may be incomplete (an extract taken at noon),
    which the page should say when the reference day is not today. Incidents dated after
    ``today`` (a clock set wrong) never move the review into the future.
    """
    span = day_span(columns)
    if span is None:
        return today
    return min(today, span[1])


def readable_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A review frame (see :func:`compare_periods`) as people read it, for a CSV or a page.

    The ``by`` column and each period's four columns, with the headers of
    :func:`layers.dictionary.headers` ("Precinct", "Last 7 days", "Previous 7 days",
    "Change (7 days)", "% change (7 days)", ...); the total row is the one whose ``by`` cell
    reads "All precincts" (or "All wards", ...), and no internal column (``is_total``) is kept.
    Counts are whole numbers (empty where hidden), percentages rounded to one decimal (empty
    where there is none).

    Returns
    -------
    pandas.DataFrame
        A new frame, rows as in ``frame``; ``frame`` is not modified. Its columns are
        described by ``layers.dictionary.dictionary_csv("compstat", ...)``.
    """
    by = [c for c in frame.columns if c in TOTAL_LABELS]
    if len(by) != 1:
        raise ValueError(
            f"`frame` must be a review from compare_periods, with one of the columns "
            f"{', '.join(map(repr, TOTAL_LABELS))}; it has {list(frame.columns)}."
        )
    columns = [*by]
    for prefix in PERIODS:
        columns += [prefix, f"{prefix}_prev", f"{prefix}_change", f"{prefix}_pct"]
        columns += [f"{prefix}_p"] if f"{prefix}_p" in frame else []
    out = frame[columns].copy()
    out.attrs = {}  # window dates are the page's to show, not the CSV's
    for prefix in PERIODS:
        # Int64: a count hidden to protect victims (NaN) stays empty, and the others stay
        # whole numbers rather than becoming "12.0".
        for column in (prefix, f"{prefix}_prev", f"{prefix}_change"):
            out[column] = out[column].astype("Int64")
        out[f"{prefix}_pct"] = out[f"{prefix}_pct"].astype(float).round(1)
        if f"{prefix}_p" in out:
            out[f"{prefix}_p"] = out[f"{prefix}_p"].astype(float).round(4)
    return out.rename(columns=headers("compstat"))


def to_csv(frame: pd.DataFrame) -> str:
    """A review frame as CSV text for a spreadsheet: :func:`readable_table`'s columns.

    Text cells that a spreadsheet would run as a formula get a leading apostrophe (see
    :func:`layers.maps.export.neutralise_formulas`); a hidden count or a missing percentage is an
    empty cell. Its data dictionary is
    ``layers.dictionary.dictionary_csv("compstat", readable_table(frame))``.
    """
    return spreadsheet_csv(readable_table(frame))


def _range_counts(
    columns: IncidentColumns,
    mask: np.ndarray | None,
    *,
    by: str,
    ranges: dict[str, tuple[int, int]],
) -> dict[str, np.ndarray]:
    """Kept incidents per ``by`` code (missing last) in each inclusive day-number range."""
    lo = min(start for start, _ in ranges.values())
    hi = max(end for _, end in ranges.values())
    keep = _and(mask, (columns.day >= lo) & (columns.day <= hi))
    day = columns.day[keep].astype(np.int64) - lo
    codes = columns.codes[by][keep].astype(np.int64)
    n_values = len(columns.labels[by]) + 1
    codes[codes < 0] = n_values - 1
    n_days = hi - lo + 1
    table = np.bincount(day * n_values + codes, minlength=n_days * n_values)
    # Row d of the running sum counts days lo .. lo + d - 1, so a range is one subtraction.
    running = np.zeros((n_days + 1, n_values), dtype=np.int64)
    np.cumsum(table.reshape(n_days, n_values), axis=0, out=running[1:])
    return {
        name: running[end - lo + 1] - running[start - lo] for name, (start, end) in ranges.items()
    }


def _share(window: Window) -> float:
    """The current period's part of the two periods' length (a year to date that took in
    29 February is one day longer than the year before's)."""
    now = (window.end - window.start).days + 1
    before = (window.prev_end - window.prev_start).days + 1
    return now / (now + before)


def _pct_change(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    change = (current - previous).astype(float)
    return np.divide(100.0 * change, previous, out=np.full(len(change), np.nan), where=previous > 0)


def _checked_mask(columns: IncidentColumns, mask: np.ndarray | None) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(columns),):
        raise ValueError(
            f"`mask` must be a boolean array of one value per incident ({len(columns)}), "
            f"not {mask.dtype} of shape {mask.shape}: build it with layers.storage.columnar.select."
        )
    return mask


def _and(mask: np.ndarray | None, condition: np.ndarray) -> np.ndarray:
    return condition if mask is None else mask & condition


def _check_today(today: date) -> None:
    # datetime is a date too, but subtracting EPOCH from it fails, and which day a
    # UTC datetime falls on locally is the caller's to decide.
    if isinstance(today, datetime) or not isinstance(today, date):
        raise TypeError(
            f"`today` must be a datetime.date, not {type(today).__name__}: pass the local "
            "date, e.g. datetime.now(ZoneInfo(LOCAL_TZ)).date()."
        )


def _day_range(start: date, end: date) -> tuple[int, int]:
    return (start - EPOCH).days, (end - EPOCH).days


def _range_text(start: date, end: date) -> str:
    if (start.year, start.month) == (end.year, end.month):
        first = f"{start.day}"
    elif start.year == end.year:
        first = f"{start.day} {start:%b}"
    else:
        first = f"{start.day} {start:%b %Y}"
    return f"{first}–{end.day} {end:%b %Y}"
