"""The tedtool command line, through its entry point: success, and every bad input."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, EventRun
from twisted_event_dispatcher._cli import main
from twisted_event_dispatcher.tracing import configure_tracing

APP = """
from twisted_event_dispatcher import EventDispatcher

def greet(event):
    pass

def build():
    dispatcher = EventDispatcher(("kind",))
    dispatcher.add_event_handler(greet, "during", False, kind="hello")
    return dispatcher

dispatcher = build()
not_a_dispatcher = 42

def broken():
    raise RuntimeError("no database")
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module, cli_app, in the working directory."""
    (tmp_path / "cli_app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cli_app", raising=False)
    return tmp_path


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.startswith("tedtool: error: ")
    return err


def test_help_through_python_m() -> None:
    """Python -m twisted_event_dispatcher --help lists both commands."""
    result = subprocess.run(
        [sys.executable, "-m", "twisted_event_dispatcher", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "diagram" in result.stdout
    assert "trace" in result.stdout


@pytest.mark.parametrize("command", ["diagram", "trace"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each command answers --help and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: tedtool " + command in capsys.readouterr().out


def test_diagram_writes_svg(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Diagram writes the topology of a dispatcher attribute as SVG."""
    assert main(["diagram", "cli_app:dispatcher", "-o", "topology.svg"]) == 0
    svg = (app / "topology.svg").read_text(encoding="utf-8")
    assert "cli_app.greet" in svg


def test_diagram_calls_a_factory_and_explains_details(app: Path) -> None:
    """Diagram calls a zero-argument factory and highlights what the details would call."""
    argv = ["diagram", "cli_app:build", "--details", "kind=hello", "--format", "dot", "-o", "t.gv"]
    assert main(argv) == 0
    assert "#1 cli_app.greet" in (app / "t.gv").read_text(encoding="utf-8")


def test_diagram_machine_to_stdout(app: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Diagram --kind machine --format dot writes the run machine's DOT source to stdout."""
    assert main(["diagram", "cli_app:dispatcher", "--kind", "machine", "--format", "dot"]) == 0
    assert b'"phase:during"' in capsysbinary.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diagram", "no_such_module:x"], "cannot import module 'no_such_module'"),
        (["diagram", "cli_app:missing"], "has no attribute 'missing'"),
        (["diagram", "cli_app:not_a_dispatcher"], "is a int, not an EventDispatcher"),
        (["diagram", "cli_app:broken"], "calling cli_app:broken failed: RuntimeError"),
        (["diagram", "cli_app"], "expected MODULE:ATTRIBUTE"),
        (["diagram", "cli_app:dispatcher", "--details", "colour=red"], "bad --details"),
        (["diagram", "cli_app:dispatcher", "--details", "kind"], "KEY=VALUE"),
        (
            ["diagram", "cli_app:dispatcher", "--kind", "machine", "--details", "kind=1"],
            "--details applies to --kind topology only",
        ),
        (["diagram", "cli_app:dispatcher", "-o", "no/such/dir/x.svg"], "cannot write"),
    ],
)
def test_diagram_bad_input(
    app: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Bad diagram input is one line on stderr and exit status 1."""
    assert main(argv) == 1
    assert message in _one_line_error(capsys)


def test_diagram_without_dot_writes_dot_source(
    app: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the dot binary, diagram writes the DOT source and says how to install Graphviz."""
    monkeypatch.setenv("PATH", str(app))
    assert main(["diagram", "cli_app:dispatcher", "-o", "topology.svg"]) == 1
    assert "install Graphviz" in _one_line_error(capsys)
    assert (app / "topology.dot").read_text(encoding="utf-8").startswith("digraph topology")
    assert not (app / "topology.svg").exists()


def _write_trace(path: Path) -> list[EventRun]:
    clock = Clock()
    dispatcher = EventDispatcher(("kind",), reactor=clock, handler_timeout=1.0)
    runs: list[EventRun] = []

    def fire(event: Any, **details: Any) -> Deferred[EventRun]:
        deferred = dispatcher.fire_event(event, **details)
        deferred.addCallback(runs.append)
        return deferred

    def parent(event: Any) -> None:
        fire("child", kind="child")

    def failing(event: Any) -> None:
        raise KeyError("gone")

    def slow(event: Any) -> Deferred[None]:
        return Deferred()

    def child(event: Any) -> None:
        pass

    dispatcher.add_event_handler(parent, "before", False, kind="top")
    dispatcher.add_event_handler(failing, "during", False, kind="top")
    dispatcher.add_event_handler(slow, "after", False, kind="top")
    dispatcher.add_event_handler(child, "during", False, kind="child")
    dispatcher.start()
    with configure_tracing(path, forward=False):
        fire("top", kind="top")
        clock.advance(1)
        fire("again", kind="child")
    return runs


def test_trace_prints_what_the_run_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Trace prints each run's tree, matching the EventRuns: statuses, names, parent links."""
    runs = _write_trace(tmp_path / "trace.jsonl")
    assert main(["trace", str(tmp_path / "trace.jsonl")]) == 0
    out = capsys.readouterr().out
    for run in runs:
        assert f"run {run.run_id}" in out
        for outcome in run.outcomes:
            assert f"{outcome.handler_name}  {outcome.status}" in out
    child = next(run for run in runs if run.parent_run_id is not None)
    line = next(line for line in out.splitlines() if f"run {child.run_id}" in line)
    assert line.startswith("│   ")
    assert f"in run {child.parent_run_id})" in line
    assert "KeyError: 'gone'" in out


def test_trace_selects_and_draws_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trace --run prints only that run, and --format svg draws it."""
    runs = _write_trace(tmp_path / "trace.jsonl")
    last = runs[-1].run_id
    assert main(["trace", str(tmp_path / "trace.jsonl"), "--run", last]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {last}")
    assert runs[0].run_id not in out
    svg = tmp_path / "run.svg"
    assert main(["trace", str(tmp_path / "trace.jsonl"), "--format", "svg", "-o", str(svg)]) == 0
    assert "<svg" in svg.read_text(encoding="utf-8")


def test_trace_reports_malformed_lines_and_reads_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed or truncated line is reported with its number; the other runs still print."""
    path = tmp_path / "trace.jsonl"
    runs = _write_trace(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "{oops")
    path.write_text("\n".join(lines) + '\n{"event": "run_en', encoding="utf-8")
    assert main(["trace", str(path)]) == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert errors[0].startswith(f"tedtool: error: {path}: line 2: malformed JSON")
    assert f"line {len(lines) + 1}: truncated JSON record" in errors[1]
    assert all(f"run {run.run_id}" in captured.out for run in runs)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trace", "missing.jsonl"], "cannot read missing.jsonl: No such file or directory"),
        (["trace", "."], "it is a directory"),
        (["trace", "empty.jsonl"], "no runs in the trace"),
        (["trace", "empty.jsonl", "--run", "x-1"], "no run 'x-1' in the trace"),
    ],
)
def test_trace_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """Bad trace input is one line on stderr and exit status 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    assert main(argv) == 1
    assert message in _one_line_error(capsys)


def test_trace_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace file that cannot be opened (a symlink loop) is one line on stderr."""
    path = tmp_path / "trace.jsonl"
    path.symlink_to(tmp_path / "loop")
    (tmp_path / "loop").symlink_to(path)
    assert main(["trace", str(path)]) == 1
    assert "cannot read" in _one_line_error(capsys)


def test_trace_without_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Drawing a run without dot writes its DOT source and says how to install Graphviz."""
    _write_trace(tmp_path / "trace.jsonl")
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "run.png"
    assert main(["trace", str(tmp_path / "trace.jsonl"), "--format", "png", "-o", str(out)]) == 1
    assert "install Graphviz" in _one_line_error(capsys)
    assert (tmp_path / "run.dot").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, trace shows reading progress on stderr and clears it."""
    _write_trace(tmp_path / "trace.jsonl")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["trace", str(tmp_path / "trace.jsonl")]) == 0
    assert "reading trace:" in terminal.getvalue()
    assert terminal.getvalue().endswith("\r\033[K")
