"""Audit log: who signed in, who was refused, who exported what with which filters, and when.

One event per line of a JSON Lines file, appended and never rewritten::

    {"seq": 7, "at": "2026-11-28T10:15:00.123Z", "event": "export", "user": "thandi",
     "role": "analyst", "detail": {"format": "csv", "rows": 412, "filters": {...}},
     "prev": "<sha256 of line 6>", "hash": "<sha256 of this record without hash>"}

(one line in the file; wrapped here to be read).

The chain
---------
``seq`` counts from 1 with no gaps. ``prev`` is the SHA-256 (hex) of the previous line's bytes,
newline excluded, and 64 zeros on line 1. ``hash`` is the SHA-256 of this record without
``hash``, serialised canonically (keys sorted, no spaces, UTF-8). So :func:`verify` catches an
edited line (its ``hash`` no longer matches, or the next line's ``prev`` does not), a deleted,
inserted or moved line (``seq`` and ``prev`` break) and a line appended by hand without the
right ``prev``. A chain is not a signature: someone who can write the file *and* recompute
every hash after the edit can still rewrite history, and cutting whole lines off the end
leaves a shorter chain that is still valid. Against that, copy :attr:`VerifyResult.head`
(the hash the next event will carry as ``prev``) somewhere the app cannot write, from time to
time; a later log whose line at that point hashes differently has been rewritten.

Writers
-------
:meth:`AuditLog.record` holds an exclusive ``flock`` on the file while it reads the last line
and appends the next, and writes the line with one ``write`` then ``fsync``: several
Streamlit sessions (threads) and CLI processes can share one log without interleaving lines
or forking the chain. Readers (:func:`read_events`, :func:`verify`) take a shared lock only
long enough to note the file's size and read up to it, so they never see a half-written line
and never hold up a writer.

A write cut short by a crash or a full disk leaves a last line without its newline. Nothing is
appended after it (:meth:`AuditLog.record` raises :class:`AuditError`) until an administrator
has looked and removed it with :func:`remove_incomplete_tail`.

What may go in ``detail``
-------------------------
Anything JSON can hold, plus dates and datetimes (ISO text), tuples, sets (sorted lists),
paths (text), enums (their value) and dataclass instances such as
:class:`layers.storage.filters.IncidentFilter` (a dict of their fields). Anything else is refused
with
a ``TypeError`` naming where it is in ``detail``. Secrets are *redacted*, not refused: the
value under any key that looks like a password, secret, token, API key, credential, cookie or
authorization header (at any depth) is written as ``"[redacted]"``. Redacting rather than
refusing means a careless caller never loses the event it was recording (a failed sign-in
still gets logged) and never writes the secret either.

Where the log lives
-------------------
Nowhere by default: a deployment names the file in its configuration (for example an
``audit_log`` setting read where the dashboard and CLI read theirs) and creates its folder,
writable by the app's user and readable by administrators. The file is created with mode
``0o640`` (less the process umask) and is never made more open than that.
"""

from __future__ import annotations

import dataclasses
import enum
import errno
import fcntl
import hashlib
import json
import math
import numbers
import os
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path, PurePath
from typing import Any

from layers._errors import LayersError

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
ACCESS_DENIED = "access_denied"
EXPORT = "export"
UPLOAD = "upload"
INGEST = "ingest"
#: The events the app records; :meth:`AuditLog.record` also takes any other non-empty name.
EVENTS = (SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, ACCESS_DENIED, EXPORT, UPLOAD, INGEST)

FILE_MODE = 0o640
GENESIS = "0" * 64
REDACTED = "[redacted]"
#: An event is a line, not a data dump: log the filters of an export, not its rows. The cap
#: also bounds what reading the last line can cost.
MAX_LINE_BYTES = 64 * 1024
FIELDS = ("seq", "at", "event", "user", "role", "detail", "prev", "hash")
_FIELD_SET = frozenset(FIELDS)
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)|pwd|secret|token|api_?key|credential|cookie|authori[sz]ation"
    r"|private_?key",
    re.IGNORECASE,
)
_TAIL_CHUNK = 8192


class AuditError(LayersError):
    """The audit log cannot be written or read; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found.

    Attributes
    ----------
    ok : bool
        True when every line is whole, valid JSON, numbered in order and chained.
    events : int
        Lines that checked out, counted from line 1 up to the first bad one (all of them
        when ``ok``).
    first_bad_line : int or None
        1-based line number of the first line that does not check out; None when ``ok``.
    reason : str
        One sentence for an administrator: what is wrong with that line and what it
        suggests, or a summary when all is well.
    head : str or None
        SHA-256 of the last line that checked out: the ``prev`` the next event will carry.
        Keep a copy outside the app to detect a later rewrite. None for an empty log.
    """

    ok: bool
    events: int
    first_bad_line: int | None
    reason: str
    head: str | None = None


@dataclasses.dataclass(frozen=True)
class AuditLog:
    """An append-only, hash-chained audit log in the JSON Lines file at ``path``.

    Holds no open file and no state but the path, so one instance can be shared by every
    session of the app (e.g. through ``st.cache_resource``) and compared or hashed.

    Parameters
    ----------
    path : Path
        The log file. Its folder must exist; the file is created on the first event.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def record(
        self,
        event: str,
        *,
        user: str,
        role: str,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append one event and return it as written.

        Parameters
        ----------
        event : str
            What happened: one of :data:`EVENTS` (``SIGN_IN``, ``EXPORT``, ...) or any other
            non-empty name.
        user : str
            Who did it: the account name, or the name typed at a failed sign-in.
        role : str
            The user's role when it happened; empty when there is none (failed sign-in).
        detail : mapping, optional
            What else an administrator needs: export format, row count, filters. Values are
            converted as the module docstring says; secret-looking keys are redacted.

        Returns
        -------
        dict
            The record, with its ``seq``, ``at``, ``prev`` and ``hash``.

        Raises
        ------
        TypeError, ValueError
            ``event``, ``user``, ``role`` or ``detail`` cannot be recorded as given.
        AuditError
            The file cannot be written, or ends with an incomplete line.
        """
        for name, value in (("event", event), ("user", user), ("role", role)):
            if not isinstance(value, str):
                raise TypeError(f"`{name}` must be a str, not {type(value).__name__}.")
        if not event.strip() or not user.strip():
            raise ValueError("`event` and `user` must not be empty: say what happened and who.")
        clean = _clean_detail(detail)
        fd = self._open()
        try:
            with _locked(fd, fcntl.LOCK_EX):
                size = os.fstat(fd).st_size
                seq, prev = self._next_link(fd, size)
                record = _seal(seq, event, user, role, clean, prev)
                line = _line(record)
                if len(line) > MAX_LINE_BYTES:
                    raise ValueError(
                        f"This event is {len(line):,} bytes as JSON; an audit event is capped "
                        f"at {MAX_LINE_BYTES:,}. Record what identifies the action (filters, "
                        "counts, file name), not the data itself."
                    )
                self._append(fd, line)
            if size == 0:
                _fsync_folder(self.path.parent)  # the file's name is as durable as its lines
        finally:
            os.close(fd)
        return record

    def _open(self) -> int:
        # O_RDWR rather than O_WRONLY: the last line is read through the descriptor that holds
        # the lock, so a file renamed or replaced meanwhile cannot be read instead. O_APPEND
        # still sends every write to the end.
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, FILE_MODE)
        except FileNotFoundError as err:
            raise AuditError(
                f"Cannot create the audit log {self.path}: folder {self.path.parent} does not "
                "exist. Create it (writable by the app's user) or fix the audit log path in "
                "the configuration."
            ) from err
        except PermissionError as err:
            raise AuditError(
                f"Cannot write the audit log {self.path}: permission denied. Give the app's "
                f"user write access to {self.path} (or to {self.path.parent} if the file does "
                "not exist yet)."
            ) from err
        except IsADirectoryError as err:
            raise AuditError(
                f"The audit log path {self.path} is a folder; configure a file path such as "
                f"{self.path / 'audit.jsonl'}."
            ) from err
        except OSError as err:
            raise AuditError(f"Cannot open the audit log {self.path}: {err.strerror}.") from err
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise AuditError(
                f"The audit log path {self.path} is not a regular file, so events written "
                "there would not be kept. Configure the path of an ordinary file."
            )
        return fd

    def _next_link(self, fd: int, size: int) -> tuple[int, str]:
        """The next ``seq`` and ``prev``, from the last line only."""
        if size == 0:
            return 1, GENESIS
        last, complete = _last_line(fd, size)
        where = f"The audit log {self.path}"
        if not complete:
            raise AuditError(
                f"{where} ends with an incomplete line (a write was interrupted by a crash or a "
                "full disk), so no event can be chained after it. Run `python -m layers audit "
                "verify --log FILE` to see it, then `python -m layers audit repair --log FILE` "
                "to remove it."
            )
        try:
            seq = json.loads(last)["seq"]
        except (ValueError, TypeError, KeyError) as err:
            raise AuditError(
                f"{where} ends with a line that is not an audit event, so no event can be "
                "chained after it. Run `python -m layers audit verify --log FILE` to find what "
                "changed; restore the log from a backup or start a new log file."
            ) from err
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise AuditError(f"{where} ends with an event whose seq is {seq!r}; run audit verify.")
        return seq + 1, _sha256(last)

    def _append(self, fd: int, line: bytes) -> None:
        try:
            written = os.write(fd, line)
            # A regular file takes the whole line in one write unless the disk is full;
            # finish it under the same lock rather than leave half a line.
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        except OSError as err:
            hint = " The disk is full." if err.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise AuditError(
                f"Could not write to the audit log {self.path}: {err.strerror}.{hint} Free "
                "space or fix the file, then run `python -m layers audit verify --log FILE`."
            ) from err


def read_events(
    path: Path | str,
    *,
    since: datetime | None = None,
    user: str | None = None,
    event: str | None = None,
) -> list[dict[str, Any]]:
    """The events in the log at ``path``, oldest first, optionally filtered.

    Reading does not check the chain; use :func:`verify` for that.

    Parameters
    ----------
    path : Path or str
        The log file.
    since : datetime, optional
        Keep events at or after this moment. Must be timezone-aware (see
        :func:`parse_since` for text).
    user, event : str, optional
        Keep only events of this user, or of this event name (exact match).

    Returns
    -------
    list of dict
        One record per event, as written.

    Raises
    ------
    AuditError
        The file is missing or a line is not an event.
    ValueError
        ``since`` has no timezone.
    """
    if since is not None and since.utcoffset() is None:
        raise ValueError(
            f"`since` ({since.isoformat()}) has no timezone; give an aware datetime such as "
            "datetime(2026, 11, 28, tzinfo=UTC). The log's times are UTC."
        )
    events = []
    for number, raw, complete in _lines(path):
        where = f"Line {number} of the audit log {path}"
        if not complete:
            raise AuditError(
                f"{where} is incomplete (a write was interrupted). Run `python -m layers audit "
                "repair --log FILE` to remove it."
            )
        record = _parse(raw)
        if isinstance(record, str):
            raise AuditError(f"{where} {record}. Run `python -m layers audit verify`.")
        if since is not None and _when(record) < since:
            continue
        if (user is None or record["user"] == user) and (event is None or record["event"] == event):
            events.append(record)
    return events


def verify(path: Path | str) -> VerifyResult:
    """Check that the log at ``path`` is whole and its chain unbroken.

    Each line must end with a newline, be a JSON object with exactly the fields of an event,
    carry ``seq`` one more than the line before (1 on line 1), a ``prev`` equal to the
    SHA-256 of the line before (64 zeros on line 1), and a ``hash`` that matches its content.

    Parameters
    ----------
    path : Path or str
        The log file.

    Returns
    -------
    VerifyResult
        ``ok`` with the count and head, or the first bad line and why.

    Raises
    ------
    AuditError
        There is no file at ``path``.
    """
    prev, count = GENESIS, 0
    for number, raw, complete in _lines(path):
        problem = _check_line(raw, complete=complete, seq=number, prev=prev)
        if problem is not None:
            head = prev if count else None
            return VerifyResult(False, count, number, f"Line {number} {problem}", head)
        prev, count = _sha256(raw), number
    if count == 0:
        return VerifyResult(True, 0, None, f"{path} is empty: no events yet.", None)
    return VerifyResult(
        True, count, None, f"All {count:,} events are whole and chained; head {prev}.", prev
    )


def remove_incomplete_tail(path: Path | str) -> bytes:
    """Cut off a last line left incomplete by an interrupted write, and return its bytes.

    Only an incomplete last line (no newline at the end of the file) is ever removed: whole
    lines are never touched. Writers are held off while it runs.

    Parameters
    ----------
    path : Path or str
        The log file.

    Returns
    -------
    bytes
        What was removed (empty when the log ended cleanly), for the administrator to see.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise AuditError(f"Cannot open the audit log {path}: {err.strerror}.") from err
    try:
        with _locked(fd, fcntl.LOCK_EX):
            size = os.fstat(fd).st_size
            if size == 0:
                return b""
            last, complete = _last_line(fd, size)
            if complete:
                return b""
            os.ftruncate(fd, size - len(last))
            os.fsync(fd)
            return last
    finally:
        os.close(fd)


def parse_since(text: str) -> datetime:
    """An aware datetime from ``--since`` text: a date or an ISO datetime, UTC unless it says.

    Parameters
    ----------
    text : str
        ``2026-11-28``, ``2026-11-28T10:15``, ``2026-11-28T12:15+02:00`` or ``...Z``. Without
        an offset the time is taken as UTC, as the log's times are.

    Returns
    -------
    datetime
        Timezone-aware.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as err:
        raise ValueError(
            f"{text!r} is not a date or time; write 2026-11-28 or 2026-11-28T10:15 (UTC) or "
            "2026-11-28T12:15+02:00."
        ) from err
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def format_events(events: list[dict[str, Any]]) -> str:
    """A plain-text table of ``events`` for a terminal, one event per row.

    Control characters in names and details are shown escaped, so a crafted user name
    cannot move the cursor or recolour the terminal of the administrator reading it.

    Parameters
    ----------
    events : list of dict
        Records from :func:`read_events`.

    Returns
    -------
    str
        Header and rows, columns aligned; detail last, as ``key=value`` with JSON values.
    """
    if not events:
        return "No audit events."
    header = ("SEQ", "AT (UTC)", "EVENT", "USER", "ROLE", "DETAIL")
    rows = [header] + [
        (
            str(record.get("seq", "")),
            _printable(str(record.get("at", ""))),
            _printable(str(record.get("event", ""))),
            _printable(str(record.get("user", ""))),
            _printable(str(record.get("role", ""))),
            _printable(_describe(record.get("detail") or {})),
        )
        for record in events
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


# -- serialising ---------------------------------------------------------------------------


def _clean_detail(detail: Mapping[str, Any] | None) -> dict[str, Any]:
    if detail is None:
        return {}
    if not isinstance(detail, Mapping):
        raise TypeError(f"`detail` must be a dict, not {type(detail).__name__}.")
    return _jsonable(detail, "detail")


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data, secrets redacted; TypeError/ValueError naming ``where``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, where)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{where} is {number}; JSON has no NaN or infinity. Record None.")
        return number
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        clean = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has a key {key!r}; keys in an audit detail are str.")
            inner = f"{where}[{key!r}]"
            clean[key] = REDACTED if _SECRET_KEY.search(key) else _jsonable(item, inner)
        return clean
    if isinstance(value, list | tuple):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [_jsonable(item, f"{where} item") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    raise TypeError(
        f"{where} is a {type(value).__name__}, which the audit log cannot record. Pass text, "
        "numbers, booleans, None, dates, lists, tuples, sets, dicts, paths or dataclasses "
        "(e.g. a geometry as its WKT, bytes as a hash or length)."
    )


def _seal(
    seq: int, event: str, user: str, role: str, detail: dict[str, Any], prev: str
) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "event": event,
        "user": user,
        "role": role,
        "detail": detail,
        "prev": prev,
    }
    record["hash"] = _record_hash(record)
    return record


def _record_hash(record: Mapping[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return _sha256(canonical.encode("utf-8"))


def _line(record: Mapping[str, Any]) -> bytes:
    # Fields in reading order (not sorted) so `tail -f` reads naturally; the hash is over the
    # canonical form, so the order on disk does not matter to it.
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- reading -------------------------------------------------------------------------------


@contextmanager
def _locked(fd: int, operation: int) -> Iterator[None]:
    fcntl.flock(fd, operation)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _last_line(fd: int, size: int) -> tuple[bytes, bool]:
    """The last line of the first ``size`` bytes, newline excluded, and whether it had one.

    Reads backwards in chunks, so the cost is the length of the line, not of the log.
    """
    complete = os.pread(fd, 1, size - 1) == b"\n"
    position = size - 1 if complete else size
    chunks = []
    while position > 0:
        step = min(_TAIL_CHUNK, position)
        position -= step
        chunk = os.pread(fd, step, position)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            chunks.append(chunk[cut + 1 :])
            break
        chunks.append(chunk)
    return b"".join(reversed(chunks)), complete


def _lines(path: Path | str) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(number, line without newline, had a newline)`` for the log as it is now.

    The size is taken under a shared lock, so a line being appended right now is neither
    seen nor mistaken for a truncated one.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError as err:
        raise AuditError(
            f"There is no audit log at {path}. Check the audit log path in the configuration; "
            "if events were recorded there before, the file has been moved or deleted."
        ) from err
    except OSError as err:
        raise AuditError(f"Cannot read the audit log {path}: {err.strerror}.") from err
    with handle:
        with _locked(handle.fileno(), fcntl.LOCK_SH):
            size = os.fstat(handle.fileno()).st_size
        remaining = size
        for number, raw in enumerate(handle, start=1):
            if remaining <= 0:
                return
            raw = raw[:remaining]
            remaining -= len(raw)
            complete = raw.endswith(b"\n")
            yield number, raw[:-1] if complete else raw, complete


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The record on one line, or what is wrong with it (a phrase after "Line N")."""
    try:
        record = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        return f"is not valid JSON ({err})"
    if not isinstance(record, dict):
        return "is not a JSON object"
    if record.keys() != _FIELD_SET:
        missing = sorted(set(FIELDS) - set(record))
        extra = sorted(set(record) - set(FIELDS))
        return f"does not have the fields of an event (missing {missing}, unexpected {extra})"
    for key, kind in _KINDS.items():
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            return f"has a {key} that is not a {kind.__name__}"
    try:
        aware = _when(record).utcoffset() is not None
    except ValueError:
        aware = False
    if not aware:
        return f"has a time {record['at']!r} that is not ISO-8601 with a timezone"
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        raise ValueError("a key appears twice")
    return record


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
_KINDS = {"seq": int, "at": str, "event": str, "user": str, "role": str, "detail": dict}


def _check_line(raw: bytes, *, complete: bool, seq: int, prev: str) -> str | None:
    """What is wrong with line ``seq`` given the previous line's hash, or None."""
    if not complete:
        return (
            "is incomplete: the file ends without a newline, so the last write was cut short "
            "(a crash or a full disk). Remove it with `python -m layers audit repair`."
        )
    record = _parse(raw)
    if isinstance(record, str):
        return f"{record}: it was edited or damaged."
    if record["seq"] != seq:
        return (
            f"has seq {record['seq']} where {seq} was expected: lines were deleted, inserted "
            "or reordered here."
        )
    if record["prev"] != prev:
        return (
            "does not link to the line before (its prev is not that line's SHA-256): the line "
            "before was edited, or this line was written by something other than the app."
        )
    if record["hash"] != _record_hash(record):
        return "does not match its hash: its content was edited after it was written."
    return None


def _when(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(record["at"])


def _describe(detail: Mapping[str, Any]) -> str:
    return " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))}"
        for key, value in detail.items()
    )


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _fsync_folder(folder: Path) -> None:
    # Best effort: the event itself is already on disk; a folder the app may write but not
    # list only costs the new file's name surviving a power cut.
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
