"""The dispatcher against a model of its registry and lifecycle, driven by hypothesis."""

from __future__ import annotations

import gc
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import provider

from strategies import KEYWORDS, HandlerPlan, details_dicts, handler_plans, phase_lists
from support import collected_warnings
from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    EventRun,
    HandlerId,
    QueueFull,
    UnknownHandlerError,
)
from twisted_event_dispatcher.typing import OnHandlerError, Ordering, WhenStopped

PendingKey = tuple[HandlerId, int]
"""A handler's pending Deferred, named by the handler and the run (event number) it serves."""

MODEL_KEYWORDS = KEYWORDS[:2]
"""The model test matches on two keywords with two values: most specs meet most details."""
MODEL_VALUES = (0, 1)

RunState = Literal["parked", "backlog", "active", "ended", "rejected"]


@dataclass(frozen=True)
class Config:
    """How the dispatcher under test is built."""

    phases: tuple[str, ...]
    ordering: Ordering
    when_stopped: WhenStopped
    max_queued: int | None
    on_handler_error: OnHandlerError


configs = st.builds(
    Config,
    phases=st.one_of(
        phase_lists(("before", "during", "after"), min_size=2), phase_lists(("during",))
    ),
    ordering=st.sampled_from(("serial", "concurrent")),
    when_stopped=st.sampled_from(("drop", "queue", "error")),
    max_queued=st.one_of(st.none(), st.integers(1, 3)),
    on_handler_error=st.sampled_from(("continue", "abort")),
)


@dataclass
class ModelHandler:
    """A registration as the model keeps it."""

    plan: HandlerPlan
    calls: int = 0


@dataclass
class ModelRun:
    """One fired event as the model follows it."""

    number: int
    details: Mapping[str, Any]
    state: RunState = "parked"
    matches: list[list[HandlerId]] = field(default_factory=list)
    phase_index: int = 0
    phase_failed: bool = False
    pending: set[PendingKey] = field(default_factory=set)


class Model:
    """The documented behaviour of a dispatcher, written as plainly as possible."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.handlers: dict[HandlerId, ModelHandler] = {}
        self.state: Literal["stopped", "running", "stopping"] = "stopped"
        self.holder: ModelRun | None = None
        self.backlog: deque[ModelRun] = deque()
        self.parked: deque[ModelRun] = deque()
        self.in_flight: set[int] = set()
        self.waiters: list[int] = []
        self.fired_waiters: set[int] = set()
        self.runs: dict[int, ModelRun] = {}
        self.calls: list[PendingKey] = []
        self.ends: list[tuple[int, str]] = []
        self.errors: dict[int, type[BaseException]] = {}
        self.pending_failed: set[PendingKey] = set()

    # -- registry ---------------------------------------------------------------------

    def add(self, handler_id: HandlerId, plan: HandlerPlan) -> None:
        """Record a registration."""
        self.handlers[handler_id] = ModelHandler(plan)

    def remove(self, handler_id: HandlerId) -> bool:
        """Remove *handler_id*; return whether it was registered."""
        return self.handlers.pop(handler_id, None) is not None

    def match(self, details: Mapping[str, Any]) -> list[list[HandlerId]]:
        """Return the model handlers the details match, per phase."""
        return [
            [
                handler_id
                for handler_id, handler in self.handlers.items()
                if handler.plan.phase == phase
                and all(
                    value is None or (key in details and details[key] == value)
                    for key, value in handler.plan.spec.items()
                )
            ]
            for phase in self.config.phases
        ]

    # -- runs -------------------------------------------------------------------------

    def waiting(self) -> int:
        """Return how many runs wait for their turn or for start()."""
        return len(self.backlog) + len(self.parked)

    def full(self) -> bool:
        """Return whether max_queued runs wait already."""
        limit = self.config.max_queued
        return limit is not None and self.waiting() >= limit

    def fire(self, number: int, details: Mapping[str, Any]) -> None:
        """Model fire_event."""
        run = self.runs[number] = ModelRun(number, details)
        if self.state == "running":
            self.accept(run)
        elif self.config.when_stopped == "drop":
            self.end(run, "dropped")
        elif self.config.when_stopped == "error":
            run.state = "rejected"
            self.errors[number] = DispatcherNotRunning
        elif self.full():
            run.state = "rejected"
            self.errors[number] = QueueFull
        else:
            self.parked.append(run)

    def accept(self, run: ModelRun) -> None:
        """Admit a run while running."""
        if self.config.ordering == "concurrent":
            self.begin(run)
        elif self.holder is None:
            self.holder = run
            self.begin(run)
        elif self.full():
            run.state = "rejected"
            self.errors[run.number] = QueueFull
        else:
            run.state = "backlog"
            self.backlog.append(run)

    def begin(self, run: ModelRun) -> None:
        """Begin a run: call its first phase."""
        run.state = "active"
        self.in_flight.add(run.number)
        run.matches = self.match(run.details)
        self.enter_phase(run)

    def enter_phase(self, run: ModelRun) -> None:
        """Call the handlers of the run's current phase."""
        run.phase_failed = False
        for handler_id in run.matches[run.phase_index]:
            handler = self.handlers.get(handler_id)
            if handler is None:
                continue  # removed, used up or collected since the run began
            handler.calls += 1
            self.calls.append((handler_id, run.number))
            if handler.calls == handler.plan.max_calls:
                del self.handlers[handler_id]
            if handler.plan.kind == "deferred":
                run.pending.add((handler_id, run.number))
        if not run.pending:
            self.phase_settled(run)

    def settle(self, key: PendingKey, *, failed: bool) -> None:
        """Settle a pending handler result."""
        run = self.runs[key[1]]
        run.pending.remove(key)
        run.phase_failed = run.phase_failed or failed
        if not run.pending:
            self.phase_settled(run)

    def phase_settled(self, run: ModelRun) -> None:
        """Move a run whose phase has settled to the next phase or an end."""
        if run.phase_failed and self.config.on_handler_error == "abort":
            self.end(run, "aborted")
        elif run.phase_index + 1 < len(self.config.phases):
            run.phase_index += 1
            self.enter_phase(run)
        else:
            self.end(run, "completed")

    def cancel(self, number: int) -> list[PendingKey]:
        """Cancel run *number*; return the pending handler calls it cancels."""
        run = self.runs[number]
        cancelled = sorted(run.pending)
        run.pending.clear()
        if run.state == "parked":
            self.parked.remove(run)
        elif run.state == "backlog":
            self.backlog.remove(run)
        self.end(run, "cancelled")
        return cancelled

    def end(self, run: ModelRun, status: str) -> None:
        """End a run with a status."""
        began = run.state == "active"
        run.state = "ended"
        self.ends.append((run.number, status))
        if not began:
            return
        self.in_flight.discard(run.number)
        if run is self.holder:
            self.holder = None
            if self.backlog:
                self.holder = self.backlog.popleft()
                self.begin(self.holder)
        self.drain_if_idle()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the dispatcher, and the model."""
        if self.state == "stopped":
            self.state = "running"
            parked = list(self.parked)
            self.parked.clear()
            for run in parked:
                self.accept(run)

    def stop(self, waiter: int) -> None:
        """Stop the dispatcher, and the model."""
        if self.state == "stopped":
            self.fired_waiters.add(waiter)
            return
        self.waiters.append(waiter)
        self.state = "stopping"
        self.drain_if_idle()

    def drain_if_idle(self) -> None:
        """Finish stopping once nothing is in flight."""
        if self.state == "stopping" and not self.in_flight and not self.backlog:
            self.state = "stopped"
            self.fired_waiters.update(self.waiters)
            self.waiters.clear()


class _Owner:
    """Holds a weakly registered bound method; deleting the owner unregisters it."""

    def __init__(self, call: Callable[[HandlerId, int], Any]) -> None:
        self._call = call
        self.handler_id = HandlerId(0)

    def handle(self, event: int) -> Any:
        """Record the call (and maybe hand back a Deferred)."""
        return self._call(self.handler_id, event)


_UNKNOWN_ID = HandlerId(1_000_000)


class DispatcherMachine(RuleBasedStateMachine):
    """Drives an EventDispatcher on a Clock and a Model side by side, comparing them."""

    def __init__(self) -> None:
        super().__init__()
        self.model: Model | None = None
        self.calls: list[PendingKey] = []
        self.ends: list[tuple[int, str]] = []
        self.errors: dict[int, type[BaseException]] = {}
        self.fired_waiters: set[int] = set()
        self.pending: dict[PendingKey, Deferred[None]] = {}
        self.handler_deferreds: list[Deferred[None]] = []
        self.strong_owners: dict[HandlerId, _Owner] = {}
        self.weak_owners: dict[HandlerId, _Owner] = {}
        self.kinds: dict[HandlerId, str] = {}
        self.issued: list[HandlerId] = []
        self.run_deferreds: dict[int, Deferred[EventRun]] = {}
        self.open_runs: set[int] = set()
        self.overlaps: list[tuple[int, set[int]]] = []
        self.unsettled_at_stop: list[int] = []
        self.events = 0
        self.stops = 0
        self.logged_errors: list[LogEvent] = []

        @provider(ILogObserver)
        def observe(event: LogEvent) -> None:
            if event.get("isError") or "log_failure" in event:
                self.logged_errors.append(event)

        self.observer = observe
        globalLogPublisher.addObserver(observe)

    @property
    def m(self) -> Model:
        """The model, once initialised."""
        assert self.model is not None
        return self.model

    @initialize(config=configs, start=st.sampled_from((True, True, True, False)))
    def build(self, config: Config, start: bool) -> None:
        """Build the dispatcher under test, which is stopped, and maybe start it."""
        self.dispatcher = EventDispatcher(
            KEYWORDS,
            config.phases,
            reactor=Clock(),
            ordering=config.ordering,
            when_stopped=config.when_stopped,
            max_queued=config.max_queued,
            on_handler_error=config.on_handler_error,
        )
        self.model = Model(config)
        assert not self.dispatcher.running
        if start:
            self.start()

    # -- handlers, as the dispatcher calls them ---------------------------------------

    def _called(self, handler_id: HandlerId, event: int) -> Deferred[None] | None:
        if self.m.config.ordering == "serial" and self.open_runs - {event}:
            self.overlaps.append((event, set(self.open_runs)))
        self.open_runs.add(event)
        self.calls.append((handler_id, event))
        if self.kinds[handler_id] == "sync":
            return None
        deferred: Deferred[None] = Deferred()
        self.pending[handler_id, event] = deferred
        self.handler_deferreds.append(deferred)
        return deferred

    def _run_ended(self, number: int) -> Callable[[EventRun | Failure], None]:
        def ended(result: EventRun | Failure) -> None:
            self.open_runs.discard(number)
            if isinstance(result, Failure):
                assert result.value is not None
                self.errors[number] = type(result.value)
            else:
                assert result.event == number
                self.ends.append((number, result.status))

        return ended

    def _stopped(self, waiter: int) -> Callable[[None], None]:
        def stopped(_: None) -> None:
            self.fired_waiters.add(waiter)
            self.unsettled_at_stop.append(len(self.pending))

        return stopped

    # -- rules ------------------------------------------------------------------------

    @rule(data=st.data())
    def add(self, data: st.DataObject) -> None:
        """Register a strong or weak, sync or Deferred-returning handler."""
        plan = data.draw(
            handler_plans(self.m.config.phases, MODEL_KEYWORDS, MODEL_VALUES), label="plan"
        )
        owner = _Owner(self._called)
        deferred = self.dispatcher.add_event_handler(
            owner.handle, plan.phase, plan.weak, max_calls=plan.max_calls, **plan.spec
        )
        got: list[HandlerId | Failure] = []
        deferred.addBoth(got.append)
        (handler_id,) = got
        assert not isinstance(handler_id, Failure), handler_id
        owner.handler_id = handler_id
        self.kinds[handler_id] = plan.kind
        self.issued.append(handler_id)
        (self.weak_owners if plan.weak else self.strong_owners)[handler_id] = owner
        self.m.add(handler_id, plan)

    def _remove(self, handler_id: HandlerId) -> None:
        outcome: list[object] = []
        self.dispatcher.remove_event_handler(handler_id).addBoth(outcome.append)
        (result,) = outcome
        if self.m.remove(handler_id):
            assert result is None
        else:
            assert isinstance(result, Failure)
            assert result.check(UnknownHandlerError) is not None
            assert isinstance(result.value, KeyError)

    def _later_in_flight(self) -> list[HandlerId]:
        """Return the registered handlers a run in flight has yet to reach."""
        return sorted(
            {
                handler_id
                for run in self.m.runs.values()
                if run.state == "active"
                for ids in run.matches[run.phase_index + 1 :]
                for handler_id in ids
                if handler_id in self.m.handlers
            }
        )

    def _collect(self, handler_id: HandlerId) -> None:
        # The next call on the dispatcher warns about a registered handler never called.
        unused = handler_id in self.m.handlers and all(
            called != handler_id for called, _ in self.calls
        )
        with collected_warnings(expected=unused):
            owner = weakref.ref(self.weak_owners.pop(handler_id))
            if owner() is not None:  # reference counting frees it at once; this is a backstop
                gc.collect()
            assert owner() is None
            self.dispatcher.handlers()
        self.m.remove(handler_id)

    # Few rules, each with several operations: hypothesis switches whole rules off
    # at random per test case ("swarm testing"), and with a rule per operation
    # too few cases would both add handlers and fire events while running.

    @rule(data=st.data())
    def take_away(self, data: st.DataObject) -> None:
        """Remove a handler by id, one a run in flight has yet to reach, or collect a weak one."""
        registered = sorted(self.m.handlers)
        later = self._later_in_flight()
        ops = ["remove"] + ["remove_later"] * bool(later) + ["collect"] * bool(self.weak_owners)
        op = data.draw(st.sampled_from(ops), label="op")
        if op == "collect":
            self._collect(data.draw(st.sampled_from(sorted(self.weak_owners)), label="id"))
            return
        ids = st.sampled_from([*self.issued, _UNKNOWN_ID])
        if op == "remove_later":
            ids = st.sampled_from(later)
        elif registered:
            ids = st.one_of(st.sampled_from(registered), ids)
        self._remove(data.draw(ids, label="id"))

    @rule(details=details_dicts(MODEL_KEYWORDS, MODEL_VALUES))
    def fire(self, details: dict[str, Any]) -> None:
        """Fire an event with random details."""
        self.events += 1
        number = self.events
        deferred = self.dispatcher.fire_event(number, **details)
        self.run_deferreds[number] = deferred
        deferred.addBoth(self._run_ended(number))
        self.m.fire(number, details)

    def _unended(self) -> list[int]:
        return [n for n, d in sorted(self.run_deferreds.items()) if not d.called]

    @precondition(lambda self: bool(self.pending or self._unended()))
    @rule(data=st.data())
    def settle_or_cancel(self, data: st.DataObject) -> None:
        """Fire a pending handler Deferred with a result or a failure, or cancel an unended run."""
        ops = ["succeed", "fail"] * bool(self.pending) + ["cancel"] * bool(self._unended())
        op = data.draw(st.sampled_from(ops), label="op")
        if op == "cancel":
            number = data.draw(st.sampled_from(self._unended()), label="run")
            for key in self.m.cancel(number):
                del self.pending[key]  # the dispatcher cancels it, and consumes the CancelledError
            self.run_deferreds[number].cancel()
            return
        key = data.draw(st.sampled_from(sorted(self.pending)), label="pending")
        deferred = self.pending.pop(key)
        if op == "fail":
            deferred.errback(RuntimeError(f"handler {key[0]} failed for event {key[1]}"))
        else:
            deferred.callback(None)
        self.m.settle(key, failed=op == "fail")

    @rule(op=st.sampled_from(("start", "stop")))
    def lifecycle(self, op: str) -> None:
        """Start the dispatcher (refused while stopping) or stop it (running is False at once)."""
        if op == "start":
            self.start()
        else:
            self.stop()

    def start(self) -> None:
        """Start the dispatcher, and the model."""
        if self.m.state == "stopping":
            with pytest.raises(RuntimeError, match="stopping"):
                self.dispatcher.start()
            return
        self.dispatcher.start()
        self.m.start()
        assert self.dispatcher.running

    def stop(self) -> None:
        """Stop the dispatcher, and the model."""
        self.stops += 1
        waiter = self.stops
        self.dispatcher.stop().addCallback(self._stopped(waiter))
        assert not self.dispatcher.running
        self.m.stop(waiter)

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def agrees_with_model(self) -> None:
        """The dispatcher's handlers, calls, run ends and stop Deferreds are the model's."""
        if self.model is None:
            return
        model = self.model
        assert self.dispatcher.running == (model.state == "running")
        records = self.dispatcher.handlers()
        # Phase by phase, then in registration order (no priorities in the model).
        rank = {phase: index for index, phase in enumerate(model.config.phases)}
        in_call_order = sorted(model.handlers, key=lambda h: rank[model.handlers[h].plan.phase])
        assert [record.handler_id for record in records] == in_call_order
        assert {r.handler_id: r.calls for r in records} == {
            h: m.calls for h, m in model.handlers.items()
        }
        assert self.calls == model.calls
        assert self.ends == model.ends
        assert self.errors == model.errors
        assert set(self.pending) == {key for run in model.runs.values() for key in run.pending}
        assert self.fired_waiters == model.fired_waiters
        assert self.unsettled_at_stop == [0] * len(self.unsettled_at_stop)

    @invariant()
    def serial_runs_do_not_overlap(self) -> None:
        """In serial mode no handler runs while another run has begun and not ended."""
        assert self.overlaps == []
        if self.model is not None and self.model.config.ordering == "serial":
            finished = [n for n, status in self.ends if status in ("completed", "aborted")]
            assert finished == sorted(finished)

    @invariant()
    def no_failure_is_left_unhandled(self) -> None:
        """Every handler Deferred the test fired has had its failure consumed by the dispatcher."""
        for deferred in self.handler_deferreds:
            if deferred.called:
                assert not isinstance(deferred.result, Failure), deferred.result
        assert self.logged_errors == []

    def teardown(self) -> None:
        """Consume whatever is left and check nothing logged an unhandled error."""
        try:
            self.strong_owners.clear()
            self.weak_owners.clear()
            self.pending.clear()
            self.handler_deferreds.clear()
            self.run_deferreds.clear()
            assert self.logged_errors == []
        finally:
            globalLogPublisher.removeObserver(self.observer)


@pytest.fixture(autouse=True)
def _capture_records() -> Iterator[None]:
    """Keep the dispatcher's records (dropped runs, failed handlers) off standard error."""
    with structlog.testing.capture_logs():
        yield


DispatcherMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDispatcherModel = DispatcherMachine.TestCase


def test_cancelling_the_next_serial_run_from_a_callback_frees_the_slot() -> None:
    """A run cancelled from a callback on the run ahead of it ends, and stop() still fires."""
    dispatcher = EventDispatcher((), reactor=Clock())
    dispatcher.start()
    pending: list[Deferred[None]] = []

    def handler(event: object) -> Deferred[None]:
        deferred: Deferred[None] = Deferred()
        pending.append(deferred)
        return deferred

    dispatcher.add_event_handler(handler, "during", use_weakref=False)
    first = dispatcher.fire_event("first")
    second = dispatcher.fire_event("second")
    outcomes: list[object] = []
    second.addBoth(outcomes.append)
    raised: list[Failure] = []
    first.addCallback(lambda _: second.cancel()).addErrback(raised.append)
    pending[0].callback(None)
    stopped: list[None] = []
    dispatcher.stop().addCallback(stopped.append)
    assert [o.status for o in outcomes if isinstance(o, EventRun)] == ["cancelled"]
    assert raised == [], raised[0].getTraceback()
    assert stopped == [None]
