"""Validating incident rows: canonical fields, times, coordinates, and reasons for rejection.

Every input row ends either in the accepted frame or in the rejected frame with a
``reject_reason``; nothing is dropped without a reason. Checks are vectorised so a million
rows validate in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from layers._errors import InputFileError
from layers.intake.sources import IncidentTable
from layers.intake.taxonomy import Taxonomy
from layers.settings import LOCAL_TZ, WGS84

UNCATEGORISED = "Uncategorised"

# Spellings recognised for each canonical field, compared after lower-casing and turning
# spaces and hyphens into underscores. A mapping option overrides them.
ALIASES: dict[str, tuple[str, ...]] = {
    "incident_id": ("incident_id", "id", "incident_no", "incident_number", "case_number",
                    "case_no", "cas_number", "reference", "reference_number",
                    "notification_number"),
    "agency": ("agency", "source_agency", "reporting_agency", "service"),
    "category": ("category", "crime_category", "incident_category", "incident_type", "offence",
                 "crime_type", "type"),
    "occurred_at": ("occurred_at", "occurred", "occurrence_datetime", "datetime", "date_time",
                    "timestamp", "incident_datetime", "incident_date", "date",
                    "creation_timestamp", "created_at"),
    "lat": ("lat", "latitude", "y", "lat_dd", "ycoord", "y_coord", "point_y"),
    "lon": ("lon", "lng", "long", "longitude", "x", "lon_dd", "xcoord", "x_coord", "point_x"),
    "wkt": ("wkt", "geometry", "geom", "the_geom", "shape", "location_wkt"),
    "collaboration_area": ("collaboration_area", "collab_area", "area_of_collaboration"),
    "reported_at": ("reported_at", "reported", "report_datetime", "reported_date"),
    "status": ("status", "case_status", "state"),
    "description": ("description", "desc", "details", "notes", "narrative"),
}  # fmt: skip

# Keys are compared after dropping dots, turning hyphens into spaces, collapsing spaces and
# case-folding ("S.A.P.S." -> "saps", "Metro-Police" -> "metro police").
AGENCY_ALIASES = {
    "saps": "SAPS",
    "south african police service": "SAPS",
    "metro police": "Metro Police",
    "metropolitan police": "Metro Police",
    "cape town metro police": "Metro Police",
    "city of cape town metro police": "Metro Police",
    "cct metro police": "Metro Police",
    "mpd": "Metro Police",
    "law enforcement": "Law Enforcement",
    "city law enforcement": "Law Enforcement",
    "cct law enforcement": "Law Enforcement",
    "city of cape town law enforcement": "Law Enforcement",
    "traffic services": "Traffic Services",
    "traffic": "Traffic Services",
    "cct traffic": "Traffic Services",
    "cct traffic services": "Traffic Services",
    "city of cape town traffic services": "Traffic Services",
    "leap": "LEAP",
    "law enforcement advancement plan": "LEAP",
    "neighbourhood watch": "Neighbourhood Watch",
    "neighborhood watch": "Neighbourhood Watch",
    "nhw": "Neighbourhood Watch",
}

_AWARE = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
# pandas stores times in nanoseconds, which only reach from 1677-09-21 to 2262-04-11.
_EARLIEST = pd.Timestamp("1677-09-22", tz="UTC")
_LATEST = pd.Timestamp("2262-04-10", tz="UTC")


@dataclass(frozen=True)
class Extent:
    """Where incidents may be: the boundaries' bounding box, with a margin in kilometres."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    margin_km: float = 50.0

    @classmethod
    def of(cls, bounds: np.ndarray | tuple[float, ...], *, margin_km: float = 50.0) -> Extent:
        if not margin_km >= 0:
            raise InputFileError(f"The margin must be 0 km or more, not {margin_km:g} km.")
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        return cls(minx, miny, maxx, maxy, margin_km)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where (lon, lat) lies inside the extent grown by the margin."""
        dlat = self.margin_km / 111.32
        mid = np.deg2rad((self.miny + self.maxy) / 2)
        dlon = self.margin_km / (111.32 * max(np.cos(mid), 0.01))
        return (
            (lon >= self.minx - dlon)
            & (lon <= self.maxx + dlon)
            & (lat >= self.miny - dlat)
            & (lat <= self.maxy + dlat)
        )


@dataclass
class Validated:
    """Result of validating one file: canonical accepted rows, and rejected original rows."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    read: int
    warnings: list[str]
    superseded: int = 0  # valid rows replaced by a later row for the same incident in the file


def resolve_columns(
    columns: pd.Index,
    *,
    column_map: Mapping[str, str] | None = None,
    rows: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Find the source column for each canonical field.

    Parameters
    ----------
    columns : pandas.Index
        The file's column names.
    column_map : mapping, optional
        ``{canonical_field: source_column}`` for spellings not recognised automatically.
    rows : pandas.DataFrame, optional
        The file's rows. When given and several columns match a field's spellings, the one
        with the fewest missing values is read (ties go to the earlier spelling); without it,
        the earlier spelling wins.

    Returns
    -------
    dict
        ``{canonical_field: source_column}`` for every field found.
    """
    column_map = dict(column_map or {})
    unknown = set(column_map) - set(ALIASES)
    if unknown:
        raise InputFileError(
            f"Cannot map unknown field(s) {', '.join(sorted(unknown))}; mappable fields are "
            f"{', '.join(ALIASES)}."
        )
    found: dict[str, str] = {}
    for canonical, source in column_map.items():
        if source not in columns:
            raise InputFileError(
                f"Mapping {canonical}={source}: the file has no column {source!r}. Its columns "
                f"are: {', '.join(map(str, columns))}."
            )
        found[canonical] = source
    for canonical in ALIASES:
        if canonical in found:
            continue
        candidates = [c for c in _alias_matches(columns, canonical) if c not in found.values()]
        if len(candidates) > 1 and rows is not None:
            # An export may carry a mostly empty column under an alias ("reference_number")
            # beside the full one ("notification_number"): read the fullest; min() keeps
            # the earlier spelling on ties.
            found[canonical] = min(candidates, key=lambda c: _missing_count(rows[c]))
        elif candidates:
            found[canonical] = candidates[0]
    return found


def _normalised_name(column: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(column).strip().lower())


def _alias_matches(columns: pd.Index, canonical: str) -> list[object]:
    """Columns named by one of ``canonical``'s spellings, in the order of the spellings."""
    spellings = ALIASES[canonical]
    by_name: dict[str, list[object]] = {}
    for column in columns:
        by_name.setdefault(_normalised_name(column), []).append(column)
    # Shapefiles cut field names to 10 characters ("occurred_at" -> "occurred_a").
    tried = (*spellings, *(s[:10] for s in spellings if len(s) > 10))
    matches: list[object] = []
    for spelling in tried:
        matches += [c for c in by_name.get(spelling, []) if c not in matches]
    return matches


def _missing_count(values: pd.Series) -> int:
    return int(len(values) - _present(values).sum())


def _column_notes(cols: dict[str, str], column_map: Mapping[str, str] | None) -> list[str]:
    """Say which column was read for each field found under another name (not mapped)."""
    guessed = [
        f"{canonical} from {source!r}"
        for canonical, source in cols.items()
        if canonical not in (column_map or {}) and _normalised_name(source) != canonical
    ]
    if not guessed:
        return []
    return [
        f"Read {', '.join(guessed)}. If a field was read from the wrong column, choose its "
        'column: --map FIELD=COLUMN, or "Columns and values for every row" on the page.'
    ]


def validate_incidents(
    table: IncidentTable,
    *,
    taxonomy: Taxonomy,
    extent: Extent,
    column_map: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    coords_crs: str | None = None,
    now: pd.Timestamp | None = None,
) -> Validated:
    """Turn one file's rows into canonical incidents, rejecting each bad row with a reason.

    Parameters
    ----------
    table : IncidentTable
        Rows as read by :func:`layers.intake.sources.read_incident_file`.
    taxonomy : Taxonomy
        Collaboration areas; assigns an area from the category where the file states none.
    extent : Extent
        Where the boundaries are; points far outside it are rejected.
    column_map : mapping, optional
        ``{canonical_field: source_column}`` for unrecognised spellings.
    defaults : mapping, optional
        ``{canonical_field: value}`` for fields the file lacks, e.g. ``{"agency": "SAPS"}``.
    coords_crs : str, optional
        CRS of coordinate columns when they are not WGS84 longitude/latitude.
    now : pandas.Timestamp, optional
        Reference time for rejecting incidents in the future (default: the current time).

    Returns
    -------
    Validated
    """
    rows = table.rows
    cols = resolve_columns(rows.columns, column_map=column_map, rows=rows)
    defaults = dict(defaults or {})
    n = len(rows)
    if n or len(rows.columns):  # a spatial file with no features has no columns to check
        _require_fields(table, cols, defaults)
    reason = np.full(n, None, dtype=object)

    def text(name: str) -> pd.Series:
        if name in cols:
            values = _as_text(rows[cols[name]]).str.strip()
            return values.mask(values == "")
        return pd.Series(defaults.get(name), index=rows.index, dtype="string")

    incident_id, given_agency = text("incident_id"), text("agency")
    agency, agency_known = _canonical_agencies(given_agency)
    _flag(reason, incident_id.isna(), "missing incident_id")
    _flag(reason, agency.isna(), "missing agency")

    occurred, time_reason = parse_times(_raw(rows, cols, "occurred_at"), now=now)
    _flag(reason, time_reason.notna().to_numpy(), time_reason.to_numpy())
    raw_reported = _raw(rows, cols, "reported_at")
    reported, _ = parse_times(raw_reported, now=None)

    lon, lat, coord_reason, heights = _coordinates(table, cols, coords_crs)
    _flag(reason, coord_reason != "", coord_reason)
    _flag(reason, *_location_reasons(lon, lat, extent))

    category = text("category").fillna(UNCATEGORISED)
    stated = taxonomy.canonical_area(text("collaboration_area"))
    area = stated.where(stated.notna(), taxonomy.area_for(category))

    accepted = pd.DataFrame(
        {
            "incident_id": incident_id,
            "agency": agency,
            "category": category,
            "collaboration_area": area.astype("string"),
            "occurred_at": occurred,
            "reported_at": reported,
            "status": text("status"),
            "description": text("description"),
            "lon": lon,
            "lat": lat,
        },
        index=rows.index,
    )
    notes = list(table.warnings) + _column_notes(cols, column_map)
    if not n:
        notes.append(f"{table.path.name} holds no rows; there was nothing to ingest from it.")
    if heights:
        notes.append(f"Dropped the heights (Z) of {heights} point(s); incidents are mapped in 2D.")
    unknown_agency = given_agency.notna() & ~agency_known
    if unknown_agency.any():
        counts = given_agency[unknown_agency].value_counts()
        listed = ", ".join(
            f"{name} ({n} row{'s' * (n != 1)})" for name, n in counts.head(5).items()
        )
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        notes.append(
            f"Agency name(s) not recognised, kept as written: {listed}{more}. Known agencies are "
            f"{', '.join(sorted(set(AGENCY_ALIASES.values())))}; correct the spelling if one "
            "of these was meant."
        )
    unreadable = _present(raw_reported) & reported.isna().to_numpy()
    if unreadable.any():
        notes.append(
            f"{int(unreadable.sum())} row(s) have a reported_at that could not be read as an "
            "ISO 8601 time between the years 1677 and 2262; it was left empty for them."
        )
    unknown_area = text("collaboration_area").notna() & stated.isna()
    if unknown_area.any():
        names = sorted(text("collaboration_area")[unknown_area].unique())[:5]
        notes.append(
            f"{int(unknown_area.sum())} row(s) name a collaboration area that is not configured "
            f"({', '.join(names)}); their area was taken from the category instead."
        )
    superseded = _superseded(reason, accepted)
    if superseded.any():
        repeated = ", ".join(accepted.loc[superseded, "incident_id"].unique()[:5])
        notes.append(
            f"{int(superseded.sum())} row(s) repeat the agency and incident_id of a later row in "
            f"the file ({repeated}); the last row of each was kept as the incident's latest state."
        )
    bad = pd.notna(reason)
    rejected = rows.loc[bad].copy()
    if table.geometry is not None:
        rejected["wkt"] = shapely.to_wkt(table.geometry.array[bad], rounding_precision=7)
    rejected["source_row"] = rows.index[bad] + 1
    rejected["reject_reason"] = reason[bad]
    return Validated(
        accepted=accepted.loc[~bad & ~superseded],
        rejected=rejected,
        read=n,
        warnings=notes,
        superseded=int(superseded.sum()),
    )


def _require_fields(table: IncidentTable, cols: dict[str, str], defaults: dict[str, str]) -> None:
    has_geometry = table.geometry is not None or "wkt" in cols
    needed = ["incident_id", "agency", "occurred_at"]
    if not has_geometry:
        needed += ["lat", "lon"]
    missing = [f for f in needed if f not in cols and f not in defaults]
    if missing:
        raise InputFileError(
            f"{table.path.name} has no column for {', '.join(missing)}. Its columns are: "
            f"{', '.join(map(str, table.rows.columns))}. Rename them, say which column holds "
            "each field (--map FIELD=COLUMN), or give one value for every row (--default "
            'FIELD=VALUE); on the page, both are under "Columns and values for every row".'
        )


def _raw(rows: pd.DataFrame, cols: dict[str, str], name: str) -> pd.Series:
    if name in cols:
        return rows[cols[name]]
    return pd.Series(pd.NA, index=rows.index, dtype="string")


def _flag(reason: np.ndarray, where: np.ndarray | pd.Series, why: str | np.ndarray) -> None:
    """Record ``why`` for rows that have no reason yet: the first failed check is reported."""
    where = np.asarray(where, dtype=bool) & pd.isna(reason)
    reason[where] = why[where] if isinstance(why, np.ndarray) else why


def _as_text(values: pd.Series) -> pd.Series:
    """Values as strings; whole-number floats without ".0" (101.0 -> "101").

    Spatial readers give a numeric column with a null as floats; the same ID read from a CSV
    is "101", and both must make the same key.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.dropna()
        if ((numbers % 1 == 0) & (numbers.abs() < 2**53)).all():
            return values.astype("Int64").astype("string")
    return values.astype("string")


def _canonical_agencies(given: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Standard agency names, and whether each was recognised (unrecognised ones kept as is)."""
    # An extract holds a handful of distinct agency spellings: normalise those, then map.
    distinct = pd.Series(given.dropna().unique(), dtype="string")
    keys = (
        distinct.str.replace(".", "", regex=False)
        .str.replace("-", " ", regex=False)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
        .str.casefold()
    )
    lookup = dict(zip(distinct, keys.map(AGENCY_ALIASES), strict=True))
    standard = given.map(lookup).astype("string")
    return standard.fillna(given), standard.notna()


def parse_times(values: pd.Series, *, now: pd.Timestamp | None) -> tuple[pd.Series, pd.Series]:
    """Parse ISO 8601 times; naive times are Africa/Johannesburg. Returns UTC times and reasons.

    Parameters
    ----------
    values : pandas.Series
        Text times, or datetimes already parsed by a spatial-file reader.
    now : pandas.Timestamp, optional
        When given, times more than a day after ``now`` are rejected as in the future.

    Returns
    -------
    (pandas.Series, pandas.Series)
        UTC timestamps (NaT where unusable) and the reason for each unusable one. Times
        outside 1677-2262, which pandas cannot hold, are unusable rather than an error.
    """
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        times = values if values.dt.tz is not None else values.dt.tz_localize(LOCAL_TZ)
        times = times.dt.tz_convert("UTC")
    else:
        text = values.astype("string").str.strip()
        # Shapefiles and some exports write dates as 2025/01/31; ISO 8601 wants 2025-01-31.
        text = text.str.replace(r"^(\d{4})/(\d{1,2})/(\d{1,2})", r"\1-\2-\3", regex=True)
        aware = text.str.contains(_AWARE, na=False) & text.str.contains(r"\d[T ]\d", na=False)
        # Parse at microsecond resolution so that far-off years can be recognised, not crash.
        times = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
        if aware.any():
            times[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
        naive = text.notna() & ~aware
        if naive.any():
            local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
            times[naive] = local.dt.tz_localize(
                LOCAL_TZ, ambiguous="NaT", nonexistent="NaT"
            ).dt.tz_convert("UTC")
        reason[text.isna()] = "missing occurred_at"
        reason[text.notna() & times.isna()] = "unparseable occurred_at (expected ISO 8601)"
    out_of_range = times.notna() & ((times < _EARLIEST) | (times > _LATEST))
    reason[out_of_range] = "occurred_at out of range (years 1677-2262); check the year"
    times = times.mask(out_of_range).astype("datetime64[ns, UTC]")
    if now is not None:
        limit = pd.Timestamp(now).tz_convert("UTC") + pd.Timedelta(days=1)
        reason[reason.isna() & (times > limit)] = "occurred_at is in the future"
    reason[reason.isna() & times.isna()] = "missing occurred_at"
    return times, reason


def _coordinates(
    table: IncidentTable, cols: dict[str, str], coords_crs: str | None, *, what: str = "incidents"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Longitude, latitude and a reason ('' when fine) for every row, and the heights dropped."""
    n = len(table.rows)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    why = np.full(n, "", dtype=object)
    if "lat" in cols and "lon" in cols:
        raw_lat = table.rows[cols["lat"]]
        raw_lon = table.rows[cols["lon"]]
        lat = _numbers(raw_lat)
        lon = _numbers(raw_lon)
        given = _present(raw_lat) & _present(raw_lon)
        why[given & (np.isnan(lat) | np.isnan(lon))] = "unparseable coordinates"
        why[np.isinf(lat) | np.isinf(lon)] = "coordinates are infinite (inf); check the coordinates"
        if coords_crs is not None:
            lon, lat = _transformer(coords_crs).transform(lon, lat)
            lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    geoms = None
    if table.geometry is not None:
        geoms = table.geometry.array
    elif "wkt" in cols:
        wkt = table.rows[cols["wkt"]].astype("string")
        geoms = shapely.from_wkt(wkt.fillna("").to_numpy(dtype=object), on_invalid="ignore")
        bad_wkt = wkt.notna().to_numpy() & shapely.is_missing(geoms)
        why[bad_wkt & np.isnan(lon)] = "unparseable WKT geometry"
    heights = 0
    if geoms is not None:
        heights = _fill_from_geometry(geoms, lon, lat, why, what=what)
    missing = (np.isnan(lon) | np.isnan(lat)) & (why == "")
    why[missing] = "missing coordinates"
    return lon, lat, why, heights


def locate(
    table: IncidentTable,
    *,
    extent: Extent,
    column_map: Mapping[str, str] | None = None,
    coords_crs: str | None = None,
    what: str = "incidents",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitude, latitude and why each row of ``table`` cannot be placed ('' when it can),
    judged as incidents are: coordinate columns (``lat``/``lon`` or ``wkt`` under any of their
    spellings) or point geometries, then out of range, swapped, projected, null island or far
    outside ``extent``. ``what`` names the rows in the message for a geometry that is not a
    point. For other point files, such as address points."""
    cols = resolve_columns(table.rows.columns, column_map=column_map, rows=table.rows)
    lon, lat, why, _ = _coordinates(table, cols, coords_crs, what=what)
    flagged, where = _location_reasons(lon, lat, extent)
    why = np.where((why == "") & flagged, where, why)
    return lon, lat, why


def _transformer(coords_crs: str) -> pyproj.Transformer:
    try:
        return pyproj.Transformer.from_crs(coords_crs, WGS84, always_xy=True)
    except pyproj.exceptions.CRSError as err:
        raise InputFileError(
            f"--coords-crs {coords_crs!r} is not a coordinate reference system. Give an EPSG "
            "code such as EPSG:32734 (UTM 34S) or EPSG:2048 (Lo19), or a PROJ string."
        ) from err


def _fill_from_geometry(
    geoms: np.ndarray, lon: np.ndarray, lat: np.ndarray, why: np.ndarray, *, what: str
) -> int:
    """Use point geometries where coordinate columns are empty; returns the heights dropped."""
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    is_point = shapely.get_type_id(geoms) == 0
    use = np.isnan(lon) & ~empty
    not_point = use & ~is_point
    why[not_point] = f"geometry is not a point; {what} must be points"
    take = use & is_point
    lon[take] = shapely.get_x(geoms[take])
    lat[take] = shapely.get_y(geoms[take])
    return int(shapely.has_z(geoms[take]).sum())


def _present(values: pd.Series) -> np.ndarray:
    """True where a value was given (not NA, not blank)."""
    text = values.astype("string").str.strip()
    return (text.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        # A copy: pandas may hand back its own read-only buffer, and the caller fills gaps in.
        return values.to_numpy(dtype=float, na_value=np.nan, copy=True)
    text = values.astype("string").str.strip()
    # Decimal commas ("-33,92") are common in spreadsheet exports from South African locales.
    text = text.where(~text.str.fullmatch(r"-?\d+,\d+", na=False), text.str.replace(",", "."))
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _location_reasons(
    lon: np.ndarray, lat: np.ndarray, extent: Extent
) -> tuple[np.ndarray, np.ndarray]:
    """Why each located row's point cannot be placed ('' for none)."""
    why = np.full(len(lon), "", dtype=object)
    ok = ~(np.isnan(lon) | np.isnan(lat))
    null_island = ok & (np.abs(lon) < 1e-6) & (np.abs(lat) < 1e-6)
    inside = extent.contains(lon, lat)
    swapped = ok & ~inside & extent.contains(lat, lon)
    out_of_range = ok & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
    projected = out_of_range & ((np.abs(lat) > 1000) | (np.abs(lon) > 1000))
    why[ok & ~inside] = (
        "far outside the boundaries' extent (more than "
        f"{extent.margin_km:g} km beyond them); check the coordinates"
    )
    why[out_of_range] = "coordinates out of range for latitude/longitude"
    why[projected] = (
        "coordinates look projected (metres), not longitude/latitude; give the CRS of "
        "coordinate columns with --coords-crs, or export a spatial file with its CRS declared"
    )
    why[swapped] = "latitude and longitude look swapped; put latitude in lat and longitude in lon"
    why[null_island] = "null island: coordinates are (0, 0), a placeholder for a missing location"
    flagged = why != ""
    return flagged, why


def _superseded(reason: np.ndarray, accepted: pd.DataFrame) -> np.ndarray:
    """Valid rows followed by a later row for the same agency and incident_id in the file.

    The last row wins, as a later row in an extract is a later state of the incident; the
    earlier ones are valid data, counted as superseded rather than rejected.
    """
    candidate = pd.isna(reason)
    keys = accepted.loc[candidate, ["agency", "incident_id"]]
    superseded = np.zeros(len(accepted), dtype=bool)
    superseded[np.flatnonzero(candidate)[keys.duplicated(keep="last").to_numpy()]] = True
    return superseded


def to_geodataframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """Point geometries in WGS84 longitude/latitude from ``lon``/``lat`` columns."""
    return gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=WGS84
    )
