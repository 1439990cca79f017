"""Which published counts to suppress so that no combination of them locates a victim.

One month of the public site is a table of counts with sums at three levels: incidents of
each *group* (a partition of the published categories) in each *cell* (a grid square clipped
to one precinct, so cells nest in precincts), their sums per cell ("all" groups), per
precinct and group, per precinct, per group and in total. Every one of those numbers is
published unless it is suppressed here, and a reader can add and subtract any of them.

**What is protected.** A count is published only when it is at least ``k``; every count
under ``k`` (zero included, so that a blank never tells "none" from "one") is suppressed. For
every suppressed count whose true value is between 1 and ``k - 1``, this module proves that
the published numbers are also consistent with a different month in which that count is at
least ``k``: an *alternative table* with non-negative counts that gives every published
number exactly as published. A reader who sees only published numbers cannot tell the two
apart, so no combination of them (totals minus parts, groups against "all", areas against
cells, linear programs over all of it) can narrow that count below ``k``. A union of
suppressed counts cannot be narrowed below ``k`` either when one of its members is positive,
since that member's certified value bounds the union from below.

**How the alternatives are built.** Suppression is complementary, in two nested levels:

1. *Cells within a precinct.* A cell is *open* when every group's count in it is 0 or at
   least ``k``; its group counts are then published. Otherwise it is *closed*: all of its
   group counts are suppressed, so the closed cells of a precinct form one full block of
   suppressed counts. In a full block with fixed row and column sums any count can be moved
   up to the smaller of its row's and its column's sum (the transportation polytope), so a
   count in a closed cell whose column (the cell's total) is at least ``k`` and whose row
   (its group's incidents in the precinct's closed cells) is at least ``k`` is protected.
   Cells whose total is under ``k`` are *dark*: they are not listed at all (a listed cell
   would say "at least one incident here"), and their incidents count only in the
   precinct's totals. All of a precinct's dark cells, together with the rest of its area
   that no listed cell covers, act as one more column of the block whose sum may move
   anywhere, since nothing there is published: a dark cell could hold all of the dark
   incidents. So more cells are made dark until the dark ones hold none or at least ``k``.
2. *Groups across precincts.* A row that is too thin inside its precinct (fewer than ``k``
   of a group in the closed cells) needs incidents of its group brought in from other
   precincts, swapped for incidents of other groups, without changing any published
   precinct, group or cell total. That is a small linear program over the suppressed
   precinct-and-group counts (a network: every variable sits in one precinct sum and one
   group sum); it is solved for each such count, and when its maximum is under ``k`` more
   precinct-and-group counts are suppressed (partners that hold enough to swap, smallest
   first) until it is not. Precinct totals under ``k`` and group totals under ``k`` are raised
   the same way, by moving incidents unseen from other precincts' unlisted area or from
   other groups whose totals are hidden too. What a solution moves between two precincts
   is then placed inside each precinct's closed block, which any non-negative row sums with
   the same total fit.

Each alternative is checked on its own, so it is enough that one exists per count; more
suppression only widens what the published numbers allow, so a complement added for one
count never undoes another's. ``tests/attack.py`` checks the result independently: an exact
integer program over every relation between the published files. When a month cannot be
protected this way (a month with fewer than ``k`` incidents, say), it is withheld whole. The
functions here are pure: counts in, suppression masks out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

# Partners tried for one thin row before the month is withheld.
MAX_PARTNER_ROUNDS = 12
# Why a month is withheld; one wording whatever the cause, so that it implies no count.
WITHHELD = "its counts could not be published without giving small ones away"


@dataclass(frozen=True)
class MonthTable:
    """One month's counts: ``atoms[g, c]`` incidents of group ``g`` in cell ``c``.

    Attributes
    ----------
    atoms : numpy.ndarray
        Integer counts, shape (groups, cells): every cell with at least one incident (in any
        group). Which of them are listed on the site is decided here (see :func:`protect`).
    cell_precinct : numpy.ndarray
        The precinct (0 .. n_precincts - 1) each cell lies in.
    n_precincts : int
        Precincts in the published area table (a precinct may have no cell this month).
    spare : numpy.ndarray, optional
        Per precinct, whether some of its area lies outside the cells listed this month (so
        that an alternative table can put incidents there unseen); True for all by default.
    """

    atoms: np.ndarray
    cell_precinct: np.ndarray
    n_precincts: int
    spare: np.ndarray | None = None

    def __post_init__(self) -> None:
        atoms = np.asarray(self.atoms)
        if atoms.ndim != 2 or (atoms < 0).any():
            raise ValueError("atoms must be a 2-D table of non-negative counts.")
        if len(self.cell_precinct) != atoms.shape[1]:
            raise ValueError("cell_precinct must give one precinct per cell (column of atoms).")
        if atoms.shape[1] and (atoms.sum(axis=0) < 1).any():
            raise ValueError("every cell given must hold at least one incident.")

    @property
    def cells(self) -> np.ndarray:
        """Incidents per cell (all groups)."""
        return self.atoms.sum(axis=0)

    @property
    def precinct_groups(self) -> np.ndarray:
        """Incidents per group and precinct, shape (groups, precincts)."""
        out = np.zeros((self.atoms.shape[0], self.n_precincts), dtype=np.int64)
        np.add.at(out.T, self.cell_precinct, self.atoms.T)
        return out

    @property
    def precincts(self) -> np.ndarray:
        """Incidents per precinct (all groups)."""
        return self.precinct_groups.sum(axis=0)

    @property
    def groups(self) -> np.ndarray:
        """Incidents per group (all precincts)."""
        return self.atoms.sum(axis=1)


@dataclass
class Suppression:
    """Which of a month's counts are suppressed (True: published as null).

    Attributes
    ----------
    atoms, cells, precinct_groups, precincts, groups : numpy.ndarray
        Masks shaped like the counts of :class:`MonthTable` of the same name.
    total : bool
        The month's total.
    withheld : str
        Why the whole month is withheld; empty when it is published.
    certified : int
        Suppressed counts between 1 and k - 1 given an alternative table (for reports).
    """

    atoms: np.ndarray
    cells: np.ndarray
    precinct_groups: np.ndarray
    precincts: np.ndarray
    groups: np.ndarray
    total: bool = False
    withheld: str = ""
    certified: int = 0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def everything(cls, table: MonthTable, reason: str) -> Suppression:
        """Every count suppressed: the month is withheld for ``reason``."""
        g, c = table.atoms.shape
        return cls(
            atoms=np.ones((g, c), dtype=bool), cells=np.ones(c, dtype=bool),
            precinct_groups=np.ones((g, table.n_precincts), dtype=bool),
            precincts=np.ones(table.n_precincts, dtype=bool), groups=np.ones(g, dtype=bool),
            total=True, withheld=reason,
        )  # fmt: skip


def primary(table: MonthTable, k: int) -> Suppression:
    """Only the counts under ``k`` suppressed: what suppression without complements does.

    Not safe to publish (totals minus the published parts give the small counts back); the
    attacker tests use it to show that they would catch a leak.
    """
    return Suppression(
        atoms=table.atoms < k, cells=table.cells < k,
        precinct_groups=table.precinct_groups < k, precincts=table.precincts < k,
        groups=table.groups < k, total=int(table.atoms.sum()) < k,
    )  # fmt: skip


def protect(table: MonthTable, k: int) -> Suppression:
    """Suppress a month's counts so that none between 1 and ``k - 1`` can be narrowed.

    See the module docstring for the method and the argument that it is sound.

    Parameters
    ----------
    table : MonthTable
        The month's counts.
    k : int
        The smallest count that may be published.

    Returns
    -------
    Suppression
        Every count under ``k`` suppressed, and the complements that protect them; or the
        whole month withheld, with the reason.
    """
    atoms = np.asarray(table.atoms, dtype=np.int64)
    n_prec = table.n_precincts
    total = int(atoms.sum())
    if total < k:
        return Suppression.everything(table, WITHHELD)
    where = np.asarray(table.cell_precinct, dtype=np.int64)
    cell_total = atoms.sum(axis=0)
    small = (atoms > 0) & (atoms < k)

    # Level 1: open and closed cells, dark cells, per precinct.
    closed = small.any(axis=0)
    dark = closed & (cell_total < k)
    deficit = np.zeros(n_prec, dtype=np.int64)  # dark-cell room each precinct must get from others
    for p in range(n_prec):
        in_p = np.flatnonzero(where == p)
        if len(in_p):
            deficit[p] = _darken(in_p, cell_total, closed, dark, k)
    y = _closed_rows(atoms, where, closed, n_prec)
    # A thin row (1..k-1 of a group in the closed cells) gets an open cell holding k or more
    # of its group closed, when the precinct has one: hiding a cell's groups costs the public
    # less than hiding a precinct's group total.
    for g, p in zip(*np.nonzero((y > 0) & (y < k)), strict=True):
        if y[g, p] >= k:
            continue
        in_p = np.flatnonzero((where == p) & ~closed & (atoms[g] >= k))
        if len(in_p):
            closed[in_p[np.argmin(cell_total[in_p])]] = True
            y = _closed_rows(atoms, where, closed, n_prec)

    # Level 2: the precinct-and-group table, with totals per precinct and per group.
    pg = table.precinct_groups
    prec_total = pg.sum(axis=0)
    group_total = pg.sum(axis=1)
    hide_pg = pg < k
    hide_prec = (prec_total < k) | (deficit > 0)
    hide_group = group_total < k
    listed_in = np.zeros(n_prec, dtype=bool)  # precincts with a listed cell: k or more in all
    listed_in[where[~dark]] = True
    room_down = np.zeros(n_prec, dtype=np.int64)  # how far a precinct's dark cells can shrink
    np.add.at(room_down, where[dark], cell_total[dark])
    spare = np.ones(n_prec, dtype=bool) if table.spare is None else np.asarray(table.spare)
    has_dark = spare | (room_down > 0)  # where a precinct can take in more incidents unseen

    thin_rows = [(int(g), int(p)) for g, p in zip(*np.nonzero((y > 0) & (y < k)), strict=True)]
    for g, p in thin_rows:  # already under k: a thin row left is the precinct's whole count
        hide_pg[g, p] = True
    # Precinct and group totals first: a thin precinct's or group's rows can only be raised
    # once other precincts or groups can give it incidents unseen.
    targets: list[tuple[str, int, int, int]] = [
        ("precinct", -1, int(p), int(max(k - prec_total[p], deficit[p])))
        for p in np.flatnonzero((prec_total > 0) & ((prec_total < k) | (deficit > 0)))
    ]
    thin_groups = np.flatnonzero((group_total > 0) & (group_total < k))
    targets += [("group", int(g), -1, k) for g in thin_groups]
    targets += [("row", g, p, k) for g, p in thin_rows]

    level2 = _Level2(y=y, room_down=room_down, has_dark=has_dark, deficit=deficit)
    for kind, g, p, need in targets:
        for _ in range(MAX_PARTNER_ROUNDS):
            if level2.reaches(kind, g, p, need, hide_pg, hide_prec, hide_group):
                break
            hidden = (hide_pg, hide_prec, hide_group, has_dark, room_down, listed_in)
            # A row of a thin precinct or group also needs precincts or groups that can give
            # it incidents: those partners come first.
            kinds = [kind]
            if kind == "row":
                kinds = [*(["group"] if group_total[g] < k else []),
                         *(["precinct"] if deficit[p] > 0 else []), "row"]  # fmt: skip
            if not any(_add_partners(kind_, g, p, y, need, *hidden) for kind_ in kinds):
                return Suppression.everything(table, WITHHELD)
        else:
            return Suppression.everything(table, WITHHELD)
    # Complements added for a later target never undo an earlier one's alternative (more
    # suppression only widens what the published numbers allow), so every target holds.
    hide_atoms = np.broadcast_to(closed, atoms.shape) | (atoms < k)
    certified = int((small & hide_atoms).sum()) + int(dark.sum()) + len(targets)
    return Suppression(
        atoms=np.array(hide_atoms), cells=dark.copy(), precinct_groups=hide_pg,
        precincts=hide_prec, groups=hide_group, total=False, certified=certified,
    )  # fmt: skip


def _darken(
    in_p: np.ndarray, cell_total: np.ndarray, closed: np.ndarray, dark: np.ndarray, k: int
) -> int:
    """Make more of a precinct's cells dark until its dark cells hold none or at least ``k``
    incidents together (any dark cell may hold all of them in an alternative table); returns
    what is still missing when every cell is dark (0: nothing)."""
    while True:
        held = int(cell_total[in_p[dark[in_p]]].sum())
        if held == 0 or held >= k:
            return 0
        candidates = in_p[~dark[in_p]]
        if not len(candidates):
            return k - held
        # The smallest cell is enough: a listed cell holds at least k.
        pick = candidates[np.argmin(cell_total[candidates])]
        closed[pick] = True
        dark[pick] = True


def _closed_rows(
    atoms: np.ndarray, where: np.ndarray, closed: np.ndarray, n_prec: int
) -> np.ndarray:
    """Incidents of each group in each precinct's closed cells, shape (groups, precincts)."""
    out = np.zeros((atoms.shape[0], n_prec), dtype=np.int64)
    np.add.at(out.T, where[closed], atoms[:, closed].T)
    return out


@dataclass
class _Level2:
    """Linear programs over the precinct-and-group table: how far can a count be raised
    while every published number stays as published (see the module docstring)."""

    y: np.ndarray  # each group's incidents in each precinct's closed cells
    room_down: np.ndarray  # how many incidents each precinct's dark cells can give up
    has_dark: np.ndarray  # whether a precinct has somewhere unlisted to take in incidents
    deficit: np.ndarray  # dark-cell room a precinct must be able to take in

    def reaches(
        self, kind: str, g: int, p: int, need: int,
        hide_pg: np.ndarray, hide_prec: np.ndarray, hide_group: np.ndarray,
    ) -> bool:  # fmt: skip
        """Whether some alternative table raises the target by enough: a thin row (g, p) to
        ``need`` incidents in the precinct's closed cells; a precinct's total by ``need``; a
        group's total by ``need``."""
        have = int(self.y[g, p]) if kind == "row" else 0
        if kind == "row" and self._rectangle(g, p, need - have, hide_pg):
            return True
        return have + self.maximum(kind, g, p, hide_pg, hide_prec, hide_group) >= need

    def _rectangle(self, g: int, p: int, raise_by: int, hide_pg: np.ndarray) -> bool:
        """A quick certificate: four suppressed counts (g, p), (h, p), (g, q), (h, q) where
        ``raise_by`` of group g can move from q to p while as many of group h move back."""
        if self.deficit[p] > 0 or not hide_pg[g, p]:
            return False
        donors = np.flatnonzero(hide_pg[:, p] & (self.y[:, p] >= raise_by))
        places = np.flatnonzero(hide_pg[g] & (self.y[g] >= raise_by))
        donors, places = donors[donors != g], places[places != p]
        return bool(len(donors) and len(places) and hide_pg[np.ix_(donors, places)].any())

    def maximum(
        self, kind: str, g: int, p: int,
        hide_pg: np.ndarray, hide_prec: np.ndarray, hide_group: np.ndarray,
    ) -> float:  # fmt: skip
        """The largest raise of the target over all alternative tables (may be inf)."""
        pairs = np.argwhere(hide_pg)  # (group, precinct) of each suppressed count
        n_pairs = len(pairs)
        precs = np.flatnonzero(hide_prec)
        groups = np.flatnonzero(hide_group)
        n = n_pairs + len(precs) + len(groups)
        if kind == "row" and not hide_pg[g, p]:
            return 0.0
        if kind == "precinct" and not hide_prec[p]:
            return 0.0
        if kind == "group" and not hide_group[g]:
            return 0.0
        lower = np.empty(n)
        upper = np.full(n, np.inf)
        lower[:n_pairs] = -self.y[pairs[:, 0], pairs[:, 1]]
        prec_var = {int(q): n_pairs + i for i, q in enumerate(precs)}
        group_var = {int(h): n_pairs + len(precs) + i for i, h in enumerate(groups)}
        for q, v in prec_var.items():
            lower[v] = -float(self.room_down[q])
            upper[v] = np.inf if self.has_dark[q] else 0.0
        for v in group_var.values():
            lower[v] = -np.inf
        # The target's own precinct never loses incidents (its dark cells keep their room and
        # take in what they lack); when the target is its total, no group in it shrinks
        # either, so rows that were thick enough stay so.
        if kind in ("row", "precinct"):
            if p in prec_var:
                lower[prec_var[p]] = max(lower[prec_var[p]], 0.0, float(self.deficit[p]))
            if kind == "precinct":
                lower[:n_pairs] = np.where(pairs[:, 1] == p, 0.0, lower[:n_pairs])
        rows, cols, vals = [], [], []
        eq = 0
        # One equation per precinct, and one per group: its suppressed counts change by what
        # its total does (nothing, when the total is published).
        for axis, totals, total_var in ((1, precs, prec_var), (0, groups, group_var)):
            for q in np.unique(np.concatenate([pairs[:, axis], totals])):
                members = np.flatnonzero(pairs[:, axis] == q)
                rows += [eq] * len(members)
                cols += members.tolist()
                vals += [1.0] * len(members)
                if int(q) in total_var:
                    rows.append(eq)
                    cols.append(total_var[int(q)])
                    vals.append(-1.0)
                eq += 1
        # The month's total is published: precinct totals change by nothing in sum.
        if prec_var:
            rows += [eq] * len(prec_var)
            cols += list(prec_var.values())
            vals += [1.0] * len(prec_var)
            eq += 1
        objective = np.zeros(n)
        if kind == "row":
            objective[int(np.flatnonzero((pairs[:, 0] == g) & (pairs[:, 1] == p))[0])] = -1.0
        elif kind == "precinct":
            objective[prec_var[p]] = -1.0
        else:
            objective[group_var[g]] = -1.0
        if np.any(lower > upper):
            return 0.0
        a_eq = coo_matrix((vals, (rows, cols)), shape=(eq, n)).tocsr()
        result = linprog(
            objective, A_eq=a_eq, b_eq=np.zeros(eq), bounds=np.column_stack([lower, upper]),
            method="highs",
        )  # fmt: skip
        if result.status == 3:  # unbounded
            return float("inf")
        if result.status != 0:
            return 0.0
        return float(-result.fun)


def _add_partners(
    kind: str, g: int, p: int, y: np.ndarray, need: int,
    hide_pg: np.ndarray, hide_prec: np.ndarray, hide_group: np.ndarray, has_dark: np.ndarray,
    room_down: np.ndarray, listed_in: np.ndarray,
) -> bool:  # fmt: skip
    """Suppress one more set of partner counts for a target that cannot yet be raised
    enough: returns False when there is nothing left to suppress."""
    if kind == "row":
        # Another group with incidents in this precinct's closed cells to swap, and another
        # precinct with incidents of this group to swap with: a rectangle of four counts.
        # The smallest partners that are enough come first (they cost the public least).
        raise_by = need - int(y[g, p])
        others = [h for h in _partners(y[:, p], raise_by) if h != g]
        places = [q for q in _partners(y[g], raise_by) if q != p]
        for h in others:
            for q in places:
                corner = [(h, p), (g, q), (h, q)]
                if not all(hide_pg[a, b] for a, b in corner):
                    for a, b in corner:
                        hide_pg[a, b] = True
                    return True
        # No rectangle left: the group's precinct counts and the precinct's group counts.
        if not hide_pg[g].all() or not hide_pg[:, p].all():
            hide_pg[g] = True
            hide_pg[:, p] = True
            return True
        if not hide_group[g]:
            hide_group[g] = True
            return True
        return False
    if kind == "precinct":
        # Another precinct whose unlisted cells can give incidents (the smallest that can give
        # enough, then the largest); all counts of both. Only a precinct with no listed cell
        # will do: a listed cell holds k or more, so a partner with one could not be the thin
        # precinct, and a reader who knows the rule would know which one is.
        for q in _partners(np.where(listed_in, 0, room_down), need):
            if q == p or listed_in[q]:
                continue
            if not hide_prec[q] or not hide_pg[:, q].all() or not hide_pg[:, p].all():
                hide_prec[q] = True
                hide_pg[:, q] = True
                hide_pg[:, p] = True
                return True
        return False
    # A group: another group's total, and both groups' precinct counts.
    for h in np.argsort(y.sum(axis=1), kind="stable"):
        if h == g or y[h].sum() == 0:
            continue
        if not hide_group[h] or not hide_pg[h].all() or not hide_pg[g].all():
            hide_group[h] = True
            hide_pg[h] = True
            hide_pg[g] = True
            return True
    return False


def _partners(values: np.ndarray, enough: int) -> list[int]:
    """Indices with something to give: those holding ``enough`` or more, smallest first,
    then the rest, largest first."""
    order = np.argsort(values, kind="stable")
    big = [int(i) for i in order if values[i] >= enough]
    rest = [int(i) for i in order[::-1] if 0 < values[i] < enough]
    return big + rest
