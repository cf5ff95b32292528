"""tedtool stats: per handler and per phase counts and nearest-rank duration percentiles."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, EventRun
from twisted_event_dispatcher._cli import main
from twisted_event_dispatcher.tracing import (
    CallStats,
    TracedHandler,
    configure_tracing,
    format_duration,
    nearest_rank,
)

_HEADER = ["calls", "failed", "timed out", "p50", "p95", "p99"]


def _write_trace(path: Path, *, rounds: int = 20) -> list[EventRun]:
    """Trace *rounds* top runs on a Clock: calls of varied durations, failures, timeouts."""
    clock = Clock()
    dispatcher = EventDispatcher(("kind",), reactor=clock, handler_timeout=5.0)
    runs: list[EventRun] = []

    def check(event: Any) -> None:
        if event % 4 == 0:
            raise ValueError(event)

    def store(event: Any) -> Deferred[None]:
        done: Deferred[None] = Deferred()
        if event % 5:  # every fifth call never settles, and times out
            clock.callLater(event * 0.01, done.callback, None)
        return done

    def notify(event: Any) -> None:
        dispatcher.fire_event("child", kind="child").addCallback(runs.append)

    def audit(event: Any) -> None:
        pass

    dispatcher.add_event_handler(check, "before", False, kind="order")
    dispatcher.add_event_handler(store, "during", False, kind="order")
    dispatcher.add_event_handler(notify, "after", False, kind="order")
    dispatcher.add_event_handler(audit, "during", False, kind="child")
    dispatcher.start()
    with configure_tracing(path, forward=False):
        for number in range(1, rounds + 1):
            dispatcher.fire_event(number, kind="order").addCallback(runs.append)
            clock.advance(6)
    return runs


def _tables(out: str) -> tuple[str, dict[str, list[str]], dict[str, list[str]]]:
    """The summary line, and the handler and phase tables' rows by name."""
    summary, handlers, phases = out.rstrip("\n").split("\n\n")
    tables: list[dict[str, list[str]]] = []
    for block, title in ((handlers, "handler"), (phases, "phase")):
        header, *rows = block.splitlines()
        assert re.split(r"\s{2,}", header) == [title, *_HEADER]
        tables.append({row[0]: row[1:] for row in (re.split(r"\s{2,}", r) for r in rows)})
    return summary, tables[0], tables[1]


def _expected(outcomes: list[Any]) -> list[str]:
    """A row's cells computed from EventRun outcomes."""
    durations = sorted(o.duration for o in outcomes if o.duration is not None)
    return [
        str(len(outcomes)),
        str(sum(o.status == "failed" for o in outcomes)),
        str(sum(o.status == "timed_out" for o in outcomes)),
        *(
            format_duration(durations[math.ceil(p / 100 * len(durations)) - 1])
            for p in (50, 95, 99)
        ),
    ]


def test_stats_sums_up_handlers_and_phases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stats prints per handler and per phase what the EventRuns' outcomes say."""
    runs = _write_trace(tmp_path / "trace.jsonl")
    assert main(["stats", str(tmp_path / "trace.jsonl")]) == 0
    summary, handlers, phases = _tables(capsys.readouterr().out)
    outcomes = [outcome for run in runs for outcome in run.outcomes]
    assert summary == f"{len(runs)} runs, {len(outcomes)} handler calls"
    names = sorted({o.handler_name for o in outcomes})
    assert [name.rsplit(".", 1)[-1] for name in names] == ["audit", "check", "notify", "store"]
    assert list(handlers) == names
    for name in names:
        assert handlers[name] == _expected([o for o in outcomes if o.handler_name == name])
    assert list(phases) == ["before", "during", "after"]
    for phase in phases:
        assert phases[phase] == _expected([o for o in outcomes if o.phase == phase])
    store = next(name for name in names if name.endswith("store"))
    assert handlers[store][:3] == ["20", "0", "4"]


def test_stats_sums_up_several_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given several traces, stats counts the calls of all of them."""
    one = _write_trace(tmp_path / "one.jsonl", rounds=3)
    two = _write_trace(tmp_path / "two.jsonl", rounds=5)
    assert main(["stats", str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")]) == 0
    summary, handlers, _ = _tables(capsys.readouterr().out)
    calls = sum(len(run.outcomes) for run in [*one, *two])
    assert summary == f"{len(one) + len(two)} runs, {calls} handler calls"
    assert {row[0] for row in handlers.values()} == {"8"}


def test_stats_filters_trees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--status counts only the calls of the trees trace would show with it."""
    runs = _write_trace(tmp_path / "trace.jsonl")
    assert main(["stats", str(tmp_path / "trace.jsonl"), "--status", "timed_out"]) == 0
    summary, handlers, phases = _tables(capsys.readouterr().out)
    timed_out = [run for run in runs if any(o.status == "timed_out" for o in run.outcomes)]
    assert len(timed_out) == 4
    assert summary.startswith(f"{len(timed_out) * 2} runs, ")  # each with its child run
    assert {row[0] for row in handlers.values()} == {"4"}
    assert phases["during"][:3] == ["8", "0", "4"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0], (1.0, 1.0, 1.0)),
        ([float(n) for n in range(1, 11)], (5.0, 10.0, 10.0)),
        ([float(n) for n in range(1, 101)], (50.0, 95.0, 99.0)),
        ([float(n) for n in range(1, 201)], (100.0, 190.0, 198.0)),
    ],
)
def testnearest_rank(values: list[float], expected: tuple[float, float, float]) -> None:
    """The percentile is the value at rank ceil(P/100 * n), never an interpolation."""
    assert tuple(nearest_rank(values, p) for p in (50, 95, 99)) == expected
    assert nearest_rank(values, 0) == values[0]


def test_stats_reports_malformed_lines_and_reads_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A corrupt trace's bad lines are reported as trace reports them; the rest is counted."""
    path = tmp_path / "trace.jsonl"
    runs = _write_trace(path, rounds=2)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "{oops")
    path.write_text("\n".join(lines) + '\n{"event": "run_en', encoding="utf-8")
    assert main(["stats", str(path)]) == 1
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err
    assert errors[0].startswith(f"tedtool: error: {path}: line 2: malformed JSON")
    assert f"line {len(lines) + 1}: truncated JSON record" in errors[1]
    assert len(errors) == 2
    summary, _, _ = _tables(captured.out)
    assert summary.startswith(f"{len(runs)} runs, ")


def test_stats_stops_on_a_binary_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is no trace stops the reading with one line saying so, and no table."""
    path = tmp_path / "trace.bin"
    path.write_bytes(bytes(range(256)) * 200)
    assert main(["stats", str(path)]) == 1
    captured = capsys.readouterr()
    assert not captured.out
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[-1].endswith("(is it a JSON-lines trace?)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "empty.jsonl"], "empty.jsonl: no runs in the trace"),
        (["stats", "missing.jsonl"], "cannot read missing.jsonl: No such file or directory"),
        (["stats", "."], "it is a directory"),
        (["stats", "trace.jsonl", "--handler", "nobody"], "no runs in the trace match --handler"),
    ],
)
def test_stats_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    """An empty trace, a missing file or nothing passing the filters is one line and status 1."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    _write_trace(tmp_path / "trace.jsonl", rounds=1)
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert not captured.out
    assert captured.err.startswith("tedtool: error: ")
    assert len(captured.err.splitlines()) == 1
    assert message in captured.err


def test_stats_escapes_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A handler name with control characters is escaped, so it cannot break the table."""
    path = tmp_path / "trace.jsonl"
    path.write_text(
        '{"event": "handler_settled", "run_id": "r-1", "phase": "p\\n", "handler_id": 1, '
        '"handler_name": "evil\\u001b[2J\\nname", "status": "succeeded", "duration": 0.5}\n'
        '{"event": "run_ended", "run_id": "r-1", "status": "completed", "duration": 0.5}\n',
        encoding="utf-8",
    )
    assert main(["stats", str(path)]) == 0
    _, handlers, phases = _tables(capsys.readouterr().out)
    assert handlers == {"evil\\x1b[2J\\nname": ["1", "0", "0", "500.0 ms", "500.0 ms", "500.0 ms"]}
    assert list(phases) == ["p\\n"]


def test_stats_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """Stats answers --help, naming the percentile rule, and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: tedtool stats")
    assert "nearest rank" in out


@pytest.mark.parametrize(("values", "percent"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_nearest_rank_refuses(values: list[float], percent: float) -> None:
    """No values, or a percent outside 0 to 100, is a ValueError naming what is wrong."""
    with pytest.raises(ValueError, match="empty sequence" if not values else repr(percent)):
        nearest_rank(values, percent)


def test_call_stats_counts_durations_of_settled_calls_only() -> None:
    """Pending calls and infinite durations count as calls, never as durations."""
    tally = CallStats()
    assert tally.percentiles() == {50: None, 95: None, 99: None}
    for status, duration in [("pending", None), ("failed", 0.2), ("timed_out", math.inf)]:
        tally.add(TracedHandler(1, "h", "during", status=status, duration=duration))
    assert (tally.calls, tally.failures, tally.timeouts, tally.settled) == (3, 1, 1, 1)
    assert tally.percentiles() == {50: 0.2, 95: 0.2, 99: 0.2}
    tally.add(TracedHandler(1, "h", "during", status="succeeded", duration=0.1))
    assert tally.percentile(50) == 0.1  # added after a percentile was read: sorted anew


def _bar_widths(dot: str) -> list[int]:
    """The widths of the chart's bars (the coloured fixed-size cells), in drawing order."""
    return [int(width) for width in re.findall(r'BGCOLOR="#[0-9a-f]+" WIDTH="(\d+)"', dot)]


def test_stats_draws_a_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format dot draws each handler's and phase's p50/p95/p99 on one scale per table."""
    runs = _write_trace(tmp_path / "trace.jsonl")
    out = tmp_path / "chart.dot"
    assert main(["stats", str(tmp_path / "trace.jsonl"), "-o", str(out)]) == 0
    assert capsys.readouterr().err == f"wrote {out}\n"
    dot = out.read_text(encoding="utf-8")
    outcomes = [outcome for run in runs for outcome in run.outcomes]
    assert f"{len(runs)} runs, {len(outcomes)} handler calls" in dot
    handlers, phases = dot.split("\n\tphases [")
    for name in {o.handler_name for o in outcomes}:
        assert html.escape(name) in handlers
    widths = _bar_widths(handlers)
    assert len(widths) == 4 * 3  # four handlers, three bars each
    assert max(widths) == 240  # the largest p99 spans the scale
    for p50, p95, p99 in zip(widths[::3], widths[1::3], widths[2::3], strict=True):
        assert p50 <= p95 <= p99
    store = sorted({o.duration for o in outcomes if o.handler_name.endswith("store")})
    row = handlers[handlers.index("store") :]
    assert _bar_widths(row)[2] == round(240 * store[math.ceil(0.99 * len(store)) - 1] / store[-1])
    assert len(_bar_widths(phases)) == 3 * 3


@pytest.mark.parametrize("suffix", ["svg", "png"])
def test_stats_renders_a_chart(tmp_path: Path, suffix: str) -> None:
    """Graphviz renders the chart; the format comes from the output's suffix."""
    _write_trace(tmp_path / "trace.jsonl", rounds=3)
    out = tmp_path / f"chart.{suffix}"
    assert main(["stats", str(tmp_path / "trace.jsonl"), "-o", str(out)]) == 0
    data = out.read_bytes()
    if suffix == "svg":
        assert data.startswith(b"<?xml")
        assert b"<svg" in data
        assert b"store" in data
    else:
        assert data.startswith(b"\x89PNG\r\n")


def test_stats_refuses_an_unknown_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output suffix naming no format is refused before reading, naming the ones known."""
    _write_trace(tmp_path / "trace.jsonl", rounds=1)
    assert main(["stats", str(tmp_path / "trace.jsonl"), "-o", str(tmp_path / "s.jpg")]) == 1
    err = capsys.readouterr().err
    assert "s.jpg" in err
    assert "txt, svg, png, pdf, dot, gv" in err
    assert not (tmp_path / "s.jpg").exists()


def test_stats_writes_the_table_to_a_file(tmp_path: Path) -> None:
    """-o FILE.txt writes the tables there."""
    _write_trace(tmp_path / "trace.jsonl", rounds=2)
    out = tmp_path / "stats.txt"
    assert main(["stats", str(tmp_path / "trace.jsonl"), "-o", str(out)]) == 0
    summary, handlers, _ = _tables(out.read_text(encoding="utf-8"))
    assert summary.startswith("4 runs, ")
    assert len(handlers) == 4
