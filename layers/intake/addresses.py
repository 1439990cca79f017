"""Address points: a file of addresses and where they are, to search by text.

The areas page (``--addresses FILE``) lets a viewer type an address instead of a point and
count incidents within a radius of it. The City of Cape Town keeps address points as a point
layer (street number, street name, suburb); an export is read in whatever form it comes:

- a CSV (optionally gzipped) with an address column and longitude/latitude columns (any of
  the spellings incident files may use: ``lon``/``longitude``/``x``, ``lat``/``latitude``/
  ``y``, or a ``wkt`` column), or
- any vector file GDAL reads (GeoPackage, Shapefile plain or zipped, GeoJSON) of points with
  an address column, in any declared CRS.

The address is the column named by ``address_field``, else the first column called
``address``, ``full_address``, ``street_address`` (and a few more spellings), else one made of
a street-number, a street-name and a suburb column when the file has them. The file is read
and checked once: rows without an address or a place (missing, unreadable, out of range, far
from the boundaries, not a point) are set aside, each with its reason, and counted in
:attr:`AddressPoints.rejected`; none is lost silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from layers._errors import InputFileError
from layers.intake.sources import CSV_SUFFIXES, VECTOR_SUFFIXES, read_incident_file
from layers.intake.validate import Extent, locate

ADDRESS_SUFFIXES = (*CSV_SUFFIXES, ".parquet", *VECTOR_SUFFIXES)
# Spellings of an address column, compared after lower-casing and turning spaces and hyphens
# into underscores (as incident columns are).
ADDRESS_FIELDS = (
    "address", "full_address", "fulladdress", "street_address", "physical_address",
    "address_text", "formatted_address", "full_adr", "adr", "addr", "adres",
)  # fmt: skip
# Parts an address may be made of when no column holds it whole: (spellings, ...) in order.
ADDRESS_PARTS = (
    ("street_number", "street_no", "str_no", "st_no", "house_number", "house_no", "adr_no",
     "number", "no"),
    ("street_name", "street", "str_name", "st_name", "road", "road_name"),
    ("suburb", "official_suburb", "suburb_name", "sub_name", "town", "locality"),
)  # fmt: skip
_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True, eq=False)
class AddressPoints:
    """Addresses and their points, read and checked once.

    Attributes
    ----------
    path : Path
        The file read.
    points : pandas.DataFrame
        ``address`` (text), ``lon``, ``lat`` (WGS84), one row per usable address, in file
        order (the index is the 0-based row in the file).
    rejected : pandas.DataFrame
        ``source_row`` (1-based), ``address`` (as given) and ``reason``, for every row left
        out.
    address_field : str
        Where the address was read from (a column, or the columns it was made of).
    warnings : list of str
        What was assumed while reading.
    """

    path: Path
    points: pd.DataFrame
    rejected: pd.DataFrame
    address_field: str
    warnings: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Rows read from the file."""
        return len(self.points) + len(self.rejected)

    @cached_property
    def _keys(self) -> pd.Series:
        return self.points["address"].map(_normalised)

    def search(self, text: str, *, limit: int = 20) -> pd.DataFrame:
        """Addresses matching ``text``, best first: at most ``limit`` rows of ``points``.

        Case and punctuation are ignored. Every word typed must appear in the address
        (``12 main`` finds "12 Main Road, Claremont"); addresses that start with what was
        typed come first, then those with a word that does, then the rest, each in
        alphabetical order.
        """
        query = _normalised(text)
        if not query:
            return self.points.iloc[:0]
        keys = self._keys
        matched = np.ones(len(keys), dtype=bool)
        for word in query.split():
            matched &= keys.str.contains(word, regex=False).to_numpy()
        found = keys[matched]
        starts = found.str.startswith(query).to_numpy()
        word_starts = (" " + found).str.contains(" " + query, regex=False).to_numpy()
        rank = np.where(starts, 0, np.where(word_starts, 1, 2))
        order = pd.DataFrame({"rank": rank, "key": found.to_numpy()}, index=found.index)
        best = order.sort_values(["rank", "key"], kind="stable").head(limit).index
        return self.points.loc[best]


def _normalised(text: object) -> str:
    return " ".join(_WORD.sub(" ", str(text).casefold()).split())


def read_addresses(
    path: Path | str,
    *,
    extent: Extent,
    address_field: str | None = None,
    layer: str | None = None,
) -> AddressPoints:
    """Read and check a file of address points.

    Parameters
    ----------
    path : path-like
        CSV (optionally gzipped), Parquet/GeoParquet, GeoPackage, GeoJSON or Shapefile (plain
        or zipped).
    extent : Extent
        Where the boundaries are: points far outside are set aside (a wrong CRS, swapped
        coordinates).
    address_field : str, optional
        The column holding the address; found by name when not given.
    layer : str, optional
        The layer of a file that holds several.

    Returns
    -------
    AddressPoints

    Raises
    ------
    InputFileError
        The file is missing, unreadable, of another type, has no address or no coordinates,
        or no usable row: the message says what to fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"Address file {path} does not exist. Check the path.")
    if not path.name.lower().endswith(ADDRESS_SUFFIXES):
        raise InputFileError(
            f"{path.name}: unsupported address file type. Use one of {', '.join(ADDRESS_SUFFIXES)}."
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"Address file {path} is empty (0 bytes). Export it again.")
    table = read_incident_file(path, layer=layer)
    rows = table.rows
    if rows.empty:
        raise InputFileError(f"{path.name} holds no address points. Export the layer again.")
    address, source = _address_text(rows, address_field, path)
    lon, lat, why = locate(table, extent=extent, what="address points")
    if table.geometry is None and (why == "missing coordinates").all():
        raise InputFileError(
            f"{path.name} has no coordinates: give longitude and latitude columns (lon, lat or "
            "longitude, latitude) or a wkt column, or export a spatial file of points. Its "
            f"columns are: {', '.join(map(str, rows.columns))}."
        )
    why = np.where(address.isna().to_numpy() & (why == ""), "missing address", why)
    bad = why != ""
    points = pd.DataFrame({"address": address, "lon": lon, "lat": lat}, index=rows.index)
    rejected = pd.DataFrame(
        {"source_row": rows.index[bad] + 1, "address": address[bad].to_numpy(),
         "reason": why[bad]}
    )  # fmt: skip
    points = points.loc[~bad]
    if points.empty:
        common = pd.Series(why[bad]).value_counts().index[0]
        raise InputFileError(
            f"{path.name}: none of its {len(rows):,} rows has both an address and a usable "
            f"point (most often: {common}). Check the columns and the coordinates' CRS."
        )
    return AddressPoints(path, points, rejected, source, list(table.warnings))


def _address_text(rows: pd.DataFrame, given: str | None, path: Path) -> tuple[pd.Series, str]:
    """Each row's address (NA where blank), and the column(s) it came from."""
    columns = [str(c) for c in rows.columns]
    if given is not None:
        if given not in columns:
            raise InputFileError(
                f"{path.name} has no column {given!r} for the address. Its columns are: "
                f"{', '.join(columns)}."
            )
        return _text(rows[given]), given
    by_name = {_column_key(c): c for c in reversed(columns)}
    for spelling in ADDRESS_FIELDS:
        if spelling in by_name:
            return _text(rows[by_name[spelling]]), by_name[spelling]
    parts = [next((by_name[s] for s in spellings if s in by_name), None)
             for spellings in ADDRESS_PARTS]  # fmt: skip
    street = parts[1]
    if street is None:
        raise InputFileError(
            f"Cannot tell which column of {path.name} holds the address: name it with "
            f"--address-column. Its columns are: {', '.join(columns)}."
        )
    number, _, suburb = (
        _text(rows[p]).fillna("") if p is not None else pd.Series("", index=rows.index)
        for p in parts
    )
    number = number.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)  # 12.0 read from a float
    name = _text(rows[street])
    line = (number + " " + name.fillna("")).str.strip()
    joined = line.where(suburb == "", line + ", " + suburb)
    # An address needs its street: a number or a suburb alone is no address.
    used = " + ".join(p for p in parts if p is not None)
    return joined.where(name.notna()).astype("string"), used


def _column_key(column: str) -> str:
    return re.sub(r"[\s\-]+", "_", column.strip().lower())


def _text(values: pd.Series) -> pd.Series:
    """Text with blanks as NA; whole-number floats (a street number read as 12.0) as 12."""
    if pd.api.types.is_float_dtype(values.dtype):
        whole = values.dropna()
        if (whole == np.floor(whole)).all():
            values = values.astype("Int64")
    text = values.astype("string").str.strip()
    return text.mask(text == "")
