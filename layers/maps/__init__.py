"""Maps and exports: what a map shows, the folium page, offline assets, files for other tools."""
