"""Project-wide constants: the local time zone and the coordinate reference systems."""

from __future__ import annotations

#: Times without an offset are local South African time (SAST, UTC+2, no daylight saving).
LOCAL_TZ = "Africa/Johannesburg"
#: Every stored frame and everything handed to folium is longitude/latitude WGS84.
WGS84 = "EPSG:4326"
#: Metres for Cape Town: UTM zone 34S.
METRIC_CRS = "EPSG:32734"
#: Decimals of a degree written to a map page: 5 is about 1 m; finer digits only make the page
#: bigger.
COORD_DECIMALS = 5
