"""Analysis: hotspots (Gi*, emerging, KDE), CompStat periods, hotspot evaluation."""
