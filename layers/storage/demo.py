"""Synthetic demo data: boundaries and incidents shaped like Cape Town's, and not real.

:func:`generate_demo` writes a complete, self-describing demo set to one directory: precinct
and ward boundaries, one incident CSV per agency, ``manifest.json`` and ``SYNTHETIC_DATA.txt``.
Everything is drawn from one seed, so the same seed gives byte-identical files. The data have
the structure the dashboard has to cope with (spatial clusters, daily and weekly rhythms,
seasonality, three emerging hotspots, malformed rows, status updates) and none of the content
of real incidents: places, names and counts are invented, and every file says so.

Boundaries are made in UTM 34S (EPSG:32734) so that distances are in metres, and written in
EPSG:4326. Incident times are Africa/Johannesburg local time (UTC+02:00, no daylight saving).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

from layers._errors import InputFileError
from layers.settings import METRIC_CRS, WGS84
from layers.storage.ingest import IngestReport, Progress, ingest
from layers.storage.store import atomic_path

__all__ = [
    "AGENCIES",
    "AGENCY_FILES",
    "INCIDENT_COLUMNS",
    "METRIC_CRS",
    "UNKNOWN_CATEGORIES",
    "DemoManifest",
    "generate_demo",
    "load_manifest",
    "study_area",
]

UTC_OFFSET = np.timedelta64(2, "h")  # Africa/Johannesburg has had no daylight saving since 1944

AGENCY_FILES = {
    "SAPS": "incidents_saps.csv",
    "Metro Police": "incidents_metro_police.csv",
    "Law Enforcement": "incidents_law_enforcement.csv",
    "Traffic Services": "incidents_traffic_services.csv",
    "LEAP": "incidents_leap.csv",
    "Neighbourhood Watch": "incidents_neighbourhood_watch.csv",
}
AGENCIES = tuple(AGENCY_FILES)
INCIDENT_COLUMNS = (
    "incident_id", "agency", "category", "occurred_at", "lat", "lon", "collaboration_area",
    "reported_at", "status", "description",
)  # fmt: skip

_ID_PREFIX = {
    "SAPS": "SAPS", "Metro Police": "MPD", "Law Enforcement": "LE", "Traffic Services": "TS",
    "LEAP": "LEAP", "Neighbourhood Watch": "NHW",
}  # fmt: skip
_AGENCY_SHARE = (0.42, 0.14, 0.12, 0.16, 0.08, 0.08)

# Relative frequencies of each agency's categories. The names are exactly those of
# data/collaboration_areas.toml, so every area of the taxonomy gets incidents.
_CATEGORY_WEIGHTS: dict[str, dict[str, float]] = {
    "SAPS": {
        "Murder": 3, "Attempted murder": 3,
        "Assault with intent to inflict grievous bodily harm": 8, "Common assault": 9,
        "Sexual offences": 3, "Domestic violence": 3, "Contravention of protection order": 1.5,
        "Kidnapping": 0.7, "Robbery with aggravating circumstances": 8, "Common robbery": 4,
        "Robbery at residential premises": 1.5, "Robbery at non-residential premises": 1,
        "Carjacking": 1.5, "Truck hijacking": 0.2, "Theft of motor vehicle and motorcycle": 3,
        "Theft out of or from motor vehicle": 6, "Burglary at residential premises": 9,
        "Burglary at non-residential premises": 3, "All theft not mentioned elsewhere": 12,
        "Shoplifting": 3, "Arson": 0.3, "Malicious damage to property": 5, "Stock-theft": 0.1,
        "Commercial crime": 2, "Drug-related crime": 10,
        "Illegal possession of firearms and ammunition": 2, "Shooting incident": 2,
        "Wanted suspect arrested": 2, "Intelligence report": 1, "Copper cable theft": 0.5,
        "Driving under the influence": 2,
    },
    "Metro Police": {
        "Drug-related crime": 10, "Illegal liquor outlet": 4, "Drinking in public": 8,
        "Driving under the influence": 6, "Roadblock arrest": 4, "Wanted suspect arrested": 4,
        "Illegal possession of firearms and ammunition": 2, "CCTV-detected incident": 6,
        "Licence plate recognition hit": 4, "Reckless or negligent driving": 4, "Speeding": 3,
        "Unlicensed vehicle or driver": 4, "Public transport violation": 3,
        "Illegal trading": 3, "Noise nuisance": 2, "Suspicious activity": 3,
    },
    "Law Enforcement": {
        "Illegal dumping": 8, "Noise nuisance": 6, "Illegal trading": 7, "Land invasion": 6,
        "Problem building": 4, "Drinking in public": 5, "Copper cable theft": 4,
        "Vandalism of infrastructure": 5, "Malicious damage to property": 2,
        "Illegal liquor outlet": 2, "Trespassing": 2, "Patrol observation": 2,
    },
    "Traffic Services": {
        "Road traffic collision": 10, "Speeding": 10, "Reckless or negligent driving": 6,
        "Driving under the influence": 5, "Unlicensed vehicle or driver": 8,
        "Public transport violation": 7, "Roadblock arrest": 2,
        "Licence plate recognition hit": 2,
    },
    "LEAP": {
        "Shooting incident": 6, "Illegal possession of firearms and ammunition": 5,
        "Attempted murder": 2, "Murder": 1,
        "Assault with intent to inflict grievous bodily harm": 3, "Common assault": 3,
        "Drug-related crime": 5, "Patrol observation": 8, "Wanted suspect arrested": 3,
        "Suspicious activity": 3, "Robbery with aggravating circumstances": 2,
        "Domestic violence": 1, "Intelligence report": 2,
    },
    "Neighbourhood Watch": {
        "Suspicious activity": 12, "Patrol observation": 12,
        "Burglary at residential premises": 6, "Trespassing": 6,
        "Theft out of or from motor vehicle": 3, "All theft not mentioned elsewhere": 2,
        "Malicious damage to property": 1, "Noise nuisance": 1, "Drinking in public": 1,
        "CCTV-detected incident": 1,
    },
}  # fmt: skip

# Categories outside the taxonomy, as agencies really send them; they exercise "Unassigned".
UNKNOWN_CATEGORIES = ("Other - see docket", "Unclassified", "Miscellaneous complaint")
_UNKNOWN_SHARE = 0.003

# Each category follows the rhythm of a group: when in the day and week it happens, where
# (affinity for dense residential, CBD-like and suburban clusters) and how soon it is reported.
_GROUP_OF = {
    "violence": (
        "Murder", "Attempted murder", "Assault with intent to inflict grievous bodily harm",
        "Common assault", "Shooting incident", "Illegal possession of firearms and ammunition",
        "Sexual offences", "Domestic violence", "Contravention of protection order", "Kidnapping",
    ),
    "alcohol": (
        "Driving under the influence", "Drinking in public", "Illegal liquor outlet",
        "Noise nuisance", "Roadblock arrest", "Drug-related crime",
    ),
    "traffic": (
        "Reckless or negligent driving", "Speeding", "Road traffic collision",
        "Unlicensed vehicle or driver", "Public transport violation",
        "Licence plate recognition hit",
    ),
    "residential": ("Burglary at residential premises", "Robbery at residential premises"),
    "business": ("Shoplifting", "Commercial crime", "Robbery at non-residential premises"),
    "street": (
        "Robbery with aggravating circumstances", "Common robbery", "Carjacking",
        "Truck hijacking", "Theft of motor vehicle and motorcycle",
        "Theft out of or from motor vehicle", "All theft not mentioned elsewhere",
        "CCTV-detected incident",
    ),
    "night_property": (
        "Burglary at non-residential premises", "Copper cable theft",
        "Vandalism of infrastructure", "Arson", "Malicious damage to property", "Stock-theft",
    ),
    "patrol": ("Patrol observation", "Suspicious activity", "Trespassing"),
    "office": (
        "Intelligence report", "Wanted suspect arrested", "Land invasion", "Illegal trading",
        "Problem building", "Illegal dumping",
    ),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Rhythm:
    peaks: tuple[tuple[float, float, float], ...]  # (hour, spread in hours, weight)
    weekdays: tuple[float, ...]  # Monday .. Sunday
    affinity: tuple[float, float, float]  # dense residential, CBD-like, suburban
    season: float  # amplitude of the December peak
    delay_minutes: float  # median time from occurrence to report


_RHYTHMS = {
    "violence": _Rhythm(((21, 3, 1.0), (1, 2, 0.7)), (0.8, 0.75, 0.75, 0.8, 1.0, 1.55, 1.5),
                        (1.0, 0.3, 0.15), 0.15, 30),
    "alcohol": _Rhythm(((22, 2.5, 1.0), (1, 2, 0.6)), (0.7, 0.65, 0.7, 0.85, 1.25, 1.75, 1.4),
                       (0.8, 0.7, 0.3), 0.15, 15),
    "traffic": _Rhythm(((7.5, 1.3, 1.0), (17, 1.5, 1.0), (12.5, 3, 0.3)),
                       (1.1, 1.1, 1.1, 1.1, 1.15, 0.8, 0.65), (0.4, 1.0, 0.6), 0.08, 10),
    "residential": _Rhythm(((11, 3, 1.0), (20, 2, 0.4)), (1.05, 1.05, 1.05, 1.05, 1.0, 0.9, 0.9),
                           (0.6, 0.1, 1.0), 0.08, 120),
    "business": _Rhythm(((11, 2.5, 1.0), (16, 2.5, 0.9)), (1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 0.6),
                        (0.3, 1.0, 0.4), 0.1, 60),
    "street": _Rhythm(((18.5, 2.5, 1.0), (7, 1.5, 0.5), (13, 3, 0.4)),
                      (1.0, 1.0, 1.0, 1.0, 1.1, 1.1, 0.85), (0.7, 0.8, 0.5), 0.08, 45),
    "night_property": _Rhythm(((2, 2.5, 1.0), (22, 2, 0.5)), (1, 1, 1, 1, 1, 1.1, 1.1),
                              (0.5, 0.6, 0.6), 0.05, 240),
    "patrol": _Rhythm(((20, 2.5, 1.0), (2, 2, 0.6)), (0.9, 0.9, 0.9, 0.9, 1.2, 1.2, 1.0),
                      (0.6, 0.3, 0.9), 0.05, 5),
    "office": _Rhythm(((10, 2, 1.0), (14, 2, 0.8)), (1.2, 1.2, 1.2, 1.2, 1.1, 0.6, 0.5),
                      (0.8, 0.6, 0.4), 0.05, 30),
}  # fmt: skip
_BACKGROUND_SHARE = 0.15  # incidents spread uniformly over the study area, outside any cluster

# Outline of the study area (lon, lat): the Atlantic coast from north of Melkbosstrand round
# the peninsula, cut at 34.25 S, then the False Bay coast to Gordon's Bay and inland back north.
_OUTLINE = (
    (18.370, -33.560), (18.400, -33.620), (18.430, -33.680), (18.440, -33.720),
    (18.460, -33.780), (18.480, -33.840), (18.450, -33.900), (18.420, -33.905),
    (18.390, -33.915), (18.370, -33.940), (18.350, -34.000), (18.355, -34.040),
    (18.340, -34.090), (18.320, -34.140), (18.350, -34.200), (18.380, -34.250),
    (18.450, -34.250), (18.450, -34.190), (18.440, -34.130), (18.470, -34.100),
    (18.530, -34.080), (18.620, -34.070), (18.700, -34.070), (18.800, -34.100),
    (18.840, -34.150), (18.900, -34.140), (18.970, -34.050), (19.000, -33.950),
    (18.960, -33.850), (18.900, -33.750), (18.800, -33.660), (18.680, -33.580),
    (18.550, -33.550),
)  # fmt: skip

_N_PRECINCTS = 60
_N_WARDS = 116
# Points are kept this far inside the outline so that rounding to 6 decimals (about 0.1 m)
# and reprojection can never move one outside the boundary layers.
_EDGE_MARGIN_M = 10.0

_NAME_STARTS = (
    "Sea", "Kloof", "Protea", "Fynbos", "Silver", "Duin", "Vlei", "Wind", "Klip", "Suikerbos",
    "Harbour", "Rooi", "Bay", "Eike", "Swallow", "Berg", "Mountain", "Uitsig", "Sunny",
    "Blou",
)  # fmt: skip
_NAME_ENDS = ("view", "dale", "vale", "ridge", "kraal", "fontein", " Heights", " Park", "wood")


@dataclasses.dataclass(frozen=True)
class _Hotspot:
    name: str
    theme: tuple[tuple[str, str], ...]  # (agency, category) pairs its incidents are drawn from
    start_fraction: float
    radius_m: float
    share: float  # of all valid incidents
    x: float = 0.0
    y: float = 0.0
    start_day: int = 0  # days after the start of the period


_HOTSPOTS = (
    _Hotspot("Synthetic emerging hotspot A (firearm violence)",
             (("SAPS", "Shooting incident"), ("LEAP", "Shooting incident"),
              ("SAPS", "Illegal possession of firearms and ammunition"),
              ("LEAP", "Illegal possession of firearms and ammunition"),
              ("SAPS", "Attempted murder")), 0.40, 600.0, 0.008),
    _Hotspot("Synthetic emerging hotspot B (infrastructure theft)",
             (("Law Enforcement", "Copper cable theft"), ("SAPS", "Copper cable theft"),
              ("Law Enforcement", "Vandalism of infrastructure")), 0.55, 450.0, 0.008),
    _Hotspot("Synthetic emerging hotspot C (drugs and liquor)",
             (("SAPS", "Drug-related crime"), ("Metro Police", "Drug-related crime"),
              ("Metro Police", "Illegal liquor outlet"),
              ("Law Enforcement", "Drinking in public")), 0.70, 500.0, 0.008),
)  # fmt: skip

_FAULTS = (
    "empty lat/lon",
    "unparseable time",
    "lat/lon swapped",
    "null island (0, 0)",
    "far away (Johannesburg)",
)
_FAULT_SHARE = 0.005
_UPDATE_SHARE = 0.004
_JOINT_SHARE = 0.05  # rows naming their collaboration area explicitly
_TIME_STYLE_P = (0.9, 0.05, 0.05)  # naive local, "+02:00", UTC "Z"


@dataclasses.dataclass(frozen=True)
class DemoManifest:
    """What :func:`generate_demo` wrote, as also recorded in ``manifest.json``.

    Attributes
    ----------
    out_dir : Path
        The directory holding the demo set.
    precincts_path, wards_path : Path
        ``precincts.gpkg`` (layer ``precincts``) and ``wards.geojson``, both EPSG:4326.
    incident_paths : tuple of Path
        One CSV per agency, in the order of :data:`AGENCIES`.
    n_incidents : int
        Valid incident rows (each a distinct agency and ``incident_id``).
    n_faulty : int
        Deliberately malformed rows, each described "SYNTHETIC FAULT: <what>".
    n_updates : int
        Rows repeating an earlier row's agency and ``incident_id`` with a newer status.
    seed : int
        The seed everything was drawn from.
    start, end : datetime.date
        First and last day (inclusive, local time) of the incident period.
    emerging_hotspots : tuple of dict
        ``name``, ``lon``, ``lat``, ``radius_m`` and ``start`` (a date) of each hotspot, plus
        the ``categories`` it produces.
    fault_counts : dict
        Number of faulty rows of each kind.
    """

    out_dir: Path
    precincts_path: Path
    wards_path: Path
    incident_paths: tuple[Path, ...]
    n_incidents: int
    n_faulty: int
    n_updates: int
    seed: int
    start: datetime.date
    end: datetime.date
    emerging_hotspots: tuple[dict[str, object], ...]
    fault_counts: dict[str, int]


def study_area(*, crs: str = WGS84) -> shapely.Polygon:
    """The synthetic study area: a Cape Town-sized polygon at Cape Town's location.

    Parameters
    ----------
    crs : str, default "EPSG:4326"
        CRS of the returned polygon; use :data:`METRIC_CRS` for areas and distances in metres.

    Returns
    -------
    shapely.Polygon
        About 63 km east-west by 78 km north-south.
    """
    outline = shapely.Polygon(_OUTLINE)
    if crs == WGS84:
        return outline
    to_crs = Transformer.from_crs(WGS84, crs, always_xy=True)
    return shapely.transform(outline, lambda xy: np.column_stack(to_crs.transform(*xy.T)))


def generate_demo(
    out_dir: Path,
    *,
    seed: int = 20240801,
    incidents: int = 50_000,
    end: datetime.date = datetime.date(2026, 10, 31),
    months: int = 24,
) -> DemoManifest:
    """Write a synthetic demo data set: precincts, wards and one incident CSV per agency.

    Parameters
    ----------
    out_dir : Path
        Directory to write to; created if missing. Existing demo files are replaced.
    seed : int, default 20240801
        Seed of every random draw: the same seed writes byte-identical files.
    incidents : int, default 50_000
        Valid incident rows to write. About 0.5 % faulty rows and 0.4 % status updates are
        written on top.
    end : datetime.date, default 2026-10-31
        Last day of the incident period.
    months : int, default 24
        Length of the period in calendar months; it starts on the first day of the month
        ``months - 1`` months before the month of ``end``.

    Returns
    -------
    DemoManifest
        Paths, counts and the emerging hotspots; the same is written to ``manifest.json``.

    Raises
    ------
    ValueError
        If an option is out of range (fewer than 100 incidents, months outside 1 to 240).

    Notes
    -----
    Boundaries do not depend on ``incidents``, ``end`` or ``months``, only on ``seed``.
    Files are written atomically and ``manifest.json`` last, so a directory with a manifest
    holds a complete set.
    """
    _check_arguments(seed=seed, incidents=incidents, end=end, months=months)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = _first_day(end, months)
    n_days = (end - start).days + 1
    area_rng, precinct_rng, ward_rng, incident_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)
    )
    area = study_area(crs=METRIC_CRS)
    clusters = _make_clusters(area_rng, area)
    hotspots = _place_hotspots(area_rng, area, clusters, n_days)
    precinct_cells = _tessellate(precinct_rng, area, clusters, _N_PRECINCTS)
    precincts = _precinct_frame(precinct_cells, _precinct_names(precinct_rng, _N_PRECINCTS))
    wards = _ward_frame(_tessellate(ward_rng, area, clusters, _N_WARDS))
    rows, counts = _incident_rows(
        incident_rng, incidents, area=area, clusters=clusters, hotspots=hotspots,
        start=start, n_days=n_days,
    )  # fmt: skip

    precincts_path = _write_precincts(precincts, out_dir / "precincts.gpkg", end=end)
    wards_path = _write_wards(wards, out_dir / "wards.geojson")
    incident_paths = tuple(
        _write_csv(rows[rows["agency"] == agency], out_dir / name)
        for agency, name in AGENCY_FILES.items()
    )
    manifest = DemoManifest(
        out_dir=out_dir,
        precincts_path=precincts_path,
        wards_path=wards_path,
        incident_paths=incident_paths,
        n_incidents=incidents,
        n_faulty=counts["faulty"],
        n_updates=counts["updates"],
        seed=seed,
        start=start,
        end=end,
        emerging_hotspots=tuple(_hotspot_record(h, start) for h in hotspots),
        fault_counts={kind: counts[kind] for kind in _FAULTS},
    )
    _write_text(out_dir / "SYNTHETIC_DATA.txt", _notice(manifest, counts["unknown"]))
    _write_text(out_dir / "manifest.json", _manifest_json(manifest, counts["unknown"]))
    return manifest


def load_manifest(out_dir: Path) -> DemoManifest:
    """Read the ``manifest.json`` written by :func:`generate_demo` into a :class:`DemoManifest`.

    Parameters
    ----------
    out_dir : Path
        The demo directory.

    Returns
    -------
    DemoManifest
        Paths resolved against ``out_dir``, dates as :class:`datetime.date`.

    Raises
    ------
    InputFileError
        If ``out_dir`` holds no ``manifest.json``.
    """
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise InputFileError(
            f"No demo manifest at {path}: run `python -m layers demo` to generate the demo set."
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    files = data["files"]
    date = datetime.date.fromisoformat
    return DemoManifest(
        out_dir=Path(out_dir),
        precincts_path=Path(out_dir) / files["precincts"],
        wards_path=Path(out_dir) / files["wards"],
        incident_paths=tuple(Path(out_dir) / name for name in files["incidents"].values()),
        n_incidents=data["n_incidents"],
        n_faulty=data["n_faulty"],
        n_updates=data["n_updates"],
        seed=data["seed"],
        start=date(data["start"]),
        end=date(data["end"]),
        emerging_hotspots=tuple(
            {**h, "start": date(h["start"]), "categories": tuple(h["categories"])}
            for h in data["emerging_hotspots"]
        ),
        fault_counts=dict(data["fault_counts"]),
    )


# --- arguments and dates -----------------------------------------------------------------


def _check_arguments(*, seed: int, incidents: int, end: datetime.date, months: int) -> None:
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, not {seed!r}.")
    if not isinstance(incidents, int | np.integer) or incidents < 100:
        raise ValueError(
            f"`incidents` must be an integer of at least 100 (the hotspots need rows), "
            f"not {incidents!r}."
        )
    if not isinstance(months, int | np.integer) or not 1 <= months <= 240:
        raise ValueError(f"`months` must be an integer from 1 to 240, not {months!r}.")
    if not isinstance(end, datetime.date) or isinstance(end, datetime.datetime):
        raise ValueError(f"`end` must be a datetime.date such as date(2026, 10, 31), not {end!r}.")


def _first_day(end: datetime.date, months: int) -> datetime.date:
    index = end.year * 12 + end.month - 1 - (months - 1)
    return datetime.date(index // 12, index % 12 + 1, 1)


# --- where things happen -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Clusters:
    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray  # metres
    weight: np.ndarray
    kind: np.ndarray  # 0 dense residential, 1 CBD-like, 2 suburban


def _make_clusters(rng: np.random.Generator, area: shapely.Polygon) -> _Clusters:
    """About 40 Gaussian clusters: 4 dense residential zones, 1 CBD-like zone, suburbs."""
    inner = area.buffer(-4000.0)
    zones = _uniform_points(rng, inner, 5)
    # (zone, centres, offset of centres from the zone in m, sigma range in m, weight, kind)
    plan = [(zones[i], 6, 2500.0, (300.0, 1200.0), 3.0, 0) for i in range(4)]
    plan.append((zones[4], 5, 1200.0, (200.0, 600.0), 3.0, 1))
    parts = []
    for zone, n, offset, (lo, hi), weight, kind in plan:
        centres = zone + rng.normal(0.0, offset, size=(n, 2))
        centres = _pull_inside(centres, inner, zone)
        parts.append((centres, rng.uniform(lo, hi, n), rng.lognormal(np.log(weight), 0.5, n), kind))
    suburbs = _uniform_points(rng, area.buffer(-2000.0), 11)
    parts.append((suburbs, rng.uniform(800.0, 2000.0, 11), rng.lognormal(0.0, 0.5, 11), 2))
    xy = np.vstack([p[0] for p in parts])
    return _Clusters(
        x=xy[:, 0],
        y=xy[:, 1],
        sigma=np.concatenate([p[1] for p in parts]),
        weight=np.concatenate([p[2] for p in parts]),
        kind=np.concatenate([np.full(len(p[0]), p[3]) for p in parts]),
    )


def _pull_inside(points: np.ndarray, area: shapely.Polygon, towards: np.ndarray) -> np.ndarray:
    """Move points outside ``area`` halfway back to ``towards`` until they are inside."""
    points = points.copy()
    for _ in range(60):
        outside = ~shapely.contains_xy(area, points[:, 0], points[:, 1])
        if not outside.any():
            return points
        points[outside] = (points[outside] + towards) / 2
    raise RuntimeError("cluster centres could not be placed inside the study area")


def _uniform_points(rng: np.random.Generator, area: shapely.Polygon, n: int) -> np.ndarray:
    x, y = _place(rng, n, lambda idx: _uniform_in_box(rng, area, idx.size), _inside(area))
    return np.column_stack([x, y])


def _uniform_in_box(
    rng: np.random.Generator, area: shapely.Polygon, n: int
) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = area.bounds
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def _inside(area: shapely.Polygon) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    shapely.prepare(area)
    return lambda idx, x, y: shapely.contains_xy(area, x, y)


def _place(
    rng: np.random.Generator,
    n: int,
    draw: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    accept: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    *,
    max_rounds: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw n points, redrawing the rejected ones (by row index) until all are accepted."""
    x, y = np.empty(n), np.empty(n)
    todo = np.arange(n)
    for _ in range(max_rounds):
        if todo.size == 0:
            return x, y
        x[todo], y[todo] = draw(todo)
        todo = todo[~accept(todo, x[todo], y[todo])]
    raise RuntimeError(f"{todo.size} points could not be placed inside the study area")


def _draw_from_clusters(
    rng: np.random.Generator, clusters: _Clusters, which: np.ndarray, area: shapely.Polygon
) -> tuple[np.ndarray, np.ndarray]:
    """Points around the chosen clusters; ``which == -1`` means the uniform background."""
    background = which < 0
    c = np.where(background, 0, which)
    x = clusters.x[c] + rng.normal(0.0, 1.0, which.size) * clusters.sigma[c]
    y = clusters.y[c] + rng.normal(0.0, 1.0, which.size) * clusters.sigma[c]
    bx, by = _uniform_in_box(rng, area, which.size)
    return np.where(background, bx, x), np.where(background, by, y)


def _choose_clusters(
    rng: np.random.Generator, clusters: _Clusters, n: int, affinity: tuple[float, ...]
) -> np.ndarray:
    weights = clusters.weight * np.asarray(affinity)[clusters.kind]
    p = np.append(weights / weights.sum() * (1 - _BACKGROUND_SHARE), _BACKGROUND_SHARE)
    which = rng.choice(p.size, size=n, p=p)
    return np.where(which == p.size - 1, -1, which)


def _place_hotspots(
    rng: np.random.Generator, area: shapely.Polygon, clusters: _Clusters, n_days: int
) -> tuple[_Hotspot, ...]:
    """Put each hotspot somewhere quiet: away from cluster cores and from each other."""
    inner = area.buffer(-3000.0)
    shapely.prepare(inner)
    placed: list[_Hotspot] = []
    for _ in range(10_000):
        if len(placed) == len(_HOTSPOTS):
            return tuple(placed)
        x, y = _uniform_points(rng, inner, 1)[0]
        core = np.hypot(clusters.x - x, clusters.y - y) < 2 * clusters.sigma + 1000.0
        crowded = any(np.hypot(h.x - x, h.y - y) < 8000.0 for h in placed)
        if core.any() or crowded:
            continue
        spec = _HOTSPOTS[len(placed)]
        start_day = round(spec.start_fraction * n_days)
        placed.append(dataclasses.replace(spec, x=float(x), y=float(y), start_day=start_day))
    raise RuntimeError("no quiet place left for the emerging hotspots: try another seed")


# --- boundaries ----------------------------------------------------------------------------


def _tessellate(
    rng: np.random.Generator,
    area: shapely.Polygon,
    clusters: _Clusters,
    n_cells: int,
    *,
    iterations: int = 10,
) -> np.ndarray:
    """Voronoi cells of ``n_cells`` seeds, clipped to ``area``; smaller where incidents are dense.

    Seeds are relaxed with Lloyd's algorithm on sample points drawn 70 % from the incident
    density and 30 % uniformly (a weighted k-means), which gives cells of plausible, varying
    size instead of the slivers and giants of raw random seeds.
    """
    samples = _density_samples(rng, area, clusters, 200 * n_cells)
    seeds = samples[rng.choice(len(samples), n_cells, replace=False)]
    for _ in range(iterations):
        nearest = _nearest(samples, seeds)
        count = np.bincount(nearest, minlength=n_cells)
        sums = np.column_stack([np.bincount(nearest, samples[:, i], n_cells) for i in (0, 1)])
        moved = count > 0
        seeds[moved] = sums[moved] / count[moved, None]
    seeds = _snap_inside(seeds, samples, area)
    cells = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=area.envelope.buffer(10_000.0), ordered=True
    )
    return shapely.intersection(shapely.get_parts(cells), area)


def _density_samples(
    rng: np.random.Generator, area: shapely.Polygon, clusters: _Clusters, n: int
) -> np.ndarray:
    which = np.where(rng.random(n) < 0.3, -1, _choose_clusters(rng, clusters, n, (1, 1, 1)))
    x, y = _place(
        rng, n, lambda idx: _draw_from_clusters(rng, clusters, which[idx], area), _inside(area)
    )
    return np.column_stack([x, y])


def _nearest(points: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    d2 = ((points[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)


def _snap_inside(seeds: np.ndarray, samples: np.ndarray, area: shapely.Polygon) -> np.ndarray:
    """Move seeds that relaxed outside a concave coast onto their nearest own sample.

    A seed inside the area keeps its clipped cell non-empty; the samples of different seeds
    are disjoint, so snapped seeds stay distinct.
    """
    seeds = seeds.copy()
    nearest = _nearest(samples, seeds)
    for k in np.flatnonzero(~shapely.contains_xy(area, seeds[:, 0], seeds[:, 1])):
        own = samples[nearest == k]
        seeds[k] = own[np.argmin(((own - seeds[k]) ** 2).sum(axis=1))]
    return seeds


def _reading_order(cells: np.ndarray, *, band_m: float = 8000.0) -> np.ndarray:
    """North-to-south bands, alternately west-east and east-west, as wards are often numbered."""
    centre = shapely.get_coordinates(shapely.point_on_surface(cells))
    band = np.floor((centre[:, 1].max() - centre[:, 1]) / band_m).astype(int)
    along = np.where(band % 2 == 0, centre[:, 0], -centre[:, 0])
    return np.lexsort((along, band))


def _precinct_names(rng: np.random.Generator, n: int) -> list[str]:
    """Unique, readable, invented names such as "Kloofdale" or "Protea Park"."""
    names = [start + end for start in _NAME_STARTS for end in _NAME_ENDS]
    return [names[i] for i in rng.permutation(len(names))[:n]]


def _precinct_frame(cells: np.ndarray, names: list[str]) -> gpd.GeoDataFrame:
    cells = cells[_reading_order(cells)]
    frame = gpd.GeoDataFrame(
        {
            "precinct_name": names,
            "station_code": [f"SYN-{i:03d}" for i in range(1, len(cells) + 1)],
            "synthetic": "yes",
        },
        geometry=cells,
        crs=METRIC_CRS,
    )
    return frame.to_crs(WGS84)


def _ward_frame(cells: np.ndarray) -> gpd.GeoDataFrame:
    cells = cells[_reading_order(cells)]
    frame = gpd.GeoDataFrame(
        {"ward_name": [str(i) for i in range(1, len(cells) + 1)], "synthetic": "yes"},
        geometry=cells,
        crs=METRIC_CRS,
    )
    return frame.to_crs(WGS84)


# --- when things happen --------------------------------------------------------------------


def _hour_profile(rhythm: _Rhythm) -> np.ndarray:
    hours = np.arange(24) + 0.5
    p = np.full(24, 0.08)  # nothing is impossible at any hour
    for peak, spread, weight in rhythm.peaks:
        d = np.abs(hours - peak)
        d = np.minimum(d, 24 - d)
        p += weight * np.exp(-0.5 * (d / spread) ** 2)
    return p / p.sum()


def _day_weights(rhythm: _Rhythm, start: datetime.date, n_days: int) -> np.ndarray:
    days = np.datetime64(start, "D") + np.arange(n_days)
    day_of_year = (days - days.astype("datetime64[Y]")).astype(int)
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    season = 1 + rhythm.season * np.cos(2 * np.pi * (day_of_year - 350) / 365.25)
    return season * np.asarray(rhythm.weekdays)[weekday]


def _draw_times(
    rng: np.random.Generator,
    rhythm: _Rhythm,
    n: int,
    start: datetime.date,
    n_days: int,
    *,
    ramp_from: int | None = None,
) -> np.ndarray:
    """Local times (datetime64[s]) with the rhythm's daily, weekly and seasonal shape.

    With ``ramp_from``, nothing happens before that day and intensity grows linearly after.
    """
    w = _day_weights(rhythm, start, n_days)
    if ramp_from is not None:
        w = w * np.clip(np.arange(n_days) - ramp_from + 1, 0, None)
    day = rng.choice(n_days, size=n, p=w / w.sum())
    hour = rng.choice(24, size=n, p=_hour_profile(rhythm))
    minute = rng.integers(0, 60, n)
    offset = (day * 1440 + hour * 60 + minute) * 60
    return np.datetime64(start, "s") + offset.astype("timedelta64[s]")


# --- incidents -----------------------------------------------------------------------------


def _incident_rows(
    rng: np.random.Generator,
    incidents: int,
    *,
    area: shapely.Polygon,
    clusters: _Clusters,
    hotspots: tuple[_Hotspot, ...],
    start: datetime.date,
    n_days: int,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """All CSV rows of all agencies, in file order, and counts of what was made."""
    n_hot = [max(10, round(h.share * incidents)) for h in hotspots]
    n_faulty = max(len(_FAULTS), round(_FAULT_SHARE * incidents))
    n_normal = incidents - sum(n_hot) + n_faulty
    normal = _normal_incidents(rng, n_normal, area, clusters, hotspots, start, n_days)
    hot = [
        _hotspot_incidents(rng, h, k, area, start, n_days)
        for h, k in zip(hotspots, n_hot, strict=True)
    ]
    table = pd.concat([normal, *hot], ignore_index=True)
    # Faults go into ordinary rows (not hotspot ones), unknown categories into valid rows.
    faulty = rng.choice(n_normal, size=n_faulty, replace=False)
    table["category"], n_unknown = _with_unknown(rng, table["category"], exclude=faulty)
    table["collaboration_area"] = _collaboration_areas(rng, table)
    table["status"] = _statuses(rng, table, start, n_days)
    lon, lat = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True).transform(
        table.pop("x").to_numpy(), table.pop("y").to_numpy()
    )
    table["lon"], table["lat"] = np.round(lon, 6), np.round(lat, 6)
    rows, faults = _format(rng, table, faulty)
    rows, n_updates = _with_updates(rng, rows, max(1, round(_UPDATE_SHARE * incidents)))
    counts = {"faulty": n_faulty, "updates": n_updates, "unknown": n_unknown, **faults}
    return rows, counts


def _normal_incidents(
    rng: np.random.Generator,
    n: int,
    area: shapely.Polygon,
    clusters: _Clusters,
    hotspots: tuple[_Hotspot, ...],
    start: datetime.date,
    n_days: int,
) -> pd.DataFrame:
    agency = np.asarray(AGENCIES)[rng.choice(len(AGENCIES), size=n, p=_AGENCY_SHARE)]
    category = np.empty(n, dtype=object)
    for name in AGENCIES:
        rows = np.flatnonzero(agency == name)
        weights = _CATEGORY_WEIGHTS[name]
        p = np.fromiter(weights.values(), float)
        category[rows] = np.asarray(list(weights))[
            rng.choice(p.size, size=rows.size, p=p / p.sum())
        ]
    group = pd.Series(category).map(_group_by_category()).to_numpy()
    when = np.empty(n, dtype="datetime64[s]")
    which = np.empty(n, dtype=int)
    for name, rhythm in _RHYTHMS.items():
        rows = np.flatnonzero(group == name)
        when[rows] = _draw_times(rng, rhythm, rows.size, start, n_days)
        which[rows] = _choose_clusters(rng, clusters, rows.size, rhythm.affinity)
    accept = _accept_normal(area, hotspots, when, start)
    x, y = _place(rng, n, lambda idx: _draw_from_clusters(rng, clusters, which[idx], area), accept)
    return pd.DataFrame(
        {"agency": agency, "category": category, "group": group, "when": when, "x": x, "y": y}
    )


def _group_by_category() -> dict[str, str]:
    return {category: group for group, members in _GROUP_OF.items() for category in members}


def _accept_normal(
    area: shapely.Polygon,
    hotspots: tuple[_Hotspot, ...],
    when: np.ndarray,
    start: datetime.date,
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Inside the area, and not inside an emerging hotspot before it emerged.

    The margins keep the rules true after coordinates are rounded to 6 decimals.
    """
    inner = area.buffer(-_EDGE_MARGIN_M)
    shapely.prepare(inner)
    first = [np.datetime64(start, "s") + np.timedelta64(h.start_day, "D") for h in hotspots]

    def accept(idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ok = shapely.contains_xy(inner, x, y)
        for h, emerged in zip(hotspots, first, strict=True):
            near = np.hypot(x - h.x, y - h.y) < h.radius_m + _EDGE_MARGIN_M
            ok &= ~(near & (when[idx] < emerged))
        return ok

    return accept


def _hotspot_incidents(
    rng: np.random.Generator,
    hotspot: _Hotspot,
    n: int,
    area: shapely.Polygon,
    start: datetime.date,
    n_days: int,
) -> pd.DataFrame:
    """Incidents of one emerging hotspot: a tight disc, growing in intensity after it starts."""
    pairs = np.asarray(hotspot.theme)[rng.integers(0, len(hotspot.theme), n)]
    groups = _group_by_category()
    group = np.asarray([groups[c] for c in pairs[:, 1]])
    when = np.empty(n, dtype="datetime64[s]")
    for name in np.unique(group):
        rows = np.flatnonzero(group == name)
        when[rows] = _draw_times(
            rng, _RHYTHMS[name], rows.size, start, n_days, ramp_from=hotspot.start_day
        )
    inner = area.buffer(-_EDGE_MARGIN_M)
    shapely.prepare(inner)
    reach = hotspot.radius_m - _EDGE_MARGIN_M

    def accept(idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return shapely.contains_xy(inner, x, y) & (np.hypot(x - hotspot.x, y - hotspot.y) < reach)

    def draw(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        offset = rng.normal(0.0, hotspot.radius_m / 2, size=(idx.size, 2))
        return hotspot.x + offset[:, 0], hotspot.y + offset[:, 1]

    x, y = _place(rng, n, draw, accept)
    return pd.DataFrame(
        {"agency": pairs[:, 0], "category": pairs[:, 1], "group": group, "when": when,
         "x": x, "y": y}
    )  # fmt: skip


def _with_unknown(
    rng: np.random.Generator, category: pd.Series, *, exclude: np.ndarray
) -> tuple[np.ndarray, int]:
    """Categories with a few replaced by names outside the taxonomy, and how many."""
    n = max(1, round(_UNKNOWN_SHARE * len(category)))
    rows = rng.choice(np.setdiff1d(np.arange(len(category)), exclude), size=n, replace=False)
    category = category.to_numpy(dtype=object, copy=True)
    category[rows] = np.asarray(UNKNOWN_CATEGORIES)[rng.integers(0, len(UNKNOWN_CATEGORIES), n)]
    return category, n


def _collaboration_areas(rng: np.random.Generator, table: pd.DataFrame) -> np.ndarray:
    """Joint LEAP and Metro Police operations name their area; other rows leave it empty."""
    area = np.full(len(table), "", dtype=object)
    joint = np.flatnonzero(table["agency"].isin(["LEAP", "Metro Police"]).to_numpy())
    chosen = rng.choice(
        joint, size=min(joint.size, round(_JOINT_SHARE * len(table))), replace=False
    )
    area[chosen] = "Joint operations"
    firearms = table["category"].isin(["Shooting incident"]).to_numpy()
    leap = (table["agency"] == "LEAP").to_numpy()
    area[np.intersect1d(chosen, np.flatnonzero(firearms & leap))] = "Gang and firearm violence"
    return area


def _statuses(
    rng: np.random.Generator, table: pd.DataFrame, start: datetime.date, n_days: int
) -> np.ndarray:
    """Older incidents are more often closed; SAPS cases stay under investigation longer."""
    period_end = np.datetime64(start, "s") + np.timedelta64(n_days, "D")
    age_days = (period_end - table["when"].to_numpy()) / np.timedelta64(1, "D")
    closed = rng.random(len(table)) < 0.85 * (1 - np.exp(-age_days / 45))
    saps = (table["agency"] == "SAPS").to_numpy()
    investigating = saps & (rng.random(len(table)) < 0.75)
    return np.where(closed, "closed", np.where(investigating, "under investigation", "open"))


def _format(
    rng: np.random.Generator, table: pd.DataFrame, faulty: np.ndarray
) -> tuple[pd.DataFrame, dict[str, int]]:
    """CSV text columns, incident ids in time order per agency, and the faults written in."""
    n = len(table)
    rhythm_delay = np.asarray([_RHYTHMS[g].delay_minutes for g in table["group"]])
    delay = np.clip(rng.lognormal(np.log(rhythm_delay), 1.0), 1, 72 * 60).round()
    when = table["when"].to_numpy()
    style = rng.choice(3, size=n, p=_TIME_STYLE_P)
    description = "SYNTHETIC: demo record of " + table["category"].str.lower()
    rows = pd.DataFrame(
        {
            "agency": table["agency"].to_numpy(),
            "category": table["category"].to_numpy(),
            "occurred_at": _iso(when, style),
            "lat": np.char.mod("%.6f", table["lat"].to_numpy()),
            "lon": np.char.mod("%.6f", table["lon"].to_numpy()),
            "collaboration_area": table["collaboration_area"].to_numpy(),
            "reported_at": _iso(when + (delay * 60).astype("timedelta64[s]"), style),
            "status": table["status"].to_numpy(),
            "description": description.to_numpy(dtype=object),
            "_when": when,
        }
    )
    kinds = _corrupt(rng, rows, faulty)
    rows = rows.sort_values("_when", kind="stable").drop(columns="_when")
    serial = rows.groupby("agency", sort=False).cumcount() + 1
    prefix = rows["agency"].map(_ID_PREFIX)
    rows.insert(0, "incident_id", prefix + "-" + serial.astype(str).str.zfill(6))
    return rows.reset_index(drop=True), kinds


def _iso(local: np.ndarray, style: np.ndarray) -> np.ndarray:
    """ISO 8601 text: naive local time (0), local with "+02:00" (1), or UTC with "Z" (2)."""
    naive = np.datetime_as_string(local, unit="s")
    utc = np.datetime_as_string(local - UTC_OFFSET, unit="s")
    aware = np.where(style == 1, np.char.add(naive, "+02:00"), np.char.add(utc, "Z"))
    return np.where(style == 0, naive, aware).astype(object)


def _corrupt(rng: np.random.Generator, rows: pd.DataFrame, faulty: np.ndarray) -> dict[str, int]:
    """Write each kind of fault into its share of the chosen rows, in place."""
    kind = np.arange(faulty.size) % len(_FAULTS)
    for k, what in enumerate(_FAULTS):
        idx = faulty[kind == k]
        if what == "empty lat/lon":
            rows.loc[idx, ["lat", "lon"]] = ""
        elif what == "unparseable time":
            rows.loc[idx, "occurred_at"] = "yesterday"
        elif what == "lat/lon swapped":
            rows.loc[idx, ["lat", "lon"]] = rows.loc[idx, ["lon", "lat"]].to_numpy()
        elif what == "null island (0, 0)":
            rows.loc[idx, ["lat", "lon"]] = "0.000000"
        else:
            rows.loc[idx, "lat"] = np.char.mod("%.6f", -26.2041 + rng.normal(0, 0.03, idx.size))
            rows.loc[idx, "lon"] = np.char.mod("%.6f", 28.0473 + rng.normal(0, 0.03, idx.size))
        rows.loc[idx, "description"] = f"SYNTHETIC FAULT: {what}"
    return {what: int((kind == k).sum()) for k, what in enumerate(_FAULTS)}


def _with_updates(rng: np.random.Generator, rows: pd.DataFrame, n: int) -> tuple[pd.DataFrame, int]:
    """Append status updates: a later copy of an open row, same agency and id, newer status.

    The copy is placed at a random later position in its agency's file, as in an extract that
    appends changed records.
    """
    valid = ~rows["description"].str.startswith("SYNTHETIC FAULT")
    candidates = np.flatnonzero((valid & (rows["status"] != "closed")).to_numpy())
    chosen = np.sort(rng.choice(candidates, size=min(n, candidates.size), replace=False))
    updates = rows.iloc[chosen].copy()
    saps_open = (updates["agency"] == "SAPS") & (updates["status"] == "open")
    updates["status"] = np.where(saps_open, "under investigation", "closed")
    order = np.arange(len(rows), dtype=float)
    later = chosen + 0.5 + rng.random(chosen.size) * (len(rows) - 1 - chosen)
    combined = pd.concat([rows, updates], ignore_index=True)
    key = np.concatenate([order, later])
    return combined.iloc[np.argsort(key, kind="stable")].reset_index(drop=True), chosen.size


# --- writing -------------------------------------------------------------------------------


def _write_precincts(frame: gpd.GeoDataFrame, path: Path, *, end: datetime.date) -> Path:
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory() as scratch:
        draft = Path(scratch) / path.name
        pyogrio.write_dataframe(
            frame, draft, layer="precincts", driver="GPKG", promote_to_multi=True,
            layer_options={"IDENTIFIER": "SYNTHETIC demo precincts",
                           "DESCRIPTION": "SYNTHETIC demo data: fictional police precincts"},
        )  # fmt: skip
        _copy_without_history(draft, tmp, last_change=f"{end}T00:00:00.000Z")
    return path


def _copy_without_history(draft: Path, target: Path, *, last_change: str) -> None:
    """Copy GDAL's GeoPackage to ``target`` as bytes that depend on its content alone.

    GDAL stamps ``gpkg_contents.last_change`` with the clock when it creates the table, and
    again, in a transaction of its own, when it closes the file. Pinning the stamp afterwards
    fixes the content but not the SQLite header, which counts the transactions that changed
    the file (bytes 24-27 and 92-95): when both stamps fall in the same millisecond the second
    changes nothing, and the count is one lower. ``VACUUM INTO`` writes a fresh database with
    the same content, whose header does not depend on how GDAL got there.
    """
    with contextlib.closing(sqlite3.connect(draft, isolation_level=None)) as db:
        db.execute("UPDATE gpkg_contents SET last_change = ?", (last_change,))
        db.execute("VACUUM INTO ?", (str(target),))


def _write_wards(frame: gpd.GeoDataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        # The layer name and DESCRIPTION become the top-level "name" and "description" members.
        pyogrio.write_dataframe(
            frame, tmp, layer="SYNTHETIC demo wards", driver="GeoJSON", promote_to_multi=True,
            layer_options={"DESCRIPTION": "SYNTHETIC demo data: fictional wards, not City wards"},
        )  # fmt: skip
    return path


def _write_csv(rows: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False, columns=list(INCIDENT_COLUMNS), lineterminator="\n")
    return path


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def _hotspot_record(hotspot: _Hotspot, start: datetime.date) -> dict[str, object]:
    lon, lat = Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True).transform(
        hotspot.x, hotspot.y
    )
    return {
        "name": hotspot.name,
        "lon": round(float(lon), 6),
        "lat": round(float(lat), 6),
        "radius_m": hotspot.radius_m,
        "start": start + datetime.timedelta(days=hotspot.start_day),
        "categories": tuple(dict.fromkeys(category for _, category in hotspot.theme)),
    }


def _manifest_json(manifest: DemoManifest, n_unknown: int) -> str:
    # File names, not absolute paths: the set can be moved, and two runs stay byte-identical.
    data: dict[str, object] = {
        "synthetic": True,
        "notice": "SYNTHETIC demo data: not real incidents, precincts or wards.",
        "generator": "python -m layers demo (layers.storage.demo.generate_demo)",
        "seed": manifest.seed,
        "start": manifest.start.isoformat(),
        "end": manifest.end.isoformat(),
        "timezone": "Africa/Johannesburg",
        "files": {
            "precincts": manifest.precincts_path.name,
            "wards": manifest.wards_path.name,
            "incidents": {
                a: p.name for a, p in zip(AGENCIES, manifest.incident_paths, strict=True)
            },
        },
        "n_incidents": manifest.n_incidents,
        "n_faulty": manifest.n_faulty,
        "n_updates": manifest.n_updates,
        "n_unknown_category": n_unknown,
        "unknown_categories": list(UNKNOWN_CATEGORIES),
        "fault_counts": manifest.fault_counts,
        "emerging_hotspots": manifest.emerging_hotspots,
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_value) + "\n"


def _json_value(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _notice(manifest: DemoManifest, n_unknown: int) -> str:
    return (
        "SYNTHETIC DEMO DATA - NOT REAL INCIDENTS\n"
        "\n"
        "Every file in this directory is synthetic demo data for the incident-mapping dashboard.\n"
        "The incidents did not happen; the precincts and wards are invented shapes with invented\n"
        "names, not SAPS precincts or City of Cape Town wards. Do not use them for any decision.\n"
        "\n"
        f"Generated by `python -m layers demo` (layers.storage.demo.generate_demo) with seed "
        f"{manifest.seed}.\n"
        f"Period: {manifest.start} to {manifest.end} (Africa/Johannesburg local time).\n"
        f"{manifest.n_incidents} valid incidents, {manifest.n_faulty} deliberately faulty rows "
        f"and {manifest.n_updates} status updates; {n_unknown} valid rows have a category\n"
        "outside the taxonomy. Details, including the emerging hotspots, are in manifest.json.\n"
    )


def build_demo_store(
    store: Path | str, manifest: DemoManifest, *, progress: Progress | None = None
) -> IngestReport:
    """Ingest the demo files into a store, through the same path as user data.

    Parameters
    ----------
    store : path-like
        Store folder to create or update.
    manifest : DemoManifest
        What :func:`generate_demo` wrote.
    progress : callable, optional
        Called with a message and a fraction done.

    Returns
    -------
    IngestReport
    """
    return ingest(
        store,
        list(manifest.incident_paths),
        precincts=manifest.precincts_path,
        wards=manifest.wards_path,
        synthetic=True,
        progress=progress,
    )
