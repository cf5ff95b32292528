"""The per-run machine: one instance carries one ``fire_event`` through the phases.

The machine is built once per phase configuration by :func:`make_run_machine`
and instantiated per run.  Its states are ``waiting`` (for its turn),
``phase:<name>`` for each configured phase, and the end states
``completed``, ``aborted``, ``cancelled`` and ``dropped``.

Entering a phase state calls that phase's handlers (the behaviour of every
transition into it does it; the phase under way, :class:`PhaseRun`, is the
core's, so the states are plain states, cheaper per input than automat's data
states).  A handler whose result has already settled when it
returns is recorded on the spot; each result still pending is an input,
``settle``, when it settles.  When nothing is pending any more, the phase
feeds the machine ``phase_drained`` (or ``phase_failed``, when the run aborts
on handler errors, or a handler raised :class:`AbortRun`), which moves it to the
next phase or to an end state; :func:`step` feeds those once the step under
way has returned.

Cleanup phases (``always``) get two more states each: ``aborting:<name>`` and
``cancelling:<name>``.  A run that aborts (``phase_failed``) or is cancelled
in any phase state goes to the first cleanup phase after it (or to its end
state if there is none), calls that phase's handlers, and from there goes on
to the next cleanup phase, and at last to ``aborted`` or ``cancelled``.  A
second ``cancel`` while cancelling (``stop(timeout)`` running out) ends the
run at once.  With no cleanup phase the machine has none of these states.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, final

from automat import TypeMachine, TypeMachineBuilder
from twisted.internet.defer import CancelledError, Deferred
from twisted.python import reflect
from twisted.python.failure import Failure

from twisted_event_dispatcher._safe import safe_repr, safe_str, type_name
from twisted_event_dispatcher.exceptions import AbortRun, HandlerTimedOut
from twisted_event_dispatcher.machines._indexed import indexed
from twisted_event_dispatcher.runtime._records import EventRun, HandlerOutcome

if TYPE_CHECKING:
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

    from twisted_event_dispatcher.runtime._observe import RunObservation
    from twisted_event_dispatcher.runtime._records import RunOrigin
    from twisted_event_dispatcher.runtime._registry import Matches, Registration
    from twisted_event_dispatcher.typing import HandlerId, OutcomeStatus, RunStatus

__all__ = [
    "CURRENT_CALL",
    "END_STATES",
    "HandlerCall",
    "RunCore",
    "RunHost",
    "RunInputs",
    "cleanup_state_names",
    "forget_frames",
    "log_failure",
    "make_run_machine",
    "phase_state_name",
    "step",
]


_outcome: Final = tuple.__new__
"""Builds a :class:`HandlerOutcome` from a tuple of its fields in C (its ``__new__`` is Python)."""

HandlerCall = tuple["RunCore", "Registration"]
"""Which run's which handler is executing (the value of :data:`CURRENT_CALL`)."""

CURRENT_CALL: Final[contextvars.ContextVar[HandlerCall | None]] = contextvars.ContextVar(
    "twisted_event_dispatcher.current_call", default=None
)
"""The handler call executing now.

Set around each handler call; Twisted copies the context into the coroutines
and ``inlineCallbacks`` generators a handler starts, so an event fired from
anywhere inside a handler's work knows its parent run and handler.
"""

END_STATES: Final = ("completed", "aborted", "cancelled", "dropped")


def phase_state_name(phase: str) -> str:
    """Return the name of the machine state that runs *phase*'s handlers."""
    return f"phase:{phase}"


def cleanup_state_names(phase: str) -> tuple[str, str]:
    """Return the states that run cleanup phase *phase* after an abort, after a cancel."""
    return (f"aborting:{phase}", f"cancelling:{phase}")


class RunInputs(Protocol):
    """The inputs of a run machine."""

    def begin(self) -> None:
        """The run's turn has come: enter the first phase."""

    def drop(self) -> None:
        """The dispatcher is stopped and drops the run unstarted."""

    def settle(self, call: PendingCall, outcome: HandlerOutcome) -> None:
        """A handler result that was pending has settled with *outcome*."""

    def phase_drained(self) -> None:
        """Feedback: every handler of the current phase has settled."""

    def phase_failed(self) -> None:
        """Feedback: the current phase has settled with failures, and the run aborts."""

    def cancel(self) -> None:
        """The run's Deferred was cancelled."""


class RunHost(Protocol):
    """What a run needs of the dispatcher that fired it."""

    @property
    def clock(self) -> IReactorTime:
        """The reactor whose clock times handlers and runs out timeouts."""

    @property
    def phases(self) -> tuple[str, ...]:
        """The configured phases, in order."""

    @property
    def abort_on_error(self) -> bool:
        """Whether a phase with a failed handler skips the remaining phases."""

    @property
    def handler_timeout(self) -> float | None:
        """The default timeout for pending handler results, in seconds."""

    def exhaust(self, reg: Registration) -> None:
        """Remove *reg*, which is being given its last call."""

    def from_coroutine(self, coro: Coroutine[Any, Any, Any]) -> Deferred[Any]:
        """Run *coro*, a handler's result, and return a Deferred of its outcome."""

    def call_soon(self, work: Callable[[], object]) -> None:
        """Call *work* now, or, when the stack is deep already, once it has unwound a little.

        Work that may start more work of the same kind (cancelling a handler's
        Deferred cancels the child run it awaits, which cancels its handler's
        Deferred...) goes through it, so a chain of any depth never exhausts
        the stack.
        """

    def run_ended(self, core: RunCore, result: EventRun) -> None:
        """*core* has reached an end state: do the bookkeeping and deliver *result*."""


@dataclass(eq=False, slots=True)
class RunCore:
    """The state one run shares across its machine's states."""

    host: RunHost
    run_id: str
    parent: HandlerCall | None
    event: Any
    details: dict[str, Any]
    logger: Any
    """The dispatcher's logger when the run was fired; :attr:`log` is it, bound to the run."""
    debug: bool
    matches: Matches | None = None
    origin: RunOrigin | None = None
    generation: int = -1
    cancel_requested: bool = False
    abort_reason: str | None = None
    """The first :class:`AbortRun` reason a handler of this run gave."""
    ending: RunStatus | None = None
    """``aborted`` or ``cancelled`` once the run heads for that end through cleanup phases."""
    fired_at: float = 0.0
    started: float = 0.0
    status: RunStatus | None = None
    outcomes: list[HandlerOutcome | None] = field(default_factory=list)
    """The outcomes in call order; a call still pending holds its slot with None."""
    handed_out: list[HandlerOutcome] | None = None
    """The outcomes list of a result handed out before the run ended, to complete at its end."""
    phase: PhaseRun | None = None
    """The phase the run is in (or was in last, once it has ended); None before it begins."""
    context: contextvars.Context | None = None
    """The context it was fired in, kept when the stack was too deep to begin it in place."""
    observation: RunObservation | None = None
    """What watches the run (see :mod:`twisted_event_dispatcher.runtime._observe`), or None."""
    deferred: Deferred[EventRun] = field(init=False)
    inputs: RunInputs = field(init=False)
    bound_log: Any = None
    """:attr:`log`, once bound."""
    clock: IReactorTime = field(init=False)
    """``host.clock``, taken when the run was created (read for every handler)."""
    stepping: bool = False
    """Whether :func:`step` is feeding the machine an input (or its feedback)."""
    queued: list[tuple[str, tuple[Any, ...]]] | None = None
    """The inputs that came in while stepping, in order: :func:`step` feeds them next."""
    feedback: str | None = None
    """The name of the feedback input :func:`step` feeds next (before :attr:`queued`)."""

    @property
    def log(self) -> Any:
        """The run's logger: :attr:`logger` bound to the run's ids (bound when first needed).

        Most runs with debug off log nothing, so they never pay for the binding.
        """
        log = self.bound_log
        if log is None:
            parent, origin = self.parent, self.origin
            if parent is not None:
                log = self.logger.bind(run_id=self.run_id, parent_run_id=parent[0].run_id)
            elif origin is not None:
                log = self.logger.bind(
                    run_id=self.run_id, parent_run_id=origin.run_id, origin_node=origin.node
                )
            else:
                log = self.logger.bind(run_id=self.run_id)
            self.bound_log = log
        return log

    @property
    def parent_run_id(self) -> str | None:
        """The id of the run whose handler fired this one (here, or in another process)."""
        if self.parent is not None:
            return self.parent[0].run_id
        return None if self.origin is None else self.origin.run_id

    def release(self) -> None:
        """Let go of the machine: the run has ended (or never will begin) and is delivered.

        The machine holds the core, and the core the machine: without this, a
        run would leave that cycle (and all it holds) to the cyclic garbage
        collector.  Nothing feeds the machine any more by then: every call has
        settled or been cancelled, and the run's Deferred has fired, so its
        canceller is never called.
        """
        self.inputs = _RELEASED

    def result(self, status: RunStatus) -> EventRun:
        """Return the :class:`EventRun` this run delivers when it ends with *status*.

        Once the run has ended, its ``outcomes`` is the run's own list.  A
        result handed out before (see the canceller in the dispatcher) gets the
        outcomes so far, in a list the run completes when it ends.
        """
        if self.status is None:
            outcomes = [outcome for outcome in self.outcomes if outcome is not None]
            self.handed_out = outcomes
        else:
            # Every call has settled, or was cancelled, by the time the run ends.
            outcomes = cast("list[HandlerOutcome]", self.outcomes)
        return EventRun(
            run_id=self.run_id,
            parent_run_id=self.parent_run_id,
            event=self.event,
            details=self.details,
            status=status,
            outcomes=outcomes,
            origin=self.origin,
            abort_reason=self.abort_reason,
        )


def step(core: RunCore, input_name: str, *args: Any) -> None:
    """Feed *core*'s machine its input *input_name* (one of :class:`RunInputs`), then what follows.

    Every input goes through here, from outside the machine or from inside
    it.  An input that comes in while a step is under way (a handler
    cancelling its own run, a handler result settling during a transition)
    waits in :attr:`RunCore.queued` and is fed once the step has returned,
    in arrival order: what automat's re-entrant queue would do.  A phase that
    has settled leaves its feedback (``phase_drained`` or ``phase_failed``)
    in :attr:`RunCore.feedback`, fed right after the input that settled it
    (behind the queued inputs, if any came first).

    An input is fed with the transition the machine's index holds (see
    :mod:`twisted_event_dispatcher.machines._indexed`): the state moves and the
    transition's outputs run, which is what automat's input method does,
    without its three frames per input.  Whatever the index cannot feed
    that way (a tracer set, a pair it does not hold) goes through automat's
    method.
    """
    if core.stepping:
        queued = core.queued
        if queued is None:
            queued = core.queued = []
        if core.feedback is not None:  # it came first: it goes first
            queued.append((core.feedback, ()))
            core.feedback = None
        queued.append((input_name, args))
        return
    core.stepping = True
    inputs: Any = core.inputs
    try:
        while True:
            transitioner = inputs.__automat_transitioner__
            found = (
                transitioner.index.get((id(transitioner._state), input_name))
                if transitioner._tracer is None  # automat traces through its own method
                else None
            )
            if found is None or found[2] is None:
                getattr(inputs, input_name)(*args)
            else:
                transitioner._state = found[0]
                for method in found[2]:
                    method(inputs, core, *args)
            feedback = core.feedback
            if feedback is not None:
                core.feedback = None
                input_name = feedback
                args = ()
            elif core.queued:
                input_name, args = core.queued.pop(0)
            else:
                break
    finally:
        core.stepping = False
        core.feedback = core.queued = None


@final
class _NoIndex:
    """A transitioner with a tracer set: :func:`step` goes to the input method."""

    _tracer: Final = "released"


@final
class _Released:
    """The inputs of a released run (see :meth:`RunCore.release`): none can come."""

    __automat_transitioner__: Final = _NoIndex()
    """:func:`step` finds no transition here, and calls the input method (which does nothing)."""

    def begin(self) -> None:
        """Never called: a released run has ended."""

    def drop(self) -> None:
        """Never called: a released run has ended."""

    def settle(self, call: PendingCall, outcome: HandlerOutcome) -> None:
        """Never called: a released run has ended."""

    def phase_drained(self) -> None:
        """Never called: a released run has ended."""

    def phase_failed(self) -> None:
        """Never called: a released run has ended."""

    def cancel(self) -> None:
        """Never called: a released run has ended."""


_RELEASED: Final = _Released()


@final
class PhaseRun:
    """The phase under way (:attr:`RunCore.phase`): the handler results it still waits for."""

    __slots__ = ("failed", "index", "leaving", "name", "pending", "state")

    def __init__(self, index: int, name: str, state: str) -> None:
        self.index: Final = index
        self.name: Final = name
        self.state: Final = state
        self.pending: dict[PendingCall, None] = {}
        self.failed = False
        """A handler failed or aborted the run (so it aborts, when configured or vetoed)."""
        self.leaving = "phase_drained"


_MISSING: Final = object()

_CALLING: Final = 0
_WAITING: Final = 1
_DONE: Final = 2


@final
class PendingCall:
    """One handler call whose result is a Deferred; its callbacks report the settlement.

    While it waits, its outcome's place in :attr:`RunCore.outcomes` (call
    order) is held at index :attr:`slot`.
    """

    __slots__ = (
        "core",
        "deferred",
        "handler_id",
        "name",
        "outcome",
        "phase",
        "seconds",
        "slot",
        "started",
        "state",
        "timeout",
        "timer",
    )

    # Made by _call_handlers, which sets every field itself (no __init__ frame per call).
    core: RunCore
    seconds: Callable[[], float]
    """The run's clock (``core.clock.seconds``), read when the call settles."""
    handler_id: HandlerId
    name: str
    phase: str
    started: float
    state: int
    outcome: HandlerOutcome | None
    """Its outcome, when its Deferred had a result already as it was called."""
    deferred: Deferred[Any]
    """The handler's Deferred (set once it waits)."""
    slot: int
    timer: IDelayedCall | None
    timeout: float | None
    """Once the timer has run out: the timeout, in seconds."""

    def settled(self, result: object) -> None:
        """Callback and errback of the handler's Deferred (added with ``addBoth``)."""
        if isinstance(result, Failure):
            self.failed(result)
            return
        if self.timer is not None or self.state != _WAITING:
            self._settle("succeeded", result, None)
            return
        # The common case, without _settle's frame: a success while the run waits.
        now = self.seconds()
        self.state = _DONE
        core = self.core
        outcome = _outcome(
            HandlerOutcome,
            (
                self.handler_id,
                self.name,
                self.phase,
                "succeeded",
                result,
                None,
                now - self.started,
                now,
            ),
        )
        inputs: Any = core.inputs
        transitioner = inputs.__automat_transitioner__
        found = (
            None
            if core.stepping or transitioner._tracer is not None
            else transitioner.index.get((id(transitioner._state), "settle"))
        )
        if found is None or found[2] is None:
            step(core, "settle", self, outcome)
            return
        # step()'s work, written out for the input every waiting call ends with:
        # the settle transition, then (once the phase has settled) what followed.
        core.stepping = True
        try:
            transitioner._state = found[0]
            for method in found[2]:
                method(inputs, core, self, outcome)
        finally:
            core.stepping = False
            feedback, queued = core.feedback, core.queued
            core.feedback = core.queued = None
        if feedback is not None:
            core.queued = queued
            step(core, feedback)
        elif queued:
            input_name, args = queued.pop(0)
            core.queued = queued
            step(core, input_name, *args)

    def failed(self, failure: Failure) -> None:
        """The handler's Deferred has failed; consumes the failure, which the run records."""
        # isinstance, not Failure.check(): that names the exception's classes,
        # which a class with an odd __module__ makes raise.
        if self.timeout is not None and isinstance(failure.value, CancelledError):
            failure = self._timed_out(self.timeout)
        status: OutcomeStatus = (
            "timed_out" if isinstance(failure.value, HandlerTimedOut) else "failed"
        )
        self._settle(status, None, failure)

    def time_out(self, timeout: float) -> None:
        """The call's timer has run out: cancel its Deferred, and end the call ``timed_out``.

        The call ends even when the Deferred cannot be cancelled: its
        canceller raises (logged), or it waits on something cancelling does
        not reach.
        """
        self.timer = None
        if self.state != _WAITING:
            return
        self.timeout = timeout
        self.cancel()
        if self.state == _WAITING:
            self._settle("timed_out", None, self._timed_out(timeout))

    def _timed_out(self, timeout: float) -> Failure:
        return Failure(
            HandlerTimedOut(
                f"handler {self.name} (id {self.handler_id}) in phase {self.phase!r} "
                f"did not settle within {timeout} seconds"
            )
        )

    def cancel(self) -> None:
        """Cancel the call's Deferred; a canceller that raises is logged, never raised."""
        try:
            self.deferred.cancel()
        except BaseException:  # noqa: BLE001 -- the handler's bug must not stop the run
            log_failure(
                self.core.log,
                "handler_cancel_failed",
                Failure(),
                handler_id=self.handler_id,
                handler_name=self.name,
                phase=self.phase,
            )

    def _settle(self, status: OutcomeStatus, result: object, failure: Failure | None) -> None:
        now = self.seconds()
        if self.timer is not None:
            if self.timer.active():
                self.timer.cancel()
            self.timer = None
        outcome = _outcome(
            HandlerOutcome,
            (
                self.handler_id,
                self.name,
                self.phase,
                status,
                result,
                failure,
                now - self.started,
                now,
            ),
        )
        if self.state == _WAITING:
            self.state = _DONE
            core = self.core
            step(core, "settle", self, outcome)
        elif self.state == _CALLING:
            self.state = _DONE
            self.outcome = outcome
        # _DONE: the run was cancelled and has recorded this call already.


def _awaited(awaitable: Awaitable[Any], host: RunHost) -> Deferred[Any]:
    """Return a Deferred for an awaitable other than a native coroutine or a Deferred.

    A :class:`collections.abc.Coroutine` that is not native (Cython compiles
    ``async def`` to those) is run as native ones are; any other object with
    ``__await__`` (an asyncio future, say) is awaited from a native coroutine.
    What they await must be Deferreds, as in any coroutine that Twisted runs,
    or, on the asyncio reactor, asyncio futures as well (see ``runtime._asyncio``).
    """
    if isinstance(awaitable, Coroutine):
        return host.from_coroutine(awaitable)
    return host.from_coroutine(_await(awaitable))


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _log_success(core: RunCore, outcome: HandlerOutcome, call: int | None = None) -> None:
    # (core.bound_log or core.log): the property is a call per record; its
    # value, once bound, is an attribute load (here and in the per-phase records).
    # A call that settles in place writes this one record, with its call count
    # (call); one that waits wrote handler_called when it began to (call is None).
    if call is None:
        (core.bound_log or core.log).debug(
            "handler_settled",
            handler_id=outcome.handler_id,
            handler_name=outcome.handler_name,
            phase=outcome.phase,
            status=outcome.status,
            duration=outcome.duration,
        )
    else:
        (core.bound_log or core.log).debug(
            "handler_settled",
            handler_id=outcome.handler_id,
            handler_name=outcome.handler_name,
            phase=outcome.phase,
            status=outcome.status,
            duration=outcome.duration,
            call=call,
        )


def _record(
    core: RunCore,
    phase: PhaseRun,
    outcome: HandlerOutcome,
    slot: int = -1,
    call: int | None = None,
) -> None:
    status = outcome.status
    failure = outcome.failure
    if status == "failed" and isinstance(failure.value, AbortRun):  # type: ignore[union-attr]
        outcome = outcome._replace(status="aborted")
        status = "aborted"
    if core.observation is not None:
        core.observation.handler_settled(outcome)
    if slot < 0:
        core.outcomes.append(outcome)
    else:
        core.outcomes[slot] = outcome
    if status == "succeeded":
        if core.debug:
            _log_success(core, outcome, call)
        return
    phase.failed = True
    assert failure is not None  # noqa: S101 -- every non-success carries its failure
    if status == "aborted":
        _record_abort(core, outcome, failure, call)
        return
    fields: dict[str, object] = {
        "handler_id": outcome.handler_id,
        "handler_name": outcome.handler_name,
        "phase": outcome.phase,
        "status": status,
        "duration": outcome.duration,
    }
    if call is not None:
        fields["call"] = call
    log_failure(core.log, "handler_settled", failure, **fields)
    # Once logged, keep no frames: they hold the handler, its instance and
    # their locals, which would outlive a weakly registered handler in the run.
    forget_frames(failure)


def _exception_type(failure: Failure) -> str | None:
    try:
        return str.__str__(failure.type.__name__) if failure.type else None
    except Exception:  # noqa: BLE001 -- a metaclass may break __name__; never raise here
        return type_name(failure.value)


def log_failure(log: Any, event: str, failure: Failure, **fields: object) -> None:
    """Log *failure* at error level with its type, message and traceback; never raise.

    The message is taken with :func:`~twisted_event_dispatcher._safe.safe_str`
    (uncut: the logging configuration bounds what it prints): the exception
    is the user's, and its ``__str__`` may raise.  Should the
    logging configuration fail to render the record (a renderer showing the
    frames' locals meets a ``__repr__`` that raises), it is logged again
    without the traceback; should that fail too, it is given up: a run in
    the middle of a transition must never be stopped by its logging.
    """
    fields["exception_type"] = _exception_type(failure)
    fields["exception_message"] = safe_str(failure.value, limit=None)
    try:
        log.error(
            event, **fields, exc_info=(failure.type, failure.value, failure.getTracebackObject())
        )
    except Exception:  # noqa: BLE001 -- see the docstring
        with contextlib.suppress(Exception):  # nothing left to report it with
            log.error(event, **fields)  # noqa: TRY400 -- the traceback is what failed


def _qualified(cls: type) -> str:
    try:
        return str.__str__(reflect.qual(cls))
    except Exception:  # noqa: BLE001 -- a class whose __module__ is no str
        return type.__dict__["__qualname__"].__get__(cls, type)  # type: ignore[no-any-return]


def _name_parents(failure: Failure) -> None:
    # Failure.check() and cleanFailure() name the exception's classes with
    # reflect.qual, which raises for a class whose __module__ is no str: name
    # them safely first, so that neither raises.
    try:
        failure.parents  # noqa: B018 -- computed and kept on first access
    except Exception:  # noqa: BLE001
        failure.parents = [_qualified(cls) for cls in type(failure.value).__mro__]


def forget_frames(failure: Failure) -> None:
    """Drop the frames *failure* holds: its own, and those of every exception chained to it.

    :meth:`Failure.cleanFailure` replaces the failure's own traceback with
    strings, but the exceptions on the value's ``__cause__`` and
    ``__context__`` (``raise X from e``, or raising inside an ``except``
    block), and those inside an exception group, keep their tracebacks, and
    through them the frames of the handler that raised: a weakly registered
    bound method's instance would stay alive as long as the run's outcomes.
    """
    _name_parents(failure)
    failure.cleanFailure()
    todo: list[object] = [failure.value]
    seen: set[int] = set()
    while todo:
        error = todo.pop()
        if not isinstance(error, BaseException) or id(error) in seen:
            continue  # chains can loop
        seen.add(id(error))
        try:
            error.__traceback__ = None
            todo.append(error.__cause__)
            todo.append(error.__context__)
            group = getattr(error, "exceptions", None)  # an ExceptionGroup's members
            if type(group) is tuple:
                todo.extend(group)
        except Exception:  # noqa: BLE001, S112 -- a subclass may break these attributes
            continue


def _record_abort(
    core: RunCore, outcome: HandlerOutcome, failure: Failure, call: int | None
) -> None:
    """Note a call that raised :class:`AbortRun` (recorded already): a veto, not a failure."""
    reason = safe_str(getattr(failure.value, "reason", None) or failure.value)
    if core.abort_reason is None:
        core.abort_reason = reason
    if core.debug and call is not None:
        # The call settled in place: it has no handler_called record yet, and
        # run_abort_requested is no settlement.
        core.log.debug(
            "handler_called",
            handler_id=outcome.handler_id,
            handler_name=outcome.handler_name,
            phase=outcome.phase,
            call=call,
        )
    core.log.info(
        "run_abort_requested",
        handler_id=outcome.handler_id,
        handler_name=outcome.handler_name,
        phase=outcome.phase,
        reason=reason,
    )
    forget_frames(failure)


def _trace(
    core: RunCore, from_state: str, input_name: str, to_state: str, phase: str | None
) -> None:
    if core.debug:
        (core.bound_log or core.log).debug(
            "run_transition",
            machine="run",
            from_state=from_state,
            input=input_name,
            to_state=to_state,
            phase=phase,
        )


def _phase_settled(inputs: RunInputs, core: RunCore, phase: PhaseRun) -> None:
    if core.debug:
        (core.bound_log or core.log).debug(
            "phase_completed", phase=phase.name, failed=phase.failed
        )
    if phase.failed and (core.host.abort_on_error or core.abort_reason is not None):
        phase.leaving = feedback = "phase_failed"
    else:
        feedback = "phase_drained"
    if core.stepping and not core.queued:
        # Nothing is queued behind the step under way: step() feeds it next.
        core.feedback = feedback
    else:
        step(core, feedback)  # queued behind the inputs queued before it


def _phase_settled_unless_cancelled(inputs: RunInputs, core: RunCore, phase: PhaseRun) -> None:
    # With cleanup phases, a cancel queued behind the step under way (a handler
    # cancelling its own run) leads to a cleanup state: feeding this phase's end
    # after it would end that cleanup phase too early.  The cancel moves on instead.
    if not core.cancel_requested:
        _phase_settled(inputs, core, phase)


def _call_handlers(inputs: RunInputs, core: RunCore, phase: PhaseRun) -> None:  # noqa: PLR0912, PLR0915
    # The hot path: written for speed (locals, no helper calls for the common
    # case of a handler returning None), so read it with _record() beside it.
    assert core.matches is not None  # noqa: S101 -- set before begin()
    regs = core.matches[phase.index]
    if not regs:
        return
    host = core.host
    clock = core.clock
    seconds = clock.seconds
    event = core.event
    debug = core.debug
    phase_name = phase.name
    append = core.outcomes.append
    set_call = CURRENT_CALL.set
    new_call = object.__new__
    observation = core.observation
    # The context variable is set for each call, and reset once, after the
    # last: between two calls only this loop runs, so it is never read then.
    token: contextvars.Token[HandlerCall | None] | None = None
    # One clock read per handler: each call starts when the previous one ended.
    now = seconds()
    try:
        for reg in regs:
            if core.cancel_requested:
                break  # a handler cancelled this very run: call no more
            if not reg.active:
                continue  # removed (by hand, or used up) after the run matched it
            handler = reg.ref()
            if handler is None:
                continue  # collected; the registry purges it at its next safe point
            reg.calls += 1
            if reg.calls == reg.max_calls:
                host.exhaust(reg)
            call_number = reg.calls
            started = now
            if token is None:
                token = set_call((core, reg))
            else:
                set_call((core, reg))
            if observation is not None:
                observed = observation.handler_calling(reg, started)
            try:
                result = handler(event)
                if result is not None and type(result) is not Deferred:
                    if type(result) is CoroutineType:
                        result = host.from_coroutine(result)
                    elif hasattr(type(result), "__await__") and not isinstance(result, Deferred):
                        result = _awaited(result, host)
            except BaseException:  # noqa: BLE001 -- as Deferred does: a handler never breaks a run
                failure = Failure()
                now = seconds()
                _record(
                    core,
                    phase,
                    _outcome(
                        HandlerOutcome,
                        (
                            reg.handler_id,
                            reg.name,
                            phase_name,
                            "failed",
                            None,
                            failure,
                            now - started,
                            now,
                        ),
                    ),
                    call=call_number,
                )
                if observation is not None:
                    observation.handler_returned(observed)
                continue
            if observation is not None:
                observation.handler_returned(observed)
            del handler
            now = seconds()
            if result is None or not isinstance(result, Deferred):
                outcome = _outcome(
                    HandlerOutcome,
                    (
                        reg.handler_id,
                        reg.name,
                        phase_name,
                        "succeeded",
                        result,
                        None,
                        now - started,
                        now,
                    ),
                )
                append(outcome)
                if debug:
                    _log_success(core, outcome, call_number)
                if observation is not None:
                    observation.handler_settled(outcome)
                continue
            call = new_call(PendingCall)
            call.core = core
            call.seconds = seconds
            call.handler_id = reg.handler_id
            call.name = reg.name
            call.phase = reg.phase
            call.started = started
            call.state = _CALLING
            call.outcome = call.timer = call.timeout = None
            result.addBoth(call.settled)  # sets call.outcome if the Deferred has its result
            if call.outcome is not None:
                _record(core, phase, call.outcome, call=call_number)  # type: ignore[unreachable]
            else:
                if debug:
                    core.log.debug(
                        "handler_called",
                        handler_id=reg.handler_id,
                        handler_name=reg.name,
                        phase=phase_name,
                        call=call_number,
                    )
                call.state = _WAITING
                call.deferred = result
                call.slot = len(core.outcomes)
                append(None)
                phase.pending[call] = None
                timeout = host.handler_timeout if reg.timeout is None else reg.timeout
                if timeout is not None:
                    # Not Deferred.addTimeout: a canceller that raises would leave it pending.
                    call.timer = clock.callLater(timeout, call.time_out, timeout)
    finally:
        if token is not None:
            CURRENT_CALL.reset(token)


_Settled = Callable[[RunInputs, RunCore, PhaseRun], None]


def _enter_phase(
    phases: tuple[str, ...],
    index: int,
    from_state: str,
    input_name: str,
    settled: _Settled = _phase_settled,
) -> Callable[..., None]:
    name = phases[index]
    state = phase_state_name(name)

    def enter(inputs: RunInputs, core: RunCore) -> None:
        phase = core.phase = PhaseRun(index, name, state)
        if core.debug:
            _trace(core, from_state, input_name, state, name)
            (core.bound_log or core.log).debug("phase_entered", phase=name)
        if core.observation is not None:
            core.observation.phase_entered(name)
        _call_handlers(inputs, core, phase)
        if not phase.pending:
            settled(inputs, core, phase)

    enter.__name__ = enter.__qualname__ = f"call_handlers_of_phase_{index}"
    return enter


def _finish(core: RunCore, status: RunStatus) -> None:
    core.status = status
    run = core.result(status)
    if core.handed_out is not None:
        core.handed_out[:] = run.outcomes
    if status == "dropped":
        core.log.warning(
            "run_dropped",
            reason="the dispatcher is not running (when_stopped='drop')",
            details={key: safe_repr(value) for key, value in core.details.items()},
        )
    elif core.debug:
        core.log.debug(
            "run_ended",
            status=status,
            duration=core.host.clock.seconds() - core.started,
            handlers=len(core.outcomes),
            failures=len(run.failures),
        )
    core.host.run_ended(core, run)


def _settled_in(state_name: str, settled: _Settled = _phase_settled) -> Callable[..., None]:
    def record_outcome(
        inputs: RunInputs, core: RunCore, call: PendingCall, outcome: HandlerOutcome
    ) -> None:
        phase = core.phase
        assert phase is not None  # noqa: S101 -- in a phase state
        if phase.pending.pop(call, _MISSING) is _MISSING:
            # A settlement queued behind the cancel that left its phase: recorded then.
            _ignore_late_input(inputs, core)
            return
        if core.debug:
            _trace(core, state_name, "settle", state_name, phase.name)
        if outcome.status == "succeeded" and core.observation is None and not core.debug:
            core.outcomes[call.slot] = outcome  # _record's work for a plain success
        else:
            _record(core, phase, outcome, call.slot)
        if not phase.pending:
            settled(inputs, core, phase)

    return record_outcome


def _end_from_phase(state_name: str, input_name: str, status: RunStatus) -> Callable[..., None]:
    def finish_run(inputs: RunInputs, core: RunCore) -> None:
        if core.debug:
            phase = core.phase
            _trace(core, state_name, input_name, status, None if phase is None else phase.name)
        _finish(core, status)

    return finish_run


def _cancel_in(state_name: str) -> Callable[..., None]:
    def cancel_pending(inputs: RunInputs, core: RunCore) -> None:
        phase = core.phase
        assert phase is not None  # noqa: S101 -- in a phase state
        _trace(core, state_name, "cancel", "cancelled", phase.name)
        _cancel_pending(core, phase)
        _finish(core, "cancelled")

    return cancel_pending


def _cancel_pending(core: RunCore, phase: PhaseRun) -> None:
    """Record *phase*'s pending calls as cancelled, and cancel their Deferreds soon."""
    now = core.host.clock.seconds()
    pending = list(phase.pending)
    phase.pending.clear()
    for call in pending:
        call.state = _DONE
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        outcome = core.outcomes[call.slot] = _outcome(
            HandlerOutcome,
            (
                call.handler_id,
                call.name,
                call.phase,
                "cancelled",
                None,
                Failure(CancelledError("the run was cancelled")),
                now - call.started,
                now,
            ),
        )
        if core.observation is not None:
            core.observation.handler_settled(outcome)
        if core.debug:
            core.log.debug(
                "handler_settled",
                handler_id=call.handler_id,
                handler_name=call.name,
                phase=call.phase,
                status="cancelled",
                duration=now - call.started,
            )
    # Cancelling them may cancel child runs, and theirs in turn: on a deep
    # chain, this nests once per level, so it is done as the stack allows.
    core.host.call_soon(functools.partial(_cancel_calls, pending))


def _cancel_calls(pending: list[PendingCall]) -> None:
    for call in pending:
        call.cancel()


def _end_from_waiting(input_name: str, status: RunStatus) -> Callable[..., None]:
    def finish_run(inputs: RunInputs, core: RunCore) -> None:
        _trace(core, "waiting", input_name, status, None)
        _finish(core, status)

    return finish_run


def _ignore_late_input(inputs: RunInputs, core: RunCore, *args: object) -> None:
    if core.debug:
        core.log.debug("late_input_ignored", status=core.status)


def _enter_cleanup(index: int, ending: RunStatus) -> Callable[..., None]:
    """The behaviour of a move to ``aborting:<phase>`` or ``cancelling:<phase>`` (phase *index*).

    It cancels what the phase left behind still waits for itself, first.
    """

    def enter(inputs: RunInputs, core: RunCore) -> None:
        name = core.host.phases[index]
        state = cleanup_state_names(name)[ending == "cancelled"]
        old = core.phase
        assert old is not None  # noqa: S101 -- only entered from a phase state
        input_name = "cancel" if core.cancel_requested else old.leaving
        _trace(core, old.state, input_name, state, name)
        if ending == "cancelled":
            core.cancel_requested = False  # the cancel is handled: call the cleanup handlers
            _cancel_pending(core, old)
        if core.ending is None or ending == "cancelled":
            core.ending = ending
        phase = core.phase = PhaseRun(index, name, state)
        if core.debug:
            core.log.debug("phase_entered", phase=name, ending=ending)
        if core.observation is not None:
            core.observation.phase_entered(name)
        _call_handlers(inputs, core, phase)
        if not phase.pending:
            _phase_settled_unless_cancelled(inputs, core, phase)

    enter.__name__ = enter.__qualname__ = f"call_cleanup_handlers_of_phase_{index}_{ending}"
    return enter


@functools.lru_cache(maxsize=64)
def make_run_machine(  # noqa: PLR0912 -- one loop per kind of transition reads best
    phases: tuple[str, ...], always: tuple[str, ...] = ()
) -> TypeMachine[RunInputs, RunCore]:
    """Build the run machine for *phases* (cached: one build per phase configuration).

    Args:
        phases: The phase names, in order.
        always: The cleanup phases among them (see the module's docstring).
    """
    builder = TypeMachineBuilder(RunInputs, RunCore)
    settled: _Settled = _phase_settled_unless_cancelled if always else _phase_settled
    waiting = builder.state("waiting")
    # Plain states: the phase under way is the core's (RunCore.phase), which
    # costs each input less than automat's per-state data would.
    phase_states = [builder.state(phase_state_name(name)) for name in phases]
    enter_phase = [
        _enter_phase(
            phases,
            index,
            "waiting" if index == 0 else phase_state_name(phases[index - 1]),
            "begin" if index == 0 else "phase_drained",
            settled,
        )
        for index in range(len(phases))
    ]
    ends = {status: builder.state(status) for status in END_STATES}
    cleanup = [index for index, name in enumerate(phases) if name in always]
    aborting = {index: builder.state(cleanup_state_names(phases[index])[0]) for index in cleanup}
    cancelling = {index: builder.state(cleanup_state_names(phases[index])[1]) for index in cleanup}
    enter_aborting = {index: _enter_cleanup(index, "aborted") for index in cleanup}
    enter_cancelling = {index: _enter_cleanup(index, "cancelled") for index in cleanup}

    def next_cleanup(index: int) -> int | None:
        return next((c for c in cleanup if c > index), None)

    # Every run takes begin and each phase_drained; settle only for pending results.
    # (The built machine finds a transition by a dict lookup: see machines._indexed.)
    waiting.upon(RunInputs.begin).to(phase_states[0])(enter_phase[0])
    for index, state in enumerate(phase_states):
        if index + 1 < len(phase_states):
            state.upon(RunInputs.phase_drained).to(phase_states[index + 1])(enter_phase[index + 1])
        else:
            state.upon(RunInputs.phase_drained).to(ends["completed"])(
                _end_from_phase(state.name, "phase_drained", "completed")
            )
    for state in phase_states:
        state.upon(RunInputs.settle).loop()(_settled_in(state.name, settled))
    for index, state in enumerate(phase_states):
        after = next_cleanup(index)
        if after is None:
            state.upon(RunInputs.phase_failed).to(ends["aborted"])(
                _end_from_phase(state.name, "phase_failed", "aborted")
            )
            state.upon(RunInputs.cancel).to(ends["cancelled"])(_cancel_in(state.name))
        else:
            state.upon(RunInputs.phase_failed).to(aborting[after])(enter_aborting[after])
            state.upon(RunInputs.cancel).to(cancelling[after])(enter_cancelling[after])
    # A cleanup phase run after an abort, or a cancel: on to the next one, then the end.
    endings: tuple[tuple[RunStatus, dict[int, Any], dict[int, Callable[..., None]]], ...] = (
        ("aborted", aborting, enter_aborting),
        ("cancelled", cancelling, enter_cancelling),
    )
    for ending, states, enter_states in endings:
        for index, state in states.items():
            after = next_cleanup(index)
            state.upon(RunInputs.settle).loop()(
                _settled_in(state.name, _phase_settled_unless_cancelled)
            )
            for end_input, input_name in (
                (RunInputs.phase_drained, "phase_drained"),
                (RunInputs.phase_failed, "phase_failed"),
            ):
                if after is None:
                    state.upon(end_input).to(ends[ending])(
                        _end_from_phase(state.name, input_name, ending)
                    )
                else:
                    state.upon(end_input).to(states[after])(enter_states[after])
            if ending == "aborted" and after is not None:
                state.upon(RunInputs.cancel).to(cancelling[after])(enter_cancelling[after])
            else:
                # A second cancel while cancelling (stop()'s timeout ran out) ends it now.
                state.upon(RunInputs.cancel).to(ends["cancelled"])(_cancel_in(state.name))
    waiting.upon(RunInputs.drop).to(ends["dropped"])(_end_from_waiting("drop", "dropped"))
    waiting.upon(RunInputs.cancel).to(ends["cancelled"])(_end_from_waiting("cancel", "cancelled"))
    # Inputs that were queued behind a re-entrant cancel() (a handler cancelling
    # its own run) arrive once the run has ended; they change nothing.  Likewise a
    # cancel() queued behind the input that ended the run.
    ignore = _ignore_late_input
    for input_method in (RunInputs.settle, RunInputs.phase_drained, RunInputs.phase_failed):
        ends["cancelled"].upon(input_method).loop()(ignore)
    for status in ("completed", "aborted"):
        ends[status].upon(RunInputs.cancel).loop()(ignore)
    return indexed(builder.build())
