"""tedtool trace and stats over generated corrupt traces: no traceback, a known status, bounded."""

from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings

from strategies import corrupt_traces
from twisted_event_dispatcher import _cli
from twisted_event_dispatcher._cli import main

_COUNTER = itertools.count()


def _run(argv: list[str]) -> tuple[int, bytes, bytes]:
    """Run tedtool in this process with byte-backed standard output and error."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.buffer.getvalue(), err.buffer.getvalue()


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory for the generated traces."""
    return tmp_path_factory.mktemp("fuzz")


def _stop_following(_seconds: float) -> None:
    raise KeyboardInterrupt  # as Ctrl-C does, once the trace has been read


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=corrupt_traces())
def test_trace_never_shows_a_traceback(trace_dir: Path, data: bytes) -> None:
    """Whatever a trace holds, trace (tree, DOT, filtered, followed) and stats exit 0 or 1."""
    path = trace_dir / f"trace-{next(_COUNTER)}.jsonl"
    path.write_bytes(data)
    filters = ["--status", "failed,aborted,unfinished", "--handler", "h", "--slowest", "2"]
    times = ["--since", "2000-01-01", "--until", "2100-01-01T00:00:00Z"]
    for argv in (
        ["trace", str(path)],
        ["trace", str(path), "--format", "dot", "-o", "-"],
        ["trace", str(path), *filters, *times],
        ["trace", str(path), "--follow", "--status", "completed,succeeded"],
        ["stats", str(path)],
        ["stats", str(path), "--status", "failed,aborted,unfinished", "--handler", "h", *times],
    ):
        with mock.patch.object(_cli, "_idle", _stop_following):
            status, out, err = _run(argv)
        assert status in {0, 1}
        assert b"Traceback" not in err
        assert len(out) <= 50 * len(data) + 1_000
        assert len(err.splitlines()) <= 14
        assert len(err) <= 14 * 1_000
        if status == 0 and "--follow" not in argv:  # Ctrl-C ends --follow with 0, whatever
            assert not err
        out.decode("utf-8")
        for line in err.decode("utf-8").splitlines():
            assert line.startswith("tedtool: error: ")


def test_a_run_id_with_backslashes_draws(tmp_path: Path, capsysbinary: Any) -> None:
    """A run id holding backslashes (one at its end) is drawn as DOT without a syntax warning."""
    trace = tmp_path / "bs.jsonl"
    trace.write_text('{"event": "run_created", "run_id": "a\\\\\\\\b\\\\"}\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["trace", str(trace), "--format", "dot", "-o", "-"]) == 0
    assert b'"run a\\\\\\\\b\\\\"' in capsysbinary.readouterr().out
