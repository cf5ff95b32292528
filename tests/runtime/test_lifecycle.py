"""Rules 14-15: the lifecycle, stop and drain, and firing while stopped."""

from __future__ import annotations

from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    EventRun,
    QueueFull,
)


def stopped(*keywords: str, **options: Any) -> EventDispatcher:
    """Return a new (stopped) dispatcher on a Clock."""
    return EventDispatcher(keywords, reactor=Clock(), **options)


class LifecycleTests(TestCase):
    """Rule 14: stopped, running, stopping."""

    def test_new_dispatcher_is_stopped(self) -> None:
        """A new dispatcher is not running; start() runs it; starting twice changes nothing."""
        dispatcher = stopped()
        assert dispatcher.running is False
        dispatcher.start()
        dispatcher.start()
        assert dispatcher.running is True

    def test_running_false_from_stop(self) -> None:
        """Running is False from the moment stop() is called, while runs still drain."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        run = fire(dispatcher)
        done = dispatcher.stop()
        assert dispatcher.running is False
        self.assertNoResult(done)
        recorder.pending["h"][0].callback(None)
        self.successResultOf(run)
        self.successResultOf(done)

    def test_stop_waits_for_queued_runs(self) -> None:
        """stop()'s Deferred fires once in-flight and serially queued runs have all ended."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher, 1)
        second = fire(dispatcher, 2)
        done = dispatcher.stop()
        recorder.pending["h"][0].callback(None)
        self.assertNoResult(done)
        recorder.pending["h"][1].callback(None)
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(done)

    def test_no_run_starts_after_stop(self) -> None:
        """A run fired after stop() does not start (it is dropped by default)."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher, 1)
        done = dispatcher.stop()
        late = fire(dispatcher, 2)
        assert self.successResultOf(late).status == "dropped"
        recorder.pending["h"][0].callback(None)
        self.successResultOf(done)
        assert recorder.calls == [("h", 1)]

    def test_stop_when_idle_or_stopped(self) -> None:
        """stop() on an idle or a stopped dispatcher fires at once."""
        dispatcher, _ = started()
        self.successResultOf(dispatcher.stop())
        self.successResultOf(dispatcher.stop())
        assert self.successResultOf(stopped().stop()) is None

    def test_stop_twice_while_stopping(self) -> None:
        """Every stop() Deferred fires when the drain completes."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher)
        first, second = dispatcher.stop(), dispatcher.stop()
        self.assertNoResult(first)
        recorder.pending["h"][0].callback(None)
        self.successResultOf(first)
        self.successResultOf(second)

    def test_start_while_stopping(self) -> None:
        """start() while stopping raises RuntimeError saying to wait for stop()."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher)
        done = dispatcher.stop()
        with pytest.raises(RuntimeError, match="while it is stopping"):
            dispatcher.start()
        recorder.pending["h"][0].callback(None)
        self.successResultOf(done)
        dispatcher.start()
        assert dispatcher.running

    def test_restart(self) -> None:
        """A stopped dispatcher starts again and dispatches."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        self.successResultOf(dispatcher.stop())
        dispatcher.start()
        self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["h"]

    def test_handler_stops_the_dispatcher(self) -> None:
        """A handler that stops the dispatcher lets its own run finish; stop fires after it."""
        dispatcher, _ = started()
        recorder = Recorder()
        stops: list[Deferred[None]] = []

        def stopper(event: object) -> None:
            stops.append(dispatcher.stop())

        add(dispatcher, recorder.deferred("gate"), "before")
        add(dispatcher, stopper, "during", max_calls=1)
        add(dispatcher, recorder.sync("after"), "after")
        run = fire(dispatcher, "first")
        queued = fire(dispatcher, "queued-before-stop")
        recorder.pending["gate"][0].callback(None)
        assert dispatcher.running is False
        assert self.successResultOf(run).status == "completed"
        # The run that waited its serial turn when stop() was called drains too.
        self.assertNoResult(stops[0])
        late = fire(dispatcher, "fired-after-stop")
        assert self.successResultOf(late).status == "dropped"
        recorder.pending["gate"][1].callback(None)
        assert self.successResultOf(queued).status == "completed"
        self.successResultOf(stops[0])
        assert recorder.calls == [
            ("gate", "first"),
            ("after", "first"),
            ("gate", "queued-before-stop"),
            ("after", "queued-before-stop"),
        ]

    def test_stop_callback_restarts(self) -> None:
        """A callback on stop()'s Deferred may start the dispatcher and fire at once."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        runs: list[Deferred[EventRun]] = []

        def restart(_: object) -> None:
            dispatcher.start()
            runs.append(fire(dispatcher, "again"))

        dispatcher.stop().addCallback(restart)
        assert self.successResultOf(runs[0]).status == "completed"
        assert recorder.calls == [("h", "again")]


class WhenStoppedTests(TestCase):
    """Rule 15: what firing does while stopped."""

    def test_drop(self) -> None:
        """when_stopped='drop' ends the run 'dropped' and logs a warning."""
        dispatcher = stopped("k")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        with structlog.testing.capture_logs() as logs:
            run = self.successResultOf(fire(dispatcher, "e", k=1))
        assert run.status == "dropped"
        assert run.outcomes == []
        assert recorder.calls == []
        [warning] = [e for e in logs if e["log_level"] == "warning"]
        assert warning["event"] == "run_dropped"
        assert warning["run_id"] == run.run_id
        assert warning["details"] == {"k": "1"}

    def test_queue(self) -> None:
        """when_stopped='queue' keeps runs and dispatches them in order on start()."""
        dispatcher = stopped(when_stopped="queue")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        first, second = fire(dispatcher, 1), fire(dispatcher, 2)
        self.assertNoResult(first)
        dispatcher.start()
        self.successResultOf(first)
        self.successResultOf(second)
        assert recorder.calls == [("h", 1), ("h", 2)]

    def test_queue_matches_at_start(self) -> None:
        """A queued run calls the handlers registered when it begins, not when it was fired."""
        dispatcher = stopped(when_stopped="queue")
        recorder = Recorder()
        run = fire(dispatcher)
        add(dispatcher, recorder.sync("h"), "during")
        dispatcher.start()
        self.successResultOf(run)
        assert recorder.names() == ["h"]

    def test_queue_limit(self) -> None:
        """Beyond max_queued, firing fails with QueueFull and the queued runs are kept."""
        dispatcher = stopped(when_stopped="queue", max_queued=2)
        first, second = fire(dispatcher, 1), fire(dispatcher, 2)
        third = fire(dispatcher, 3)
        failure = self.failureResultOf(third, QueueFull)
        assert "max_queued=2" in str(failure.value)
        dispatcher.start()
        assert self.successResultOf(first).event == 1
        assert self.successResultOf(second).event == 2

    def test_serial_backlog_counts_towards_max_queued(self) -> None:
        """While running, runs waiting their serial turn count towards max_queued."""
        dispatcher, _ = started(max_queued=1)
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher, 1)
        fire(dispatcher, 2)
        self.failureResultOf(fire(dispatcher, 3), QueueFull)

    def test_cancel_queued_while_stopped(self) -> None:
        """Cancelling a run queued while stopped ends it 'cancelled'; start() skips it."""
        dispatcher = stopped(when_stopped="queue")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        first, second = fire(dispatcher, 1), fire(dispatcher, 2)
        first.cancel()
        assert self.successResultOf(first).status == "cancelled"
        dispatcher.start()
        self.successResultOf(second)
        assert recorder.calls == [("h", 2)]

    def test_error(self) -> None:
        """when_stopped='error' fails the run's Deferred with DispatcherNotRunning."""
        dispatcher = stopped(when_stopped="error")
        failure = self.failureResultOf(fire(dispatcher, "e"), DispatcherNotRunning)
        assert isinstance(failure.value, RuntimeError)
        assert "call start() first" in str(failure.value)

    def test_error_while_stopping(self) -> None:
        """when_stopped='error' also refuses runs fired while stopping."""
        dispatcher, _ = started(when_stopped="error")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher)
        dispatcher.stop()
        failure = self.failureResultOf(fire(dispatcher), DispatcherNotRunning)
        assert "stopping" in str(failure.value)

    def test_queue_while_stopping(self) -> None:
        """when_stopped='queue' keeps runs fired while stopping for the next start()."""
        dispatcher, _ = started(when_stopped="queue")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher, 1)
        done = dispatcher.stop()
        parked = fire(dispatcher, 2)
        with structlog.testing.capture_logs() as logs:
            recorder.pending["h"][0].callback(None)
        self.successResultOf(done)
        self.assertNoResult(parked)
        [warning] = [e for e in logs if e["log_level"] == "warning"]
        assert (warning["event"], warning["count"]) == ("runs_still_queued", 1)
        dispatcher.start()
        recorder.pending["h"][1].callback(None)
        assert self.successResultOf(parked).event == 2

    def test_cancel_parked_while_stopping(self) -> None:
        """Cancelling a run parked while stopping does not disturb the drain."""
        dispatcher, _ = started(when_stopped="queue")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        fire(dispatcher, 1)
        done = dispatcher.stop()
        parked = fire(dispatcher, 2)
        parked.cancel()
        self.assertNoResult(done)
        recorder.pending["h"][0].callback(None)
        self.successResultOf(done)
        assert self.successResultOf(parked).status == "cancelled"


def test_global_reactor_is_looked_up_lazily() -> None:
    """Without a reactor argument the dispatcher uses the global reactor, looked up on demand."""
    from twisted.internet import reactor

    dispatcher = EventDispatcher(())
    assert dispatcher.reactor is reactor
