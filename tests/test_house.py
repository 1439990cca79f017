"""The house (issue 15): access is one step on the data's path, a new figure is safe without
touching it, modules import each other without a circle, and ``layers/`` never imports
Streamlit."""

from __future__ import annotations

import ast
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layers.access import sight as sight_module
from layers.access import suppression as suppression_module
from layers.access.policy import Policy, PrivacyRules, Viewer
from layers.access.sight import apply_policy
from layers.access.suppression import disclose
from layers.analysis.figures import count
from layers.maps.view import prepare_map
from layers.storage.columnar import IncidentColumns, counts_by, select
from layers.storage.filters import IncidentFilter
from layers.storage.store import open_store
from tests.test_privacy import incidents, spread

ROOT = Path(__file__).resolve().parents[1]
SAPS = Policy(Viewer("station", "agency", agency="SAPS"))
ANALYST = Policy(Viewer("analyst", "analyst"))
PUBLIC = Policy(Viewer("cpf", "public"))


def by_category_and_hour(columns: IncidentColumns, mask: np.ndarray | None) -> pd.DataFrame:
    """A throwaway figure no page has: incidents per category and hour of day."""
    keep = np.ones(len(columns), dtype=bool) if mask is None else mask
    frame = pd.DataFrame(
        {"category": np.asarray(columns.labels["category"], dtype=object)[
            columns.codes["category"][keep]], "hour": columns.hour[keep]}
    )  # fmt: skip
    return frame.groupby(["hour", "category"]).size().unstack(fill_value=0)


def test_a_new_figure_is_suppressed_without_any_change_to_the_access_code():
    # Ward W1: Metro Police's 2 burglaries, 5 assaults and 4 thefts, and SAPS's 6 robberies.
    cols = incidents(
        spread(2, 18.6, -33.9, category="Burglary")
        + spread(5, 18.6, -33.9, category="Assault", seed=2)
        + spread(4, 18.6, -33.9, category="Theft", seed=3)
        + spread(6, 18.6, -33.9, agency="SAPS", category="Robbery", seed=1)
    )
    ward = IncidentFilter(wards=("W1",))
    figure = partial(count, aggregate=by_category_and_hour, level="ward")

    def shown(policy: Policy) -> pd.Series:
        sight = apply_policy(policy, cols, select(cols, ward), ward)
        return disclose({"new": figure(sight)}, sight.k)["new"].sum(min_count=1)

    assert shown(ANALYST).to_dict() == {"Assault": 5, "Burglary": 2, "Robbery": 6, "Theft": 4}
    # An agency: the 2 burglaries are hidden, and so is enough beside them (its own 6, which
    # tell nothing of other agencies, and the 4 thefts) that they cannot be worked out.
    agency = shown(SAPS)
    assert agency.isna().to_dict() == {"Assault": False, "Burglary": True, "Robbery": True,
                                       "Theft": True}  # fmt: skip
    assert agency["Assault"] == 5
    public = shown(PUBLIC)
    assert public.isna().to_dict() == {"Assault": False, "Burglary": True, "Robbery": False,
                                       "Theft": True}  # fmt: skip


def test_a_new_figure_over_the_city_is_shown_as_counted():
    cols = incidents(spread(2, 18.6, -33.9) + spread(6, 18.6, -33.9, agency="SAPS", seed=1))
    sight = apply_policy(SAPS, cols, None, IncidentFilter())
    by_agency = disclose({"new": count(sight, partial(counts_by, column="agency"))}, sight.k)
    assert by_agency["new"].to_dict() == {"Metro Police": 2, "SAPS": 6}


def _calls_into(module, run) -> list[tuple[str, str]]:
    """(event, function) for each call into and return out of ``module`` from outside it."""
    target = module.__file__
    events: list[tuple[str, str]] = []

    def profile(frame, event, arg):
        if event not in ("call", "return") or frame.f_code.co_filename != target:
            return
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename != target:
            events.append((event, frame.f_code.co_name))

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return events


def test_an_agency_map_request_enters_the_access_step_once(demo_store):
    snapshot = open_store(demo_store)
    flt = IncidentFilter(precincts=(snapshot.columns.labels["precinct"][0],))
    policy = Policy(Viewer("golden", "agency", "SAPS"), PrivacyRules())

    def request():
        prepare_map(snapshot, flt, boundary="ward", zoom=13, bounds=(18.4, -34.1, 18.7, -33.8),
                    policy=policy)  # fmt: skip

    assert _calls_into(sight_module, request) == [("call", "apply_policy"),
                                                  ("return", "apply_policy")]  # fmt: skip
    assert _calls_into(suppression_module, request) == [("call", "disclose"),
                                                        ("return", "disclose")]  # fmt: skip


def _project_modules() -> dict[str, Path]:
    files = [*ROOT.glob("*.py"), *(ROOT / "layers").rglob("*.py")]
    for folder in ("pages", "app"):
        files += (ROOT / folder).rglob("*.py")
    modules = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports: ``import a.b`` gives ``a.b``, and
    ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a module or a name in ``a``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_no_import_circle_among_the_project_modules():
    modules = _project_modules()
    assert "layers.access.sight" in modules and "dashboard" in modules
    graph = {name: (_imported(path) & modules.keys()) - {name} for name, path in modules.items()}
    # Packages' __init__ hold only a docstring: importing a module imports them, not the reverse.
    graph = {name: {m for m in deps if modules[m].name != "__init__.py"}
             for name, deps in graph.items()}  # fmt: skip
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                circle = [*path[path.index(dep) :], dep]
                pytest.fail("import circle: " + " -> ".join(circle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_layers_never_imports_streamlit():
    for path in (ROOT / "layers").rglob("*.py"):
        roots = {name.split(".")[0] for name in _imported(path)}
        assert not roots & {"streamlit", "streamlit_folium"}, (
            f"{path.relative_to(ROOT)} imports Streamlit"
        )


# The steps of the data's path, in order: a subpackage imports only itself and earlier steps
# (modules at the top of layers/, shared by every step, are outside the order).
STEPS = ("intake", "storage", "livefeed", "access", "analysis", "maps", "publishing")


def test_each_step_imports_only_itself_and_earlier_steps():
    later = []
    for path in sorted((ROOT / "layers").rglob("*.py")):
        parts = path.relative_to(ROOT / "layers").parts
        if len(parts) < 2:
            continue
        step = STEPS.index(parts[0])
        for name in sorted(_imported(path)):
            target = name.split(".")[1] if name.startswith("layers.") else None
            if target in STEPS and STEPS.index(target) > step:
                later.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not later, "a step imports a later one:\n" + "\n".join(later)
    assert {p.name for p in (ROOT / "layers").iterdir() if p.is_dir() and p.name in STEPS} == set(
        STEPS
    )
