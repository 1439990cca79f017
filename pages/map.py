"""Map page: the incidents on the map, the figures beside it (headline, top areas, weekly
trend), and the hotspots the sidebar asks for; live, it follows the store as it grows."""

from __future__ import annotations

from app import state
from app.view import show_view

show_view(state.request())
