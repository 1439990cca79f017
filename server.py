"""How the dashboard is served: Streamlit running ``dashboard.py``, plus the two routes a
browser needs outside the page's websocket (:mod:`gate`).

    streamlit run server.py -- [dashboard options]

``scripts/dashboard`` runs exactly that. ``streamlit run dashboard.py`` still shows the
pages, but without these routes nobody can finish signing in from the users file and no
download can be fetched.
"""

import streamlit as st

import gate

app = st.App("dashboard.py", routes=gate.ROUTES, on_script_error=gate.on_script_error)
