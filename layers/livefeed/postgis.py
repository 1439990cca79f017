"""The live store in PostgreSQL/PostGIS: schema, ingest, and reading what is new.

Agencies' systems and the drop folder write here while a meeting watches the map. Tables
live in the ``incident_map`` schema:

``incidents``
    One row per (agency, incident_id): the canonical incident fields, ``lon``/``lat`` and a
    ``geom`` point (EPSG:4326, generated from them), ``precinct`` and ``ward``,
    ``row_hash`` (content hash, to tell an update from a repeat), ``source_file``,
    ``ingested_at`` (first seen), ``updated_at`` and ``seq``.
``precincts``, ``wards``
    Boundary polygons (``name``, ``source``, ``geom`` MultiPolygon, EPSG:4326).
``rejects``
    Every rejected input row: file, row number, reason and the original row as JSON.
``ingest_runs``
    One JSON report per ingest run.
``meta``
    Key/value settings, e.g. whether the data is the synthetic demo.
``deleted_incidents``
    A tombstone for every deleted incident: its key and the ``seq`` of the deletion.

A trigger stamps every inserted or updated incident with the next ``seq`` while holding a
transaction-level advisory lock, so writers commit in ``seq`` order and a reader that
remembers the largest ``seq`` it has seen fetches exactly what is new with
``WHERE seq > last`` (see :func:`read_incidents`). The trigger also fills ``precinct`` and
``ward`` with a spatial join when a writer leaves them empty (first area in name order, or
"Outside boundaries"), so a system writing rows directly gets the same answers as
:func:`ingest_postgis`, which joins in Python with :func:`layers.storage.join.assign_areas`.
A deletion leaves a tombstone with its own ``seq`` (:func:`read_deletions`), and every
statement that changes incidents sends a ``NOTIFY`` on :data:`CHANNEL` when it commits, so
a follower can wait for changes instead of asking (:class:`layers.livefeed.live.LiveStore`).

All SQL here is parameterised; identifiers are fixed in this module, never taken from input.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers._errors import DatabaseUnavailable, InputFileError, StoreError
from layers.intake.sources import read_boundaries
from layers.intake.taxonomy import Taxonomy, load_taxonomy
from layers.intake.validate import Extent, Validated
from layers.settings import WGS84
from layers.storage.ingest import (
    FileReport,
    IngestReport,
    Progress,
    merge_incidents,
    validate_file,
)
from layers.storage.join import OUTSIDE, assign_areas

SCHEMA = "incident_map"
SCHEMA_VERSION = 2  # 2: deletions kept as tombstones, changes announced on CHANNEL
CHANNEL = "incident_map_changes"  # NOTIFY channel: a commit that changed incidents
WRITE_LOCK = 727_240_801  # pg_advisory_xact_lock key: one writer at a time, in seq order
CONNECT_TIMEOUT_S = 5
INCIDENT_COLUMNS = (
    "agency", "incident_id", "category", "collaboration_area", "occurred_at", "reported_at",
    "status", "description", "lon", "lat", "precinct", "ward", "source_file", "row_hash",
)  # fmt: skip
READ_COLUMNS = (*INCIDENT_COLUMNS, "ingested_at", "seq")
# Statements whose column lists come from the tuples above, fixed at import: no SQL text is
# ever built from a caller's value (names of tables chosen at run time go through
# psycopg.sql.Identifier, values through parameters).
_INCIDENT_LIST = ", ".join(INCIDENT_COLUMNS)
_COPY_INCOMING = f"COPY incoming ({_INCIDENT_LIST}) FROM STDIN"
_UPSERT = (
    f"INSERT INTO {SCHEMA}.incidents ({_INCIDENT_LIST}) SELECT {_INCIDENT_LIST} FROM incoming "
    "ON CONFLICT (agency, incident_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in INCIDENT_COLUMNS[2:])
)
_COPY_READ = (
    f"COPY (SELECT {', '.join(READ_COLUMNS)} FROM {SCHEMA}.incidents WHERE seq > %s "
    "ORDER BY seq) TO STDOUT (FORMAT csv)"
)

DDL = f"""
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE SEQUENCE IF NOT EXISTS {SCHEMA}.incident_seq;
CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {SCHEMA}.precincts (
    name text PRIMARY KEY,
    ordinal integer NOT NULL,
    source text,
    geom geometry(MultiPolygon, 4326) NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.wards (
    name text PRIMARY KEY,
    ordinal integer NOT NULL,
    source text,
    geom geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS precincts_geom ON {SCHEMA}.precincts USING gist (geom);
CREATE INDEX IF NOT EXISTS wards_geom ON {SCHEMA}.wards USING gist (geom);
CREATE TABLE IF NOT EXISTS {SCHEMA}.incidents (
    agency text NOT NULL,
    incident_id text NOT NULL,
    category text NOT NULL,
    collaboration_area text NOT NULL,
    occurred_at timestamptz NOT NULL,
    reported_at timestamptz,
    status text,
    description text,
    lon double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    geom geometry(Point, 4326)
        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED,
    precinct text,
    ward text,
    source_file text,
    row_hash bigint,
    ingested_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    seq bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (agency, incident_id)
);
CREATE INDEX IF NOT EXISTS incidents_occurred_at ON {SCHEMA}.incidents (occurred_at);
CREATE INDEX IF NOT EXISTS incidents_geom ON {SCHEMA}.incidents USING gist (geom);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_seq ON {SCHEMA}.incidents (seq);
CREATE TABLE IF NOT EXISTS {SCHEMA}.rejects (
    id bigserial PRIMARY KEY,
    run_id bigint,
    file text NOT NULL,
    source_row integer,
    reason text NOT NULL,
    row_data jsonb NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.ingest_runs (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    report jsonb NOT NULL
);
CREATE OR REPLACE FUNCTION {SCHEMA}.take_write_lock() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Before the statement locks any row: writers take turns until commit, so seq order is
    -- commit order (see read_incidents), without waiting on the lock while holding rows.
    PERFORM pg_advisory_xact_lock({WRITE_LOCK});
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION {SCHEMA}.stamp_incident() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    point geometry := ST_SetSRID(ST_MakePoint(NEW.lon, NEW.lat), 4326);
BEGIN
    NEW.seq := nextval('{SCHEMA}.incident_seq');
    NEW.updated_at := now();
    IF TG_OP = 'UPDATE' THEN
        NEW.ingested_at := OLD.ingested_at;
        -- A new key is a new incident to a reader: the old key leaves a tombstone.
        IF (NEW.agency, NEW.incident_id) IS DISTINCT FROM (OLD.agency, OLD.incident_id) THEN
            INSERT INTO {SCHEMA}.deleted_incidents (agency, incident_id, seq)
                VALUES (OLD.agency, OLD.incident_id, nextval('{SCHEMA}.incident_seq'));
        END IF;
        -- A moved point whose writer left the areas as they were gets them joined again.
        IF (NEW.lon, NEW.lat) IS DISTINCT FROM (OLD.lon, OLD.lat) THEN
            IF NEW.precinct IS NOT DISTINCT FROM OLD.precinct THEN NEW.precinct := NULL; END IF;
            IF NEW.ward IS NOT DISTINCT FROM OLD.ward THEN NEW.ward := NULL; END IF;
        END IF;
    END IF;
    IF NEW.precinct IS NULL THEN
        NEW.precinct := COALESCE((SELECT name FROM {SCHEMA}.precincts p
            WHERE ST_Intersects(p.geom, point) ORDER BY ordinal LIMIT 1), '{OUTSIDE}');
    END IF;
    IF NEW.ward IS NULL THEN
        NEW.ward := COALESCE((SELECT name FROM {SCHEMA}.wards w
            WHERE ST_Intersects(w.geom, point) ORDER BY ordinal LIMIT 1), '{OUTSIDE}');
    END IF;
    RETURN NEW;
END;
$$;
CREATE TABLE IF NOT EXISTS {SCHEMA}.deleted_incidents (
    agency text NOT NULL,
    incident_id text NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    seq bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS deleted_incidents_seq ON {SCHEMA}.deleted_incidents (seq);
CREATE OR REPLACE FUNCTION {SCHEMA}.remember_deletion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A deleted incident leaves a tombstone in the same seq order as inserts and updates,
    -- so a reader following seq sees the deletion too (see read_deletions).
    INSERT INTO {SCHEMA}.deleted_incidents (agency, incident_id, seq)
        VALUES (OLD.agency, OLD.incident_id, nextval('{SCHEMA}.incident_seq'));
    RETURN OLD;
END;
$$;
CREATE OR REPLACE FUNCTION {SCHEMA}.announce_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit, once per transaction (identical notifications are folded).
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER take_write_lock BEFORE INSERT OR UPDATE OR DELETE
    ON {SCHEMA}.incidents FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.take_write_lock();
CREATE OR REPLACE TRIGGER stamp_incident BEFORE INSERT OR UPDATE ON {SCHEMA}.incidents
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.stamp_incident();
CREATE OR REPLACE TRIGGER remember_deletion AFTER DELETE ON {SCHEMA}.incidents
    FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.remember_deletion();
CREATE OR REPLACE TRIGGER announce_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON {SCHEMA}.incidents FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.announce_change();
INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
"""


# Every session reads timestamps the same way, whatever the server's defaults.
SESSION_OPTIONS = "-c DateStyle=ISO -c TimeZone=UTC"


def connect(url: str, **kwargs: Any) -> Any:
    """A psycopg connection, or :class:`~layers._errors.DatabaseUnavailable` saying what to
    check."""
    import psycopg

    try:
        return psycopg.connect(
            url, connect_timeout=CONNECT_TIMEOUT_S, options=SESSION_OPTIONS, **kwargs
        )
    except psycopg.OperationalError as err:
        raise DatabaseUnavailable(unreachable_message(url, err)) from err


def unreachable_message(url: str, err: BaseException) -> str:
    """What a viewer or operator reads when the database cannot be reached."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (
        f"Cannot reach the PostGIS database at {redact(url)}: {first}. Check that PostgreSQL "
        "is running and the URL (host, port, database, user) is right, e.g. "
        "postgresql://user@127.0.0.1:5432/incidents."
    )


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@")
    query = urlencode(
        [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def describe(url: str) -> str:
    """Host and database only, for pages anyone may see."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}/{parts.path.lstrip('/') or '(default)'}"


def init_db(url: str) -> None:
    """Create the schema, PostGIS included; running it again changes nothing."""
    with connect(url) as conn, conn.transaction():
        # Two first starts at once must not race on CREATE ... IF NOT EXISTS.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        conn.execute(DDL)


def schema_ready(url: str) -> bool:
    """True when the schema exists at this version (no DDL, no table lock needed)."""
    with connect(url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.meta",)).fetchone()[0]
        if found is None:
            return False
        row = conn.execute(
            f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'"
        ).fetchone()
        return row is not None and row[0] == SCHEMA_VERSION


@contextlib.contextmanager
def _writing(url: str) -> Iterator[Any]:
    """A connection in a transaction holding the writer lock."""
    with connect(url) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        yield conn


def ingest_postgis(
    url: str,
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
) -> IngestReport:
    """Validate incident files, join them to precincts and wards, and upsert them into PostGIS.

    The same validation, rejects and idempotence as :func:`layers.storage.ingest.ingest`: a row is
    new, an update, unchanged, older than what is stored (kept out), superseded by a later
    row of the same file, or rejected (stored in ``rejects`` with its reason). The whole run
    is one transaction: another reader sees all of it or none of it.

    Parameters are those of :func:`layers.storage.ingest.ingest`, with ``url`` the database's.
    """
    started = datetime.now(UTC)
    say = progress or (lambda _msg, _frac: None)
    taxonomy = taxonomy or load_taxonomy()
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    if not schema_ready(url):
        # DDL takes an exclusive lock on the incidents table: only when the schema is missing.
        init_db(url)
    # Read and validate before taking the writer lock: the live map and direct writers wait
    # only for the writing, not for the reading of big files.
    say("Reading boundaries", 0.0)
    with connect(url) as conn:
        stored_areas = {kind: read_areas(conn, kind) for kind in ("precinct", "ward")}
    layers: dict[str, gpd.GeoDataFrame] = {}
    changed: dict[str, bool] = {}
    notes: list[str] = []
    for kind, path, field, layer in (
        ("precinct", precincts, precinct_field, precinct_layer),
        ("ward", wards, ward_field, ward_layer),
    ):
        if path is not None:
            read = read_boundaries(path, name_field=field, kind=kind, layer=layer)
            notes.extend(read.warnings)
            layers[kind] = read.areas.assign(source=Path(path).name)
            changed[kind] = not _same_areas(stored_areas[kind], layers[kind])
        elif not stored_areas[kind].empty:
            layers[kind], changed[kind] = stored_areas[kind], False
        else:
            raise StoreError(
                f"A new PostGIS store needs {kind} boundaries: give --{kind}s FILE "
                "(zipped Shapefile, .shp, GeoPackage or GeoJSON)."
            )
    bounds = np.vstack([layers["precinct"].total_bounds, layers["ward"].total_bounds])
    extent = Extent.of(
        (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()),
        margin_km=margin_km,
    )
    reports: list[FileReport] = []
    checked_files: list[tuple[FileReport, Path, Validated]] = []
    paths = [Path(p) for p in incident_files]
    for number, path in enumerate(paths):
        say(f"Validating {path.name}", 0.1 + 0.6 * number / max(len(paths), 1))
        report = FileReport(file=str(path))
        reports.append(report)
        try:
            checked = validate_file(
                path, layer=incident_layer, taxonomy=taxonomy, extent=extent,
                column_map=column_map, defaults=defaults, coords_crs=coords_crs, now=now,
            )  # fmt: skip
        except InputFileError as err:
            report.error = str(err)
            continue
        report.record(checked)
        checked_files.append((report, path, checked))

    say("Writing", 0.75)
    with _writing(url) as conn:
        rejoin = False
        for kind in ("precinct", "ward"):
            if changed[kind]:
                _write_areas(conn, kind, layers[kind])
                rejoin = rejoin or not stored_areas[kind].empty
                conn.execute(
                    f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('boundaries_version', "
                    "to_jsonb(%s::text)) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (started.isoformat(),),
                )
        run_id = conn.execute(
            f"INSERT INTO {SCHEMA}.ingest_runs (started_at, report) VALUES (%s, '{{}}') "
            "RETURNING id",
            (started,),
        ).fetchone()[0]
        for report, path, checked in checked_files:
            _write_rejects(conn, run_id, path, checked.rejected)
            fresh = checked.accepted.assign(source_file=path.name)
            stored = _stored_versions(conn, fresh)
            merged, counts = merge_incidents(stored, fresh)
            report.new, report.updated, report.unchanged, report.older = counts
            pending = merged[merged["_pending"].to_numpy(bool)]
            if len(pending):
                lon, lat = pending["lon"].to_numpy(float), pending["lat"].to_numpy(float)
                pending = pending.assign(
                    precinct=assign_areas(lon, lat, layers["precinct"]),
                    ward=assign_areas(lon, lat, layers["ward"]),
                )
                _upsert(conn, pending)
        if rejoin:
            say("Joining every stored incident to the new boundaries", 0.85)
            _rejoin_all(conn, layers["precinct"], layers["ward"])
        if synthetic:
            conn.execute(
                f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('synthetic', 'true') "
                "ON CONFLICT (key) DO UPDATE SET value = 'true'"
            )
        total = conn.execute(f"SELECT count(*) FROM {SCHEMA}.incidents").fetchone()[0]
        version = conn.execute(f"SELECT coalesce(max(seq), 0) FROM {SCHEMA}.incidents").fetchone()
        result = IngestReport(
            store=redact(url),
            version=str(version[0]),
            files=reports,
            boundary_warnings=notes,
            total_incidents=int(total),
            seconds=(datetime.now(UTC) - started).total_seconds(),
        )
        conn.execute(
            f"UPDATE {SCHEMA}.ingest_runs SET report = %s WHERE id = %s",
            (json.dumps(result.as_dict(), default=str), run_id),
        )
    say("Done", 1.0)
    return result


def read_areas(conn: Any, kind: str) -> gpd.GeoDataFrame:
    """The stored precincts or wards, in the order the join gives them precedence."""
    from psycopg import sql

    rows = conn.execute(
        sql.SQL("SELECT name, source, ST_AsBinary(geom) FROM {} ORDER BY ordinal").format(
            sql.Identifier(SCHEMA, _area_table(kind))
        )
    ).fetchall()
    return gpd.GeoDataFrame(
        {"name": [r[0] for r in rows], "source": [r[1] for r in rows]},
        geometry=shapely.from_wkb([bytes(r[2]) for r in rows]) if rows else [],
        crs=WGS84,
    )


def read_boundaries_from_db(url: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The stored precincts and wards, in join order."""
    with connect(url) as conn:
        return read_areas(conn, "precinct"), read_areas(conn, "ward")


def _area_table(kind: str) -> str:
    tables = {"precinct": "precincts", "ward": "wards"}
    if kind not in tables:
        raise ValueError(f"`kind` must be 'precinct' or 'ward', not {kind!r}.")
    return tables[kind]


def _same_areas(stored: gpd.GeoDataFrame, fresh: gpd.GeoDataFrame) -> bool:
    """Same names, in the same order, with the same polygons (as stored: MultiPolygons)."""
    if len(stored) != len(fresh):
        return False
    fresh_geoms = np.array([_as_multipolygon(g) for g in fresh.geometry], dtype=object)
    return bool(
        (stored["name"].to_numpy() == fresh["name"].to_numpy()).all()
        and shapely.equals_exact(stored.geometry.to_numpy(), fresh_geoms, tolerance=1e-9).all()
    )


def _write_areas(conn: Any, kind: str, areas: gpd.GeoDataFrame) -> None:
    from psycopg import sql

    table = _area_table(kind)
    conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SCHEMA, table)))
    geoms = [_as_multipolygon(g) for g in areas.geometry]
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL(
                "INSERT INTO {} (name, ordinal, source, geom) "
                "VALUES (%s, %s, %s, ST_SetSRID(ST_GeomFromWKB(%s), 4326))"
            ).format(sql.Identifier(SCHEMA, table)),
            [
                (str(name), ordinal, str(source), shapely.to_wkb(geom))
                for ordinal, (name, source, geom) in enumerate(
                    zip(areas["name"], areas["source"], geoms, strict=True)
                )
            ],
        )


def _as_multipolygon(geom: shapely.Geometry) -> shapely.MultiPolygon:
    if isinstance(geom, shapely.MultiPolygon):
        return geom
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    parts = [
        g for g in shapely.get_parts(geom) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)
    ]
    return shapely.MultiPolygon(
        [p for part in parts for p in shapely.get_parts(part)]  # flatten
    )


def _stored_versions(conn: Any, fresh: pd.DataFrame) -> pd.DataFrame:
    """The stored (key, row_hash, reported_at) of the incoming incidents' keys."""
    if fresh.empty:
        return _no_rows()
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS incoming_keys (agency text, incident_id text)")
    conn.execute("TRUNCATE incoming_keys")
    with conn.cursor().copy("COPY incoming_keys (agency, incident_id) FROM STDIN") as copy:
        for agency, incident_id in zip(fresh["agency"], fresh["incident_id"], strict=True):
            copy.write_row((str(agency), str(incident_id)))
    rows = conn.execute(
        f"SELECT i.agency, i.incident_id, i.row_hash, i.reported_at FROM {SCHEMA}.incidents i "
        "JOIN incoming_keys k USING (agency, incident_id)"
    ).fetchall()
    if not rows:
        return _no_rows()
    stored = pd.DataFrame(rows, columns=["agency", "incident_id", "row_hash", "reported_at"])
    stored["row_hash"] = stored["row_hash"].fillna(0).to_numpy(dtype=np.int64).view(np.uint64)
    stored["reported_at"] = pd.to_datetime(stored["reported_at"], utc=True)
    return stored.assign(_pending=False)


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "agency": pd.Series(dtype=object),
            "incident_id": pd.Series(dtype=object),
            "row_hash": pd.Series(dtype=np.uint64),
            "reported_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "_pending": pd.Series(dtype=bool),
        }
    )


def _upsert(conn: Any, rows: pd.DataFrame) -> None:
    """Insert new incidents and replace updated ones (through a COPY into a temp table)."""
    conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS incoming (LIKE {SCHEMA}.incidents INCLUDING DEFAULTS)"
    )
    conn.execute("TRUNCATE incoming")
    frame = rows.loc[:, list(INCIDENT_COLUMNS)].copy()
    frame["row_hash"] = frame["row_hash"].to_numpy(dtype=np.uint64).view(np.int64)
    with conn.cursor().copy(_COPY_INCOMING) as copy:
        for record in frame.itertuples(index=False, name=None):
            copy.write_row(tuple(_sql_value(v) for v in record))
    conn.execute(_UPSERT)


def _missing(value: object) -> bool:
    """None, NaT, NA or a float NaN: written as NULL."""
    return (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
    )


def _sql_value(value: object) -> object:
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rejoin_all(conn: Any, precincts: gpd.GeoDataFrame, wards: gpd.GeoDataFrame) -> None:
    """Join every stored incident again (new boundaries), in Python like a new row."""
    rows = conn.execute(f"SELECT agency, incident_id, lon, lat FROM {SCHEMA}.incidents").fetchall()
    if not rows:
        return
    lon = np.array([r[2] for r in rows], dtype=float)
    lat = np.array([r[3] for r in rows], dtype=float)
    precinct, ward = assign_areas(lon, lat, precincts), assign_areas(lon, lat, wards)
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS rejoined (agency text, incident_id text, "
        "precinct text, ward text)"
    )
    conn.execute("TRUNCATE rejoined")
    with conn.cursor().copy("COPY rejoined FROM STDIN") as copy:
        for (agency, incident_id, _, _), p, w in zip(rows, precinct, ward, strict=True):
            copy.write_row((agency, incident_id, p, w))
    conn.execute(
        f"UPDATE {SCHEMA}.incidents i SET precinct = r.precinct, ward = r.ward FROM rejoined r "
        "WHERE i.agency = r.agency AND i.incident_id = r.incident_id "
        "AND (i.precinct IS DISTINCT FROM r.precinct OR i.ward IS DISTINCT FROM r.ward)"
    )


def _write_rejects(conn: Any, run_id: int, path: Path, rejected: pd.DataFrame) -> None:
    if rejected.empty:
        return
    original = rejected.drop(columns=["reject_reason", "source_row"], errors="ignore")
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {SCHEMA}.rejects (run_id, file, source_row, reason, row_data) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (
                    run_id,
                    path.name,
                    int(row_number) if pd.notna(row_number) else None,
                    str(reason),
                    json.dumps({str(k): _json_value(v) for k, v in values.items()}),
                )
                for row_number, reason, (_, values) in zip(
                    rejected.get("source_row", pd.Series([None] * len(rejected))),
                    rejected["reject_reason"],
                    original.iterrows(),
                    strict=True,
                )
            ],
        )


def _json_value(value: object) -> object:
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def read_incidents(conn: Any, *, after_seq: int = 0) -> pd.DataFrame:
    """Incidents inserted or updated after ``after_seq`` (all of them for 0), by ``seq``.

    Writers hold one advisory lock from their first row to commit (see the module
    docstring), so everything with ``seq`` up to the largest one returned is committed:
    the next call with that value misses nothing and repeats nothing.
    """
    buffer = io.BytesIO()
    with conn.cursor().copy(_COPY_READ, (int(after_seq),)) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        names=list(READ_COLUMNS),
        dtype={c: "string" for c in ("agency", "incident_id", "category", "collaboration_area",
                                      "status", "description", "precinct", "ward",
                                      "source_file")},
        keep_default_na=False,
        na_values={"reported_at": [""], "row_hash": [""], "description": [""], "status": [""]},
    )  # fmt: skip
    for column in ("occurred_at", "reported_at", "ingested_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    frame["row_hash"] = frame["row_hash"].astype("Int64")
    return frame


def read_deletions(conn: Any, *, after_seq: int = 0) -> pd.DataFrame:
    """Incidents deleted after ``after_seq``: ``agency``, ``incident_id`` and the ``seq`` of
    the deletion, by ``seq``. A key deleted and then written again has a row in
    :func:`read_incidents` with a larger ``seq`` than its deletion."""
    rows = conn.execute(
        f"SELECT agency, incident_id, seq FROM {SCHEMA}.deleted_incidents WHERE seq > %s "
        "ORDER BY seq",
        (int(after_seq),),
    ).fetchall()
    return pd.DataFrame(rows, columns=["agency", "incident_id", "seq"]).astype(
        {"agency": "string", "incident_id": "string", "seq": "int64"}
    )


def last_seq(conn: Any) -> int:
    """The largest ``seq`` given to an incident or a deletion (0 for an empty store)."""
    return int(
        conn.execute(
            f"SELECT greatest((SELECT coalesce(max(seq), 0) FROM {SCHEMA}.incidents), "
            f"(SELECT coalesce(max(seq), 0) FROM {SCHEMA}.deleted_incidents))"
        ).fetchone()[0]
    )


def read_meta(conn: Any) -> dict[str, Any]:
    """The ``meta`` table as a dict."""
    return {key: value for key, value in conn.execute(f"SELECT key, value FROM {SCHEMA}.meta")}


def check_reachable(url: str) -> None:
    """Raise a clear :class:`StoreError` when the database cannot be reached."""
    with connect(url) as conn:
        conn.execute("SELECT 1")
