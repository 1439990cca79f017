"""Hotspot speed: Gi* on ~40,000 cells, and the whole hotspot export of a 1 M-incident store.

    .venv/bin/python bench/hotspots.py [--incidents 1000000] [--repeat 3]

Targets (issue 3): Gi* on 40,000 cells (Cape Town at 250 m) in at most 2 s; the whole hotspot
export of a 1 M-incident store in at most 10 s. Each is measured against a naive baseline in
the same run:

- Gi*: the textbook route, queen contiguity weights built from the cell polygons
  (``libpysal.weights.Queen.from_dataframe``) and ``esda.G_Local`` with its default 999
  permutations;
- export: points joined to the cells with ``geopandas.sjoin``, counted with ``groupby``, the
  same naive Gi*, and a Shapefile written with ``to_file``.

Prints a table and writes bench/results/hotspots.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import RESULTS, timed

from layers.analysis.grid import assign_cells, cell_counts, make_grid
from layers.analysis.hotspots import gi_star
from layers.analysis.study import HotspotParams, run_hotspots, study_area
from layers.maps.hotspot_export import export_hotspots, hotspot_provenance
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store


def naive_gi(cells: gpd.GeoDataFrame, counts: np.ndarray) -> np.ndarray:
    import esda
    from libpysal.weights import Queen

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = Queen.from_dataframe(cells, use_index=False)
        return esda.G_Local(counts.astype(float), w, star=True).Zs


def naive_export(snapshot, cell_m: float, out: Path) -> None:
    area = study_area(snapshot)
    grid = make_grid(area, cell_m=cell_m)
    cells = grid.cells[["cell_id", "geometry"]]
    points = snapshot.incidents[["geometry"]].to_crs(cells.crs)
    joined = gpd.sjoin(points, cells, how="inner", predicate="within")
    counts = joined.groupby("cell_id").size().reindex(cells["cell_id"], fill_value=0).to_numpy()
    layer = cells.assign(count=counts, gi_z=naive_gi(cells, counts))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer.to_file(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-naive-export", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        manifest = generate_demo(tmp / "demo", incidents=args.incidents)
        build_demo_store(tmp / "store", manifest)
        print(f"built a {args.incidents:,}-incident demo store in "
              f"{time.perf_counter() - start:.1f} s", file=sys.stderr)  # fmt: skip
        snapshot = open_store(tmp / "store")
        area = study_area(snapshot)
        # A cell size giving about 40,000 cells over the demo's metro-sized area.
        cell_m = float(np.sqrt(area.to_crs(32734).area.sum() / 40_000 / (np.sqrt(3) / 2)))
        grid = make_grid(area, cell_m=cell_m)
        ids = assign_cells(grid, snapshot.incidents["lon"].to_numpy(),
                           snapshot.incidents["lat"].to_numpy())  # fmt: skip
        counts = cell_counts(grid, ids)
        project = timed(lambda: gi_star(grid, counts), args.repeat)
        naive = timed(lambda: naive_gi(grid.cells, counts), 1)
        rows.append({"measure": f"Gi* on {grid.n_cells:,} cells ({cell_m:.0f} m hexes)",
                     "project_s": project, "naive_s": naive, "target_s": 2.0})  # fmt: skip

        def export(method: str, out: Path) -> None:
            result = run_hotspots(snapshot, IncidentFilter(), HotspotParams(method=method))
            export_hotspots(result.layer, out, provenance=hotspot_provenance(
                result, snapshot, IncidentFilter()))  # fmt: skip

        for method in ("gistar", "kde", "emerging"):
            seconds = timed(lambda m=method: export(m, tmp / f"{m}.zip"), args.repeat)
            naive_s = np.nan
            if method == "gistar" and not args.skip_naive_export:
                naive_s = timed(lambda: naive_export(snapshot, 250.0, tmp / "naive.shp"), 1)
            rows.append({"measure": f"hotspot export, {method}, {args.incidents:,} incidents "
                                    "(default cell size, zipped Shapefile)",
                         "project_s": seconds, "naive_s": naive_s, "target_s": 10.0})  # fmt: skip
    table = pd.DataFrame(rows)
    table["speedup"] = (table["naive_s"] / table["project_s"]).round(1)
    table["met"] = table["project_s"] <= table["target_s"]
    table[["project_s", "naive_s"]] = table[["project_s", "naive_s"]].round(3)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "hotspots.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
