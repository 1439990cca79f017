"""What the dashboard's layers produce for a fixed set of filters and viewers, as plain data.

``tests/test_golden.py`` compares it with ``tests/golden/expected.json``, recorded by the code
as it was before the house refactor (issue 15) moved anything (commit 52f67d2; the public
viewer and the stricter agency were added later, recorded by running that same commit): map
data, figures, CompStat tables and hotspot exports, as an analyst, as agencies under the
default and stricter rules, as a public viewer and from the published site, must come out the
same after it.

Large tables are recorded as a row count and a SHA-256 of their canonical JSON (floats to
nine significant digits); small ones in full, so that a difference reads plainly (a map's
area counts in full for its first view, by digest for the views that repeat them).

Re-record (only when a change of behaviour is intended, and say so in the commit)::

    .venv/bin/python -m tests.golden tests/golden/expected.json
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.analysis import compstat
from layers.analysis.figures import heat_figure, review_figures, side_figures, side_view
from layers.analysis.study import HotspotParams, run_hotspots
from layers.maps.hotspot_export import export_hotspots, hotspot_provenance
from layers.maps.view import prepare_map
from layers.publishing.public import month_run, public_figures, store_site
from layers.storage.columnar import select
from layers.storage.filters import IncidentFilter
from layers.storage.store import StoreSnapshot, open_store

INCIDENTS = 3000
TODAY = date(2026, 10, 31)  # the demo's last day
RULES = PrivacyRules()
# Stricter rules for one agency: partners' incidents only in precincts and coarser, sensitive
# ones only city-wide, and k of 5.
STRICT = PrivacyRules(k=5, partner_level="precinct", sensitive_level="city")
VIEWERS = {
    "analyst": (Viewer("golden analyst", "analyst"), RULES),
    "agency": (Viewer("golden agency", "agency", "SAPS"), RULES),
    "public": (Viewer("golden public", "public"), RULES),
    "strict agency": (Viewer("golden strict agency", "agency", "Metro Police"), STRICT),
}
ZOOMS = (11, 14)
BOUNDS = (18.40, -34.05, 18.60, -33.90)


def filters(snapshot: StoreSnapshot) -> dict[str, IncidentFilter]:
    """The fixed filters, named; areas are picked from the store by rank, not by name."""
    columns = snapshot.columns
    precinct = _busiest(columns, "precinct")
    ward = _busiest(columns, "ward")
    categories = tuple(columns.labels["category"][:3])
    return {
        "all": IncidentFilter(),
        "saps_year": IncidentFilter(agencies=("SAPS",), since=date(2025, 11, 1), until=TODAY),
        "categories": IncidentFilter(categories=categories),
        "precinct": IncidentFilter(precincts=(precinct,)),
        "ward_night": IncidentFilter(wards=(ward,), hours=(22, 4)),
        "metro_quarter": IncidentFilter(
            agencies=("Metro Police", "Law Enforcement"), since=date(2026, 8, 1), until=TODAY
        ),
    }


def _busiest(columns, by: str) -> str:
    codes = columns.codes[by]
    counts = np.bincount(codes[codes >= 0], minlength=len(columns.labels[by]))
    return columns.labels[by][int(np.argmax(counts))]


def _round(value: object) -> object:
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "NaN"
        return float(f"{value:.9g}")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    if isinstance(value, date | pd.Timestamp):
        return str(value)
    if value is None or isinstance(value, str | int | bool):
        return value
    if pd.isna(value):
        return "NaN"
    return str(value)


def table(frame: pd.DataFrame, *, full: bool = False) -> object:
    """A table as rows of rounded values (``full``) or its size and digest."""
    frame = pd.DataFrame(frame)
    if isinstance(frame, gpd.GeoDataFrame):
        frame = pd.DataFrame(frame.assign(geometry=frame.geometry.to_wkt(rounding_precision=6)))
    rows = {
        "columns": [str(c) for c in frame.columns],
        "index": _round(list(frame.index)),
        "rows": _round(frame.astype(object).to_numpy().tolist()),
        "attrs": _round({k: v for k, v in frame.attrs.items() if _plain(v)}),
    }
    if full:
        return rows
    text = json.dumps(rows, sort_keys=True)
    return {"n": len(frame), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _plain(value: object) -> bool:
    return isinstance(value, int | float | str | bool | np.integer | np.floating)


def map_record(snapshot: StoreSnapshot, flt: IncidentFilter, policy: Policy) -> dict:
    out = {}
    for boundary in ("precinct", "ward"):
        for zoom in ZOOMS:
            for bounds in (None, BOUNDS):
                data = prepare_map(snapshot, flt, boundary=boundary, zoom=zoom, bounds=bounds,
                                   policy=policy)  # fmt: skip
                areas = pd.DataFrame(data.areas.drop(columns="geometry"))
                out[f"{boundary} z{zoom} {'box' if bounds else 'all'}"] = {
                    "areas": table(areas, full=(zoom, bounds) == (ZOOMS[0], None)),
                    "heat": table(data.heat),
                    "heat_scale": _round(data.heat_scale),
                    "heat_radius": data.heat_radius,
                    "center": _round(data.center),
                    "zoom": data.zoom,
                    "incidents": data.incidents,
                }
    mask = select(snapshot.columns, flt) if not flt.is_empty else None
    sight = apply_policy(policy, snapshot.columns, mask, flt)
    recent = disclose({"recent": heat_figure(sight, zoom=13, cell_px=16)}, sight.k)["recent"]
    out["recent cells z13"] = table(recent)
    return out


def figures_record(snapshot: StoreSnapshot, flt: IncidentFilter, policy: Policy) -> dict:
    columns = snapshot.columns
    mask = select(columns, flt) if not flt.is_empty else None
    out = {}
    for boundary in ("precinct", "ward"):
        sight = apply_policy(policy, columns, mask, flt)
        shown = disclose(side_figures(sight, boundary=boundary), sight.k)
        figures = side_view(shown, boundary=boundary)
        out[boundary] = {
            "headline": _round(figures["headline"]),
            "hidden": figures["hidden"],
            "top": table(figures["top"], full=True),
            "weekly": table(figures["weekly"]),
        }
    return out


def compstat_record(snapshot: StoreSnapshot, flt: IncidentFilter, policy: Policy) -> dict:
    columns = snapshot.columns
    undated = IncidentFilter(**{**flt.__dict__, "since": None, "until": None})
    mask = None if undated.is_empty else select(columns, undated)
    day = compstat.default_reference_day(columns, TODAY)
    out = {}
    for by in ("precinct", "ward", "agency", "collaboration_area"):
        sight = apply_policy(policy, columns, mask, flt)
        shown = disclose(review_figures(sight, by=by, today=day), sight.k)
        review, grid, weekly = shown["table"], shown["grid"], shown["weekly"]
        out[by] = {
            "table": table(review, full=by == "agency"),
            "csv_sha256": hashlib.sha256(compstat.to_csv(review).encode()).hexdigest(),
            "grid": table(grid),
            "weekly": table(weekly),
        }
    return out


def hotspot_record(snapshot: StoreSnapshot, flt: IncidentFilter, policy: Policy) -> dict:
    out = {}
    for method in ("gistar", "emerging"):
        params = HotspotParams(method=method, cell_m=500)
        mask = None if flt.is_empty else select(snapshot.columns, flt)
        sight = apply_policy(policy, snapshot.columns, mask, flt)
        result = run_hotspots(snapshot, flt, params, sight=sight)
        provenance = {
            **hotspot_provenance(result, snapshot, flt),
            "exported_at": "fixed",
            "store_version": "fixed",
        }
        with tempfile.TemporaryDirectory() as folder:
            path = export_hotspots(result.layer, Path(folder) / "hotspots.geojson",
                                   provenance=provenance)  # fmt: skip
            exported = path.read_bytes()
        out[params.method] = {
            "layer": table(result.layer),
            "by_area": table(result.by_area),
            "incidents": result.incidents,
            "period": result.period,
            "explanation": result.explanation,
            "parameters": _round(result.parameters),
            "geojson_sha256": hashlib.sha256(exported).hexdigest(),
        }
    return out


def public_record(snapshot: StoreSnapshot, site_dir: Path) -> dict:
    site = store_site(snapshot, RULES, publish_to=site_dir)
    months = site.months
    precinct = _busiest(snapshot.columns, "precinct")
    out = {"months": months, "groups": site.groups}
    runs = {"last": month_run(site, months[-1]), "last3": month_run(site, months[-3], months[-1])}
    for run_name, run in runs.items():
        for group in site.groups[:3]:
            for area in (None, precinct):
                figures = public_figures(site, run, group, area)
                out[f"{run_name} {group} {area or 'all'}"] = {
                    "total": _round(figures.total),
                    "total_partial": figures.total_partial,
                    "areas": table(figures.areas, full=True),
                    "cells": table(figures.cells),
                }
    return out


def record(store: Path, work: Path) -> dict:
    """Every output above, for every filter and viewer."""
    snapshot = open_store(store)
    out: dict[str, object] = {"incidents": len(snapshot.columns)}
    for flt_name, flt in filters(snapshot).items():
        for role, (viewer, rules) in VIEWERS.items():
            policy = Policy(viewer, rules)
            out[f"{flt_name} / {role}"] = {
                "map": map_record(snapshot, flt, policy),
                "figures": figures_record(snapshot, flt, policy),
                "compstat": compstat_record(snapshot, flt, policy),
            }
    for flt_name in ("all", "precinct"):
        flt = filters(snapshot)[flt_name]
        for role, (viewer, rules) in VIEWERS.items():
            out[f"hotspots {flt_name} / {role}"] = hotspot_record(
                snapshot, flt, Policy(viewer, rules)
            )
    out["public"] = public_record(snapshot, work / "public-site")
    return out


def build_store(folder: Path) -> Path:
    from layers.storage.demo import build_demo_store, generate_demo

    build_demo_store(folder / "store", generate_demo(folder / "files", incidents=INCIDENTS))
    return folder / "store"


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        result = record(build_store(Path(tmp)), Path(tmp))
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {target} ({target.stat().st_size:,} bytes)")
