"""follow_runs: growing traces, read as tail -f reads them, with the waits in the test's hands."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trace_records import Call, run_records
from twisted_event_dispatcher.tracing import MalformedLine, TracedRun, follow_runs, read_runs


def _bytes(*runs: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for records in runs for record in records)


class _Script:
    """A sleep function that, at each wait, does the next step (writes to the traces)."""

    def __init__(self, *steps: Callable[[], object]) -> None:
        self.steps = list(steps)
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if not self.steps:
            raise _Done
        self.steps.pop(0)()


class _Done(Exception):
    """The script has nothing more to write."""


def _append(path: Path, data: bytes) -> Callable[[], None]:
    def step() -> None:
        with path.open("ab") as out:
            out.write(data)

    return step


def _collect(runs: Iterator[TracedRun]) -> list[TracedRun]:
    collected: list[TracedRun] = []
    with pytest.raises(_Done):
        collected.extend(runs)
    return collected


def test_runs_come_out_as_they_complete(tmp_path: Path) -> None:
    """Each run is yielded once its last record is written; a run in flight waits for it."""
    path = tmp_path / "trace.jsonl"
    first, second = run_records("r1", Call("a")), run_records("r2", Call("b"))
    path.write_bytes(_bytes(first, second[:2]))
    seen: list[list[str]] = []
    runs = follow_runs([path], sleep=_Script(_append(path, _bytes(second[2:]))))
    seen.append([next(runs).run_id])
    seen.append([next(runs).run_id])
    runs.close()
    assert seen == [["r1"], ["r2"]]


def test_a_line_written_in_two_parts_is_read_whole(tmp_path: Path) -> None:
    """A last line without its newline is held until the rest of it is written."""
    path = tmp_path / "trace.jsonl"
    data = _bytes(run_records("r1", Call("a", status="failed")))
    cut = len(data) - 20
    path.write_bytes(data[:cut])
    problems: list[MalformedLine] = []
    script = _Script(_append(path, data[cut:-5]), _append(path, data[-5:]))
    runs = _collect(follow_runs([path], on_error=problems.append, sleep=script))
    assert [run.run_id for run in runs] == ["r1"]
    assert runs[0].handlers[0].status == "failed"
    assert not problems
    assert script.waits == [0.5, 0.5, 0.5]


def test_malformed_lines_name_their_file_and_line(tmp_path: Path) -> None:
    """A line that is not a record is reported with its file and number; reading goes on."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"{oops\n\n" + _bytes(run_records("r1")))
    problems: list[MalformedLine] = []
    script = _Script(_append(path, b"[1]\n"))
    runs = _collect(follow_runs([str(path)], on_error=problems.append, sleep=script))
    assert [run.run_id for run in runs] == ["r1"]
    assert [(p.source, p.line_number) for p in problems] == [(str(path), 1), (str(path), 6)]
    assert "malformed JSON" in problems[0].reason


def test_a_truncated_file_is_read_again_from_its_start(tmp_path: Path) -> None:
    """When the file shrinks (copytruncate), it is read again from its start."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(_bytes(run_records("r1", Call("a"), Call("b"))))
    problems: list[MalformedLine] = []

    def truncate() -> None:  # shorter than before: a file that regrew past it is not noticed
        path.write_bytes(b"{oops\n" + _bytes(run_records("r2")))

    runs = _collect(follow_runs([path], on_error=problems.append, sleep=_Script(truncate)))
    assert [run.run_id for run in runs] == ["r1", "r2"]
    assert [p.line_number for p in problems] == [1]


def test_several_files_read_as_one_trace(tmp_path: Path) -> None:
    """A run fired from another file's run in flight goes under the handler that fired it."""
    web, billing = tmp_path / "web.jsonl", tmp_path / "billing.jsonl"
    parent = run_records("w1", Call("web.checkout", handler_id=3))
    child = run_records("b1", Call("billing.charge"), parent=("w1", 3))
    web.write_bytes(_bytes(parent[:4]))
    billing.write_bytes(b"")
    script = _Script(_append(billing, _bytes(child)), _append(web, _bytes(parent[4:])))
    (tree,) = _collect(follow_runs([web, billing], sleep=script, poll_interval=2))
    assert tree.run_id == "w1"
    assert [child.run_id for child in tree.handlers[0].children] == ["b1"]
    assert script.waits == [2, 2, 2]


def test_only_a_quiet_round_waits(tmp_path: Path) -> None:
    """A poll that found new lines looks again at once; only a quiet one waits."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(_bytes(run_records("r1")))
    script = _Script(_append(path, _bytes(run_records("r2"))))
    runs = _collect(follow_runs([path], sleep=script))
    assert [run.run_id for run in runs] == ["r1", "r2"]
    assert len(script.waits) == 2


def test_follow_reads_what_read_runs_reads(tmp_path: Path) -> None:
    """Followed to its end, a trace of megabytes gives the runs read_runs gives, in order."""
    path = tmp_path / "trace.jsonl"
    runs = [run_records(f"r{n}", Call("a"), Call("b", phase="after")) for n in range(1_000)]
    path.write_bytes(_bytes(*runs))
    assert path.stat().st_size > 2**20  # more than one read: lines cross the reads' bounds
    followed = _collect(follow_runs([path], sleep=_Script()))
    assert [run.run_id for run in followed] == [run.run_id for run in read_runs(path)]


def test_unfinished_runs_never_come_out(tmp_path: Path) -> None:
    """A run still in flight when following stops is not yielded."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(_bytes(run_records("r1", end=False)))
    assert _collect(follow_runs([path], sleep=_Script())) == []


def test_a_missing_file_is_an_oserror(tmp_path: Path) -> None:
    """A file that cannot be opened raises OSError at the first look."""
    with pytest.raises(FileNotFoundError):
        next(follow_runs([tmp_path / "missing.jsonl"]))


@pytest.mark.parametrize("interval", [0, -1, math.inf, math.nan])
def test_the_poll_interval_is_positive(interval: float) -> None:
    """A poll interval that is not a positive number of seconds is a ValueError naming it."""
    with pytest.raises(ValueError, match=f"poll_interval must be .*; got {interval!r}"):
        next(follow_runs([], poll_interval=interval))


def test_read_runs_names_the_file_of_a_malformed_line(tmp_path: Path) -> None:
    """read_runs sets a malformed line's source to the path it was given, None for a stream."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"{oops\n")
    problems: list[MalformedLine] = []
    assert list(read_runs(path, on_error=problems.append)) == []
    with path.open("rb") as stream:
        assert list(read_runs(stream, on_error=problems.append)) == []
    assert [problem.source for problem in problems] == [str(path), None]
    assert str(problems[0]) == problems[0].reason.join(("line 1: ", ""))
