"""One colour for each agency, the same in every chart and map.

A chair reads "SAPS is the blue line" once and keeps it: a chart's own colour scheme gives
each series the next colour of its list, so an agency's colour would change with which
agencies a filter leaves. The six agencies of the cooperation agreement have fixed colours
(colour-blind safe, Okabe and Ito's palette, none of them the heat's blues, cyans or reds);
any other agency takes one of the reserve colours by its name, the same in every chart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

AGENCY_COLOURS: dict[str, str] = {
    "SAPS": "#0072b2",  # blue
    "Metro Police": "#e69f00",  # orange
    "Law Enforcement": "#009e73",  # bluish green
    "Traffic Services": "#cc79a7",  # reddish purple
    "LEAP": "#56b4e9",  # sky blue
    "Neighbourhood Watch": "#8c6d31",  # brown
}
# For agencies outside the agreement's six, chosen by a digest of the name.
RESERVE_COLOURS = ("#999999", "#f0e442", "#4d4d4d", "#b07aa1", "#76b7b2", "#ff9da7")


def agency_colour(name: str) -> str:
    """The colour of ``name``'s incidents in every chart and map."""
    if name in AGENCY_COLOURS:
        return AGENCY_COLOURS[name]
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return RESERVE_COLOURS[digest[0] % len(RESERVE_COLOURS)]


def agency_scale(names: Iterable[str]) -> dict[str, list[str]]:
    """A Vega-Lite colour scale giving each of ``names`` its agency colour."""
    domain = list(dict.fromkeys(str(n) for n in names))
    return {"domain": domain, "range": [agency_colour(n) for n in domain]}
