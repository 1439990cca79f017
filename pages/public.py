"""Public page: the published monthly map and its numbers, nothing else (the public role's
only page)."""

from __future__ import annotations

import argparse

import streamlit as st
from streamlit_folium import st_folium

from app import data, state
from app.basemap import basemap, basemap_notice
from app.data import public_site, public_view
from app.display import md
from app.playback import public_playback_view
from layers._errors import LayersError
from layers.access.policy import PrivacyRules
from layers.publishing.public import (
    GROUP_LABELS,
    month_run,
    public_map,
)
from layers.storage.store import StoreSnapshot


def public_page(
    source: str, snapshot: StoreSnapshot, rules: PrivacyRules, options: argparse.Namespace
) -> None:
    """The public role's page: the published monthly site's numbers, nothing else.

    Whole months (one, or a run), a group and a precinct: no day, hour, agency, category or
    ward filter, no live refresh, no hotspots, and no zoom level with finer numbers.
    """
    # A site published by `python -m layers publish` is a link swapped to each new version:
    # the version it points at now is the cache key, so a new publication is read at once.
    site_dir = str(options.public_site.resolve()) if options.public_site else None
    try:
        site = public_site(source, snapshot.version, site_dir, snapshot, rules)
    except LayersError as err:
        st.error(md(err))
        return
    if not site.months:
        st.info("No whole month is published yet: the public map shows months once they end.")
        return
    sb = st.sidebar
    sb.header("Public map")
    months = site.months
    run = sb.select_slider(
        "Months", options=months, value=(months[-1], months[-1]), key="p_months",
        help="Whole months only: one month, or a run of months added up.",
    )  # fmt: skip
    group = sb.selectbox(
        "Incidents", site.groups, key="p_group", format_func=lambda g: GROUP_LABELS.get(g, g)
    )
    names = sorted(site.view(months[-1], "all")["areas"])
    area = sb.selectbox("Precinct", ["", *names], key="p_area",
                        format_func=lambda a: a or "All precincts")  # fmt: skip
    play = sb.toggle(
        "Play back month by month",
        key="p_play",
        help="Step through the chosen months one at a time, each as published.",
    )
    try:
        chosen = month_run(site, run[0], run[1])
        if play:
            if len(chosen) < 2:  # one month is no playback: every published month is
                chosen = tuple(months)
                st.caption("Playing every published month: choose a run under Months to play "
                           "fewer.")  # fmt: skip
            public_playback_view(source, snapshot.version, site, site_dir, chosen, group,
                                 area or None, options)  # fmt: skip
            return
        figures = public_view(source, snapshot.version, site_dir, chosen, group, area or None, site)
    except LayersError as err:
        st.error(md(err))
        return
    st.caption(
        f"The published monthly map, data as of the end of {site.manifest['as_of']}. Counts "
        f"under {site.k} are hidden, with whatever would give them away; sexual offences and "
        "gender-based violence are left out. Anyone can download these numbers."
    )
    label = GROUP_LABELS.get(group, group)
    st.metric(
        f"Incidents{' in ' + area if area else ''}: {label}, {figures.label}",
        figures.text(figures.total, figures.total_partial),
    )
    if len(chosen) > 1:
        st.caption("A run of months adds up the published months; where one is hidden, the sum "
                   "is marked 'at least'.")  # fmt: skip
    found, problem = basemap(options.tiles, options.tiles_attribution,
                             tuple(site.precincts.total_bounds))  # fmt: skip
    basemap_notice(found, problem)
    fmap = public_map(site, figures, tiles=found, tiles_problem=problem)
    st_folium(fmap, key="public_map", returned_objects=[], height=640, width=None)
    table = figures.areas.assign(
        incidents=[figures.text(c, p) for c, p in zip(figures.areas["count"],
                                                      figures.areas["partial"], strict=True)]
    )  # fmt: skip
    if area:
        table = table[table["name"] == area]
    table = table.sort_values(["count", "name"], ascending=[False, True], na_position="last")
    st.dataframe(
        table[["name", "incidents"]].rename(columns={"name": "Precinct", "incidents": "Incidents"}),
        hide_index=True, width="stretch",
    )  # fmt: skip


request = state.request()
public_page(request.source, data.load_store(request.source, request.version), request.rules,
            request.options)  # fmt: skip
