"""Behaviour kept through the house refactor (issue 15): map data, figures, CompStat tables,
hotspot exports and the public view, for fixed filters, as analyst, agency and public, are
what the code produced before anything moved (``tests/golden/expected.json``; see
``tests/golden.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import golden

EXPECTED = Path(__file__).parent / "golden" / "expected.json"


def _differences(expected: object, actual: object, path: str = "") -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = [f"{path}/{k}: missing" for k in expected.keys() - actual.keys()]
        out += [f"{path}/{k}: not expected" for k in actual.keys() - expected.keys()]
        for key in expected.keys() & actual.keys():
            out += _differences(expected[key], actual[key], f"{path}/{key}")
        return out
    if expected == actual:
        return []
    return [f"{path}: expected {expected!r:.200}, got {actual!r:.200}"]


@pytest.fixture(scope="module")
def produced(demo_store, tmp_path_factory) -> dict:
    # The session's demo store is the golden one: 3,000 incidents from the default seed.
    record = golden.record(demo_store, tmp_path_factory.mktemp("golden"))
    return json.loads(json.dumps(record, sort_keys=True))


@pytest.mark.parametrize("part", json.loads(EXPECTED.read_text(encoding="utf-8")).keys(), ids=str)
def test_outputs_are_unchanged(produced, part):
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))[part]
    differences = sorted(_differences(expected, produced[part], part))
    assert not differences, f"{len(differences)} difference(s):\n" + "\n".join(differences[:20])


def test_the_record_covers_every_role_and_shows_suppression():
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    roles = {key.rsplit(" / ", 1)[-1] for key in expected if " / " in key}
    assert roles == {"analyst", "agency", "public", "strict agency"}
    assert "public" in expected  # and the published site's view
    # The agencies' records hold hidden counts, so suppression is under test, not only sums.
    assert "fewer than 3" in json.dumps(expected["precinct / agency"])
    assert "fewer than 5" in json.dumps(expected["precinct / strict agency"])
