"""The instruction-count mode's own logic: reading callgrind's output, the subtraction, targets."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str) -> ModuleType:
    """Import one of the benchmark's modules (they import each other by their bare names)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


callgrind = _load("_callgrind")
targets = _load("_targets")

# The head of a real callgrind.out file (valgrind 3.19, --dump-line=no --dump-instr=no),
# cut after its first function; the totals close the file.
CALLGRIND_OUT = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 9862
cmd:  .venv/bin/python /tmp/child.py 200 dispatcher
part: 1


desc: I1 cache:
desc: D1 cache:
desc: LL cache:

desc: Timerange: Basic block 0 - 211233447
desc: Trigger: Program termination

positions: line
events: Ir
summary: 1324772214


ob=(1) /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
fl=(1) ???
fn=(1) 0x000000000001d100
0 10
cfn=(2) _dl_start
calls=1 0
0 6411

totals: 1324772214
"""


def test_parse_reads_the_instruction_total() -> None:
    """The total is the number on ``totals:``, for the Ir event."""
    assert callgrind.parse_callgrind(CALLGRIND_OUT) == 1_324_772_214


def test_parse_takes_ir_among_several_events_and_prefers_totals() -> None:
    """With several events the Ir column is read; ``totals:`` wins over ``summary:``."""
    text = "events: Dr Ir Dw\nsummary: 1 2 3\nfn=(1) f\n0 1 1 1\ntotals: 10 20 30\n"
    assert callgrind.parse_callgrind(text) == 20
    assert callgrind.parse_callgrind("events: Ir\nsummary: 77\n") == 77


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no 'events:'"),
        ("events: Dr\ntotals: 5\n", "naming Ir"),
        ("events: Ir\nfn=(1) f\n0 1\n", "no 'totals:'"),
        ("events: Dr Ir\ntotals: 5\n", "1 values for 2 events"),
    ],
)
def test_parse_refuses_output_without_a_total(text: str, message: str) -> None:
    """An empty or cut file (callgrind failed, or was not run) is an error, never a zero."""
    with pytest.raises(ValueError, match=message):
        callgrind.parse_callgrind(text)


def test_per_event_subtracts_start_up() -> None:
    """The start-up shared by both runs cancels: only the extra events' cost remains."""
    start_up = 1_198_126_597
    low = callgrind.Measurement(200, start_up + 200 * 633_000)
    high = callgrind.Measurement(400, start_up + 400 * 633_000)
    assert callgrind.per_event(low, high) == 633_000
    assert callgrind.per_event(callgrind.Measurement(0, start_up), low) == 633_000


@given(
    start_up=st.integers(0, 10**10),
    cost=st.integers(0, 10**7),
    low=st.integers(0, 10**4),
    more=st.integers(1, 10**4),
)
def test_per_event_recovers_any_linear_cost(start_up: int, cost: int, low: int, more: int) -> None:
    """For runs costing start-up + events x cost, the cost per event comes back exactly."""
    first = callgrind.Measurement(low, start_up + low * cost)
    second = callgrind.Measurement(low + more, start_up + (low + more) * cost)
    assert callgrind.per_event(first, second) == cost


def test_per_event_refuses_runs_that_cannot_be_subtracted() -> None:
    """The same number of events, or fewer instructions for more events, is an error."""
    with pytest.raises(ValueError, match="more events"):
        callgrind.per_event(callgrind.Measurement(5, 100), callgrind.Measurement(5, 200))
    with pytest.raises(ValueError, match="fewer instructions"):
        callgrind.per_event(callgrind.Measurement(5, 300), callgrind.Measurement(10, 200))


def test_spread() -> None:
    """The spread is (largest - smallest) / smallest."""
    assert callgrind.spread([100.0, 105.0, 102.0]) == pytest.approx(0.05)
    assert callgrind.spread([7.0]) == 0.0
    with pytest.raises(ValueError, match="no values"):
        callgrind.spread([])


@pytest.mark.parametrize(
    ("count", "text"),
    [(950, "950"), (1_500, "1.5k"), (633_412, "633k"), (1_250_000, "1.25M")],
)
def test_format_count(count: float, text: str) -> None:
    """Counts read at a glance: three significant figures or so."""
    assert callgrind.format_count(count) == text


def test_the_command_runs_the_child_under_callgrind() -> None:
    """Valgrind's callgrind tool, writing to the given file, then the child's own argv."""
    command = callgrind.callgrind_command("/usr/bin/valgrind", Path("out.cg"), ["py", "x"])
    assert command[0] == "/usr/bin/valgrind"
    assert "--tool=callgrind" in command
    assert "--callgrind-out-file=out.cg" in command
    assert command[-2:] == ["py", "x"]


def _format(value: float) -> str:
    return f"{value:g}"


def test_issue10_targets_compare_the_dispatcher_with_each_peer() -> None:
    """Each target is the dispatcher's figure over the peer's; a missing peer gives no target."""
    found = targets.issue10_targets(
        {
            "W1": {"dispatcher": 120.0, "pyee_tw": 100.0},
            "W3": {"dispatcher": 90.0, "original": 100.0},
            "W5": {"dispatcher": 80.0},
        },
        _format,
    )
    assert [(t.workload, t.limit, t.met) for t in found] == [
        ("W1", 1.25, True),
        ("W1", 1.0, False),
        ("W3", 1.0, True),
    ]
    assert found[0].ratio == pytest.approx(1.2)
    assert "1.20x: 120 vs 100" in found[0].measured


def test_variant_targets_allow_five_percent() -> None:
    """Features present but unused: within 5% of plain is met, beyond it missed."""
    found = targets.variant_targets(
        "W1f", {"plain": 100.0, "features": 104.0, "cleanup": 106.0}, _format
    )
    assert [(t.claim.split()[0], t.met) for t in found] == [("features", True), ("cleanup", False)]


def test_seed_target_reports_the_spread() -> None:
    """Hash seeds agreeing within 5% meet the target; 16% apart miss it."""
    met = targets.seed_target({0: 600.0, 1: 610.0, 12345: 620.0}, _format)
    missed = targets.seed_target({0: 556.0, 1: 647.0}, _format)
    assert met.met
    assert not missed.met
    assert "spread 16.4%" in missed.measured
    assert "12345: 620" in met.measured


def test_tracing_target_allows_three_times() -> None:
    """JSON tracing on: at most 3x the untraced run."""
    assert targets.tracing_target(290.0, 100.0, _format, "stub").met
    assert not targets.tracing_target(1300.0, 100.0, _format, "stub").met


VALGRIND = shutil.which("valgrind")


def _loop(work: int) -> object:
    """A child that does *work* additions per event, for as many events as its last argument."""
    code = f"import sys\nfor _ in range(int(sys.argv[1])):\n    sum(range({work}))\n"
    return lambda events: [sys.executable, "-c", code, str(events)]


def test_counting_a_real_child_removes_start_up() -> None:
    """Under real callgrind, the interpreter's start-up cancels and the count scales with work.

    The interpreter's start-up is tens of millions of instructions: any of it
    left in the figure would swamp an event of a few thousand.
    """
    assert VALGRIND is not None, "valgrind is missing: `make bench-count` installs it"
    small = callgrind.CountJob("small", _loop(100), 50)
    large = callgrind.CountJob("large", _loop(1_000), 50)
    lines: list[str] = []
    counts = callgrind.count_all(VALGRIND, [small, large], parallel=2, progress=lines.append)
    per_small, per_large = counts["small"], counts["large"]
    assert len(lines) == 2
    # sum(range(100)) costs about 10k instructions; ten times the work, 10-20 times that.
    assert 500 < per_small < 50_000
    assert 5 < per_large / per_small < 30


def test_split_report_keeps_each_part() -> None:
    """``--only`` rewrites one part: the others come back as they were, from either layout."""
    run = _load("run")
    notes = f"{run.NOTES_MARK}\nnotes\n"
    new = f"local\n{run.COUNT_MARK}\ncounts\n{run.CLUSTER_MARK}\ncluster\n{notes}"
    assert run.split_report(new) == {
        "local": "local\n",
        "count": "\ncounts\n",
        "cluster": "\ncluster\n",
    }
    # A report written before the counts existed: its count part is empty.
    old = f"local\n{run.CLUSTER_MARK}\ncluster\n{notes}"
    assert run.split_report(old) == {"local": "local\n", "count": "", "cluster": "\ncluster\n"}
    with pytest.raises(ValueError, match="markers"):
        run.split_report("local only")
