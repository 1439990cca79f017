"""Ingest throughput on the demo data: the project against a naive baseline, in one run.

    .venv/bin/python bench/ingest.py [--incidents 50000] [--repeat 3]

The baseline is what a notebook would do: read each CSV with pandas, build points, and
``geopandas.sjoin`` them to precincts and to wards, then write GeoParquet. It validates
nothing and tracks no rejects, so it is a floor for the cost of the join, not a like-for-like
pipeline. Prints a table and writes it to bench/results/ingest.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import RESULTS, timed

from layers.storage.demo import build_demo_store, generate_demo


def naive_boundaries(manifest) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The demo's precinct and ward layers, as read with geopandas (name and geometry)."""
    precincts = gpd.read_file(manifest.precincts_path)[["precinct_name", "geometry"]]
    wards = gpd.read_file(manifest.wards_path)[["ward_name", "geometry"]]
    return precincts, wards


def naive_points(manifest) -> gpd.GeoDataFrame:
    """Every incident CSV read with pandas, rows without coordinates dropped, as points."""
    frames = [pd.read_csv(p) for p in manifest.incident_paths]
    rows = pd.concat(frames, ignore_index=True).dropna(subset=["lat", "lon"])
    return gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy(rows.lon, rows.lat), crs=4326)


def naive_join(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, how: str = "left"):
    """``geopandas.sjoin`` of points to areas (points within), without the index column."""
    return gpd.sjoin(points, areas, how=how, predicate="within").drop(columns="index_right")


def naive_ingest(manifest, out: Path) -> int:
    precincts, wards = naive_boundaries(manifest)
    points = naive_points(manifest)
    joined = naive_join(naive_join(points, precincts), wards)
    joined.to_parquet(out)
    return len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest = generate_demo(tmp / "demo", incidents=args.incidents)
        rows = sum(len(pd.read_csv(p)) for p in manifest.incident_paths)
        counter = iter(range(10_000))
        project = timed(
            lambda: build_demo_store(tmp / f"store{next(counter)}", manifest), args.repeat
        )
        baseline = timed(lambda: naive_ingest(manifest, tmp / "naive.parquet"), args.repeat)
    table = pd.DataFrame(
        [
            {"pipeline": "project (validate, join both, store)", "rows": rows, "seconds": project},
            {"pipeline": "naive (read, sjoin both, parquet)", "rows": rows, "seconds": baseline},
        ]
    )
    table["rows_per_s"] = (table["rows"] / table["seconds"]).round(0)
    table["seconds"] = table["seconds"].round(3)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "ingest.csv", index=False)
    print(table.to_string(index=False))
    print(f"project / naive time ratio: {project / baseline:.2f} (below 1 = project faster)")


if __name__ == "__main__":
    main()
