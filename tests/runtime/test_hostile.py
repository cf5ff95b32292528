"""Nothing a user can throw at the dispatcher wedges it: objects whose dunders raise.

Each test class pins one way user objects broke a run or the API; the
property test at the end throws generated hostile objects at every public
method and checks that the dispatcher still works, with exact counts.
"""

from __future__ import annotations

import builtins
import gc
import logging
import weakref
from collections.abc import Callable, MutableMapping
from fractions import Fraction
from typing import Any

import pytest
import structlog
from twisted.internet.defer import Deferred, succeed

from strategies import Boom, HostileSpec, make_hostile
from support import Recorder, TestCase, add, fire, result_of, started
from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    EventRun,
    HandlerId,
    HandlerTimedOut,
    UnknownHandlerError,
)
from twisted_event_dispatcher.testing import dispatcher_on_clock


class Unprintable(Exception):
    """An exception whose str and repr raise."""

    def __str__(self) -> str:
        """Raise."""
        raise Boom("str")

    def __repr__(self) -> str:
        """Raise."""
        raise Boom("repr")


class Unrepresentable:
    """An event or detail value whose repr and str raise, hashed and compared by identity."""

    def __repr__(self) -> str:
        """Raise."""
        raise Boom("repr")

    def __str__(self) -> str:
        """Raise."""
        raise Boom("str")


class RaisesBadRepr:
    """An object whose repr raises an exception whose own str and repr raise."""

    def __repr__(self) -> str:
        """Raise Unprintable."""
        raise Unprintable


class Incomparable:
    """A detail value that hashes like 1 and whose __eq__ raises."""

    def __hash__(self) -> int:
        """Collide with 1."""
        return hash(1)

    def __eq__(self, other: object) -> bool:
        """Raise."""
        raise Boom("eq")

    def __repr__(self) -> str:
        """Name the class."""
        return "<Incomparable>"


class Unhashable:
    """A detail value whose __hash__ raises something other than TypeError."""

    def __hash__(self) -> int:
        """Raise."""
        raise Boom("hash")

    def __repr__(self) -> str:
        """Name the class."""
        return "<Unhashable>"


class OddName(str):
    """A str equal to nothing, with its own hash, whose repr and len raise."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        """Equal to nothing."""
        return False

    def __ne__(self, other: object) -> bool:
        """Unequal to everything."""
        return True

    def __hash__(self) -> int:
        """Not the hash of the plain str."""
        return 12345

    def __repr__(self) -> str:
        """Raise."""
        raise Boom("repr")

    def __len__(self) -> int:
        """Raise."""
        raise Boom("len")


class Proxy:
    """A callable whose __getattr__ raises: reading its __qualname__ or __module__ raises."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        """Raise for any missing attribute."""
        raise Boom(name)

    def __call__(self, event: Any) -> None:
        """Count the call."""
        self.calls += 1


def _raising_canceller(deferred: Deferred[Any]) -> None:
    raise Boom("canceller")


def _counting(calls: list[Any]) -> Callable[[Any], None]:
    def probe(event: Any) -> None:
        calls.append(event)

    return probe


def strong(
    dispatcher: EventDispatcher, handler: Callable[[Any], Any], phase: Any, **spec: Any
) -> HandlerId:
    """Register *handler*, held strongly, and return its id."""
    handler_id: HandlerId = result_of(
        dispatcher.add_event_handler(handler, phase, use_weakref=False, **spec)
    )
    return handler_id


class ExceptionMessageTests(TestCase):
    """Item 1: a handler exception whose str or repr raises does not stop its run."""

    def test_synchronous_failure_with_raising_str_ends_the_run(self) -> None:
        """A handler raising an exception whose str raises gives a failed outcome; runs go on."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.failing("bad", Unprintable()), "before")
        add(dispatcher, recorder.sync("after"), "after")
        with structlog.testing.capture_logs() as logs:
            first = self.successResultOf(fire(dispatcher, "first"))
            second = self.successResultOf(fire(dispatcher, "second"))
        assert [run.status for run in (first, second)] == ["completed", "completed"]
        assert recorder.names() == ["bad", "after", "bad", "after"]
        [failure] = first.failures
        assert failure.failure is not None
        assert failure.failure.check(Unprintable)
        settled = [log for log in logs if log.get("status") == "failed"]
        assert [log["exception_message"] for log in settled] == [
            "<unprintable Unprintable object>"
        ] * 2
        assert settled[0]["exception_type"] == "Unprintable"
        self.successResultOf(dispatcher.stop())

    def test_pending_failure_with_raising_str_ends_the_run(self) -> None:
        """A handler Deferred failing later with such an exception settles its run."""
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.deferred("slow"), "during")
        first = fire(dispatcher, "first")
        second = fire(dispatcher, "second")
        with structlog.testing.capture_logs():
            recorder.pending["slow"][0].errback(Unprintable())
            assert self.successResultOf(first).failures[0].status == "failed"
            recorder.pending["slow"][1].callback(None)
        assert self.successResultOf(second).status == "completed"
        self.successResultOf(dispatcher.stop())

    def test_unconfigured_logging_renders_hostile_failures(self) -> None:
        """With structlog's fallback output, a failure whose str raises is rendered, not raised.

        The frames' locals hold an event whose repr raises an exception whose
        own str raises too.
        """
        dispatcher, _ = started()
        event = RaisesBadRepr()

        def broken(event: Any) -> None:
            raise Unprintable

        add(dispatcher, broken, "before")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("sys.stderr", _Sink())
            run = self.successResultOf(fire(dispatcher, event))
            again = self.successResultOf(fire(dispatcher, event))
        assert [run.status, again.status] == ["completed", "completed"]
        self.successResultOf(dispatcher.stop())

    def test_a_failing_renderer_logs_the_record_without_the_traceback(self) -> None:
        """If the record with the traceback cannot be logged, it is logged again without it."""
        capture = structlog.testing.LogCapture()

        def refuse_exc_info(
            _: Any, __: str, event_dict: MutableMapping[str, Any]
        ) -> MutableMapping[str, Any]:
            if "exc_info" in event_dict:
                raise Boom("renderer")
            return event_dict

        structlog.configure(
            processors=[refuse_exc_info, capture],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        )
        dispatcher, _ = started()
        recorder = Recorder()
        add(dispatcher, recorder.failing("bad", ValueError("card declined")), "before")
        assert self.successResultOf(fire(dispatcher)).status == "completed"
        [record] = capture.entries
        assert record["event"] == "handler_settled"
        assert record["exception_message"] == "card declined"
        assert "exc_info" not in record


class _Sink:
    """A stand-in for stderr that keeps nothing."""

    def write(self, text: str) -> int:
        """Discard *text*."""
        return len(text)

    def flush(self) -> None:
        """Do nothing."""


class RematchTests(TestCase):
    """Item 2: a waiting run whose re-match raises ends, and frees its place."""

    def _waiting_run(self, dispatcher: EventDispatcher) -> tuple[Deferred[EventRun], Recorder]:
        recorder = Recorder()
        add(dispatcher, recorder.deferred("gate"), "before", max_calls=1)
        return fire(dispatcher, "gate"), recorder

    def test_raising_eq_met_when_the_turn_comes(self) -> None:
        """The run fails with a TypeError naming the value; later runs and stop() go on."""
        dispatcher, _ = started("k")
        with structlog.testing.capture_logs() as logs:
            gate, recorder = self._waiting_run(dispatcher)
            doomed = fire(dispatcher, "doomed", k=Incomparable())
            later = fire(dispatcher, "later")
            calls: list[Any] = []
            strong(dispatcher, _counting(calls), "during", k=1)  # the registry changes meanwhile
            stopped = dispatcher.stop()
            recorder.pending["gate"][0].callback(None)
        assert self.successResultOf(gate).status == "completed"
        error = self.failureResultOf(doomed, TypeError).value
        assert "k=<Incomparable>" in str(error)
        assert error is not None
        assert isinstance(error.__cause__, Boom)
        assert self.successResultOf(later).status == "completed"
        self.successResultOf(stopped)
        assert calls == []
        [rejected] = [log for log in logs if log["event"] == "run_rejected"]
        assert rejected["exception_type"] == "TypeError"
        assert "<Incomparable>" in rejected["exception_message"]

    def test_raising_eq_met_on_start(self) -> None:
        """A run queued while stopped that cannot be matched on start() fails; start() does not."""
        dispatcher, _ = dispatcher_on_clock(("k",), start=False, when_stopped="queue")
        doomed = fire(dispatcher, "doomed", k=Incomparable())
        strong(dispatcher, _counting([]), "during", k=1)
        calls: list[Any] = []
        strong(dispatcher, _counting(calls), "during")
        later = fire(dispatcher, "later")
        with structlog.testing.capture_logs():
            dispatcher.start()
        self.failureResultOf(doomed, TypeError)
        assert self.successResultOf(later).status == "completed"
        assert calls == ["later"]
        self.successResultOf(dispatcher.stop())


class CancellerTests(TestCase):
    """Item 3: a handler Deferred whose canceller raises does not keep its run open."""

    def test_cancelling_the_run(self) -> None:
        """Every pending handler is cancelled, the run ends cancelled, and the error is logged."""
        dispatcher, _ = started()
        broken: Deferred[None] = Deferred(_raising_canceller)
        cancelled: list[Deferred[None]] = []
        plain: Deferred[None] = Deferred(cancelled.append)
        strong(dispatcher, lambda event: broken, "during")
        strong(dispatcher, lambda event: plain, "during")
        with structlog.testing.capture_logs() as logs:
            run = fire(dispatcher)
            later = fire(dispatcher, "later")
            run.cancel()
        result = self.successResultOf(run)
        assert result.status == "cancelled"
        assert [o.status for o in result.outcomes] == ["cancelled", "cancelled"]
        assert cancelled == [plain]
        [record] = [log for log in logs if log["event"] == "handler_cancel_failed"]
        assert record["log_level"] == "error"
        assert record["exception_type"] == "Boom"
        assert record["handler_id"] == 1
        later.cancel()
        assert self.successResultOf(later).status == "cancelled"
        self.successResultOf(dispatcher.stop())

    def test_timing_out(self) -> None:
        """A timed-out handler whose canceller raises ends timed_out; the next run begins."""
        dispatcher, clock = started(handler_timeout=2)
        broken: Deferred[None] = Deferred(_raising_canceller)
        calls: list[Any] = []
        strong(dispatcher, _counting(calls), "before")
        strong(dispatcher, lambda event: broken if event == "first" else None, "during")
        with structlog.testing.capture_logs() as logs:
            first = fire(dispatcher, "first")
            second = fire(dispatcher, "second")
            clock.advance(2)
        [outcome] = self.successResultOf(first).failures
        assert outcome.status == "timed_out"
        assert outcome.failure is not None
        assert outcome.failure.check(HandlerTimedOut)
        assert outcome.duration == 2
        assert self.successResultOf(second).status == "completed"
        assert calls == ["first", "second"]
        assert [log["event"] for log in logs if log["log_level"] == "error"] == [
            "handler_cancel_failed",
            "handler_settled",
        ]
        assert clock.getDelayedCalls() == []
        self.successResultOf(dispatcher.stop())

    def test_timing_out_what_cancelling_cannot_reach(self) -> None:
        """A paused Deferred, which cancel() cannot fail, still times out."""
        dispatcher, clock = started(handler_timeout=1)
        paused: Deferred[None] = succeed(None)
        paused.pause()
        strong(dispatcher, lambda event: paused, "during")
        run = fire(dispatcher)
        with structlog.testing.capture_logs():
            clock.advance(1)
        assert self.successResultOf(run).outcomes[0].status == "timed_out"
        paused.unpause()  # a late result changes nothing
        self.successResultOf(dispatcher.stop())

    def test_settled_handlers_leave_no_timer(self) -> None:
        """A handler that settles in time leaves no timer behind, nor does a cancelled run."""
        dispatcher, clock = started(handler_timeout=5)
        pending: list[Deferred[None]] = []

        def handler(event: Any) -> Deferred[None]:
            pending.append(Deferred())
            return pending[-1]

        add(dispatcher, handler, "during")
        run = fire(dispatcher)
        pending[0].callback(None)
        assert self.successResultOf(run).status == "completed"
        cancelled = fire(dispatcher)
        cancelled.cancel()
        assert self.successResultOf(cancelled).status == "cancelled"
        assert clock.getDelayedCalls() == []


class ValidationTests(TestCase):
    """Item 5: inputs whose dunders raise get a ValueError or TypeError naming them."""

    def test_constructor_arguments(self) -> None:
        """Each constructor argument with raising dunders gives ValueError or TypeError."""
        raising_iter = make_hostile(HostileSpec(list, frozenset({"__iter__"}), "own", ["a"]))
        raising_len = make_hostile(HostileSpec(list, frozenset({"__len__"}), "own", ["a"]))
        bad_float: Any = make_hostile(HostileSpec(Fraction, frozenset({"__float__"}), "own", 2))
        bad_str = make_hostile(HostileSpec(str, frozenset({"__eq__", "__repr__"}), "own", "x"))
        for keywords in (raising_iter, raising_len):
            with pytest.raises(TypeError, match="iterating"):
                EventDispatcher(keywords)
        with pytest.raises(TypeError, match="iterating"):
            EventDispatcher((), phases=raising_iter)
        with pytest.raises(ValueError, match="unrepresentable"):
            EventDispatcher((), ordering=bad_str)
        with pytest.raises(ValueError, match="unrepresentable"):
            EventDispatcher((), when_stopped=Unrepresentable())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="float"):
            EventDispatcher((), handler_timeout=bad_float)
        with pytest.raises(ValueError, match="seconds"):
            EventDispatcher((), handler_timeout=Fraction(10**400))  # type: ignore[arg-type]

    def test_str_subclasses_are_read_as_plain_str(self) -> None:
        """Names given as str subclasses whose dunders raise are accepted as the plain names."""
        # Hashable, so that it can be a **kwargs key.
        spec = frozenset({"__eq__", "__len__", "__repr__"})

        def plain(text: str) -> Any:
            return make_hostile(HostileSpec(str, spec, "own", text))

        def unhashable(text: str) -> Any:
            return make_hostile(HostileSpec(str, spec, "raises", text))

        count = make_hostile(HostileSpec(int, frozenset({"__lt__", "__eq__"}), "own", 2))
        dispatcher = EventDispatcher(
            [unhashable("k")],
            phases=[unhashable("before"), plain("after")],
            ordering=plain("serial"),
            max_queued=count,
            reactor=dispatcher_on_clock(())[1],
        )
        dispatcher.add_match_spec_keyword(unhashable("j"))
        assert dispatcher.phases == ("before", "after")
        assert dispatcher.match_spec_keywords == ("k", "j")
        assert [type(name) for name in (*dispatcher.phases, *dispatcher.match_spec_keywords)] == [
            str
        ] * 4
        assert dispatcher.ordering == "serial"
        # Python itself compares **kwargs keys with a function's parameter names:
        # a key whose __eq__ raises cannot even be passed.  One that is merely
        # odd is read as the plain name.
        handler_id = strong(dispatcher, _counting([]), plain("before"), **{OddName("k"): 1})
        [registration] = dispatcher.handlers()
        assert type(registration.phase) is str
        assert registration.match_spec == {"k": 1}
        dispatcher.remove_match_spec_keyword(plain("j"))
        dispatcher.start()
        run = self.successResultOf(dispatcher.fire_event("e", **{OddName("k"): 1}))
        assert run.outcomes
        assert [type(key) for key in run.details] == [str]
        assert dispatcher.matching_handlers(**{OddName("k"): 1})["before"][0].id == handler_id

    def test_handler_callables(self) -> None:
        """A callable whose __qualname__ and __module__ raise registers, named after its type."""
        dispatcher, _ = started()
        proxy = Proxy()
        add(dispatcher, proxy, "during")
        [registration] = dispatcher.handlers()
        assert registration.handler_name == f"{__name__}.Proxy"
        self.successResultOf(fire(dispatcher))
        assert proxy.calls == 1
        with pytest.raises(TypeError, match="unrepresentable"):
            dispatcher.add_event_handler(Unrepresentable(), "during")  # type: ignore[arg-type]

    def test_phases_and_keywords(self) -> None:
        """A phase or keyword whose hash or eq raises is refused as unknown."""
        dispatcher, _ = started("k")
        colliding = make_hostile(HostileSpec(object, frozenset({"__eq__"}), "collides", "during"))
        hostile: tuple[Any, ...] = (Unhashable(), colliding, Unrepresentable())
        for phase in hostile:
            with pytest.raises(ValueError, match="unknown phase"):
                dispatcher.add_event_handler(_counting([]), phase)
        for name in hostile:
            with pytest.raises(ValueError, match="not an allowed match keyword"):
                dispatcher.remove_match_spec_keyword(name)
            with pytest.raises(ValueError, match="identifier"):
                dispatcher.add_match_spec_keyword(name)
        assert dispatcher.match_spec_keywords == ("k",)

    def test_match_values(self) -> None:
        """A spec or detail value whose hash raises, or eq raises on a collision, is named."""
        dispatcher, _ = started("k")
        calls: list[Any] = []
        strong(dispatcher, _counting(calls), "during", k=1)
        with pytest.raises(TypeError, match="<Unhashable>"):
            dispatcher.add_event_handler(_counting([]), "during", k=Unhashable())
        with pytest.raises(TypeError, match="<Incomparable>"):
            dispatcher.add_event_handler(_counting([]), "during", k=Incomparable())
        assert len(dispatcher.handlers()) == 1
        for value in (Unhashable(), Incomparable()):
            with pytest.raises(TypeError, match=repr(value)):
                fire(dispatcher, "e", k=value)
            with pytest.raises(TypeError, match=repr(value)):
                dispatcher.matching_handlers(k=value)
        self.successResultOf(fire(dispatcher, "e", k=1))
        assert calls == ["e"]

    def test_stopped_dispatcher_names_hostile_events(self) -> None:
        """Firing an unprintable event while stopped fires its Deferred, for drop and error."""
        dropping, _ = dispatcher_on_clock(("k",), start=False, when_stopped="drop")
        refusing, _ = dispatcher_on_clock(("k",), start=False, when_stopped="error")
        with structlog.testing.capture_logs() as logs:
            dropped = self.successResultOf(
                dropping.fire_event(Unrepresentable(), k=Unrepresentable())
            )
            failure = self.failureResultOf(
                refusing.fire_event(Unrepresentable(), k=Unrepresentable()),
                DispatcherNotRunning,
            )
        assert dropped.status == "dropped"
        assert "<unrepresentable Unrepresentable object>" in str(failure.value)
        [record] = [log for log in logs if log["event"] == "run_dropped"]
        assert record["details"] == {"k": "<unrepresentable Unrepresentable object>"}

    def test_handler_ids_compare_by_type(self) -> None:
        """remove_event_handler(True) removes nothing, though True == 1."""
        dispatcher, _ = started()
        handler_id = strong(dispatcher, _counting([]), "during")
        assert handler_id == 1
        wrongs: tuple[Any, ...] = (True, 1.0, Unhashable(), Unrepresentable())
        for wrong in wrongs:
            self.failureResultOf(dispatcher.remove_event_handler(wrong), UnknownHandlerError)
        assert [r.handler_id for r in dispatcher.handlers()] == [1]
        self.successResultOf(dispatcher.remove_event_handler(handler_id))


class CacheTests(TestCase):
    """Item 6: what was not checked is never cached."""

    def test_stale_rematch_is_not_cached(self) -> None:
        """After a run re-matched with a removed keyword, that keyword is refused again."""
        dispatcher, _ = started("k")
        recorder = Recorder()
        add(dispatcher, recorder.deferred("gate"), "before", max_calls=1)
        gate = fire(dispatcher, "gate")
        queued = fire(dispatcher, "queued", k=1)
        dispatcher.remove_match_spec_keyword("k")
        recorder.pending["gate"][0].callback(None)
        self.successResultOf(gate)
        assert self.successResultOf(queued).status == "completed"
        with pytest.raises(ValueError, match="not an allowed match keyword"):
            fire(dispatcher, "again", k=1)
        with pytest.raises(ValueError, match="not an allowed match keyword"):
            dispatcher.matching_handlers(k=1)


class Chained:
    """An object whose bound methods fail with chained exceptions."""

    def explicit(self, event: Any) -> None:
        """Raise X from e."""
        try:
            self._look_up(event)
        except KeyError as error:
            raise ValueError("explicit") from error

    def implicit(self, event: Any) -> None:
        """Raise inside an except block."""
        try:
            self._look_up(event)
        except KeyError:
            raise ValueError("implicit")  # noqa: B904 -- implicit chaining is the point

    def grouped(self, event: Any) -> None:
        """Raise an exception group of a chained exception."""
        try:
            self.explicit(event)
        except ValueError as error:
            raise _GROUP("grouped", [error]) from None

    def _look_up(self, event: Any) -> None:
        raise KeyError(event)


class _Group(Exception):
    """ExceptionGroup's stand-in before Python 3.11: it too holds its members in .exceptions."""

    def __init__(self, message: str, exceptions: list[Exception]) -> None:
        super().__init__(message)
        self.exceptions = tuple(exceptions)


_GROUP: Any = getattr(builtins, "ExceptionGroup", _Group)


class ChainedFramesTests(TestCase):
    """Item 7: no chained exception keeps a weakly registered handler's instance alive."""

    def test_chained_exceptions_release_the_instance(self) -> None:
        """After a failed run, each chained exception keeps no frame holding the instance."""
        for name in ("explicit", "implicit", "grouped"):
            dispatcher, _ = started()
            owner = Chained()
            add(dispatcher, getattr(owner, name), "during")
            with structlog.testing.capture_logs():
                run = self.successResultOf(fire(dispatcher, name))
            [failure] = run.failures
            assert failure.failure is not None
            probe = weakref.ref(owner)
            del owner
            gc.collect()
            assert probe() is None, name
            error = failure.failure.value
            assert error is not None
            assert error.__context__ is not None or name == "grouped"
