"""Counts inside an area: a polygon drawn on the map, or a buffer of a radius around a point.

CrimeStat and ArcGIS count the incidents inside a buffer by each incident's own point. Here
that holds only for incidents the viewer sees in full (an analyst's, an agency's own). Any
polygon can be drawn, so two nearly equal areas are a differencing tool: an area and the same
area with a sliver cut around one incident differ by that incident. Every other incident is
therefore counted only in whole units of the finest level the access step lets the viewer
count it at (:mod:`layers.access.sight`), never located finer than that:

- other agencies' incidents (an agency viewer's partners) in whole anonymous cells, about
  250 m wide, that lie inside the area: a cell the edge of the area cuts is not counted;
- sensitive categories in whole precincts (or wards, as the rules say) inside the area;
- incidents shared only city-wide not at all (a drawn area is never the whole city).

Two areas that differ by less than a whole unit give the same count of those incidents, and
the figures are suppressed as every other is (:func:`layers.access.suppression.disclose`,
judged on those incidents alone, with its complements), so a count under ``k`` of them is
never shown. :func:`area_figures` makes the figures with
:func:`layers.analysis.figures.count`; the caller discloses them.

Geometry: a buffer is made in metres (:data:`layers.settings.METRIC_CRS`, UTM 34S) and given
back in WGS84 longitude/latitude; point-in-polygon tests run vectorised (``shapely.contains_xy``
on the candidates inside the area's bounding box), so a million incidents take milliseconds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from layers._errors import LayersError
from layers.access.policy import EQUATOR_M_PER_PX0, LEVELS, Level, PrivacyRules
from layers.access.sight import POINT, Sight
from layers.access.suppression import Counted
from layers.analysis.figures import count, level_of, total
from layers.intake.geometry import polygonal_parts
from layers.intake.validate import Extent
from layers.settings import METRIC_CRS, WGS84
from layers.storage.columnar import (
    IncidentColumns,
    counts_by,
    mercator_pixels,
    pixels_to_lonlat,
)
from layers.storage.join import OUTSIDE

#: A buffer's radius, in metres: from a street corner to a large suburb.
MIN_RADIUS_M = 10.0
MAX_RADIUS_M = 25_000.0
#: An area may span at most this many metres east-west and north-south: the metro is about
#: 70 by 100 km, and a larger box is a slip of the mouse.
MAX_SPAN_M = 150_000.0
#: Anonymous cells drawn on the map as "counted in whole cells" (data-free): at most this many.
MAX_DRAWN_CELLS = 60_000
# The figures are counted at precinct level: every row the access step lets the viewer count
# in a precinct or finer, and none shared city-wide only.
AREA_LEVEL: Level = "precinct"
_TO_METRES = pyproj.Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)
_TO_DEGREES = pyproj.Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)


class AreaError(LayersError):
    """An area cannot be made from what was given (a point, a radius, a drawn shape)."""


@dataclass(frozen=True)
class Area:
    """An area to count incidents in.

    Attributes
    ----------
    geometry : shapely Polygon or MultiPolygon
        In WGS84 longitude/latitude, valid and not empty.
    label : str
        What it is, for the page and the exported file ("500 m around 12 Main Road").
    centre : (lat, lon), optional
        A buffer's point.
    radius_m : float, optional
        A buffer's radius in metres.
    """

    geometry: BaseGeometry
    label: str
    centre: tuple[float, float] | None = None
    radius_m: float | None = None

    @cached_property
    def key(self) -> str:
        """A short stable text naming this area, for caches."""
        return f"{self.label}|{shapely.to_wkb(self.geometry, hex=True)}"

    @cached_property
    def area_km2(self) -> float:
        """The area's size in square kilometres (measured in UTM 34S)."""
        metric = shapely.transform(self.geometry, _metres, interleaved=False)
        return float(shapely.area(metric)) / 1e6


def _metres(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _TO_METRES.transform(x, y)


def _degrees(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _TO_DEGREES.transform(x, y)


def parse_point(text: str) -> tuple[float, float]:
    """A point typed as ``lat, lon`` (``-33.9249, 18.4241``): (lat, lon).

    Raises
    ------
    AreaError
        Saying what was wrong: not two numbers, out of range, or the order looks swapped.
    """
    parts = [p for p in re.split(r"[,;\s]+", str(text).strip()) if p]
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise AreaError(
            f"{text!r} is not a point: type latitude and longitude as two numbers, "
            "e.g. -33.9249, 18.4241 (or click the map)."
        ) from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise AreaError(f"{text!r} is not a point: both numbers must be finite.")
    if abs(lat) > 90 or abs(lon) > 180:
        swap = abs(lon) <= 90 and abs(lat) <= 180
        hint = " Latitude comes first: try " + f"{lon:g}, {lat:g}." if swap else ""
        raise AreaError(
            f"{lat:g}, {lon:g} is out of range: latitude is -90 to 90, longitude -180 to 180."
            + hint
        )
    return lat, lon


def check_near(lat: float, lon: float, bounds: Sequence[float], *, margin_km: float = 50) -> None:
    """Refuse a point more than ``margin_km`` from the boundaries' box (west, south, east,
    north), saying so, and what was meant when latitude and longitude look swapped.

    Raises
    ------
    AreaError
    """
    extent = Extent.of(bounds, margin_km=margin_km)
    if extent.contains(np.array([lon]), np.array([lat]))[0]:
        return
    hint = ""
    if extent.contains(np.array([lat]), np.array([lon]))[0]:
        hint = f" Latitude comes first: did you mean {lon:g}, {lat:g}?"
    raise AreaError(
        f"{lat:g}, {lon:g} is more than {margin_km:g} km from every precinct: there is nothing "
        f"to count there.{hint}"
    )


def buffer_area(lat: float, lon: float, radius_m: float, *, label: str | None = None) -> Area:
    """The area within ``radius_m`` metres of a point, made in metres (UTM 34S).

    Parameters
    ----------
    lat, lon : float
        The point, WGS84.
    radius_m : float
        Metres, from :data:`MIN_RADIUS_M` to :data:`MAX_RADIUS_M`.
    label : str, optional
        What the point is (an address); the label says the radius and this, or the point.

    Returns
    -------
    Area
    """
    radius = float(radius_m)
    if not MIN_RADIUS_M <= radius <= MAX_RADIUS_M:
        raise AreaError(
            f"The radius must be from {MIN_RADIUS_M:,.0f} to {MAX_RADIUS_M:,.0f} m, "
            f"not {radius:,.0f} m."
        )
    if not (abs(lat) <= 90 and abs(lon) <= 180):
        raise AreaError(f"{lat:g}, {lon:g} is not a latitude and longitude.")
    x, y = _TO_METRES.transform(lon, lat)
    # 32 segments a quarter: within 0.05 % of the true circle's area.
    circle = shapely.buffer(shapely.Point(x, y), radius, quad_segs=32)
    geometry = shapely.transform(circle, _degrees, interleaved=False)
    where = label or f"{lat:.5f}, {lon:.5f}"
    return Area(geometry, f"{radius:,.0f} m around {where}", centre=(lat, lon), radius_m=radius)


def drawn_area(shapes: Sequence[Mapping[str, Any]], *, label: str = "Drawn area") -> Area:
    """The area of shapes drawn on the map (GeoJSON features or geometries), as one.

    Polygons and rectangles are kept; points and lines (a circle Leaflet sends as its centre)
    are left out. Overlapping shapes count once. A shape that crosses itself is repaired.

    Raises
    ------
    AreaError
        No polygon was drawn, it has no area, or it is far larger than the metro.
    """
    parts = []
    for item in shapes:
        geometry = item.get("geometry", item) if isinstance(item, Mapping) else None
        if isinstance(geometry, Mapping) and geometry.get("type") in ("Polygon", "MultiPolygon"):
            try:
                parts.append(shape(geometry))
            except (ValueError, TypeError, AttributeError, IndexError, GEOSException):
                continue  # a ring of fewer than four corners: nothing to count in
    if not parts:
        raise AreaError(
            "No area is drawn yet: draw a polygon or a rectangle with the tools at the map's "
            "top left, or choose a point and a radius."
        )
    geometry = polygonal_parts(np.array([shapely.make_valid(p) for p in parts], dtype=object))
    merged = shapely.union_all(geometry)
    if merged.is_empty or merged.area == 0:
        raise AreaError("The shape drawn has no area: draw at least three corners apart.")
    return check_area(Area(merged, label))


def check_area(area: Area) -> Area:
    """``area`` if it is a polygon of longitude/latitude no larger than :data:`MAX_SPAN_M`."""
    west, south, east, north = area.geometry.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise AreaError("The area is not in longitude/latitude: draw it on the map again.")
    (x0, x1), (y0, y1) = _TO_METRES.transform([west, east], [south, north])
    span = max(abs(x1 - x0), abs(y1 - y0))
    if span > MAX_SPAN_M:
        raise AreaError(
            f"The area is {span / 1000:,.0f} km across; draw one at most "
            f"{MAX_SPAN_M / 1000:,.0f} km across (the metro is about 70 by 100 km)."
        )
    return area


def area_geojson(area: Area) -> str:
    """The area as a GeoJSON FeatureCollection of one feature (WGS84): its outline, label,
    size, and a buffer's centre and radius. No incident data."""
    properties: dict[str, Any] = {"label": area.label, "area_km2": round(area.area_km2, 4)}
    if area.centre is not None:
        properties.update(centre_lat=area.centre[0], centre_lon=area.centre[1])
    if area.radius_m is not None:
        properties["radius_m"] = area.radius_m
    feature = {
        "type": "Feature",
        "properties": properties,
        "geometry": shapely.geometry.mapping(shapely.set_precision(area.geometry, 1e-7)),
    }
    return json.dumps({"type": "FeatureCollection", "features": [feature]})


# -- which incidents count as inside, each at its own level ---------------------------------


def _bbox_rows(columns: IncidentColumns, area: Area) -> np.ndarray:
    """Rows whose point is inside the area's bounding box: the only candidates."""
    west, south, east, north = area.geometry.bounds
    (x0, x1), (y1, y0) = mercator_pixels(np.array([west, east]), np.array([south, north]), 0)
    px, py = columns.px, columns.py
    return np.flatnonzero((px >= x0) & (px <= x1) & (py >= y0) & (py <= y1))


def points_inside(
    columns: IncidentColumns, area: Area, *, rows: np.ndarray | None = None
) -> np.ndarray:
    """True for each incident whose own point lies inside ``area`` (its boundary excluded);
    only ``rows`` (indices) are tested when given, else those in the area's bounding box."""
    inside = np.zeros(len(columns), dtype=bool)
    rows = _bbox_rows(columns, area) if rows is None else rows
    if len(rows):
        lon, lat = pixels_to_lonlat(columns.px[rows], columns.py[rows], 0)
        polygon = _prepared(area.geometry)
        inside[rows] = shapely.contains_xy(polygon, lon, lat)
    return inside


def _prepared(geometry: BaseGeometry) -> BaseGeometry:
    prepared = shapely.from_wkb(shapely.to_wkb(geometry))  # a copy: preparing changes it
    shapely.prepare(prepared)
    return prepared


def cell_boxes(ix: np.ndarray, iy: np.ndarray, shift: int) -> np.ndarray:
    """The anonymous cells ``(ix, iy)`` (``2 ** -shift`` zoom-0 pixels wide) as lon/lat boxes."""
    scale = 2.0**shift
    west, north = pixels_to_lonlat(ix / scale, iy / scale, 0)
    east, south = pixels_to_lonlat((ix + 1) / scale, (iy + 1) / scale, 0)
    return shapely.box(west, south, east, north)


def _cells_of(columns: IncidentColumns, rows: np.ndarray, shift: int) -> tuple[np.ndarray, ...]:
    scale = 2.0**shift
    return (
        (columns.px[rows] * scale).astype(np.int64),
        (columns.py[rows] * scale).astype(np.int64),
    )


def cells_inside(
    columns: IncidentColumns, area: Area, shift: int, *, rows: np.ndarray | None = None
) -> np.ndarray:
    """True for each incident whose anonymous cell lies wholly inside ``area``; only ``rows``
    (indices) are tested when given, else those in the area's bounding box."""
    inside = np.zeros(len(columns), dtype=bool)
    rows = _bbox_rows(columns, area) if rows is None else rows
    if not len(rows):
        return inside
    ix, iy = _cells_of(columns, rows, shift)
    # One integer per cell (a cell index is below 2 ** 31 up to shift 23, about 2 m).
    cells, which = np.unique((ix << 32) | iy, return_inverse=True)
    boxes = cell_boxes(cells >> 32, cells & 0xFFFFFFFF, shift)
    inside[rows] = shapely.contains(_prepared(area.geometry), boxes)[which]
    return inside


def whole_cells(area: Area, shift: int) -> gpd.GeoDataFrame:
    """Every anonymous cell wholly inside ``area``, occupied or not (so drawing them tells
    nothing about the incidents), as one outline; empty when there are more than
    :data:`MAX_DRAWN_CELLS`."""
    empty = gpd.GeoDataFrame({"cells": []}, geometry=[], crs=WGS84)
    west, south, east, north = area.geometry.bounds
    (x0, x1), (y1, y0) = mercator_pixels(np.array([west, east]), np.array([south, north]), 0)
    scale = 2.0**shift
    xs = np.arange(int(x0 * scale), int(x1 * scale) + 1)
    ys = np.arange(int(y0 * scale), int(y1 * scale) + 1)
    if len(xs) * len(ys) > MAX_DRAWN_CELLS:
        return empty
    ix, iy = (a.ravel() for a in np.meshgrid(xs, ys))
    boxes = cell_boxes(ix, iy, shift)
    boxes = boxes[shapely.contains(_prepared(area.geometry), boxes)]
    if not len(boxes):
        return empty
    return gpd.GeoDataFrame(
        {"cells": [len(boxes)]}, geometry=[shapely.coverage_union_all(boxes)], crs=WGS84
    )


def units_inside(boundaries: gpd.GeoDataFrame, area: Area) -> list[str]:
    """The names of the areas of ``boundaries`` (``name``, WGS84) wholly inside ``area``."""
    if boundaries.empty:
        return []
    geoms = boundaries.geometry.to_crs(WGS84).array
    whole = shapely.contains(_prepared(area.geometry), np.asarray(geoms, dtype=object))
    return [str(name) for name in boundaries["name"][whole]]


def membership(
    sight: Sight, area: Area, *, boundaries: Mapping[str, gpd.GeoDataFrame]
) -> np.ndarray:
    """For each incident, whether it counts as inside ``area`` for ``sight``'s viewer: by its
    point when the viewer sees it in full, else only when the whole unit of its finest level
    (anonymous cell, ward, precinct) lies inside the area. Never for city-wide-only rows.

    Parameters
    ----------
    sight : Sight
        The access step's result for the viewer and filter.
    area : Area
    boundaries : mapping of str to GeoDataFrame
        ``{"precinct": ..., "ward": ...}``, the store's boundaries (``name``, WGS84).

    Returns
    -------
    numpy.ndarray
        Booleans, one per incident of the store.
    """
    columns = sight.columns
    candidates = _bbox_rows(columns, area)  # points and cells inside lie in the box
    if sight.finest is None:
        return points_inside(columns, area, rows=candidates)
    finest = sight.finest
    near = finest[candidates]
    inside = points_inside(columns, area, rows=candidates[near == POINT])
    in_cells = candidates[near == LEVELS.index("cell")]
    inside |= cells_inside(columns, area, sight.anonymous_shift, rows=in_cells)
    for level in ("ward", "precinct"):
        at_level = finest == LEVELS.index(level)
        if at_level.any():
            names = set(units_inside(boundaries[level], area)) - {OUTSIDE}
            labels = columns.labels[level]
            lookup = np.zeros(len(labels) + 1, dtype=bool)  # the last slot: code -1, missing
            lookup[[i for i, label in enumerate(labels) if label in names]] = True
            inside |= at_level & lookup[columns.codes[level]]
    return inside


# -- the figures ----------------------------------------------------------------------------


def by_agency(columns: IncidentColumns, mask: np.ndarray | None) -> pd.DataFrame:
    """Kept incidents per agency, as one row (``inside``) with a column per agency: a table,
    so that the viewer's own agency's column can be shown in full."""
    counts = counts_by(columns, mask, "agency")
    return pd.DataFrame([counts.to_numpy()], index=pd.Index(["inside"]),
                        columns=pd.Index(counts.index, name="agency"))  # fmt: skip


def by_category_and_agency(columns: IncidentColumns, mask: np.ndarray | None) -> pd.DataFrame:
    """Kept incidents per category (rows) and agency (columns), zeros included."""
    cat, agency = columns.codes["category"], columns.codes["agency"]
    if mask is not None:
        cat, agency = cat[mask], agency[mask]
    n_cat, n_agency = len(columns.labels["category"]), len(columns.labels["agency"])
    valid = (cat >= 0) & (agency >= 0)
    ids = cat[valid].astype(np.int64) * n_agency + agency[valid]
    counts = np.bincount(ids, minlength=n_cat * n_agency).reshape(n_cat, n_agency)
    return pd.DataFrame(
        counts.astype(np.int64),
        index=pd.Index(columns.labels["category"], name="category"),
        columns=pd.Index(columns.labels["agency"], name="agency"),
    )


def _within(aggregate: Any, inside: np.ndarray) -> Any:
    def counted(columns: IncidentColumns, mask: np.ndarray | None) -> Any:
        return aggregate(columns, inside if mask is None else mask & inside)

    return counted


def area_figures(
    sight: Sight, area: Area, *, boundaries: Mapping[str, gpd.GeoDataFrame]
) -> dict[str, Counted]:
    """The counts inside ``area`` as ``sight``'s viewer may count them, to be disclosed.

    ``"total"`` (one number), ``"categories"`` (a Series by category), ``"agencies"`` (one row
    by agency, the viewer's own column kept whole) and ``"table"`` (category by agency; for a
    viewer who does not see every incident in full, their own agency's column alone).
    Each is an ordinary :func:`~layers.analysis.figures.count` over the incidents that count
    as inside (:func:`membership`), at precinct level, so its basis, the incidents the viewer
    does not see in full, decides what :func:`~layers.access.suppression.disclose` hides.
    """
    inside = membership(sight, area, boundaries=boundaries)
    keep = sight.keep
    table = by_category_and_agency
    if not sight.full:
        # Only the viewer's own agency by category: beside the totals by category and by
        # agency, a suppressed cell of another agency's column could be worked out by
        # subtraction (its agency's total less its shown cells), which suppressing the table
        # on its own cannot prevent. The viewer's own incidents they see in full anyway.
        def table(columns: IncidentColumns, mask: np.ndarray | None) -> pd.DataFrame:
            both = by_category_and_agency(columns, mask)
            return both[[c for c in both.columns if c in keep]]

    return {
        "total": count(sight, _within(total, inside), level=AREA_LEVEL, how="whole"),
        "categories": count(
            sight, _within(lambda c, m: counts_by(c, m, "category"), inside), level=AREA_LEVEL
        ),
        "agencies": count(sight, _within(by_agency, inside), level=AREA_LEVEL, keep=keep),
        "table": count(sight, _within(table, inside), level=AREA_LEVEL, keep=keep),
    }


@dataclass(frozen=True)
class AreaCounts:
    """Disclosed :func:`area_figures`, as the page shows them.

    ``total`` is None when hidden. ``categories`` and ``agencies`` hold a ``count`` column
    (float, NaN where hidden) and a ``text`` column ("1,234" or "fewer than 3"), largest
    first. Categories of none are left out, and so are hidden ones (a hidden count may be a
    zero: the two cannot be told apart), ``hidden_categories`` saying how many; the few
    agencies are listed hidden or not. ``table`` holds the texts, categories and agencies
    with any count shown.
    """

    total: int | None
    categories: pd.DataFrame  # category, count, text
    agencies: pd.DataFrame  # agency, count, text
    table: pd.DataFrame  # category by agency, text
    k: int
    full: bool
    rule: str
    hidden_categories: int = 0
    own: tuple[str, ...] = ()  # the viewer's own agency, counted in full

    def text(self, value: float | None) -> str:
        """A count as shown: ``1,234`` or ``fewer than 3``."""
        return f"fewer than {self.k}" if value is None or pd.isna(value) else f"{int(value):,}"


def area_counts(shown: Mapping[str, Any], *, sight: Sight, rule: str) -> AreaCounts:
    """Disclosed :func:`area_figures` (``shown``) as tables for the page."""
    k, full = sight.k, sight.full

    def text(value: float) -> str:
        return f"fewer than {k}" if pd.isna(value) else f"{int(value):,}"

    def listed(counts: pd.Series, name: str, *, hidden: bool) -> pd.DataFrame:
        counts = counts.astype(float)
        kept = counts[(counts > 0) | (hidden & counts.isna())]
        kept = kept.sort_values(ascending=False, kind="stable", na_position="last")
        frame = pd.DataFrame({name: kept.index.astype(str), "count": kept.to_numpy()})
        return frame.assign(text=frame["count"].map(text))

    categories = shown["categories"]
    agencies = shown["agencies"].iloc[0] if len(shown["agencies"]) else pd.Series(dtype=float)
    table = shown["table"].astype(float)
    table = table.loc[(table > 0).any(axis=1), (table > 0).any(axis=0)]
    total_value = shown["total"]
    return AreaCounts(
        total=None if total_value is None else int(total_value),
        categories=listed(categories, "category", hidden=False),
        # A few agencies: each hidden one is listed as such.
        agencies=listed(agencies, "agency", hidden=True),
        table=table.map(text) if len(table) else table,
        k=k,
        full=full,
        rule=rule,
        hidden_categories=0 if full else int(categories.isna().sum()),
        own=tuple(sight.keep),
    )


def cell_width_m(sight: Sight, *, lat: float) -> float:
    """The anonymous cell's width in metres at latitude ``lat``."""
    return EQUATOR_M_PER_PX0 * math.cos(math.radians(lat)) / 2.0**sight.anonymous_shift


def _coarse_levels(sight: Sight, rules: PrivacyRules) -> list[tuple[Level, str, bool]]:
    """For the incidents ``sight``'s viewer may not locate: (level, whose, counted here).

    Other agencies' incidents (every incident, for a viewer of no agency) at the partner
    level; sensitive categories, when coarser, at theirs. Counted here unless their level is
    coarser than the figures' (the city, or precincts under a ward filter).
    """
    partner = rules.partner_level if sight.keep else "cell"
    sensitive = LEVELS[max(LEVELS.index(partner), LEVELS.index(rules.sensitive_level))]
    counted = LEVELS.index(level_of(sight, AREA_LEVEL))
    whose = "other agencies' incidents" if sight.keep else "incidents"
    levels = [(partner, whose, LEVELS.index(partner) <= counted)]
    if sensitive != partner:
        whose = f"{whose} of sensitive categories" if sight.keep else "sensitive categories"
        levels.append((sensitive, whose, LEVELS.index(sensitive) <= counted))
    return levels


def area_rule(sight: Sight, rules: PrivacyRules, *, lat: float) -> str:
    """How the counts inside an area were made for ``sight``'s viewer, in a sentence or two.

    ``rules`` are the viewer's privacy rules (partner and sensitive levels); ``lat`` is the
    area's latitude, for the anonymous cell's width.
    """
    if sight.full:
        return "Every incident is counted by its own location."
    parts = []
    if sight.keep:
        parts.append(f"Your own ({', '.join(sight.keep)}) incidents are counted by their own "
                     "location.")  # fmt: skip
    for level, whose, counted in _coarse_levels(sight, rules):
        whose = whose[0].upper() + whose[1:]
        if counted:
            parts.append(f"{whose} are counted only in {_unit(sight, level, lat=lat)} that lie "
                         "wholly inside the area.")  # fmt: skip
        elif level == "city":
            parts.append(f"{whose} are left out: they are shared city-wide only.")
        else:
            parts.append(f"{whose} are left out: they are shared by whole {level}s only, and "
                         "the filter narrows to wards.")  # fmt: skip
    parts.append(
        f"A count with fewer than {sight.k} incidents you cannot see in full is hidden, with "
        "more beside it so that it cannot be worked out: two nearly equal areas cannot single "
        "out one incident."
    )
    return " ".join(parts)


def _unit(sight: Sight, level: Level, *, lat: float) -> str:
    if level == "cell":
        return f"cells of about {round(cell_width_m(sight, lat=lat), -1):,.0f} m"
    return f"{level}s"


def counted_units(
    sight: Sight,
    area: Area,
    *,
    boundaries: Mapping[str, gpd.GeoDataFrame],
    rules: PrivacyRules,
) -> gpd.GeoDataFrame:
    """The whole units ``area``'s counts were made in for incidents ``sight``'s viewer may not
    locate (see :func:`membership`), with ``name`` saying what each is: for the map. Chosen
    by the area's geometry alone (every cell inside, occupied or not), so drawing them tells
    nothing about the incidents. Empty for a viewer who sees every incident."""
    frames = []
    lat = area.geometry.centroid.y
    for level, whose, counted in [] if sight.full else _coarse_levels(sight, rules):
        if not counted:
            continue
        if level == "cell":
            cells = whole_cells(area, sight.anonymous_shift)
            unit = _unit(sight, level, lat=lat)
            names = [f"{n:,} {unit} wholly inside: {whose} counted here" for n in cells["cells"]]
            frames.append(cells.assign(name=names)[["name", "geometry"]])
        else:
            units = boundaries[level]
            inside = units[units["name"].isin(units_inside(units, area))]
            names = [f"{level.capitalize()} {n}: {whose} counted here" for n in inside["name"]]
            frames.append(inside.assign(name=names)[["name", "geometry"]])
    if not frames:
        return gpd.GeoDataFrame({"name": []}, geometry=[], crs=WGS84)
    return gpd.GeoDataFrame(pd.concat([f.to_crs(WGS84) for f in frames], ignore_index=True),
                            crs=WGS84)  # fmt: skip
