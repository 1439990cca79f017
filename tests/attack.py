"""An attacker who has the public site and nothing else, for the privacy tests.

It reads one month of a published site (manifest and view files) and sets up every linear
relation a reader can know between the true counts: each listed cell's groups add up to its
"all" count, cells and the unlisted rest of a precinct add up to the precinct's count, groups
add up to "all", precincts to the month's total; counts are whole numbers and never negative.
For every suppressed count (and every derived one: a group's incidents in the unlisted part
of a precinct, all groups' there) it then solves, exactly, the largest value the published
numbers allow. A count whose largest possible value is under k has been narrowed: with its
true value known to be at least 1, the reader has located fewer than k incidents.

Unknowns: ``x[g, c]`` for each suppressed group count in a listed cell and ``u[g, p]`` for
group g's incidents in precinct p outside the listed cells. The program is solved as a MILP
(integers), so what it reports is what a reader could prove, not a relaxation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

ALL = "all"


@dataclass
class Exposure:
    """A suppressed count the published numbers narrow below k."""

    month: str
    what: str  # "cell", "precinct", "group", "unlisted", "unlisted-all"
    group: str
    place: str
    maximum: float


@dataclass
class MonthModel:
    """What a reader knows about one month."""

    groups: list[str]  # without "all"
    precincts: list[str]
    cells: list[str]
    cell_precinct: list[int]
    cell_all: list[int]  # every listed cell's "all" count is published
    atoms: dict[tuple[int, int], int | None]  # (group, cell) -> published count or None
    areas: dict[tuple[int, int], int | None]  # (group, precinct) -> count or None
    precinct_all: list[int | None]
    group_total: list[int | None]
    total: int | None


def read_month(site: Path, month: str) -> MonthModel:
    """The published numbers of ``month`` in the site at ``site``."""
    manifest = json.loads((site / "manifest.json").read_text())
    views = {v["group"]: v for v in manifest["views"] if v["month"] == month}
    groups = [g for g in manifest["groups"] if g != ALL]
    precincts = sorted(views[ALL]["areas"])
    prec_index = {p: i for i, p in enumerate(precincts)}
    features = {
        g: json.loads((site / views[g]["file"]).read_text())["features"] for g in manifest["groups"]
    }
    cells = [f["properties"]["cell"] for f in features[ALL]]
    cell_precinct = [prec_index[f["properties"]["precinct"]] for f in features[ALL]]
    cell_all = [f["properties"]["count"] for f in features[ALL]]
    assert all(c is not None for c in cell_all), "a listed cell's all-groups count is published"
    atoms: dict[tuple[int, int], int | None] = {}
    for g, group in enumerate(groups):
        by_cell = {f["properties"]["cell"]: f["properties"]["count"] for f in features[group]}
        assert set(by_cell) == set(cells), "every view lists the same cells"
        for c, cell in enumerate(cells):
            atoms[g, c] = by_cell[cell]
    areas = {
        (g, prec_index[p]): n
        for g, group in enumerate(groups)
        for p, n in views[group]["areas"].items()
    }
    return MonthModel(
        groups=groups, precincts=precincts, cells=cells, cell_precinct=cell_precinct,
        cell_all=cell_all, atoms=atoms, areas=areas,
        precinct_all=[views[ALL]["areas"][p] for p in precincts],
        group_total=[views[g]["total"] for g in groups], total=views[ALL]["total"],
    )  # fmt: skip


class Attacker:
    """Exact bounds on a month's unknown counts from its published numbers."""

    def __init__(self, model: MonthModel) -> None:
        self.model = model
        m = model
        n_g, n_p = len(m.groups), len(m.precincts)
        self.x_index = {key: i for i, key in enumerate(k for k, v in m.atoms.items() if v is None)}
        self.u_index = {
            (g, p): len(self.x_index) + g * n_p + p for g in range(n_g) for p in range(n_p)
        }
        self.n = len(self.x_index) + n_g * n_p
        rows: list[tuple[dict[int, float], float]] = []

        def known_part(g: int, cells: list[int]) -> int:
            return sum(m.atoms[g, c] or 0 for c in cells)

        cells_of = [[c for c in range(len(m.cells)) if m.cell_precinct[c] == p] for p in range(n_p)]
        for c, total in enumerate(m.cell_all):
            coeffs = {self.x_index[g, c]: 1.0 for g in range(n_g) if (g, c) in self.x_index}
            known = sum(m.atoms[g, c] or 0 for g in range(n_g))
            rows.append((coeffs, total - known))

        def area_expr(g: int, p: int) -> tuple[dict[int, float], int]:
            coeffs = {self.x_index[g, c]: 1.0 for c in cells_of[p] if (g, c) in self.x_index}
            coeffs[self.u_index[g, p]] = 1.0
            return coeffs, known_part(g, cells_of[p])

        def area_sum(value: int, groups: range | list[int], precincts: range | list[int]) -> None:
            """The equation of a published sum (``value``) of groups' counts over precincts."""
            coeffs: dict[int, float] = {}
            known = 0
            for g in groups:
                for p in precincts:
                    part, kn = area_expr(g, p)
                    coeffs.update(part)
                    known += kn
            rows.append((coeffs, value - known))

        for (g, p), value in m.areas.items():
            if value is not None:
                area_sum(value, [g], [p])
        for p, value in enumerate(m.precinct_all):
            if value is not None:
                area_sum(value, range(n_g), [p])
        for g, value in enumerate(m.group_total):
            if value is not None:
                area_sum(value, [g], range(n_p))
        if m.total is not None:
            known = sum(v or 0 for v in m.atoms.values())
            rows.append(({i: 1.0 for i in range(self.n)}, m.total - known))
        matrix = lil_matrix((len(rows), self.n))
        rhs = np.empty(len(rows))
        for r, (coeffs, value) in enumerate(rows):
            for i, a in coeffs.items():
                matrix[r, i] = a
            rhs[r] = value
        self.constraint = LinearConstraint(matrix.tocsr(), rhs, rhs)
        self.cells_of = cells_of

    def maximum(self, coeffs: dict[int, float]) -> float:
        """The largest value of ``sum(coeffs[i] * var[i])`` the published numbers allow."""
        objective = np.zeros(self.n)
        for i, a in coeffs.items():
            objective[i] = -a
        result = milp(
            objective, constraints=self.constraint, integrality=np.ones(self.n),
            bounds=Bounds(np.zeros(self.n), np.full(self.n, np.inf)),
        )  # fmt: skip
        if result.status == 3 or (result.x is None and result.status != 0):
            return float("inf") if result.status in (3, 4) else float("nan")
        return float(-result.fun)

    def expression(self, what: str, g: int, p: int) -> dict[int, float]:
        """Unknowns adding up to a count: a group's count in a precinct (all its suppressed
        cells and its unlisted rest), or the unlisted rest alone; g = -1 for all groups."""
        groups = range(len(self.model.groups)) if g < 0 else [g]
        coeffs: dict[int, float] = {}
        for h in groups:
            coeffs[self.u_index[h, p]] = 1.0
            if what == "area":
                for c in self.cells_of[p]:
                    if (h, c) in self.x_index:
                        coeffs[self.x_index[h, c]] = 1.0
        return coeffs


def exposures(
    site: Path, month: str, truth: dict[str, object], k: int, *, limit: int | None = None
) -> list[Exposure]:
    """Suppressed counts (true value 1..k-1) of ``month`` that the site narrows below k.

    ``truth`` holds the month's true counts, keyed like :class:`MonthModel`'s fields:
    ``atoms`` {(group, cell id): n}, ``areas`` {(group, precinct): n}, ``precinct_all``
    {precinct: n}, ``group_total`` {group: n}, ``unlisted`` {(group, precinct): n}.
    """
    model = read_month(site, month)
    attacker = Attacker(model)
    found: list[Exposure] = []
    checks: list[tuple[str, str, str, dict[int, float]]] = []
    for (g, c), i in attacker.x_index.items():
        value = truth["atoms"].get((model.groups[g], model.cells[c]), 0)  # type: ignore[union-attr]
        if 1 <= value < k:
            checks.append(("cell", model.groups[g], model.cells[c], {i: 1.0}))
    for (g, p), value in model.areas.items():
        true = truth["areas"].get((model.groups[g], model.precincts[p]), 0)  # type: ignore[union-attr]
        if value is None and 1 <= true < k:
            checks.append(("precinct", model.groups[g], model.precincts[p],
                           attacker.expression("area", g, p)))  # fmt: skip
        unlisted = truth["unlisted"].get((model.groups[g], model.precincts[p]), 0)  # type: ignore[union-attr]
        if 1 <= unlisted < k:
            checks.append(("unlisted", model.groups[g], model.precincts[p],
                           attacker.expression("unlisted", g, p)))  # fmt: skip
    for p, value in enumerate(model.precinct_all):
        name = model.precincts[p]
        true = truth["precinct_all"].get(name, 0)  # type: ignore[union-attr]
        if value is None and 1 <= true < k:
            checks.append(("precinct", ALL, name, attacker.expression("area", -1, p)))
        unlisted_of = truth["unlisted"].items()  # type: ignore[union-attr]
        unlisted = sum(n for (_, q), n in unlisted_of if q == name)
        if 1 <= unlisted < k:
            checks.append(("unlisted-all", ALL, name, attacker.expression("unlisted", -1, p)))
    for g, value in enumerate(model.group_total):
        true = truth["group_total"].get(model.groups[g], 0)  # type: ignore[union-attr]
        if value is None and 1 <= true < k:
            coeffs: dict[int, float] = {}
            for p in range(len(model.precincts)):
                coeffs.update(attacker.expression("area", g, p))
            checks.append(("group", model.groups[g], "", coeffs))
    for what, group, place, coeffs in checks[:limit]:
        best = attacker.maximum(coeffs)
        if best < k:
            found.append(Exposure(month, what, group, place, best))
    return found
