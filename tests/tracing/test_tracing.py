"""configure_tracing, the record schema, and reading traces back."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import re
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import structlog
from structlog.testing import capture_logs
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher

from twisted_event_dispatcher import EventDispatcher, EventRun
from twisted_event_dispatcher.tracing import (
    COMMON_KEYS,
    EVENTS,
    MalformedLine,
    TracedRun,
    configure_tracing,
    format_tree,
    read_runs,
)
from twisted_event_dispatcher.tracing._logger import application_logger, get_logger

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _recorder(runs: list[EventRun]) -> Callable[[EventRun], EventRun]:
    def record(run: EventRun) -> EventRun:
        runs.append(run)
        return run

    return record


class Shop:
    """A dispatcher on a Clock with a succeeding, failing, timing-out and child-firing handler."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.dispatcher = EventDispatcher(("kind",), reactor=self.clock, handler_timeout=5.0)
        self.pending: list[Deferred[None]] = []
        self.dispatcher.add_event_handler(self.audit, "before", False)
        self.dispatcher.add_event_handler(self.charge, "during", False, kind="order")
        self.dispatcher.add_event_handler(self.ship, "during", False, kind="order")
        self.dispatcher.add_event_handler(self.stall, "after", False, kind="order")
        self.dispatcher.add_event_handler(self.courier, "during", False, kind="ship")
        self.dispatcher.start()

    def audit(self, event: Any) -> None:
        """Succeed at once."""

    def charge(self, event: Any) -> None:
        """Fail."""
        raise ValueError("card declined")

    def ship(self, event: Any) -> Deferred[None]:
        """Fire a child run, and settle later."""
        self.dispatcher.fire_event("shipment", kind="ship")
        d: Deferred[None] = Deferred()
        self.pending.append(d)
        return d

    def stall(self, event: Any) -> Deferred[None]:
        """Never settle: times out."""
        return Deferred()

    def courier(self, event: Any) -> None:
        """Succeed in the child run."""

    def run_order(self) -> list[EventRun]:
        """Fire one order, settle ship after 1 s, let stall time out; return every run."""
        runs: list[EventRun] = []
        original = self.dispatcher.fire_event

        def recording(event: Any, **details: Any) -> Deferred[EventRun]:
            return original(event, **details).addCallback(_recorder(runs))

        self.dispatcher.fire_event = recording  # type: ignore[method-assign]
        try:
            self.dispatcher.fire_event("order", kind="order")
            self.clock.advance(1)
            self.pending.pop().callback(None)
            self.clock.advance(5)
        finally:
            del self.dispatcher.fire_event
        return runs


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_records_follow_the_schema() -> None:
    """Every record a traced run writes is a JSON line whose event and keys the schema lists."""
    sink = io.StringIO()
    with configure_tracing(sink):
        Shop().run_order()
    records = _records(sink.getvalue())
    assert {r["event"] for r in records} >= {
        "run_created",
        "run_started",
        "phase_entered",
        "handler_called",
        "handler_settled",
        "phase_completed",
        "run_ended",
        "handler_registered",
        "lifecycle_transition",
    }
    for record in records:
        spec = EVENTS[record["event"]]
        assert set(COMMON_KEYS) <= record.keys()
        assert set(spec.keys) <= record.keys(), record
        assert set(record) <= {*COMMON_KEYS, *spec.keys, *spec.optional_keys, "logger"} | {
            "parent_run_id"
        }, record


def test_failures_carry_exception_type_message_and_frames() -> None:
    """A failed handler's record carries exception type, message, and frames without locals."""
    sink = io.StringIO()
    with configure_tracing(sink):
        Shop().run_order()
    failed = [r for r in _records(sink.getvalue()) if r.get("status") == "failed"]
    assert failed[0]["level"] == "error"
    assert failed[0]["exception_type"] == "ValueError"
    assert failed[0]["exception_message"] == "card declined"
    frames = failed[0]["exception"][0]["frames"]
    assert frames
    assert all("locals" not in frame or frame["locals"] is None for frame in frames)


def test_records_name_handlers_never_hold_them() -> None:
    """No record holds the repr of a handler object, only its qualified name."""
    sink = io.StringIO()
    with configure_tracing(sink, tracebacks="text"):
        Shop().run_order()
    text = sink.getvalue()
    assert "Shop.charge" in text
    assert "<bound method" not in text


def test_child_runs_carry_parent_run_id() -> None:
    """The child run's records carry parent_run_id and name the handler that fired it."""
    sink = io.StringIO()
    with configure_tracing(sink):
        runs = Shop().run_order()
    child = next(run for run in runs if run.parent_run_id is not None)
    created = next(
        r
        for r in _records(sink.getvalue())
        if r["event"] == "run_created" and r["run_id"] == child.run_id
    )
    assert created["parent_run_id"] == child.parent_run_id
    assert created["parent_handler_name"].endswith("Shop.ship")


def test_tracing_leaves_structlog_configuration_alone() -> None:
    """Tracing leaves the application's structlog configuration receiving every record."""
    sink = io.StringIO()
    with capture_logs() as captured:
        handle = configure_tracing(sink)
        Shop().run_order()
        handle.stop()
    assert any(entry["event"] == "run_ended" for entry in captured)
    assert any(r["event"] == "run_ended" for r in _records(sink.getvalue()))


def test_unconfigured_structlog_stays_unconfigured() -> None:
    """With no application configuration, tracing leaves structlog unconfigured."""
    with configure_tracing(io.StringIO(), forward=False):
        Shop().run_order()
    assert not structlog.is_configured()


def test_stop_restores_the_application_logger(tmp_path: Path) -> None:
    """After stop(), the runtime logs through the application's logger, and the file is closed."""
    handle = configure_tracing(tmp_path / "trace.jsonl")
    assert get_logger() is not application_logger()
    was_active = handle.active
    handle.stop()
    handle.stop()
    assert (was_active, handle.active) == (True, False)
    assert get_logger() is application_logger()
    assert (tmp_path / "trace.jsonl").read_text(encoding="utf-8") == ""


def test_level_filters_debug_records() -> None:
    """Above debug level, the runtime skips debug records and only failures are written."""
    sink = io.StringIO()
    with configure_tracing(sink, level=logging.WARNING, forward=False):
        Shop().run_order()
    assert {r["event"] for r in _records(sink.getvalue())} == {"handler_settled"}


def test_trace_round_trips_event_runs() -> None:
    """A trace read back matches the run's EventRuns: statuses, handler names, parents."""
    sink = io.StringIO()
    with configure_tracing(sink):
        runs = Shop().run_order()
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    traced = {run.run_id: run for run in tree.walk()}
    assert set(traced) == {run.run_id for run in runs}
    for run in runs:
        mirror = traced[run.run_id]
        assert mirror.status == run.status
        assert mirror.parent_run_id == run.parent_run_id
        assert sorted((h.handler_name, h.status) for h in mirror.handlers) == sorted(
            (o.handler_name, o.status) for o in run.outcomes
        )
    ship = next(h for h in tree.handlers if h.handler_name.endswith("Shop.ship"))
    assert [child.run_id for child in ship.children] == [
        run.run_id for run in runs if run.parent_run_id == tree.run_id
    ]


def test_event_run_converts_to_a_traced_run() -> None:
    """TracedRun.from_event_run keeps outcomes by phase and attaches child runs."""
    runs = Shop().run_order()
    parent = next(run for run in runs if run.parent_run_id is None)
    traced = TracedRun.from_event_run(parent, runs, ("before", "during", "after"))
    assert [phase.name for phase in traced.phases] == ["before", "during", "after"]
    assert [child.run_id for child in traced.children] == [
        run.run_id for run in runs if run.parent_run_id == parent.run_id
    ]
    assert {h.status for h in traced.handlers} == {"succeeded", "failed", "timed_out"}


def test_tree_lists_runs_phases_and_handlers() -> None:
    """format_tree prints phases, outcomes with durations, and nests the child run."""
    sink = io.StringIO()
    with configure_tracing(sink):
        Shop().run_order()
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    text = "\n".join(format_tree(tree))
    assert "✗ tests.tracing.test_tracing.Shop.charge  failed  ValueError: card declined" in text
    assert "⏱" in text
    assert "timed_out" in text
    assert re.search(r"[└├]── (\+[0-9.]+ m?s  )?run ", text)  # the child run, after its offset


def test_malformed_lines_are_reported_and_skipped() -> None:
    """Malformed and truncated lines are reported with their numbers; the rest is still read."""
    sink = io.StringIO()
    with configure_tracing(sink):
        Shop().run_order()
    lines = sink.getvalue().splitlines()
    lines.insert(3, "{not json")
    lines.insert(5, "[1, 2]")
    text = "\n".join(lines) + '\n{"event": "run_cre'
    problems: list[MalformedLine] = []
    trees = list(read_runs(io.BytesIO(text.encode()), on_error=problems.append))
    assert [p.line_number for p in problems] == [4, 6, len(lines) + 1]
    assert "truncated" in problems[-1].reason
    assert len(trees) == 1
    assert trees[0].status == "completed"


def test_unfinished_runs_come_out_at_the_end() -> None:
    """A run the trace never ends comes out last, as unfinished."""
    record = {"event": "run_created", "run_id": "x-1", "level": "debug", "timestamp": "t"}
    (tree,) = read_runs(io.BytesIO(json.dumps(record).encode() + b"\n"))
    assert tree.status == "unfinished"


def _write_big_trace(path: Path, runs: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for number in range(runs):
            run_id = f"r-{number}"
            common = f'"run_id": "{run_id}", "level": "debug", "timestamp": "2024-01-01T00:00:00Z"'
            out.write(
                f'{{"event": "run_created", {common}, "event_type": "str", "details": {{}}}}\n'
            )
            out.write(f'{{"event": "phase_entered", {common}, "phase": "before"}}\n')
            for handler in range(2):
                spec = f'"handler_id": {handler}, "handler_name": "h{handler}", "phase": "before"'
                out.write(f'{{"event": "handler_called", {common}, {spec}, "call": 1}}\n')
                out.write(
                    f'{{"event": "handler_settled", {common}, {spec}, "status": "succeeded", '
                    '"duration": 0.001}\n'
                )
            out.write(
                f'{{"event": "run_ended", {common}, "status": "completed", "duration": 0.1}}\n'
            )


def test_reading_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Reading a 56,000-record trace holds only the runs in flight, not the whole file."""
    path = tmp_path / "big.jsonl"
    _write_big_trace(path, 8_000)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_runs(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8_000
    assert size > 8_000_000  # megabytes of JSON ...
    assert peak < size // 10  # ... read within a small, fixed budget


def test_twisted_logger_recipe_routes_records() -> None:
    """The twisted.logger recipe delivers the runtime's records as twisted.logger events."""
    spec = importlib.util.spec_from_file_location(
        "twisted_logger_recipe", EXAMPLES / "twisted_logger.py"
    )
    assert spec is not None
    assert spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    events: list[dict[str, Any]] = []
    observer = cast("ILogObserver", events.append)
    globalLogPublisher.addObserver(observer)
    try:
        recipe.configure()
        Shop().run_order()
    finally:
        globalLogPublisher.removeObserver(observer)
    ours = [e for e in events if e.get("log_namespace") == "twisted_event_dispatcher"]
    failed = [e for e in ours if e.get("event") == "handler_settled" and e["status"] == "failed"]
    assert failed
    assert failed[0]["log_level"] is LogLevel.error
    assert "run_id" in failed[0]
