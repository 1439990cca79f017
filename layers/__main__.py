"""``python -m layers``."""

from __future__ import annotations

import sys

from layers.cli import main

sys.exit(main())
