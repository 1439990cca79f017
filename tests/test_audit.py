"""The audit log: events round-trip, every kind of tampering is caught at the right line, and
concurrent writers (processes and threads) keep one unbroken chain."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from layers._errors import LayersError
from layers.access.audit import (
    ACCESS_DENIED,
    EXPORT,
    GENESIS,
    REDACTED,
    SIGN_IN,
    SIGN_IN_FAILED,
    SIGN_OUT,
    AuditError,
    AuditLog,
    _line,  # the private helpers forge lines as a tamperer would
    _record_hash,
    _sha256,
    format_events,
    parse_since,
    read_events,
    remove_incomplete_tail,
    verify,
)

WRITERS, EACH = 4, 50


@pytest.fixture
def log(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


@pytest.fixture
def five(log) -> AuditLog:
    """A log of five events by two users."""
    log.record(SIGN_IN, user="thandi", role="analyst")
    log.record(EXPORT, user="thandi", role="analyst", detail={"format": "csv", "rows": 412})
    log.record(SIGN_IN_FAILED, user="pieter", role="", detail={"reason": "bad password"})
    log.record(ACCESS_DENIED, user="pieter", role="viewer", detail={"page": "export"})
    log.record(SIGN_OUT, user="thandi", role="analyst")
    return log


def lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def rewrite(log: AuditLog, new_lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(new_lines))


def test_events_round_trip(log):
    detail = {
        "format": "gpkg",
        "rows": 12,
        "filters": {"categories": ("burglary", "robbery"), "since": date(2026, 11, 1)},
        "wards": {"W2", "W1"},
        "out": Path("/exports/x.gpkg"),
        "share": 0.25,
        "note": "ünïcode\nand a newline",
    }
    written = log.record(EXPORT, user="thandi", role="analyst", detail=detail)
    events = read_events(log.path)
    assert events == [written]
    assert [list(event) for event in events] == [
        ["seq", "at", "event", "user", "role", "detail", "prev", "hash"]
    ]
    (event,) = events
    assert (event["seq"], event["event"], event["user"], event["role"]) == (
        1,
        "export",
        "thandi",
        "analyst",
    )
    assert event["detail"] == {
        "format": "gpkg",
        "rows": 12,
        "filters": {"categories": ["burglary", "robbery"], "since": "2026-11-01"},
        "wards": ["W1", "W2"],
        "out": "/exports/x.gpkg",
        "share": 0.25,
        "note": "ünïcode\nand a newline",
    }
    assert event["prev"] == GENESIS
    assert event["at"].endswith("Z") and len(event["at"]) == len("2026-11-28T10:15:00.123Z")
    at = datetime.fromisoformat(event["at"])
    assert abs(datetime.now(UTC) - at) < timedelta(seconds=5)
    assert lines(log)[0].count(b"\n") == 1  # the newline in the note is escaped


def test_a_dataclass_detail_is_recorded_as_its_fields(log):
    @dataclass(frozen=True)
    class Filter:
        categories: tuple[str, ...]
        since: date | None

    event = log.record(EXPORT, user="u", role="r", detail={"filters": Filter(("b", "a"), None)})
    assert event["detail"] == {"filters": {"categories": ["b", "a"], "since": None}}


def test_the_chain_verifies(five):
    result = verify(five.path)
    assert result.ok, result.reason
    assert (result.events, result.first_bad_line) == (5, None)
    raw = lines(five)
    assert result.head == hashlib.sha256(raw[-1].rstrip(b"\n")).hexdigest()
    events = read_events(five.path)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5]
    for before, after in zip(raw, events[1:], strict=False):
        assert after["prev"] == hashlib.sha256(before.rstrip(b"\n")).hexdigest()


def test_an_empty_log_verifies_and_a_missing_one_is_an_error(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert verify(empty).ok and verify(empty).events == 0
    with pytest.raises(AuditError, match="no audit log"):
        verify(tmp_path / "nowhere.jsonl")
    with pytest.raises(AuditError, match="no audit log"):
        read_events(tmp_path / "nowhere.jsonl")


def test_editing_a_middle_line_is_caught_at_that_line(five):
    raw = lines(five)
    raw[2] = raw[2].replace(b'"pieter"', b'"nobody"')
    rewrite(five, raw)
    result = verify(five.path)
    assert not result.ok
    assert (result.first_bad_line, result.events) == (3, 2)
    assert "hash" in result.reason and "edited" in result.reason


def test_editing_a_line_and_its_hash_is_caught_at_the_next_line(five):
    raw = lines(five)
    record = json.loads(raw[1])
    record["detail"]["rows"] = 1
    record["hash"] = _record_hash(record)
    raw[1] = _line(record)
    rewrite(five, raw)
    result = verify(five.path)
    assert (result.ok, result.first_bad_line) == (False, 3)
    assert "does not link" in result.reason


def test_deleting_a_line_is_caught(five):
    raw = lines(five)
    del raw[2]
    rewrite(five, raw)
    result = verify(five.path)
    assert (result.ok, result.first_bad_line) == (False, 3)
    assert "seq 4 where 3 was expected" in result.reason


def test_swapping_two_lines_is_caught(five):
    raw = lines(five)
    raw[1], raw[2] = raw[2], raw[1]
    rewrite(five, raw)
    result = verify(five.path)
    assert (result.ok, result.first_bad_line) == (False, 2)
    assert "reordered" in result.reason


def test_a_forged_line_without_the_right_prev_is_caught(five):
    forged = {
        "seq": 6,
        "at": "2026-11-28T10:15:00.123Z",
        "event": EXPORT,
        "user": "thandi",
        "role": "admin",
        "detail": {},
        "prev": "f" * 64,
    }
    forged["hash"] = _record_hash(forged)  # self-consistent, but not linked
    with open(five.path, "ab") as handle:
        handle.write(_line(forged))
    result = verify(five.path)
    assert (result.ok, result.first_bad_line, result.events) == (False, 6, 5)
    assert "does not link" in result.reason


def test_a_line_that_is_not_json_is_caught(five):
    raw = lines(five)
    raw[3] = b"rm -rf /\n"
    rewrite(five, raw)
    result = verify(five.path)
    assert (result.ok, result.first_bad_line) == (False, 4)
    assert "not valid JSON" in result.reason
    with pytest.raises(AuditError, match="Line 4"):
        read_events(five.path)


def test_a_truncated_last_line_is_reported_as_an_interrupted_write(five):
    data = five.path.read_bytes()
    five.path.write_bytes(data[:-40])
    result = verify(five.path)
    assert (result.ok, result.first_bad_line, result.events) == (False, 5, 4)
    assert "incomplete" in result.reason and "cut short" in result.reason
    with pytest.raises(AuditError, match="incomplete"):
        read_events(five.path)


def test_nothing_is_chained_after_a_truncated_line_until_it_is_removed(five):
    data = five.path.read_bytes()
    five.path.write_bytes(data[:-40])
    with pytest.raises(AuditError, match=r"incomplete line.*audit repair"):
        five.record(SIGN_IN, user="thandi", role="analyst")
    removed = remove_incomplete_tail(five.path)
    assert removed == data.splitlines()[-1][:-39]
    assert verify(five.path).ok and verify(five.path).events == 4
    assert five.record(SIGN_IN, user="thandi", role="analyst")["seq"] == 5
    assert verify(five.path).ok
    assert remove_incomplete_tail(five.path) == b""  # a clean end is left alone


def test_the_last_line_is_read_from_the_end_even_when_longer_than_a_chunk(log):
    big = {"filters": {"categories": [f"category {i:04d}" for i in range(1500)]}}
    log.record(EXPORT, user="u", role="r", detail=big)
    log.record(EXPORT, user="u", role="r", detail=big)
    assert log.path.stat().st_size > 2 * 8192
    assert log.record(SIGN_OUT, user="u", role="r")["seq"] == 3
    assert verify(log.path).ok


def _write_events(path: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    start.wait(30)
    log = AuditLog(Path(path))
    for i in range(EACH):
        log.record(EXPORT, user=f"writer{writer}", role="analyst", detail={"i": i})


def test_concurrent_processes_keep_one_chain(log):
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_write_events, args=(str(log.path), n, start))
        for n in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    assert_one_chain(log)


def test_concurrent_threads_keep_one_chain(log):
    # Streamlit sessions are threads of one process: each record() opens its own
    # descriptor, and flock serialises descriptors even within one process.
    start = threading.Event()
    threads = [
        threading.Thread(target=_write_events, args=(str(log.path), n, start))
        for n in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(120)
    assert_one_chain(log)


def assert_one_chain(log: AuditLog) -> None:
    result = verify(log.path)
    assert result.ok, result.reason
    assert result.events == WRITERS * EACH
    events = read_events(log.path)
    assert [e["seq"] for e in events] == list(range(1, WRITERS * EACH + 1))
    for n in range(WRITERS):
        mine = [e["detail"]["i"] for e in events if e["user"] == f"writer{n}"]
        assert mine == list(range(EACH))


@pytest.mark.parametrize(
    "key", ["password", "Password", "user_password", "passwd", "api_key", "secret", "authToken"]
)
def test_secrets_in_detail_are_redacted(log, key):
    event = log.record(
        SIGN_IN_FAILED, user="pieter", role="", detail={"form": {key: "hunter2"}, "try": 3}
    )
    assert event["detail"] == {"form": {key: REDACTED}, "try": 3}
    assert b"hunter2" not in log.path.read_bytes()
    assert verify(log.path).ok


@pytest.mark.parametrize(
    ("detail", "error", "match"),
    [
        ({"geom": object()}, TypeError, r"detail\['geom'\] is a object"),
        ({"data": b"\x00"}, TypeError, "bytes"),
        ({"nested": {"x": [1, {2, 3}, complex(1, 2)]}}, TypeError, r"\['nested'\]\['x'\]\[2\]"),
        ({1: "one"}, TypeError, "keys in an audit detail are str"),
        ({"ratio": float("nan")}, ValueError, "NaN"),
        (["not", "a", "dict"], TypeError, "`detail` must be a dict"),
        ({"rows": list(range(20_000))}, ValueError, "capped"),
    ],
)
def test_detail_that_cannot_be_recorded_is_refused(log, detail, error, match):
    with pytest.raises(error, match=match):
        log.record(EXPORT, user="u", role="r", detail=detail)
    assert not log.path.exists() or read_events(log.path) == []


@pytest.mark.parametrize(
    ("event", "user", "role"), [("", "u", "r"), ("export", " ", "r"), ("export", None, "r")]
)
def test_an_event_needs_a_name_and_a_user(log, event, user, role):
    with pytest.raises((TypeError, ValueError)):
        log.record(event, user=user, role=role)


def test_the_file_is_created_with_mode_0640(log):
    old = os.umask(0o022)
    try:
        log.record(SIGN_IN, user="u", role="r")
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o640


def test_an_existing_files_mode_is_left_alone(log):
    log.path.touch(mode=0o600)
    os.chmod(log.path, 0o600)
    log.record(SIGN_IN, user="u", role="r")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600


def test_a_missing_folder_says_how_to_fix_it(tmp_path):
    log = AuditLog(tmp_path / "no" / "such" / "audit.jsonl")
    with pytest.raises(AuditError, match=r"does not exist\. Create it") as info:
        log.record(SIGN_IN, user="u", role="r")
    assert isinstance(info.value, LayersError)


def test_an_unwritable_file_says_how_to_fix_it(log, monkeypatch):
    # Faked, because the tests may run as root, who can write anywhere.
    real_open = os.open

    def denied(path, *args, **kwargs):
        if Path(path) == log.path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(AuditError, match=r"permission denied\. Give the app's user write access"):
        log.record(SIGN_IN, user="u", role="r")


def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(AuditError, match="is a folder"):
        AuditLog(tmp_path).record(SIGN_IN, user="u", role="r")
    with pytest.raises(AuditError, match="not a regular file"):
        AuditLog(Path(os.devnull)).record(SIGN_IN, user="u", role="r")


def test_filtering_by_since_user_and_event(five):
    raw = lines(five)
    # Give the events known times an hour apart, keeping the chain valid.
    prev, rebuilt = GENESIS, []
    for n, line in enumerate(raw):
        record = json.loads(line)
        record["at"] = f"2026-11-28T{8 + n:02d}:00:00.000Z"
        record["prev"] = prev
        record["hash"] = _record_hash(record)
        rebuilt.append(_line(record))
        prev = _sha256(rebuilt[-1].rstrip(b"\n"))
    rewrite(five, rebuilt)
    assert verify(five.path).ok

    def seqs(**kwargs) -> list[int]:
        return [event["seq"] for event in read_events(five.path, **kwargs)]

    assert seqs() == [1, 2, 3, 4, 5]
    assert seqs(user="thandi") == [1, 2, 5]
    assert seqs(event=EXPORT) == [2]
    assert seqs(since=datetime(2026, 11, 28, 10, tzinfo=UTC)) == [3, 4, 5]  # inclusive
    assert seqs(since=parse_since("2026-11-28T12:00+02:00")) == [3, 4, 5]
    assert seqs(since=parse_since("2026-11-28T10:30"), user="pieter") == [4]
    assert seqs(user="pieter", event=SIGN_IN) == []
    with pytest.raises(ValueError, match="no timezone"):
        read_events(five.path, since=datetime(2026, 11, 28, 10))


def test_parse_since():
    assert parse_since("2026-11-28") == datetime(2026, 11, 28, tzinfo=UTC)
    assert parse_since("2026-11-28T10:15Z") == datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
    with pytest.raises(ValueError, match="not a date or time"):
        parse_since("last tuesday")


def test_format_events_is_an_aligned_table_that_escapes_control_characters(five):
    five.record(SIGN_IN_FAILED, user="\x1b[31mevil", role="", detail={"tries": 3})
    text = format_events(read_events(five.path))
    rows = text.splitlines()
    assert rows[0].split() == ["SEQ", "AT", "(UTC)", "EVENT", "USER", "ROLE", "DETAIL"]
    assert len(rows) == 7
    assert "\x1b" not in text and "\\x1b[31mevil" in text
    assert 'format="csv" rows=412' in rows[2]
    detail_column = rows[0].index("DETAIL")
    assert rows[2][detail_column:].startswith('format="csv"')
    assert rows[6][detail_column:].startswith("tries=3")
    assert format_events([]) == "No audit events."
