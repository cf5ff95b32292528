"""stop(timeout=...) ends whatever a handler does, and runs_in_flight() says what is stuck."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from twisted.internet.defer import CancelledError, Deferred

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, EventRun, RunInFlight


def _records(logs: list[MutableMapping[str, Any]], event: str) -> list[MutableMapping[str, Any]]:
    return [log for log in logs if log["event"] == event]


class BoundedStopTests(TestCase):
    """When stop()'s timeout runs out, every run it waits for is cancelled and it fires."""

    def test_stuck_handler_is_cancelled_at_the_timeout(self) -> None:
        """A handler that never settles holds stop() until the timeout, which cancels its run."""
        dispatcher, clock = started()
        recorder = Recorder()
        handler_id = add(dispatcher, recorder.deferred("stuck"), "during")
        with structlog.testing.capture_logs() as logs:
            run = fire(dispatcher)
            stopped = dispatcher.stop(timeout=5)
            clock.advance(4.5)
            self.assertNoResult(stopped)
            clock.advance(0.5)
            assert self.successResultOf(stopped) is None
        ended = self.successResultOf(run)
        assert ended.status == "cancelled"
        [outcome] = ended.outcomes
        assert (outcome.handler_name, outcome.status) == ("support.stuck", "cancelled")
        assert recorder.pending["stuck"][0].called  # cancelled; the run consumed the failure
        assert outcome.failure is not None
        assert outcome.failure.check(CancelledError)
        [summary] = _records(logs, "stop_timed_out")
        assert (summary["log_level"], summary["timeout"], summary["count"]) == ("warning", 5.0, 1)
        assert summary["run_ids"] == [ended.run_id]
        [cancelled] = _records(logs, "run_cancelled")
        assert cancelled["log_level"] == "warning"
        assert cancelled["run_id"] == ended.run_id
        assert cancelled["phase"] == "during"
        assert cancelled["pending_handlers"] == [
            {"handler_id": handler_id, "handler_name": "support.stuck"}
        ]
        assert cancelled["age"] == 5.0
        assert clock.getDelayedCalls() == []

    def test_runs_that_end_in_time_cancel_the_timer(self) -> None:
        """A stop() that drains before its timeout fires then, and leaves no timer behind."""
        dispatcher, clock = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "during")
        run = fire(dispatcher)
        with structlog.testing.capture_logs() as logs:
            stopped = dispatcher.stop(timeout=5)
            clock.advance(1)
            recorder.pending["slow"][0].callback(None)
            self.successResultOf(stopped)
            assert clock.getDelayedCalls() == []
            clock.advance(10)
        assert self.successResultOf(run).status == "completed"
        assert _records(logs, "stop_timed_out") == []
        assert _records(logs, "run_cancelled") == []

    def test_idle_dispatcher_needs_no_timer(self) -> None:
        """stop(timeout) on a dispatcher with nothing in flight fires at once, with no timer."""
        dispatcher, clock = started()
        self.successResultOf(dispatcher.stop(timeout=5))
        assert clock.getDelayedCalls() == []
        self.successResultOf(dispatcher.stop(timeout=5))

    def test_start_works_after_a_timed_out_stop(self) -> None:
        """After a timed-out stop the dispatcher starts again, and serial runs go through."""
        dispatcher, clock = started()
        recorder = Recorder()
        stuck: Deferred[None] = Deferred()
        keep = [lambda _e: stuck]
        add(dispatcher, keep[0], "during", max_calls=1)
        add(dispatcher, recorder.sync("after"), "after")
        first = fire(dispatcher, "first")
        stopped = dispatcher.stop(timeout=1)
        clock.advance(1)
        self.successResultOf(stopped)
        assert self.successResultOf(first).status == "cancelled"
        dispatcher.start()
        second = self.successResultOf(fire(dispatcher, "second"))
        assert second.status == "completed"
        assert recorder.calls == [("after", "second")]
        assert dispatcher.runs_in_flight() == []

    def test_runs_waiting_their_serial_turn_are_cancelled_too(self) -> None:
        """Runs queued behind a stuck serial run are cancelled at the timeout, never started."""
        dispatcher, clock = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        runs = [fire(dispatcher, n) for n in range(3)]
        stopped = dispatcher.stop(timeout=2)
        clock.advance(2)
        self.successResultOf(stopped)
        assert [self.successResultOf(d).status for d in runs] == ["cancelled"] * 3
        assert recorder.calls == [("h", 0)]

    def test_chain_of_children_is_cancelled(self) -> None:
        """A parent awaiting a stuck child: both end cancelled at the timeout."""
        dispatcher, clock = started("kind")
        children: list[EventRun] = []
        stuck: Deferred[None] = Deferred()

        async def parent(event: object) -> None:
            children.append(await dispatcher.fire_event("child", kind="child"))

        keep = [parent, lambda _e: stuck]
        add(dispatcher, keep[0], "during", kind="parent")
        add(dispatcher, keep[1], "during", kind="child")
        root = fire(dispatcher, "root", kind="parent")
        assert [r.phase for r in dispatcher.runs_in_flight()] == ["during", "during"]
        stopped = dispatcher.stop(timeout=3)
        clock.advance(3)
        self.successResultOf(stopped)
        assert self.successResultOf(root).status == "cancelled"
        assert [c.status for c in children] == ["cancelled"]
        assert dispatcher.runs_in_flight() == []

    def test_children_fired_while_being_cancelled_do_not_hold_the_stop(self) -> None:
        """A handler that fires a child when cancelled gets it dropped; the stop still fires."""
        dispatcher, clock = started("kind")
        cleanups: list[Deferred[EventRun]] = []
        stuck: Deferred[None] = Deferred()

        async def stubborn(event: object) -> None:
            try:
                await stuck
            except CancelledError:
                cleanups.append(dispatcher.fire_event("cleanup", kind="cleanup"))
                raise

        keep = [stubborn, lambda _e: Deferred()]
        add(dispatcher, keep[0], "during", kind="work")
        add(dispatcher, keep[1], "during", kind="cleanup")
        run = fire(dispatcher, "work", kind="work")
        stopped = dispatcher.stop(timeout=1)
        clock.advance(1)
        self.successResultOf(stopped)
        assert self.successResultOf(run).status == "cancelled"
        assert [self.successResultOf(d).status for d in cleanups] == ["dropped"]

    def test_raising_canceller_does_not_hold_the_stop(self) -> None:
        """A handler Deferred whose canceller raises: the stop fires and the run is cancelled."""
        dispatcher, clock = started()

        def explode(deferred: Deferred[None]) -> None:
            raise RuntimeError("canceller broke")

        keep: list[Any] = [lambda _e: Deferred(explode)]
        add(dispatcher, keep[0], "during", max_calls=1)
        run = fire(dispatcher)
        with structlog.testing.capture_logs():
            stopped = dispatcher.stop(timeout=1)
            clock.advance(1)
        self.successResultOf(stopped)
        assert self.successResultOf(run).status == "cancelled"
        assert dispatcher.runs_in_flight() == []
        dispatcher.start()
        assert self.successResultOf(fire(dispatcher)).status == "completed"

    def test_first_timeout_ends_every_pending_stop(self) -> None:
        """With two stop() calls pending, the shorter timeout ends both."""
        dispatcher, clock = started()
        keep: list[Any] = [lambda _e: Deferred()]
        add(dispatcher, keep[0], "during")
        fire(dispatcher)
        patient = dispatcher.stop()
        hasty = dispatcher.stop(timeout=2)
        clock.advance(2)
        self.successResultOf(patient)
        self.successResultOf(hasty)
        assert clock.getDelayedCalls() == []

    def test_timeout_of_an_earlier_stop_does_not_touch_a_later_period(self) -> None:
        """A stop that drained in time leaves the next running period alone when time passes."""
        dispatcher, clock = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher)
        stopped = dispatcher.stop(timeout=5)
        recorder.pending["h"][0].callback(None)
        self.successResultOf(stopped)
        dispatcher.start()
        second = fire(dispatcher)
        clock.advance(10)
        self.assertNoResult(second)
        assert self.successResultOf(first).status == "completed"


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(0, ValueError), (-1, ValueError), (float("inf"), ValueError), ("5", TypeError)],
)
def test_bad_timeouts_are_refused(timeout: Any, error: type[Exception]) -> None:
    """stop() refuses a timeout that is not a positive, finite number, naming it."""
    dispatcher, _ = started()
    with pytest.raises(error, match="timeout"):
        dispatcher.stop(timeout=timeout)
    assert dispatcher.running


class RunsInFlightTests(TestCase):
    """runs_in_flight() lists the runs that have not ended, for operators."""

    def test_records_describe_each_run(self) -> None:
        """Each record names the run, its phase, what it waits for and its age."""
        dispatcher, clock = started("kind")
        recorder = Recorder()
        first_id = add(dispatcher, recorder.deferred("first"), "during", kind="a")
        add(dispatcher, recorder.sync("quick"), "during", kind="a")
        second_id = add(dispatcher, recorder.deferred("second"), "during", kind="a")
        clock.advance(10)
        running = fire(dispatcher, 1, kind="a")
        clock.advance(2)
        waiting = fire(dispatcher, "two", kind="a")
        clock.advance(1)
        records = dispatcher.runs_in_flight()
        assert all(isinstance(record, RunInFlight) for record in records)
        assert [
            (r.event_type, r.phase, r.waiting, r.pending_handlers, r.age, r.parent_run_id)
            for r in records
        ] == [
            (
                "int",
                "during",
                False,
                ((first_id, "support.first"), (second_id, "support.second")),
                3.0,
                None,
            ),
            ("str", None, True, (), 1.0, None),
        ]
        recorder.pending["first"][0].callback(None)
        [record, _] = dispatcher.runs_in_flight()
        assert record.pending_handlers == ((second_id, "support.second"),)
        recorder.pending["second"][0].callback(None)
        self.successResultOf(running)
        [record] = dispatcher.runs_in_flight()
        assert (record.event_type, record.phase, record.age) == ("str", "during", 1.0)
        recorder.pending["first"][1].callback(None)
        recorder.pending["second"][1].callback(None)
        self.successResultOf(waiting)
        assert dispatcher.runs_in_flight() == []

    def test_children_and_parked_runs(self) -> None:
        """A child names its parent; a run parked for start() is listed as waiting."""
        dispatcher = EventDispatcher(("kind",), when_stopped="queue", reactor=_clock())
        dispatcher.start()
        stuck: Deferred[None] = Deferred()

        async def parent(event: object) -> None:
            await dispatcher.fire_event("child", kind="child")

        keep = [parent, lambda _e: stuck]
        add(dispatcher, keep[0], "during", kind="parent")
        add(dispatcher, keep[1], "during", kind="child")
        root = fire(dispatcher, "root", kind="parent")
        dispatcher.stop()
        parked = fire(dispatcher, "later", kind="child")
        records = dispatcher.runs_in_flight()
        assert [(r.parent_run_id, r.phase) for r in records] == [
            (None, "during"),
            (records[0].run_id, "during"),
            (None, None),
        ]
        root.cancel()
        parked.cancel()
        assert dispatcher.runs_in_flight() == []

    def test_records_are_read_only(self) -> None:
        """A record cannot be changed."""
        dispatcher, _ = started()
        keep: list[Any] = [lambda _e: Deferred()]
        add(dispatcher, keep[0], "during")
        fire(dispatcher)
        [record] = dispatcher.runs_in_flight()
        with pytest.raises(AttributeError):
            record.phase = "other"  # type: ignore[misc]


def _clock() -> Any:
    from twisted.internet.task import Clock

    return Clock()
