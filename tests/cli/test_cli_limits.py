"""tedtool's output options, exit statuses and limits: no traceback, whatever it is given."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from twisted_event_dispatcher import __version__, viz
from twisted_event_dispatcher._cli import main

APP = """
from twisted_event_dispatcher import EventDispatcher

def greet(event):
    pass

def long(event):
    pass

long.__qualname__ = "n" * 100_000

dispatcher = EventDispatcher(("kind",))
dispatcher.add_event_handler(greet, "during", False, kind="hello")
long_names = EventDispatcher(("kind",))
long_names.add_event_handler(long, "during", False, kind="x")
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module, limits_app, in the working directory, which is a fresh directory."""
    (tmp_path / "limits_app.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "limits_app", raising=False)
    return tmp_path


def _records(run_id: str, depth: int = 1, value: str = "v") -> list[dict[str, Any]]:
    created = [
        {
            "event": "run_created",
            "run_id": f"{run_id}{n}",
            "details": {"body": value},
            **({"parent_run_id": f"{run_id}{n - 1}"} if n else {}),
        }
        for n in range(depth)
    ]
    ended = [
        {"event": "run_ended", "run_id": f"{run_id}{n}", "status": "completed"}
        for n in reversed(range(depth))
    ]
    return created + ended


def _write(path: Path, records: list[dict[str, Any]], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records) + tail)
    return path


def _stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the program's name and the package's version, and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"tedtool {__version__}\n"


def test_trace_tree_goes_to_the_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trace with --format tree and -o FILE writes the tree into FILE, none to standard output."""
    trace = _write(tmp_path / "t.jsonl", _records("r"))
    out = tmp_path / "tree.out"
    assert main(["trace", str(trace), "--format", "tree", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("run r0  body=v  completed")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("name", "start"), [("tree.txt", b"run r0"), ("run.svg", b"<?xml")])
def test_trace_format_follows_the_output_suffix(tmp_path: Path, name: str, start: bytes) -> None:
    """Without --format, trace -o picks the tree for .txt and a drawing for .svg."""
    trace = _write(tmp_path / "t.jsonl", _records("r"))
    assert main(["trace", str(trace), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / name).read_bytes().startswith(start)


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["trace", "t.jsonl", "-o", "-"], b"run r0"),
        (["trace", "t.jsonl", "--format", "svg", "-o", "-"], b"<?xml"),
        (["trace", "t.jsonl", "--format", "dot", "-o", "-"], b"digraph"),
        (["diagram", "limits_app:dispatcher", "-o", "-"], b"<?xml"),
    ],
)
def test_dash_means_standard_output(
    app: Path, capsysbinary: pytest.CaptureFixture[bytes], argv: list[str], start: bytes
) -> None:
    """-o - writes to standard output, and no file named '-' appears."""
    _write(app / "t.jsonl", _records("r"))
    assert main(argv) == 0
    assert capsysbinary.readouterr().out.startswith(start)
    assert not (app / "-").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["diagram", "limits_app:dispatcher", "-o", "x.jpeg"],
        ["trace", "t.jsonl", "-o", "x.jpeg"],
        ["trace", "t.jsonl", "-o", "x.html"],
    ],
)
def test_an_unknown_suffix_is_refused(
    app: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """An output file whose suffix names no format is refused, and nothing is written."""
    _write(app / "t.jsonl", _records("r"))
    assert main(argv) == 1
    (line,) = _stderr_lines(capsys)
    assert "cannot tell the format from the suffix of" in line
    assert not (app / argv[-1]).exists()


def test_an_explicit_format_needs_no_suffix(app: Path) -> None:
    """--format decides, whatever the output file is called."""
    assert main(["diagram", "limits_app:dispatcher", "--format", "svg", "-o", "x.jpeg"]) == 0
    assert (app / "x.jpeg").read_bytes().startswith(b"<?xml")


def test_a_drawing_of_a_hostile_run_id_stays_in_the_directory(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default drawing file name keeps a run id's slashes from leaving the directory."""
    (app / "sub").mkdir()
    trace = _write(app / "sub" / "t.jsonl", _records("../../escape/"))
    monkeypatch.chdir(app / "sub")
    assert main(["trace", str(trace), "--format", "dot"]) == 0
    assert sorted(p.name for p in (app / "sub").iterdir()) == ["run-_.._escape_0.dot", "t.jsonl"]
    assert not (app.parent / "escape").exists()


def test_binary_file_stops_after_a_few_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is no trace is given up after ten malformed lines, in eleven lines of errors."""
    path = tmp_path / "binary.dat"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 200 + b"\n" * 10 + b"\xff\n" * 500)
    assert main(["trace", str(path)]) == 1
    lines = _stderr_lines(capsys)
    assert len(lines) == 11
    assert "stopped reading: its first 10 lines are not trace records" in lines[-1]


def test_many_malformed_lines_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After ten malformed lines in a trace, the rest are counted, and the runs still print."""
    path = _write(tmp_path / "t.jsonl", _records("r"), tail=b"{oops\n" * 200)
    assert main(["trace", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 11
    assert lines[-1].endswith("200 malformed lines in all (the first 10 are shown)")
    assert captured.out.startswith("run r0")


def test_long_values_are_cut_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trace cuts long values to 200 characters; --max-value-length changes or lifts that."""
    path = _write(tmp_path / "t.jsonl", _records("r", value="b" * 1_000_000))
    assert main(["trace", str(path)]) == 0
    out = capsys.readouterr().out
    assert len(out) < 1_000
    assert "(+999800 chars)" in out
    assert main(["trace", str(path), "--max-value-length", "10"]) == 0
    assert "body=bbbbbbbbbb… (+999990 chars)" in capsys.readouterr().out
    assert main(["trace", str(path), "--max-value-length", "0"]) == 0
    assert "b" * 1_000_000 in capsys.readouterr().out


def test_max_value_length_must_be_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    """A negative or non-numeric --max-value-length is a usage error naming it."""
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "t.jsonl", "--max-value-length", "-1"])
    assert exit_info.value.code == 2
    assert "expected a number of characters (0: no limit); got '-1'" in capsys.readouterr().err


def test_a_deep_chain_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A chain of 1,000 child runs prints every run, in lines of bounded width."""
    path = _write(tmp_path / "t.jsonl", _records("r", depth=1_000))
    assert main(["trace", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1_000
    assert max(map(len, lines)) < 250


def test_a_self_parent_run_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run naming itself as its parent prints as a top-level run."""
    records = [{"event": "run_created", "run_id": "r1", "parent_run_id": "r1"}]
    path = _write(tmp_path / "t.jsonl", records)
    assert main(["trace", str(path)]) == 0
    assert capsys.readouterr().out.startswith("run r1  unfinished  (child of run r1)")


class _ClosedPipe(io.TextIOWrapper):
    """Standard output whose reader has gone: every write of bytes is a broken pipe."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8")

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    @property
    def buffer(self) -> Any:
        return self

    def flush(self) -> None:
        pass


@pytest.mark.parametrize("fmt", ["tree", "svg"])
def test_a_closed_standard_output_exits_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """When standard output's reader goes away, trace exits 141 and says nothing."""
    path = _write(tmp_path / "t.jsonl", _records("r"))
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["trace", str(path), "--format", fmt, "-o", "-"]) == 141
    assert capsys.readouterr().err == ""


def test_piped_into_head(tmp_path: Path) -> None:
    """Trace piped into a reader that stops early (| head) exits 141 with nothing on stderr."""
    path = _write(tmp_path / "t.jsonl", _records("r", depth=2_000, value="x" * 190))
    with subprocess.Popen(  # noqa: S603 -- our own interpreter
        [sys.executable, "-m", "twisted_event_dispatcher", "trace", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.read(100).startswith(b"run r0")
        process.stdout.close()
        err = process.stderr.read()
        status = process.wait()
    assert err == b""
    assert status == 141


def test_diagram_render_failure_is_one_line(
    app: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When dot fails, diagram says so in one line and writes the DOT source instead."""
    fake = app / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Error: fake failure' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert main(["diagram", "limits_app:dispatcher", "-o", "t.svg"]) == 1
    (line,) = _stderr_lines(capsys)
    assert "dot failed (Error: fake failure); wrote the DOT source to t.dot instead" in line
    assert (app / "t.dot").read_text(encoding="utf-8").startswith("digraph topology")


def test_diagram_of_a_100_kb_handler_name(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A handler name of 100 KB is cut in the diagram, which renders."""
    assert main(["diagram", "limits_app:long_names", "-o", "t.svg"]) == 0
    assert _stderr_lines(capsys) == ["wrote t.svg"]
    assert len((app / "t.svg").read_bytes()) < 20_000


def test_diagram_without_the_graphviz_package(
    app: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the graphviz package, diagram names the extra to install, in one line."""
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert main(["diagram", "limits_app:dispatcher", "--kind", "machine"]) == 1
    assert _stderr_lines(capsys) == [f"tedtool: error: {viz.PACKAGE_HINT}"]
