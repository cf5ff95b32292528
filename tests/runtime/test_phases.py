"""Rules 4-7: phases in order, waiting for results, failures, timeouts and cancellation."""

from __future__ import annotations

import gc
from typing import Any

import structlog
from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks, succeed
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, EventRun, HandlerTimedOut


class PhaseOrderTests(TestCase):
    """Rule 4: phases in configured order, handlers in registration order."""

    def test_phases_run_in_configured_order(self) -> None:
        """Handlers run phase by phase in the configured order, whatever the registration order."""
        dispatcher, _ = started(phases=("one", "two", "three"))
        recorder = Recorder()
        add(dispatcher, recorder.sync("c"), "three")
        add(dispatcher, recorder.sync("a"), "one")
        add(dispatcher, recorder.sync("b"), "two")
        self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["a", "b", "c"]

    def test_registration_order_within_a_phase(self) -> None:
        """Inside a phase, handlers of different specs are called in registration order."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        add(dispatcher, recorder.sync("1"), "during", k=1)
        add(dispatcher, recorder.sync("2"), "during")
        add(dispatcher, recorder.sync("3"), "during", k=1)
        add(dispatcher, recorder.sync("4"), "during", k=None)
        self.successResultOf(fire(dispatcher, k=1))
        assert recorder.names() == ["1", "2", "3", "4"]

    def test_all_started_before_any_awaited(self) -> None:
        """Every handler of a phase is called before any of their Deferreds is waited for."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("a"), "during")
        add(dispatcher, recorder.deferred("b"), "during")
        add(dispatcher, recorder.sync("after"), "after")
        d = fire(dispatcher)
        assert recorder.names() == ["a", "b"]
        recorder.pending["b"][0].callback(None)
        self.assertNoResult(d)
        assert recorder.names() == ["a", "b"]
        recorder.pending["a"][0].callback(None)
        assert recorder.names() == ["a", "b", "after"]
        self.successResultOf(d)

    def test_next_phase_waits_for_deferreds(self) -> None:
        """The next phase starts only once every pending Deferred of the phase has settled."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "before")
        add(dispatcher, recorder.sync("next"), "during")
        d = fire(dispatcher)
        assert recorder.names() == ["slow"]
        recorder.pending["slow"][0].callback("done")
        run = self.successResultOf(d)
        assert recorder.names() == ["slow", "next"]
        assert [o.result for o in run.outcomes] == ["done", None]

    def test_coroutine_handlers_are_awaited(self) -> None:
        """A coroutine handler's phase waits for the coroutine, which may await Deferreds."""
        dispatcher, clock = started()
        recorder = Recorder()
        gate: Deferred[str] = Deferred()

        async def handler(event: object) -> str:
            value = await gate
            await deferLater(clock, 1.0)
            return value * 2

        add(dispatcher, handler, "before")
        add(dispatcher, recorder.sync("next"), "during")
        d = fire(dispatcher)
        self.assertNoResult(d)
        gate.callback("ab")
        self.assertNoResult(d)
        clock.advance(1.0)
        run = self.successResultOf(d)
        assert run.outcomes[0].result == "abab"
        assert run.outcomes[0].duration == 1.0
        assert recorder.names() == ["next"]

    def test_inline_callbacks_handlers_are_awaited(self) -> None:
        """An inlineCallbacks handler is waited for like any Deferred-returning handler."""
        dispatcher, clock = started()

        @inlineCallbacks
        def handler(event: object) -> Any:
            yield deferLater(clock, 2.0)
            return "ok"

        add(dispatcher, handler, "during")
        d = fire(dispatcher)
        self.assertNoResult(d)
        clock.advance(2.0)
        assert self.successResultOf(d).outcomes[0].result == "ok"

    def test_settled_results_need_no_reactor(self) -> None:
        """Plain values and already-fired Deferreds complete the run synchronously."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("plain", 1), "before")
        keep = [lambda _e: succeed(2)]
        add(dispatcher, keep[0], "during")
        run = self.successResultOf(fire(dispatcher))
        assert [(o.status, o.result) for o in run.outcomes] == [("succeeded", 1), ("succeeded", 2)]

    def test_durations_come_from_the_reactor_clock(self) -> None:
        """An outcome's duration is read off the dispatcher's clock."""
        dispatcher, clock = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "during")
        d = fire(dispatcher)
        clock.advance(3.5)
        recorder.pending["slow"][0].callback(None)
        assert self.successResultOf(d).outcomes[0].duration == 3.5

    def test_run_record(self) -> None:
        """The EventRun carries the run id, event, details, status and outcomes."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        add(dispatcher, recorder.sync("h"), "during")
        run = self.successResultOf(fire(dispatcher, "evt", k=1))
        assert isinstance(run, EventRun)
        assert run.run_id
        assert run.parent_run_id is None
        assert (run.event, run.details, run.status) == ("evt", {"k": 1}, "completed")
        [outcome] = run.outcomes
        assert outcome.handler_name.endswith("h")
        assert outcome.phase == "during"
        assert run.failures == []


class FailureTests(TestCase):
    """Rule 5: a failing handler never breaks anything, and its failure is kept and logged."""

    def test_raising_handler_is_an_outcome(self) -> None:
        """A handler that raises is a failed outcome; the other handlers and phases still run."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.failing("bad", ValueError("boom")), "during")
        add(dispatcher, recorder.sync("good"), "during")
        add(dispatcher, recorder.sync("later"), "after")
        with structlog.testing.capture_logs() as logs:
            run = self.successResultOf(fire(dispatcher))
        assert recorder.names() == ["bad", "good", "later"]
        assert run.status == "completed"
        [failed] = run.failures
        assert failed.status == "failed"
        assert failed.failure is not None
        assert failed.failure.check(ValueError)
        errors = [e for e in logs if e["log_level"] == "error"]
        assert len(errors) == 1
        assert errors[0]["event"] == "handler_settled"
        assert errors[0]["exception_type"] == "ValueError"
        assert errors[0]["exception_message"] == "boom"
        assert errors[0]["exc_info"][1] is failed.failure.value

    def test_failed_deferred_is_consumed(self) -> None:
        """A handler Deferred that fails later is recorded and never logged as unhandled."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("later"), "during")
        d = fire(dispatcher)
        recorder.pending["later"][0].errback(RuntimeError("late"))
        run = self.successResultOf(d)
        assert [o.status for o in run.failures] == ["failed"]
        del recorder.pending["later"]
        gc.collect()
        assert self.flushLoggedErrors() == []

    def test_failing_coroutine(self) -> None:
        """A coroutine handler that raises is a failed outcome."""
        dispatcher, _ = started()

        async def handler(event: object) -> None:
            raise KeyError("nope")

        add(dispatcher, handler, "during")
        run = self.successResultOf(fire(dispatcher))
        [failed] = run.failures
        assert failed.failure is not None
        assert failed.failure.check(KeyError)

    def test_later_events_unaffected(self) -> None:
        """After a handler failed, later events run normally."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.failing("bad", ValueError()), "during")
        self.successResultOf(fire(dispatcher, "one"))
        run = self.successResultOf(fire(dispatcher, "two"))
        assert recorder.calls == [("bad", "one"), ("bad", "two")]
        assert run.status == "completed"

    def test_abort_skips_remaining_phases(self) -> None:
        """With on_handler_error='abort' a failed phase ends the run 'aborted' after it settles."""
        dispatcher, _ = started(on_handler_error="abort")
        recorder = Recorder()
        add(dispatcher, recorder.failing("bad", ValueError()), "before")
        add(dispatcher, recorder.deferred("sibling"), "before")
        add(dispatcher, recorder.sync("skipped"), "during")
        d = fire(dispatcher)
        self.assertNoResult(d)
        recorder.pending["sibling"][0].callback(None)
        run = self.successResultOf(d)
        assert run.status == "aborted"
        assert recorder.names() == ["bad", "sibling"]

    def test_abort_after_a_pending_failure(self) -> None:
        """A pending Deferred that fails also aborts the run under on_handler_error='abort'."""
        dispatcher, _ = started(on_handler_error="abort")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("bad"), "before")
        add(dispatcher, recorder.sync("skipped"), "during")
        d = fire(dispatcher)
        recorder.pending["bad"][0].errback(ValueError())
        assert self.successResultOf(d).status == "aborted"
        assert recorder.names() == ["bad"]


class TimeoutTests(TestCase):
    """Rule 6: timeouts cancel pending results on the dispatcher's clock."""

    def test_dispatcher_timeout(self) -> None:
        """handler_timeout cancels a pending result, which times out; the run goes on."""
        dispatcher, clock = started(handler_timeout=5)
        recorder = Recorder()
        add(dispatcher, recorder.deferred("stuck"), "before")
        add(dispatcher, recorder.sync("next"), "during")
        d = fire(dispatcher)
        clock.advance(4.9)
        self.assertNoResult(d)
        clock.advance(0.1)
        run = self.successResultOf(d)
        [timed_out] = run.failures
        assert timed_out.status == "timed_out"
        assert timed_out.failure is not None
        assert timed_out.failure.check(HandlerTimedOut)
        assert "within 5.0 seconds" in str(timed_out.failure.value)
        assert recorder.names() == ["stuck", "next"]
        assert run.status == "completed"

    def test_handler_timeout_overrides(self) -> None:
        """A handler's own timeout overrides the dispatcher's."""
        dispatcher, clock = started(handler_timeout=5)
        recorder = Recorder()
        result_d = dispatcher.add_event_handler(recorder.deferred("quick"), "during", timeout=1)
        self.successResultOf(result_d)
        d = fire(dispatcher)
        clock.advance(1)
        assert self.successResultOf(d).outcomes[0].status == "timed_out"

    def test_settled_before_timeout(self) -> None:
        """A result that settles in time succeeds, and its timer is cancelled."""
        dispatcher, clock = started(handler_timeout=5)
        recorder = Recorder()
        add(dispatcher, recorder.deferred("ok"), "during")
        d = fire(dispatcher)
        recorder.pending["ok"][0].callback(1)
        assert self.successResultOf(d).outcomes[0].status == "succeeded"
        assert clock.getDelayedCalls() == []

    def test_no_timer_for_settled_results(self) -> None:
        """A handler whose result is already settled schedules no timeout."""
        dispatcher, clock = started(handler_timeout=5)
        recorder = Recorder()
        add(dispatcher, recorder.sync("plain"), "during")
        self.successResultOf(fire(dispatcher))
        assert clock.getDelayedCalls() == []


class CancellationTests(TestCase):
    """Rule 7: cancelling the run's Deferred cancels pending results and skips the rest."""

    def test_cancel_pending(self) -> None:
        """Cancelling cancels the pending handler Deferreds and ends the run 'cancelled'."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.sync("done"), "before")
        add(dispatcher, recorder.deferred("pending"), "before")
        add(dispatcher, recorder.sync("skipped"), "after")
        d = fire(dispatcher)
        d.cancel()
        run = self.successResultOf(d)
        assert run.status == "cancelled"
        assert [o.status for o in run.outcomes] == ["succeeded", "cancelled"]
        # The handler's Deferred was cancelled, and the run consumed its CancelledError.
        assert self.successResultOf(recorder.pending["pending"][0]) is None
        assert recorder.names() == ["done", "pending"]
        assert self.flushLoggedErrors() == []

    def test_cancel_queued_run(self) -> None:
        """Cancelling a run still waiting its serial turn ends it 'cancelled' and never runs it."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("h"), "during")
        first = fire(dispatcher, "first")
        second = fire(dispatcher, "second")
        second.cancel()
        assert self.successResultOf(second).status == "cancelled"
        recorder.pending["h"][0].callback(None)
        self.successResultOf(first)
        assert recorder.calls == [("h", "first")]

    def test_cancel_after_completion_changes_nothing(self) -> None:
        """Cancelling a run that has ended leaves its result alone."""
        dispatcher, _ = started()
        d = fire(dispatcher)
        d.cancel()
        assert self.successResultOf(d).status == "completed"

    def test_cancel_swallowing_canceller(self) -> None:
        """A handler Deferred whose canceller fires it anyway is still recorded as cancelled."""
        dispatcher, _ = started()
        inner: Deferred[str] = Deferred(lambda d: d.callback("ignored"))
        keep = [lambda _e: inner]
        add(dispatcher, keep[0], "during")
        d = fire(dispatcher)
        d.cancel()
        run = self.successResultOf(d)
        assert [o.status for o in run.outcomes] == ["cancelled"]
        assert self.successResultOf(inner) is None  # our errback consumed the result

    def test_cancelled_outcome_carries_failure(self) -> None:
        """A cancelled outcome's failure is a CancelledError."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("p"), "during")
        d = fire(dispatcher)
        d.cancel()
        run = self.successResultOf(d)
        [outcome] = run.outcomes
        assert isinstance(outcome.failure, Failure)
        assert outcome.failure.check(CancelledError)
        assert run.failures == []


def test_timeout_uses_the_given_reactor_only() -> None:
    """A dispatcher built with a Clock never touches the global reactor for its timers."""
    from twisted.internet.task import Clock

    clock = Clock()
    dispatcher = EventDispatcher((), reactor=clock, handler_timeout=1)
    dispatcher.start()
    recorder = Recorder()
    add(dispatcher, recorder.deferred("p"), "during")
    fire(dispatcher)
    assert len(clock.getDelayedCalls()) == 1
