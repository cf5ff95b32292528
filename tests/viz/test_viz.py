"""Diagrams rendered with the real dot, and their DOT sources as snapshots."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, EventRun, viz
from twisted_event_dispatcher.tracing import TracedRun, configure_tracing, read_runs

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


_SVG: dict[str, str] = {"svg": "http://www.w3.org/2000/svg"}


def _assert_fits_canvas(svg: str) -> None:
    """Assert the SVG's size matches its viewBox and its drawing lies inside the viewBox."""
    root = ET.fromstring(svg)  # noqa: S314 -- dot's own output
    width = float(root.attrib["width"].removesuffix("pt"))
    height = float(root.attrib["height"].removesuffix("pt"))
    left, top, box_width, box_height = map(float, root.attrib["viewBox"].split())
    assert abs(width - box_width) <= 1
    assert abs(height - box_height) <= 1
    graph = root.find("svg:g", _SVG)
    assert graph is not None
    transform = graph.attrib["transform"]
    scale = re.search(r"scale\(([-\d.]+) ([-\d.]+)\)", transform)
    shift = re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", transform)
    assert scale is not None
    assert shift is not None
    background = graph.find("svg:polygon", _SVG)
    assert background is not None
    for point in background.attrib["points"].split():
        x, y = map(float, point.split(","))
        drawn_x = float(scale[1]) * (x + float(shift[1]))
        drawn_y = float(scale[2]) * (y + float(shift[2]))
        assert left - 1 <= drawn_x <= left + box_width + 1
        assert top - 1 <= drawn_y <= top + box_height + 1


def test_every_diagram_fits_its_canvas() -> None:
    """Each kind of rendered SVG is drawn inside its own canvas, so no viewer clips it."""
    dispatcher = _dispatcher()
    runs, tree = _traced_order()
    for graph in (
        viz.topology(dispatcher),
        viz.topology(dispatcher, details={"kind": "order"}),
        viz.run_machine(dispatcher),
        viz.run_machine(("a",)),
        viz.run_trace(runs[0]),
        viz.run_trace(tree),
    ):
        _assert_fits_canvas(_svg(graph))


def test_missing_graphviz_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the graphviz package, every diagram function names the viz extra to install."""
    dispatcher = _dispatcher()
    graph = viz.run_machine(dispatcher)
    runs, _ = _traced_order()
    monkeypatch.setitem(sys.modules, "graphviz", None)
    hint = re.escape("pip install 'twisted_event_dispatcher[viz]'")
    for draw in (
        lambda: viz.topology(dispatcher),
        lambda: viz.run_machine(dispatcher),
        lambda: viz.run_trace(runs[0]),
        lambda: viz.render(graph, "svg"),
    ):
        with pytest.raises(ModuleNotFoundError, match=hint) as error:
            draw()
        assert error.value.name == "graphviz"
    assert viz.render(graph, "dot").startswith(b"digraph")


def _many_handlers(count: int) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind",), reactor=Clock())
    for number in range(count):
        dispatcher.add_event_handler(audit, "during", kind=f"kind-{number:05}-" + "k" * 100)
    return dispatcher


def test_a_failing_dot_is_a_render_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dot that exits with an error before reading its input is a RenderError quoting it."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: fake failure' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    graph = viz.topology(_many_handlers(600))
    assert len(graph.source) > 200_000  # more than a pipe holds: dot never reads it
    with pytest.raises(viz.RenderError, match="dot failed \\(Error: fake failure\\)"):
        viz.render(graph, "svg")


def test_a_dot_that_cannot_run_is_a_render_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dot that cannot be executed, or fails with pages of errors, is a one-line RenderError."""
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    fake.chmod(0o644)
    monkeypatch.setenv("PATH", str(tmp_path))
    graph = viz.run_machine(("a",))
    with pytest.raises(viz.RenderError, match="running dot failed"):
        viz.render(graph, "svg")
    fake.write_text("#!/bin/sh\nyes 'Error: again' | head -n 1000 >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    with pytest.raises(viz.RenderError) as error:
        viz.render(graph, "png")
    assert len(str(error.value)) < 400
    assert "\n" not in str(error.value)


def test_long_names_are_shortened_in_diagrams() -> None:
    """A handler name of 100 KB is cut in the label, so dot renders it."""
    dispatcher = EventDispatcher(("kind",), reactor=Clock())

    def handler(event: Any) -> None:
        """Named at length."""

    handler.__qualname__ = "n" * 100_000
    dispatcher.add_event_handler(handler, "during", False, kind="x")
    svg = _svg(viz.topology(dispatcher))
    assert re.search(r"n{150,}… \(\+99\d{3} chars\)", svg)
    assert len(svg) < 20_000


def test_run_trace_draws_a_deep_chain_of_child_runs() -> None:
    """A chain of 1,000 child runs draws without recursion, one cluster per run."""
    root = TracedRun("run-0", status="completed")
    run = root
    for number in range(1, 1_000):
        child = TracedRun(f"run-{number}", parent_run_id=run.run_id, status="completed")
        run.orphans.append(child)
        run = child
    source = viz.run_trace(root).source
    assert source.count("subgraph cluster_r") == 1_000
    assert 'id="run-run-999"' in source
