"""EventRun.outcomes lists the handler calls in call order; settled_at gives the settle order."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventRun


def _names(run: EventRun) -> list[tuple[str, str]]:
    return [(o.handler_name.rsplit(".", 1)[-1], o.status) for o in run.outcomes]


class OutcomeOrderTests(TestCase):
    """Outcomes keep the order the handlers were called in, whatever order they settle in."""

    def test_pending_results_settling_in_reverse(self) -> None:
        """Handlers whose Deferreds settle in reverse order are listed in call order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("first"), "during")
        add(dispatcher, recorder.sync("second"), "during")
        add(dispatcher, recorder.deferred("third"), "during")
        add(dispatcher, recorder.sync("after"), "after")
        d = fire(dispatcher)
        recorder.pending["third"][0].callback(3)
        recorder.pending["first"][0].callback(1)
        run = self.successResultOf(d)
        assert _names(run) == [
            ("first", "succeeded"),
            ("second", "succeeded"),
            ("third", "succeeded"),
            ("after", "succeeded"),
        ]
        assert [o.result for o in run.outcomes] == [1, None, 3, None]

    def test_timed_out_handlers_in_call_order(self) -> None:
        """Handlers that time out at different times are listed in call order."""
        dispatcher, clock = started(handler_timeout=10)
        recorder = Recorder()
        add(dispatcher, recorder.deferred("forever"), "during")
        add(dispatcher, recorder.deferred("sluggish"), "during", timeout=2)
        d = fire(dispatcher)
        clock.advance(2)
        clock.advance(8)
        run = self.successResultOf(d)
        assert _names(run) == [("forever", "timed_out"), ("sluggish", "timed_out")]
        assert [o.settled_at for o in run.outcomes] == [10.0, 2.0]

    def test_cancelled_run_in_call_order(self) -> None:
        """A run cancelled after some handlers settled lists every call in call order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("a"), "during")
        add(dispatcher, recorder.deferred("b"), "during")
        add(dispatcher, recorder.deferred("c"), "during")
        d = fire(dispatcher)
        recorder.pending["c"][0].callback(None)
        d.cancel()
        run = self.successResultOf(d)
        assert _names(run) == [("a", "cancelled"), ("b", "cancelled"), ("c", "succeeded")]

    def test_failures_in_call_order(self) -> None:
        """Failed and succeeded outcomes interleave in call order; failures keep that order."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("a"), "during")
        add(dispatcher, recorder.failing("b", ValueError("b")), "during")
        add(dispatcher, recorder.deferred("c"), "during")
        d = fire(dispatcher)
        recorder.pending["c"][0].errback(KeyError("c"))
        recorder.pending["a"][0].errback(KeyError("a"))
        run = self.successResultOf(d)
        assert _names(run) == [("a", "failed"), ("b", "failed"), ("c", "failed")]
        assert [o.handler_name.rsplit(".", 1)[-1] for o in run.failures] == ["a", "b", "c"]

    def test_settled_at_rebuilds_settle_order(self) -> None:
        """settled_at is the reactor time a call settled at; sorting by it gives settle order."""
        dispatcher, clock = started()
        keep: list[Any] = []

        def slow(event: object) -> Deferred[None]:
            return deferLater(clock, 5)

        def quick(event: object) -> Deferred[None]:
            return deferLater(clock, 1)

        def instant(event: object) -> None:
            return None

        keep.extend([slow, quick, instant])
        for handler in keep:
            add(dispatcher, handler, "during")
        clock.advance(7)
        d = fire(dispatcher)
        clock.advance(1)
        clock.advance(4)
        run = self.successResultOf(d)
        assert [o.handler_name.rsplit(".", 1)[-1] for o in run.outcomes] == [
            "slow",
            "quick",
            "instant",
        ]
        assert [o.settled_at for o in run.outcomes] == [12.0, 8.0, 7.0]
        assert [o.duration for o in run.outcomes] == [5.0, 1.0, 0.0]
        by_settle = sorted(run.outcomes, key=lambda o: o.settled_at)
        assert [o.handler_name.rsplit(".", 1)[-1] for o in by_settle] == [
            "instant",
            "quick",
            "slow",
        ]

    def test_run_cancelled_by_its_own_handler(self) -> None:
        """A run its own handler cancels is delivered without gaps, and complete in call order.

        The handler still pending when the run is delivered is added, as
        cancelled, in its call slot once the cancelling handler returns.
        """
        dispatcher, _ = started()
        recorder = Recorder()
        seen: list[list[tuple[str, str]]] = []
        runs: list[Deferred[EventRun]] = []

        def look(run: EventRun) -> EventRun:
            seen.append(_names(run))
            return run

        def cancel_own_run(event: object) -> None:
            runs[0].addCallback(look)
            runs[0].cancel()

        add(dispatcher, recorder.deferred("gate"), "before")
        add(dispatcher, recorder.deferred("pending"), "during")
        add(dispatcher, cancel_own_run, "during")
        add(dispatcher, recorder.sync("never"), "during")
        runs.append(fire(dispatcher))
        recorder.pending["gate"][0].callback(None)
        run = self.successResultOf(runs[0])
        assert seen == [[("gate", "succeeded")]]
        assert _names(run) == [
            ("gate", "succeeded"),
            ("pending", "cancelled"),
            ("cancel_own_run", "succeeded"),
        ]
        assert recorder.names() == ["gate", "pending"]
