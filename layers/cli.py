"""Command line: ``python -m layers COMMAND`` (demo, ingest, db, export, map, hotspots,
evaluate, users, audit, assets); ``--help`` lists each command's options."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from layers._errors import LayersError
from layers.access.audit import INGEST
from layers.access.policy import Policy, PrivacyRules
from layers.access.sight import apply_policy, own_rows
from layers.access.users import AccessConfig, AccessError
from layers.analysis.study import HotspotParams
from layers.storage.columnar import unknown_values
from layers.storage.filters import FILTER_COLUMNS, IncidentFilter, apply_filter, parse_hours

if TYPE_CHECKING:
    from collections.abc import Callable

    from layers.maps.tiles import Basemap
    from layers.storage.dropfolder import DropResult
    from layers.storage.ingest import IngestReport
from layers.storage.store import StoreSnapshot, open_store

DEFAULT_DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LayersError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m layers", description="Incident mapping for the Cape Town safety cluster."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="write the synthetic demo data (and build a store)")
    demo.add_argument("--out", type=Path, default=DEFAULT_DEMO_DIR, help="folder for demo files")
    demo.add_argument("--seed", type=int, default=20240801, help="random seed (default 20240801)")
    demo.add_argument("--incidents", type=int, default=50_000, help="valid incidents to generate")
    demo.add_argument("--store", type=Path, help="also ingest the demo files into this store")
    demo.set_defaults(run=_run_demo)

    ingest = commands.add_parser("ingest", help="validate, join and store incident files")
    target = ingest.add_mutually_exclusive_group(required=True)
    target.add_argument("--store", type=Path, help="store folder (created)")
    target.add_argument(
        "--postgis", metavar="URL", help="live PostGIS store, e.g. postgresql://user@host/db"
    )
    ingest.add_argument("--precincts", type=Path, help="SAPS precinct boundary file")
    ingest.add_argument("--wards", type=Path, help="City ward boundary file")
    ingest.add_argument("--precinct-field", help="field naming each precinct (detected)")
    ingest.add_argument("--precinct-layer", help="layer of a multi-layer precinct GeoPackage")
    ingest.add_argument("--ward-layer", help="layer of a multi-layer ward GeoPackage")
    ingest.add_argument("--layer", help="layer of multi-layer incident GeoPackages")
    ingest.add_argument("--ward-field", help="field naming each ward (detected)")
    ingest.add_argument(
        "--map", action="append", default=[], metavar="FIELD=COLUMN", dest="column_map",
        help="read canonical FIELD from COLUMN, e.g. --map occurred_at=DateTime (repeatable)",
    )  # fmt: skip
    ingest.add_argument(
        "--default", action="append", default=[], metavar="FIELD=VALUE", dest="defaults",
        help="value for a field the files lack, e.g. --default agency=SAPS (repeatable)",
    )  # fmt: skip
    ingest.add_argument("--coords-crs", help="CRS of lat/lon or X/Y columns if not WGS84")
    ingest.add_argument("--taxonomy", type=Path, help="collaboration-area TOML file")
    ingest.add_argument(
        "--margin-km", type=float, default=50.0,
        help="reject points further than this beyond the boundaries (default 50)",
    )  # fmt: skip
    add_scheduler_argument(ingest)
    ingest.add_argument(
        "--watch", type=Path, metavar="DIR",
        help="keep ingesting each file dropped into DIR, moving it to DIR/processed or "
        "DIR/failed with its report (stop with Ctrl-C)",
    )  # fmt: skip
    ingest.add_argument(
        "--settle", type=float, default=2.0,
        help="with --watch: seconds a file must stay unchanged before it is read (default 2)",
    )  # fmt: skip
    ingest.add_argument(
        "--access", type=Path, metavar="FILE",
        help="access file whose audit log records each ingest, loaded or refused",
    )  # fmt: skip
    ingest.add_argument("files", nargs="*", type=Path, metavar="INCIDENT_FILE")
    ingest.set_defaults(run=_run_ingest)

    db = commands.add_parser("db", help="manage the live PostGIS store")
    db_commands = db.add_subparsers(required=True, metavar="ACTION")
    db_init = db_commands.add_parser("init", help="create the schema (PostGIS included)")
    db_init.add_argument("--postgis", metavar="URL", required=True, help="database URL")
    db_init.set_defaults(run=_run_db_init)

    export = commands.add_parser("export", help="write filtered incidents to a file")
    export.add_argument("--store", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="FILE.csv, .gpkg, .parquet")
    add_filter_arguments(export)
    add_role_arguments(export)
    export.set_defaults(run=_run_export)

    map_ = commands.add_parser("map", help="write the map as one self-contained HTML file")
    map_.add_argument("--store", type=Path, required=True)
    map_.add_argument("--out", type=Path, required=True, help="FILE.html")
    map_.add_argument("--boundary", choices=("precinct", "ward"), default="precinct")
    map_.add_argument("--style", choices=("outline", "choropleth"), default="outline")
    add_tiles_arguments(map_, embedded=True)
    add_filter_arguments(map_)
    add_role_arguments(map_)
    public = map_.add_argument_group("public role (whole months from the published site)")
    public.add_argument("--month", help="YYYY-MM: the month, or the first of a run of months")
    public.add_argument("--month-to", help="YYYY-MM: the last month of the run")
    public.add_argument(
        "--site", type=Path,
        help="the published site to read (default: STORE/public-site, published now)",
    )  # fmt: skip
    map_.set_defaults(run=_run_map)

    hotspots = commands.add_parser("hotspots", help="find hotspots and export them for GIS")
    hotspots.add_argument("--store", type=Path, required=True)
    hotspots.add_argument(
        "--out", type=Path, required=True, help="FILE.zip (Shapefile), .gpkg or .geojson"
    )
    hotspots.add_argument("--method", choices=("gistar", "kde", "emerging"), default="gistar")
    add_hotspot_arguments(hotspots)
    add_filter_arguments(hotspots)
    add_role_arguments(hotspots)
    add_scheduler_argument(hotspots)
    hotspots.set_defaults(run=_run_hotspots)

    evaluate = commands.add_parser(
        "evaluate", help="how well earlier hotspots caught later incidents"
    )
    evaluate.add_argument("--store", type=Path, required=True)
    evaluate.add_argument(
        "--split",
        type=date.fromisoformat,
        required=True,
        help="first day scored, YYYY-MM-DD; hotspots are fitted before it",
    )
    evaluate.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    add_hotspot_arguments(evaluate)
    add_filter_arguments(evaluate)
    add_role_arguments(evaluate)
    evaluate.set_defaults(run=_run_evaluate)

    users = commands.add_parser("users", help="manage the dashboard's local users file")
    users_commands = users.add_subparsers(required=True, metavar="ACTION")
    users_set = users_commands.add_parser(
        "set", help="add a user or change their role and password (asked for, or on stdin)"
    )
    users_set.add_argument("name", help="user name")
    users_set.add_argument("--role", required=True, help="analyst, public or agency:NAME")
    users_set.add_argument("--users", type=Path, required=True, help="the users file (TOML)")
    users_set.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    users_set.set_defaults(run=_run_users_set)

    log = commands.add_parser("audit", help="read or check the audit log")
    log_commands = log.add_subparsers(required=True, metavar="ACTION")
    show = log_commands.add_parser("show", help="list events, oldest first")
    show.add_argument("--log", type=Path, required=True, help="the audit log file")
    show.add_argument(
        "--since", metavar="WHEN", help="2026-11-28 or 2026-11-28T10:15 (UTC unless +02:00)"
    )
    show.add_argument("--user", help="only this user's events")
    show.add_argument("--event", help="only this event: sign_in, sign_in_failed, export, ...")
    show.set_defaults(run=_run_audit_show)
    check = log_commands.add_parser("verify", help="check the log is whole and its chain unbroken")
    check.add_argument("--log", type=Path, required=True, help="the audit log file")
    check.set_defaults(run=_run_audit_verify)
    repair = log_commands.add_parser("repair", help="remove a last line left incomplete by a crash")
    repair.add_argument("--log", type=Path, required=True, help="the audit log file")
    repair.set_defaults(run=_run_audit_repair)

    publish = commands.add_parser(
        "publish", help="write the public site: monthly counts protected as a whole (static files)"
    )
    publish.add_argument("--store", type=Path, required=True)
    publish.add_argument(
        "--out", type=Path, required=True,
        help="the site's path: made a link to the current version, swapped atomically",
    )  # fmt: skip
    publish.add_argument(
        "--access", type=Path, metavar="FILE", help="access file whose [privacy] k and "
        "sensitive categories apply (the defaults otherwise)",
    )  # fmt: skip
    publish.add_argument(
        "--months", type=int, default=12, help="publish the last N whole months (default 12)"
    )
    publish.add_argument(
        "--settle-days", type=int, default=7,
        help="days after a month ends before it is published, for late reports (default 7)",
    )  # fmt: skip
    publish.add_argument(
        "--cell-m", type=float, default=1000.0, help="cell size in metres (default 1000)"
    )
    publish.add_argument(
        "--republish", action="append", default=[], metavar="YYYY-MM",
        help="publish this month again although it was published before; anyone who kept the "
        "earlier version can then see what changed (only after a serious error)",
    )  # fmt: skip
    add_tiles_arguments(publish, embedded=False)
    publish.set_defaults(run=_run_publish)

    assets = commands.add_parser("assets", help="copy Leaflet and plugins into static/vendor")
    assets.set_defaults(run=_run_assets)
    return parser


def add_role_arguments(parser: argparse.ArgumentParser) -> None:
    """``--role`` and ``--access``: the dashboard's rules for who sees what, on the CLI."""
    group = parser.add_argument_group("access")
    group.add_argument(
        "--role",
        help="whose view: analyst (everything; the default without --access), public (the "
        "published monthly map) or agency:NAME (that agency's incidents in full, the rest "
        "aggregated); required with --access, whose audit log records it",
    )  # fmt: skip
    group.add_argument(
        "--access", type=Path, metavar="FILE",
        help="access file: its [privacy] rules, and its audit log records the export",
    )  # fmt: skip


def _policy(args: argparse.Namespace) -> tuple[Policy, AccessConfig | None]:
    """The role the command runs as. The CLI is an operator's tool, trusted through the
    server's file permissions: the role is what the operator says, and with an access file
    it must be said, so that the audit log records it with the operating-system user."""
    from layers.access.users import load_access, parse_role

    config = load_access(args.access) if args.access else None
    if args.role is None and config is not None:
        raise AccessError(
            "With --access, say whose view this is with --role (analyst, public or "
            "agency:NAME): the audit log records it, with your operating-system user."
        )
    viewer = parse_role(args.role or "analyst", name=getpass.getuser())
    return Policy(viewer, config.privacy if config else PrivacyRules()), config


def _refused(config: AccessConfig | None, policy: Policy, what: str, message: str) -> AccessError:
    """An access refusal, in the audit log first when there is one."""
    from layers.access.audit import ACCESS_DENIED

    _audit(config, ACCESS_DENIED, {"what": what, "via": "command line"}, policy=policy)
    return AccessError(message)


def _logged_write(
    config: AccessConfig | None, policy: Policy, what: str, out: Path, flt: IncidentFilter,
    rows: int | None, write: Callable[[Path], object],
) -> Path:  # fmt: skip
    """Write ``out`` so that it appears only once its export is in the audit log: written to
    a temporary file beside it, logged, then renamed into place (no log, no file)."""
    # Same name in a hidden folder beside it: formats that name their parts after the file
    # (a zipped shapefile) come out as they would, and the rename stays on one file system.
    staging = out.parent / f".{out.name}.{os.getpid()}.unlogged"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        written = staging / out.name
        write(written)
        _audit_export(config, policy, what, out, flt, rows)
        os.replace(written, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _audit(
    config: AccessConfig | None, event: str, detail: dict[str, object], *,
    policy: Policy | None = None,
) -> None:  # fmt: skip
    """Record a command in the access file's audit log, when there is one: as the role it
    ran as, or (without one, e.g. an ingest) as the operator."""
    if config is None or config.audit_log is None:
        return
    from layers.access.audit import AuditLog

    if policy is None:
        user, role = getpass.getuser(), "operator"
    else:
        user, role = policy.viewer.name, policy.viewer.label
    AuditLog(config.audit_log).record(event, user=user, role=role, detail=detail)


def _audit_export(
    config: AccessConfig | None, policy: Policy, what: str, out: Path, flt: IncidentFilter,
    rows: int | None,
) -> None:  # fmt: skip
    from layers.access.audit import EXPORT

    detail = {"what": what, "file": Path(out).name, "rows": rows, "filters": flt.to_query(),
              "via": "command line"}  # fmt: skip
    _audit(config, EXPORT, detail, policy=policy)


def _write_dictionary(csv: Path, kind: str, columns: Iterable[str]) -> Path:
    """Write the data dictionary of the ``kind`` CSV just written to ``csv`` beside it, as
    ``<stem>.dictionary.csv``, atomically. It holds no incident, so it is not logged: it is
    written once ``csv`` is in place, and never for an export that was refused."""
    from layers.dictionary import dictionary_csv, dictionary_path
    from layers.storage.store import write_text_atomic

    target = dictionary_path(csv)
    write_text_atomic(target, dictionary_csv(kind, columns))
    return target


def add_scheduler_argument(parser: argparse.ArgumentParser) -> None:
    """``--scheduler``: run the per-row work on a dask cluster (see layers.distributed)."""
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler address, or 'local[:N]' for a local cluster of N workers",
    )


def add_hotspot_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``hotspots`` and ``evaluate``."""
    group = parser.add_argument_group("hotspot options")
    group.add_argument(
        "--cell-m", type=float, help="grid cell size in metres (default: from the data)"
    )
    group.add_argument("--shape", choices=("hex", "square"), default="hex", help="grid cell shape")
    group.add_argument(
        "--area-share",
        type=float,
        default=0.03,
        help="share of the study area hotspots cover, for KDE and evaluate (0.03)",
    )
    group.add_argument(
        "--bandwidth-m", type=float, help="KDE bandwidth in metres (default: cross-validated)"
    )
    group.add_argument(
        "--freq", choices=("M", "W"), default="M", help="emerging hot spot time step"
    )
    group.add_argument(
        "--study-area",
        choices=("ward", "precinct"),
        default="ward",
        help="boundary layer whose polygons holding incidents form the study area",
    )


def _hotspot_params(args: argparse.Namespace) -> HotspotParams:
    try:
        return HotspotParams(
            method=getattr(args, "method", "gistar"), cell_m=args.cell_m, shape=args.shape,
            area_share=args.area_share, bandwidth_m=args.bandwidth_m, freq=args.freq,
            study_area=args.study_area,
        )  # fmt: skip
    except ValueError as err:
        raise LayersError(str(err)) from err


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The filter flags shared by every command that reads the store."""
    group = parser.add_argument_group("filters")
    for flag, help_ in (
        ("--agency", "agency, e.g. SAPS"),
        ("--area", "collaboration area"),
        ("--category", "incident category"),
        ("--precinct", "precinct name"),
        ("--ward", "ward name"),
    ):
        group.add_argument(flag, action="append", default=[], help=f"{help_} (repeatable)")
    group.add_argument("--since", type=date.fromisoformat, help="first day, YYYY-MM-DD")
    group.add_argument("--until", type=date.fromisoformat, help="last day, YYYY-MM-DD")
    group.add_argument("--hours", help="local time of day START-END, e.g. 22-4")


def filter_from_args(args: argparse.Namespace) -> IncidentFilter:
    """The :class:`IncidentFilter` the filter flags describe."""
    try:
        hours = parse_hours(args.hours) if args.hours else None
    except ValueError as err:
        raise LayersError(f"--hours: {err}") from err
    try:
        return IncidentFilter(
            agencies=tuple(args.agency), areas=tuple(args.area), categories=tuple(args.category),
            precincts=tuple(args.precinct), wards=tuple(args.ward),
            since=args.since, until=args.until, hours=hours,
        )  # fmt: skip
    except ValueError as err:
        raise LayersError(str(err)) from err


FLAGS = {"agencies": "--agency", "areas": "--area", "categories": "--category",
         "precincts": "--precinct", "wards": "--ward"}  # fmt: skip


def _checked_store(store: Path, flt: IncidentFilter) -> StoreSnapshot:
    """Open the store, refusing filter values that match nothing stored."""
    snapshot = open_store(store)
    columns = snapshot.columns
    for name, values in unknown_values(columns, flt).items():
        choices = sorted(columns.labels[FILTER_COLUMNS[name]])
        hint = ", ".join(choices[:12]) + (" …" if len(choices) > 12 else "")
        raise LayersError(
            f"{FLAGS[name]} {', '.join(values)}: no stored incident has that value "
            f"(values are case-sensitive). Stored values: {hint}."
        )
    return snapshot


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise LayersError(f"{flag} takes FIELD=VALUE, not {item!r}.")
        pairs[key.strip()] = value.strip()
    return pairs


def _progress(message: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {message}", file=sys.stderr)


def _run_demo(args: argparse.Namespace) -> int:
    from layers.storage.demo import build_demo_store, generate_demo

    manifest = generate_demo(args.out, seed=args.seed, incidents=args.incidents)
    print(
        f"Wrote SYNTHETIC demo data to {manifest.out_dir}: {manifest.n_incidents:,} incidents "
        f"in {len(manifest.incident_paths)} files, precincts and wards."
    )
    if args.store:
        report = build_demo_store(args.store, manifest, progress=_progress)
        print(report.as_text())
    return 0


def _run_ingest(args: argparse.Namespace) -> int:
    from layers.intake.taxonomy import load_taxonomy

    if not args.files and args.watch is None:
        raise LayersError("Give incident files to ingest, or --watch DIR for a drop folder.")
    if args.postgis and args.scheduler:
        raise LayersError("--scheduler works with --store only; the PostGIS ingest runs here.")
    options = dict(
        precincts=args.precincts, wards=args.wards, precinct_field=args.precinct_field,
        ward_field=args.ward_field, precinct_layer=args.precinct_layer,
        ward_layer=args.ward_layer, incident_layer=args.layer,
        column_map=_pairs(args.column_map, "--map"), defaults=_pairs(args.defaults, "--default"),
        coords_crs=args.coords_crs,
        taxonomy=load_taxonomy(args.taxonomy) if args.taxonomy else None,
        margin_km=args.margin_km, progress=_progress,
    )  # fmt: skip
    if args.postgis:
        from layers.livefeed.postgis import ingest_postgis

        def load(files: Sequence[Path], **extra: object) -> IngestReport:
            return ingest_postgis(args.postgis, files, **{**options, **extra})
    else:
        from layers.storage.ingest import ingest

        def load(files: Sequence[Path], **extra: object) -> IngestReport:
            return ingest(args.store, files, scheduler=args.scheduler, **{**options, **extra})

    config = None
    if args.access:
        from layers.access.users import load_access

        config = load_access(args.access)

    def run(files: Sequence[Path], **extra: object) -> IngestReport:
        """One ingest, in the access file's audit log (when given), loaded or refused."""
        detail: dict[str, object] = {"files": [Path(f).name for f in files], "via": "command line"}
        try:
            report = load(files, **extra)
        except LayersError as err:
            _audit(config, INGEST, {**detail, "refused": str(err)})
            raise
        _audit(config, INGEST, {**detail, **report.totals()})
        return report

    failed = False
    if args.files:
        report = run(args.files)
        print(report.as_text())
        failed = any(f.error for f in report.files)
    if args.watch is not None:
        return _watch(args, run)
    return 1 if failed else 0


def _watch(args: argparse.Namespace, run: Callable[..., IngestReport]) -> int:
    """Ingest every file dropped into ``args.watch`` until interrupted."""
    from layers.storage.dropfolder import watch

    def report(result: DropResult) -> None:
        state = "processed" if result.ok else "FAILED"
        print(f"{state}: {result.path.name} -> {result.moved_to} ({result.message})", flush=True)

    from layers.livefeed.postgis import redact

    target = redact(args.postgis) if args.postgis else args.store
    print(f"Watching {args.watch} for incident files to ingest into {target}; Ctrl-C stops.")
    try:
        watch(args.watch, ingest_one=lambda path: run([path]), settle_s=args.settle,
              on_result=report)  # fmt: skip
    except KeyboardInterrupt:
        print("Stopped watching.")
    return 0


def _run_db_init(args: argparse.Namespace) -> int:
    from layers.livefeed.postgis import init_db, redact

    init_db(args.postgis)
    print(f"The incident_map schema is ready in {redact(args.postgis)}.")
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from layers.maps.export import export_columns, export_incidents

    policy, config = _policy(args)
    viewer = policy.viewer
    if not viewer.may_export_incidents:
        raise _refused(
            config, policy, "incident export",
            f"The {viewer.label} role sees {viewer.describe()}, not incidents: write its map "
            f"(`map --role {viewer.label}`), or publish the site (`python -m layers publish`).",
        )  # fmt: skip
    flt = filter_from_args(args)
    snapshot = _checked_store(args.store, flt)
    incidents = snapshot.incidents  # row for row with snapshot.columns
    if not viewer.sees_all_points:
        incidents = incidents[own_rows(snapshot.columns, viewer)]
    rows = apply_filter(incidents, flt)
    out = _logged_write(config, policy, "incidents", args.out, flt, len(rows),
                        lambda tmp: export_incidents(rows, tmp))  # fmt: skip
    described = ""
    if out.suffix.lower() == ".csv":
        dictionary = _write_dictionary(out, "incidents", export_columns(rows))
        described = f", its columns described in {dictionary}"
    scope = (
        ""
        if viewer.sees_all_points
        else f" of {viewer.agency}, the only agency {viewer.label} exports"
    )
    print(f"Wrote {len(rows):,} incidents{scope} ({flt.describe()}) to {out}{described}.")
    return 0


def add_tiles_arguments(parser: argparse.ArgumentParser, *, embedded: bool) -> None:
    """``--tiles`` and ``--tiles-attribution``: the basemap (see layers.maps.tiles)."""
    where = ("embedded in the file for its extent, so it opens offline" if embedded else
             "copied into the site for the precincts' extent, zooms 8 to 16 within 300 MB, "
             "so the site needs no tile server")  # fmt: skip
    parser.add_argument(
        "--tiles", default="none",
        help="basemap: 'none' (default); a local .mbtiles, .pmtiles or folder of z/x/y tiles, "
        f"{where}; 'osm' or a tile URL template (needs the internet)",
    )  # fmt: skip
    parser.add_argument(
        "--tiles-attribution", metavar="HTML",
        help="credit for --tiles: required with a tile URL template; replaces a local file's own",
    )  # fmt: skip


def _basemap(args: argparse.Namespace, box: Sequence[float] | None
             ) -> tuple[Basemap | None, str | None]:  # fmt: skip
    """The basemap ``--tiles`` names and checked against ``box``; or, with a warning on
    stderr, none and why (the map is written without one, and says so)."""
    from layers.maps.tiles import BasemapError, check_extent, open_basemap

    try:
        found = open_basemap(args.tiles, attribution=args.tiles_attribution)
        if found is not None:
            found = check_extent(found, box)
    except BasemapError as err:
        print(f"Warning: no basemap. {err}", file=sys.stderr)
        return None, str(err)
    for note in (found.warning, found.advice) if found is not None else ():
        if note:
            print(f"Warning: {note}", file=sys.stderr)
    return found, None


def _run_map(args: argparse.Namespace) -> int:
    from layers.maps.assets import standalone_html
    from layers.maps.view import prepare_map
    from layers.maps.webmap import build_map
    from layers.storage.store import write_text_atomic

    policy, config = _policy(args)
    if policy.viewer.role == "public":
        return _run_public_map(args, policy, config)
    if args.month or args.month_to or args.site:
        raise LayersError("--month, --month-to and --site are for --role public; others filter "
                          "with --since and --until.")  # fmt: skip
    flt = filter_from_args(args)
    snapshot = _checked_store(args.store, flt)
    data = prepare_map(snapshot, flt, boundary=args.boundary, policy=policy)
    view = "" if policy.full else f" (the {policy.viewer.label} view)"
    count = f"{data.incidents:,}" if data.incidents is not None else f"fewer than {policy.rules.k}"
    basemap, problem = _basemap(args, tuple(data.areas.total_bounds))
    fmap = build_map(
        data.areas, data.heat, area_label=args.boundary.capitalize(), style=args.style,
        tiles=basemap, tiles_problem=problem, center=data.center, zoom=data.zoom,
        synthetic=snapshot.synthetic,
        title=f"{count} incidents: {flt.describe()}{view}", assets="inline",
        heat_radius=data.heat_radius, heat_scale=data.heat_scale,
    )  # fmt: skip
    html = standalone_html(fmap)
    _logged_write(config, policy, "map", args.out, flt, data.incidents,
                  lambda tmp: write_text_atomic(tmp, html))  # fmt: skip
    print(f"Wrote a map of {count} incidents ({flt.describe()}){view} to {args.out}.")
    return 0


def _run_public_map(args: argparse.Namespace, policy: Policy, config: AccessConfig | None) -> int:
    """``map --role public``: a map of the published site's numbers, and nothing else."""
    from layers.maps.assets import standalone_html
    from layers.publishing.public import (
        GROUP_LABELS,
        month_run,
        public_figures,
        public_map,
        store_site,
    )
    from layers.storage.store import write_text_atomic

    refused = [flag for flag, value in (
        ("--since", args.since), ("--until", args.until), ("--hours", args.hours),
        ("--agency", args.agency), ("--category", args.category), ("--ward", args.ward),
    ) if value]  # fmt: skip
    if refused:
        raise AccessError(
            f"The public role sees whole months of the published site only: {', '.join(refused)} "
            "cannot be used. Pick --month YYYY-MM (and --month-to YYYY-MM for a run of months), "
            "--area for one collaboration area, and --precinct for one precinct."
        )
    if len(args.area) > 1 or len(args.precinct) > 1:
        raise AccessError("The public role picks one collaboration area (--area) and one "
                          "precinct (--precinct) at a time.")  # fmt: skip
    site = store_site(open_store(args.store), policy.rules, args.site)
    if not site.months:
        raise LayersError("The public site has no whole month published yet.")
    months = month_run(site, args.month or site.months[-1], args.month_to)
    group = args.area[0] if args.area else "all"
    figures = public_figures(site, months, group, args.precinct[0] if args.precinct else None)
    basemap, problem = _basemap(args, tuple(site.precincts.total_bounds))
    fmap = public_map(site, figures, tiles=basemap, tiles_problem=problem, assets="inline")
    html = standalone_html(fmap)
    flt = IncidentFilter(areas=tuple(args.area), precincts=tuple(args.precinct))
    _logged_write(config, policy, "public map", args.out, flt, None,
                  lambda tmp: write_text_atomic(tmp, html))  # fmt: skip
    where = f" in {figures.area}" if figures.area else ""
    print(
        f"Wrote the public map of {figures.text(figures.total, figures.total_partial)} "
        f"incidents{where} ({GROUP_LABELS.get(group, group)}, {figures.label}) to {args.out}."
    )
    return 0


def _run_hotspots(args: argparse.Namespace) -> int:
    from layers.analysis.study import run_hotspots
    from layers.maps.hotspot_export import export_hotspots, hotspot_provenance
    from layers.storage.columnar import select

    policy, config = _policy(args)
    if policy.viewer.role == "public":
        raise _refused(
            config, policy, "hotspots",
            "The public role has no hotspot analysis: public numbers come from the published "
            "monthly site only (`map --role public`, or `python -m layers publish`).",
        )  # fmt: skip
    if args.method == "kde" and not policy.full:
        raise _refused(
            config, policy, "KDE hotspots",
            "Kernel density surfaces are for analysts: choose Gi* or emerging hot spots, "
            "which count incidents in anonymous cells.",
        )  # fmt: skip
    flt = filter_from_args(args)
    snapshot = _checked_store(args.store, flt)
    mask = None if flt.is_empty else select(snapshot.columns, flt)
    sight = apply_policy(policy, snapshot.columns, mask, flt)
    result = run_hotspots(snapshot, flt, _hotspot_params(args), sight=sight,
                          scheduler=args.scheduler)  # fmt: skip
    provenance = hotspot_provenance(result, snapshot, flt)
    out = _logged_write(
        config, policy, f"hotspots ({result.method})", args.out, flt, len(result.layer),
        lambda tmp: export_hotspots(result.layer, tmp, provenance=provenance),
    )  # fmt: skip
    print(result.explanation)
    used = f"fewer than {policy.rules.k}" if result.incidents is None else f"{result.incidents:,}"
    print(
        f"Wrote {len(result.layer):,} {result.method} features from {used} "
        f"incidents ({flt.describe()}) to {out}."
    )
    return 0


def _run_publish(args: argparse.Namespace) -> int:
    from layers.access.users import load_access
    from layers.publishing.publish import PublishOptions, publish_site
    from layers.storage.store import open_store

    rules = load_access(args.access).privacy if args.access else PrivacyRules()
    snapshot = open_store(args.store)
    # A tiles file that cannot be used is a warning: the site is published without a basemap.
    basemap, problem = _basemap(args, tuple(snapshot.precincts.to_crs("EPSG:4326").total_bounds))
    options = PublishOptions(months=args.months, settle_days=args.settle_days, cell_m=args.cell_m,
                             republish=tuple(args.republish), basemap=basemap)  # fmt: skip
    if args.republish:
        print(f"Warning: publishing {', '.join(args.republish)} again. Anyone who kept the "
              "earlier version can compare the two and locate the incidents that changed.",
              file=sys.stderr)  # fmt: skip
    report = publish_site(snapshot, args.out, rules=rules, options=options)
    if report.basemap_problem:
        print(f"Warning: no basemap. {report.basemap_problem}", file=sys.stderr)
    report.basemap_problem = report.basemap_problem or problem
    print(report.as_text())
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from layers.analysis.evaluate import evaluate_hotspots, readable_table, to_csv
    from layers.storage.store import write_text_atomic

    policy, config = _policy(args)
    if not policy.full:
        raise _refused(
            config, policy, "hotspot evaluation",
            "Evaluation scores hotspots on every incident: analysts only, not "
            f"{policy.viewer.label}.",
        )  # fmt: skip
    flt = filter_from_args(args)
    snapshot = _checked_store(args.store, flt)
    table = evaluate_hotspots(
        snapshot, flt, split=args.split, area_share=args.area_share, params=_hotspot_params(args)
    )
    print(
        f"Hotspots fitted before {args.split}, scored on incidents from then on "
        f"({flt.describe()}); each method covers about {args.area_share:.0%} of the area."
    )
    print(readable_table(table).to_string(index=False))
    if args.csv:
        text = to_csv(table)
        _logged_write(config, policy, "hotspot evaluation", args.csv, flt, len(table),
                      lambda tmp: write_text_atomic(tmp, text))  # fmt: skip
        described = _write_dictionary(args.csv, "evaluation", readable_table(table))
        print(f"Wrote the table to {args.csv}, its columns described in {described}.")
    return 0


def _run_users_set(args: argparse.Namespace) -> int:
    from layers.access.users import set_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise AccessError("The two passwords differ; nothing was changed.")
    viewer = set_user(args.users, args.name, password, args.role)
    print(f"{args.name} is now {viewer.label} in {args.users} ({viewer.describe()}).")
    return 0


def _run_audit_show(args: argparse.Namespace) -> int:
    from layers.access.audit import format_events, parse_since, read_events

    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as err:
        raise LayersError(f"--since: {err}") from err
    print(format_events(read_events(args.log, since=since, user=args.user, event=args.event)))
    return 0


def _run_audit_verify(args: argparse.Namespace) -> int:
    from layers.access.audit import verify

    result = verify(args.log)
    print(result.reason, file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1  # non-zero on a broken chain, so monitoring can alert


def _run_audit_repair(args: argparse.Namespace) -> int:
    from layers.access.audit import remove_incomplete_tail

    removed = remove_incomplete_tail(args.log)
    print(
        f"Removed the incomplete last line: {removed!r}"
        if removed
        else "The log ends cleanly; nothing removed."
    )
    return 0


def _run_assets(args: argparse.Namespace) -> int:
    from layers.maps.assets import vendor_assets

    for path in vendor_assets():
        print(path)
    return 0
