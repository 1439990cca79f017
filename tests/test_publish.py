"""The public site: its format, its privacy under attack, and one truth for every public view."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from attack import exposures, read_month

from layers.access.disclosure import MonthTable, primary, protect
from layers.access.policy import PrivacyRules
from layers.access.sight import sensitive_rows
from layers.publishing.public import PublicSite, month_run, public_figures
from layers.publishing.publish import (
    ALL,
    PublishError,
    PublishOptions,
    cell_ids,
    cell_shift,
    month_tables,
    publish_site,
)
from layers.storage.join import OUTSIDE
from layers.storage.store import open_store

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 12, 5)  # the demo runs to 2026-10-31: every month but none after is whole
K = 3


def publish(store: Path, out: Path, **options: object) -> Path:
    options = {"today": TODAY, "months": 24, **options}
    publish_site(open_store(store), out, options=PublishOptions(**options))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def site(demo_store, tmp_path_factory) -> Path:
    return publish(demo_store, tmp_path_factory.mktemp("site") / "site")


@pytest.fixture(scope="module")
def busy_store(tmp_path_factory) -> Path:
    """A denser demo store (12,000 incidents, about 500 a month): more cells and partners."""
    from layers.storage.demo import build_demo_store, generate_demo

    folder = tmp_path_factory.mktemp("busy")
    build_demo_store(folder / "store", generate_demo(folder / "files", incidents=12_000))
    return folder / "store"


def manifest(site: Path) -> dict:
    return json.loads((site / "manifest.json").read_text())


def truth(store: Path, site: Path, month: str) -> dict[str, dict]:
    """The true counts behind one published month (what the attacker must not learn)."""
    snapshot = open_store(store)
    man = manifest(site)
    groups, precincts, tables = month_tables(snapshot, PrivacyRules(), [month], cell_m=1000)
    table, cells = tables[month]
    ids = cell_ids(cells, precincts, cell_shift(1000))
    listed = {c for c, *_ in _features(site, man, month, ALL)}
    atoms, unlisted = {}, {}
    for g, group in enumerate(groups[1:]):
        for c, cell in enumerate(ids):
            value = int(table.atoms[g, c])
            if value:
                atoms[group, cell] = value
                if cell not in listed:
                    key = (group, precincts[table.cell_precinct[c]])
                    unlisted[key] = unlisted.get(key, 0) + value
    pg = table.precinct_groups
    return {
        "atoms": atoms,
        "areas": {(g, p): int(pg[i, j]) for i, g in enumerate(groups[1:])
                  for j, p in enumerate(precincts)},
        "precinct_all": dict(zip(precincts, map(int, table.precincts), strict=True)),
        "group_total": dict(zip(groups[1:], map(int, table.groups), strict=True)),
        "unlisted": unlisted,
    }  # fmt: skip


def _features(site: Path, man: dict, month: str, group: str) -> list[tuple[str, object, str]]:
    view = next(v for v in man["views"] if v["month"] == month and v["group"] == group)
    data = json.loads((site / view["file"]).read_text())
    assert data["type"] == "FeatureCollection"
    return [
        (f["properties"]["cell"], f["properties"]["count"], f["geometry"]["type"])
        for f in data["features"]
    ]


# --- the format is a contract --------------------------------------------------------------


def test_manifest_and_views_follow_the_published_format(site, demo_store):
    man = manifest(site)
    assert isinstance(man["k"], int) and man["k"] == K
    assert isinstance(man["cell_m"], int | float) and 900 <= man["cell_m"] <= 1200
    assert man["months"] == [f"{y}-{m:02d}" for y, m in
                             [(2024, 11), (2024, 12)] + [(2025, i) for i in range(1, 13)]
                             + [(2026, i) for i in range(1, 11)]]  # fmt: skip
    assert man["groups"][0] == ALL and len(man["groups"]) > 5
    assert "Gender-based violence" not in man["groups"]
    assert {"Sexual offences", "Domestic violence"} <= set(man["excluded_categories"])
    assert {(v["month"], v["group"]) for v in man["views"]} == {
        (m, g) for m in man["months"] for g in man["groups"]
    }
    precincts = set(open_store(demo_store).precincts["name"])
    for view in man["views"]:
        assert re.fullmatch(r"\d{4}-\d{2}", view["month"])
        assert set(view["areas"]) == precincts
        for count in [*view["areas"].values(), view["total"]]:
            assert count is None or (isinstance(count, int) and count >= K)
        for _, count, kind in _features(site, man, view["month"], view["group"]):
            assert kind in ("Polygon", "MultiPolygon")
            assert count is None or (isinstance(count, int) and count >= K)
    assert (site / "index.html").is_file() and (site / "method.html").is_file()
    assert (site / "vendor" / "leaflet.js").is_file()


def test_cell_ids_are_stable_across_views_and_months(site):
    man = manifest(site)
    shapes: dict[str, str] = {}
    for month in man["months"]:
        ids = [c for c, *_ in _features(site, man, month, ALL)]
        assert len(ids) == len(set(ids))
        for group in man["groups"][1:]:
            assert [c for c, *_ in _features(site, man, month, group)] == ids
        view = next(v for v in man["views"] if v["month"] == month and v["group"] == ALL)
        for feature in json.loads((site / view["file"]).read_text())["features"]:
            geometry = json.dumps(feature["geometry"], sort_keys=True)
            assert shapes.setdefault(feature["properties"]["cell"], geometry) == geometry


def test_every_published_number_is_a_sum_of_non_sensitive_incidents(site, demo_store):
    """Sensitive categories are in no group, "all" included; published totals add up."""
    snapshot = open_store(demo_store)
    columns = snapshot.columns
    man = manifest(site)
    month = man["months"][-1]
    _, _, tables = month_tables(snapshot, PrivacyRules(), [month], cell_m=1000)
    table, _ = tables[month]
    first = (date(2026, 10, 1) - date(1970, 1, 1)).days
    in_month = (columns.day >= first) & (columns.day <= first + 30)
    sensitive = sensitive_rows(columns, PrivacyRules())
    labels = columns.labels["precinct"]
    inside = np.ones(len(columns), dtype=bool)
    if OUTSIDE in labels:
        inside = columns.codes["precinct"] != labels.index(OUTSIDE)
    assert table.atoms.sum() == int((in_month & ~sensitive & inside).sum())
    assert (in_month & sensitive).any()  # there were sensitive incidents to leave out
    view = next(v for v in man["views"] if v["month"] == month and v["group"] == ALL)
    assert view["total"] == int(table.atoms.sum())
    published = [n for n in view["areas"].values() if n is not None]
    assert sum(published) <= view["total"]


def test_only_whole_months_that_have_settled_are_published(demo_store, tmp_path):
    early = manifest(publish(demo_store, tmp_path / "a", today=date(2026, 11, 5)))
    assert early["months"][-1] == "2026-09"  # October ended, but has not settled a week
    settled = manifest(publish(demo_store, tmp_path / "b", today=date(2026, 11, 8), months=3))
    assert settled["months"] == ["2026-08", "2026-09", "2026-10"]


# --- privacy under attack ------------------------------------------------------------------


def test_differencing_the_published_numbers_narrows_no_hidden_count(site, demo_store):
    """Exact integer programs over every relation on the site find no hidden count that must
    be below k, in any month: all minus groups, areas minus their cells, groups minus
    precincts, and every mix of them."""
    man = manifest(site)
    for month in man["months"]:
        found = exposures(site, month, truth(demo_store, site, month), K)
        assert not found, f"{month}: {found[:5]}"


def test_the_attack_finds_victims_when_complementary_suppression_is_off(demo_store, tmp_path):
    unsafe = publish(demo_store, tmp_path / "unsafe", suppress=False, months=3)
    man = manifest(unsafe)
    found = [
        e for m in man["months"] for e in exposures(unsafe, m, truth(demo_store, unsafe, m), K)
    ]
    assert len(found) >= 10
    assert {e.what for e in found} >= {"cell", "precinct"}


def test_a_busier_store_holds_under_the_same_attack(busy_store, tmp_path):
    site = publish(busy_store, tmp_path / "site", months=2)
    for month in manifest(site)["months"]:
        assert not exposures(site, month, truth(busy_store, site, month), K)
    unsafe = publish(busy_store, tmp_path / "unsafe", months=1, suppress=False)
    month = manifest(unsafe)["months"][0]
    assert exposures(unsafe, month, truth(busy_store, unsafe, month), K)


def test_the_listed_differencing_attacks_by_hand(site):
    """The attacks the issue lists, spelled out: where all but one of the parts of a published
    total are published, the last part is known; it must never be 1 to k-1."""
    man = manifest(site)
    for month in man["months"]:
        model = read_month(site, month)
        n_groups = len(model.groups)
        # "all" minus the groups, cell by cell
        for c, total in enumerate(model.cell_all):
            parts = [model.atoms[g, c] for g in range(n_groups)]
            hidden = [p for p in parts if p is None]
            assert len(hidden) != 1 or not 1 <= total - sum(p or 0 for p in parts) < K
        # a precinct's total minus its groups
        for p, total in enumerate(model.precinct_all):
            parts = [model.areas[g, p] for g in range(n_groups)]
            if total is not None and sum(x is None for x in parts) == 1:
                assert not 1 <= total - sum(x or 0 for x in parts) < K
        # a group's total minus its precincts
        for g, total in enumerate(model.group_total):
            parts = [model.areas[g, p] for p in range(len(model.precincts))]
            if total is not None and sum(x is None for x in parts) == 1:
                assert not 1 <= total - sum(x or 0 for x in parts) < K


def test_protect_certifies_on_random_tables():
    """Random small months: every hidden count 1..k-1 can reach k in some table with the
    same published numbers (checked by brute-force search over all tables for tiny ones)."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        n_groups, n_cells, n_prec = rng.integers(2, 4), rng.integers(2, 6), rng.integers(1, 3)
        atoms = rng.poisson(1.2, size=(n_groups, n_cells))
        atoms[0, atoms.sum(axis=0) == 0] = 1
        where = rng.integers(0, n_prec, size=n_cells)
        table = MonthTable(atoms, where, int(n_prec))
        hidden = protect(table, K)
        assert (hidden.atoms | (atoms >= K)).all()
        assert (hidden.precinct_groups | (table.precinct_groups >= K)).all()
        # the unsafe pattern hides only the small counts
        assert (primary(table, K).atoms == (atoms < K)).all()


def test_a_month_with_fewer_than_k_incidents_is_withheld():
    table = MonthTable(np.array([[1, 1]]), np.array([0, 0]), 1)
    assert protect(table, K).withheld


# --- publishing safely ---------------------------------------------------------------------


def test_publishing_again_rewrites_only_changed_months_and_swaps_atomically(demo_store, tmp_path):
    out = tmp_path / "site"
    first = publish_site(open_store(demo_store), out, options=PublishOptions(today=TODAY, months=3))
    assert first.rewritten == ["2026-08", "2026-09", "2026-10"]
    version = out.resolve()
    again = publish_site(open_store(demo_store), out, options=PublishOptions(today=TODAY, months=3))
    assert again.rewritten == [] and again.kept == ["2026-08", "2026-09", "2026-10"]
    assert out.is_symlink() and out.resolve() != version
    # The previous version stays for visitors who loaded its manifest a moment ago.
    assert version.is_dir()
    more = publish_site(open_store(demo_store), out, options=PublishOptions(today=TODAY, months=4))
    assert more.rewritten == ["2026-07"]
    assert not version.exists()  # two versions back is pruned
    # Every file the manifest names is there.
    for view in manifest(out)["views"]:
        assert (out / view["file"]).is_file()
    # The state that decides what changed is kept out of the served folder.
    assert not list(out.rglob("state.json"))


def test_publish_refuses_to_replace_a_folder_it_did_not_make(demo_store, tmp_path):
    (tmp_path / "site").mkdir()
    with pytest.raises(PublishError, match="existing folder"):
        publish_site(open_store(demo_store), tmp_path / "site")


def test_publish_from_the_command_line(demo_store, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "layers", "publish", "--store", str(demo_store), "--out",
         str(tmp_path / "site"), "--months", "2"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Published 2 month(s)" in run.stdout
    assert len(manifest(tmp_path / "site")["months"]) == 2


# --- one public truth ----------------------------------------------------------------------


def test_public_figures_for_a_run_of_months_add_up_the_published_numbers(site):
    public = PublicSite.load(site)
    months = month_run(public, "2026-08", "2026-10")
    figures = public_figures(public, months, ALL)
    totals = [public.view(m, ALL)["total"] for m in months]
    assert figures.total == sum(totals) and not figures.total_partial
    one = public_figures(public, ("2026-10",), ALL)
    assert not one.areas["partial"].any()
    with pytest.raises(Exception, match="not published"):
        month_run(public, "2030-01")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layers", *args], capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip


def test_cli_public_role_dashboard_and_site_show_the_same_numbers(site, demo_store, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    from streamlit.testing.v1 import AppTest

    public = PublicSite.load(site)
    month, group = "2026-09", "Property crime"
    view = public.view(month, group)
    area = next(a for a, n in sorted(view["areas"].items()) if n is not None)
    expected = view["areas"][area]
    # The command line
    run = _cli(
        "map", "--store", str(demo_store), "--out", str(tmp_path / "m.html"), "--role", "public",
        "--site", str(site), "--month", month, "--area", group, "--precinct", area,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"{expected:,} incidents in {area} ({group}, {month})" in run.stdout
    page = (tmp_path / "m.html").read_text()
    for cell in public_figures(public, (month,), group, area).cells.itertuples():
        assert cell.cell not in page  # ids are not drawn; counts are, as text
    # The dashboard's public view
    monkeypatch.setattr("sys.argv", ["dashboard.py", "--store", str(demo_store), "--tiles", "none",
                                     "--public-site", str(site)])  # fmt: skip
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params["view"] = "public"
    at.run()
    assert not at.exception
    at.select_slider(key="p_months").set_value((month, month))
    at.selectbox(key="p_group").set_value(group)
    at.selectbox(key="p_area").set_value(area).run()
    assert not at.exception
    metric = next(m for m in at.metric if m.label.startswith("Incidents"))
    assert metric.value == f"{expected:,}"
    assert area in metric.label and month in metric.label
    # No filter beyond month, group and precinct is offered to the public.
    keys = {w.key for w in at.sidebar if getattr(w, "key", None)}
    hidden = {"f_agencies", "f_categories", "f_dates", "f_hour_from", "f_hour_to", "f_wards"}
    assert not keys & hidden


def test_public_day_and_hour_filters_and_hotspots_are_refused_on_the_cli(
    demo_store, site, tmp_path
):
    out = str(tmp_path / "m.html")
    for extra in (["--since", "2026-10-01"], ["--hours", "22-4"], ["--ward", "Ward 1"],
                  ["--category", "Arson"], ["--agency", "SAPS"]):  # fmt: skip
        run = _cli("map", "--store", str(demo_store), "--out", out, "--role", "public",
                   "--site", str(site), *extra)  # fmt: skip
        assert run.returncode != 0
        assert "whole months" in run.stderr and extra[0] in run.stderr
    run = _cli("hotspots", "--store", str(demo_store), "--out", str(tmp_path / "h.zip"),
               "--role", "public")  # fmt: skip
    assert run.returncode != 0 and "published monthly site" in run.stderr


@pytest.mark.realdata
def test_real_precincts_and_service_requests_publish_a_site_that_holds(realdata, tmp_path):
    """A real year of geocoded City service requests on the 151 real SAPS precincts."""
    from layers.storage.ingest import ingest

    ingest(
        tmp_path / "store",
        [realdata / "cct_service_requests_bellville_south_2020.csv.gz"],
        precincts=realdata / "wc_saps_precincts_2020.geojson",
        wards=realdata / "cct_wards_2021_shp" / "Wards.shp",
        column_map={"incident_id": "notification_number", "category": "code",
                    "occurred_at": "creation_timestamp"},
        defaults={"agency": "City service requests"},
    )  # fmt: skip
    site = publish(tmp_path / "store", tmp_path / "site", months=12)
    man = manifest(site)
    assert len(man["months"]) == 12 and man["months"][0] == "2020-01"
    view = next(v for v in man["views"] if v["group"] == ALL and v["month"] == "2020-03")
    assert len(view["areas"]) == 151
    assert {n for n in view["areas"].values() if n is not None} <= {
        view["areas"]["BELLVILLE SOUTH"],
        view["areas"]["BELLVILLE"],
    }
    assert view["areas"]["BELLVILLE SOUTH"] is not None and view["areas"]["BELLVILLE SOUTH"] > 100
    for month in man["months"][:2]:
        assert not exposures(site, month, truth(tmp_path / "store", site, month), K)


def test_a_published_month_is_final_whatever_comes_in_late(demo_store, tmp_path):
    """Two versions of one month could be compared to locate what changed: a late report
    into a published month leaves the month's files as they were."""
    import shutil

    from layers.storage.ingest import ingest

    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    out = tmp_path / "site"
    publish_site(open_store(store), out, options=PublishOptions(today=TODAY, months=2))
    before = {v["file"]: (out / v["file"]).read_bytes() for v in manifest(out)["views"]}
    first_total = next(v["total"] for v in manifest(out)["views"]
                       if v["month"] == "2026-10" and v["group"] == ALL)  # fmt: skip
    incidents = open_store(store).incidents
    anchor = incidents[incidents["precinct"].astype(str) != OUTSIDE].iloc[0]
    late = tmp_path / "late.csv"
    late.write_text(
        "incident_id,agency,category,occurred_at,lat,lon\n"
        f"LATE-1,SAPS,Common robbery,2026-10-15T10:00:00+02:00,{anchor.lat},{anchor.lon}\n"
    )
    ingest(store, [late])
    again = publish_site(open_store(store), out, options=PublishOptions(today=TODAY, months=2))
    assert again.rewritten == [] and again.late == ["2026-10"]
    assert {v["file"]: (out / v["file"]).read_bytes() for v in manifest(out)["views"]} == before
    # Deliberately, and only so: the month is computed again.
    forced = publish_site(open_store(store), out, options=PublishOptions(
        today=TODAY, months=2, republish=("2026-10",)))  # fmt: skip
    assert forced.rewritten == ["2026-10"]
    after = next(v for v in manifest(out)["views"] if v["month"] == "2026-10" and v["group"] == ALL)
    assert after["total"] == first_total + 1


def test_a_site_keeps_its_settings(demo_store, tmp_path):
    """Two grids or thresholds over the same months could be laid over each other."""
    out = publish(demo_store, tmp_path / "site", months=2)
    with pytest.raises(PublishError, match="other settings"):
        publish(demo_store, out, months=2, cell_m=2000)
    with pytest.raises(PublishError, match="other settings"):
        publish_site(open_store(demo_store), out, rules=PrivacyRules(k=5),
                     options=PublishOptions(today=TODAY, months=2))  # fmt: skip


def test_the_hiding_rule_never_points_at_the_small_precinct(site):
    """A precinct total is hidden for being small only when none of its cells is listed (a
    listed cell holds k or more), so its partners must look the same: a reader who knows the
    rule finds no hidden precinct total beside a listed cell, and cannot tell the small one."""
    man = manifest(site)
    for month in man["months"]:
        view = next(v for v in man["views"] if v["month"] == month and v["group"] == ALL)
        listed = {p for p in json.loads((site / view["file"]).read_text())["features"]
                  for p in [p["properties"]["precinct"]]}  # fmt: skip
        hidden = {p for p, n in view["areas"].items() if n is None}
        assert not hidden & listed, month


# --- the basemap ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mbtiles(tmp_path_factory) -> Path:
    """Raster MBTiles of the demo's extent, zooms 6 to 12 (the site copies from 8)."""
    from tilefiles import CAPE_TOWN, raster_tiles, write_mbtiles

    folder = tmp_path_factory.mktemp("tiles")
    return write_mbtiles(folder / "cape-town.mbtiles", raster_tiles(CAPE_TOWN, range(6, 13)),
                         date="2026-11-30", attribution="© Test <b>tiles</b>")  # fmt: skip


def _tiles(site: Path, record: dict) -> dict[tuple[int, int, int], Path]:
    """The basemap tiles a site holds, by (z, x, y)."""
    folder = site / record["url"].split("/{z}")[0]
    ext = record["url"].rsplit(".", 1)[1]
    return {
        tuple(int(p) for p in path.relative_to(folder).with_suffix("").parts): path
        for path in folder.rglob(f"*.{ext}")
    }  # type: ignore[misc]


def test_a_local_basemap_is_copied_for_the_sites_extent_and_kept_by_the_next_publish(
    demo_store, mbtiles, tmp_path
):
    from layers.maps.tiles import MBTilesReader, open_basemap, tiles_in

    snapshot = open_store(demo_store)
    box = tuple(snapshot.precincts.to_crs("EPSG:4326").total_bounds)
    out = tmp_path / "site"
    options = PublishOptions(today=TODAY, months=2, basemap=open_basemap(mbtiles))
    report = publish_site(snapshot, out, options=options)

    record = manifest(out)["basemap"]
    folder = report.tiles.folder
    assert re.fullmatch(r"tiles/[0-9a-f]{16}", folder)
    assert record == {
        "kind": "local", "url": folder + "/{z}/{x}/{y}.png", "format": "png",
        "media_type": "image/png", "vector": False, "protomaps_schema": False, "layers": [],
        "min_zoom": 8, "max_zoom": 12, "bounds": pytest.approx(list(box)),
        "attribution": "© Test tiles (cape-town.mbtiles, 2026-11-30)",
        "legend": "Basemap: local file cape-town.mbtiles (raster tiles, 2026-11-30)",
        "tiles": report.tiles.tiles, "bytes": report.tiles.bytes,
    }  # fmt: skip
    # Every tile of the extent at zooms 8 to 12, as in the file, and nothing else.
    reader = MBTilesReader(mbtiles)
    expected = {key: reader.tile(*key) for key in tiles_in(box, range(8, 13))}
    reader.close()
    copied = _tiles(out, record)
    assert set(copied) == set(expected)
    assert all(path.read_bytes() == expected[key] for key, path in copied.items())
    assert report.tiles.tiles == len(expected) == 143
    assert report.tiles.bytes == sum(map(len, expected.values()))
    assert not report.tiles.reused and report.tiles.left_out is None
    text = report.as_text()
    assert f"{len(expected)} tiles (0.2 MB), zooms 8-12, in {folder}/ (copied in " in text
    # Raster tiles need no vector renderer.
    assert not (out / "vendor" / "protomaps-leaflet.js").exists()

    # Publishing again links the same tiles from the previous version: nothing is read again.
    before = {key: path.stat().st_ino for key, path in copied.items()}
    again = publish_site(snapshot, out, options=options)
    assert again.tiles.reused and again.tiles.tiles == report.tiles.tiles
    assert "(linked from the previous version" in again.as_text()
    assert manifest(out)["basemap"] == record
    assert {key: path.stat().st_ino for key, path in _tiles(out, record).items()} == before
    assert again.rewritten == [] and again.kept == ["2026-09", "2026-10"]


def test_a_basemap_is_not_the_method_adding_or_removing_one_republishes_no_month(
    demo_store, mbtiles, tmp_path
):
    from layers.maps.tiles import open_basemap

    out = tmp_path / "site"
    publish(demo_store, out, months=2)
    state = json.loads((tmp_path / ".site.sites" / "state.json").read_text())
    assert manifest(out)["basemap"] is None
    views = manifest(out)["views"]

    snapshot = open_store(demo_store)
    report = publish_site(snapshot, out, options=PublishOptions(
        today=TODAY, months=2, basemap=open_basemap(mbtiles)))  # fmt: skip
    assert report.rewritten == [] and report.kept == ["2026-09", "2026-10"]
    assert manifest(out)["views"] == views
    with_tiles = manifest(out)["basemap"]
    folder = with_tiles["url"].split("/{z}")[0]

    report = publish_site(snapshot, out, options=PublishOptions(today=TODAY, months=2))
    assert report.rewritten == [] and manifest(out)["basemap"] is None
    assert "No basemap (--tiles none)." in report.as_text()
    # A visitor who loaded the previous manifest a moment ago still finds its tiles ...
    assert _tiles(out, with_tiles)
    # ... until the next version.
    publish_site(snapshot, out, options=PublishOptions(today=TODAY, months=2))
    assert not (out / folder).exists()
    after = json.loads((tmp_path / ".site.sites" / "state.json").read_text())
    assert (after["method"], after["months"]) == (state["method"], state["months"])


def test_a_basemap_budget_leaves_out_the_zoom_that_would_pass_it(demo_store, tmp_path):
    """PMTiles, raster: zooms from the lowest, up to the one before the budget is passed."""
    from tilefiles import CAPE_TOWN, raster_tiles, write_pmtiles

    from layers.maps.tiles import open_basemap

    tiles = raster_tiles(CAPE_TOWN, range(8, 13))
    path = write_pmtiles(tmp_path / "cape-town.pmtiles", tiles, attribution="© Test")
    up_to_10 = sum(len(data) for (z, _, _), data in tiles.items() if z <= 10)
    out = tmp_path / "site"
    options = PublishOptions(today=TODAY, months=1, basemap=open_basemap(path),
                             tiles_budget=up_to_10 + 1000)  # fmt: skip
    report = publish_site(open_store(demo_store), out, options=options)
    record = manifest(out)["basemap"]
    assert (record["min_zoom"], record["max_zoom"]) == (8, 10)
    assert {z for z, _, _ in _tiles(out, record)} == {8, 9, 10}
    assert (report.tiles.bytes, report.tiles.left_out) == (up_to_10, 11)
    assert "zoom 11 and deeper left out (over the" in report.as_text()
    # Another budget is other tiles, under another id (a cached tile is never another's).
    wider = publish_site(open_store(demo_store), out, options=PublishOptions(
        today=TODAY, months=1, basemap=open_basemap(path)))  # fmt: skip
    assert not wider.tiles.reused and wider.tiles.folder != report.tiles.folder
    assert manifest(out)["basemap"]["max_zoom"] == 12


@pytest.mark.parametrize(("layer", "schema"), [("earth", True), ("water", False)])
def test_a_vector_basemap_is_copied_uncompressed_with_its_renderer(demo_store, tmp_path, layer,
                                                                   schema):  # fmt: skip
    import geopandas as gpd
    from shapely.geometry import box
    from tilefiles import CAPE_TOWN, write_vector_pmtiles

    from layers.maps.tiles import open_basemap, open_tiles

    frame = gpd.GeoDataFrame({"kind": ["x"]}, geometry=[box(*CAPE_TOWN)], crs="EPSG:4326")
    path = write_vector_pmtiles(tmp_path / "v.pmtiles", frame, layer=layer, maxzoom=11)
    basemap = open_basemap(path)
    out = tmp_path / "site"
    report = publish_site(open_store(demo_store), out, options=PublishOptions(
        today=TODAY, months=1, basemap=basemap))  # fmt: skip
    record = manifest(out)["basemap"]
    assert record["url"].endswith("/{z}/{x}/{y}.mvt")
    assert (record["vector"], record["protomaps_schema"]) == (True, schema)
    assert (record["layers"], record["format"]) == ([layer], "mvt")
    assert record["media_type"] == "application/vnd.mapbox-vector-tile"
    assert (record["min_zoom"], record["max_zoom"]) == (8, 11)
    assert record["legend"].startswith("Basemap: local file v.pmtiles (vector tiles, ")
    copied = _tiles(out, record)
    assert len(copied) == report.tiles.tiles > 0
    reader = open_tiles(basemap)
    for key, file in copied.items():
        stored = reader.tile(*key)
        # Uncompressed, as any web server can serve them (nginx compresses on the fly).
        plain = gzip.decompress(stored) if stored[:2] == b"\x1f\x8b" else stored
        assert file.read_bytes() == plain and plain[:2] != b"\x1f\x8b"
    reader.close()
    # The renderer and its style, asked for by their content (vendor/ is cached for good).
    for name, script in zip(("protomaps-leaflet.js", "vector_basemap.js"), record["scripts"],
                            strict=True):  # fmt: skip
        digest = hashlib.sha256((out / "vendor" / name).read_bytes()).hexdigest()[:12]
        assert script == f"vendor/{name}?v={digest}"


def test_a_basemap_of_part_of_the_area_is_copied_there_and_says_so(demo_store, mbtiles,
                                                                   tmp_path):  # fmt: skip
    from dataclasses import replace

    from layers.maps.tiles import open_basemap, tiles_in

    half = (18.32, -34.25, 18.66, -33.55)  # the western half of the demo's extent
    basemap = replace(open_basemap(mbtiles), bounds=half)
    out = tmp_path / "site"
    report = publish_site(open_store(demo_store), out, options=PublishOptions(
        today=TODAY, months=1, basemap=basemap))  # fmt: skip
    record = manifest(out)["basemap"]
    assert record["bounds"] == pytest.approx(list(half))
    assert set(_tiles(out, record)) == set(tiles_in(half, range(8, 13)))
    assert record["legend"].endswith("; it covers 50% of this map")
    assert "covers only 50% of the map's area" in report.as_text()


def test_a_remote_basemap_is_recorded_for_the_browser_to_load(demo_store, tmp_path):
    from layers.maps.tiles import OSM_ATTRIBUTION, OSM_TILES, open_basemap

    out = tmp_path / "site"
    report = publish_site(open_store(demo_store), out, options=PublishOptions(
        today=TODAY, months=1, basemap=open_basemap("osm")))  # fmt: skip
    record = manifest(out)["basemap"]
    assert record["kind"] == "remote" and record["url"] == OSM_TILES
    assert record["attribution"] == OSM_ATTRIBUTION
    assert record["legend"] == "Basemap: remote, from tile.openstreetmap.org (needs the internet)"
    assert not record["vector"] and record["bounds"] is None
    assert not (out / "tiles").exists() and report.tiles is None
    assert "visitors' browsers load its tiles" in report.as_text()


def test_a_tiles_file_that_cannot_be_used_is_a_warning_and_the_site_has_no_basemap(
    demo_store, mbtiles, tmp_path
):
    from dataclasses import replace

    from layers.maps.tiles import open_basemap

    # Of another place: refused by its extent, the months published all the same.
    elsewhere = replace(open_basemap(mbtiles), bounds=(28.0, -26.3, 28.2, -26.1))
    out = tmp_path / "site"
    report = publish_site(open_store(demo_store), out, options=PublishOptions(
        today=TODAY, months=1, basemap=elsewhere))  # fmt: skip
    assert report.months == ["2026-10"] and report.basemap is None
    assert "tiles are of another place" in report.basemap_problem
    assert f"No basemap: {report.basemap_problem}" in report.as_text()
    assert manifest(out)["basemap"] is None and not (out / "tiles").exists()

    # From the command line: not a tiles file at all.
    bad = tmp_path / "bad.mbtiles"
    bad.write_text("not tiles")
    run = _cli("publish", "--store", str(demo_store), "--out", str(tmp_path / "cli"),
               "--months", "1", "--tiles", str(bad))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Warning: no basemap. bad.mbtiles is not a tiles file" in run.stderr
    assert "No basemap: bad.mbtiles is not a tiles file" in run.stdout
    assert "Published 1 month(s)" in run.stdout
    assert manifest(tmp_path / "cli")["basemap"] is None

    # And a good one, with its credit replaced.
    run = _cli("publish", "--store", str(demo_store), "--out", str(tmp_path / "cli"), "--months",
               "1", "--tiles", str(mbtiles), "--tiles-attribution", "© City")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "143 tiles (0.2 MB), zooms 8-12" in run.stdout
    assert manifest(tmp_path / "cli")["basemap"]["attribution"].startswith("© City (")
