"""tedtool trace --follow: trees printed as a growing trace completes them; Ctrl-C and | head."""

from __future__ import annotations

import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from trace_records import Call, run_records, write_trace
from twisted_event_dispatcher import _cli
from twisted_event_dispatcher._cli import main

DEADLINE = 60.0
"""Seconds a subprocess test waits for what it expects before it fails."""


def _bytes(*runs: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for records in runs for record in records)


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as out:
        out.write(data)


class _Lines:
    """The lines a subprocess writes to a pipe, waited for with a deadline (no reader thread)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._fd = stream.fileno()
        self._buffer = b""
        self.seen: list[str] = []

    def wait_for(self, text: str, deadline: float) -> None:
        """Read lines until one starts with *text*; fail at *deadline* or at the end."""
        while True:
            while b"\n" in self._buffer:
                line, _, self._buffer = self._buffer.partition(b"\n")
                self.seen.append(line.decode())
                if self.seen[-1].startswith(text):
                    return
            ready, _, _ = select.select([self._fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                pytest.fail(f"no line starting {text!r} in time; got {self.seen}")
            chunk = os.read(self._fd, 65_536)
            if not chunk:
                pytest.fail(f"the output ended before a line starting {text!r}; got {self.seen}")
            self._buffer += chunk


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A tedtool trace --follow --status failed process, following an empty trace."""
    path = tmp_path / "trace.jsonl"
    path.write_bytes(b"")
    argv = [sys.executable, "-m", "twisted_event_dispatcher", "trace", "--follow"]
    process = subprocess.Popen(  # noqa: S603 -- our own command line
        [*argv, "--status", "failed", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield path, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def test_follow_prints_runs_as_the_file_grows_and_stops_on_ctrl_c(
    follower: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """Each matching run is printed once written, a half-written line waits; Ctrl-C exits 0."""
    path, process = follower
    assert process.stdout is not None
    assert process.stderr is not None
    lines = _Lines(process.stdout)
    deadline = time.monotonic() + DEADLINE
    fails = [run_records(f"f{n}", Call("shop.charge", status="failed")) for n in range(3)]
    second = _bytes(fails[1])
    # Written by another thread: an ok run, a failing one, and the next cut in a line.
    writer = threading.Thread(
        target=_append, args=(path, _bytes(run_records("ok-1"), fails[0]) + second[:-30])
    )
    writer.start()
    writer.join()
    lines.wait_for("run f0", deadline)
    _append(path, second[-30:] + _bytes(fails[2]))
    lines.wait_for("run f2", deadline)
    assert [line.split()[1] for line in lines.seen if line.startswith("run ")] == [
        "f0",
        "f1",
        "f2",
    ]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=DEADLINE) == 0
    assert process.stderr.read() == b""


def test_follow_into_a_closed_pipe_exits_quietly(
    follower: tuple[Path, subprocess.Popen[bytes]],
) -> None:
    """When the reader of its output goes away (| head), an idle follow exits 141, quietly."""
    path, process = follower
    assert process.stdout is not None
    assert process.stderr is not None
    lines = _Lines(process.stdout)
    _append(path, _bytes(run_records("f0", Call("shop.charge", status="failed"))))
    lines.wait_for("run f0", time.monotonic() + DEADLINE)
    process.stdout.close()  # nothing more is written: only the wait can notice
    assert process.wait(timeout=DEADLINE) == 141
    assert process.stderr.read() == b""


def _interrupt(_seconds: float) -> None:
    raise KeyboardInterrupt


def test_ctrl_c_while_following_is_a_clean_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Interrupted while waiting, --follow has printed what completed and exits 0."""
    path = write_trace(tmp_path / "t.jsonl", run_records("r1"), run_records("r2", end=False))
    monkeypatch.setattr(_cli, "_idle", _interrupt)
    assert main(["trace", "--follow", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("run r1")
    assert "r2" not in captured.out
    assert captured.err == ""


def test_ctrl_c_with_nothing_shown_is_a_clean_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Interrupted before any run matched, --follow exits 0; malformed lines were reported."""
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{oops\n" + _bytes(run_records("r1")))
    monkeypatch.setattr(_cli, "_idle", _interrupt)
    assert main(["trace", "-f", str(path), "--status", "failed"]) == 0
    assert capsys.readouterr().err == (
        f"tedtool: error: {path}: line 1: malformed JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))\n"
    )


def test_follow_into_a_file_waits_without_watching_standard_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With -o FILE, the waits are plain sleeps: standard output is not the output."""
    path = write_trace(tmp_path / "t.jsonl", run_records("r1"))
    monkeypatch.setattr(_cli, "_idle", lambda _seconds: pytest.fail("watched stdout"))
    monkeypatch.setattr(time, "sleep", _interrupt)
    assert main(["trace", "--follow", str(path), "-o", str(tmp_path / "out.txt")]) == 0
    assert (tmp_path / "out.txt").read_text(encoding="utf-8").startswith("run r1")


def test_follow_run_stops_once_it_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --run, following ends as soon as that run has been printed."""
    path = write_trace(tmp_path / "t.jsonl", run_records("r1"), run_records("r2"))
    monkeypatch.setattr(_cli, "_idle", lambda _seconds: pytest.fail("waited"))
    assert main(["trace", "--follow", str(path), "--run", "r1"]) == 0
    assert capsys.readouterr().out.startswith("run r1")


def test_follow_several_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several followed files are one trace; a malformed line is reported with its own file."""
    web = write_trace(tmp_path / "web.jsonl", run_records("w1", Call("web.checkout")))
    billing = tmp_path / "billing.jsonl"
    billing.write_bytes(_bytes(run_records("b1")) + b"[]\n")
    monkeypatch.setattr(_cli, "_idle", _interrupt)
    assert main(["trace", "--follow", str(web), str(billing)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("\nrun ") + captured.out.startswith("run ") == 2
    assert captured.err == (
        f"tedtool: error: {billing}: line 4: not a trace record (no 'event' key)\n"
    )


def test_follow_standard_input_reads_to_its_end(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--follow - reads standard input until it closes (a pipe already streams)."""
    stdin = io.TextIOWrapper(io.BytesIO(_bytes(run_records("r1"), run_records("r2"))))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["trace", "--follow", "-"]) == 0
    assert capsys.readouterr().out.count("run r") == 2


def test_a_not_a_trace_stops_following(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A followed file whose first ten lines are not records is given up, with exit status 1."""
    path = tmp_path / "binary.jsonl"
    path.write_bytes(b"\x00\xff garbage\n" * 20)
    monkeypatch.setattr(_cli, "_idle", lambda _seconds: pytest.fail("waited"))
    assert main(["trace", "--follow", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"tedtool: error: {path}: stopped reading: its first 10 lines are not trace records "
        "(is it a JSON-lines trace?)"
    )


def test_a_missing_followed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A followed file that cannot be opened is one line naming it, with exit status 1."""
    web = write_trace(tmp_path / "web.jsonl", run_records("w1"))
    assert main(["trace", "--follow", str(web), str(tmp_path / "missing.jsonl")]) == 1
    assert capsys.readouterr().err == (
        f"tedtool: error: cannot read {tmp_path / 'missing.jsonl'}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--slowest", "3", "t.jsonl"], "--slowest ranks the whole trace: it cannot be used"),
        (["-", "t.jsonl"], "--follow reads standard input ('-') only on its own"),
    ],
)
def test_follow_refuses(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """--follow with what needs the whole trace, or stdin among files, is refused."""
    monkeypatch.chdir(tmp_path)
    write_trace(tmp_path / "t.jsonl", run_records("r1"))
    assert main(["trace", "--follow", *argv]) == 1
    assert message in capsys.readouterr().err


def test_the_wait_notices_a_closed_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting with standard output on a pipe whose reader is gone raises _OutputClosed."""
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as stdout:
        monkeypatch.setattr(sys, "stdout", stdout)
        _cli._idle(0.001)  # the reader is there: a plain wait
        os.close(read_end)
        with pytest.raises(_cli._OutputClosed):
            _cli._idle(DEADLINE)


def test_the_wait_without_a_file_descriptor_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output without a file descriptor (a test's capture) makes the wait a sleep."""
    slept: list[float] = []
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(time, "sleep", slept.append)
    _cli._idle(0.25)
    assert slept == [0.25]
