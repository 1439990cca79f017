"""Incident mapping engine for the Cape Town safety cluster.

The package reads incident extracts and boundary files, validates and joins them to SAPS
precincts and City wards once at ingest, keeps the result in a GeoParquet store, and builds
filtered, server-side aggregated folium maps from it. It never imports Streamlit: the app in
``dashboard.py`` is a thin face over these modules.
"""

from __future__ import annotations

__version__ = "0.1.0"
