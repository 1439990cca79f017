"""The dashboard's own code beside its pages: who is looking (:mod:`app.signin`), the
source (:mod:`app.source`), cached data access (:mod:`app.data`), what several pages share
(:mod:`app.state`, :mod:`app.view`, :mod:`app.review`, :mod:`app.charts`) and showing things
safely (:mod:`app.display`). Streamlit lives here and in ``pages/``; never in ``layers/``."""
