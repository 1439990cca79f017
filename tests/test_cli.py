"""The command line, run as users run it: ``python -m layers ...`` in a subprocess."""

from __future__ import annotations

import re
import stat
import subprocess
import sys

import pandas as pd
from conftest import ROOT, incident_rows, write_csv

from layers.storage.store import open_store


def layers(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layers", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_demo_then_map_writes_a_self_contained_html(tmp_path):
    demo = layers("demo", "--out", tmp_path / "demo", "--incidents", "2000",
                  "--store", tmp_path / "store")  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    assert "SYNTHETIC" in demo.stdout
    assert "new 2,000" in demo.stdout
    out = tmp_path / "map.html"
    result = layers("map", "--store", tmp_path / "store", "--out", out, "--agency", "SAPS",
                    "--boundary", "ward", "--style", "choropleth")  # fmt: skip
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "<script src=" not in html and 'rel="stylesheet" href=' not in html
    assert "= L.incidentHeat(" in html and "Incidents per km" in html
    assert "SYNTHETIC DEMO DATA" in html
    sources = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert sources == [] or all("leafletjs.com" in s for s in sources), sources
    assert stat.S_IMODE(out.stat().st_mode) & stat.S_IROTH  # shareable, not 0600


def test_ingest_prints_summary_and_writes_rejects(tmp_path, boundary_files):
    p, w = boundary_files
    rows = incident_rows(lat=["-33.97", "", "0", "-33.92"], lon=["18.05", "", "0", "18.15"])
    rows = rows.rename(columns={"occurred_at": "When"})
    csv = write_csv(tmp_path / "extract.csv", rows)
    result = layers("ingest", "--store", tmp_path / "store", "--precincts", p, "--wards", w,
                    "--map", "occurred_at=When", csv)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Read 4 rows: accepted 2 (new 2, updated 0, unchanged 0); rejected 2." in result.stdout
    assert "missing coordinates" in result.stdout and "null island" in result.stdout
    rejects = sorted((tmp_path / "store" / "rejects").glob("*.csv"))
    assert [p.name.endswith(".dictionary.csv") for p in rejects] == [False, True]
    assert len(pd.read_csv(rejects[0])) == 2
    described = pd.read_csv(rejects[1])["Column"].tolist()
    assert described == pd.read_csv(rejects[0]).columns.tolist()
    assert len(open_store(tmp_path / "store").incidents) == 2


def test_ingest_of_unreadable_file_fails_with_a_message(tmp_path, boundary_files):
    p, w = boundary_files
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = layers("ingest", "--store", tmp_path / "store", "--precincts", p, "--wards", w, bad)
    assert result.returncode == 1
    assert "not a valid zip archive" in result.stdout
    assert "Traceback" not in result.stderr


def test_bad_mapping_flag_is_explained(tmp_path, boundary_files):
    p, w = boundary_files
    csv = write_csv(tmp_path / "a.csv", incident_rows())
    result = layers("ingest", "--store", tmp_path / "s", "--precincts", p, "--wards", w,
                    "--map", "occurred_at", csv)  # fmt: skip
    assert result.returncode == 1
    assert "--map takes FIELD=VALUE" in result.stderr


def test_hotspots_export_and_evaluate_from_the_cli(tmp_path):
    import pyogrio

    demo = layers("demo", "--out", tmp_path / "demo", "--incidents", "6000",
                  "--store", tmp_path / "store")  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    for method, suffix in (("gistar", "zip"), ("kde", "gpkg"), ("emerging", "geojson")):
        out = tmp_path / f"{method}.{suffix}"
        result = layers("hotspots", "--store", tmp_path / "store", "--out", out,
                        "--method", method, "--cell-m", "400")  # fmt: skip
        assert result.returncode == 0, result.stderr
        path = f"/vsizip/{out}" if suffix == "zip" else out
        info = pyogrio.read_info(path, **({"layer": "hotspots"} if suffix == "gpkg" else {}))
        assert info["features"] > 0
        assert all(len(name) <= 10 for name in info["fields"]) or suffix != "zip"
    gistar = pyogrio.read_dataframe(f"/vsizip/{tmp_path / 'gistar.zip'}")
    assert {"GI_Z", "GI_P", "GI_BIN", "N_INC", "PRECINCT", "WARD"} <= set(gistar.columns)
    assert gistar.crs.to_epsg() == 32734
    evaluate = layers("evaluate", "--store", tmp_path / "store", "--split", "2026-05-01",
                      "--csv", tmp_path / "eval.csv")  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr
    table = pd.read_csv(tmp_path / "eval.csv")
    assert len(table) == 4 and (table["PAI"] > 1).all()
    described = pd.read_csv(tmp_path / "eval.dictionary.csv")
    assert described["Column"].tolist() == table.columns.tolist()
    assert "Baseline: previous period's hot cells" in evaluate.stdout


def test_map_with_a_local_basemap_embeds_it_and_a_bad_one_is_said(tmp_path, demo_store):
    from tilefiles import CAPE_TOWN, raster_tiles, write_mbtiles

    tiles = write_mbtiles(tmp_path / "cape-town.mbtiles", raster_tiles(CAPE_TOWN, range(8, 12)))
    out = tmp_path / "map.html"
    result = layers("map", "--store", demo_store, "--out", out, "--tiles", tiles)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    html = out.read_text()
    assert "Basemap: local file cape-town.mbtiles (raster tiles, dated " in html
    assert "embedded to zoom 11" in html and "/tiles/" not in html
    bad = tmp_path / "bad.mbtiles"
    bad.write_text("not tiles")
    result = layers("map", "--store", demo_store, "--out", out, "--tiles", bad)
    assert result.returncode == 0, result.stderr
    assert "Warning: no basemap. bad.mbtiles is not a tiles file" in result.stderr
    assert "No basemap: bad.mbtiles is not a tiles file" in out.read_text()
