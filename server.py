"""How the dashboard is served: Streamlit running ``dashboard.py``, plus the routes a
browser needs outside the page's websocket: sign-in and downloads (:mod:`gate`), the live
map's changes (:mod:`push`) and a local basemap's tiles (:mod:`tileserve`).

    streamlit run server.py -- [dashboard options]

``scripts/dashboard`` runs exactly that. ``streamlit run dashboard.py`` still shows the
pages, but without these routes nobody can finish signing in from the users file and no
download can be fetched.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

import gate
import push
import tileserve

# dashboard.py's pages are in pages/, the folder Streamlit's legacy multipage mode reads by
# itself: in that mode a page's address runs the page's file alone, without dashboard.py and
# its sign-in. st.navigation turns the mode off, but only from the first run that calls it;
# it is off here before any run. (Each page also stops when the frame has not run:
# app.state.request.) tests/test_browser.py opens a page's address first on a new server.
PagesManager.uses_pages_directory = False

app = st.App(
    "dashboard.py",
    routes=[*gate.ROUTES, *push.ROUTES, *tileserve.ROUTES],
    on_script_error=gate.on_script_error,
)
