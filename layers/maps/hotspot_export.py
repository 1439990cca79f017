"""Exporting hotspot layers, with their provenance, for the safety cluster's other GIS tools.

:func:`export_hotspots` picks the format from the file's ending:

``.zip``
    An ESRI Shapefile set ``<stem>.shp .shx .dbf .prj .cpg`` and ``<stem>_provenance.txt``, all
    at the top of the archive. Coordinates in UTM zone 34S (EPSG:32734, metres: cell sizes and
    areas read as they were computed); the ``.prj`` names it. Text is UTF-8 and the ``.cpg``
    says so, so names like "Khâi-ma" survive in ArcGIS and QGIS. DBF field names are at most
    10 characters: the documented short names of :data:`SHAPEFILE_FIELDS`, and for any other
    column an upper-case ASCII truncation made unique with a ``_1``, ``_2``... suffix (see
    :func:`shapefile_field_names`). The text file lists the short names beside the full ones.
    Spreadsheets open a ``.dbf`` directly, so its text cells that start with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return get a leading apostrophe, as in every CSV (see
    :func:`layers.maps.export.neutralise_formulas`); real area names never start so.
``.gpkg``
    Layer ``hotspots`` (EPSG:32734, full column names) and a non-spatial table ``provenance``
    of ``key``/``value`` rows, registered in ``gpkg_contents`` as ``attributes`` so GIS tools
    list it; the same block is in the layer's ``gpkg_metadata``.
``.geojson``
    RFC 7946 (EPSG:4326, 7 decimals, written by GDAL 3.9 or later), with a top-level
    ``"provenance"`` member holding the block as JSON.

The GeoPackage and GeoJSON keep every value exactly: spreadsheets do not open them as
sheets, and GIS tools show their text as text. Every write is atomic: a half-written file
never replaces ``out``.
"""

from __future__ import annotations

import datetime
import json
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from types import MappingProxyType
from zoneinfo import ZoneInfo

import geopandas as gpd
import pandas as pd
import pyogrio

from layers._errors import InputFileError, LayersError
from layers.analysis.study import METHODS, HotspotResult
from layers.maps.export import plain_values
from layers.settings import LOCAL_TZ, METRIC_CRS, WGS84
from layers.spreadsheet import neutralise_formulas
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot, atomic_path, safe_filename

__all__ = [
    "HOTSPOT_SUFFIXES",
    "PROVENANCE_KEYS",
    "SHAPEFILE_CRS",
    "SHAPEFILE_FIELDS",
    "HotspotExportError",
    "export_hotspots",
    "provenance_block",
    "shapefile_field_names",
]

HOTSPOT_SUFFIXES = (".zip", ".gpkg", ".geojson")
#: The shapefile and the GeoPackage are written in metres; GeoJSON is always EPSG:4326.
SHAPEFILE_CRS = METRIC_CRS
#: What every export's provenance block must hold (``exported_at`` is filled in if missing).
PROVENANCE_KEYS = (
    "method", "parameters", "filters", "period", "data_source", "store_version", "exported_at",
)  # fmt: skip
#: Documented shapefile (DBF) names of the hotspot layers' columns, at most 10 characters.
SHAPEFILE_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        # analysis grid
        "cell_id": "CELL_ID",
        "clipped_fraction": "CLIP_FRAC",
        "x": "X",
        "y": "Y",
        "precinct": "PRECINCT",
        "ward": "WARD",
        "count": "N_INC",
        # Getis-Ord Gi*
        "gi_z": "GI_Z",
        "gi_p": "GI_P",
        "gi_p_fdr": "GI_P_FDR",
        "gi_bin": "GI_BIN",
        # emerging hotspots
        "category": "EHS_CAT",
        "trend_z": "TREND_Z",
        "trend_p": "TREND_P",
        "hot_steps": "HOT_STEPS",
        "cold_steps": "COLD_STEPS",
        "n_steps": "N_STEPS",
        "final_hot": "FINAL_HOT",
        "final_cold": "FINAL_COLD",
        "count_trend_z": "CNT_TR_Z",
        "count_trend_p": "CNT_TR_P",
        "category_code": "EHS_CODE",
        "n_neighbours": "N_NEIGHB",
        # kernel density
        "rank": "RANK",
        "peak_density": "PEAK_DENS",
        "mean_density": "MEAN_DENS",
        "area_km2": "AREA_KM2",
    }
)
DBF_NAME_MAX = 10
_LAYER_NAME = "hotspots"
_PROVENANCE_LAYER = "provenance"


class HotspotExportError(LayersError):
    """A hotspot layer or its provenance cannot be exported as given."""


def export_hotspots(
    layer: gpd.GeoDataFrame, out: Path | str, *, provenance: Mapping[str, object]
) -> Path:
    """Write a hotspot layer and its provenance to a zipped shapefile, GeoPackage or GeoJSON.

    Parameters
    ----------
    layer : geopandas.GeoDataFrame
        Hotspot polygons (grid cells or KDE hotspots) with a CRS; not modified.
    out : path-like
        Target file; its ending (``.zip``, ``.gpkg``, ``.geojson``) picks the format.
    provenance : mapping
        At least the keys of :data:`PROVENANCE_KEYS` (``exported_at`` is filled in with the
        local time when missing); see :func:`provenance_block`. Values may be nested (e.g.
        ``parameters`` as a dict): the shapefile's text file and the GeoPackage table hold them
        as JSON text, GeoJSON as JSON.

    Returns
    -------
    Path
        The file written.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in HOTSPOT_SUFFIXES:
        raise InputFileError(
            f"Cannot export hotspots to {out.name}: use a file ending in "
            f"{', '.join(HOTSPOT_SUFFIXES)} (.zip for a zipped ESRI Shapefile)."
        )
    if layer.crs is None:
        raise HotspotExportError(
            "The hotspot layer has no CRS: set it (e.g. layer.set_crs('EPSG:32734')) first."
        )
    block = _complete(provenance)
    table = plain_values(layer.reset_index(drop=True))
    with atomic_path(out) as tmp:
        if suffix == ".zip":
            _write_shapefile_zip(table, tmp, stem=safe_filename(out.stem), provenance=block)
        elif suffix == ".gpkg":
            _write_gpkg(table, tmp, provenance=block)
        else:
            _write_geojson(table, tmp, provenance=block)
    return out


def provenance_block(
    *,
    method: str,
    parameters: Mapping[str, object],
    filters: str,
    period: str,
    data_source: str,
    store_version: str | None,
    exported_at: datetime.datetime | None = None,
    **extra: object,
) -> dict[str, object]:
    """The provenance of an export, in the order it is written.

    Parameters
    ----------
    method : str
        e.g. ``"gistar"``, ``"kde"``, ``"emerging"``.
    parameters : mapping
        The method's settings (cell size, bandwidth, area share...) and why they were chosen.
    filters : str
        The filters applied, as the analyst would say them.
    period : str
        The incidents' time span, e.g. ``"2025-01-01 to 2025-06-30"``.
    data_source : str
        Where the incidents came from (files, the synthetic demo).
    store_version : str or None
        The store version the incidents were read from.
    exported_at : datetime, optional
        Defaults to now; written as ISO 8601 in local time (Africa/Johannesburg).
    **extra
        Anything else to record (row counts, software version).

    Returns
    -------
    dict
    """
    when = exported_at or datetime.datetime.now(datetime.UTC)
    if when.tzinfo is None:
        raise HotspotExportError(
            "`exported_at` has no time zone: pass an aware datetime (e.g. with ZoneInfo)."
        )
    return {
        "method": method,
        "parameters": dict(parameters),
        "filters": filters,
        "period": period,
        "data_source": data_source,
        "store_version": store_version,
        "exported_at": when.astimezone(ZoneInfo(LOCAL_TZ)).isoformat(timespec="seconds"),
        **extra,
    }


def shapefile_field_names(columns: Iterable[str]) -> dict[str, str]:
    """DBF field names, at most 10 characters, for a layer's columns.

    Known columns get their documented name from :data:`SHAPEFILE_FIELDS`. Any other column
    is transliterated to ASCII, upper-cased, non-alphanumerics turned into ``_``, prefixed with
    ``F_`` unless it starts with a letter, and cut to 10 characters; a name already taken
    (DBF names ignore case) gets ``_1``, ``_2``... in its last characters. Documented names are
    claimed first, so the result for a column never depends on what else the layer holds
    unless two names collide.

    Parameters
    ----------
    columns : iterable of str
        Attribute columns, without the geometry.

    Returns
    -------
    dict
        Full name to short name, in the columns' order.
    """
    columns = list(columns)
    short: dict[str, str] = {}
    taken: set[str] = set()
    for column in columns:
        name = SHAPEFILE_FIELDS.get(column)
        if name is not None and name not in taken:
            short[column] = name
            taken.add(name)
    for column in columns:
        if column in short:
            continue
        base = _dbf_base(column)
        name, n = base, 0
        while name in taken:
            n += 1
            name = base[: DBF_NAME_MAX - len(f"_{n}")] + f"_{n}"
        short[column] = name
        taken.add(name)
    return {column: short[column] for column in columns}


# --- formats -------------------------------------------------------------------------------


def _write_shapefile_zip(
    table: gpd.GeoDataFrame, target: Path, *, stem: str, provenance: Mapping[str, object]
) -> None:
    fields = shapefile_field_names(c for c in table.columns if c != table.geometry.name)
    shp = neutralise_formulas(table.rename(columns=fields)).to_crs(SHAPEFILE_CRS)
    with tempfile.TemporaryDirectory(prefix="hotspots-") as folder:
        base = Path(folder) / stem
        pyogrio.write_dataframe(
            shp,
            base.with_suffix(".shp"),
            driver="ESRI Shapefile",
            encoding="UTF-8",
            **_geometry_type(shp),
        )
        # GDAL writes the .cpg for UTF-8 already; write it ourselves so it is there whatever
        # the GDAL version does.
        base.with_suffix(".cpg").write_text("UTF-8", encoding="ascii")
        text = _provenance_text(provenance, fields=fields, n=len(shp))
        Path(folder, f"{stem}_provenance.txt").write_text(text, encoding="utf-8")
        names = [f"{stem}{ext}" for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in [*names, f"{stem}_provenance.txt"]:
                archive.write(Path(folder, name), arcname=name)


def _write_gpkg(table: gpd.GeoDataFrame, target: Path, *, provenance: Mapping[str, object]) -> None:
    description = f"Hotspots ({provenance['method']}); provenance in the table 'provenance'."
    pyogrio.write_dataframe(
        table.to_crs(SHAPEFILE_CRS),
        target,
        layer=_LAYER_NAME,
        driver="GPKG",
        layer_metadata={key: _text(value) for key, value in provenance.items()},
        layer_options={"DESCRIPTION": description},
        **_geometry_type(table),
    )
    rows = pd.DataFrame({"key": list(provenance), "value": [_text(v) for v in provenance.values()]})
    pyogrio.write_dataframe(rows, target, layer=_PROVENANCE_LAYER, driver="GPKG")


def _write_geojson(
    table: gpd.GeoDataFrame, target: Path, *, provenance: Mapping[str, object]
) -> None:
    # GDAL (3.9 or later, bundled with pyogrio) writes RFC 7946 (WGS84, 7 decimals, right-hand
    # winding) and adds the provenance as a foreign member, three times faster than json.
    members = json.dumps({"provenance": provenance}, ensure_ascii=False, default=str)
    pyogrio.write_dataframe(
        table.to_crs(WGS84),
        target,
        layer=_LAYER_NAME,
        driver="GeoJSON",
        layer_options={"RFC7946": "YES", "FOREIGN_MEMBERS_COLLECTION": members},
        **_geometry_type(table),
    )


# --- values ---------------------------------------------------------------------------------


def _complete(provenance: Mapping[str, object]) -> dict[str, object]:
    block = dict(provenance)
    if "exported_at" not in block:
        now = datetime.datetime.now(ZoneInfo(LOCAL_TZ))
        block["exported_at"] = now.isoformat(timespec="seconds")
    missing = [key for key in PROVENANCE_KEYS if key not in block]
    if missing:
        raise HotspotExportError(
            f"The provenance lacks {', '.join(missing)}: every export records "
            f"{', '.join(PROVENANCE_KEYS)}. Build it with provenance_block(...)."
        )
    try:
        json.dumps(block, default=str)
    except (TypeError, ValueError) as err:
        raise HotspotExportError(
            f"The provenance cannot be written as JSON ({err}): use text, numbers, lists and dicts."
        ) from err
    return block


def _geometry_type(table: gpd.GeoDataFrame) -> dict[str, str]:
    # An empty layer has no geometry to infer the type from; hotspot layers are polygons.
    return {"geometry_type": "Polygon"} if table.empty else {}


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _dbf_base(column: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", str(column)).encode("ascii", "ignore").decode()
    name = re.sub(r"[^A-Za-z0-9]+", "_", ascii_name).strip("_").upper()
    if not name[:1].isalpha():
        name = "F_" + name
    return name[:DBF_NAME_MAX].rstrip("_") or "F"


def _provenance_text(provenance: Mapping[str, object], *, fields: Mapping[str, str], n: int) -> str:
    width = max(len(key) for key in provenance)
    lines = ["Hotspot export: provenance", ""]
    lines += [f"{key.ljust(width)}  {_text(value)}" for key, value in provenance.items()]
    lines += [
        "",
        f"Features: {n}",
        f"CRS: {SHAPEFILE_CRS} (WGS 84 / UTM zone 34S, metres); see the .prj file.",
        "Text encoding: UTF-8 (see the .cpg file). Text starting with = + - @, a tab or a",
        "carriage return has a leading ' so a spreadsheet opening the .dbf shows it as text.",
        "",
        "Fields (shapefile name, then full name):",
    ]
    lines += [f"  {short.ljust(DBF_NAME_MAX)}  {full}" for full, short in fields.items()]
    return "\n".join(lines) + "\n"


def hotspot_provenance(
    result: HotspotResult, snapshot: StoreSnapshot, flt: IncidentFilter
) -> dict[str, object]:
    """Where an exported hotspot layer came from: method, parameters, filters, period, data.

    Files are named, not their folders: an export leaves the server, its paths need not.
    """
    meta = snapshot.meta

    def name(source: object) -> str:
        return PurePath(str(source)).name if source else "(not recorded)"

    kind = "SYNTHETIC demo data" if snapshot.synthetic else "incident store"
    files = ", ".join(name(f) for f in meta.get("incident_sources", [])[:10])
    source = (
        f"{kind} {name(snapshot.path)}; precincts: {name(meta.get('precinct_source'))}; wards: "
        f"{name(meta.get('ward_source'))}; incident files: {files}"
    )
    return provenance_block(
        method=METHODS[result.method],
        parameters=result.parameters,
        filters=flt.describe(),
        period=result.period,
        data_source=source,
        store_version=snapshot.version,
        incidents=result.incidents,
        explanation=result.explanation,
    )
