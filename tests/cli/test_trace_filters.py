"""tedtool trace's filters: --status, --handler, --since/--until, --slowest, and with --run."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from trace_records import Call, run_records, stamp, write_trace
from twisted_event_dispatcher._cli import main


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A trace of five runs, a minute apart from T0, each doing something else."""
    refund = run_records(
        "refund-1",
        Call("shop.refund", status="failed"),
        status="aborted",
        at=60.3,
        parent=("order-1", 2),
    )
    return write_trace(
        tmp_path / "shop.jsonl",
        run_records("ok-1", Call("shop.check"), Call("shop.Mailer.send"), duration=0.2),
        run_records(
            "order-1",
            Call("shop.charge_card", status="failed", duration=0.3),
            Call("shop.ship", at=0.3, handler_id=2, fired=refund),
            at=60,
            duration=1.5,
        ),
        run_records("slow-1", Call("shop.Mailer.send", status="timed_out"), at=120, duration=3.0),
        run_records("gone-1", at=180, status="cancelled", duration=0.01),
        run_records("hung-1", Call("shop.check", status="pending"), at=240, end=False),
    )


def _top_runs_of(out: str) -> list[str]:
    """The run ids of the trees printed."""
    return re.findall(r"^run (\S+)", out, flags=re.MULTILINE)


def _top_runs(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return _top_runs_of(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("statuses", "shown"),
    [
        (["failed"], ["order-1"]),
        (["aborted"], []),  # only order-1's child run was aborted
        (["timed_out"], ["slow-1"]),
        (["cancelled"], ["gone-1"]),
        (["completed"], ["ok-1", "order-1", "slow-1"]),
        (["unfinished"], ["hung-1"]),
        (["pending"], ["hung-1"]),
        (["failed,timed_out"], ["order-1", "slow-1"]),
        (["failed", "--status", "cancelled"], ["order-1", "gone-1"]),
    ],
)
def test_status_shows_trees_in_which_a_run_or_a_call_has_it(
    shop: Path, capsys: pytest.CaptureFixture[str], statuses: list[str], shown: list[str]
) -> None:
    """--status shows each tree whose top run ended, or in which a handler call settled, so."""
    assert main(["trace", str(shop), "--status", *statuses]) == (0 if shown else 1)
    assert _top_runs(capsys) == shown


def test_a_cancelled_call_matches_as_a_cancelled_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--status cancelled also shows a completed run in which a handler call was cancelled."""
    path = write_trace(tmp_path / "t.jsonl", run_records("r1", Call("a", status="cancelled")))
    assert main(["trace", str(path), "--status", "cancelled"]) == 0
    assert _top_runs(capsys) == ["r1"]


def test_a_matching_tree_is_shown_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A call that failed in a child run shows the whole tree: the top run and its children."""
    child = run_records("c1", Call("b", status="failed"), at=0.3, parent=("r1", 2))
    path = write_trace(
        tmp_path / "t.jsonl",
        run_records("r1", Call("a"), Call("fire", at=0.3, handler_id=2, fired=child)),
        run_records("r2", Call("a")),
    )
    assert main(["trace", str(path), "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert _top_runs_of(out) == ["r1"]
    assert "├── +0.0 ms  ✓ a  succeeded" in out
    assert "── +300.0 ms  run c1" in out


@pytest.mark.parametrize(
    ("names", "shown"),
    [
        (["charge"], ["order-1"]),
        (["Mailer"], ["ok-1", "slow-1"]),
        (["mailer"], []),
        (["shop.refund"], ["order-1"]),  # called in its child run
        (["refund", "--handler", "check"], ["ok-1", "order-1", "hung-1"]),
    ],
)
def test_handler_matches_a_substring_of_a_called_handler(
    shop: Path, capsys: pytest.CaptureFixture[str], names: list[str], shown: list[str]
) -> None:
    """--handler shows the trees that called a handler whose name contains NAME (any of them)."""
    assert main(["trace", str(shop), "--handler", *names]) == (0 if shown else 1)
    assert _top_runs(capsys) == shown


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--since", stamp(60.5)], ["order-1", "slow-1", "gone-1", "hung-1"]),
        (["--since", stamp(61.6)], ["slow-1", "gone-1", "hung-1"]),
        (["--until", stamp(60)], ["ok-1", "order-1"]),
        (["--since", stamp(1), "--until", stamp(179)], ["order-1", "slow-1"]),
        (["--since", "2026-03-01T13:02:01+01:00"], ["slow-1", "gone-1", "hung-1"]),
        (["--since", stamp(10_000)], ["hung-1"]),  # never ended: still going
        (["--until", "2026-02-28"], []),
    ],
)
def test_since_and_until_show_the_runs_going_between(
    shop: Path, capsys: pytest.CaptureFixture[str], argv: list[str], shown: list[str]
) -> None:
    """--since shows trees ended at or after it (or never), --until trees started by then."""
    assert main(["trace", str(shop), *argv]) == (0 if shown else 1)
    assert _top_runs(capsys) == shown


def test_times_ago_are_from_now(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--since 10m (also written -10m, even as a separate argument) means ten minutes ago."""
    now = dt.datetime.now(dt.timezone.utc)
    path = write_trace(
        tmp_path / "t.jsonl",
        run_records("old", at=-7_200, origin=now),
        run_records("recent", at=-60, origin=now),
    )
    for argv in (["--since", "-10m"], ["--since=-10m"], ["--since", "10m"], ["--since", "0.5h"]):
        assert main(["trace", str(path), *argv]) == 0
        assert _top_runs(capsys) == ["recent"]
    assert main(["trace", str(path), "--until", "-1h"]) == 0
    assert _top_runs(capsys) == ["old"]
    assert main(["trace", str(path), "--since", "-1d", "--until", "now"]) == 0
    assert _top_runs(capsys) == ["old", "recent"]


def test_only_options_take_times_ago(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After --, an argument like -10m is a file name, even after --since."""
    assert main(["trace", "--since", "1w", "--", "-10m"]) == 1
    assert "cannot read -10m" in capsys.readouterr().err


def test_runs_without_timestamps_pass_no_time_filter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tree without timestamps is left out by --since and --until, and shown without them."""
    records = run_records("r1", Call("a"))
    for record in records:
        del record["timestamp"]
    path = write_trace(tmp_path / "t.jsonl", records)
    assert main(["trace", str(path), "--since", "2000-01-01"]) == 1
    assert main(["trace", str(path), "--until", "2100-01-01"]) == 1
    assert main(["trace", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == [
        "run r1  str  kind='k'  completed  100.0 ms",
        "└── during",
        "    └── ✓ a  succeeded  1.0 ms",
    ]


def test_slowest_ranks_by_duration(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--slowest N prints the N trees whose top run took longest, slowest first."""
    assert main(["trace", str(shop), "--slowest", "2"]) == 0
    assert _top_runs(capsys) == ["slow-1", "order-1"]
    assert main(["trace", str(shop), "--slowest", "99"]) == 0
    assert _top_runs(capsys) == ["slow-1", "order-1", "ok-1", "gone-1"]  # hung-1 has none


def test_slowest_keeps_the_trace_order_of_ties(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Of runs that took as long, the first in the trace comes first."""
    path = write_trace(
        tmp_path / "t.jsonl",
        *(run_records(f"r{n}", duration=0.5 if n % 2 else 0.1) for n in range(6)),
    )
    assert main(["trace", str(path), "--slowest", "3"]) == 0
    assert _top_runs(capsys) == ["r1", "r3", "r5"]


def test_filters_combine(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every filter given must pass: status, handler, time, then the slowest of those."""
    argv = ["trace", str(shop), "--status", "failed,timed_out,cancelled", "--handler", "shop."]
    assert main([*argv, "--since", stamp(90), "--slowest", "1"]) == 0
    assert _top_runs(capsys) == ["slow-1"]
    assert main([*argv, "--until", stamp(90)]) == 0
    assert _top_runs(capsys) == ["order-1"]


def test_filters_apply_to_the_run_chosen(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --run, the filters look at that run and its children only."""
    assert main(["trace", str(shop), "--run", "refund-1", "--status", "aborted"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run refund-1")
    assert "order-1  " not in out
    assert main(["trace", str(shop), "--run", "refund-1", "--handler", "charge"]) == 1
    assert capsys.readouterr().err == (
        f"tedtool: error: {shop}: no run 'refund-1' in the trace, or it does not match --handler\n"
    )


def test_filters_apply_to_joined_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Over several files, a tree matches by the runs of every file joined into it."""
    web = write_trace(
        tmp_path / "web.jsonl",
        run_records("w1", Call("web.checkout", handler_id=3)),
        run_records("w2", Call("web.home")),
    )
    billing = write_trace(
        tmp_path / "billing.jsonl",
        run_records("b1", Call("billing.charge", status="failed"), parent=("w1", 3)),
    )
    assert main(["trace", str(web), str(billing), "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert _top_runs_of(out) == ["w1"]
    assert "run b1" in out


def test_nothing_matching_is_an_error(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When no tree passes the filters, one line says which filters, with exit status 1."""
    assert main(["trace", str(shop), "--status", "rejected", "--since", stamp(0)]) == 1
    assert capsys.readouterr().err == (
        f"tedtool: error: {shop}: no runs in the trace match --status and --since\n"
    )


def test_a_drawing_is_of_the_first_tree_shown(
    shop: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """With filters, a drawing is of the first tree they pass (the slowest, with --slowest)."""
    assert main(["trace", str(shop), "--status", "failed", "--format", "dot", "-o", "-"]) == 0
    assert b"order-1" in capsysbinary.readouterr().out
    assert main(["trace", str(shop), "--slowest", "1", "--format", "dot", "-o", "-"]) == 0
    assert b"slow-1" in capsysbinary.readouterr().out


def test_offsets_are_printed(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each tree says when it started and, on every other line, how long after that."""
    assert main(["trace", str(shop), "--run", "order-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("  at 2026-03-01T12:01:00.000Z")
    assert lines[1:4] == [
        "└── +0.0 ms  during",
        "    ├── +0.0 ms  ✗ shop.charge_card  failed  300.0 ms",
        "    └── +300.0 ms  ✓ shop.ship  succeeded  1.0 ms",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--status", "broken"], "unknown status 'broken': expected completed, aborted,"),
        (["--status", "failed,"], "unknown status ''"),
        (["--since", "yesterday"], "expected an ISO 8601 time"),
        (["--since", "-10x"], "expected one argument"),
        (["--until", "2026-02-30"], "got '2026-02-30'"),
        (["--slowest", "0"], "expected a number of runs (1 or more); got '0'"),
        (["--slowest", "many"], "got 'many'"),
    ],
)
def test_bad_filter_values(
    shop: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """A bad filter value is a command-line error (exit status 2) that names it."""
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", str(shop), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
