"""Joining incident points to boundary areas (SAPS precincts, City wards)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

OUTSIDE = "Outside boundaries"


def assign_areas(
    lon: np.ndarray, lat: np.ndarray, areas: gpd.GeoDataFrame, *, outside: str = OUTSIDE
) -> np.ndarray:
    """Name of the area holding each point; exactly one per point.

    A point on an edge shared by two areas touches both; it goes to the area that comes first
    in ``areas``' row order, so the result is deterministic (layers are stored sorted by name).
    Points in no area get ``outside``: they are kept and shown, never dropped.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        Point coordinates in EPSG:4326.
    areas : geopandas.GeoDataFrame
        Polygons in EPSG:4326 with a ``name`` column.
    outside : str
        The value for points outside every polygon.

    Returns
    -------
    numpy.ndarray
        Area names (object array) aligned to the points.
    """
    if areas.crs is not None and not areas.crs.equals("EPSG:4326"):
        raise ValueError("`areas` must be in EPSG:4326; reproject with `to_crs(4326)` first.")
    points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return _first_area(points, areas, outside=outside)


def assign_areas_to_points(
    points: gpd.GeoSeries, areas: gpd.GeoDataFrame, *, outside: str = OUTSIDE
) -> np.ndarray:
    """Name of the area holding each point, for points that are already geometries.

    The same rule as :func:`assign_areas` (an edge point goes to the first area in ``areas``'
    row order, a point in no area gets ``outside``), for a partition of a dask-geopandas frame.

    Parameters
    ----------
    points : geopandas.GeoSeries
        Points with the same CRS as ``areas``.
    areas : geopandas.GeoDataFrame
        Polygons with a ``name`` column.
    outside : str
        The value for points outside every polygon.

    Returns
    -------
    numpy.ndarray
        Area names (object array) aligned to ``points``.
    """
    if points.crs != areas.crs:
        raise ValueError(
            f"`points` ({points.crs}) and `areas` ({areas.crs}) must share a CRS; reproject "
            "one with `to_crs` first."
        )
    return _first_area(points.to_numpy(), areas, outside=outside)


def _first_area(points: np.ndarray, areas: gpd.GeoDataFrame, *, outside: str) -> np.ndarray:
    tree = shapely.STRtree(areas.geometry.array)
    point_idx, area_idx = tree.query(points, predicate="intersects")
    # Sort by point, then area order, and keep the first area for each point.
    order = np.lexsort((area_idx, point_idx))
    point_idx, area_idx = point_idx[order], area_idx[order]
    first = np.ones(len(point_idx), dtype=bool)
    first[1:] = point_idx[1:] != point_idx[:-1]
    names = np.full(len(points), outside, dtype=object)
    names[point_idx[first]] = areas["name"].to_numpy(dtype=object)[area_idx[first]]
    return names
