"""Geometry clean-up shared by boundary reading and grid clipping."""

from __future__ import annotations

import numpy as np
import shapely


def polygonal_parts(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygon parts of geometries.

    ``make_valid`` and intersections can turn a polygon into a collection that also holds
    lines and points; those parts are dropped (a collection with no polygon becomes an empty
    polygon). Other geometries are returned as they are, in a new array.
    """
    out = np.array(geoms, dtype=object)
    for i in np.flatnonzero(shapely.get_type_id(out) == 7):  # GeometryCollection
        parts = shapely.get_parts(out[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]  # Polygon, MultiPolygon
        out[i] = shapely.union_all(parts) if parts.size else shapely.Polygon()
    return out
