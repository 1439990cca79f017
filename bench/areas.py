"""Counts inside an area at scale: the project against a naive geopandas baseline.

    .venv/bin/python bench/areas.py [--size 1m] [--work DIR] [--keep] [--repeat 3]

On a demo store of ``--size`` incidents (made in ``--work``, reused with ``--keep``), for
buffers of 300 m, 1 km, 3 km and 10 km around the busiest place and a drawn polygon of a few
km there, times (median of ``--repeat`` runs each):

- baseline: the store's incidents as a GeoDataFrame (read once, not timed), then per area a
  ``geopandas.sjoin`` (``predicate="within"``) of the points with the area and counts by
  category and by agency (``value_counts``), as a notebook would do it;
- project, analyst: :func:`layers.analysis.areas.area_figures` and ``disclose`` on the coded
  columns (a bounding-box cut, then ``shapely.contains_xy``), the figures the page shows;
- project, agency (SAPS): the same through the access step: its own incidents by point,
  the others in whole anonymous cells and precincts, suppressed.

The analyst's counts are checked equal to the baseline's before anything is timed. Prints a
table with the ratios and writes bench/results/areas.csv.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from privacy import store_of
from run import parse_size
from timing import RESULTS, timed

from layers.access.policy import Policy, Viewer
from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.analysis.areas import Area, area_figures, buffer_area, drawn_area
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store

ANALYST = Policy(Viewer("analyst", "analyst"))
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))


def areas_around(lat: float, lon: float) -> dict[str, Area]:
    ring = [[lon - 0.03, lat - 0.02], [lon + 0.025, lat - 0.025], [lon + 0.035, lat + 0.01],
            [lon, lat + 0.03], [lon - 0.02, lat + 0.012], [lon - 0.03, lat - 0.02]]  # fmt: skip
    drawn = drawn_area([{"type": "Polygon", "coordinates": [ring]}])
    buffers = {f"buffer {r:,} m": buffer_area(lat, lon, r) for r in (300, 1000, 3000, 10_000)}
    return {**buffers, "drawn polygon": drawn}


def naive_counts(points: gpd.GeoDataFrame, area: Area) -> tuple[int, pd.Series, pd.Series]:
    frame = gpd.GeoDataFrame(geometry=[area.geometry], crs=points.crs)
    inside = gpd.sjoin(points, frame, predicate="within")
    by_category = inside["category"].astype(str).value_counts()
    by_agency = inside["agency"].astype(str).value_counts()
    return len(inside), by_category, by_agency


def project_counts(snapshot, policy: Policy, area: Area) -> dict:
    sight = apply_policy(policy, snapshot.columns, None, IncidentFilter())
    boundaries = {"precinct": snapshot.precincts, "ward": snapshot.wards}
    return disclose(area_figures(sight, area, boundaries=boundaries), sight.k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1m")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = parse_size(args.size)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-areas-"))
    snapshot = open_store(store_of(n, work, args.keep))
    points = snapshot.incidents[["category", "agency", "geometry"]]
    codes = snapshot.columns.codes["precinct"]
    busiest = np.flatnonzero(codes == np.argmax(np.bincount(codes[codes >= 0])))
    lat = float(snapshot.incidents["lat"].iloc[busiest].median())
    lon = float(snapshot.incidents["lon"].iloc[busiest].median())
    rows = []
    for name, area in areas_around(lat, lon).items():
        total, by_category, by_agency = naive_counts(points, area)
        shown = project_counts(snapshot, ANALYST, area)
        assert shown["total"] == total, (name, shown["total"], total)
        categories = shown["categories"][shown["categories"] > 0]
        assert (
            categories.sort_index().to_dict() == by_category[by_category > 0].sort_index().to_dict()
        )
        agencies = shown["agencies"].iloc[0]
        assert agencies[agencies > 0].to_dict() == by_agency[by_agency > 0].to_dict()
        baseline = timed(lambda area=area: naive_counts(points, area), args.repeat)
        analyst = timed(lambda area=area: project_counts(snapshot, ANALYST, area), args.repeat)
        agency = timed(lambda area=area: project_counts(snapshot, SAPS, area), args.repeat)
        rows.append({"size": n, "area": name, "inside": total, "baseline_s": baseline,
                     "analyst_s": analyst, "agency_s": agency,
                     "baseline_over_analyst": baseline / analyst,
                     "baseline_over_agency": baseline / agency})  # fmt: skip
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "areas.csv", index=False)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.4f}".format):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
