"""Playback page: the sidebar's filter played back over its dates, week by week or month by
month, the heat and the figures stepping together on one colour scale."""

from __future__ import annotations

from app import state
from app.playback import playback_view

playback_view(state.request())
