"""``--role`` on the command line applies the dashboard's rules; users and audit commands."""

from __future__ import annotations

import getpass
import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

from layers.access import audit
from layers.access.policy import PrivacyRules
from layers.access.users import authenticate, load_users
from layers.storage.columnar import mercator_pixels


def layers(*args: object, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "layers", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, input=stdin,
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli_access")
    made = layers("demo", "--out", folder / "demo", "--incidents", "3000",
                  "--store", folder / "store")  # fmt: skip
    assert made.returncode == 0, made.stderr
    return folder / "store"


@pytest.fixture
def access(tmp_path) -> Path:
    path = tmp_path / "access.toml"
    path.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    return path


def heat_points(html: str) -> np.ndarray:
    """[lat, lon, weight] rows of the map's heat layer."""
    match = re.search(r"L\.incidentHeat\(\s*(\[\[.*?\]\])", html, re.S)
    return np.array(json.loads(match.group(1)) if match else [], dtype=float).reshape(-1, 3)


def on_anonymous_grid(points: np.ndarray) -> bool:
    """Whether the points are the centres of anonymous cells, or of cells that are blocks of
    2**m by 2**m of them (at a low zoom the map's own cells are coarser than the grid)."""
    px, py = mercator_pixels(points[:, 1], points[:, 0], 0)
    for m in range(8):
        scale = 2.0 ** (PrivacyRules().anonymous_shift - m)
        off = max(np.abs(px * scale % 1 - 0.5).max(), np.abs(py * scale % 1 - 0.5).max())
        if off < 0.02:  # coordinates on the page are rounded to 1e-5 degrees
            return True
    return False


def test_a_public_map_draws_the_published_site_only(store, tmp_path):
    maps = {}
    for role in ("analyst", "public"):
        out = tmp_path / f"{role}.html"
        made = layers("map", "--store", store, "--out", out, "--role", role)
        assert made.returncode == 0, made.stderr
        maps[role] = out.read_text()
    assert len(heat_points(maps["analyst"])) and not len(heat_points(maps["public"]))
    # Without --site the store's own site is published and read: its latest month.
    manifest = json.loads((store / "public-site" / "manifest.json").read_text())
    latest = next(v for v in manifest["views"]
                  if v["month"] == manifest["months"][-1] and v["group"] == "all")  # fmt: skip
    assert (
        f"{latest['total']:,} incidents: All published incidents, {latest['month']}"
        in (maps["public"])
    )
    assert "cell of about" in maps["public"]


def test_a_public_role_cannot_export_incidents(store, tmp_path):
    result = layers("export", "--store", store, "--out", tmp_path / "x.csv", "--role", "public")
    assert result.returncode == 1
    assert "published monthly map only" in result.stderr and "map --role public" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_an_agency_exports_its_own_incidents_and_the_export_is_audited(store, tmp_path, access):
    out = tmp_path / "saps.csv"
    category = "Burglary at residential premises"
    result = layers("export", "--store", store, "--out", out, "--role", "agency:SAPS",
                    "--access", access, "--category", category)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(out)
    assert len(rows) and set(rows["agency"]) == {"SAPS"}
    [event] = audit.read_events(tmp_path / "audit.jsonl")
    assert event["event"] == audit.EXPORT and event["role"] == "agency:SAPS"
    assert event["detail"]["rows"] == len(rows)
    assert event["detail"]["filters"] == {"categories": [category]}
    shown = layers("audit", "show", "--log", tmp_path / "audit.jsonl", "--event", "export")
    assert shown.returncode == 0 and "agency:SAPS" in shown.stdout
    assert layers("audit", "verify", "--log", tmp_path / "audit.jsonl").returncode == 0


def test_agency_hotspots_are_classes_on_one_fixed_grid_and_public_ones_refused(store, tmp_path):
    public = layers("hotspots", "--store", store, "--out", tmp_path / "p.gpkg", "--role", "public")
    assert public.returncode == 1 and "published monthly site" in public.stderr
    kde = layers("hotspots", "--store", store, "--out", tmp_path / "k.gpkg", "--method", "kde",
                 "--role", "agency:Private security")  # fmt: skip
    assert kde.returncode == 1 and "for analysts" in kde.stderr
    layers_by_size = {}
    for size in ("100", "251"):
        out = tmp_path / f"h{size}.gpkg"
        made = layers("hotspots", "--store", store, "--out", out, "--role",
                      "agency:Private security", "--cell-m", size, "--shape", "hex")  # fmt: skip
        assert made.returncode == 0, made.stderr
        layers_by_size[size] = gpd.read_file(out, layer="hotspots")
    layer = layers_by_size["100"]
    # Only where the hot and cold cells are: a Gi* z-score or a count would let the counts
    # be solved for.
    assert set(layer.columns) == {"gi_bin", "precinct", "ward", "geometry"}
    bounds = layer.to_crs(32734).geometry.bounds  # cells at the edge are clipped
    assert (bounds.eval("maxx - minx") <= 250 + 1e-6).all()
    assert np.median(bounds.eval("maxx - minx")) == pytest.approx(250)
    assert np.median(bounds.eval("maxy - miny")) == pytest.approx(250)  # square, as asked or not
    # Asking for another size gives the very same grid: no sweep of sizes to overlay.
    assert layer.geometry.equals(layers_by_size["251"].geometry)
    analyst = tmp_path / "a.gpkg"
    made = layers("hotspots", "--store", store, "--out", analyst, "--cell-m", "300")
    assert made.returncode == 0, made.stderr
    assert "gi_z" in gpd.read_file(analyst, layer="hotspots").columns


def test_users_set_writes_a_hash_the_dashboard_accepts(tmp_path):
    users = tmp_path / "users.toml"
    made = layers("users", "set", "thandi", "--role", "agency:Metro Police", "--users", users,
                  "--password-stdin", stdin="a long enough password\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "a long enough password" not in users.read_text()
    viewer = authenticate(load_users(users), "thandi", "a long enough password")
    assert viewer is not None and viewer.agency == "Metro Police"
    short = layers("users", "set", "x", "--role", "public", "--users", users,
                   "--password-stdin", stdin="short\n")  # fmt: skip
    assert short.returncode == 1 and "at least 12 characters" in short.stderr


def test_an_unknown_role_is_explained(store, tmp_path):
    result = layers("map", "--store", store, "--out", tmp_path / "m.html", "--role", "admin")
    assert result.returncode == 1 and "use analyst, public or agency:AGENCY" in result.stderr


def test_a_tampered_audit_log_fails_verification(tmp_path):
    log = tmp_path / "audit.jsonl"
    book = audit.AuditLog(log)
    for n in range(3):
        book.record(audit.EXPORT, user="u", role="analyst", detail={"rows": n})
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace('"rows":1', '"rows":100')
    log.write_text("\n".join(lines) + "\n")
    result = layers("audit", "verify", "--log", log)
    assert result.returncode == 1 and "line 2" in result.stderr.lower()


def test_with_an_access_file_the_role_must_be_said_and_evaluate_is_for_analysts(
    store, tmp_path, access
):
    out = tmp_path / "x.csv"
    unsaid = layers("export", "--store", store, "--out", out, "--access", access)
    assert unsaid.returncode == 1 and "--role" in unsaid.stderr and not out.exists()
    refused = layers("evaluate", "--store", store, "--split", "2026-05-01", "--role", "public",
                     "--access", access)  # fmt: skip
    assert refused.returncode == 1 and "analysts only" in refused.stderr
    public = layers("export", "--store", store, "--out", out, "--role", "public",
                    "--access", access)  # fmt: skip
    assert public.returncode == 1
    denied = audit.read_events(tmp_path / "audit.jsonl", event=audit.ACCESS_DENIED)
    assert [(e["role"], e["detail"]["what"]) for e in denied] == [
        ("public", "hotspot evaluation"),
        ("public", "incident export"),
    ]
    assert all(e["user"] == getpass.getuser() for e in denied)  # the operating-system user


def test_an_export_that_cannot_be_logged_is_not_written(store, tmp_path):
    (tmp_path / "audit.jsonl").mkdir()  # the log cannot be written
    access = tmp_path / "access.toml"
    access.write_text('[sign_in]\nusers = "users.toml"\naudit_log = "audit.jsonl"\n')
    out = tmp_path / "all.csv"
    result = layers("export", "--store", store, "--out", out, "--role", "analyst",
                    "--access", access)  # fmt: skip
    assert result.returncode != 0
    assert not out.exists() and not list(tmp_path.glob(".all.csv*"))


def test_cli_audit_names_files_not_folders_and_logs_ingests(store, tmp_path, access):
    out = tmp_path / "deep" / "folder" / "saps.csv"
    out.parent.mkdir(parents=True)
    made = layers("export", "--store", store, "--out", out, "--role", "agency:SAPS",
                  "--access", access)  # fmt: skip
    assert made.returncode == 0, made.stderr
    (export,) = audit.read_events(tmp_path / "audit.jsonl", event=audit.EXPORT)
    assert export["detail"]["file"] == "saps.csv"
    assert str(tmp_path) not in json.dumps(export)
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\x01\x02 not a csv")
    target = tmp_path / "store2"
    layers("ingest", "--store", target, "--access", access, str(bad))
    ingests = audit.read_events(tmp_path / "audit.jsonl", event=audit.INGEST)
    assert ingests and ingests[-1]["detail"]["files"] == ["broken.csv"]
    assert ingests[-1]["detail"]["refused"]  # a new store without boundaries: refused, logged
    assert ingests[-1]["role"] == "operator" and ingests[-1]["user"] == getpass.getuser()
