"""What protecting victims costs: a public viewer's map and figures against an analyst's.

    .venv/bin/python bench/privacy.py [--size 1m] [--work DIR] [--keep] [--repeat 3]

On a demo store of ``--size`` incidents (made in ``--work``, reused with ``--keep``), for
each of bench/run.py's twelve typical filter changes, at the zoom that fits the city and
zoomed in (zoom 15 on the busiest place, cells for the view only), times:

- baseline, the analyst: ``prepare_map`` and the figures beside the map
  (``side_figures`` with no policy: headline, top areas, weekly counts);
- project, the public: the same with the public policy, which adds the anonymous grid,
  k-suppression with its cover, and sensitive categories kept to precincts.

Prints p50/p95 of each and the ratio, and writes bench/results/privacy.csv.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from run import parse_size, size_label, typical_filters
from timing import RESULTS

from layers.access.policy import Policy, Viewer
from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.analysis.figures import side_figures, side_view
from layers.maps.view import prepare_map
from layers.storage import columnar
from layers.storage.demo import build_demo_store, generate_demo
from layers.storage.store import current_version, open_store

PUBLIC = Policy(Viewer("public", "public"))


def store_of(n: int, work: Path, keep: bool) -> Path:
    store = work / f"store-{size_label(n)}"
    if keep and current_version(store):
        return store
    manifest = generate_demo(work / f"demo-{size_label(n)}", incidents=n)
    build_demo_store(store, manifest)
    return store


def one_view(snapshot, flt, policy, view) -> float:
    zoom, bounds = view
    start = time.perf_counter()
    columns = snapshot.columns
    mask = None if flt.is_empty else columnar.select(columns, flt)
    prepare_map(snapshot, flt, boundary="precinct", zoom=zoom, bounds=bounds, mask=mask,
                policy=policy)  # fmt: skip
    sight = apply_policy(policy, columns, mask, flt)
    side_view(disclose(side_figures(sight, boundary="precinct"), sight.k), boundary="precinct")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1m")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = parse_size(args.size)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    snapshot = open_store(store_of(n, work, args.keep))
    columns = snapshot.columns
    lon = np.median(snapshot.incidents["lon"]) if n <= 2_000_000 else 18.6
    lat = np.median(snapshot.incidents["lat"]) if n <= 2_000_000 else -33.95
    views = {"fit": (None, None), "zoom 15": (15, (lon - 0.03, lat - 0.02, lon + 0.03, lat + 0.02))}
    rows = []
    for name, flt in typical_filters(columns):
        for view_name, view in views.items():
            for who, policy in (("analyst", None), ("public", PUBLIC)):
                times = [one_view(snapshot, flt, policy, view) for _ in range(args.repeat)]
                rows.append({"filter": name, "view": view_name, "who": who,
                             "seconds": statistics.median(times)})  # fmt: skip
    table = pd.DataFrame(rows)
    summary = table.groupby(["view", "who"])["seconds"].agg(
        p50="median", p95=lambda s: float(np.percentile(s, 95))
    )
    print(f"{n:,} incidents, {len(typical_filters(columns))} filter changes, "
          f"median of {args.repeat} runs each")  # fmt: skip
    print(summary.round(4).to_string())
    for view_name in views:
        ratio = (
            summary.loc[(view_name, "public"), "p50"] / summary.loc[(view_name, "analyst"), "p50"]
        )
        print(f"{view_name}: public p50 / analyst p50 = {ratio:.2f}")
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "privacy.csv", index=False)


if __name__ == "__main__":
    main()
