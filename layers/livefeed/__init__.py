"""Live sources: a PostGIS table followed as it changes."""
