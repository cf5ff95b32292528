"""Nothing a user can throw at the dispatcher wedges it: objects whose dunders raise.

Each test class pins one way user objects broke a run or the API; the
property test at the end throws generated hostile objects at every public
method and checks that the dispatcher still works, with exact counts.
"""

from __future__ import annotations

import builtins
import gc
import logging
import traceback
import weakref
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Final, NoReturn, cast

import attrs
import pytest
import structlog
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure

from strategies import (
    HOSTILE_KEYWORDS,
    HOSTILE_PHASES,
    Act,
    AddHandler,
    Boom,
    Construct,
    Fire,
    HostileSpec,
    HostileStep,
    Keyword,
    Match,
    Rematch,
    RemoveHandler,
    StopWithin,
    build,
    constructions,
    hostile_steps,
    make_hostile,
)
from support import Recorder, TestCase, add, fire, result_of, started
from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    EventRun,
    HandlerId,
    HandlerTimedOut,
    QueueFull,
    RunOrigin,
    UnknownHandlerError,
)
from twisted_event_dispatcher._safe import safe_str, type_name
from twisted_event_dispatcher.testing import advance_until_fired, dispatcher_on_clock
from twisted_event_dispatcher.typing import OnHandlerError, Ordering, WhenStopped


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

    def test_exception_class_whose_module_is_no_str(self) -> None:
        """An exception of a class whose __module__ is no str fails its handler, no more."""
        odd = make_hostile(HostileSpec(Exception, frozenset({"__module__"})))
        dispatcher, _ = started()
        late: Deferred[None] = Deferred()
        strong(dispatcher, Recorder().failing("now", odd), "before")
        strong(dispatcher, lambda event: late, "during")
        with structlog.testing.capture_logs():
            run = fire(dispatcher)
            late.errback(odd)
        assert [o.status for o in self.successResultOf(run).outcomes] == ["failed", "failed"]
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
            dispatcher.add_event_handler(Unrepresentable(), "during")  # type: ignore[call-overload]

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

    def test_origins_and_run_id_prefixes(self) -> None:
        """An origin field that is no plain value is named; an odd run_id_prefix is read plain."""
        dispatcher, _ = started()
        hostile: dict[str, Any] = {"node": Unrepresentable(), "handler_id": True}
        for field in ("node", "run_id", "handler_name", "handler_id"):
            value = hostile.get(field, Unrepresentable())
            origin = attrs.evolve(RunOrigin("n"), **{field: value})
            with pytest.raises(TypeError, match=rf"origin\.{field} must be a plain"):
                dispatcher.fire_event_from(origin, "e")
        prefix = make_hostile(HostileSpec(str, frozenset({"__len__", "__eq__"}), value="p"))
        plain, _ = dispatcher_on_clock((), run_id_prefix=prefix)
        assert self.successResultOf(fire(plain)).run_id == "p-1"
        with pytest.raises(ValueError, match="unrepresentable"):
            dispatcher_on_clock((), run_id_prefix=Unrepresentable())

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


# -- the property: a clean ValueError/TypeError or success, and the dispatcher still works --

_RUN_FAILURES: Final = (TypeError, ValueError, DispatcherNotRunning, QueueFull)
"""What a run's Deferred may fail with: an unmatchable run, or the documented conditions."""


def _throw(error: BaseException) -> NoReturn:
    raise error


def _hostile_error(spec: HostileSpec, *, chained: bool) -> BaseException:
    """Return a new hostile exception; chained: one raised while handling another."""
    if not chained:
        error: BaseException = build(spec)
        return error
    try:
        try:
            _throw(build(spec))
        except Exception:  # noqa: BLE001 -- the next one is chained to it
            _throw(build(spec))
    except Exception as chained_error:  # noqa: BLE001
        return chained_error


def _keep_result(result: object, results: dict[int, object], index: int) -> None:
    results[index] = result  # a failure is consumed: it is checked below, not raised


@dataclass
class Options:
    """The plain options of the dispatcher under test."""

    ordering: Ordering
    when_stopped: WhenStopped
    on_handler_error: OnHandlerError
    max_queued: int | None


options = st.builds(
    Options,
    ordering=st.sampled_from(("serial", "concurrent")),
    when_stopped=st.sampled_from(("drop", "queue", "error")),
    on_handler_error=st.sampled_from(("continue", "abort")),
    max_queued=st.one_of(st.none(), st.integers(2, 4)),
)


def _details(step: Fire | Match) -> dict[str, Any]:
    details = dict(step.details)
    if step.odd_value is not None:
        details[step.odd_key] = build(step.odd_value)
    return details


class Harness:
    """A dispatcher on a Clock with a probe handler, and the hostile steps applied to it."""

    def __init__(self, test: TestCase, options: Options, construct: Construct | None) -> None:
        self.test = test
        self.clock = Clock()
        self.dispatcher = self._build(options, construct)
        self.first_phase = self.dispatcher.phases[0]
        self.probe_calls: list[Any] = []
        self.probe_id = self._register(self.probe_calls.append, self.first_phase)
        self.gates: list[Deferred[None]] = []
        self.gate_id = self._register(self._gate, self.first_phase, timeout=10_000, g="hold")
        self.runs: list[Deferred[EventRun]] = []
        self.results: dict[int, object] = {}
        self.registered: list[HandlerId] = []
        self.keep: list[Any] = []
        self.stopping: Deferred[None] | None = None
        self.dispatcher.start()

    def _build(self, options: Options, construct: Construct | None) -> EventDispatcher:
        arguments: dict[str, Any] = {
            "allowed_match_spec_keywords": HOSTILE_KEYWORDS,
            "phases": HOSTILE_PHASES,
            "reactor": self.clock,
            "ordering": options.ordering,
            "when_stopped": options.when_stopped,
            "on_handler_error": options.on_handler_error,
            "max_queued": options.max_queued,
            "handler_timeout": 3,
        }
        if construct is not None:
            recipe = construct.recipe
            if construct.elementwise:
                names = arguments[construct.parameter]
                value: Any = [build(replace(recipe, base=str, value=name)) for name in names]
            else:
                value = build(recipe)
            built = self._call(EventDispatcher, **{**arguments, construct.parameter: value})
            if built is not None:
                return cast("EventDispatcher", built)
        return EventDispatcher(**arguments)

    def _register(self, handler: Callable[[Any], Any], phase: str, **options: Any) -> HandlerId:
        return self.test.successResultOf(
            self.dispatcher.add_event_handler(handler, phase, use_weakref=False, **options)
        )

    def _gate(self, event: Any) -> Deferred[None]:
        self.gates.append(Deferred())
        return self.gates[-1]

    def _track(self, deferred: Deferred[EventRun]) -> None:
        self.runs.append(deferred)
        deferred.addBoth(_keep_result, self.results, len(self.runs) - 1)

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call *method*: it succeeds or raises a clean ValueError or TypeError (None then)."""
        try:
            result = method(*args, **kwargs)
        except (ValueError, TypeError) as error:
            refused: Exception | None = error
            result = None
        else:
            refused = None
        event(f"{method.__name__}: {'accepted' if refused is None else type(refused).__name__}")
        assert refused is None or str(refused)  # a message, whatever the value's dunders do
        return result

    # -- the steps ----------------------------------------------------------------------

    def step(self, step: HostileStep) -> None:
        """Apply *step*."""
        apply: dict[type, Callable[[Any], None]] = {
            AddHandler: self._add,
            RemoveHandler: self._remove,
            Fire: self._fire,
            Match: self._match,
            Keyword: self._keyword,
            Rematch: self._rematch,
            StopWithin: self._stop_within,
            Act: self._act,
        }
        apply[type(step)](step)

    def _fire(self, step: Fire) -> None:
        details = _details(step)
        if step.origin is None:
            run = self._call(self.dispatcher.fire_event, build(step.event), **details)
        else:
            origin = RunOrigin("there", "there-1", HandlerId(7), "h")
            if step.origin != "plain":
                origin = attrs.evolve(origin, **{step.origin: build(step.origin_value)})
            run = self._call(self.dispatcher.fire_event_from, origin, build(step.event), **details)
        if run is not None:
            self._track(run)

    def _match(self, step: Match) -> None:
        matches = self._call(self.dispatcher.matching_handlers, **_details(step))
        assert matches is None or list(matches) == list(self.dispatcher.phases)

    def _keyword(self, step: Keyword) -> None:
        if step.add:
            self._call(self.dispatcher.add_match_spec_keyword, build(step.name))
        else:
            self._call(self.dispatcher.remove_match_spec_keyword, build(step.name))

    def _stop_within(self, step: StopWithin) -> None:
        if self.stopping is None or self.stopping.called:
            self.stopping = self._call(self.dispatcher.stop, timeout=build(step.timeout))

    def _handler(self, step: AddHandler) -> Callable[[Any], Any]:
        if step.kind == "hostile_callable":
            made: Callable[[Any], Any] = build(replace(step.hostile, base=object))
            return made
        error = replace(step.hostile, base=Exception, callable=False)

        def raising(event: Any) -> None:
            raise _hostile_error(error, chained=step.chained)

        handlers: dict[str, Callable[[Any], Any]] = {
            "count": lambda event: None,
            "raise": raising,
            "fail_later": lambda event: deferLater(self.clock, 1, raising, event),
            "stuck": lambda event: Deferred(_raising_canceller),
            "hostile_result": lambda event: build(step.hostile),
        }
        return handlers[step.kind]

    def _add(self, step: AddHandler) -> None:
        handler = self._handler(step)
        self.keep.append(handler)
        arguments: dict[str, Any] = {
            "phase": step.phase,
            "use_weakref": step.use_weakref,
            "max_calls": step.max_calls,
            "timeout": step.timeout,
        }
        spec = dict(step.spec)
        if step.odd == "spec":
            spec["c"] = build(step.odd_value)
        elif step.odd is not None:
            arguments[step.odd] = build(step.odd_value)
        added = self._call(
            self.dispatcher.add_event_handler,
            handler,
            arguments["phase"],
            arguments["use_weakref"],
            max_calls=arguments["max_calls"],
            timeout=arguments["timeout"],
            **spec,
        )
        if added is not None:
            handler_id: HandlerId = self.test.successResultOf(added)
            assert type(handler_id) is int
            self.registered.append(handler_id)

    def _remove(self, step: RemoveHandler) -> None:
        if step.index is not None and self.registered:
            target: Any = self.registered[step.index % len(self.registered)]
        else:
            target = build(step.target)
        removed = self.dispatcher.remove_event_handler(target)
        assert removed.called
        removed.addErrback(lambda failure: failure.trap(UnknownHandlerError))
        ids = [registration.handler_id for registration in self.dispatcher.handlers()]
        assert self.probe_id in ids
        assert self.gate_id in ids

    def _rematch(self, step: Rematch) -> None:
        self._track(self.dispatcher.fire_event("hold", g="hold"))
        run = self._call(self.dispatcher.fire_event, "rematch", **{step.key: build(step.detail)})
        if run is not None:
            self._track(run)
        self._call(
            self.dispatcher.add_event_handler,
            self._keep_alive(lambda event: None),
            self.first_phase,
            **{step.key: step.detail.value},
        )
        self._release()

    def _keep_alive(self, handler: Callable[[Any], Any]) -> Callable[[Any], Any]:
        self.keep.append(handler)
        return handler

    def _act(self, step: Act) -> None:
        getattr(self, f"_{step.what}")()

    def _handlers(self) -> None:
        assert len(self.dispatcher.handlers()) >= 2

    def _in_flight(self) -> None:
        in_flight = self.dispatcher.runs_in_flight()
        assert all(type(run.event_type) is str for run in in_flight)

    def _hold(self) -> None:
        self._track(self.dispatcher.fire_event("hold", g="hold"))

    def _cancel(self) -> None:
        for run in self.runs:
            if not run.called:
                run.cancel()
                return

    def _advance(self) -> None:
        self.clock.advance(2)

    def _stop(self) -> None:
        if self.stopping is None or self.stopping.called:
            self.stopping = self.dispatcher.stop()

    def _start(self) -> None:
        if self.stopping is None or self.stopping.called:  # not while stopping
            self.dispatcher.start()

    def _release(self) -> None:
        for gate in self.gates:
            if not gate.called:
                gate.callback(None)

    # -- the invariant ------------------------------------------------------------------

    def settle(self) -> None:
        """Release everything, restart if stopped, and run the clock until nothing is left."""
        for _ in range(20):
            self._release()
            self.clock.advance(100)
            if self.stopping is not None and self.stopping.called:
                self.stopping = None
            if self.stopping is None and not self.dispatcher.running:
                self.dispatcher.start()  # runs parked while stopped begin
            if all(run.called for run in self.runs) and not self.clock.getDelayedCalls():
                break
        assert self.stopping is None, "stop() never fired"

    def check(self) -> None:
        """Every run ended; the probe saw exactly the runs that called it; the dispatcher works."""
        assert all(run.called for run in self.runs)
        probed: list[Any] = []
        for result in self.results.values():
            if isinstance(result, Failure):
                assert isinstance(result.value, _RUN_FAILURES), result
                event(f"run failed: {type(result.value).__name__}")
                continue
            assert isinstance(result, EventRun)
            event(f"run {result.status}")
            for outcome in result.outcomes:
                event(f"handler {outcome.status}")
            assert result.status in {"completed", "aborted", "cancelled", "dropped"}
            calls = [o for o in result.outcomes if o.handler_id == self.probe_id]
            assert len(calls) <= 1
            if result.status in {"completed", "aborted"}:
                assert len(calls) == 1, result
            probed.extend(result.event for _ in calls)
        assert Counter(map(id, self.probe_calls)) == Counter(map(id, probed))
        before = len(self.probe_calls)
        advance_until_fired(self.clock, self.dispatcher.stop())
        self.dispatcher.start()
        final: EventRun = advance_until_fired(self.clock, self.dispatcher.fire_event("final"))
        assert final.status in {"completed", "aborted"}
        assert len(self.probe_calls) == before + 1
        assert self.probe_calls[-1] == "final"
        self.test.successResultOf(self.dispatcher.stop())


def _render_every_record() -> None:
    # Debug records included, rendered to JSON with their tracebacks (and thrown away):
    # a record that cannot be rendered shows up as an exception.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.ReturnLoggerFactory(),
    )


class HostilePropertyTests(TestCase):
    """Hostile objects anywhere: a clean ValueError/TypeError or success, and exact counts."""

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        options=options,
        construct=st.one_of(st.none(), constructions()),
        steps=st.lists(hostile_steps(), min_size=3, max_size=20),
    )
    def test_nothing_wedges_the_dispatcher(
        self, options: Options, construct: Construct | None, steps: list[HostileStep]
    ) -> None:
        """Whatever hostile steps run, every run ends and the probe counts exactly."""
        _render_every_record()
        try:
            harness = Harness(self, options, construct)
            for step in steps:
                harness.step(step)
            harness.settle()
            harness.check()
        except Exception as error:  # noqa: BLE001 -- re-raised in a form pytest can print
            # pytest and hypothesis render the exception chain, which hostile
            # exceptions break: give them the failure as plain text instead.
            frames = "".join(traceback.format_list(traceback.extract_tb(error.__traceback__)))
            message = f"{frames}{type_name(error)}: {safe_str(error)}"
            raise AssertionError(message) from None
