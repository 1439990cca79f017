"""Collaboration areas: the taxonomy that groups incident categories for the safety cluster."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from layers._errors import TaxonomyError

UNASSIGNED = "Unassigned"
DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parents[2] / "data" / "collaboration_areas.toml"


@dataclass(frozen=True)
class CollaborationArea:
    """One area of collaboration and the incident categories it covers."""

    name: str
    description: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """The configured collaboration areas, with a category lookup."""

    areas: tuple[CollaborationArea, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Area names in configured order, then ``Unassigned``."""
        return (*(a.name for a in self.areas), UNASSIGNED)

    @property
    def category_to_area(self) -> dict[str, str]:
        """Map of case-folded category to area name."""
        return {c.casefold(): a.name for a in self.areas for c in a.categories}

    def area_for(self, categories: pd.Series) -> pd.Series:
        """Collaboration area for each category; unknown categories get ``Unassigned``.

        Parameters
        ----------
        categories : pandas.Series
            Incident categories as given in the source file.

        Returns
        -------
        pandas.Series
            Area names aligned to ``categories``' index, named ``collaboration_area``.
        """
        lookup = self.category_to_area
        keys = categories.astype("string").str.strip().str.casefold()
        areas = keys.map(lookup).fillna(UNASSIGNED)
        return pd.Series(
            areas.to_numpy(dtype=object), index=categories.index, name="collaboration_area"
        )

    def canonical_area(self, names: pd.Series) -> pd.Series:
        """Match stated area names to configured ones, case-insensitively.

        Returns the configured spelling, or NA where the name is not a configured area.
        """
        lookup = {n.casefold(): n for n in self.names}
        keys = names.astype("string").str.strip().str.casefold()
        return keys.map(lookup).astype(object).where(keys.notna(), np.nan)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read collaboration areas from a TOML file.

    Parameters
    ----------
    path : path-like, optional
        A TOML file with ``[[area]]`` tables holding ``name``, ``description`` and
        ``categories``. Defaults to ``data/collaboration_areas.toml``.

    Returns
    -------
    Taxonomy
    """
    path = Path(path) if path is not None else DEFAULT_TAXONOMY_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise TaxonomyError(f"Collaboration-area file {path} does not exist.") from err
    except tomllib.TOMLDecodeError as err:
        raise TaxonomyError(f"{path} is not valid TOML: {err}. Fix the syntax and retry.") from err
    tables = raw.get("area")
    if not isinstance(tables, list) or not tables:
        raise TaxonomyError(f"{path} must contain [[area]] tables, one per collaboration area.")
    areas = tuple(_parse_area(t, i, path) for i, t in enumerate(tables, start=1))
    _check_unique(areas, path)
    return Taxonomy(areas=areas)


def _parse_area(table: dict[str, object], number: int, path: Path) -> CollaborationArea:
    name, description, categories = (table.get(k) for k in ("name", "description", "categories"))
    if not isinstance(name, str) or not name.strip():
        raise TaxonomyError(f"{path}: area #{number} needs a non-empty `name`.")
    if name.strip().casefold() == UNASSIGNED.casefold():
        raise TaxonomyError(f"{path}: `{UNASSIGNED}` is reserved for unknown categories.")
    if not isinstance(description, str):
        raise TaxonomyError(f"{path}: area {name!r} needs a `description` string.")
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise TaxonomyError(f"{path}: area {name!r} needs `categories`, a list of strings.")
    return CollaborationArea(
        name.strip(), description.strip(), tuple(c.strip() for c in categories)
    )


def _check_unique(areas: tuple[CollaborationArea, ...], path: Path) -> None:
    seen_names: set[str] = set()
    owner: dict[str, str] = {}
    for area in areas:
        if area.name.casefold() in seen_names:
            raise TaxonomyError(f"{path}: area name {area.name!r} appears twice.")
        seen_names.add(area.name.casefold())
        for category in area.categories:
            key = category.casefold()
            if key in owner:
                raise TaxonomyError(
                    f"{path}: category {category!r} is in both {owner[key]!r} and {area.name!r}; "
                    "a category may belong to one area only."
                )
            owner[key] = area.name
