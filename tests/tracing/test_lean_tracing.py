"""Tracing that can stay on: one record per call, buffered writes, sampling, bounded values."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import AbortRun, EventDispatcher, EventRun
from twisted_event_dispatcher.testing import capture_trace
from twisted_event_dispatcher.tracing import (
    EVENTS,
    Timestamps,
    _configure,
    configure_tracing,
    format_tree,
    read_runs,
    timestamp_seconds,
)

# -- helpers ----------------------------------------------------------------------------


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def _events(text: str, run_id: str | None = None) -> list[str]:
    return [
        record["event"]
        for record in _records(text)
        if run_id is None or record.get("run_id") == run_id
    ]


def ok(event: object) -> None:
    """Succeed at once."""


def boom(event: object) -> None:
    """Fail at once."""
    raise ValueError("boom")


def veto(event: object) -> None:
    """Abort the run."""
    raise AbortRun("no")


def _dispatcher(**options: Any) -> tuple[EventDispatcher, Clock]:
    clock = Clock()
    dispatcher = EventDispatcher(("kind",), reactor=clock, **options)
    dispatcher.start()
    return dispatcher, clock


def _fire(dispatcher: EventDispatcher, kind: str) -> list[EventRun]:
    runs: list[EventRun] = []
    dispatcher.fire_event(kind, kind=kind).addCallback(runs.append)
    return runs


# -- one record per handler call ------------------------------------------------------


def test_a_call_that_settles_in_place_is_one_record() -> None:
    """A handler that returns is one handler_settled record, with its call count."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(ok, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        _fire(dispatcher, "a")
        _fire(dispatcher, "a")
    calls = [r for r in _records(sink.getvalue()) if r["event"].startswith("handler_")]
    assert [(r["event"], r["status"], r["call"]) for r in calls if "run_id" in r] == [
        ("handler_settled", "succeeded", 1),
        ("handler_settled", "succeeded", 2),
    ]


def test_a_failing_call_is_one_error_record_with_its_call_count() -> None:
    """A handler that raises is one handler_settled record at error level, with call."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(boom, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        _fire(dispatcher, "a")
    (settled,) = [r for r in _records(sink.getvalue()) if r["event"] == "handler_settled"]
    assert (settled["level"], settled["status"], settled["call"]) == ("error", "failed", 1)
    assert "handler_called" not in _events(sink.getvalue())


def test_a_call_that_waits_is_called_then_settled() -> None:
    """A handler whose Deferred is pending writes handler_called, then handler_settled later."""
    dispatcher, _ = _dispatcher()
    pending: Deferred[None] = Deferred()
    dispatcher.add_event_handler(lambda event: pending, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False) as handle:
        _fire(dispatcher, "a")
        handle.flush()
        assert _events(sink.getvalue())[-1] == "handler_called"
        pending.callback(None)
    records = [r for r in _records(sink.getvalue()) if r["event"].startswith("handler_")]
    assert [(r["event"], r.get("call")) for r in records if "run_id" in r] == [
        ("handler_called", 1),
        ("handler_settled", None),
    ]


def test_an_aborting_call_keeps_its_handler_record() -> None:
    """A handler that raises AbortRun in place is traced as called, then as the abort request."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(veto, "before", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        runs = _fire(dispatcher, "a")
    run_id = runs[0].run_id
    events = _events(sink.getvalue(), run_id)
    at = events.index("run_abort_requested")
    assert events[at - 1] == "handler_called"
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    assert tree.status == "aborted"
    assert [h.handler_name for h in tree.handlers] == [f"{__name__}.veto"]


def test_child_runs_of_a_call_that_settled_in_place_go_under_it() -> None:
    """The runs a returning handler fired are read back under its call, not as orphans."""
    dispatcher, _ = _dispatcher()

    def parent(event: object) -> None:
        dispatcher.fire_event("child", kind="child")

    dispatcher.add_event_handler(parent, "during", False, kind="top")
    dispatcher.add_event_handler(ok, "during", False, kind="child")
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        _fire(dispatcher, "top")
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    (call,) = [h for h in tree.handlers if h.handler_name.endswith("parent")]
    assert [child.event_type for child in call.children] == ["str"]
    assert tree.orphans == []
    assert "└── " in "\n".join(format_tree(tree))


def test_capture_trace_lists_calls_of_either_shape() -> None:
    """Trace.calls lists a call that settled in place and one that waited, with their statuses."""
    dispatcher, _ = _dispatcher()
    pending: Deferred[None] = Deferred()
    dispatcher.add_event_handler(ok, "before", False)
    dispatcher.add_event_handler(lambda event: pending, "during", False)
    dispatcher.add_event_handler(ok, "after", False)
    with capture_trace() as trace:
        _fire(dispatcher, "a")
        pending.callback(None)
    assert [(call.phase, call.status) for call in trace.calls()] == [
        ("before", "succeeded"),
        ("during", "succeeded"),
        ("after", "succeeded"),
    ]


# -- reading traces written before 1.2 ---------------------------------------------------


def _old(event: str, run_id: str, ms: float, level: str = "debug", **keys: Any) -> str:
    """One record as configure_tracing wrote it before 1.2 (key order and logger key included)."""
    context: dict[str, Any] = {"run_id": run_id}
    if run_id == "a-2":
        context["parent_run_id"] = "a-1"
    record = {
        **context,
        **keys,
        "event": event,
        "level": level,
        "logger": "twisted_event_dispatcher",
        "timestamp": f"2026-03-01T12:00:00.{round(ms * 1000):06d}Z",
    }
    return json.dumps(record)


_PARENT: dict[str, Any] = {"handler_id": 1, "handler_name": "shop.parent", "phase": "during"}
_CHARGE: dict[str, Any] = {"handler_id": 2, "handler_name": "shop.charge", "phase": "during"}
_TOP: dict[str, Any] = {"parent_handler_id": None, "parent_handler_name": None}
_FIRED: dict[str, Any] = {"parent_handler_id": 1, "parent_handler_name": "shop.parent"}
_TRANSITION: dict[str, Any] = {"machine": "run", "from_state": "waiting", "input": "begin"}
_OLD_TRACE = "".join(
    line + "\n"
    for line in [
        _old("run_created", "a-1", 0, event_type="str", details={"kind": "'top'"}, **_TOP),
        _old("run_started", "a-1", 0.1),
        _old("run_transition", "a-1", 0.2, **_TRANSITION, to_state="phase:during", phase="during"),
        _old("phase_entered", "a-1", 0.3, phase="during"),
        _old("handler_called", "a-1", 1, **_PARENT, call=1),
        _old("run_created", "a-2", 2, event_type="str", details={}, **_FIRED),
        _old("run_started", "a-2", 2),
        _old("run_ended", "a-2", 3, status="completed", duration=0.0, handlers=0, failures=0),
        _old("handler_settled", "a-1", 4, **_PARENT, status="succeeded", duration=0.003),
        _old("handler_called", "a-1", 5, **_CHARGE, call=1),
        _old(
            "handler_settled",
            "a-1",
            6,
            "error",
            **_CHARGE,
            status="failed",
            duration=0.001,
            exception_type="ValueError",
            exception_message="declined",
        ),
        _old("phase_completed", "a-1", 7, phase="during", failed=True),
        _old("run_ended", "a-1", 8, status="completed", duration=0.008, handlers=2, failures=1),
    ]
)


def test_old_format_lines_still_read() -> None:
    """A trace written before 1.2 (handler_called before every call, logger keys) still reads."""
    (tree,) = read_runs(io.BytesIO(_OLD_TRACE.encode()))
    assert [(h.handler_name, h.status, h.duration) for h in tree.handlers] == [
        ("shop.parent", "succeeded", 0.003),
        ("shop.charge", "failed", 0.001),
    ]
    parent = tree.handlers[0]
    assert [child.run_id for child in parent.children] == ["a-2"]
    assert parent.start_time is not None
    assert parent.end_time is not None
    assert parent.end_time - parent.start_time == pytest.approx(0.003, abs=1e-6)
    assert tree.phases[0].failed is True
    assert tree.handlers[1].exception_message == "declined"


def test_old_and_new_format_read_alike() -> None:
    """The same run written the old way and the new way reads back as the same tree."""
    new = "\n".join(
        line
        for line in _OLD_TRACE.splitlines()
        # the new format: no handler_called for calls that settled in place
        if json.loads(line)["event"] != "handler_called"
    )
    trees = [read_runs(io.BytesIO(text.encode())) for text in (_OLD_TRACE, new + "\n")]
    old_tree, new_tree = (next(iter(each)) for each in trees)
    assert list(format_tree(old_tree)) == list(format_tree(new_tree))


def test_old_format_lines_feed_capture_trace_helpers() -> None:
    """The testing helpers' Trace reads old-format records' calls, too."""
    with capture_trace() as trace:
        trace.records.extend(_records(_OLD_TRACE))
    assert [(call.handler_name, call.status) for call in trace.calls("a-1")] == [
        ("shop.parent", "succeeded"),
        ("shop.charge", "failed"),
    ]


# -- buffered writes ----------------------------------------------------------------------


def test_records_are_written_when_the_run_ends() -> None:
    """A run's debug records wait in the buffer until it ends; then they are all written."""
    dispatcher, _ = _dispatcher()
    pending: Deferred[None] = Deferred()
    dispatcher.add_event_handler(lambda event: pending, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        runs = _fire(dispatcher, "a")
        assert "run_created" not in sink.getvalue()
        pending.callback(None)
        assert _events(sink.getvalue(), runs[0].run_id)[-1] == "run_ended"


def test_failures_are_written_at_once() -> None:
    """A record above debug level is written at once, with the records before it."""
    dispatcher, _ = _dispatcher()
    pending: Deferred[None] = Deferred()
    dispatcher.add_event_handler(boom, "before", False)
    dispatcher.add_event_handler(lambda event: pending, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        _fire(dispatcher, "a")
        events = _events(sink.getvalue())
        pending.callback(None)
    assert events[-1] == "handler_settled"
    assert "run_created" in events


def test_stop_writes_what_is_buffered(tmp_path: Path) -> None:
    """stop() writes the records of a run still in flight before it closes the file."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(lambda event: Deferred(), "during", False)
    path = tmp_path / "trace.jsonl"
    handle = configure_tracing(path, forward=False)
    _fire(dispatcher, "a")
    handle.stop()
    assert "handler_called" in _events(path.read_text(encoding="utf-8"))


def test_records_of_a_run_in_flight_are_written_at_exit(tmp_path: Path) -> None:
    """A process that exits with a run in flight, without stopping tracing, loses no record."""
    path = tmp_path / "trace.jsonl"
    script = f"""
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.tracing import configure_tracing

configure_tracing({str(path)!r}, forward=False)
dispatcher = EventDispatcher(("kind",), reactor=Clock())
dispatcher.start()
dispatcher.add_event_handler(lambda event: Deferred(), "during", False)
dispatcher.fire_event("a", kind="a")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)  # noqa: S603
    assert "handler_called" in _events(path.read_text(encoding="utf-8"))


def test_unfinished_unsampled_runs_are_written_at_exit(tmp_path: Path) -> None:
    """A process that exits with an unsampled run tree in flight writes it, as stop() would."""
    path = tmp_path / "trace.jsonl"
    script = f"""
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.tracing import configure_tracing

configure_tracing({str(path)!r}, forward=False, sample_rate=0.0)
dispatcher = EventDispatcher(("kind",), reactor=Clock())
dispatcher.start()
dispatcher.add_event_handler(lambda event: Deferred(), "during", False)
dispatcher.fire_event("a", kind="a")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)  # noqa: S603
    assert "handler_called" in _events(path.read_text(encoding="utf-8"))


def test_a_sink_that_fails_never_breaks_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    """When the sink cannot be written, runs go on, and standard error says so once."""

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(boom, "during", False)
    with configure_tracing(Full(), forward=False):
        runs = _fire(dispatcher, "a") + _fire(dispatcher, "a")
    assert [run.status for run in runs] == ["completed", "completed"]
    assert capsys.readouterr().err.count("cannot write the trace") == 1


# -- sampling ---------------------------------------------------------------------------


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The sampling draws, in order (each top-level run takes the next)."""
    values: list[float] = []
    monkeypatch.setattr(_configure, "_random", lambda: values.pop(0))
    return values


def _shop() -> tuple[EventDispatcher, list[Deferred[None]], Clock]:
    dispatcher, clock = _dispatcher(handler_timeout=5.0)
    pending: list[Deferred[None]] = []

    def later(event: object) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        pending.append(d)
        return d

    def parent(event: object) -> None:
        dispatcher.fire_event("child", kind="child")

    dispatcher.add_event_handler(ok, "during", False, kind="ok")
    dispatcher.add_event_handler(boom, "during", False, kind="fails")
    dispatcher.add_event_handler(veto, "during", False, kind="aborts")
    dispatcher.add_event_handler(later, "during", False, kind="stalls")
    dispatcher.add_event_handler(parent, "during", False, kind="parent")
    dispatcher.add_event_handler(boom, "during", False, kind="child")
    return dispatcher, pending, clock


def _run_ids(text: str) -> set[str]:
    return {record["run_id"] for record in _records(text) if "run_id" in record}


def test_sample_rate_zero_keeps_only_runs_that_went_wrong(draws: list[float]) -> None:
    """At sample_rate=0, completed runs are dropped; failed, aborted, timed-out ones kept whole."""
    dispatcher, _, clock = _shop()
    draws.extend([0.0] * 5)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, sample_rate=0.0):
        dispatcher.add_event_handler(ok, "after", False, kind="never")
        runs = {kind: _fire(dispatcher, kind)[0] for kind in ("ok", "fails", "aborts")}
        stalled = _fire(dispatcher, "stalls")
        clock.advance(5)
    written = _run_ids(sink.getvalue())
    assert runs["ok"].run_id not in written
    assert {runs["fails"].run_id, runs["aborts"].run_id, stalled[0].run_id} <= written
    for run_id in (runs["fails"].run_id, stalled[0].run_id):
        events = _events(sink.getvalue(), run_id)
        assert events[0] == "run_created"
        assert events[-1] == "run_ended"
    # Records of no run (registrations, the lifecycle) are not sampled.
    assert "handler_registered" in _events(sink.getvalue())


def test_a_run_tree_is_sampled_as_one(draws: list[float]) -> None:
    """Child runs go with their top-level run: a failing child keeps its parent's records too."""
    dispatcher, _, _ = _shop()
    draws.extend([0.9])
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, sample_rate=0.5):
        (parent,) = _fire(dispatcher, "parent")
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    assert tree.run_id == parent.run_id
    assert [child.status for child in tree.children] == ["completed"]
    assert tree.children[0].handlers[0].status == "failed"
    assert draws == []  # the child run drew nothing


def test_sampled_runs_are_written_and_the_others_are_not(draws: list[float]) -> None:
    """A completed top-level run is written when its draw falls below sample_rate."""
    dispatcher, _, _ = _shop()
    draws.extend([0.2, 0.7, 0.29])
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, sample_rate=0.3):
        runs = [_fire(dispatcher, "ok")[0] for _ in range(3)]
    assert _run_ids(sink.getvalue()) == {runs[0].run_id, runs[2].run_id}


def test_unfinished_unsampled_runs_are_written_on_stop(draws: list[float]) -> None:
    """A run tree still held when tracing stops is written: a run that never ends is news."""
    dispatcher, pending, _ = _shop()
    draws.append(0.99)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, sample_rate=0.5):
        _fire(dispatcher, "stalls")
        assert "run_created" not in sink.getvalue()
    assert "run_created" in _events(sink.getvalue())
    assert pending


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan"), "1", True, None])
def test_sample_rate_must_be_a_share(rate: object) -> None:
    """sample_rate outside 0..1, or no number, is refused."""
    with pytest.raises(ValueError, match="sample_rate"):
        configure_tracing(io.StringIO(), sample_rate=rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("level", "debug"), ("level", None), ("level", True), ("tracebacks", "json")],
)
def test_level_and_tracebacks_are_checked(keyword: str, value: object) -> None:
    """A level that is no int, or tracebacks other than dict or text, is refused by name."""
    with pytest.raises(ValueError, match=f"{keyword} must be .*; got {value!r}"):
        configure_tracing(io.StringIO(), **{keyword: value})  # type: ignore[arg-type]


def test_a_refused_option_leaves_no_file_open(tmp_path: Path) -> None:
    """A refused option is refused before the trace file is created."""
    path = tmp_path / "trace.jsonl"
    with pytest.raises(ValueError, match="tracebacks"):
        configure_tracing(path, tracebacks="json")  # type: ignore[arg-type]
    assert not path.exists()


@pytest.mark.parametrize("value", [1e20, float("nan"), "now"])
def test_a_clock_that_cannot_stamp_is_refused(value: object) -> None:
    """A clock whose time is no timestamp is refused when tracing is configured."""
    with pytest.raises(ValueError, match="clock must return seconds since the epoch"):
        configure_tracing(io.StringIO(), clock=lambda: value)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("timestamps", ["seconds", "iso"])
@pytest.mark.parametrize("later", [1e20, float("nan"), "now"])
def test_a_clock_that_fails_later_never_breaks_a_run(
    later: object, timestamps: Timestamps
) -> None:
    """A clock that starts failing after configuration stamps with the wall clock instead."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(ok, "during", False)
    times: list[object] = [0.0]
    sink = io.StringIO()
    before = time.time()
    with configure_tracing(
        sink,
        forward=False,
        clock=lambda: times[0],  # type: ignore[arg-type,return-value]
        timestamps=timestamps,
    ):
        times[0] = later
        (run,) = _fire(dispatcher, "a")
    assert run.status == "completed"
    assert "run_ended" in _events(sink.getvalue(), run.run_id)
    stamps = [timestamp_seconds(r["timestamp"]) for r in _records(sink.getvalue())]
    assert all(stamp is not None and stamp >= before - 1 for stamp in stamps)


def test_a_binary_stream_is_refused() -> None:
    """A binary stream as the sink is refused at once, not found out at the first write."""
    with pytest.raises(TypeError, match=r"binary stream.*text mode"):
        configure_tracing(io.BytesIO())  # type: ignore[arg-type]


# -- bounded values -------------------------------------------------------------------


class Huge:
    """An object whose repr is 100,000 characters long."""

    def __repr__(self) -> str:
        return "x" * 100_000


def _longest_text(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max((_longest_text(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return max((_longest_text(v) for v in value), default=0)
    return 0


def test_long_details_and_messages_are_cut_to_max_value_length() -> None:
    """Detail reprs and exception messages longer than max_value_length are cut and marked."""
    dispatcher, _ = _dispatcher()

    def loud(event: object) -> None:
        raise ValueError("y" * 50_000)

    dispatcher.add_event_handler(loud, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, max_value_length=100):
        dispatcher.fire_event("a", kind=Huge())
    records = _records(sink.getvalue())
    created = next(r for r in records if r["event"] == "run_created")
    assert created["details"]["kind"].startswith("x" * 100 + "… (")
    failed = next(r for r in records if r["event"] == "handler_settled")
    assert failed["exception_message"].startswith("y" * 100 + "… (49900 more characters)")
    assert all(_longest_text(r) <= 100 + len("… (99999 more characters)") for r in records)


def test_a_text_traceback_keeps_its_innermost_frame() -> None:
    """A text traceback cut to max_value_length keeps its start and its end."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(boom, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, tracebacks="text", max_value_length=200):
        _fire(dispatcher, "a")
    failed = next(r for r in _records(sink.getvalue()) if r["event"] == "handler_settled")
    assert failed["exception"].startswith("Traceback")
    assert failed["exception"].endswith("ValueError: boom")
    assert "characters omitted" in failed["exception"]


def test_the_default_bound_applies() -> None:
    """Without max_value_length, values are cut at DEFAULT_MAX_VALUE_LENGTH characters."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(ok, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        dispatcher.fire_event("a", kind="z" * 5_000)
    created = next(r for r in _records(sink.getvalue()) if r["event"] == "run_created")
    limit = _configure.DEFAULT_MAX_VALUE_LENGTH
    assert created["details"]["kind"][:limit] == "'" + "z" * (limit - 1)
    assert created["details"]["kind"][limit:].startswith("… (")
    assert len(created["details"]["kind"]) < limit + 40


@pytest.mark.parametrize("length", [0, 15, 100.0, "100", True])
def test_max_value_length_must_be_a_whole_number(length: object) -> None:
    """max_value_length below 16, or no int, is refused."""
    with pytest.raises(ValueError, match="max_value_length"):
        configure_tracing(io.StringIO(), max_value_length=length)  # type: ignore[arg-type]


class Hostile:
    """A callable whose repr and str raise."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__

    def __call__(self, event: object) -> None:
        """Fail with an exception whose message cannot be taken."""
        raise HostileError


class HostileError(Exception):
    """An exception whose message cannot be taken."""

    def __str__(self) -> str:
        raise RuntimeError("no message")


def test_objects_whose_repr_raises_never_break_a_run() -> None:
    """A handler, event, detail and exception whose repr and str raise are traced, the run ends."""
    dispatcher, _ = _dispatcher()
    handler = Hostile()
    dispatcher.add_event_handler(handler, "during", False)
    dispatcher.add_event_handler(ok, "after", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        runs: list[EventRun] = []
        dispatcher.fire_event(Hostile(), kind=Hostile()).addCallback(runs.append)
    assert runs[0].status == "completed"
    records = _records(sink.getvalue())
    failed = next(r for r in records if r["event"] == "handler_settled" and r["level"] == "error")
    assert failed["exception_message"].startswith("<unprintable")
    created = next(r for r in records if r["event"] == "run_created")
    assert created["details"]["kind"].startswith("<unrepresentable")
    assert records[-1]["event"] == "run_ended"


def test_values_json_cannot_take_are_written_as_bounded_reprs() -> None:
    """A value no JSON encoder takes is written as its bounded repr, never raising."""
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, max_value_length=50) as handle:
        from twisted_event_dispatcher.tracing._logger import get_logger

        get_logger().debug("custom", odd=Hostile(), big=Huge(), lone="\udc80", wide=2**70)
        handle.flush()
    (record,) = [r for r in _records(sink.getvalue()) if r["event"] == "custom"]
    assert record["odd"].startswith("<unrepresentable")
    assert record["big"].startswith("x" * 50 + "…")
    assert record["wide"] == 2**70


@pytest.mark.parametrize(
    ("timestamps", "written"),
    [("seconds", 1_772_366_400.25), ("iso", "2026-03-01T12:00:00.250000Z")],
)
def test_the_standard_library_encoder_writes_the_same_records(
    monkeypatch: pytest.MonkeyPatch, timestamps: Timestamps, written: object
) -> None:
    """Without orjson, the standard library's json writes records that read back the same."""
    texts = []
    for fallback in (False, True):
        if fallback:
            monkeypatch.setattr(_configure, "orjson", None)
        dispatcher, _ = _dispatcher(run_id_prefix="same")
        dispatcher.add_event_handler(ok, "during", False)
        dispatcher.add_event_handler(boom, "after", False)
        sink = io.StringIO()
        with configure_tracing(
            sink, forward=False, clock=lambda: 1_772_366_400.25, timestamps=timestamps
        ):
            _fire(dispatcher, "a")
        texts.append(sink.getvalue())
    fast, slow = ([_strip(r) for r in _records(text)] for text in texts)
    assert fast == slow
    assert all(record["timestamp"] == written for record in fast)


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    record.pop("exception", None)  # frames differ by line numbers only
    return record


def test_tedtool_and_the_diagram_read_old_and_new_traces_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trace and stats commands and the run diagram say the same of either format."""
    from twisted_event_dispatcher import viz
    from twisted_event_dispatcher._cli import main

    old = tmp_path / "old.jsonl"
    new = tmp_path / "new.jsonl"
    old.write_text(_OLD_TRACE, encoding="utf-8")
    new.write_text(
        "".join(
            line + "\n"
            for line in _OLD_TRACE.splitlines()
            if json.loads(line)["event"] != "handler_called"
        ),
        encoding="utf-8",
    )
    outputs = []
    for path in (old, new):
        assert main(["trace", str(path)]) == 0
        assert main(["stats", str(path)]) == 0
        (tree,) = read_runs(path)
        outputs.append((capsys.readouterr().out, viz.run_trace(tree).source))
    assert outputs[0] == outputs[1]
    assert "shop.charge" in outputs[0][0]


class Text(str):
    """A str subclass, written as its plain text."""

    __slots__ = ()


def test_nested_and_subclassed_values_are_bounded_too() -> None:
    """Strings inside nested values and str subclasses are cut; nesting is cut at depth six."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    deep: Any = "bottom"
    for _ in range(10):
        deep = [deep]
    with configure_tracing(sink, forward=False, max_value_length=20):
        get_logger().debug("custom", nested={"k": ["v" * 100]}, sub=Text("s" * 100), deep=deep)
    (record,) = [r for r in _records(sink.getvalue()) if r["event"] == "custom"]
    assert record["nested"]["k"][0].startswith("v" * 20 + "…")
    assert record["sub"].startswith("s" * 20 + "…")
    assert "bottom" not in json.dumps(record["deep"])


def test_a_full_buffer_is_written_before_the_run_ends() -> None:
    """A run of more records than the buffer holds has the first ones written while it runs."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        log = get_logger().bind(run_id="big-1")
        for number in range(_configure._BUFFERED_RECORDS):
            log.debug("custom", number=number)
        assert len(sink.getvalue().splitlines()) == _configure._BUFFERED_RECORDS
        log.debug("run_ended", status="completed")
        log.debug("run_ended", status="completed")  # a second end record changes nothing


def test_records_odd_for_orjson_take_the_standard_library_in_a_run() -> None:
    """A run's record orjson refuses (a lone surrogate) is written by the standard library."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        get_logger().bind(run_id="odd-1").debug("custom", lone="\udc80", wide=2**70)
    (record,) = [r for r in _records(sink.getvalue()) if r["event"] == "custom"]
    assert (record["lone"], record["wide"]) == ("\udc80", 2**70)


def test_a_huge_unsampled_tree_is_written(draws: list[float]) -> None:
    """An unsampled run tree that holds more than its share of records is written after all."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    draws.append(0.99)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, sample_rate=0.5):
        log = get_logger().bind(run_id="huge-1")
        for number in range(_configure._MAX_HELD + 1):
            log.debug("custom", number=number)
        log.debug("run_ended", status="completed")
    assert len(sink.getvalue().splitlines()) == _configure._MAX_HELD + 2


def test_the_standard_library_writes_to_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without orjson, a trace file is written all the same; after stop, records are dropped."""
    monkeypatch.setattr(_configure, "orjson", None)
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(ok, "during", False)
    path = tmp_path / "trace.jsonl"
    with configure_tracing(path, forward=False):
        from twisted_event_dispatcher.tracing._logger import get_logger

        log = get_logger().bind(run_id="late-1")
        _fire(dispatcher, "a")
    log.debug("custom")  # a run that outlives tracing: its file is closed
    assert "custom" not in _events(path.read_text(encoding="utf-8"))
    assert "run_ended" in _events(path.read_text(encoding="utf-8"))


def test_levels_exceptions_and_filtering() -> None:
    """exception() writes the traceback at error level; critical is written; info filtered out."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False, level=logging.WARNING):
        log = get_logger()
        log.info("quiet")
        log.critical("loud")
        try:
            boom(None)
        except ValueError:
            log.exception("caught")
    records = {r["event"]: r for r in _records(sink.getvalue())}
    assert "quiet" not in records
    assert records["loud"]["level"] == "critical"
    assert records["caught"]["level"] == "error"
    assert records["caught"]["exception"][0]["exc_value"] == "boom"


def test_a_traceback_that_cannot_be_rendered_leaves_the_record() -> None:
    """When the traceback renderer fails, the record is written without it."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        get_logger().error("broken", exc_info=("not", "an", "exc_info"))
    (record,) = [r for r in _records(sink.getvalue()) if r["event"] == "broken"]
    assert "exception" not in record
    assert "exc_info" not in record


def test_a_bound_value_and_the_records_own_keys_win_over_fields() -> None:
    """A field named like a bound key, the level or the stamp does not replace it when read."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False, clock=lambda: 5.0):
        log = get_logger().bind(run_id="own-1", parent_run_id="own-0")
        log.debug("custom", run_id="other", n=1)
        log.debug("custom", level="info", n=2)
        log.debug("custom", timestamp="then", n=3)
        log.debug("custom", parent_run_id=None, n=4)
        log.debug("custom", n=5)
    records = [r for r in _records(sink.getvalue()) if r["event"] == "custom"]
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    expected = {"run_id": "own-1", "parent_run_id": "own-0", "level": "debug", "timestamp": 5.0}
    assert [r["n"] for r in records] == [1, 2, 3, 4, 5]
    assert all({key: r[key] for key in expected} == expected for r in records)
    assert (tree.run_id, tree.parent_run_id) == ("own-1", "own-0")


def test_no_event_takes_a_bound_key() -> None:
    """No record the runtime writes has a field named like a bound key or the level.

    The fast path does not check (a check costs a twentieth of a record): a
    new record that took one would write the key twice.
    """
    bound = {"parent_run_id", "origin_node", "level", "timestamp", "event"}
    for spec in EVENTS.values():
        assert bound.isdisjoint((*spec.keys, *spec.optional_keys)), spec.event
        assert [key for key in (*spec.keys, *spec.optional_keys) if key == "run_id"] in (
            [],
            ["run_id"],
        )


def test_every_key_is_written_once() -> None:
    """A fast-path line holds each key once: fields, event, stamp, bound values, level."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False, clock=lambda: 5.0):
        get_logger().bind(run_id="once-1").debug("custom", a=1, b="x")
        get_logger().bind(run_id="once-2").debug("empty")
    pairs = [json.loads(line, object_pairs_hook=list) for line in sink.getvalue().splitlines()]
    assert [[key for key, _ in pair] for pair in pairs] == [
        ["a", "b", "event", "timestamp", "run_id", "level"],
        ["event", "timestamp", "run_id", "level"],
    ]


def test_timestamps_iso_writes_utc_text_and_reads_back() -> None:
    """With timestamps="iso" every record's stamp is ISO 8601 text, read back as seconds."""
    dispatcher, _ = _dispatcher()
    dispatcher.add_event_handler(ok, "during", False)
    sink = io.StringIO()
    with configure_tracing(sink, forward=False, clock=lambda: 1_772_366_400.0, timestamps="iso"):
        _fire(dispatcher, "a")
    stamps = {r["timestamp"] for r in _records(sink.getvalue())}
    assert stamps == {"2026-03-01T12:00:00Z"}
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    assert tree.start_time == 1_772_366_400.0


@pytest.mark.parametrize("timestamps", ["ISO", "datetime", None, 1])
def test_timestamps_must_be_seconds_or_iso(timestamps: object) -> None:
    """Any other timestamps= is refused."""
    with pytest.raises(ValueError, match="timestamps"):
        configure_tracing(io.StringIO(), timestamps=timestamps)  # type: ignore[arg-type]


def test_a_logger_with_many_bound_values_writes_them_all_once() -> None:
    """A logger with many bound values writes each once in every record."""
    from twisted_event_dispatcher.tracing._logger import get_logger

    sink = io.StringIO()
    with configure_tracing(sink, forward=False, clock=lambda: 5.0):
        bound = {"run_id": "many-1", "parent_run_id": "many-0", "origin_node": "n", "extra": 1}
        log = get_logger().bind(**bound)
        log.debug("custom", n=1)
        log.debug("custom", n=2)
    pairs = [json.loads(line, object_pairs_hook=list) for line in sink.getvalue().splitlines()]
    assert all(len({key for key, _ in pair}) == len(pair) for pair in pairs)
    records = [dict(pair) for pair in pairs]
    assert [r["n"] for r in records] == [1, 2]
    assert all({key: r[key] for key in bound} == bound for r in records)
