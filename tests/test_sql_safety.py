"""No SQL text from outside: every statement in ``layers/`` is fixed, values go as parameters.

Two tiers: an AST check that every ``.execute``/``.executemany``/cursor ``.copy`` call in
``layers/*.py`` is handed SQL whose text cannot depend on a caller's value (checked itself on
bad samples), and a real PostgreSQL round trip of values written like an injection.
"""

from __future__ import annotations

import ast
import functools
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from conftest import ROOT, incident_rows, write_csv
from shapely.geometry import box

LAYERS = ROOT / "layers"
SQL_CALLS = ("execute", "executemany", "copy")
# psycopg.sql parts that only ever hold fixed text (SQL) or quote what they hold (Identifier).
_COMPOSABLE_TEXT = "SQL"
_QUOTED = ("Identifier", "Placeholder")
_CONSTANT_NAME = re.compile(r"_?[A-Z][A-Z0-9_]*")

DROP = "'); DROP TABLE incident_map.incidents; --"
DELETE = '"; DELETE FROM incident_map.meta; --'


# --- the checker ---------------------------------------------------------------------------


def unsafe_sql_calls(source: str, *, module: str = "<sample>") -> list[str]:
    """Each SQL call in ``source`` whose statement could carry text from outside, as
    ``module:line: code``; and the number of SQL calls seen, last, as ``"checked: N"``.

    Safe statements: a string literal; a module-level constant (UPPER_CASE, assigned once, its
    value built only from literals and other such constants, e.g. ``f"... {SCHEMA}.meta"``);
    an f-string or ``+`` of those; or a ``psycopg.sql`` composition of ``SQL(<safe text>)``
    with ``Identifier(...)``/``Placeholder(...)`` parts. Anything else is reported: f-strings
    or ``+`` of a variable, ``%`` or ``.format`` on text, ``SQL(<variable>)``, local names.
    """
    tree = ast.parse(source)
    constants = _module_constants(tree, resolve=_layers_constants)
    aliases = _psycopg_sql_aliases(tree)
    found: list[tuple[int, str]] = []
    checked = 0
    for call in ast.walk(tree):
        statement = _sql_statement(call)
        if statement is None:
            continue
        checked += 1
        if not (_static(statement, constants) or _composed(statement, constants, aliases)):
            found.append((call.lineno, f"{module}:{call.lineno}: {ast.unparse(call)[:120]}"))
    return [text for _, text in sorted(found)] + [f"checked: {checked}"]


def _sql_statement(node: ast.AST) -> ast.expr | None:
    """The statement argument of an ``x.execute(...)``-style call, or None for other calls."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    if node.func.attr not in SQL_CALLS:
        return None
    keyword = {"execute": "query", "executemany": "query", "copy": "statement"}[node.func.attr]
    if node.args:
        return node.args[0]
    named = [k.value for k in node.keywords if k.arg == keyword]
    # ``frame.copy()`` / ``frame.copy(deep=True)`` (pandas) take no statement.
    return named[0] if named else None


def _static(node: ast.expr, constants: set[str], bound: frozenset[str] = frozenset()) -> bool:
    """True when ``node``'s value is fixed by the source: literals and constants only."""
    recurse = functools.partial(_static, constants=constants, bound=bound)
    match node:
        case ast.Constant():
            return True
        case ast.Name(id=name):
            return name in constants or name in bound
        case ast.JoinedStr(values=values):
            return all(recurse(v) for v in values)
        case ast.FormattedValue(value=value, format_spec=spec):
            return recurse(value) and (spec is None or recurse(spec))
        case ast.BinOp(left=left, op=ast.Add(), right=right):
            return recurse(left) and recurse(right)
        case ast.Tuple(elts=elts) | ast.List(elts=elts):
            return all(recurse(e) for e in elts)
        case ast.Starred(value=value):
            return recurse(value)
        case ast.Subscript(value=value, slice=index):
            return recurse(value) and recurse(index)
        case ast.Slice(lower=lower, upper=upper, step=step):
            return all(part is None or recurse(part) for part in (lower, upper, step))
        case ast.Call(func=ast.Attribute(value=ast.Constant(value=str()), attr="join"), args=args):
            return len(args) == 1 and not node.keywords and recurse(args[0])
        case (
            ast.GeneratorExp(elt=elt, generators=generators)
            | ast.ListComp(elt=elt, generators=generators)
        ):
            names = set(bound)
            for generator in generators:
                if generator.ifs or not _static(generator.iter, constants, frozenset(names)):
                    return False
                names |= {n.id for n in ast.walk(generator.target) if isinstance(n, ast.Name)}
            return _static(elt, constants, frozenset(names))
    return False


def _composed(node: ast.expr, constants: set[str], aliases: dict[str, str]) -> bool:
    """True for a psycopg.sql composition of fixed SQL text and quoted identifiers."""
    if not isinstance(node, ast.Call):
        return False
    part = _sql_part(node.func, aliases)
    if part == _COMPOSABLE_TEXT:
        return len(node.args) == 1 and not node.keywords and _static(node.args[0], constants)
    if part in _QUOTED:
        return True  # psycopg quotes whatever it holds as a name or placeholder
    if part == "Composed":
        return len(node.args) == 1 and _composable_seq(node.args[0], constants, aliases)
    if isinstance(node.func, ast.Attribute) and _composed(node.func.value, constants, aliases):
        arguments = [*node.args, *(k.value for k in node.keywords)]
        if node.func.attr == "format":
            return all(_composed(a, constants, aliases) for a in arguments)
        if node.func.attr == "join":
            return len(node.args) == 1 and _composable_seq(node.args[0], constants, aliases)
    return False


def _composable_seq(node: ast.expr, constants: set[str], aliases: dict[str, str]) -> bool:
    match node:
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return all(_composed(e, constants, aliases) for e in elts)
        case ast.GeneratorExp(elt=elt) | ast.ListComp(elt=elt):
            return _composed(elt, constants, aliases)
        case ast.Call(func=ast.Name(id="map"), args=[func, _]):
            return _sql_part(func, aliases) in _QUOTED
    return False


def _sql_part(func: ast.expr, aliases: dict[str, str]) -> str | None:
    """``"SQL"`` for ``sql.SQL``/``psycopg.sql.SQL``/an imported ``SQL``, etc.; else None."""
    match func:
        case ast.Name(id=name):
            return aliases.get(name)
        case ast.Attribute(value=ast.Name(id=module), attr=attr) if aliases.get(module) == "*":
            return attr
        case ast.Attribute(
            value=ast.Attribute(value=ast.Name(id="psycopg"), attr="sql"), attr=attr
        ):
            return attr
    return None


def _psycopg_sql_aliases(tree: ast.Module) -> dict[str, str]:
    """Local names of psycopg.sql (``"*"``) and of its members, from imports anywhere."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "psycopg":
            aliases |= {(a.asname or a.name): "*" for a in node.names if a.name == "sql"}
        elif isinstance(node, ast.ImportFrom) and node.module == "psycopg.sql":
            aliases |= {(a.asname or a.name): a.name for a in node.names}
    return aliases


def _module_constants(tree: ast.Module, *, resolve) -> set[str]:
    """UPPER_CASE names assigned once at module level from literals and other constants,
    and those imported from a ``layers`` module where they are such constants."""
    rebound = {
        name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names
    }
    counts: dict[str, int] = {}
    for node in tree.body:
        for target in _assigned_names(node):
            counts[target] = counts.get(target, 0) + 1
    constants: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("layers"):
            source = resolve(node.module)
            constants |= {(a.asname or a.name) for a in node.names if a.name in source}
        value = getattr(node, "value", None)
        for name in _assigned_names(node):
            if (
                _CONSTANT_NAME.fullmatch(name)
                and counts[name] == 1
                and name not in rebound
                and value is not None
                and _static(value, constants)
            ):
                constants.add(name)
    return constants


def _assigned_names(node: ast.stmt) -> Iterator[str]:
    targets = node.targets if isinstance(node, ast.Assign) else []
    if isinstance(node, ast.AnnAssign):
        targets = [node.target]
    for target in targets:
        if isinstance(target, ast.Name):
            yield target.id


@functools.cache
def _layers_constants(module: str) -> frozenset[str]:
    path = ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(_module_constants(tree, resolve=_layers_constants))


def checked_count(report: list[str]) -> int:
    return int(report[-1].removeprefix("checked: "))


# --- the checker on the code ---------------------------------------------------------------


def test_every_sql_statement_in_layers_is_fixed_text():
    unsafe, checked = [], 0
    for path in sorted(LAYERS.rglob("*.py")):
        report = unsafe_sql_calls(path.read_text(encoding="utf-8"), module=path.name)
        unsafe += report[:-1]
        checked += checked_count(report)
    assert not unsafe, "SQL built from values (use parameters or psycopg.sql):\n" + "\n".join(
        unsafe
    )
    assert checked >= 25  # the live store's statements were all seen, not skipped


# --- the checker on samples ----------------------------------------------------------------

PREAMBLE = """\
import os
from psycopg import sql
from layers.livefeed.postgis import SCHEMA
TABLE = "incidents"
COLUMNS = ("a", "b")
SELECT_ALL = f"SELECT {', '.join(COLUMNS)} FROM {SCHEMA}.{TABLE}"
FROM_ENV = os.environ.get("TABLE", "incidents")
"""

BAD = {
    "f-string of a value": 'conn.execute(f"SELECT * FROM t WHERE id = {user_id}")',
    "% formatting": 'conn.execute("SELECT * FROM t WHERE id = %s" % user_id)',
    "+ of a value": 'conn.execute("SELECT * FROM " + table)',
    "str.format": 'conn.execute("SELECT * FROM {}".format(table))',
    "a local name": 'query = "SELECT 1"\ncur.executemany(query, rows)',
    "copy of an f-string": 'conn.cursor().copy(f"COPY {table} FROM STDIN")',
    "keyword statement": 'conn.execute(query=f"DELETE FROM {table}")',
    "SQL of an f-string": 'conn.execute(sql.SQL(f"SELECT {column} FROM t"))',
    "SQL of a value": 'conn.execute(sql.SQL("SELECT {} FROM t").format(sql.SQL(column)))',
    "constant from outside": "conn.execute(FROM_ENV)",
    "f-string of a constant from outside": 'conn.execute(f"SELECT * FROM {FROM_ENV}")',
    "a constant reassigned": "def f():\n    global TABLE\n    TABLE = x\nconn.execute(TABLE)",
    "join of a value": 'conn.execute(", ".join(columns))',
}
GOOD = {
    "literal with parameters": 'conn.execute("SELECT * FROM t WHERE id = %s", (user_id,))',
    "module constant": "cur.executemany(SELECT_ALL, rows)",
    "imported constant in an f-string": 'conn.execute(f"SELECT count(*) FROM {SCHEMA}.meta")',
    "+ of literals": 'conn.execute("SELECT 1 " + "FROM t")',
    "identifier composition": (
        'conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(SCHEMA, table)))'
    ),
    "joined identifiers": (
        'conn.execute(sql.SQL("SELECT {} FROM t").format(sql.SQL(", ").join(map(sql.Identifier,'
        " names))))"
    ),
    "copy with parameters": 'conn.cursor().copy("COPY t TO STDOUT WHERE x > %s", (n,))',
    "pandas copy": "frame.copy(deep=True)",
}


@pytest.mark.parametrize("code", BAD.values(), ids=BAD.keys())
def test_checker_flags_sql_built_from_values(code):
    report = unsafe_sql_calls(PREAMBLE + textwrap.dedent(code))
    assert len(report) == 2, report  # one finding, then the count


@pytest.mark.parametrize("code", GOOD.values(), ids=GOOD.keys())
def test_checker_passes_fixed_statements(code):
    report = unsafe_sql_calls(PREAMBLE + textwrap.dedent(code))
    assert report[:-1] == []
    assert checked_count(report) == (0 if code.startswith("frame.copy") else 1)


def test_imported_constants_are_resolved_from_their_module():
    assert "SCHEMA" in _layers_constants("layers.livefeed.postgis")
    assert "INCIDENT_COLUMNS" in _layers_constants("layers.livefeed.postgis")


# --- a real database -----------------------------------------------------------------------


@pytest.fixture
def hostile_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """An incident file and precincts whose text is written like SQL injection."""
    rows = incident_rows(
        incident_id=[DROP, "2", DELETE, "4"],
        category=[DROP, "Common assault", DELETE, "Shooting incident"],
        description=[DROP, DELETE, "plain", "it's a quote"],
        status=[DELETE, None, None, None],
    )
    rejected = rows.iloc[[0]].assign(incident_id="R1", occurred_at=DROP)  # rejected, kept
    incidents = write_csv(tmp_path / "hostile.csv", pd.concat([rows, rejected]))
    precincts = gpd.GeoDataFrame(
        {"precinct_name": [DROP, DELETE]},
        geometry=[box(18.1, -34.0, 18.2, -33.9), box(18.0, -34.0, 18.1, -33.9)],
        crs="EPSG:4326",
    )
    wards = gpd.GeoDataFrame(
        {"ward_name": ["1", "2"]},
        geometry=[box(18.0, -34.0, 18.2, -33.95), box(18.0, -33.95, 18.2, -33.9)],
        crs="EPSG:4326",
    )
    precincts.to_file(tmp_path / "precincts.geojson", driver="GeoJSON")
    wards.to_file(tmp_path / "wards.gpkg", driver="GPKG", layer="wards")
    return incidents, tmp_path / "precincts.geojson", tmp_path / "wards.gpkg"


def test_injection_shaped_values_are_stored_and_read_back_intact(postgis_url, hostile_files):
    from layers.livefeed.postgis import (
        SCHEMA,
        connect,
        ingest_postgis,
        read_boundaries_from_db,
        read_incidents,
    )

    incidents, precincts, wards = hostile_files
    report = ingest_postgis(postgis_url, [incidents], precincts=precincts, wards=wards)
    assert report.totals()["new"] == 4 and report.totals()["rejected"] == 1

    with connect(postgis_url) as conn:
        stored = read_incidents(conn).set_index("incident_id")
        tables = conn.execute(
            "SELECT to_regclass(%s), to_regclass(%s)", (f"{SCHEMA}.incidents", f"{SCHEMA}.meta")
        ).fetchone()
        meta_rows = conn.execute(f"SELECT count(*) FROM {SCHEMA}.meta").fetchone()[0]
        reject = conn.execute(f"SELECT row_data FROM {SCHEMA}.rejects").fetchone()[0]
    assert None not in tables and meta_rows > 0  # nothing dropped, nothing deleted
    assert len(stored) == 4
    assert stored.loc[DROP, "category"] == DROP and stored.loc[DROP, "description"] == DROP
    assert stored.loc[DROP, "status"] == DELETE
    assert stored.loc[DELETE, "category"] == DELETE
    assert stored.loc["4", "description"] == "it's a quote"
    assert set(stored["precinct"]) == {DROP, DELETE}  # joined to the hostile-named areas
    assert reject["occurred_at"] == DROP

    stored_precincts, _ = read_boundaries_from_db(postgis_url)
    assert sorted(stored_precincts["name"]) == sorted([DROP, DELETE])

    # Again, with one description changed: the upsert matches keys written like injection.
    changed = pd.read_csv(incidents, dtype=str, keep_default_na=False)
    changed.loc[changed["incident_id"] == DROP, "description"] = DELETE
    again = ingest_postgis(postgis_url, [write_csv(incidents, changed)])
    assert again.totals()["updated"] == 1 and again.totals()["unchanged"] == 3
    with connect(postgis_url) as conn:
        stored = read_incidents(conn).set_index("incident_id")
    assert len(stored) == 4 and stored.loc[DROP, "description"] == DELETE
