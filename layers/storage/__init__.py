"""Join and store: incidents joined to precincts and wards once, kept as a GeoParquet store and
coded columns."""
