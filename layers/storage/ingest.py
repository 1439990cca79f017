"""Ingest: read, validate and join incident files, then merge them into the store.

An ingest run accounts for every input row: it is new, an update of a stored incident,
unchanged (already stored exactly so), or rejected with a reason written to ``rejects/``
(with its data dictionary beside it, see :mod:`layers.dictionary`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from layers._errors import InputFileError, StoreError
from layers.dictionary import dictionary_csv, dictionary_path
from layers.intake.sources import read_boundaries, read_incident_file
from layers.intake.taxonomy import Taxonomy, load_taxonomy
from layers.intake.validate import Extent, Validated, to_geodataframe, validate_incidents
from layers.spreadsheet import spreadsheet_csv
from layers.storage.join import assign_areas
from layers.storage.store import (
    StoreSnapshot,
    current_version,
    open_store,
    safe_filename,
    store_lock,
    write_snapshot,
    write_text_atomic,
)

Progress = Callable[[str, float], None]
#: Reads and validates each of a list of files, in order; a file that cannot be read gives
#: its error instead.
ValidateFiles = Callable[
    [Callable[[Path], Validated], Sequence[Path]], Iterator[Validated | InputFileError]
]
#: The precinct and ward names of points (lon, lat) given the precinct and ward layers.
JoinAreas = Callable[
    [np.ndarray, np.ndarray, gpd.GeoDataFrame, gpd.GeoDataFrame], tuple[np.ndarray, np.ndarray]
]
CONTENT_COLUMNS = (
    "incident_id", "agency", "category", "collaboration_area", "occurred_at", "reported_at",
    "status", "description", "lon", "lat",
)  # fmt: skip


@dataclass
class FileReport:
    """What happened to the rows of one incident file."""

    file: str
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0
    superseded: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    rejects_file: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def accepted(self) -> int:
        """Valid rows: new, updates, repeats, rows older than what the store holds, and rows
        a later row in the same file replaced."""
        return self.new + self.updated + self.unchanged + self.older + self.superseded

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def record(self, checked: Validated) -> None:
        """Take the read, warning, superseded and rejected counts of a validated file."""
        self.read = checked.read
        self.warnings = checked.warnings
        self.superseded = checked.superseded
        self.rejected = dict(Counter(checked.rejected["reject_reason"]))


@dataclass
class IngestReport:
    """The summary of one ingest run."""

    store: str
    version: str | None
    files: list[FileReport]
    boundary_warnings: list[str]
    total_incidents: int
    seconds: float

    def totals(self) -> dict[str, int]:
        """Read, accepted, new, updated, unchanged and rejected over all files."""
        keys = (
            "read", "accepted", "new", "updated", "unchanged", "older", "superseded",
            "rejected_total",
        )  # fmt: skip
        return {k.removesuffix("_total"): sum(getattr(f, k) for f in self.files) for k in keys}

    def rejected_by_reason(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for report in self.files:
            counts.update(report.rejected)
        return counts

    def as_text(self) -> str:
        """A printable summary."""
        t = self.totals()
        lines = [
            f"Store {self.store} (version {self.version}): {self.total_incidents:,} incidents.",
            f"Read {t['read']:,} rows: accepted {t['accepted']:,} (new {t['new']:,}, updated "
            f"{t['updated']:,}, unchanged {t['unchanged']:,}"
            + (f", older than stored {t['older']:,}" if t["older"] else "")
            + (f", superseded in the same file {t['superseded']:,}" if t["superseded"] else "")
            + f"); rejected {t['rejected']:,}.",
        ]
        for reason, count in self.rejected_by_reason().most_common():
            lines.append(f"  rejected {count:>7,}  {reason}")
        for report in self.files:
            status = (
                f"ERROR: {report.error}"
                if report.error
                else (
                    f"{report.read:,} read, {report.accepted:,} accepted, "
                    f"{report.rejected_total:,} rejected"
                )
            )
            lines.append(f"- {report.file}: {status}")
            if report.rejects_file:
                lines.append(f"    rejected rows: {report.rejects_file}")
            lines.extend(f"    note: {w}" for w in report.warnings)
        lines.extend(f"note: {w}" for w in self.boundary_warnings)
        lines.append(f"Took {self.seconds:.1f} s.")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "totals": self.totals()}


def ingest(
    store: Path | str,
    incident_files: Sequence[Path | str],
    *,
    precincts: Path | str | None = None,
    wards: Path | str | None = None,
    precinct_field: str | None = None,
    ward_field: str | None = None,
    precinct_layer: str | None = None,
    ward_layer: str | None = None,
    incident_layer: str | None = None,
    column_map: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    coords_crs: str | None = None,
    taxonomy: Taxonomy | None = None,
    margin_km: float = 50.0,
    synthetic: bool = False,
    progress: Progress | None = None,
    now: pd.Timestamp | None = None,
    scheduler: str | None = None,
) -> IngestReport:
    """Validate incident files, join them to precincts and wards, and merge them into a store.

    Parameters
    ----------
    store : path-like
        Store directory; created if missing.
    incident_files : sequence of path-like
        Incident extracts, ingested in order (a later file's row updates an earlier one).
    precincts, wards : path-like, optional
        Boundary files. Required for a new store; when given for an existing store the
        stored incidents are joined again to the new boundaries.
    precinct_field, ward_field : str, optional
        Attribute naming each area; detected when not given.
    precinct_layer, ward_layer, incident_layer : str, optional
        The layer to read from multi-layer files (GeoPackage).
    column_map, defaults, coords_crs
        Passed to :func:`layers.intake.validate.validate_incidents`.
    taxonomy : Taxonomy, optional
        Collaboration areas; the configured file by default.
    margin_km : float
        Points further than this beyond the boundaries' extent are rejected.
    synthetic : bool
        Mark the store as built from synthetic demo data.
    progress : callable, optional
        Called with a message and a fraction done, for progress bars.
    now : pandas.Timestamp, optional
        Reference time for the "in the future" check.
    scheduler : str, optional
        Validate the files and join the incidents on a dask cluster: a scheduler address
        (``tcp://host:8786``), or ``"local[:N]"`` for N worker processes on this machine (see
        :func:`layers.distributed.connect`). Merging and writing stay here; the store
        written
        is the same.

    Returns
    -------
    IngestReport
    """
    started = datetime.now(UTC)
    store = Path(store)
    say = progress or (lambda _msg, _frac: None)
    taxonomy = taxonomy or load_taxonomy()
    now = now if now is not None else pd.Timestamp.now(tz="UTC")

    # One writer at a time: two runs that both read, merge and write would lose one's rows.
    with _where_to_run(scheduler) as (validate_files, join_areas), store_lock(store):
        say("Reading boundaries", 0.0)
        existing = open_store(store) if current_version(store) else None
        layers, boundary_notes, rejoin = _boundaries(
            existing,
            {
                "precinct": _BoundarySource(precincts, precinct_field, precinct_layer),
                "ward": _BoundarySource(wards, ward_field, ward_layer),
            },
        )
        precinct_areas, ward_areas = layers["precinct"], layers["ward"]
        extent = Extent.of(_union_bounds(precinct_areas, ward_areas), margin_km=margin_km)

        incidents = _existing_incidents(existing)
        reports: list[FileReport] = []
        paths = [Path(p) for p in incident_files]
        validate_one = partial(
            validate_file, layer=incident_layer, taxonomy=taxonomy, extent=extent,
            column_map=column_map, defaults=defaults, coords_crs=coords_crs, now=now,
        )  # fmt: skip
        outcomes = validate_files(validate_one, paths)
        for number, path in enumerate(paths):
            say(f"Validating {path.name}", 0.1 + 0.7 * number / max(len(paths), 1))
            report = FileReport(file=str(path))
            reports.append(report)
            checked = next(outcomes)
            if isinstance(checked, InputFileError):
                report.error = str(checked)
                continue
            report.record(checked)
            if len(checked.rejected):
                target = _write_rejects(store, path, checked.rejected, started, number)
                report.rejects_file = str(target)
            fresh = checked.accepted.assign(source_file=path.name)
            incidents, counts = merge_incidents(incidents, fresh)
            report.new, report.updated, report.unchanged, report.older = counts

        say("Joining to precincts and wards", 0.85)
        incidents = _join_pending(
            incidents, precinct_areas, ward_areas, rejoin=rejoin, join_areas=join_areas
        )
        meta = _meta(existing, layers, synthetic, reports, len(incidents))
        say("Writing the store", 0.92)
        accepted_any = any(r.accepted for r in reports) or not incident_files
        changed = rejoin or any(r.new or r.updated for r in reports)
        changed = changed or (existing is None and accepted_any)
        version = existing.version if existing is not None else None
        if changed:
            version = write_snapshot(
                store,
                incidents=to_geodataframe(incidents.drop(columns="_pending")),
                precincts=precinct_areas,
                wards=ward_areas,
                meta=meta,
            )
        report = IngestReport(
            store=str(store),
            version=version,
            files=reports,
            boundary_warnings=boundary_notes,
            total_incidents=len(incidents),
            seconds=(datetime.now(UTC) - started).total_seconds(),
        )
        _write_report(store, report, started)
        say("Done", 1.0)
        return report


def validate_file(
    path: Path,
    *,
    layer: str | None,
    taxonomy: Taxonomy,
    extent: Extent,
    column_map: Mapping[str, str] | None,
    defaults: Mapping[str, str] | None,
    coords_crs: str | None,
    now: pd.Timestamp,
) -> Validated:
    """Read one incident file and validate its rows: one file's work, wherever it runs.

    See :func:`layers.intake.sources.read_incident_file` and
    :func:`layers.intake.validate.validate_incidents` for the parameters.

    Raises
    ------
    InputFileError
        When the file cannot be read or lacks a required field.
    """
    return validate_incidents(
        read_incident_file(path, layer=layer), taxonomy=taxonomy, extent=extent,
        column_map=column_map, defaults=defaults, coords_crs=coords_crs, now=now,
    )  # fmt: skip


@contextmanager
def _where_to_run(scheduler: str | None) -> Iterator[tuple[ValidateFiles, JoinAreas]]:
    """The validation and join steps: in this process, or on a dask cluster."""
    if scheduler is None:
        yield _validate_here, _join_here
        return
    # Imported only when asked for: dask takes a second to import, and most runs never need it.
    from layers import distributed

    with distributed.connect(scheduler) as client:
        yield partial(distributed.validate_files, client), partial(distributed.join_areas, client)


def _validate_here(
    validate_one: Callable[[Path], Validated], paths: Sequence[Path]
) -> Iterator[Validated | InputFileError]:
    for path in paths:
        try:
            yield validate_one(path)
        except InputFileError as err:
            yield err


def _join_here(
    lon: np.ndarray, lat: np.ndarray, precincts: gpd.GeoDataFrame, wards: gpd.GeoDataFrame
) -> tuple[np.ndarray, np.ndarray]:
    return assign_areas(lon, lat, precincts), assign_areas(lon, lat, wards)


def merge_incidents(
    stored: pd.DataFrame, incoming: pd.DataFrame
) -> tuple[pd.DataFrame, tuple[int, int, int, int]]:
    """Merge incoming incidents into stored ones by (agency, incident_id).

    An incoming row whose content equals the stored row is unchanged. One that differs
    replaces it (an update) unless both carry ``reported_at`` and the incoming one is older:
    re-ingesting an old extract must not roll back a newer report. A row with a new key is
    appended. Rows that need a spatial join are marked in the ``_pending`` column.

    Returns
    -------
    (pandas.DataFrame, (int, int, int, int))
        The merged frame, and the counts of new, updated, unchanged and older rows.
    """
    incoming = incoming.assign(row_hash=row_hashes(incoming), _pending=True)
    if stored.empty:
        return incoming.reset_index(drop=True), (len(incoming), 0, 0, 0)
    position = pd.Index(_keys(stored)).get_indexer(_keys(incoming))
    matched = position >= 0
    at = position[matched]
    same = np.zeros(len(incoming), dtype=bool)
    same[matched] = stored["row_hash"].to_numpy()[at] == incoming["row_hash"].to_numpy()[matched]
    older = np.zeros(len(incoming), dtype=bool)
    older[matched] = (
        _utc64(incoming["reported_at"])[matched] < _utc64(stored["reported_at"])[at]
    )  # NaT compares False: without both times, the later ingest wins
    older &= ~same
    updates = matched & ~same & ~older
    keep = np.ones(len(stored), dtype=bool)
    keep[position[updates]] = False
    merged = pd.concat([stored.loc[keep], incoming.loc[~matched | updates]], ignore_index=True)
    counts = (int((~matched).sum()), int(updates.sum()), int(same.sum()), int(older.sum()))
    return merged, counts


def _utc64(times: pd.Series) -> np.ndarray:
    """UTC times as a numpy datetime64 array (tz-aware to_numpy() would box every value)."""
    return times.to_numpy(dtype="datetime64[ns]")


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's content, to tell an update from a repeat."""
    content = frame.loc[:, list(CONTENT_COLUMNS)].astype(
        {c: "string" for c in ("incident_id", "agency", "category", "collaboration_area")}
    )
    return pd.util.hash_pandas_object(content, index=False).to_numpy()


def _keys(frame: pd.DataFrame) -> pd.Series:
    return frame["agency"].astype("string") + "\x1f" + frame["incident_id"].astype("string")


def _existing_incidents(existing: StoreSnapshot | None) -> pd.DataFrame:
    if existing is None:
        return _empty_incidents()
    frame = pd.DataFrame(existing.incidents.drop(columns="geometry"))
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame.assign(_pending=False)


def _empty_incidents() -> pd.DataFrame:
    """No incidents yet, with the stored columns and types (so an empty store is readable)."""
    text = ("incident_id", "agency", "category", "collaboration_area", "status", "description")
    columns: dict[str, pd.Series] = {c: pd.Series(dtype=object) for c in text}
    columns |= {c: pd.Series(dtype="datetime64[ns, UTC]") for c in ("occurred_at", "reported_at")}
    columns |= {c: pd.Series(dtype=float) for c in ("lon", "lat")}
    columns |= {"source_file": pd.Series(dtype=object), "row_hash": pd.Series(dtype=np.uint64)}
    columns |= {c: pd.Series(dtype=object) for c in ("precinct", "ward", "_pending")}
    return pd.DataFrame(columns)


def _join_pending(
    incidents: pd.DataFrame,
    precincts: gpd.GeoDataFrame,
    wards: gpd.GeoDataFrame,
    *,
    rejoin: bool,
    join_areas: JoinAreas = _join_here,
) -> pd.DataFrame:
    if incidents.empty:
        return incidents
    todo = np.ones(len(incidents), dtype=bool) if rejoin else incidents["_pending"].to_numpy(bool)
    out = incidents.copy()
    for column in ("precinct", "ward"):
        if column not in out.columns:
            out[column] = None
    lon = out["lon"].to_numpy(dtype=float)[todo]
    lat = out["lat"].to_numpy(dtype=float)[todo]
    precinct, ward = join_areas(lon, lat, precincts, wards)
    out.loc[todo, "precinct"] = precinct
    out.loc[todo, "ward"] = ward
    return out


@dataclass(frozen=True)
class _BoundarySource:
    path: Path | str | None
    name_field: str | None
    layer: str | None


def _boundaries(
    existing: StoreSnapshot | None, sources: dict[str, _BoundarySource]
) -> tuple[dict[str, gpd.GeoDataFrame], list[str], bool]:
    """Boundary layers to use, notes about them, and whether stored incidents need a rejoin."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    notes: list[str] = []
    rejoin = False
    for kind, source in sources.items():
        stored = getattr(existing, f"{kind}s", None)
        if source.path is not None:
            read = read_boundaries(
                source.path, name_field=source.name_field, kind=kind, layer=source.layer
            )
            layers[kind] = read.areas.assign(source=Path(source.path).name)
            notes.extend(read.warnings)
            rejoin = rejoin or stored is None or not _same_layer(stored, layers[kind])
        elif stored is not None:
            layers[kind] = stored
        else:
            raise StoreError(
                f"A new store needs {kind} boundaries: give --{kind}s FILE "
                "(zipped Shapefile, .shp, GeoPackage or GeoJSON)."
            )
    return layers, notes, rejoin and existing is not None


def _same_layer(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> bool:
    return len(a) == len(b) and bool(
        (a["name"].to_numpy() == b["name"].to_numpy()).all()
        and a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()
    )


def _union_bounds(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    ax0, ay0, ax1, ay1 = a.total_bounds
    bx0, by0, bx1, by1 = b.total_bounds
    return min(ax0, bx0), min(ay0, by0), max(ax1, bx1), max(ay1, by1)


def _meta(
    existing: object,
    layers: dict[str, gpd.GeoDataFrame],
    synthetic: bool,
    reports: list[FileReport],
    total: int,
) -> dict[str, object]:
    previous = dict(getattr(existing, "meta", {}) or {})
    sources = list(previous.get("incident_sources", []))
    sources += [r.file for r in reports if r.error is None and r.file not in sources]
    return {
        "synthetic": bool(previous.get("synthetic", False)) or synthetic,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "incidents": total,
        "precinct_source": str(layers["precinct"]["source"].iloc[0])
        if len(layers["precinct"])
        else None,
        "ward_source": str(layers["ward"]["source"].iloc[0]) if len(layers["ward"]) else None,
        "incident_sources": sources,
    }


def _write_rejects(
    store: Path, path: Path, rejected: pd.DataFrame, started: datetime, number: int
) -> Path:
    # Run time to the microsecond plus the file's place in the run: two inputs with the same
    # name, or two runs in the same second, never overwrite each other's rejects.
    stamp = f"{started:%Y%m%dT%H%M%S%fZ}_{number + 1:03d}"
    safe = safe_filename(re.sub(r"(?i)\.csv(\.gz)?$", "", path.name))
    target = store / "rejects" / f"{stamp}_{safe}.csv"
    # Opened in spreadsheets: text that would run as a formula is neutralised, and number
    # text (coordinates) kept as it was.
    write_text_atomic(target, spreadsheet_csv(rejected, keep_numbers=True))
    write_text_atomic(dictionary_path(target), dictionary_csv("rejects", rejected.columns))
    return target


def _write_report(store: Path, report: IngestReport, started: datetime) -> None:
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    target = store / "reports" / f"{stamp}.json"
    write_text_atomic(target, json.dumps(report.as_dict(), indent=2, default=str))
