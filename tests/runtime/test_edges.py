"""Edge cases found in review: each test pins a behaviour that once went wrong."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed

from support import Recorder, TestCase, add, fire, started
from twisted_event_dispatcher import EventDispatcher, HandlerId, UnknownHandlerError
from twisted_event_dispatcher.testing import dispatcher_on_clock


class Widget:
    """An object that is both a handler's instance and an event detail."""

    def on_event(self, event: Any) -> None:
        """Do nothing."""

    def fail(self, event: Any) -> None:
        """Raise, so the run keeps a failure whose frames mention this instance."""
        raise RuntimeError(event)


class EdgeTests(TestCase):
    """Behaviours found broken in review, now fixed."""

    def test_queued_run_survives_keyword_removal(self) -> None:
        """A run queued with a keyword removed before its turn still runs, as do later runs."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("gate"), "before", max_calls=1)
        first = fire(dispatcher, "first")
        second = fire(dispatcher, "second", k=1)
        dispatcher.remove_match_spec_keyword("k")
        recorder.pending["gate"][0].callback(None)
        assert self.successResultOf(first).status == "completed"
        assert self.successResultOf(second).status == "completed"
        assert self.successResultOf(fire(dispatcher, "third")).status == "completed"
        self.successResultOf(dispatcher.stop())

    def test_timeout_covers_deferreds_waiting_on_others(self) -> None:
        """A result that has fired but waits on another Deferred still times out."""
        dispatcher, clock = started(handler_timeout=1)
        inner: Deferred[None] = Deferred()

        def handler(event: object) -> Deferred[Any]:
            return succeed(None).addCallback(lambda _: inner)

        add(dispatcher, handler, "during")
        d = fire(dispatcher)
        clock.advance(1)
        [outcome] = self.successResultOf(d).outcomes
        assert outcome.status == "timed_out"

    def test_cache_does_not_keep_detail_objects(self) -> None:
        """An object passed as a detail value is not kept alive by the match cache."""
        dispatcher, _ = started("sender")
        widget = Widget()
        add(dispatcher, widget.on_event, "during")
        self.successResultOf(fire(dispatcher, sender=widget))
        probe = weakref.ref(widget)
        del widget
        gc.collect()
        assert probe() is None
        assert dispatcher.handlers() == []

    def test_failures_do_not_keep_weak_handlers(self) -> None:
        """A failed outcome kept in a run does not keep the failed handler's instance alive."""
        dispatcher, _ = started()
        widget = Widget()
        add(dispatcher, widget.fail, "during")
        run = self.successResultOf(fire(dispatcher, "boom"))
        assert [o.status for o in run.failures] == ["failed"]
        probe = weakref.ref(widget)
        del widget
        gc.collect()
        assert probe() is None
        assert run.failures[0].failure is not None
        assert "boom" in run.failures[0].failure.getTraceback()

    def test_durations_are_per_handler(self) -> None:
        """Each handler's duration covers its own call only, not the phase so far."""
        dispatcher, clock = started()

        def slow(event: object) -> None:
            clock.advance(1)

        def quick(event: object) -> None:
            """Take no time."""

        for handler in (slow, slow, quick):
            self.successResultOf(dispatcher.add_event_handler(handler, "during", False))
        run = self.successResultOf(fire(dispatcher))
        assert [o.duration for o in run.outcomes] == [1.0, 1.0, 0.0]

    def test_remove_unhashable_id(self) -> None:
        """Removing an unhashable id fails the Deferred with UnknownHandlerError naming it."""
        dispatcher, _ = started()
        failure = self.failureResultOf(
            dispatcher.remove_event_handler(HandlerId([1])),  # type: ignore[arg-type]
            UnknownHandlerError,
        )
        assert "[1]" in str(failure.value)


def test_unhashable_phase() -> None:
    """An unhashable phase raises ValueError naming it and the phases."""
    dispatcher, _ = dispatcher_on_clock(())
    with pytest.raises(ValueError, match=r"unknown phase \['before'\]; this dispatcher's phases"):
        dispatcher.add_event_handler(Widget().on_event, ["before"])  # type: ignore[call-overload]


def test_repeated_non_constant_details_still_match() -> None:
    """Details holding objects (not cached) match correctly on every fire."""
    dispatcher, _ = dispatcher_on_clock(("sender",))
    widget = Widget()
    calls: list[object] = []
    dispatcher.add_event_handler(calls.append, "during", False, sender=widget)
    for _ in range(3):
        dispatcher.fire_event("e", sender=widget)
    dispatcher.fire_event("other", sender=Widget())
    assert calls == ["e", "e", "e"]
    assert isinstance(dispatcher, EventDispatcher)
