"""The reader keeps when runs, phases and handler calls started; the tree shows it as offsets."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from typing import Any

import pytest

from trace_records import T0, Call, run_records, stamp
from twisted_event_dispatcher.tracing import (
    TracedRun,
    TraceReader,
    format_offset,
    format_time,
    format_tree,
    read_runs,
    timestamp_seconds,
)

START = T0.timestamp()


def _read(*runs: list[dict[str, Any]]) -> list[TracedRun]:
    text = "".join(json.dumps(record) + "\n" for records in runs for record in records)
    return list(read_runs(io.BytesIO(text.encode())))


def test_runs_phases_and_calls_keep_their_times() -> None:
    """A run keeps its start and end times, a phase its start, a handler call its start and end."""
    calls = (Call("a", at=0.010, duration=0.020), Call("b", at=0.040, phase="after"))
    (run,) = _read(run_records("r1", *calls, at=5.0, duration=0.5))
    assert run.start_time == pytest.approx(START + 5.0)
    assert run.end_time == pytest.approx(START + 5.5)
    assert [phase.start_time for phase in run.phases] == pytest.approx(
        [START + 5.010, START + 5.040]
    )
    first = run.handlers[0]
    assert (first.start_time, first.end_time) == pytest.approx((START + 5.010, START + 5.030))


def test_a_queued_run_starts_when_its_turn_comes() -> None:
    """A run's start time is its run_started record's, not the earlier run_created's."""
    records = run_records("r1", duration=0.1)
    records[0]["timestamp"] = stamp(-3.0)
    (run,) = _read(records)
    assert run.start_time == pytest.approx(START)


def test_a_run_without_run_started_starts_with_its_first_record() -> None:
    """A run dropped unstarted has the time of its first record, and ends when dropped."""
    records = [
        {"event": "run_created", "run_id": "r1", "timestamp": stamp(1.0)},
        {"event": "run_dropped", "run_id": "r1", "timestamp": stamp(1.5)},
    ]
    (run,) = _read(records)
    assert (run.start_time, run.end_time) == pytest.approx((START + 1.0, START + 1.5))
    assert run.status == "dropped"


def test_a_call_without_its_called_record_started_a_duration_before_it_settled() -> None:
    """Without handler_called, a call's start is its settlement's time less its duration."""
    records = [
        record
        for record in run_records("r1", Call("a", at=1.0, duration=0.25), duration=2.0)
        if record["event"] != "handler_called"
    ]
    (run,) = _read(records)
    assert run.handlers[0].start_time == pytest.approx(START + 1.0)


def test_a_call_without_a_usable_duration_has_no_start() -> None:
    """A settlement whose duration puts the start out of range gives the call no start time."""
    reader = TraceReader()
    reader.feed({"event": "run_created", "run_id": "r1", "timestamp": stamp(0)})
    settled = {"handler_id": 1, "handler_name": "a", "phase": "during", "status": "succeeded"}
    reader.feed({"event": "handler_settled", "run_id": "r1", **settled, "duration": 1e300})
    reader.feed(
        {
            "event": "handler_settled",
            "run_id": "r1",
            **settled,
            "handler_id": 2,
            "duration": 1e300,
            "timestamp": stamp(1),
        }
    )
    (run,) = reader.feed({"event": "run_ended", "run_id": "r1", "status": "completed"})
    assert [handler.start_time for handler in run.handlers] == [None, None]
    assert run.end_time is None


def test_records_without_timestamps_give_no_times() -> None:
    """A trace without timestamps (or with bad ones) reads as before, with no times."""
    records = run_records("r1", Call("a"))
    for record in records:
        record["timestamp"] = "yesterday"
    (run,) = _read(records)
    assert run.start_time is None
    assert run.end_time is None
    assert run.phases[0].start_time is None
    assert run.handlers[0].start_time is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2026-03-01T12:00:00.000000Z", START),
        ("2026-03-01T12:00:00.250000z", START + 0.25),
        ("2026-03-01T13:00:00+01:00", START),
        (" 2026-03-01T12:00:00Z ", START),
        ("2026-03-01", dt.datetime(2026, 3, 1).timestamp()),  # noqa: DTZ001 -- local time
        ("2026-03-01T12:00:00", dt.datetime(2026, 3, 1, 12).timestamp()),  # noqa: DTZ001
        (START, START),
        (int(START), float(int(START))),
    ],
)
def test_timestamps_are_iso_8601_or_numbers(value: object, seconds: float) -> None:
    """ISO 8601 (Z, an offset, or local time without one) and epoch seconds are timestamps."""
    assert timestamp_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        "",
        "t",
        "Z",
        "2026-13-01T00:00:00Z",
        "2026-03-01T12:00:00" + "0" * 50,
        "9999-12-31T23:59:59Z",
        [START],
        {"t": START},
        math.inf,
        math.nan,
        -1e20,
        10**400,
        "0001-01-01T00:00:00",
    ],
)
def test_anything_else_is_no_timestamp(value: object) -> None:
    """Other types, bad text, and times out of range are not timestamps, and never raise."""
    assert timestamp_seconds(value) is None


def test_tree_lines_carry_offsets_from_the_run_start() -> None:
    """The top line says when the run started; the others, how long after it each started."""
    child = run_records("r2", Call("c", at=0.001), at=60.0305, duration=0.002, parent=("r1", 7))
    calls = (
        Call("a", at=0.0001),
        Call("b", at=0.0301, duration=0.01, handler_id=7, fired=child),
        Call("d", at=1.5, phase="after", handler_id=8),
    )
    (run,) = _read(run_records("r1", *calls, at=60.0, duration=2.0))
    assert list(format_tree(run)) == [
        "run r1  str  kind='k'  completed  2.00 s  at 2026-03-01T12:01:00.000Z",
        "├── +0.1 ms  during",
        "│   ├── +0.1 ms  ✓ a  succeeded  1.0 ms",
        "│   └── +30.1 ms  ✓ b  succeeded  10.0 ms",
        "│       └── +30.5 ms  run r2  str  kind='k'  completed  2.0 ms  (child of run r1)",
        "│           └── +31.5 ms  during",
        "│               └── +31.5 ms  ✓ c  succeeded  1.0 ms",
        "└── +1.50 s  after",
        "    └── +1.50 s  ✓ d  succeeded  1.0 ms",
    ]
    assert list(format_tree(run, offsets=False))[:3] == [
        "run r1  str  kind='k'  completed  2.00 s",
        "├── during",
        "│   ├── ✓ a  succeeded  1.0 ms",
    ]


def test_lines_whose_start_is_unknown_have_no_offset() -> None:
    """A phase or call without a time has no offset; a run without one shows none at all."""
    records = run_records("r1", Call("a", at=0.002), Call("b", at=0.003), duration=0.01)
    for record in records:  # the phase and a's call have no time
        if record["event"] != "run_started" and record.get("handler_name", "a") == "a":
            del record["timestamp"]
    (run,) = _read(records)
    lines = list(format_tree(run))
    assert lines[1:] == [
        "└── during",
        "    ├── ✓ a  succeeded  1.0 ms",
        "    └── +3.0 ms  ✓ b  succeeded  1.0 ms",
    ]
    run.start_time = None
    assert list(format_tree(run)) == list(format_tree(run, offsets=False))


def test_an_earlier_child_has_a_negative_offset() -> None:
    """A child run whose clock says it started before its parent shows a negative offset."""
    child = run_records("r2", at=-0.5, parent=("r1", 1))  # r1 starts at 0
    (run,) = _read(run_records("r1", Call("a", fired=child)))
    assert any("── -500.0 ms  run r2" in line for line in format_tree(run))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "+0.0 ms"), (0.0123, "+12.3 ms"), (-0.0123, "-12.3 ms"), (2.5, "+2.50 s")],
)
def test_format_offset(seconds: float, text: str) -> None:
    """format_offset signs a short duration."""
    assert format_offset(seconds) == text


def test_format_time() -> None:
    """format_time writes ISO 8601 in UTC to the millisecond, and a number when out of range."""
    assert format_time(START + 0.5) == "2026-03-01T12:00:00.500Z"
    assert format_time(1e20) == "100000000000000000000.000"
