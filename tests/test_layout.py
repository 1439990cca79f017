"""The house's shape (issue 15): a short frame, pages that each read as one job, and the calls
that turn a snapshot into what a viewer may see made from one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "pages").glob("*.py"))
# The layers functions that apply a viewer's access (the access step, suppression, and those
# that run them inside): called from app/data.py alone.
ACCESS_CALLS = {"apply_policy", "disclose", "prepare_map", "run_hotspots", "prepare_frame",
                "playback_scale", "playback_area_classes"}  # fmt: skip


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_frame_is_at_most_250_lines():
    assert _lines(ROOT / "dashboard.py") <= 250


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_each_page_is_at_most_450_lines(page):
    assert _lines(page) <= 450


def test_every_page_the_frame_names_exists():
    frame = (ROOT / "dashboard.py").read_text(encoding="utf-8")
    named = {p.name for p in PAGES if f'"pages/{p.name}"' in frame}
    assert named == {p.name for p in PAGES} and len(named) >= 8


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names


def test_access_calls_are_made_from_app_data_alone():
    files = [ROOT / "dashboard.py", *PAGES, *sorted((ROOT / "app").glob("*.py"))]
    calling = {f.relative_to(ROOT).as_posix() for f in files if _names_used(f) & ACCESS_CALLS}
    assert calling == {"app/data.py"}
    assert _names_used(ROOT / "app" / "data.py") >= ACCESS_CALLS
