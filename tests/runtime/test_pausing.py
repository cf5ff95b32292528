"""Pausing: pause()/resume() and ``with dispatcher.paused()`` hold top-level runs in order."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import structlog
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from twisted.internet.defer import Deferred

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, EventRun, QueueFull, RunOrigin, current_call
from twisted_event_dispatcher.tracing import EVENTS


def _is_paused(dispatcher: EventDispatcher) -> bool:
    # Read through a call: mypy narrows a property asserted once to stay as asserted.
    return dispatcher.is_paused


class PauseTests(TestCase):
    """pause(), resume() and paused()."""

    def test_held_runs_wait_and_are_released_in_fire_order(self) -> None:
        """A run fired while paused calls nothing until resume(), which releases runs in order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        dispatcher.pause()
        assert dispatcher.is_paused
        first, second = fire(dispatcher, "a"), fire(dispatcher, "b")
        self.assertNoResult(first)
        self.assertNoResult(second)
        assert recorder.calls == []
        dispatcher.resume()
        assert not _is_paused(dispatcher)
        assert recorder.calls == [("h", "a"), ("h", "b")]
        assert self.successResultOf(first).status == "completed"
        assert self.successResultOf(second).event == "b"

    def test_serial_release_keeps_one_run_at_a_time(self) -> None:
        """Released runs of a serial dispatcher still run one at a time, in fire order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        with dispatcher.paused():
            runs = [fire(dispatcher, name) for name in "abc"]
        assert recorder.calls == [("h", "a")]
        recorder.pending["h"][0].callback(None)
        assert recorder.calls == [("h", "a"), ("h", "b")]
        self.successResultOf(runs[0])
        self.assertNoResult(runs[1])

    def test_pauses_nest(self) -> None:
        """Only the resume() that balances the outermost pause() releases the held runs."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with dispatcher.paused():
            with dispatcher.paused():
                run = fire(dispatcher)
            assert dispatcher.is_paused
            self.assertNoResult(run)
        self.successResultOf(run)
        assert recorder.names() == ["h"]

    def test_resume_without_pause_raises(self) -> None:
        """resume() on a dispatcher that is not paused raises a RuntimeError."""
        dispatcher, _ = started()
        with pytest.raises(RuntimeError, match="not paused"):
            dispatcher.resume()

    def test_paused_releases_on_error(self) -> None:
        """The with block resumes, releasing its runs, when it exits by an exception."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        runs: list[Deferred[EventRun]] = []

        def fire_and_fail() -> None:
            runs.append(fire(dispatcher))
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"), dispatcher.paused():
            fire_and_fail()
        assert not dispatcher.is_paused
        self.successResultOf(runs[0])

    def test_fire_event_from_is_held_too(self) -> None:
        """A run fired on behalf of another process is top-level: it is held as well."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with dispatcher.paused():
            run = dispatcher.fire_event_from(RunOrigin(node="n", run_id="n-1"), "remote")
            self.assertNoResult(run)
        assert self.successResultOf(run).event == "remote"

    def test_children_of_runs_in_flight_are_not_held(self) -> None:
        """A run fired from a handler of a run under way begins at once, paused or not."""
        dispatcher, _ = started("kind")
        recorder = Recorder()
        gate = recorder.deferred("gate")
        add(dispatcher, gate, "before", kind="parent")
        child_runs: list[Deferred[EventRun]] = []

        def fire_child(event: object) -> None:
            child_runs.append(fire(dispatcher, "child", kind="child"))

        add(dispatcher, fire_child, "during", kind="parent")
        add(dispatcher, recorder.sync("child"), "during", kind="child")
        parent = fire(dispatcher, "parent", kind="parent")
        with dispatcher.paused():
            top = fire(dispatcher, "top", kind="child")
            recorder.pending["gate"][0].callback(None)
            assert recorder.calls == [("gate", "parent"), ("child", "child")]
            [child] = child_runs
            assert self.successResultOf(child).parent_run_id == self.successResultOf(parent).run_id
            self.assertNoResult(top)
        self.successResultOf(top)
        assert recorder.calls[-1] == ("child", "top")

    def test_handler_pausing_its_own_dispatcher(self) -> None:
        """A handler may pause: later top-level runs are held, its own run goes on."""
        dispatcher, _ = started()
        recorder = Recorder()

        def pause(event: object) -> None:
            dispatcher.pause()

        add(dispatcher, pause, "before")
        add(dispatcher, recorder.sync("h"), "during")
        first = fire(dispatcher, "a")
        assert self.successResultOf(first).status == "completed"
        assert dispatcher.is_paused
        second = fire(dispatcher, "b")
        self.assertNoResult(second)
        dispatcher.resume()
        self.successResultOf(second)
        assert recorder.calls == [("h", "a"), ("h", "b")]

    def test_handlers_added_while_paused_are_matched(self) -> None:
        """A held run is matched against the handlers registered when it is released."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        with dispatcher.paused():
            run = fire(dispatcher, "e", k=1)
            add(dispatcher, recorder.sync("late"), "during", k=1)
        self.successResultOf(run)
        assert recorder.names() == ["late"]

    def test_cancelled_while_held(self) -> None:
        """Cancelling a held run's Deferred ends it as cancelled; resume() does not start it."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with dispatcher.paused():
            run = fire(dispatcher)
            run.cancel()
            assert self.successResultOf(run).status == "cancelled"
            assert dispatcher.runs_in_flight() == []
        assert recorder.calls == []

    def test_runs_in_flight_lists_held_runs_last(self) -> None:
        """runs_in_flight() lists held runs after the runs under way, in fire order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        busy = fire(dispatcher, "busy")
        with dispatcher.paused():
            fire(dispatcher, "a")
            fire(dispatcher, "b")
            records = dispatcher.runs_in_flight()
        assert [r.phase for r in records] == ["during", None, None]
        assert [r.event_type for r in records] == ["str"] * 3
        assert records[1].run_id < records[2].run_id
        self.assertNoResult(busy)

    def test_max_queued_counts_held_runs(self) -> None:
        """Held runs count against max_queued: one too many fails at once with QueueFull."""
        dispatcher, _ = started(max_queued=2)
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with structlog.testing.capture_logs() as records, dispatcher.paused():
            kept = [fire(dispatcher, "a"), fire(dispatcher, "b")]
            refused = fire(dispatcher, "c")
            self.failureResultOf(refused, QueueFull)
        assert [r["event"] for r in records if r["log_level"] == "warning"] == ["run_rejected"]
        for run in kept:
            self.successResultOf(run)
        assert recorder.calls == [("h", "a"), ("h", "b")]

    def test_runs_cancelled_while_held_are_forgotten(self) -> None:
        """Runs fired and cancelled while paused (a timeout on each) do not pile up."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        dispatcher.pause()
        for _ in range(10_000):
            fire(dispatcher).cancel()
        kept = fire(dispatcher)
        assert len(dispatcher._held) <= 2 * 64  # the memory held is the point
        dispatcher.resume()
        assert self.successResultOf(kept).status == "completed"

    def test_a_run_cancelled_while_held_frees_its_max_queued_slot(self) -> None:
        """Cancelling a held run leaves room under max_queued for the next one fired."""
        dispatcher, _ = started(max_queued=2)
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with dispatcher.paused():
            first, second = fire(dispatcher, "a"), fire(dispatcher, "b")
            first.cancel()
            third = fire(dispatcher, "c")
        assert self.successResultOf(first).status == "cancelled"
        assert [self.successResultOf(run).event for run in (second, third)] == ["b", "c"]

    def test_a_paused_run_sees_its_own_call(self) -> None:
        """A released run's handlers see themselves through current_call(), as any run's do."""
        dispatcher, _ = started()
        seen: list[str | None] = []

        def handler(event: object) -> None:
            call = current_call()
            seen.append(None if call is None else call.phase)

        add(dispatcher, handler, "after")
        with dispatcher.paused():
            fire(dispatcher)
        assert seen == ["after"]


def test_pause_records_follow_the_schema() -> None:
    """Pausing, holding and resuming write records whose events and keys the schema lists."""
    dispatcher, _ = started()
    with structlog.testing.capture_logs() as records, dispatcher.paused():
        fire(dispatcher)
    events = [r["event"] for r in records]
    order = ["dispatcher_paused", "run_queued", "dispatcher_resumed", "run_started"]
    assert [events.index(event) for event in order] == sorted(events.index(e) for e in order)
    for record in records:
        spec = EVENTS[record["event"]]
        assert set(spec.keys) <= record.keys(), record
    [queued] = [r for r in records if r["event"] == "run_queued"]
    assert queued["reason"] == "paused"


class PauseAndStopTests(TestCase):
    """stop() releases the held runs before it stops, so none is lost."""

    def test_stop_releases_held_runs_and_waits_for_them(self) -> None:
        """stop() while paused begins the held runs, and its Deferred waits for them."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        dispatcher.pause()
        first, second = fire(dispatcher, "a"), fire(dispatcher, "b")
        stopped = dispatcher.stop()
        assert recorder.calls == [("h", "a")]
        self.assertNoResult(stopped)
        recorder.pending["h"][0].callback(None)
        recorder.pending["h"][1].callback(None)
        self.successResultOf(stopped)
        assert self.successResultOf(first).status == "completed"
        assert self.successResultOf(second).status == "completed"
        assert dispatcher.is_paused  # the pause outlives the stop

    def test_stop_timeout_cancels_released_runs(self) -> None:
        """A stop() timeout cancels the runs it released, like any run it waits for."""
        dispatcher, clock = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        with structlog.testing.capture_logs(), dispatcher.paused():
            runs = [fire(dispatcher, "a"), fire(dispatcher, "b")]
            stopped = dispatcher.stop(timeout=5)
            clock.advance(5)
        self.successResultOf(stopped)
        assert [self.successResultOf(run).status for run in runs] == ["cancelled", "cancelled"]

    def test_held_after_stop_meet_when_stopped_on_resume(self) -> None:
        """Runs held while stopped meet when_stopped on resume: queued ones begin at start()."""
        dispatcher, _ = started(when_stopped="queue")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        self.successResultOf(dispatcher.stop())
        with dispatcher.paused():
            run = fire(dispatcher)
        self.assertNoResult(run)
        assert len(dispatcher.runs_in_flight()) == 1
        dispatcher.start()
        self.successResultOf(run)
        assert recorder.names() == ["h"]

    def test_dropped_when_released_into_a_stopped_dispatcher(self) -> None:
        """With when_stopped='drop', a run released into a stopped dispatcher ends as dropped."""
        dispatcher, _ = started(when_stopped="drop")
        self.successResultOf(dispatcher.stop())
        with structlog.testing.capture_logs() as records, dispatcher.paused():
            run = fire(dispatcher)
            self.assertNoResult(run)
        assert self.successResultOf(run).status == "dropped"
        assert "run_dropped" in [r["event"] for r in records]


# -- the dispatcher against a model ---------------------------------------------------


@dataclass
class _Model:
    running: bool = True
    depth: int = 0
    held: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    called: list[int] = field(default_factory=list)

    def submit(self, event: int) -> None:
        (self.called if self.running else self.parked).append(event)


class PausingMachine(RuleBasedStateMachine):
    """Pauses, resumes, stops, starts and fires, against a model of which runs were called."""

    def __init__(self) -> None:
        super().__init__()
        self.dispatcher, _ = started(when_stopped="queue")
        self.calls: list[int] = []
        self.runs: dict[int, Deferred[EventRun]] = {}
        self.dispatcher.add_event_handler(self._handle, "during", use_weakref=False)
        self.model = _Model()
        self.next_event = 0

    def _handle(self, event: int) -> None:
        self.calls.append(event)

    @rule()
    def fire(self) -> None:
        """Fire the next event."""
        event = self.next_event
        self.next_event += 1
        self.runs[event] = self.dispatcher.fire_event(event)
        if self.model.depth:
            self.model.held.append(event)
        else:
            self.model.submit(event)

    @rule()
    def pause(self) -> None:
        """Pause once more."""
        self.dispatcher.pause()
        self.model.depth += 1

    @precondition(lambda self: self.model.depth > 0)
    @rule()
    def resume(self) -> None:
        """Balance one pause."""
        self.dispatcher.resume()
        self.model.depth -= 1
        if not self.model.depth:
            for event in self.model.held:
                self.model.submit(event)
            self.model.held.clear()

    @precondition(lambda self: self.model.running)
    @rule()
    def stop(self) -> None:
        """Stop: the held runs are released first."""
        stopped = self.dispatcher.stop()
        for event in self.model.held:
            self.model.submit(event)
        self.model.held.clear()
        self.model.running = False
        assert stopped.called

    @precondition(lambda self: not self.model.running)
    @rule()
    def start(self) -> None:
        """Start: the parked runs begin."""
        self.dispatcher.start()
        self.model.running = True
        self.model.called.extend(self.model.parked)
        self.model.parked.clear()

    @invariant()
    def agrees_with_the_model(self) -> None:
        """Handlers were called for exactly the model's runs, in its order."""
        assert self.calls == self.model.called
        assert self.dispatcher.is_paused == (self.model.depth > 0)
        done = {event for event, run in self.runs.items() if run.called}
        assert done == set(self.model.called)
        waiting = self.model.parked + self.model.held
        assert len(self.dispatcher.runs_in_flight()) == len(waiting)


PausingMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPausingModel = PausingMachine.TestCase
