"""Analysis: every figure the pages show (counted over what the viewer may see), CompStat
periods, hotspots (Gi*, emerging, KDE) and their evaluation."""
