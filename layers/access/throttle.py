"""A brute-force throttle for sign-in that nobody can reset, race or turn against others.

Failed sign-ins are counted in a small SQLite file beside the deployment's other files, not
in the app's memory, so no client message (Streamlit's "clear cache", say) and no restart
wipes them, and several dashboard processes behind one proxy share them. Each attempt is
counted *before* its password is checked, in one ``BEGIN IMMEDIATE`` transaction, so twelve
tabs guessing at the same moment are counted one by one and all but the allowed few are
turned away; a successful sign-in then clears its name's count.

Limits apply per user name and per client address, each on its own: after ``free``
failures, every further attempt waits twice as long as the one before (1 s, 2 s, 4 s, ...,
at most ``max_delay_s``). There is no pause across all names: a flood of made-up names from
one address slows that address only, and never the real users' names.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

FREE_FAILURES = 5
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
# Failures older than this are forgotten.
FORGET_AFTER_S = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,      -- 'name:<user name>' or 'address:<client address>'
    count INTEGER NOT NULL,
    last REAL NOT NULL         -- time.time() of the last counted attempt
)
"""


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may check its password now."""

    allowed: bool
    wait_s: float = 0.0


class SignInThrottle:
    """Failed sign-ins per user name and per client address, in a SQLite file.

    Parameters
    ----------
    path : path-like
        The SQLite file (created).
    free : int
        Failures allowed before attempts are delayed.
    base_delay_s, max_delay_s : float
        The first delay, doubled for every further failure up to the largest.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        free: int = FREE_FAILURES,
        base_delay_s: float = BASE_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        self.path = Path(path)
        self.free = free
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute(_SCHEMA)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode: every transaction here is an explicit BEGIN IMMEDIATE, which takes
        # the write lock first (waiting up to 30 s for it), so read-then-write cannot race.
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def delay_s(self, count: int) -> float:
        """How long after its last failure a key with ``count`` failures must wait."""
        if count < self.free:
            return 0.0
        return min(self.base_delay_s * 2.0 ** (count - self.free), self.max_delay_s)

    def attempt(self, name: str, address: str, *, now: float | None = None) -> Verdict:
        """Count an attempt for ``name`` from ``address`` before its password is checked.

        Returns whether it may go ahead; an attempt turned away is not counted (it checked
        nothing). The count and the decision are one transaction.
        """
        keys = [f"name:{name}", f"address:{address}"]
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            # The clock is read holding the lock: read before it, a later writer's stamp
            # could lie in this attempt's future.
            now = time.time() if now is None else now
            db.execute("DELETE FROM failures WHERE last < ?", (now - FORGET_AFTER_S,))
            rows = {
                key: (count, last)
                for key, count, last in db.execute(
                    "SELECT key, count, last FROM failures WHERE key IN (?, ?)", keys
                )
            }
            waits = [last + self.delay_s(count) - now for count, last in rows.values()
                     if self.delay_s(count) > 0]  # fmt: skip
            wait = max(waits, default=0.0)
            if wait > 0:
                db.execute("COMMIT")
                return Verdict(False, wait)
            for key in keys:
                db.execute(
                    "INSERT INTO failures (key, count, last) VALUES (?, 1, ?) "
                    "ON CONFLICT(key) DO UPDATE SET count = count + 1, last = excluded.last",
                    (key, now),
                )
            db.execute("COMMIT")
            return Verdict(True)
        except BaseException:
            db.execute("ROLLBACK") if db.in_transaction else None
            raise
        finally:
            db.close()

    def succeeded(self, name: str, address: str) -> None:
        """A right password: forget the name's failures, and take this attempt back from the
        address's count (an office behind one address signs in all morning)."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM failures WHERE key = ?", (f"name:{name}",))
            db.execute(
                "UPDATE failures SET count = MAX(count - 1, 0) WHERE key = ?",
                (f"address:{address}",),
            )
            db.execute("COMMIT")
        finally:
            db.close()

    def failures(self, key: str) -> int:
        """The count held for ``name:<name>`` or ``address:<address>`` (for tests and
        administrators)."""
        db = self._connect()
        try:
            row = db.execute("SELECT count FROM failures WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        return int(row[0]) if row else 0
