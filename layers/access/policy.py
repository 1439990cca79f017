"""The types every part of access shares: who is looking, and the rules their views follow.

:class:`Viewer` (a role, and an agency for ``agency`` viewers) comes from sign-in
(:mod:`layers.access.users`); :class:`PrivacyRules` from the access file's ``[privacy]`` table;
a :class:`Policy` pairs them. The access step (:mod:`layers.access.sight`) reads a policy, and
suppression (:mod:`layers.access.suppression`) its rules' ``k``. This module imports none of
them, so each can import it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

from layers._errors import LayersError
from layers.storage.columnar import TILE_SIZE
from layers.storage.filters import IncidentFilter

Role = Literal["analyst", "agency", "public"]
ROLES: tuple[Role, ...] = get_args(Role)
Level = Literal["cell", "ward", "precinct", "city"]
LEVELS: tuple[Level, ...] = get_args(Level)
DEFAULT_SENSITIVE_CATEGORIES = (
    "Sexual offences", "Rape", "Sexual assault", "Attempted sexual offences",
    "Contact sexual offences", "Domestic violence", "Contravention of protection order",
    "Gender-based violence", "Kidnapping",
)  # fmt: skip
EQUATOR_M_PER_PX0 = 2 * math.pi * 6_378_137 / TILE_SIZE  # metres per zoom-0 pixel


class AccessError(LayersError):
    """The access configuration or users file is invalid, or a request is not allowed."""


@dataclass(frozen=True)
class Viewer:
    """Someone looking at the data, and what their role lets them see.

    Attributes
    ----------
    name : str
        User name or e-mail, as the audit log records it.
    role : {"analyst", "agency", "public"}
    agency : str, optional
        The agency whose incidents an ``agency`` viewer sees at point level.
    """

    name: str
    role: Role
    agency: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise AccessError(
                f"Unknown role {self.role!r}: use analyst, public or agency:AGENCY "
                "(e.g. agency:SAPS)."
            )
        if (self.role == "agency") != bool(self.agency):
            raise AccessError(
                "An agency viewer needs the agency's name (agency:SAPS); only agency viewers "
                "have one."
            )

    @property
    def sees_all_points(self) -> bool:
        """Analysts see every incident at point level."""
        return self.role == "analyst"

    @property
    def may_export_incidents(self) -> bool:
        """Analysts export any incidents; agencies their own agency's."""
        return self.role in ("analyst", "agency")

    @property
    def label(self) -> str:
        """``analyst``, ``public`` or ``agency:SAPS``: the spelling the configuration uses."""
        return f"agency:{self.agency}" if self.role == "agency" else self.role

    def describe(self) -> str:
        """What this viewer sees, in a sentence for the page."""
        return {
            "analyst": "every incident, with exports",
            "agency": f"{self.agency} incidents in full; other agencies' aggregated",
            "public": "the published monthly map only",
        }[self.role]


def parse_role(text: str, *, name: str = "") -> Viewer:
    """A viewer from ``analyst``, ``public`` or ``agency:NAME`` (the CLI's ``--role``)."""
    role, _, agency = str(text).strip().partition(":")
    role = role.strip().lower()
    if role not in ROLES:
        raise AccessError(
            f"Unknown role {text!r}: use analyst, public or agency:AGENCY (e.g. agency:SAPS)."
        )
    return Viewer(name=name or role, role=role, agency=agency.strip() or None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PrivacyRules:
    """How aggregated views protect victims (see :mod:`layers.access.sight`).

    Attributes
    ----------
    k : int
        Cells and area counts with fewer incidents than this are suppressed (default 3).
    sensitive_categories : tuple of str
        Categories counted only at ``sensitive_level`` and coarser (case-insensitive).
    sensitive_areas : tuple of str
        Collaboration areas all of whose incidents are sensitive.
    sensitive_level : {"ward", "precinct", "city"}
        The finest area sensitive incidents are counted in (default precinct).
    anonymous_cell_m : float
        The smallest cell, in metres, incidents are counted in for viewers without points.
    partner_level : {"cell", "ward", "precinct", "city"}
        The finest level at which an agency viewer sees other agencies' incidents counted
        (default "cell": anonymous cells, as agreed for the safety cluster's partners).
        Coarser levels leave other agencies out of cells, heat, hotspots and finer counts.
    partner_period : {"day"}
        The finest period at which partners share: agency viewers filter others' incidents by
        day and hour of day. Only "day" is supported; it is stated so that the access file
        says in full what partners share.
    """

    k: int = 3
    sensitive_categories: tuple[str, ...] = DEFAULT_SENSITIVE_CATEGORIES
    sensitive_areas: tuple[str, ...] = ("Gender-based violence",)
    sensitive_level: Level = "precinct"
    anonymous_cell_m: float = 250.0
    partner_level: Level = "cell"
    partner_period: str = "day"

    def __post_init__(self) -> None:
        if self.partner_level not in LEVELS:
            raise ValueError(
                f"partner_level must be cell, ward, precinct or city, not {self.partner_level!r}."
            )
        if self.partner_period != "day":
            raise ValueError(
                f'partner_period can only be "day" (agencies filter partners\' incidents by day '
                f"and hour), not {self.partner_period!r}."
            )
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a whole number of at least 1, not {self.k!r}.")
        if self.sensitive_level not in LEVELS[1:]:
            raise ValueError(
                f"sensitive_level must be ward, precinct or city, not {self.sensitive_level!r}."
            )
        if not 10 <= float(self.anonymous_cell_m) <= 50_000:
            raise ValueError(
                f"anonymous_cell_m must be between 10 and 50000 metres, "
                f"not {self.anonymous_cell_m!r}."
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> PrivacyRules:
        """Rules from a configuration table; keys not given keep their defaults."""
        known = {f.name for f in fields(cls)}
        if unknown := set(values) - known:
            raise ValueError(
                f"unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(known))}."
            )
        given = dict(values)
        for key in ("sensitive_categories", "sensitive_areas"):
            if key in given:
                items = given[key]
                if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                    raise ValueError(f"{key} must be a list of names.")
                given[key] = tuple(items)
        return cls(**given)  # type: ignore[arg-type]

    @property
    def anonymous_shift(self) -> int:
        """The anonymous grid's cell edge is ``2 ** -shift`` zoom-0 pixels."""
        return anonymous_shift(self.anonymous_cell_m)


@dataclass(frozen=True)
class Policy:
    """A viewer and the rules their aggregated views follow."""

    viewer: Viewer
    rules: PrivacyRules = PrivacyRules()

    @property
    def full(self) -> bool:
        """True for an analyst: nothing is aggregated or suppressed."""
        return self.viewer.sees_all_points


def anonymous_shift(cell_m: float, *, lat: float = -34.5) -> int:
    """The largest ``a`` for which a ``2 ** -a`` zoom-0 pixel cell is at least ``cell_m``
    wide at latitude ``lat`` and everywhere nearer the equator (a Mercator cell narrows
    toward the poles; the default is about Cape Point, the metro's southern tip)."""
    metres = EQUATOR_M_PER_PX0 * math.cos(math.radians(min(abs(lat), 85.0)))
    return max(math.floor(math.log2(metres / cell_m)), 0)


def filter_level(flt: IncidentFilter) -> Level:
    """The finest area a filter narrows to: its figures are counts at that level."""
    return "ward" if flt.wards else "precinct" if flt.precincts else "city"
