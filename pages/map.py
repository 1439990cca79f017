"""Map page: the incidents on the map, the figures beside it (headline, top areas, weekly
trend), and the hotspots the sidebar asks for; live, it follows the store as it grows."""

from __future__ import annotations

from app import state
from app.pack import pack_panel
from app.view import show_view

request = state.request()
show_view(request)
pack_panel(request)  # the meeting pack: a PDF of this filter and view
