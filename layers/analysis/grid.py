"""Analysis grids: hexagons or squares in metres, clipped to the study area.

A grid is laid out in :data:`~layers.settings.METRIC_CRS` (UTM 34S) over the bounds of the
study area. ``cell_m`` is the distance between the centres of two adjacent cells:

* ``"hex"`` (default): pointy-topped hexagons in rows ``cell_m * sqrt(3) / 2`` apart, every
  other row shifted by half a cell. Each hexagon has six neighbours exactly ``cell_m`` away,
  a circumradius of ``cell_m / sqrt(3)`` and an area of ``sqrt(3) / 2 * cell_m**2``.
* ``"square"``: squares of side ``cell_m`` (four neighbours at ``cell_m``, four diagonal ones
  at ``cell_m * sqrt(2)``).

Every cell that overlaps the study area is kept, clipped to it; ``clipped_fraction`` says how
much of the full cell lies inside (1 for interior cells). Points are assigned to cells by index
arithmetic on the regular lattice, so a million points take a fraction of a second; only points
falling in a clipped edge cell get an exact point-in-polygon test.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.spatial import cKDTree

from layers.intake.geometry import polygonal_parts
from layers.settings import METRIC_CRS, WGS84

CellShape = Literal["hex", "square"]
SHAPES: tuple[str, ...] = ("hex", "square")
#: Candidate cell sizes for :func:`default_cell_size`, smallest first.
CANDIDATE_CELL_M: tuple[float, ...] = (
    150.0,
    200.0,
    250.0,
    300.0,
    400.0,
    500.0,
    600.0,
    800.0,
    1000.0,
)
#: A grid larger than this is almost certainly a unit mistake (degrees for metres).
MAX_LATTICE_CELLS = 4_000_000
_SQRT3 = math.sqrt(3.0)
# A clipped cell smaller than this share of a full cell only touches the area's boundary.
_MIN_SHARE = 1e-6
# What a candidate cell size needs to count as clustered: a Moran's I z-score significant
# at 99 % and an I of at least 0.1 (sparse random counts can reach z = 3 by themselves, the
# normal approximation being poor for cells holding 0 or 1 incident, but not I = 0.1).
_MORAN_MIN_Z = 2.576
_MORAN_MIN_I = 0.1


@dataclass(frozen=True)
class _Lattice:
    """The regular lattice a grid is cut from: origin, spacing and size in rows and columns."""

    shape: CellShape
    cell_m: float
    x0: float
    y0: float
    n_rows: int
    n_cols: int

    @classmethod
    def covering(
        cls, bounds: tuple[float, float, float, float], *, cell_m: float, shape: str
    ) -> _Lattice:
        minx, miny, maxx, maxy = bounds
        # One spare cell on every side, so every point inside the bounds has its cell here.
        x0, y0 = minx - cell_m, miny - cell_m
        n_cols = math.ceil((maxx - x0) / cell_m) + 2
        n_rows = math.ceil((maxy - y0) / cls._row_step(shape, cell_m)) + 2
        return cls(shape, float(cell_m), x0, y0, n_rows, n_cols)  # type: ignore[arg-type]

    @staticmethod
    def _row_step(shape: str, cell_m: float) -> float:
        return cell_m * _SQRT3 / 2 if shape == "hex" else cell_m

    @property
    def size(self) -> int:
        return self.n_rows * self.n_cols

    def centres(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres of lattice positions, in metres."""
        if self.shape == "hex":
            x = self.x0 + self.cell_m * (col + 0.5 * (row & 1))
            y = self.y0 + self.cell_m * _SQRT3 / 2 * row
        else:
            x = self.x0 + self.cell_m * (col + 0.5)
            y = self.y0 + self.cell_m * (row + 0.5)
        return x, y

    def locate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lattice row and column of the cell holding each point (may be out of range)."""
        px, py = x - self.x0, y - self.y0
        if self.shape == "square":
            col = np.floor(px / self.cell_m)
            row = np.floor(py / self.cell_m)
            return _as_index(row), _as_index(col)
        # Axial hex coordinates of the point, rounded to the nearest hexagon in cube space.
        radius = self.cell_m / _SQRT3
        q = (_SQRT3 / 3 * px - py / 3) / radius
        r = (2 / 3 * py) / radius
        s = -q - r
        rq, rr, rs = np.round(q), np.round(r), np.round(s)
        dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
        fix_q = (dq > dr) & (dq > ds)
        fix_r = ~fix_q & (dr > ds)
        rq = np.where(fix_q, -rr - rs, rq)
        rr = np.where(fix_r, -rq - rs, rr)
        row = _as_index(rr)
        return row, _as_index(rq) + (row >> 1)

    def outlines(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Full (unclipped) cell polygons of lattice positions."""
        x, y = self.centres(row, col)
        if self.shape == "hex":
            angles = np.deg2rad(30.0 + 60.0 * np.arange(7))
            reach = self.cell_m / _SQRT3
        else:
            angles = np.deg2rad(45.0 + 90.0 * np.arange(5))
            reach = self.cell_m / math.sqrt(2.0)
        ring_x = x[:, None] + reach * np.cos(angles)[None, :]
        ring_y = y[:, None] + reach * np.sin(angles)[None, :]
        return shapely.polygons(np.stack([ring_x, ring_y], axis=-1))

    @property
    def cell_area(self) -> float:
        return self.cell_m**2 * (_SQRT3 / 2 if self.shape == "hex" else 1.0)


def _as_index(values: np.ndarray) -> np.ndarray:
    # Non-finite positions (NaN coordinates) become a row far outside any lattice.
    return np.where(np.isfinite(values), values, -(2**40)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Grid:
    """An analysis grid and what point-to-cell assignment needs.

    Attributes
    ----------
    cells : geopandas.GeoDataFrame
        One row per cell in :data:`METRIC_CRS`, index ``0..n-1``: ``cell_id`` (equal to the
        index), ``geometry`` (the cell clipped to the study area), ``clipped_fraction`` (clipped
        area / full cell area, in (0, 1]), ``x`` and ``y`` (centre of the full cell, metres).
    cell_m : float
        Distance between the centres of adjacent cells, in metres.
    shape : {"hex", "square"}
        Cell shape.
    """

    cells: gpd.GeoDataFrame = field(repr=False)
    cell_m: float
    shape: CellShape
    _lattice: _Lattice = field(repr=False)
    # cell_id of each lattice position (n_rows, n_cols), -1 where no cell is kept
    _lookup: np.ndarray = field(repr=False)
    # per cell: True when the area's boundary cuts the cell
    _clipped: np.ndarray = field(repr=False)

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return len(self.cells)

    @property
    def cell_area_m2(self) -> float:
        """Area of a full (unclipped) cell in square metres."""
        return self._lattice.cell_area


def make_grid(area: gpd.GeoDataFrame, *, cell_m: float, shape: CellShape = "hex") -> Grid:
    """Cover a study area with hexagons or squares, clipped to it.

    Parameters
    ----------
    area : geopandas.GeoDataFrame
        Polygons of the study area (precincts, wards, a boundary), in any CRS. Their union is
        the area.
    cell_m : float
        Distance in metres between the centres of adjacent cells: for squares the side, for
        hexagons the distance across flats.
    shape : {"hex", "square"}, default "hex"
        Cell shape.

    Returns
    -------
    Grid
        Cells in :data:`METRIC_CRS`, numbered ``0..n-1`` row by row from the south-west.

    Raises
    ------
    ValueError
        When ``area`` has no CRS or no polygon, ``cell_m`` is not a positive number of metres,
        ``shape`` is unknown, or the cells would be implausibly many.
    """
    _check_shape(shape)
    cell_m = _check_cell_m(cell_m)
    union = _area_union(area)
    lattice = _Lattice.covering(union.bounds, cell_m=cell_m, shape=shape)
    _check_lattice_size(lattice, union)
    shapely.prepare(union)
    row, col = np.divmod(np.arange(lattice.size, dtype=np.int64), lattice.n_cols)
    x, y = lattice.centres(row, col)
    # Only positions whose centre lies within one circumradius of the area can touch it.
    near = shapely.dwithin(union, shapely.points(x, y), lattice.cell_m * 0.75)
    row, col, x, y = row[near], col[near], x[near], y[near]
    full = lattice.outlines(row, col)
    inside = shapely.contains(union, full)
    geometry = np.where(inside, full, shapely.Polygon())
    edge = np.flatnonzero(~inside & shapely.intersects(union, full))
    geometry[edge] = _clip_cells(full[edge], x[edge], y[edge], union, lattice)
    share = shapely.area(geometry) / lattice.cell_area
    keep = share > _MIN_SHARE
    share = np.where(inside, 1.0, np.minimum(share, 1.0))[keep]
    cells = gpd.GeoDataFrame(
        {
            "cell_id": np.arange(int(keep.sum()), dtype=np.int64),
            "clipped_fraction": share,
            "x": x[keep],
            "y": y[keep],
        },
        geometry=geometry[keep],
        crs=METRIC_CRS,
    )
    lookup = np.full((lattice.n_rows, lattice.n_cols), -1, dtype=np.int64)
    lookup[row[keep], col[keep]] = cells["cell_id"].to_numpy()
    clipped = ~inside[keep]
    shapely.prepare(cells.geometry.to_numpy()[clipped])
    return Grid(cells, float(cell_m), shape, lattice, lookup, clipped)


def _clip_cells(
    cells: np.ndarray, x: np.ndarray, y: np.ndarray, union: shapely.Geometry, lattice: _Lattice
) -> np.ndarray:
    """Intersect edge cells with the area, tile by tile.

    A long coastline has thousands of vertices; intersecting each cell with the whole of it
    costs seconds. The area is first cut to tiles of 16 by 16 cells (plus a one-cell margin,
    which holds every cell centred in the tile), and each cell is intersected with its tile's
    piece only: the same result, some ten times faster.
    """
    tile = 16 * lattice.cell_m
    tx = np.floor((x - lattice.x0) / tile).astype(np.int64)
    ty = np.floor((y - lattice.y0) / tile).astype(np.int64)
    out = np.empty(len(cells), dtype=object)
    key = tx * (lattice.n_rows + 1) + ty
    for k in np.unique(key):
        members = np.flatnonzero(key == k)
        left = lattice.x0 + tx[members[0]] * tile - lattice.cell_m
        bottom = lattice.y0 + ty[members[0]] * tile - lattice.cell_m
        margin = tile + 2 * lattice.cell_m
        piece = shapely.clip_by_rect(union, left, bottom, left + margin, bottom + margin)
        out[members] = shapely.intersection(cells[members], piece)
    return polygonal_parts(out)


def assign_cells(grid: Grid, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The cell of each point, by lattice arithmetic.

    Parameters
    ----------
    grid : Grid
        From :func:`make_grid`.
    lon, lat : numpy.ndarray
        Point coordinates in EPSG:4326.

    Returns
    -------
    numpy.ndarray
        ``cell_id`` of each point (int64), -1 for points outside every cell (outside the
        study area) and for missing coordinates.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.shape != lat.shape:
        raise ValueError(
            f"`lon` and `lat` must have the same shape, not {lon.shape} and {lat.shape}."
        )
    x, y = _to_metric().transform(lon, lat)
    return _cells_of_xy(grid, np.asarray(x), np.asarray(y))


def _cells_of_xy(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    lattice = grid._lattice
    row, col = lattice.locate(x, y)
    ids = np.full(x.shape, -1, dtype=np.int64)
    ok = (row >= 0) & (row < lattice.n_rows) & (col >= 0) & (col < lattice.n_cols)
    ids[ok] = grid._lookup[row[ok], col[ok]]
    # Points in a clipped edge cell may lie in the part of the hexagon outside the area.
    check = np.flatnonzero(ids >= 0)
    check = check[grid._clipped[ids[check]]]
    if check.size:
        geoms = grid.cells.geometry.to_numpy()[ids[check]]
        ids[check[~shapely.intersects_xy(geoms, x[check], y[check])]] = -1
    return ids


def cell_counts(grid: Grid, cell_ids: np.ndarray) -> np.ndarray:
    """Number of points in each cell.

    Parameters
    ----------
    grid : Grid
        The grid the ids refer to.
    cell_ids : numpy.ndarray
        From :func:`assign_cells`; -1 (outside) is ignored.

    Returns
    -------
    numpy.ndarray
        int64 counts of length ``grid.n_cells``, indexed by ``cell_id``.
    """
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    inside = cell_ids[cell_ids >= 0]
    if inside.size and inside.max() >= grid.n_cells:
        raise ValueError(
            f"`cell_ids` go up to {inside.max()} but the grid has {grid.n_cells} cells: "
            "assign the points with this grid's `assign_cells`."
        )
    return np.bincount(inside, minlength=grid.n_cells).astype(np.int64)


def default_cell_size(
    lon: np.ndarray, lat: np.ndarray, area: gpd.GeoDataFrame
) -> tuple[float, str]:
    """A data-driven default cell size in metres, and why, in words for the analyst.

    Esri's Optimized Hot Spot Analysis picks its scale at the first peak of incremental
    spatial autocorrelation. This does the comparable thing over cell sizes: for each of
    :data:`CANDIDATE_CELL_M` it counts the incidents in hexagons whose centre lies in the area
    and computes global Moran's I of the counts with each hexagon's six neighbours,
    row-standardised (``esda.Moran(counts, w, transformation="r").I``). The default is the
    first size at which I peaks (higher than at the next smaller and next larger size): the
    scale at which neighbouring cells are most alike, below which counts are mostly Poisson
    noise and above which clusters are swallowed by single cells. I is compared rather than
    its z-score because the z-score grows with the number of cells and so always favours the
    smallest size. Sizes with fewer than 30 hexagons holding incidents, or without clear
    clustering (I below 0.1 or its z-score below 2.58), are left out. Without an interior peak the
    size with the highest I is taken (clustering that keeps growing or fading across the
    range); with no size left at all, twice the average nearest-neighbour distance between
    incident locations, rounded to 50 m and kept within the candidate range. About half a
    second for 50,000 incidents over Cape Town.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Incident coordinates in EPSG:4326.
    area : geopandas.GeoDataFrame
        The study area, any CRS.

    Returns
    -------
    tuple of (float, str)
        Cell size in metres and a one-paragraph explanation for the UI.
    """
    union = _area_union(area)
    shapely.prepare(union)
    x, y = _to_metric().transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    inside = np.isfinite(x) & np.isfinite(y)
    inside[inside] = shapely.contains_xy(union, x[inside], y[inside])
    x, y = x[inside], y[inside]
    scores = {cell_m: _moran_i(union, x, y, cell_m) for cell_m in CANDIDATE_CELL_M}
    tried = ", ".join(f"{m:.0f} m: {i:.3f}" for m, i in scores.items() if np.isfinite(i))
    peak = _first_peak(scores)
    if peak is not None:
        return peak, (
            f"Cell size {peak:.0f} m, chosen from the data: incidents were counted in hexagons "
            "of several sizes, and the similarity of neighbouring cells' counts (global "
            f"Moran's I; {tried}) first peaks at {peak:.0f} m. That is the scale at which "
            "incidents cluster most clearly: smaller cells mostly show chance, larger ones "
            "blur clusters together. Esri's Optimized Hot Spot Analysis picks its scale the "
            "same way, from the first peak of spatial autocorrelation. Change the cell size to "
            "look at finer or coarser patterns."
        )
    if tried:
        best = max((m for m in scores if np.isfinite(scores[m])), key=lambda m: scores[m])
        return float(best), (
            f"Cell size {best:.0f} m, chosen from the data: incidents were counted in hexagons "
            "of several sizes, and the similarity of neighbouring cells' counts (global "
            f"Moran's I; {tried}) is highest at {best:.0f} m, with no peak inside the range "
            "tried. Esri's Optimized Hot Spot Analysis picks its scale "
            "from the peak of spatial autocorrelation; change the cell size to look at finer "
            "or coarser patterns."
        )
    cell_m, ann = _nearest_neighbour_size(x, y)
    return cell_m, (
        f"Cell size {cell_m:.0f} m: there are too few incidents, or they cluster too little, "
        "to pick a scale from their clustering, so the size is twice the average distance "
        f"from an incident location to the nearest other one ({ann:.0f} m), rounded to 50 m "
        f"and kept between {CANDIDATE_CELL_M[0]:.0f} and {CANDIDATE_CELL_M[-1]:.0f} m. Change "
        "the cell size to look at finer or coarser patterns."
    )


def _moran_i(union: shapely.Geometry, x: np.ndarray, y: np.ndarray, cell_m: float) -> float:
    """Moran's I of hexagon counts, NaN with too few data or no significant clustering."""
    lattice = _Lattice.covering(union.bounds, cell_m=cell_m, shape="hex")
    if lattice.size > MAX_LATTICE_CELLS:
        return math.nan
    row, col = np.divmod(np.arange(lattice.size, dtype=np.int64), lattice.n_cols)
    cx, cy = lattice.centres(row, col)
    keep = shapely.contains_xy(union, cx, cy)
    position = np.full(lattice.size, -1, dtype=np.int64)
    position[keep] = np.arange(int(keep.sum()))
    prow, pcol = lattice.locate(x, y)
    ok = (prow >= 0) & (prow < lattice.n_rows) & (pcol >= 0) & (pcol < lattice.n_cols)
    where = position[prow[ok] * lattice.n_cols + pcol[ok]]
    counts = np.bincount(where[where >= 0], minlength=int(keep.sum())).astype(float)
    if (counts > 0).sum() < 30:
        return math.nan
    adjacency = distance_band(cx[keep], cy[keep], distance_m=1.01 * cell_m)
    moran, z = _global_moran_i(counts, adjacency)
    # A peak of clustering that chance could produce is no scale at all.
    return moran if z >= _MORAN_MIN_Z and moran >= _MORAN_MIN_I else math.nan


def _global_moran_i(values: np.ndarray, adjacency: sparse.csr_array) -> tuple[float, float]:
    """Global Moran's I and its z-score under normality, row-standardised weights.

    The same numbers as ``esda.Moran(values, w, transformation="r", permutations=0)``'s
    ``I`` and ``z_norm``, without building a libpysal weights object (adjacency is binary,
    without self-links; cells without neighbours get no weight).
    """
    n = len(values)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    scale = np.divide(1.0, degree, out=np.zeros(n), where=degree > 0)
    w = sparse.diags_array(scale) @ adjacency
    z = np.asarray(values, dtype=float) - np.mean(values)
    s0 = float(w.sum())
    s1 = 0.5 * float((w + w.T).power(2).sum())
    s2 = float(((np.asarray(w.sum(axis=1)).ravel() + np.asarray(w.sum(axis=0)).ravel()) ** 2).sum())
    spread = float(z @ z)
    if s0 == 0 or spread == 0 or n < 3:
        return math.nan, math.nan
    moran = n / s0 * float(z @ (w @ z)) / spread
    expected = -1.0 / (n - 1)
    variance = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n * n - 1) * s0 * s0) - expected**2
    return moran, (moran - expected) / math.sqrt(variance)


def _first_peak(scores: dict[float, float]) -> float | None:
    sizes = list(scores)
    value = np.nan_to_num(np.asarray(list(scores.values())), nan=-np.inf)
    for i in range(1, len(sizes) - 1):
        if np.isfinite(value[i]) and value[i - 1] < value[i] >= value[i + 1]:
            return float(sizes[i])
    return None


def _nearest_neighbour_size(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    points = np.unique(np.column_stack([x, y]), axis=0)
    if len(points) < 2:
        return CANDIDATE_CELL_M[len(CANDIDATE_CELL_M) // 2], math.nan
    distance, _ = cKDTree(points).query(points, k=2)
    ann = float(distance[:, 1].mean())
    cell_m = min(max(round(2 * ann / 50) * 50, CANDIDATE_CELL_M[0]), CANDIDATE_CELL_M[-1])
    return float(cell_m), ann


def distance_band(
    x: np.ndarray, y: np.ndarray, *, distance_m: float, include_self: bool = False
) -> sparse.csr_array:
    """Binary neighbour matrix of points within ``distance_m`` of each other, from a KD-tree.

    Parameters
    ----------
    x, y : numpy.ndarray
        Coordinates in metres (cell centres).
    distance_m : float
        Largest distance between neighbours.
    include_self : bool, default False
        Put ones on the diagonal (each point its own neighbour, as Gi* wants).

    Returns
    -------
    scipy.sparse.csr_array
        Symmetric, ones where two points are neighbours.
    """
    n = len(x)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(distance_m, output_type="ndarray")
    rows = [pairs[:, 0], pairs[:, 1]]
    cols = [pairs[:, 1], pairs[:, 0]]
    if include_self:
        rows.append(np.arange(n))
        cols.append(np.arange(n))
    i, j = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_array((np.ones(i.size), (i, j)), shape=(n, n))


def to_metric(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 longitude/latitude to :data:`METRIC_CRS` metres (x, y)."""
    x, y = _to_metric().transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


@functools.cache
def _to_metric() -> Transformer:
    # Built once per process: pyproj Transformers are thread-safe since pyproj 3.1.
    return Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)


def _area_union(area: gpd.GeoDataFrame) -> shapely.Geometry:
    if not isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        raise ValueError(f"`area` must be a GeoDataFrame of polygons, not {type(area).__name__}.")
    if area.crs is None:
        raise ValueError("`area` must have a CRS: set it with `area.set_crs(...)` first.")
    polygons = area.geometry[area.geometry.notna() & ~area.geometry.is_empty]
    polygons = polygons[polygons.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise ValueError("`area` has no polygons: give the study area as polygon boundaries.")
    union = shapely.make_valid(polygons.to_crs(METRIC_CRS).union_all())
    return polygonal_parts(np.asarray([union]))[0]


def _check_shape(shape: str) -> None:
    if shape not in SHAPES:
        raise ValueError(f"`shape` must be 'hex' or 'square', not {shape!r}.")


def _check_cell_m(cell_m: float) -> float:
    try:
        value = float(cell_m)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`cell_m` must be a positive number of metres, such as 250, not {cell_m!r}."
        )
    return value


def _check_lattice_size(lattice: _Lattice, union: shapely.Geometry) -> None:
    if lattice.size > MAX_LATTICE_CELLS:
        smallest = math.ceil(math.sqrt(union.envelope.area / MAX_LATTICE_CELLS) / 10) * 10
        raise ValueError(
            f"`cell_m` = {lattice.cell_m:g} m would lay {lattice.size:,} cells over this area; "
            f"use cells of at least {smallest} m (cell sizes are in metres, not degrees)."
        )
