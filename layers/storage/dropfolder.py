"""Drop folder: ingest each incident file an agency puts in a folder, once, then move it away.

For agencies that can only send files (SFTP, a shared drive, a synced folder). A watcher
scans the folder every few seconds; each incident file that is *ready* is handed to an
ingest callable (the file store's :func:`layers.storage.ingest.ingest`, or a PostGIS one:
this module does not care which), then moved with its report::

    drop/
        incidents_saps.csv                                  waiting, or being written
        processed/20261128T101500Z_incidents_saps.csv       ingested (some rows may be rejected)
        processed/20261128T101500Z_incidents_saps.csv.report.json
        failed/20261128T101502Z_broken.csv                  unreadable, or the ingest raised
        failed/20261128T101502Z_broken.csv.report.json

Writers: how to hand over a file
--------------------------------
Write the file under a name the watcher ignores, then rename it to its final name in the same
folder: a rename is atomic on one filesystem, so the watcher sees the whole file or nothing.
Ignored names are hidden ones (leading dot, e.g. ``.incidents.csv``) and temporary ones
(``*.part``, ``*.tmp``, ``*.crdownload``, ``*~``, ``~$*``). ``rsync`` does this by itself
(it writes to a hidden temporary name); with ``sftp``, ``put incidents.csv incidents.csv.part``
then ``rename incidents.csv.part incidents.csv``. A writer that cannot rename may instead hold
an exclusive ``flock`` on the file while writing. Plain ``scp`` writes in place and so relies
on the heuristic below.

Writers that do neither are still waited for, by a heuristic (see :func:`scan`): a file is
ready only once its size and modification time have stayed the same for ``settle_s`` seconds
across scans and it was last modified at least ``settle_s`` ago. A writer that stalls for
longer than that mid-file defeats it, which is why the rename convention is the one to ask for.

Once only
---------
A file is moved out of the folder after its ingest, so no later scan can see it again. If the
process dies between the ingest and the move, the file is ingested again on restart; that is
harmless because an ingest is idempotent: rows already stored exactly so are counted as
unchanged and nothing is doubled. The same name dropped again later is a new file: it is
ingested again and moved under a new, timestamped name, never over the earlier one. One
watcher per folder: a scan takes an exclusive lock on ``.dropfolder.lock`` in the folder and
skips its pass while another process holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from layers._errors import DatabaseUnavailable, LayersError
from layers.intake.sources import INCIDENT_SUFFIXES
from layers.storage.ingest import IngestReport
from layers.storage.store import safe_filename, write_text_atomic

PROCESSED = "processed"
FAILED = "failed"
#: What :func:`layers.intake.sources.read_incident_file` reads, less ``.shp``: a shapefile comes
#: with sidecar files that would be left behind, so it has to be dropped zipped.
DROP_SUFFIXES = tuple(s for s in INCIDENT_SUFFIXES if s != ".shp")
TEMPORARY_SUFFIXES = (".part", ".tmp", ".crdownload", "~")
LOCK_NAME = ".dropfolder.lock"

IngestOne = Callable[[Path], IngestReport]


@dataclass(frozen=True)
class DropResult:
    """What happened to one dropped file.

    Attributes
    ----------
    path : Path
        Where the file was dropped (it is no longer there).
    moved_to : Path
        Where it is now, in ``processed/`` or ``failed/``.
    ok : bool
        True when it was ingested (even with some rows rejected), False when it went to
        ``failed/``.
    report_path : Path
        The JSON report beside ``moved_to``.
    message : str
        One line for a log: the counts, or what went wrong.
    """

    path: Path
    moved_to: Path
    ok: bool
    report_path: Path
    message: str


@dataclass(frozen=True)
class Sighting:
    """A file's size and modification time as a scan saw them, and since when unchanged."""

    size: int
    mtime_ns: int
    since: float


ScanState = dict[Path, Sighting]


def scan(
    folder: Path | str,
    *,
    ingest_one: IngestOne,
    settle_s: float = 2.0,
    now: float | None = None,
    state: ScanState | None = None,
) -> list[DropResult]:
    """Ingest and move every incident file in ``folder`` that is ready: one pass.

    A candidate is a regular file directly in ``folder`` whose name ends with one of
    :data:`DROP_SUFFIXES` (any case) and is neither hidden nor temporary (see the module
    docstring). It is ready when all of these hold:

    - its size and modification time are the ones ``state`` recorded at least ``settle_s``
      seconds ago (a file seen changing is waited for again from the change);
    - it was last modified at least ``settle_s`` seconds before ``now``;
    - no other process holds an exclusive ``flock`` on it.

    Ready files are ingested oldest first (by modification time), so a later extract's rows
    update an earlier one's. A file goes to ``failed/`` when ``ingest_one`` raised or its
    report gives the file an error, otherwise to ``processed/``; either way under a new name
    prefixed with the UTC time, with ``<new name>.report.json`` beside it.

    Parameters
    ----------
    folder : path-like
        The drop folder.
    ingest_one : callable
        Ingests one file and returns its :class:`~layers.storage.ingest.IngestReport`.
    settle_s : float, default 2.0
        Seconds a file must stay unchanged before it is ingested.
    now : float, optional
        The time of this pass, in seconds since the epoch; the clock by default.
    state : dict, optional
        What earlier passes saw, updated in place; pass the same dict to every pass. Without
        it the pass has no memory, so only the modification-time and lock rules apply.

    Returns
    -------
    list of DropResult
        One per file handled, in the order handled.
    """
    handled = _handle_ready(folder, ingest_one=ingest_one, settle_s=settle_s, now=now, state=state)
    return list(handled)


def watch(
    folder: Path | str,
    *,
    ingest_one: IngestOne,
    settle_s: float = 2.0,
    poll_s: float = 1.0,
    stop: threading.Event | None = None,
    on_result: Callable[[DropResult], None] | None = None,
) -> None:
    """Scan ``folder`` every ``poll_s`` seconds until ``stop`` is set (or forever).

    Parameters
    ----------
    folder : path-like
        The drop folder; ``processed/`` and ``failed/`` are created in it if missing.
    ingest_one, settle_s
        As for :func:`scan`.
    poll_s : float, default 1.0
        Seconds between scans.
    stop : threading.Event, optional
        Set it to stop: the watcher returns after the file being ingested, if any.
    on_result : callable, optional
        Called with each :class:`DropResult` as soon as its file is handled.

    Raises
    ------
    LayersError
        When ``folder`` does not exist or is not a directory.
    """
    if poll_s <= 0:
        raise ValueError(f"`poll_s` must be a positive number of seconds, not {poll_s!r}.")
    folder = _checked_folder(folder)
    for name in (PROCESSED, FAILED):
        (folder / name).mkdir(exist_ok=True)
    stop = stop or threading.Event()
    state: ScanState = {}
    while not stop.is_set():
        handled = _handle_ready(
            folder, ingest_one=ingest_one, settle_s=settle_s, now=None, state=state
        )
        # closing(): leaving early must release the folder lock now, not when collected.
        with closing(handled):
            for result in handled:
                if on_result is not None:
                    on_result(result)
                if stop.is_set():
                    break
        stop.wait(poll_s)


def _handle_ready(
    folder: Path | str,
    *,
    ingest_one: IngestOne,
    settle_s: float,
    now: float | None,
    state: ScanState | None,
) -> Iterator[DropResult]:
    """Ingest and move the ready files one by one, yielding each result as it is done."""
    if settle_s < 0:
        raise ValueError(f"`settle_s` must be zero or more seconds, not {settle_s!r}.")
    folder = _checked_folder(folder)
    now = time.time() if now is None else now
    with _exclusive(folder / LOCK_NAME) as alone:
        if not alone:
            return  # another watcher is on this folder; it will handle the files
        for path in _ready_files(folder, settle_s=settle_s, now=now, state=state):
            with _shared(path) as free:
                if not free:
                    continue  # a writer holds it; try again next pass
                try:
                    result = _ingest_and_move(path, ingest_one=ingest_one, now=now)
                except DatabaseUnavailable:
                    # Not the file's fault: leave it where it is and try again next pass.
                    return
                if state is not None:
                    state.pop(path, None)
                yield result


def _checked_folder(folder: Path | str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise LayersError(
            f"Drop folder {folder} {what}. Create it, or pass the folder agencies drop files in."
        )
    return folder


def is_candidate(name: str) -> bool:
    """Whether a file of this name in a drop folder is an incident file to ingest."""
    lower = name.lower()
    if name.startswith((".", "~$")) or lower.endswith(TEMPORARY_SUFFIXES):
        return False
    return lower.endswith(DROP_SUFFIXES)


def _ready_files(
    folder: Path, *, settle_s: float, now: float, state: ScanState | None
) -> list[Path]:
    """The candidates that have settled, oldest first; updates ``state`` with what was seen."""
    seen: dict[Path, os.stat_result] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if not is_candidate(entry.name):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # renamed or removed since the listing
            if stat.S_ISREG(info.st_mode):
                seen[Path(entry.path)] = info
    if state is not None:
        for gone in set(state) - set(seen):
            del state[gone]
    ready = [
        path
        for path, info in seen.items()
        if _settled(path, info, settle_s=settle_s, now=now, state=state)
    ]
    return sorted(ready, key=lambda p: (seen[p].st_mtime_ns, p.name))


def _settled(
    path: Path, info: os.stat_result, *, settle_s: float, now: float, state: ScanState | None
) -> bool:
    old_enough = now - info.st_mtime >= settle_s
    if state is None:
        return old_enough
    before = state.get(path)
    if before is None or (before.size, before.mtime_ns) != (info.st_size, info.st_mtime_ns):
        before = Sighting(size=info.st_size, mtime_ns=info.st_mtime_ns, since=now)
        state[path] = before
    return old_enough and now - before.since >= settle_s


@contextmanager
def _shared(path: Path) -> Iterator[bool]:
    """Hold a shared ``flock`` on ``path`` if no writer holds an exclusive one.

    Held through the ingest, so a writer that locks cannot start rewriting the file under it.
    A file that vanished yields False; one that cannot be opened yields True, for the ingest
    to fail on and report.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the lock is released
    except FileNotFoundError:
        yield False
        return
    except OSError:
        yield True
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``lock_file``, or yield False if someone else does."""
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ingest_and_move(path: Path, *, ingest_one: IngestOne, now: float) -> DropResult:
    """Ingest one file and move it with its report; :class:`DatabaseUnavailable` passes up
    (the file stays for the next pass)."""
    try:
        report = ingest_one(path)
    except DatabaseUnavailable:
        raise
    except Exception as err:  # any crash is this file's outcome, recorded, not the watcher's
        content: dict[str, object] = {"error": str(err), "type": type(err).__name__}
        ok, message = False, f"ingest failed: {type(err).__name__}: {err}"
    else:
        content = report.as_dict()
        ok, message = _outcome(report)
    target = _free_name(path.parent / (PROCESSED if ok else FAILED), path.name, now=now)
    report_path = target.with_name(target.name + ".report.json")
    # The report first: a file in processed/ or failed/ always has its report beside it.
    write_text_atomic(report_path, json.dumps(content, indent=2, default=str) + "\n")
    os.replace(path, target)
    return DropResult(path=path, moved_to=target, ok=ok, report_path=report_path, message=message)


def _outcome(report: IngestReport) -> tuple[bool, str]:
    """Whether the report says the file was ingested, and a one-line summary."""
    errors = [f.error for f in report.files if f.error]
    if errors:
        return False, "; ".join(errors)
    if not report.files:
        return False, "the ingest returned no report for this file"
    t = report.totals()
    return True, (
        f"{t['read']:,} rows read: {t['new']:,} new, {t['updated']:,} updated, "
        f"{t['unchanged']:,} unchanged, {t['rejected']:,} rejected"
    )


def _free_name(folder: Path, name: str, *, now: float) -> Path:
    """``<UTC time>_<name>`` in ``folder``, numbered when that is taken (never overwrite)."""
    folder.mkdir(exist_ok=True)
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = safe_filename(name)
    target = folder / f"{stamp}_{safe}"
    number = 1
    while target.exists() or target.with_name(target.name + ".report.json").exists():
        number += 1
        target = folder / f"{stamp}-{number}_{safe}"
    return target
