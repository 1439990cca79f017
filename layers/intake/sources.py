"""Reading incident extracts and boundary files from disk, in the formats agencies send.

This is the file-I/O edge of the package: it returns what the files hold, with the original
columns kept as text so that rejected rows can be written back exactly as they arrived.
Validation and joining live in :mod:`layers.intake.validate` and :mod:`layers.storage.join`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from layers._errors import InputFileError
from layers.intake.geometry import polygonal_parts
from layers.settings import WGS84

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".shp")
INCIDENT_SUFFIXES = (*CSV_SUFFIXES, ".parquet", *VECTOR_SUFFIXES)
BOUNDARY_SUFFIXES = (".zip", ".shp", ".gpkg", ".geojson", ".json")
NA_STRINGS = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan"]

# Column names in the order they are tried when no field is given (compared case-insensitively).
PREFERRED_NAME_FIELDS = (
    "compnt_nm", "ward_name", "precinct_name", "precinct", "station", "ward",
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


def read_incident_file(path: Path | str, *, layer: str | None = None) -> IncidentTable:
    """Read an incident extract in any supported format.

    Parameters
    ----------
    path : path-like
        CSV (optionally gzipped), GeoJSON, GeoPackage, GeoParquet or plain Parquet, or a
        Shapefile (plain or zipped).
    layer : str, optional
        The layer to read from a spatial file that holds several (a GeoPackage may); such a
        file is refused without it. Ignored for CSV and Parquet, which hold one table.

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
    if name.endswith(CSV_SUFFIXES):
        return _read_csv(path)
    if name.endswith(".parquet"):
        return _read_parquet(path)
    if name.endswith(VECTOR_SUFFIXES):
        return _read_vector(path, layer)
    raise InputFileError(
        f"{path.name}: unsupported incident file type. Use one of {', '.join(INCIDENT_SUFFIXES)}."
    )


def _read_csv(path: Path) -> IncidentTable:
    notes: list[str] = []
    head = _head(path)
    _refuse_non_text(path, head)
    sep = _sniff_delimiter(head)
    if sep != ",":
        notes.append(f"{path.name} is {_DELIMITER_NAMES[sep]}-delimited; read it as such.")
    try:
        rows = _csv_frame(path, "utf-8-sig", sep)
    except UnicodeDecodeError:
        # Windows exports (like SAPS's own statistics file) are often Windows-1252.
        rows = _csv_frame(path, "cp1252", sep)
        notes.append(f"{path.name} is not UTF-8; read it as Windows-1252.")
    rows.columns = [str(c).strip() for c in rows.columns]
    return IncidentTable(path=path, rows=rows.reset_index(drop=True), warnings=notes)


_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SAMPLE_BYTES = 65_536


def _head(path: Path) -> bytes:
    """The first bytes of a CSV, decompressed if it is gzipped."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            return handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as err:
        raise _unreadable(path, err) from err


def _unreadable(path: Path, err: Exception) -> InputFileError:
    """The error for a CSV whose bytes cannot be read: usually a broken or false .gz."""
    if path.name.lower().endswith(".gz"):
        return InputFileError(
            f"{path.name} is not a complete gzip file ({err}): it may be cut off, or not "
            "gzipped at all. Compress the CSV again, or send it as a plain .csv."
        )
    return InputFileError(
        f"{path.name} could not be read ({err}). Check the file and send it again."
    )


def _refuse_non_text(path: Path, head: bytes) -> None:
    """Refuse a "CSV" that is not text, before pandas reads it into garbage columns.

    A CSV never holds NUL bytes; binary files and UTF-16 text ("Unicode Text" from Excel) do.
    """
    if head.startswith(b"PK\x03\x04"):
        raise InputFileError(
            f"{path.name} is a zip archive (an Excel .xlsx workbook?), not a CSV. Save it from "
            "the spreadsheet as 'CSV UTF-8', or name a zipped Shapefile .zip."
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in head:
        kind = "UTF-16 text" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "binary data"
        raise InputFileError(
            f"{path.name} holds {kind} (NUL bytes), not CSV text in UTF-8 or Windows-1252. "
            "Check it is the right file, and save it as 'CSV UTF-8'."
        )


def _sniff_delimiter(head: bytes) -> str:
    """The field delimiter, judged from the start of the file; a comma when in doubt.

    Spreadsheets in South African and European locales save "CSV" with semicolons. Sniffing
    a sample and handing the C parser a fixed ``sep`` keeps large files fast.
    """
    text = codecs.decode(head.removeprefix(codecs.BOM_UTF8), "utf-8", errors="replace")
    if len(head) == _SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    header = text.partition("\n")[0]
    try:
        sep = csv.Sniffer().sniff(text, delimiters="".join(_DELIMITER_NAMES)).delimiter
    except csv.Error:
        return ","
    # The header must split on it too, or the sniffer was misled by the data.
    return sep if sep in header else ","


def _csv_frame(path: Path, encoding: str, sep: str) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=NA_STRINGS,
            encoding=encoding,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as err:
        raise InputFileError(
            f"{path.name} has no header row and no data. Export it again, with its header row."
        ) from err
    except pd.errors.ParserError as err:
        raise InputFileError(
            f"{path.name} is not a well-formed CSV ({str(err).strip()}). Check quoting and that "
            "every line has as many fields as the header."
        ) from err
    except UnicodeDecodeError as err:
        if encoding != "cp1252":
            raise  # the caller tries Windows-1252 next
        raise InputFileError(
            f"{path.name} is neither UTF-8 nor Windows-1252 text (byte "
            f"{err.object[err.start]:#04x} at {err.start:,}): it may be binary or in another "
            "encoding. Save it as 'CSV UTF-8'."
        ) from err
    except (OSError, EOFError, zlib.error) as err:
        raise _unreadable(path, err) from err


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


def _read_vector(path: Path, layer: str | None) -> IncidentTable:
    source = _vector_source(path)
    layer = _choose_layer(source, path, layer, option="--layer")
    # Times as text: pyogrio would turn a column mixing offset and no-offset times into
    # UTC, taking the naive ones as UTC; validation reads naive times as local time.
    frame, notes = _read_features(source, path, layer, datetime_as_string=True)
    table = _split_geometry(path, frame)
    table.warnings[:0] = notes
    return table


_UNCLOSED_RING = "Non closed ring"  # GDAL's warning for a ring it read without closing


def _read_features(
    source: str, path: Path, layer: str | None, *, quiet: bool = False, **options: Any
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A spatial file's features, with polygon rings left open closed and noted.

    ``quiet`` drops GDAL's other runtime warnings; the rest are passed on as they came.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            frame = gpd.read_file(
                source, engine="pyogrio", layer=layer, on_invalid="fix", **options
            )
    except Exception as err:
        raise _not_spatial(path, err) from err
    unclosed = 0
    for warning in caught:
        if _UNCLOSED_RING in str(warning.message):
            unclosed += 1
        elif not (quiet and issubclass(warning.category, RuntimeWarning)):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if not unclosed:
        return frame, []
    return frame, [
        f"{path.name}: closed {unclosed} polygon ring(s) whose last point was not the first."
    ]


def _not_spatial(path: Path, err: Exception) -> InputFileError:
    # GDAL's own advice (a driver prefix for the path) does not apply to our users.
    detail = str(err).split("; It might help to specify the correct driver")[0].rstrip(".")
    return InputFileError(
        f"{path.name} could not be read as a spatial file ({detail}). Check that it is complete "
        "and opens in QGIS (or another GIS), and export it again."
    )


def _choose_layer(source: str, path: Path, layer: str | None, *, option: str) -> str | None:
    """The layer to read: the one given, or None for a file with only one."""
    try:
        names = [str(name) for name in pyogrio.list_layers(source)[:, 0]]
    except Exception as err:
        raise _not_spatial(path, err) from err
    if layer is not None:
        if layer not in names:
            raise InputFileError(
                f"{path.name} has no layer {layer!r}. Its layers are: {', '.join(names)}."
            )
        return layer
    if len(names) > 1:
        raise InputFileError(
            f"{path.name} holds {len(names)} layers ({', '.join(names)}); choose one with {option}."
        )
    return None


def _split_geometry(path: Path, frame: gpd.GeoDataFrame) -> IncidentTable:
    notes: list[str] = []
    _check_crs_fits(path, frame, every=False)
    if frame.crs is None:
        notes.append(f"{path.name} declares no CRS; assumed WGS84 longitude/latitude.")
        frame = frame.set_crs(WGS84)
    geometry = frame.geometry.to_crs(WGS84).reset_index(drop=True)
    rows = pd.DataFrame(frame.drop(columns=frame.geometry.name)).reset_index(drop=True)
    return IncidentTable(path=path, rows=rows, geometry=geometry, warnings=notes)


# Limits on a zip archive, checked from its directory before anything is read out of it.
ZIP_MAX_MEMBERS = 1_000
ZIP_MAX_TOTAL_BYTES = 4 * 1024**3  # uncompressed
ZIP_MAX_RATIO = 200  # uncompressed / compressed, for members over ZIP_RATIO_FLOOR_BYTES
ZIP_RATIO_FLOOR_BYTES = 16 * 1024**2


def _vector_source(path: Path) -> str:
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as err:
        raise InputFileError(
            f"{path.name} is not a valid zip archive (truncated?). Zip the Shapefile's files "
            "(.shp, .shx, .dbf, .prj) again and send the new archive."
        ) from err
    check_zip_members(path.name, infos)
    members = [i.filename for i in infos if not i.is_dir()]
    shapefiles = [m for m in members if m.lower().endswith(".shp")]
    if len(shapefiles) != 1:
        found = ", ".join(shapefiles) or "none"
        raise InputFileError(
            f"{path.name} must hold exactly one .shp (with its .shx, .dbf and .prj); found {found}."
        )
    return f"/vsizip/{path.resolve()}/{shapefiles[0]}"


def check_zip_members(name: str, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive that could write outside a folder or expand without bound.

    Checked from the zip's directory alone: member names that are absolute or climb out with
    ``..`` (path traversal), too many members, too much uncompressed data, or members that
    expand far more than any real Shapefile does (a decompression bomb).

    Raises
    ------
    InputFileError
        Saying what was found and what a good archive looks like.
    """
    if len(infos) > ZIP_MAX_MEMBERS:
        raise InputFileError(
            f"{name} holds {len(infos):,} files; a zipped Shapefile holds a handful "
            f"(.shp, .shx, .dbf, .prj, .cpg). At most {ZIP_MAX_MEMBERS:,} are accepted."
        )
    for info in infos:
        parts = info.filename.replace("\\", "/").split("/")
        if info.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise InputFileError(
                f"{name} contains {info.filename!r}, a path outside the archive's folder; "
                "refused (zip the Shapefile's files without folders)."
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_FLOOR_BYTES and ratio > ZIP_MAX_RATIO:
            raise InputFileError(
                f"{name}: {info.filename!r} would expand {ratio:,.0f} times to "
                f"{info.file_size / 1024**2:,.0f} MB, like a decompression bomb; refused."
            )
    total = sum(i.file_size for i in infos)
    if total > ZIP_MAX_TOTAL_BYTES:
        raise InputFileError(
            f"{name} would expand to {total / 1024**3:,.1f} GB, more than the "
            f"{ZIP_MAX_TOTAL_BYTES / 1024**3:,.0f} GB accepted."
        )


def _check_crs_fits(path: Path, frame: gpd.GeoDataFrame, *, every: bool) -> None:
    """Refuse coordinates that cannot be in the coordinate reference system the file declares.

    Metres in a file that declares (or, like GeoJSON, implies) longitude/latitude, and degrees
    in a file that declares a projected CRS, would put everything in the wrong place, and
    nothing later could tell. Judged from the coordinates as stored, before reprojecting.

    Parameters
    ----------
    path : Path
        The file, for the message.
    frame : geopandas.GeoDataFrame
        Its features, in the CRS read (None when it declares none).
    every : bool
        Refuse when any geometry is out of range (boundaries) rather than only when none is
        in range (incidents, whose rows are then judged one by one).

    Raises
    ------
    InputFileError
        Saying what was declared, where the coordinates are, and how to fix the file.
    """
    bounds = shapely.bounds(frame.geometry.array)
    bounds = bounds[~np.isnan(bounds).any(axis=1)]
    if not len(bounds):
        return
    in_degrees = (
        (bounds[:, 0] >= -180)
        & (bounds[:, 2] <= 180)
        & (bounds[:, 1] >= -90)
        & (bounds[:, 3] <= 90)
    )
    crs = frame.crs
    where = (
        f"x {bounds[:, 0].min():,.2f} to {bounds[:, 2].max():,.2f}, "
        f"y {bounds[:, 1].min():,.2f} to {bounds[:, 3].max():,.2f}"
    )
    if crs is not None and crs.is_projected:
        if in_degrees.all():
            raise InputFileError(
                f"{path.name} declares the projected CRS {crs.name} (metres), but its "
                f"coordinates ({where}) look like longitude/latitude in degrees. Correct its CRS "
                "(for degrees: EPSG:4326, WGS 84) and export it again."
            )
        return
    if crs is not None and not crs.is_geographic:
        return  # a local or engineering CRS: nothing to judge by
    if in_degrees.all() or (in_degrees.any() and not every):
        return
    declared = "declares no CRS" if crs is None else f"declares {crs.name} (degrees)"
    metres = " They look like metres from a projected CRS." if np.abs(bounds).max() > 1000 else ""
    raise InputFileError(
        f"{path.name} {declared}, but has {int((~in_degrees).sum())} of {len(bounds)} "
        f"geometries outside longitude/latitude range ({where}).{metres} Re-export it with "
        "its real CRS declared (a Shapefile's .prj, a GeoPackage's SRS); GeoJSON must be WGS84 "
        "longitude/latitude."
    )


def _looks_geographic(bounds: np.ndarray) -> bool:
    minx, miny, maxx, maxy = bounds
    return bool(-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90)


def read_boundaries(
    path: Path | str,
    *,
    name_field: str | None = None,
    kind: str = "area",
    layer: str | None = None,
) -> BoundaryLayer:
    """Read a boundary layer (precincts or wards) and return names and polygons in EPSG:4326.

    The file's declared CRS is trusted (a Shapefile's ``.prj``, a GeoPackage's SRS, GeoJSON's
    WGS84) unless the coordinates cannot be in it (metres declared as degrees, or the reverse),
    which is refused. Rings left open are closed, invalid polygons repaired, areas left with no
    area dropped, Z values dropped, and areas sharing a name merged, each with a warning.

    Parameters
    ----------
    path : path-like
        Zipped Shapefile, ``.shp``, GeoPackage or GeoJSON.
    name_field : str, optional
        The attribute naming each area. Detected when not given.
    kind : str
        What the layer holds ("precinct", "ward"), used in messages.
    layer : str, optional
        The layer to read from a file that holds several (a GeoPackage may); such a file is
        refused without it.

    Returns
    -------
    BoundaryLayer
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{kind.capitalize()} boundary file {path} does not exist.")
    if path.stat().st_size == 0:
        raise InputFileError(
            f"{kind.capitalize()} boundary file {path} is empty (0 bytes). Export it again."
        )
    if not path.name.lower().endswith(BOUNDARY_SUFFIXES):
        raise InputFileError(
            f"{path.name}: unsupported boundary file type. "
            f"Use one of {', '.join(BOUNDARY_SUFFIXES)}."
        )
    source = _vector_source(path)
    layer = _choose_layer(source, path, layer, option=f"--{kind}-layer")
    frame, notes = _read_features(source, path, layer, quiet=True)
    if frame.empty:
        raise InputFileError(
            f"{path.name} holds no {kind} boundaries (no features). Check that the right file "
            "or layer was given, and export it again."
        )
    if frame.crs is None:
        raise InputFileError(
            f"{path.name} declares no coordinate reference system (a Shapefile needs its .prj). "
            "Add the .prj the data was exported with; coordinates cannot be placed without it."
        )
    _check_crs_fits(path, frame, every=True)
    field_name = _name_field(frame, name_field, path, kind)
    areas = _clean_polygons(frame, field_name, path, kind, notes)
    source_crs = frame.crs.to_string()
    areas = areas.to_crs(WGS84)
    if not _looks_geographic(areas.total_bounds):
        raise InputFileError(
            f"{path.name}: coordinates do not fit the declared CRS {source_crs}; check that it "
            "is the CRS the data was exported in."
        )
    return BoundaryLayer(
        areas=areas, name_field=field_name, source=str(path), source_crs=source_crs, warnings=notes
    )


def _name_field(frame: gpd.GeoDataFrame, given: str | None, path: Path, kind: str) -> str:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    option = f"--{kind}-field" if kind in ("precinct", "ward") else None
    if given is not None:
        if given not in columns:
            raise InputFileError(
                f"{path.name} has no field {given!r}. Its fields are: {', '.join(columns)}."
            )
        _require_names(frame, given, path, kind, option)
        return given
    by_lower = {c.lower(): c for c in columns}
    preferred = [by_lower[c] for c in PREFERRED_NAME_FIELDS if c in by_lower]
    for column in preferred:
        if not _unnamed_count(frame[column]):
            return column
    for column in columns:
        values = frame[column]
        is_text = values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
        if is_text and not _unnamed_count(values) and values.is_unique:
            return column
    if preferred:
        # The obvious field is there but incomplete: say so rather than "cannot tell".
        _require_names(frame, preferred[0], path, kind, option)
    how = f"Give it with {option}" if option else "Give the name field"
    raise InputFileError(
        f"Cannot tell which field of {path.name} names each {kind}. {how}; the fields are: "
        f"{', '.join(columns)}."
    )


def _require_names(
    frame: gpd.GeoDataFrame, column: str, path: Path, kind: str, option: str | None
) -> None:
    unnamed = _unnamed_count(frame[column])
    if unnamed:
        how = f" with {option}" if option else ""
        raise InputFileError(
            f"{path.name}: field {column!r} has {unnamed} {kind}(s) without a name; fill them "
            f"or choose another field{how}."
        )


def _unnamed_count(values: pd.Series) -> int:
    """Areas whose name is missing or blank."""
    text = values.astype("string").str.strip()
    return int((text.isna() | (text == "")).sum())


def _clean_polygons(
    frame: gpd.GeoDataFrame, field_name: str, path: Path, kind: str, notes: list[str]
) -> gpd.GeoDataFrame:
    geoms = frame.geometry.array
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        notes.append(f"{path.name}: skipped {int(missing.sum())} {kind}(s) with no geometry.")
    frame = frame.loc[~missing]
    names = _as_text(frame[field_name])
    geoms = frame.geometry.array
    heights = int(shapely.has_z(geoms).sum())
    if heights:
        notes.append(f"{path.name}: dropped the heights (Z) of {heights} {kind} polygon(s).")
        geoms = shapely.force_2d(geoms)
    _require_polygons(geoms, names, path, kind)
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = np.where(invalid, shapely.make_valid(geoms), geoms)
        notes.append(f"{path.name}: repaired {int(invalid.sum())} invalid {kind} polygon(s).")
    geoms = polygonal_parts(geoms)
    arealess = shapely.is_empty(geoms) | ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if arealess.all():
        raise InputFileError(
            f"{path.name} holds no {kind} polygon with an area. Check the file in a GIS."
        )
    if arealess.any():
        notes.append(
            f"{path.name}: dropped {kind}(s) with no area once repaired (points on one line?): "
            f"{', '.join(names[arealess].head(10))}. Fix their polygons in the source file."
        )
        geoms, names = geoms[~arealess], names[~arealess]
    areas = gpd.GeoDataFrame({"name": names.to_numpy()}, geometry=list(geoms), crs=frame.crs)
    if not names.is_unique:
        dupes = sorted(names[names.duplicated()].unique())
        notes.append(f"{path.name}: merged {kind}s sharing a name: {', '.join(dupes[:10])}.")
        areas = areas.dissolve(by="name", as_index=False)
    return areas.sort_values("name", key=_natural_key).reset_index(drop=True)


def _require_polygons(geoms: np.ndarray, names: pd.Series, path: Path, kind: str) -> None:
    """Refuse a boundary layer holding points or lines, naming what was found."""
    other = ~np.isin(shapely.get_type_id(geoms), (3, 6, 7))  # (Multi)Polygon, collection
    if not other.any():
        return
    types = gpd.GeoSeries(geoms[other]).geom_type.value_counts()
    found = ", ".join(f"{count} {name}" for name, count in types.items())
    raise InputFileError(
        f"{path.name} must hold only polygons for {kind} boundaries; it also holds {found} "
        f"({', '.join(names[other].head(5))}). Remove those features, or export only the "
        f"{kind} polygons, and try again."
    )


def _as_text(values: pd.Series) -> pd.Series:
    """Area names as text; whole-number floats (ward 9 read as 9.0) lose their ".0"."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    return values.astype(str).str.strip()


def _natural_key(names: pd.Series) -> pd.Series:
    """Sort "2" before "10" (ward numbers are strings)."""
    return names.map(
        lambda s: tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"(\d+)", s))
    )
