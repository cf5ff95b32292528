"""Traces of several processes joined into one forest: remote runs under their handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support import add, result_of, started
from twisted_event_dispatcher import CurrentCall, EventDispatcher, RunOrigin, current_call
from twisted_event_dispatcher._cli import main
from twisted_event_dispatcher.tracing import TracedRun, configure_tracing, join_runs, read_runs


def _two_processes(tmp_path: Path) -> tuple[Path, Path]:
    """Trace a run in 'web' whose handler fires into 'mail', each to a file of its own."""
    web, _ = started("kind", run_id_prefix="web.1")
    mail, _ = started("kind", run_id_prefix="mail.1")
    calls: list[CurrentCall | None] = []

    def place_order(event: Any) -> None:
        calls.append(current_call())

    def send_receipt(event: Any) -> None:
        pass

    add(web, place_order, "during", kind="order")
    add(mail, send_receipt, "after", kind="receipt")
    web_trace, mail_trace = tmp_path / "web.jsonl", tmp_path / "mail.jsonl"
    with configure_tracing(web_trace, forward=False):
        result_of(web.fire_event("o-1", kind="order"))
    [call] = calls
    assert call is not None
    origin = RunOrigin("web", call.run_id, call.handler_id, call.handler_name)
    with configure_tracing(mail_trace, forward=False):
        run = result_of(mail.fire_event_from(origin, "r-1", kind="receipt"))
    assert len(run.outcomes) == 1
    return web_trace, mail_trace


def test_join_runs_puts_remote_runs_under_their_handler(tmp_path: Path) -> None:
    """A run fired from another process hangs under the handler that fired it there."""
    web_trace, mail_trace = _two_processes(tmp_path)
    [root] = join_runs([list(read_runs(mail_trace)), list(read_runs(web_trace))])
    assert root.run_id == "web.1-1"
    [handler] = root.handlers
    [child] = handler.children
    assert child.run_id == "mail.1-1"
    assert child.parent_handler_name is not None
    assert child.parent_handler_name.endswith("place_order")


def test_tedtool_trace_joins_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trace command, given several files, prints one tree across processes."""
    web_trace, mail_trace = _two_processes(tmp_path)
    assert main(["trace", str(mail_trace), str(web_trace)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("run web.1-1")
    child = next(line for line in lines if "run mail.1-1" in line)
    assert "fired by" in child
    assert "place_order in run web.1-1" in child
    assert out.count("\nrun ") == 0  # one tree


def test_join_runs_never_makes_a_cycle() -> None:
    """Trees that name each other as parents, or themselves, stay apart; unknown parents too."""
    a = TracedRun("a", parent_run_id="b-child")
    a_child = TracedRun("a-child", parent_run_id="a")
    a.orphans.append(a_child)
    b = TracedRun("b", parent_run_id="a-child")
    b_child = TracedRun("b-child", parent_run_id="b")
    b.orphans.append(b_child)
    alone = TracedRun("alone", parent_run_id="nowhere")
    selfish = TracedRun("self", parent_run_id="self")
    roots = join_runs([[a, alone], [b, selfish]])
    assert [root.run_id for root in roots] == ["alone", "b", "self"]
    assert b_child.orphans == [a]
    assert [member.run_id for member in roots[1].walk()] == ["b", "b-child", "a", "a-child"]


def test_one_dispatcher_is_untouched(tmp_path: Path) -> None:
    """A single trace joins to itself unchanged."""
    dispatcher = EventDispatcher(("kind",), run_id_prefix="solo")
    dispatcher.start()
    path = tmp_path / "solo.jsonl"
    with configure_tracing(path, forward=False):
        result_of(dispatcher.fire_event("e", kind="k"))
    forest = list(read_runs(path))
    assert join_runs([forest]) == forest
