"""Hotspot statistics on grid cells: Getis-Ord Gi* and emerging hot spots over time.

Gi* (:func:`gi_star`)
    esda's ``G_Local(counts, w, transform="B", star=True, permutations=0)`` on incident counts
    per cell, every cell of the grid included (cells without incidents are the evidence that
    a place is quiet). Neighbours are binary and include the cell itself: by default every
    cell whose centre is within ``distance_m`` (1.5 x ``cell_m``: the six surrounding
    hexagons, or the eight surrounding squares), or else the ``k`` nearest cells. p-values are
    analytic (normal approximation, two-sided), optionally Benjamini-Hochberg adjusted for
    false discoveries; with permutations the smallest p would be 1 / (permutations + 1) and at
    tens of thousands of cells nothing would survive the adjustment. ``gi_bin`` has Esri's
    Gi_Bin meaning: +3/+2/+1 hot spot with 99/95/90 % confidence, -3/-2/-1 the cold mirror,
    0 not significant.

Emerging hot spots (:func:`emerging_hotspots`)
    Incidents are counted per cell and per local calendar month (``freq="M"``) or week
    starting Monday (``"W"``), from the first step with data to the last, with empty steps
    counted as zero. Only cells that ever had an incident take part (as in Esri's space-time
    cube). Gi* is computed for each step with the same neighbours (purely spatial: unlike
    Esri, neighbouring time steps are not pooled), p-values are FDR-adjusted within the step,
    and a cell is *hot* (*cold*) in a step when its adjusted p is at most ``alpha`` and z is
    positive (negative). The Mann-Kendall test (with tie correction) on each cell's series of
    Gi* z-scores gives the trend of the intensity of clustering, ``trend_z``/``trend_p``, as
    Esri uses it; the same test on the counts gives ``count_trend_z``/``count_trend_p``.

    With ``T`` steps, "90 %" meaning at least ``0.9 * T`` hot steps, and a trend significant
    when ``trend_p <= alpha``, the hot spot patterns are, first match wins:

    ==================  ====  ======================================================
    Intensifying        3     hot in >= 90 % of steps including the last; the z-score
                              trend is significantly upward
    Diminishing         5     as intensifying, with a significant downward trend
    Persistent          4     hot in >= 90 % of steps including the last; no
                              significant trend
    Historical          8     hot in >= 90 % of steps, but not in the last
    New                 1     hot in the last step, and neither hot nor cold in any
                              step before
    Consecutive         2     hot in an unbroken run of at least two steps ending with
                              the last (< 90 % of steps), neither hot nor cold before
                              the run
    Oscillating         7     hot in the last step, < 90 % hot, and cold in some
                              earlier step
    Sporadic            6     hot in the last step, < 90 % hot, on and off, never cold
    ==================  ====  ======================================================

    Esri says "never a hot spot before" for new and consecutive; like R's sfdep, a cold past
    also rules them out here, so that a place that flips from cold to hot is "oscillating".
    A hotspot that emerges during the period is therefore a new or consecutive hot spot (or
    sporadic, if it flickers at first); intensifying needs 90 % of the steps hot.
    Cold spot patterns mirror these (negative codes, "... Cold Spot"). A cell matching a hot
    pattern that concerns the last step is never also given a cold one (the last step cannot
    be both); when one side is only "historical" and the other involves the last step, the
    last step wins. Everything else is "No Pattern Detected" (code 0). Codes and names follow
    Esri's Emerging Hot Spot Analysis, whose definitions these are.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.spatial import cKDTree

from layers._errors import LayersError
from layers.analysis.grid import Grid, distance_band
from layers.settings import LOCAL_TZ

if TYPE_CHECKING:
    from libpysal.graph import Graph

Neighbours = Literal["distance", "knn"]
#: Esri's minimum for a trustworthy Gi*: cells holding at least one incident.
MIN_CELLS_WITH_DATA = 30
#: Time steps a Mann-Kendall trend needs to mean something (Esri's trends ask for 10 too).
MIN_TIME_STEPS = 10
#: (bin, largest p) from the strictest confidence level down: 99, 95 and 90 %.
CONFIDENCE_BINS = ((3, 0.01), (2, 0.05), (1, 0.10))
#: Emerging hot spot pattern codes (Esri's CATEGORY); cold spots are the negatives.
PATTERNS = {
    1: "New",
    2: "Consecutive",
    3: "Intensifying",
    4: "Persistent",
    5: "Diminishing",
    6: "Sporadic",
    7: "Oscillating",
    8: "Historical",
}
NO_PATTERN = "No Pattern Detected"


class HotspotError(LayersError):
    """The data cannot support the hotspot statistic asked for."""


def neighbour_graph(
    x: np.ndarray,
    y: np.ndarray,
    *,
    neighbours: Neighbours = "distance",
    distance_m: float | None = None,
    cell_m: float,
    k: int = 8,
) -> Graph:
    """Binary Gi* neighbours of cell centres, each cell included as its own neighbour.

    Parameters
    ----------
    x, y : numpy.ndarray
        Cell centres in metres.
    neighbours : {"distance", "knn"}, default "distance"
        A distance band, or the ``k`` nearest centres.
    distance_m : float, optional
        Radius of the distance band; default ``1.5 * cell_m``, which takes in the six
        adjacent hexagons (centres ``cell_m`` away; the next ring is ``sqrt(3) * cell_m``
        away) or the eight adjacent squares (``sqrt(2) * cell_m`` diagonally).
    cell_m : float
        The grid's cell size, for the default distance.
    k : int, default 8
        Neighbours besides the cell itself, with ``neighbours="knn"``.

    Returns
    -------
    libpysal.graph.Graph
        Built from a KD-tree, not from polygons: a fraction of a second for 40,000 cells.
    """
    # Imported here: libpysal and esda take about a second to import, which commands and
    # pages that never compute hot spots should not pay.
    from libpysal.graph import Graph

    matrix = _neighbour_matrix(
        x, y, neighbours=neighbours, distance_m=distance_m, cell_m=cell_m, k=k
    )
    return Graph.from_sparse(matrix)


def _neighbour_matrix(
    x: np.ndarray,
    y: np.ndarray,
    *,
    neighbours: str,
    distance_m: float | None,
    cell_m: float,
    k: int,
) -> sparse.csr_array:
    n = len(x)
    if neighbours == "distance":
        radius = 1.5 * cell_m if distance_m is None else float(distance_m)
        if not math.isfinite(radius) or radius <= 0:
            raise ValueError(
                f"`distance_m` must be a positive number of metres, not {distance_m!r}."
            )
        return distance_band(x, y, distance_m=radius, include_self=True)
    if neighbours == "knn":
        if int(k) != k or k < 1:
            raise ValueError(f"`k` must be a whole number of neighbours of at least 1, not {k!r}.")
        take = min(int(k), n - 1) + 1
        centres = np.column_stack([x, y])
        _, nearest = cKDTree(centres).query(centres, k=take)
        rows = np.repeat(np.arange(n), take)
        adjacency = sparse.csr_array(
            (np.ones(rows.size), (rows, np.asarray(nearest).ravel())), shape=(n, n)
        )
        # Each cell is its own nearest centre; make sure of it, then keep weights binary.
        return (adjacency + sparse.eye_array(n, format="csr")).sign().tocsr()
    raise ValueError(f"`neighbours` must be 'distance' or 'knn', not {neighbours!r}.")


def gi_star(
    grid: Grid,
    counts: np.ndarray,
    *,
    neighbours: Neighbours = "distance",
    distance_m: float | None = None,
    k: int = 8,
    fdr: bool = True,
) -> pd.DataFrame:
    """Getis-Ord Gi* hot and cold spots of incident counts per cell.

    Parameters
    ----------
    grid : Grid
        The cells (from :func:`layers.analysis.grid.make_grid`).
    counts : numpy.ndarray
        Incidents per cell, length ``grid.n_cells`` (from :func:`layers.analysis.grid.cell_counts`).
    neighbours : {"distance", "knn"}, default "distance"
        Neighbourhood: see :func:`neighbour_graph`.
    distance_m : float, optional
        Distance band in metres; default ``1.5 * grid.cell_m``.
    k : int, default 8
        Number of nearest cells with ``neighbours="knn"``.
    fdr : bool, default True
        Judge significance on Benjamini-Hochberg adjusted p-values (``gi_p_fdr``).

    Returns
    -------
    pandas.DataFrame
        Aligned to ``grid.cells`` (same index): ``count``, ``gi_z``, ``gi_p`` (two-sided,
        normal approximation), ``gi_p_fdr`` (BH-adjusted), ``gi_bin`` (-3..3, Esri's Gi_Bin)
        and ``n_neighbours`` (including the cell itself). Where counts do not vary at all,
        z is 0 and p is 1.

    Raises
    ------
    HotspotError
        When fewer than 30 cells hold incidents.
    """
    given = _check_counts(grid, counts)
    counts = given.astype(float)
    with_data = int((counts > 0).sum())
    if with_data < MIN_CELLS_WITH_DATA:
        raise HotspotError(
            f"Gi* needs at least {MIN_CELLS_WITH_DATA} cells with incidents, and only "
            f"{with_data} have any; widen the filters"
            + (" or use smaller cells." if int(counts.sum()) >= MIN_CELLS_WITH_DATA else ".")
        )
    x, y = grid.cells["x"].to_numpy(), grid.cells["y"].to_numpy()
    graph = neighbour_graph(
        x, y, neighbours=neighbours, distance_m=distance_m, cell_m=grid.cell_m, k=k
    )
    z, p = _gi_star_z(counts, graph)
    p_fdr = stats.false_discovery_control(p, method="bh")
    return pd.DataFrame(
        {
            "count": given,
            "gi_z": z,
            "gi_p": p,
            "gi_p_fdr": p_fdr,
            "gi_bin": gi_bins(z, p_fdr if fdr else p),
            "n_neighbours": graph.cardinalities.to_numpy().astype(np.int64),
        },
        index=grid.cells.index,
    )


def gi_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Esri's Gi_Bin: +-3 at p <= 0.01, +-2 at p <= 0.05, +-1 at p <= 0.10, else 0; sign of z.

    Parameters
    ----------
    z, p : numpy.ndarray
        Gi* z-scores and the (two-sided, possibly FDR-adjusted) p-values to judge them by.

    Returns
    -------
    numpy.ndarray
        int64 bins in -3..3.
    """
    z, p = np.asarray(z, dtype=float), np.asarray(p, dtype=float)
    level = np.zeros(z.shape, dtype=np.int64)
    for value, largest_p in reversed(CONFIDENCE_BINS):
        level[p <= largest_p] = value
    return level * np.sign(np.nan_to_num(z)).astype(np.int64)


def emerging_hotspots(
    grid: Grid,
    cell_ids: np.ndarray,
    times: pd.Series,
    *,
    freq: Literal["W", "M"] = "M",
    neighbours: Neighbours = "distance",
    distance_m: float | None = None,
    k: int = 8,
    alpha: float = 0.05,
    fdr: bool = True,
) -> pd.DataFrame:
    """Classify cells as new, intensifying, persistent, fading ... hot or cold spots.

    See the module docstring for the method and the pattern definitions.

    Parameters
    ----------
    grid : Grid
        The cells.
    cell_ids : numpy.ndarray
        Cell of each incident (from :func:`layers.analysis.grid.assign_cells`; -1 is left out).
    times : pandas.Series
        When each incident occurred, timezone-aware (UTC in the store), aligned with
        ``cell_ids``. Steps are local (Africa/Johannesburg) months or weeks.
    freq : {"M", "W"}, default "M"
        Calendar months, or weeks starting on Monday.
    neighbours, distance_m, k
        Neighbourhood, as for :func:`gi_star`.
    alpha : float, default 0.05
        Significance level of a hot or cold step and of a trend.
    fdr : bool, default True
        Adjust each step's p-values for false discoveries (Benjamini-Hochberg).

    Returns
    -------
    pandas.DataFrame
        Aligned to ``grid.cells``: ``count`` (incidents in the period), ``hot_steps``,
        ``cold_steps``, ``n_steps`` (time steps in the period), ``final_hot``,
        ``final_cold``, ``trend_z``/``trend_p`` (Mann-Kendall on the Gi* z-scores),
        ``count_trend_z``/``count_trend_p`` (on the counts),
        ``category_code`` (Esri's -8..8) and ``category`` (e.g. "New Hot Spot"). Cells
        without incidents get "No Pattern Detected" and NaN trends. ``attrs`` holds
        ``steps`` (the step labels), ``freq`` and ``alpha``.

    Raises
    ------
    HotspotError
        With fewer than 10 time steps or fewer than 30 cells with incidents.
    """
    if not 0 < alpha < 1:
        raise ValueError("`alpha` must be a significance level between 0 and 1, such as 0.05.")
    steps, labels = _time_steps(cell_ids, times, freq=freq)
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    valid = (cell_ids >= 0) & (steps >= 0)
    if valid.any() and cell_ids[valid].max() >= grid.n_cells:
        raise ValueError(
            "`cell_ids` do not belong to this grid: assign them with its `assign_cells`."
        )
    n_steps = len(labels)
    if n_steps < MIN_TIME_STEPS:
        unit = "months" if freq == "M" else "weeks"
        raise HotspotError(
            f"Emerging hot spots need at least {MIN_TIME_STEPS} time steps for a trend, and "
            f"these incidents span {n_steps} {unit}; "
            + ("use weekly steps or a longer period." if freq == "M" else "use a longer period.")
        )
    ever, row = np.unique(cell_ids[valid], return_inverse=True)
    if ever.size < MIN_CELLS_WITH_DATA:
        raise HotspotError(
            f"Emerging hot spots need at least {MIN_CELLS_WITH_DATA} cells with incidents, and "
            f"only {ever.size} have any; widen the filters"
            + (" or use smaller cells." if int(valid.sum()) >= MIN_CELLS_WITH_DATA else ".")
        )
    cube = np.bincount(row * n_steps + steps[valid], minlength=ever.size * n_steps)
    cube = cube.reshape(ever.size, n_steps).astype(float)
    cells = grid.cells.iloc[ever]
    weights = _neighbour_matrix(
        cells["x"].to_numpy(),
        cells["y"].to_numpy(),
        neighbours=neighbours,
        distance_m=distance_m,
        cell_m=grid.cell_m,
        k=k,
    )
    z, p = gi_star_steps(cube, weights)
    judged = stats.false_discovery_control(p, axis=0, method="bh") if fdr else p
    significant = judged <= alpha
    hot, cold = significant & (z > 0), significant & (z < 0)
    trend_z, trend_p = mann_kendall(z)
    count_trend_z, count_trend_p = mann_kendall(cube)
    code = _classify(hot, cold, trend_z, trend_p, alpha=alpha)

    def spread(values: np.ndarray, fill: object) -> np.ndarray:
        full = np.full(grid.n_cells, fill, dtype=np.asarray(values).dtype)
        full[ever] = values
        return full

    codes = spread(code, 0)
    out = pd.DataFrame(
        {
            "count": spread(cube.sum(axis=1).astype(np.int64), 0),
            "hot_steps": spread(hot.sum(axis=1), 0),
            "cold_steps": spread(cold.sum(axis=1), 0),
            "n_steps": np.full(grid.n_cells, n_steps, dtype=np.int64),
            "final_hot": spread(hot[:, -1], False),
            "final_cold": spread(cold[:, -1], False),
            "trend_z": spread(trend_z, np.nan),
            "trend_p": spread(trend_p, np.nan),
            "count_trend_z": spread(count_trend_z, np.nan),
            "count_trend_p": spread(count_trend_p, np.nan),
            "category_code": codes,
            "category": [category_name(int(c)) for c in codes],
        },
        index=grid.cells.index,
    )
    out.attrs.update(steps=labels, freq=freq, alpha=alpha)
    return out


def category_name(code: int) -> str:
    """Esri's pattern name of a category code: 1 is "New Hot Spot", -4 "Persistent Cold Spot"."""
    if code == 0:
        return NO_PATTERN
    return f"{PATTERNS[abs(code)]} {'Hot' if code > 0 else 'Cold'} Spot"


def mann_kendall(series: np.ndarray, *, continuity: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mann-Kendall trend test of each row, with the tie correction of the variance.

    Parameters
    ----------
    series : numpy.ndarray
        2-D, one time series per row, time steps as columns.
    continuity : bool, default True
        Apply the usual continuity correction (S - sign(S)).

    Returns
    -------
    tuple of numpy.ndarray
        z-scores (positive for upward trends; 0 for a constant series) and two-sided
        p-values.
    """
    x = np.asarray(series, dtype=float)
    n = x.shape[1]
    # S = sum over pairs i < j of sign(x_j - x_i), one step against all later ones at a time,
    # time-major so that each comparison runs over contiguous memory.
    by_step = np.ascontiguousarray(x.T)
    s = np.zeros(x.shape[0], dtype=np.int64)
    for i in range(n - 1):
        later = by_step[i + 1 :] - by_step[i]
        s += (later > 0).sum(axis=0) - (later < 0).sum(axis=0)
    ordered = np.sort(x, axis=1)
    first = np.ones(x.shape, dtype=bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    position = np.arange(n)
    run = position - np.maximum.accumulate(np.where(first, position, 0), axis=1) + 1

    def f(t: np.ndarray) -> np.ndarray:
        return t * (t - 1) * (2 * t + 5)

    # Summing f(m) - f(m - 1) over positions m = 1..t of a run of t ties gives f(t).
    ties = (f(run) - f(run - 1)).sum(axis=1)
    variance = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    numerator = s - np.sign(s) if continuity else s
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, numerator / np.sqrt(variance), 0.0)
    return z, 2 * stats.norm.sf(np.abs(z))


def gi_star_steps(counts: np.ndarray, weights: sparse.sparray) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided p-values of many columns of counts at once.

    The formula of esda's ``G_Local(y, w, transform="B", star=True)`` (Getis and Ord's Gi*
    with binary weights), applied to every column in one sparse product instead of one
    ``G_Local`` per time step: ten times faster for a hundred weekly steps.

    Parameters
    ----------
    counts : numpy.ndarray
        (cells, steps) counts.
    weights : scipy.sparse array
        (cells, cells) binary weights with ones on the diagonal, as from
        :func:`neighbour_graph` (``graph.sparse``).

    Returns
    -------
    tuple of numpy.ndarray
        z-scores and p-values, shaped like ``counts``; z 0 and p 1 in a column whose counts do
        not vary (no incidents in that step, say).
    """
    y = np.asarray(counts, dtype=float)
    n = y.shape[0]
    total = y.sum(axis=0)
    mean = total / n
    variance = (y**2).sum(axis=0) / n - mean**2
    cardinality = np.asarray(weights.sum(axis=1)).ravel()[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (weights @ y) / total
        expected = cardinality / n
        spread = cardinality * (n - cardinality) / (n - 1) / n**2 * variance / mean**2
        z = (statistic - expected) / np.sqrt(spread)
    defined = np.isfinite(z) & (variance > 0)
    z = np.where(defined, z, 0.0)
    return z, np.where(defined, 2 * stats.norm.sf(np.abs(z)), 1.0)


def _gi_star_z(y: np.ndarray, graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """esda's analytic Gi* z-scores and two-sided p-values; z 0 and p 1 where undefined."""
    import esda  # see neighbour_graph on why here

    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = esda.G_Local(y, graph, transform="B", star=True, permutations=0)
    z = np.asarray(g.Zs, dtype=float)
    defined = np.isfinite(z)
    z = np.where(defined, z, 0.0)
    p = np.where(defined, 2 * np.asarray(g.p_norm, dtype=float), 1.0)
    return z, np.minimum(p, 1.0)


def _check_counts(grid: Grid, counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.shape != (grid.n_cells,):
        raise ValueError(
            f"`counts` must hold one number per grid cell ({grid.n_cells}), not shape "
            f"{counts.shape}: count with `layers.analysis.grid.cell_counts(grid, cell_ids)`."
        )
    if not np.issubdtype(counts.dtype, np.number) or not np.isfinite(counts).all():
        raise ValueError("`counts` must be finite numbers: they are incident counts.")
    if (counts < 0).any():
        raise ValueError("`counts` must not be negative: they are incident counts.")
    return counts.astype(np.int64) if np.issubdtype(counts.dtype, np.integer) else counts


def _time_steps(
    cell_ids: np.ndarray, times: pd.Series, *, freq: str
) -> tuple[np.ndarray, list[str]]:
    """Step number of each incident (-1 for a missing time) and the label of every step."""
    if freq not in ("M", "W"):
        raise ValueError(f"`freq` must be 'M' (months) or 'W' (weeks), not {freq!r}.")
    times = pd.Series(times)
    if len(times) != len(cell_ids):
        raise ValueError(
            f"`times` ({len(times)}) and `cell_ids` ({len(cell_ids)}) must be one per incident."
        )
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise ValueError(
            "`times` must be timezone-aware datetimes (the store's `occurred_at`, in UTC); "
            "localise naive times with `.dt.tz_localize('Africa/Johannesburg')` first."
        )
    local = times.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    period = pd.PeriodIndex(local.dt.to_period("M" if freq == "M" else "W-SUN"))
    known = ~period.isna() & (np.asarray(cell_ids) >= 0)
    if not known.any():
        return np.full(len(times), -1, dtype=np.int64), []
    ordinal = period.asi8
    first = int(ordinal[known].min())
    steps = np.where(known, ordinal - first, -1).astype(np.int64)
    span = pd.period_range(period[known].min(), period[known].max(), freq=period.freq)
    labels = [str(p.start_time.date()) for p in span]
    return steps, labels


def _classify(
    hot: np.ndarray, cold: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, *, alpha: float
) -> np.ndarray:
    """Esri pattern code of each cell: hot patterns, cold mirror, the last step first."""
    hot_code = _side_pattern(hot, cold, trend_z, trend_p, alpha=alpha)
    cold_code = -_side_pattern(cold, hot, -trend_z, trend_p, alpha=alpha)
    hot_final = (hot_code != 0) & (hot_code != 8)
    cold_final = (cold_code != 0) & (cold_code != -8)
    return np.where(
        hot_final, hot_code, np.where(cold_final, cold_code, np.where(hot_code == 8, 8, cold_code))
    )


def _side_pattern(
    spot: np.ndarray, other: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, *, alpha: float
) -> np.ndarray:
    """Pattern codes 1..8 for one side (hot, or cold with the trend's sign flipped)."""
    n_steps = spot.shape[1]
    count = spot.sum(axis=1)
    final = spot[:, -1]
    mostly = count >= 0.9 * n_steps
    trending = trend_p <= alpha
    # Length of the unbroken run of spot steps that ends with the last step.
    broken = ~spot[:, ::-1]
    final_run = np.where(broken.any(axis=1), broken.argmax(axis=1), n_steps)
    earlier_other = other[:, :-1].any(axis=1)
    conditions = [
        mostly & final & trending & (trend_z > 0),
        mostly & final & trending & (trend_z < 0),
        mostly & final,
        mostly & ~final,
        final & (count == 1) & ~earlier_other,
        final & (final_run >= 2) & (final_run == count) & ~earlier_other,
        final & earlier_other,
        final,
    ]
    return np.select(conditions, [3, 5, 4, 8, 1, 2, 7, 6], default=0).astype(np.int64)
