"""Time playback speed: a playback step at 1 M incidents, against a naive baseline.

    .venv/bin/python bench/playback.py [--incidents 1000000] [--work DIR] [--keep]
        [--frames 20] [--zoom 11]

Target (issue 18, item 4): at 1 M incidents each playback step answers within 0.5 s. The demo
store (``layers.storage.demo``, two years) is played back over its whole range, week by week
(105 frames) and month by month (24), as an analyst and as an agency (``agency:SAPS``, whose
figures are suppressed), at the map's opening zoom. In the same run:

- project, cold: the first step of a new playback (new data version, filter, role, range or
  step): the access step, the range put in frame order (``timeline``), the histogram, the
  colour scale over every frame at the zoom (``playback_scale``), the first frame's figures
  and heat (``prepare_frame``) and its map layers rendered as the page sends them;
- project, warm: each later step: ``prepare_frame`` and the layers, for ``--frames`` frames
  (median and slowest);
- baseline: per step, what a straightforward pandas page would do: from the incidents read
  once into a DataFrame (local time, agency, category, precinct, position), keep the frame's
  rows with a date comparison, count them per precinct with ``groupby``, make heat cells with
  ``groupby`` on the floored pixel position (for the agency: own rows in fine cells, others'
  on the anonymous grid with small cells dropped, sensitive categories left out, area counts
  suppressed with the project's own ``suppress``), no layers rendered. Its answers are checked
  against the project's.

Stores live in ``--work`` (``demo-<size>``, ``store-<size>``, as bench/run.py names them);
``--keep`` reuses them. Prints a table and writes bench/results/playback.csv.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import folium
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import RESULTS

from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.access.sight import apply_policy, sensitive_rows
from layers.access.suppression import disclose, suppress
from layers.analysis.playback import histogram_figure, timeline
from layers.maps.playback import histogram_table, playback_scale, prepare_frame
from layers.maps.webmap import live_base_map, map_layers
from layers.settings import LOCAL_TZ
from layers.storage.columnar import (
    HEAT_CELL_PX,
    day_span,
    fit_zoom,
    mercator_pixels,
    robust_extent,
)
from layers.storage.demo import build_demo_store, generate_demo, load_manifest
from layers.storage.filters import IncidentFilter
from layers.storage.store import current_version, open_store

TARGET_S = 0.5
ROLES = {"analyst": Policy(Viewer("bench", "analyst")),
         "agency:SAPS": Policy(Viewer("bench", "agency", agency="SAPS"))}  # fmt: skip


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def size_label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


def store_of(n: int, work: Path, keep: bool) -> Path:
    """The demo store of ``n`` incidents in ``work``, made unless ``keep`` finds it."""
    label = size_label(n)
    demo, store = work / f"demo-{label}", work / f"store-{label}"
    kept = keep and (demo / "manifest.json").is_file() and current_version(store) is not None
    if kept and load_manifest(demo).n_incidents == n:
        say(f"reusing {store}")
        return store
    shutil.rmtree(demo, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    say(f"generating {n:,} demo incidents and their store")
    build_demo_store(store, generate_demo(demo, incidents=n))
    return store


def render_layers(snapshot, shown, scale) -> None:
    """A frame's layers on the base map, rendered as the page sends them."""
    base = live_base_map(snapshot.precincts, synthetic=snapshot.synthetic)
    groups = map_layers(
        shown.areas, shown.heat, area_label="Precinct", style="outline", zoom=shown.zoom,
        heat_scale=scale.top, heat_radius=scale.radius,
    )  # fmt: skip
    for group in groups:
        group.add_to(base)
    folium.LayerControl().add_to(base)
    base.get_root().render()


# --- the baseline ------------------------------------------------------------------------------


def naive_frame(
    raw: pd.DataFrame, start: date, end: date, *, zoom: int, role: str, names: list[str],
    rules: PrivacyRules,
) -> tuple[pd.Series, pd.DataFrame]:  # fmt: skip
    """One step, the pandas way: the frame's rows by date, counts per precinct, heat cells."""
    lo = pd.Timestamp(start).tz_localize(LOCAL_TZ)
    hi = pd.Timestamp(end + timedelta(days=1)).tz_localize(LOCAL_TZ)
    rows = raw[(raw["occurred_at"] >= lo) & (raw["occurred_at"] < hi)]
    scale = 2.0**zoom / HEAT_CELL_PX
    if role == "analyst":
        areas = rows.groupby("precinct", observed=False).size().reindex(names, fill_value=0)
        cells = rows.assign(ix=(rows["px"] * scale).astype(np.int64),
                            iy=(rows["py"] * scale).astype(np.int64))  # fmt: skip
        heat = cells.groupby(["ix", "iy"]).size().rename("weight").reset_index()
        return areas.astype(float), heat
    own = rows["agency"] == role.split(":", 1)[1]
    sensitive = rows["sensitive"]
    areas = rows.groupby("precinct", observed=False).size().reindex(names, fill_value=0)
    others = rows[~own].groupby("precinct", observed=False).size().reindex(names, fill_value=0)
    shown = suppress(areas, rules.k, others=others)
    fine = rows[own].assign(ix=(rows.loc[own, "px"] * scale).astype(np.int64),
                            iy=(rows.loc[own, "py"] * scale).astype(np.int64))  # fmt: skip
    # Others' cells: the anonymous grid, or the heat's own cells where those are coarser.
    anonymous = 2.0**zoom / max(HEAT_CELL_PX, 2.0 ** (zoom - rules.anonymous_shift))
    coarse = rows[~own & ~sensitive]
    coarse = coarse.assign(ix=(coarse["px"] * anonymous).astype(np.int64),
                           iy=(coarse["py"] * anonymous).astype(np.int64))  # fmt: skip
    fine_cells = fine.groupby(["ix", "iy"]).size().rename("weight").reset_index()
    coarse_cells = coarse.groupby(["ix", "iy"]).size().rename("weight").reset_index()
    coarse_cells = coarse_cells[coarse_cells["weight"] >= rules.k]
    return shown, pd.concat([fine_cells, coarse_cells], ignore_index=True)


def naive_incidents(snapshot) -> pd.DataFrame:
    """The incidents as a plain DataFrame, read once (not counted in a step)."""
    raw = snapshot.incidents
    px, py = mercator_pixels(raw["lon"].to_numpy(float), raw["lat"].to_numpy(float), 0)
    return pd.DataFrame({
        "occurred_at": raw["occurred_at"].dt.tz_convert(LOCAL_TZ),
        "agency": raw["agency"].astype(str),
        "precinct": raw["precinct"].astype(str),
        "sensitive": sensitive_rows(snapshot.columns, PrivacyRules()),
        "px": px, "py": py,
    })  # fmt: skip


# --- the measures ------------------------------------------------------------------------------


def measure(snapshot, raw: pd.DataFrame, role: str, step: str, *, zoom: int,
            n_frames: int) -> list[dict]:  # fmt: skip
    policy = ROLES[role]
    columns = snapshot.columns
    first, last = day_span(columns)
    flt = IncidentFilter()
    names = list(snapshot.precincts["name"])
    rows: list[dict] = []

    def row(measure: str, project: tuple[float, float],
            baseline: tuple[float, float] | None = None, note: str = "") -> None:  # fmt: skip
        rows.append({"role": role, "step": step, "measure": measure,
                     "project_s": round(project[0], 4), "project_cpu_s": round(project[1], 4),
                     "baseline_s": None if baseline is None else round(baseline[0], 4),
                     "baseline_cpu_s": None if baseline is None else round(baseline[1], 4),
                     "ratio": None if baseline is None else round(baseline[0] / project[0], 1),
                     "target_s": TARGET_S, "note": note})  # fmt: skip

    say(f"{role}, {step}: cold step")
    parts = {}
    start = mark = clock()
    sight = apply_policy(policy, columns, None, flt)
    parts["access step"], mark = since(mark), clock()
    line = timeline(sight, first=first, last=last, step=step)  # type: ignore[arg-type]
    parts["timeline"], mark = since(mark), clock()
    histogram_table(line, disclose({"h": histogram_figure(line)}, sight.k)["h"])
    parts["histogram"], mark = since(mark), clock()
    scale = playback_scale(line, zoom=zoom)
    parts["colour scale"], mark = since(mark), clock()
    shown = prepare_frame(snapshot, line, 0, boundary="precinct", zoom=zoom)
    parts["first frame"], mark = since(mark), clock()
    render_layers(snapshot, shown, scale)
    parts["layers"] = since(mark)
    cold = since(start)
    breakdown = ", ".join(f"{k} {v[0]:.3f}" for k, v in parts.items())
    row("cold step (a new playback's first frame)", cold, note=f"{len(line)} frames; {breakdown}")

    picks = np.linspace(1, len(line) - 1, min(n_frames, len(line) - 1)).round().astype(int)
    data_s, full_s, naive_s = [], [], []
    rules = policy.rules
    for index in picks:
        mark = clock()
        shown = prepare_frame(snapshot, line, int(index), boundary="precinct", zoom=zoom)
        data_s.append(since(mark))
        render_layers(snapshot, shown, scale)
        full_s.append(since(mark))
        frame = line.frames[int(index)]
        mark = clock()
        areas, heat = naive_frame(raw, frame.start, frame.end, zoom=zoom, role=role,
                                  names=names, rules=rules)  # fmt: skip
        naive_s.append(since(mark))
        # The same answer: counts per precinct and incidents in the heat.
        ours = shown.areas.set_index("name")["count"]
        pd.testing.assert_series_equal(
            ours.reindex(names).rename(None), areas.rename(None), check_names=False,
            check_index_type=False, check_dtype=False,
        )  # fmt: skip
        assert int(shown.heat["weight"].sum()) == int(heat["weight"].sum()), (role, index)

    def p(values: list[tuple[float, float]], q: str) -> tuple[float, float]:
        pick = statistics.median if q == "median" else max
        return pick(v[0] for v in values), pick(v[1] for v in values)

    for q in ("median", "slowest"):
        row(f"warm step, figures and heat ({q})", p(data_s, q), p(naive_s, q),
            note=f"{len(picks)} frames")  # fmt: skip
        row(f"warm step, with the map layers rendered ({q})", p(full_s, q),
            note="what the page sends; the baseline renders none")  # fmt: skip
    return rows


def clock() -> tuple[float, float]:
    """Wall and CPU time now: the CPU time says what the step costs on a busy machine."""
    return time.perf_counter(), time.process_time()


def since(mark: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - mark[0], cpu - mark[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, help="folder for the demo and its store")
    parser.add_argument("--keep", action="store_true", help="reuse the store in --work")
    parser.add_argument("--frames", type=int, default=20, help="warm frames timed per playback")
    parser.add_argument("--zoom", type=int, default=None,
                        help="map zoom (default: the zoom the map opens at)")  # fmt: skip
    args = parser.parse_args()
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="bench-playback-")) if temporary else args.work
    work.mkdir(parents=True, exist_ok=True)
    try:
        store = store_of(args.incidents, work, args.keep)
        say("opening the store")
        snapshot = open_store(store)
        zoom = args.zoom or fit_zoom(robust_extent(snapshot.columns))
        say("baseline: reading the incidents into a DataFrame (not counted in a step)")
        raw = naive_incidents(snapshot)
        rows = []
        for role in ROLES:
            for step in ("week", "month"):
                rows += measure(snapshot, raw, role, step, zoom=zoom, n_frames=args.frames)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "playback.csv", index=False)
    print(f"\nPlayback at {args.incidents:,} incidents, zoom {zoom} (seconds; ratio = "
          f"baseline / project; target {TARGET_S} s a step)\n")  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_colwidth", 120):
        print(table.drop(columns=["target_s"]).to_string(index=False))
    warm = table[table["measure"].str.startswith("warm step, with")]
    cold = table[table["measure"].str.startswith("cold")]
    print(f"\nSlowest warm step, layers included: {warm['project_s'].max():.3f} s "
          f"({warm['project_cpu_s'].max():.3f} s CPU); slowest cold step: "
          f"{cold['project_s'].max():.3f} s ({cold['project_cpu_s'].max():.3f} s CPU); "
          f"target {TARGET_S} s. Load average when done: {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores.")  # fmt: skip


if __name__ == "__main__":
    main()
