"""Re-entrant inputs: handlers that cancel runs or settle results mid-transition."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, EventRun


def _statuses(run: EventRun) -> list[tuple[str, str]]:
    return [(o.handler_name.rsplit(".", 1)[-1], o.status) for o in run.outcomes]


class ReentrantCancelTests(TestCase):
    """A run's Deferred cancelled from inside one of its own handlers."""

    def test_handler_cancels_its_own_run(self) -> None:
        """A handler cancelling its own run calls no further handler and breaks nothing."""
        dispatcher, _ = started()
        recorder = Recorder()
        runs: list[Deferred[EventRun]] = []

        def canceller(event: object) -> None:
            runs[0].cancel()

        add(dispatcher, recorder.deferred("gate"), "before")
        add(dispatcher, canceller, "during")
        add(dispatcher, recorder.sync("neighbour"), "during")
        add(dispatcher, recorder.sync("skipped"), "after")
        runs.append(fire(dispatcher))
        recorder.pending["gate"][0].callback(None)
        # No further handler is called, not even in the same phase, and the run is
        # delivered as cancelled, as a cancel from outside would deliver it.
        run = self.successResultOf(runs[0])
        assert run.status == "cancelled"
        assert _statuses(run) == [("gate", "succeeded"), ("canceller", "succeeded")]
        assert recorder.names() == ["gate"]
        self.successResultOf(dispatcher.stop())

    def test_settle_queued_behind_cancel(self) -> None:
        """A result settled right after a re-entrant cancel is ignored, not an error."""
        dispatcher, _ = started()
        recorder = Recorder()
        runs: list[Deferred[EventRun]] = []

        def cancel_then_settle(event: object) -> None:
            runs[0].cancel()
            recorder.pending["slow"][0].callback("late")

        add(dispatcher, recorder.deferred("gate"), "before")
        add(dispatcher, recorder.deferred("slow"), "during")
        add(dispatcher, cancel_then_settle, "during")
        runs.append(fire(dispatcher))
        recorder.pending["gate"][0].callback(None)
        run = self.successResultOf(runs[0])
        assert run.status == "cancelled"
        # In call order: slow was called before the handler that cancelled the run.
        assert _statuses(run) == [
            ("gate", "succeeded"),
            ("slow", "cancelled"),
            ("cancel_then_settle", "succeeded"),
        ]
        self.successResultOf(dispatcher.stop())

    def test_cancel_queued_behind_a_settle(self) -> None:
        """A settle queued before a re-entrant cancel is recorded; then the run is cancelled."""
        dispatcher, _ = started()
        recorder = Recorder()
        runs: list[Deferred[EventRun]] = []

        def settle_then_cancel(event: object) -> None:
            recorder.pending["slow"][0].callback(None)
            runs[0].cancel()

        add(dispatcher, recorder.deferred("gate"), "before")
        add(dispatcher, recorder.deferred("slow"), "after")
        add(dispatcher, settle_then_cancel, "after")
        runs.append(fire(dispatcher))
        recorder.pending["gate"][0].callback(None)
        run = self.successResultOf(runs[0])
        assert run.status == "cancelled"
        assert _statuses(run) == [
            ("gate", "succeeded"),
            ("slow", "succeeded"),
            ("settle_then_cancel", "succeeded"),
        ]
        self.successResultOf(dispatcher.stop())

    def test_cancel_a_run_about_to_begin(self) -> None:
        """A run cancelled by another run's handler before its own begin is never started."""
        dispatcher = EventDispatcher(
            ("name",), reactor=Clock(), ordering="concurrent", when_stopped="queue"
        )
        recorder = Recorder()
        runs: dict[str, Deferred[EventRun]] = {}

        def cancel_b(event: object) -> None:
            runs["b"].cancel()

        add(dispatcher, cancel_b, "during", name="a")
        add(dispatcher, recorder.sync("b-handler"), "during", name="b")
        runs["a"] = fire(dispatcher, "a", name="a")
        runs["b"] = fire(dispatcher, "b", name="b")
        dispatcher.start()
        assert self.successResultOf(runs["a"]).status == "completed"
        assert self.successResultOf(runs["b"]).status == "cancelled"
        assert recorder.calls == []
        self.successResultOf(dispatcher.stop())

    def test_cancel_serial_holder_from_child_callback(self) -> None:
        """Cancelling the run that holds the serial slot hands the slot to the next run."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher, 1)
        second = fire(dispatcher, 2)
        first.cancel()
        assert self.successResultOf(first).status == "cancelled"
        assert recorder.calls == [("h", 1), ("h", 2)]
        recorder.pending["h"][1].callback(None)
        assert self.successResultOf(second).status == "completed"


def test_pending_result_settled_by_a_later_handler() -> None:
    """A pending result that a later handler of the same phase settles ends the phase normally."""
    dispatcher, _ = started()
    recorder = Recorder()

    def settle_earlier(event: object) -> Any:
        recorder.pending["first"][0].callback("from a neighbour")

    add(dispatcher, recorder.deferred("first"), "during")
    add(dispatcher, settle_earlier, "during")
    add(dispatcher, recorder.sync("after"), "after")
    results: list[EventRun] = []
    fire(dispatcher).addCallback(results.append)
    [run] = results
    assert run.status == "completed"
    assert [(o.handler_name.rsplit(".", 1)[-1], o.result) for o in run.outcomes] == [
        ("first", "from a neighbour"),
        ("settle_earlier", None),
        ("after", None),
    ]
