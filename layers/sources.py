"""Reading incident extracts and boundary files from disk, in the formats agencies send.

This is the file-I/O edge of the package: it returns what the files hold, with the original
columns kept as text so that rejected rows can be written back exactly as they arrived.
Validation and joining live in :mod:`layers.validate` and :mod:`layers.join`.
"""

from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers._errors import InputFileError
from layers.settings import WGS84

INCIDENT_SUFFIXES = (".csv", ".csv.gz", ".txt", ".geojson", ".json", ".gpkg", ".parquet", ".zip")
BOUNDARY_SUFFIXES = (".zip", ".shp", ".gpkg", ".geojson", ".json")
NA_STRINGS = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan"]

# Column names in the order they are tried when no field is given (compared case-insensitively).
PREFERRED_NAME_FIELDS = (
    "compnt_nm", "ward_name", "precinct_name", "ward_name", "precinct", "station", "ward",
    "ward_no", "ward_num", "name",
)  # fmt: skip


@dataclass
class IncidentTable:
    """Rows of one incident file, as read.

    Attributes
    ----------
    path : Path
        The file read.
    rows : pandas.DataFrame
        Every row with its original columns; values are strings or NA for text formats.
        The index is the 0-based row number within the file.
    geometry : geopandas.GeoSeries or None
        The row geometries in EPSG:4326, for spatial formats; aligned to ``rows``.
    warnings : list of str
        Things repaired or assumed while reading (e.g. a non-UTF-8 encoding).
    """

    path: Path
    rows: pd.DataFrame
    geometry: gpd.GeoSeries | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class BoundaryLayer:
    """One boundary layer read from a file: area names and polygons in EPSG:4326."""

    areas: gpd.GeoDataFrame
    name_field: str
    source: str
    source_crs: str
    warnings: list[str] = field(default_factory=list)


def read_incident_file(path: Path | str) -> IncidentTable:
    """Read an incident extract in any supported format.

    Parameters
    ----------
    path : path-like
        CSV (optionally gzipped), GeoJSON, GeoPackage, GeoParquet or plain Parquet, or a
        zipped Shapefile.

    Returns
    -------
    IncidentTable
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"Incident file {path} does not exist. Check the path.")
    if path.stat().st_size == 0:
        raise InputFileError(f"Incident file {path} is empty (0 bytes). Export it again.")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return _read_csv(path)
    if name.endswith(".parquet"):
        return _read_parquet(path)
    if name.endswith((".geojson", ".json", ".gpkg", ".zip", ".shp")):
        return _read_vector(path)
    raise InputFileError(
        f"{path.name}: unsupported incident file type. Use one of {', '.join(INCIDENT_SUFFIXES)}."
    )


def _read_csv(path: Path) -> IncidentTable:
    notes: list[str] = []
    try:
        rows = _csv_frame(path, "utf-8-sig")
    except UnicodeDecodeError:
        # Windows exports (like SAPS's own statistics file) are often Windows-1252.
        rows = _csv_frame(path, "cp1252")
        notes.append(f"{path.name} is not UTF-8; read it as Windows-1252.")
    rows.columns = [str(c).strip() for c in rows.columns]
    return IncidentTable(path=path, rows=rows.reset_index(drop=True), warnings=notes)


def _csv_frame(path: Path, encoding: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=NA_STRINGS,
            encoding=encoding,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as err:
        raise InputFileError(f"{path.name} has no header row and no data.") from err
    except pd.errors.ParserError as err:
        raise InputFileError(
            f"{path.name} is not a well-formed CSV ({err}). Check quoting and that every line "
            "has as many fields as the header."
        ) from err


def _read_parquet(path: Path) -> IncidentTable:
    try:
        frame = gpd.read_parquet(path)
    except ValueError:
        # Not GeoParquet: a plain table with coordinate columns.
        try:
            frame = pd.read_parquet(path)
        except Exception as err:
            raise InputFileError(f"{path.name} is not a readable Parquet file: {err}") from err
        return IncidentTable(path=path, rows=frame.reset_index(drop=True))
    except Exception as err:
        raise InputFileError(f"{path.name} is not a readable Parquet file: {err}") from err
    return _split_geometry(path, frame)


def _read_vector(path: Path) -> IncidentTable:
    source = _vector_source(path)
    try:
        frame = gpd.read_file(source, engine="pyogrio")
    except Exception as err:
        raise InputFileError(f"{path.name} could not be read as a spatial file: {err}") from err
    return _split_geometry(path, frame)


def _split_geometry(path: Path, frame: gpd.GeoDataFrame) -> IncidentTable:
    notes: list[str] = []
    if frame.crs is None:
        if len(frame) and not _looks_geographic(frame.total_bounds):
            raise InputFileError(
                f"{path.name} declares no coordinate reference system and its coordinates are "
                "not longitude/latitude. Re-export it with its CRS (e.g. a .prj file)."
            )
        notes.append(f"{path.name} declares no CRS; assumed WGS84 longitude/latitude.")
        frame = frame.set_crs(WGS84)
    geometry = frame.geometry.to_crs(WGS84).reset_index(drop=True)
    rows = pd.DataFrame(frame.drop(columns=frame.geometry.name)).reset_index(drop=True)
    return IncidentTable(path=path, rows=rows, geometry=geometry, warnings=notes)


def _vector_source(path: Path) -> str:
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
    except zipfile.BadZipFile as err:
        raise InputFileError(f"{path.name} is not a valid zip archive (truncated?).") from err
    shapefiles = [m for m in members if m.lower().endswith(".shp")]
    if len(shapefiles) != 1:
        found = ", ".join(shapefiles) or "none"
        raise InputFileError(
            f"{path.name} must hold exactly one .shp (with its .shx, .dbf and .prj); found {found}."
        )
    return f"/vsizip/{path.resolve()}/{shapefiles[0]}"


def _looks_geographic(bounds: np.ndarray) -> bool:
    minx, miny, maxx, maxy = bounds
    return bool(-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90)


def read_boundaries(
    path: Path | str, *, name_field: str | None = None, kind: str = "area"
) -> BoundaryLayer:
    """Read a boundary layer (precincts or wards) and return names and polygons in EPSG:4326.

    The file's declared CRS is trusted (a Shapefile's ``.prj``, a GeoPackage's SRS, GeoJSON's
    WGS84). Invalid polygons are repaired, Z values dropped, and areas sharing a name merged,
    each with a warning.

    Parameters
    ----------
    path : path-like
        Zipped Shapefile, ``.shp``, GeoPackage or GeoJSON.
    name_field : str, optional
        The attribute naming each area. Detected when not given.
    kind : str
        What the layer holds ("precinct", "ward"), used in messages.

    Returns
    -------
    BoundaryLayer
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{kind.capitalize()} boundary file {path} does not exist.")
    if not path.name.lower().endswith(BOUNDARY_SUFFIXES):
        raise InputFileError(
            f"{path.name}: unsupported boundary file type. "
            f"Use one of {', '.join(BOUNDARY_SUFFIXES)}."
        )
    source = _vector_source(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = gpd.read_file(source, engine="pyogrio")
    except Exception as err:
        raise InputFileError(f"{path.name} could not be read as a boundary file: {err}") from err
    if frame.empty:
        raise InputFileError(f"{path.name} holds no {kind} boundaries.")
    if frame.crs is None:
        raise InputFileError(
            f"{path.name} declares no coordinate reference system (a Shapefile needs its .prj). "
            "Add the .prj the data was exported with; coordinates cannot be placed without it."
        )
    notes: list[str] = []
    field_name = _name_field(frame, name_field, path, kind)
    areas = _clean_polygons(frame, field_name, path, kind, notes)
    source_crs = frame.crs.to_string()
    areas = areas.to_crs(WGS84)
    if not _looks_geographic(areas.total_bounds):
        raise InputFileError(f"{path.name}: coordinates do not fit the declared CRS {source_crs}.")
    return BoundaryLayer(
        areas=areas, name_field=field_name, source=str(path), source_crs=source_crs, warnings=notes
    )


def _name_field(frame: gpd.GeoDataFrame, given: str | None, path: Path, kind: str) -> str:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given not in columns:
            raise InputFileError(
                f"{path.name} has no field {given!r}. Its fields are: {', '.join(columns)}."
            )
        return given
    by_lower = {c.lower(): c for c in columns}
    for candidate in PREFERRED_NAME_FIELDS:
        if candidate in by_lower and frame[by_lower[candidate]].notna().all():
            return by_lower[candidate]
    for column in columns:
        values = frame[column]
        if values.dtype == object and values.notna().all() and values.is_unique:
            return column
    raise InputFileError(
        f"Cannot tell which field of {path.name} names each {kind}. Give it with "
        f"--{kind}-field; the fields are: {', '.join(columns)}."
    )


def _clean_polygons(
    frame: gpd.GeoDataFrame, field_name: str, path: Path, kind: str, notes: list[str]
) -> gpd.GeoDataFrame:
    geoms = frame.geometry.array
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        notes.append(f"{path.name}: skipped {int(missing.sum())} {kind}(s) with no geometry.")
    frame = frame.loc[~missing]
    geoms = shapely.force_2d(frame.geometry.array)
    types = set(shapely.get_type_id(geoms).tolist())
    if not types <= {3, 6, 7}:  # Polygon, MultiPolygon, GeometryCollection (after repair)
        raise InputFileError(
            f"{path.name} must hold polygons for {kind} boundaries; found other geometry types."
        )
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = np.where(invalid, _polygonal(shapely.make_valid(geoms)), geoms)
        notes.append(f"{path.name}: repaired {int(invalid.sum())} invalid {kind} polygon(s).")
    names = frame[field_name].astype(str).str.strip()
    areas = gpd.GeoDataFrame({"name": names.to_numpy()}, geometry=list(geoms), crs=frame.crs)
    if not names.is_unique:
        dupes = sorted(names[names.duplicated()].unique())
        notes.append(f"{path.name}: merged {kind}s sharing a name: {', '.join(dupes[:10])}.")
        areas = areas.dissolve(by="name", as_index=False)
    return areas.sort_values("name", key=_natural_key).reset_index(drop=True)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of repaired geometries (make_valid may add lines)."""
    out = []
    for geom in geoms:
        if isinstance(geom, shapely.GeometryCollection):
            parts = [g for g in geom.geoms if isinstance(g, shapely.Polygon | shapely.MultiPolygon)]
            geom = shapely.union_all(parts) if parts else shapely.Polygon()
        out.append(geom)
    return np.asarray(out, dtype=object)


def _natural_key(names: pd.Series) -> pd.Series:
    """Sort "2" before "10" (ward numbers are strings)."""
    return names.map(
        lambda s: tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", s))
    )
