"""The dispatcher's lifecycle machine: ``stopped``, ``running``, ``stopping``.

It decides what becomes of each fired run (begin now, wait its turn, park
until ``start()``, drop, or reject) and when a ``stop()`` has drained.  Its
behaviours never call user code: they queue *actions*, and the dispatcher
carries them out once the machine has settled, so a handler, a callback on a
run's Deferred or on a ``stop()`` Deferred may call back into the dispatcher
freely.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from automat import TypeMachine, TypeMachineBuilder

# automat evaluates the input protocol's annotations at run time: these two
# must be importable names, not only TYPE_CHECKING ones.
from twisted.internet.defer import Deferred

from twisted_event_dispatcher.machines._indexed import indexed
from twisted_event_dispatcher.machines._run import RunCore

if TYPE_CHECKING:
    from twisted_event_dispatcher.typing import WhenStopped

__all__ = [
    "LifecycleCore",
    "LifecycleHost",
    "LifecycleInputs",
    "make_lifecycle_machine",
    "run_ended",
    "submit",
]


class LifecycleInputs(Protocol):
    """The inputs of a dispatcher's lifecycle machine."""

    def start(self) -> None:
        """Start dispatching."""

    def stop(self, waiter: Deferred[None]) -> None:
        """Stop dispatching; fire *waiter* once every accepted run has finished."""

    def submit(self, run: RunCore) -> None:
        """A run was fired."""

    def run_ended(self, run: RunCore) -> None:
        """A run has reached an end state: it finished, or was cancelled while it waited."""

    def drained(self) -> None:
        """Feedback: while stopping, the last accepted run has finished."""

    def stop_timed_out(self, timeout: float) -> None:
        """The *timeout* given to ``stop()`` ran out: cancel every run the drain waits for."""


class LifecycleHost(Protocol):
    """What the lifecycle machine asks the dispatcher to do with runs."""

    def begin(self, run: RunCore) -> None:
        """Begin *run* now."""

    def drop(self, run: RunCore) -> None:
        """End *run* unstarted, as dropped."""

    def reject(self, run: RunCore, reason: str) -> None:
        """Fail *run*'s Deferred with :class:`DispatcherNotRunning`."""

    def queue_full(self, run: RunCore, limit: int) -> None:
        """Fail *run*'s Deferred with :class:`QueueFull`."""

    def cancel_for_stop(self, runs: list[RunCore], timeout: float) -> None:
        """Cancel *runs*, which a ``stop()`` waited for longer than *timeout* seconds."""


@dataclass(eq=False)
class LifecycleCore:
    """What the lifecycle states share."""

    host: LifecycleHost
    serial: bool
    when_stopped: WhenStopped
    max_queued: int | None
    log: Callable[[], Any]
    running: bool = False
    holder: RunCore | None = None
    """The top-level run holding the serial slot."""
    in_flight: dict[RunCore, None] = field(default_factory=dict)
    """Runs accepted to begin (children included) that have not ended yet, in that order."""
    backlog: deque[RunCore] = field(default_factory=deque)
    """Runs accepted while running that wait for the serial slot."""
    parked: deque[RunCore] = field(default_factory=deque)
    """Runs fired while stopped with ``when_stopped="queue"``; they begin on ``start()``."""
    actions: deque[Callable[[], None]] = field(default_factory=deque)
    """What the dispatcher must do once the machine has settled."""

    def waiting(self) -> int:
        """How many runs wait: for the serial slot, or for ``start()``."""
        return len(self.backlog) + len(self.parked)


@final
class _Stopping:
    """The data of the ``stopping`` state: who waits for the drain."""

    __slots__ = ("timed_out", "waiters")

    def __init__(self, waiter: Deferred[None]) -> None:
        self.waiters: Final = [waiter]
        self.timed_out = False
        """Whether a stop() timeout ran out: children of runs draining are no longer welcome."""


def _trace(core: LifecycleCore, from_state: str, input_name: str, to_state: str) -> None:
    core.log().debug(
        "lifecycle_transition",
        machine="lifecycle",
        from_state=from_state,
        input=input_name,
        to_state=to_state,
    )


def _is_child(core: LifecycleCore, run: RunCore) -> bool:
    return run.parent is not None and run.parent[0] in core.in_flight


def _accept(core: LifecycleCore, run: RunCore) -> None:
    """Take *run* on for this running period: begin it now or give it its place."""
    if not core.serial or _is_child(core, run):
        _begin(core, run)
    elif core.holder is None:
        core.holder = run
        _begin(core, run)
    elif core.max_queued is not None and core.waiting() >= core.max_queued:
        core.actions.append(functools.partial(core.host.queue_full, run, core.max_queued))
    else:
        core.backlog.append(run)
        run.log.debug("run_queued", position=len(core.backlog), reason="serial")


def _begin(core: LifecycleCore, run: RunCore) -> None:
    core.in_flight[run] = None
    core.actions.append(functools.partial(core.host.begin, run))


def _not_running(
    core: LifecycleCore, run: RunCore, state: str, *, children_welcome: bool = True
) -> None:
    if children_welcome and _is_child(core, run):
        # A run fired from inside a run that is still draining is part of that
        # run's work; refusing it could leave its parent waiting forever.
        _begin(core, run)
    elif core.when_stopped == "drop":
        core.actions.append(functools.partial(core.host.drop, run))
    elif core.when_stopped == "error":
        core.actions.append(functools.partial(core.host.reject, run, state))
    elif core.max_queued is not None and core.waiting() >= core.max_queued:
        core.actions.append(functools.partial(core.host.queue_full, run, core.max_queued))
    else:
        core.parked.append(run)
        run.log.debug("run_queued", position=len(core.parked), reason=state)


def _ended(core: LifecycleCore, run: RunCore) -> None:
    """Forget *run* wherever it is: in flight, holding the serial slot, or still waiting."""
    if run in core.in_flight:
        del core.in_flight[run]
    else:  # cancelled before its turn came
        for queue in (core.backlog, core.parked):
            if run in queue:
                queue.remove(run)
    if run is core.holder:
        core.holder = None
        if core.backlog:
            core.holder = core.backlog.popleft()
            _begin(core, core.holder)


def submit(lifecycle: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
    """Feed the lifecycle machine ``submit(run)``, or do at once what it would do.

    While the dispatcher runs, ``submit`` loops on ``running`` and takes the
    run on (:func:`_accept`), tracing nothing: the runtime does that without
    the input's trip through automat, since every run takes it.
    ``core.running`` is True exactly while the machine is ``running``.
    """
    if core.running:
        _accept(core, run)
    else:
        lifecycle.submit(run)


def run_ended(lifecycle: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
    """Feed the lifecycle machine ``run_ended(run)``, or do at once what it would do.

    As for :func:`submit`: while ``running``, the input loops and only forgets
    the run (:func:`_ended`).
    """
    if core.running:
        _ended(core, run)
    else:
        lifecycle.run_ended(run)


def _drain_if_idle(inputs: LifecycleInputs, core: LifecycleCore) -> None:
    if not core.in_flight and not core.backlog:
        inputs.drained()


def _late_timeout(inputs: LifecycleInputs, core: LifecycleCore, timeout: float) -> None:
    """The stop() the timeout bounded has drained already: there is nothing to cancel."""


@functools.cache
def make_lifecycle_machine() -> TypeMachine[LifecycleInputs, LifecycleCore]:
    """Build the lifecycle machine (once per process)."""
    builder = TypeMachineBuilder(LifecycleInputs, LifecycleCore)
    stopped = builder.state("stopped")
    running = builder.state("running")

    def make_stopping(
        inputs: LifecycleInputs, core: LifecycleCore, waiter: Deferred[None]
    ) -> _Stopping:
        return _Stopping(waiter)

    stopping = builder.state("stopping", make_stopping)

    # -- stopped ----------------------------------------------------------------------
    @stopped.upon(LifecycleInputs.start).to(running)
    def start(inputs: LifecycleInputs, core: LifecycleCore) -> None:
        _trace(core, "stopped", "start", "running")
        core.running = True
        parked = list(core.parked)
        core.parked.clear()
        for run in parked:
            _accept(core, run)

    @stopped.upon(LifecycleInputs.stop).loop()
    def stop_stopped(inputs: LifecycleInputs, core: LifecycleCore, waiter: Deferred[None]) -> None:
        core.actions.append(functools.partial(waiter.callback, None))

    @stopped.upon(LifecycleInputs.submit).loop()
    def submit_stopped(inputs: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
        _not_running(core, run, "stopped")

    @stopped.upon(LifecycleInputs.run_ended).loop()
    def ended_stopped(inputs: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
        _ended(core, run)

    stopped.upon(LifecycleInputs.stop_timed_out).loop()(_late_timeout)

    # -- running ----------------------------------------------------------------------
    @running.upon(LifecycleInputs.start).loop()
    def start_running(inputs: LifecycleInputs, core: LifecycleCore) -> None:
        """Starting a running dispatcher changes nothing."""

    @running.upon(LifecycleInputs.submit).loop()
    def submit_running(inputs: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
        _accept(core, run)

    @running.upon(LifecycleInputs.run_ended).loop()
    def ended_running(inputs: LifecycleInputs, core: LifecycleCore, run: RunCore) -> None:
        _ended(core, run)

    running.upon(LifecycleInputs.stop_timed_out).loop()(_late_timeout)

    @running.upon(LifecycleInputs.stop).to(stopping)
    def stop_running(inputs: LifecycleInputs, core: LifecycleCore, waiter: Deferred[None]) -> None:
        _trace(core, "running", "stop", "stopping")
        core.running = False
        _drain_if_idle(inputs, core)

    # -- stopping ---------------------------------------------------------------------
    @stopping.upon(LifecycleInputs.start).loop()
    def start_stopping(inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping) -> None:
        raise RuntimeError(
            "cannot start the dispatcher while it is stopping; start it again once the "
            "Deferred returned by stop() has fired"
        )

    @stopping.upon(LifecycleInputs.stop).loop()
    def stop_stopping(
        inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping, waiter: Deferred[None]
    ) -> None:
        data.waiters.append(waiter)

    @stopping.upon(LifecycleInputs.submit).loop()
    def submit_stopping(
        inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping, run: RunCore
    ) -> None:
        # Once the timeout has run out, a child fired by a run being cancelled
        # (from an except clause, say) is not part of the drain: the stop must end.
        _not_running(core, run, "stopping", children_welcome=not data.timed_out)

    @stopping.upon(LifecycleInputs.stop_timed_out).loop()
    def timed_out(
        inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping, timeout: float
    ) -> None:
        _trace(core, "stopping", "stop_timed_out", "stopping")
        data.timed_out = True
        runs = [*core.in_flight, *core.backlog]
        if runs:
            core.actions.append(functools.partial(core.host.cancel_for_stop, runs, timeout))

    @stopping.upon(LifecycleInputs.run_ended).loop()
    def ended_stopping(
        inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping, run: RunCore
    ) -> None:
        _ended(core, run)
        _drain_if_idle(inputs, core)

    @stopping.upon(LifecycleInputs.drained).to(stopped)
    def drained(inputs: LifecycleInputs, core: LifecycleCore, data: _Stopping) -> None:
        _trace(core, "stopping", "drained", "stopped")
        if core.parked:
            core.log().warning(
                "runs_still_queued",
                count=len(core.parked),
                reason="fired while stopping with when_stopped='queue'; "
                "they begin at the next start()",
            )
        for waiter in data.waiters:
            core.actions.append(functools.partial(waiter.callback, None))

    return indexed(builder.build())
