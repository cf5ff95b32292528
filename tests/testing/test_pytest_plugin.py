"""The pytest plugin's fixtures and the run assertion helper."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from twisted.internet.task import Clock

from twisted_event_dispatcher import AbortRun, EventDispatcher
from twisted_event_dispatcher.testing import Trace, assert_run_completed, fire_and_settle


def _broken(event: object) -> None:
    raise ValueError("disk full")


def _veto(event: object) -> None:
    raise AbortRun("closed")


def test_fixtures_give_a_dispatcher_on_a_clock_and_a_trace(
    ted_dispatcher: Callable[..., tuple[EventDispatcher, Clock]], ted_trace: Trace
) -> None:
    """The plugin's fixtures (loaded by the pytest11 entry point) give a dispatcher and trace."""
    dispatcher, clock = ted_dispatcher(("kind",))
    assert isinstance(clock, Clock)
    assert dispatcher.running
    run = fire_and_settle(dispatcher, "e", kind="x")
    assert_run_completed(run, ted_trace)
    assert ted_trace.statuses() == {run.run_id: "completed"}


def test_failed_run_assertion_prints_the_trace_tree(
    ted_dispatcher: Callable[..., tuple[EventDispatcher, Clock]], ted_trace: Trace
) -> None:
    """assert_run_completed fails with the run's tree, as tedtool trace prints it."""
    dispatcher, _ = ted_dispatcher(())
    dispatcher.add_event_handler(_broken, "during")
    run = fire_and_settle(dispatcher, "e")
    with pytest.raises(AssertionError) as caught:
        assert_run_completed(run, ted_trace)
    message = str(caught.value)
    assert f"run {run.run_id} ended completed with 1 failed handler(s)" in message
    assert "├── during  (failed)" in message
    assert "_broken  failed  ValueError: disk full" in message


def test_assertion_without_a_trace_lists_the_outcomes(
    ted_dispatcher: Callable[..., tuple[EventDispatcher, Clock]],
) -> None:
    """Without a trace, assert_run_completed lists the outcomes and the abort reason."""
    dispatcher, _ = ted_dispatcher(())
    dispatcher.add_event_handler(_veto, "before")
    run = fire_and_settle(dispatcher, "e")
    with pytest.raises(AssertionError, match=r"ended aborted .*\(aborted: closed\)\n  before: "):
        assert_run_completed(run)
