"""Diagrams rendered with the real dot, and their DOT sources as snapshots."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, EventRun, viz
from twisted_event_dispatcher.tracing import configure_tracing, read_runs

SNAPSHOTS = Path(__file__).parent / "snapshots"


def audit(event: Any) -> None:
    """Catch-all handler."""


def charge(event: Any) -> None:
    """Fails."""
    raise ValueError("declined")


def notify(event: Any) -> None:
    """Matches orders in any region."""


def _dispatcher() -> EventDispatcher:
    dispatcher = EventDispatcher(("kind", "region"), reactor=Clock(), handler_timeout=1.0)
    dispatcher.add_event_handler(audit, "before")
    dispatcher.add_event_handler(charge, "during", False, kind="order", region="eu", max_calls=3)
    dispatcher.add_event_handler(notify, "after", kind="order")
    dispatcher.start()
    return dispatcher


def _svg(graph: Any) -> str:
    return viz.render(graph, "svg").decode("utf-8")


def _snapshot(name: str, source: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8")


def test_topology_svg_shows_phases_and_handlers() -> None:
    """The topology SVG names phases and handlers, with match specs, wildcards, max_calls."""
    svg = _svg(viz.topology(_dispatcher()))
    for text in ("1. before", "2. during", "3. after", "test_viz.audit", "test_viz.charge"):
        assert text in svg
    assert "catch&#45;all: every event" in svg
    assert "region=*" in svg
    assert "max_calls=3" in svg
    assert "strong" in svg
    assert "weak" in svg


def test_topology_highlights_matching_handlers() -> None:
    """With details, the handlers matching_handlers returns are highlighted and the rest dimmed."""
    graph = viz.topology(_dispatcher(), details={"kind": "order", "region": "us"})
    svg = _svg(graph)
    assert "#1 test_viz.audit" in svg or "#1 tests.viz.test_viz.audit" in svg
    assert svg.count('fill="#c8e6c9"') == 2
    assert "#b0b0b0" in svg
    assert "calls 2" in svg


def test_topology_of_sixty_handlers_renders() -> None:
    """Sixty handlers in one phase render in wrapped columns."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    keep = []
    for number in range(60):

        def handler(event: Any) -> None:
            """One of many."""

        handler.__qualname__ = f"handler_{number:02}"
        keep.append(handler)
        dispatcher.add_event_handler(handler, "during", kind=f"k{number}")
    graph = viz.topology(dispatcher)
    assert graph.source.count("rank=same") == 5 + 2
    svg = _svg(graph)
    assert "handler_59" in svg


def test_run_machine_svg_shows_states_and_inputs() -> None:
    """The run machine SVG shows every phase state, end state and input."""
    svg = _svg(viz.run_machine(_dispatcher()))
    for text in ("phase:before", "phase:after", "waiting", "aborted", "phase_drained", "settle"):
        assert text in svg


def test_run_machine_dot_is_the_same_in_every_process() -> None:
    """The run machine's DOT source is identical under different hash seeds."""
    code = (
        "from twisted_event_dispatcher import viz; print(viz.run_machine(('a', 'b', 'c')).source)"
    )
    sources = {
        subprocess.run(  # noqa: S603 -- our own interpreter
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(sources) == 1


def test_run_machine_quotes_state_names() -> None:
    """State names with colons are quoted in edges, so Graphviz does not read them as ports."""
    source = viz.run_machine(("a",)).source
    assert '"phase:a"' in source
    assert " phase:a " not in source
    assert "-> phase:a" not in source


def _traced_order() -> tuple[list[EventRun], Any]:
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        dispatcher = _dispatcher()
        pending: Deferred[None] = Deferred()
        dispatcher.add_event_handler(lambda e: pending, "during", False, kind="order")
        runs: list[EventRun] = []
        dispatcher.fire_event("order", kind="order", region="eu").addCallback(runs.append)
        dispatcher.reactor.advance(2)  # type: ignore[attr-defined]
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    return runs, tree


def test_run_trace_colours_outcomes() -> None:
    """The run diagram colours handlers by outcome and labels them with durations."""
    runs, tree = _traced_order()
    for graph in (viz.run_trace(runs[0]), viz.run_trace(tree)):
        svg = _svg(graph)
        assert viz.OUTCOME_COLORS["succeeded"][0] in svg
        assert viz.OUTCOME_COLORS["failed"][0] in svg
        assert viz.OUTCOME_COLORS["timed_out"][0] in svg
        assert "ValueError: declined" in svg
        assert "2.00 s" in svg


def test_run_trace_links_child_runs() -> None:
    """A child run is drawn as its own run, linked to its parent by a fired edge."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())

    def parent(event: Any) -> None:
        dispatcher.fire_event("child", kind="child")

    dispatcher.add_event_handler(parent, "before", False, kind="top")
    dispatcher.add_event_handler(audit, "after", kind="child")
    dispatcher.start()
    runs: list[EventRun] = []
    sink = io.StringIO()
    with configure_tracing(sink, forward=False):
        dispatcher.fire_event("top", kind="top").addCallback(runs.append)
    (tree,) = read_runs(io.BytesIO(sink.getvalue().encode()))
    svg = _svg(viz.run_trace(tree))
    assert ">fired<" in svg
    assert tree.handlers[0].children[0].run_id.replace("-", "&#45;") in svg


def test_dot_snapshots() -> None:
    """The DOT sources of the three diagram kinds match their committed snapshots."""
    dispatcher = _dispatcher()
    _snapshot("topology.dot", viz.topology(dispatcher).source)
    _snapshot("topology-details.dot", viz.topology(dispatcher, details={"kind": "order"}).source)
    _snapshot("machine.dot", viz.run_machine(dispatcher).source)
    runs, _ = _traced_order()
    run = runs[0]
    _snapshot("run.dot", viz.run_trace(run).source.replace(run.run_id, "RUN"))


@pytest.mark.parametrize(
    ("fmt", "magic"), [("png", b"\x89PNG"), ("pdf", b"%PDF"), ("svg", b"<?xml")]
)
def test_write_renders_each_format(tmp_path: Path, fmt: str, magic: bytes) -> None:
    """write() renders PNG, PDF and SVG by the path's suffix."""
    path = viz.write(viz.run_machine(("a",)), tmp_path / f"machine.{fmt}")
    assert path.read_bytes().startswith(magic)


def test_write_dot_needs_no_graphviz_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOT source is written without dot; rendering without it raises RenderError."""
    monkeypatch.setenv("PATH", str(tmp_path))
    graph = viz.topology(_dispatcher())
    assert viz.write(graph, tmp_path / "t.dot").read_text(encoding="utf-8") == graph.source
    with pytest.raises(viz.RenderError, match="apt-get install graphviz"):
        viz.write(graph, tmp_path / "t.svg")
    with pytest.raises(ValueError, match="unknown format"):
        viz.render(graph, "gif")  # type: ignore[arg-type]
