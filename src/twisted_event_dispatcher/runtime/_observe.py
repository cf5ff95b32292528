"""The run observer: the hook through which an instrumentation watches one dispatcher's runs.

The dispatcher's machines log every transition through structlog, but those
records are global (one logger for every dispatcher), built only when debug
records are wanted, and cannot wrap a handler call.  An instrumentation that
needs all three (OpenTelemetry's spans: per dispatcher, always, and with the
handler's span current while the handler runs) registers a
:class:`RunObserver` on the dispatcher with :func:`set_observer`:

* when a run is created, the dispatcher asks the observer for a
  :class:`RunObservation` of that run (None: leave the run alone);
* the run then tells that observation when it enters each phase, when each
  handler call begins and when the handler has returned (or raised: the
  observation can make something current around the call, as the dispatcher
  makes the call current for :func:`~twisted_event_dispatcher.current_call`),
  how each call settled, and how the run ended;
* a run whose Deferred fails before it starts (``when_stopped="error"``,
  ``max_queued``) ends through the errback the dispatcher adds for the
  observation.

Each run keeps the observation it was created with, so removing the observer
leaves the runs in flight observed to their end.  Without an observer the
cost is one attribute check per run and per phase, and three tests of a local
variable per handler call.

The observer also carries a trace context across processes:
:func:`outgoing_trace_headers` is what a transport adds to the headers of a
message fired from here, and :func:`incoming_trace_context` what it passes on,
as :attr:`RunOrigin.trace_context`, to the run a received message starts.

The hook is private: :mod:`twisted_event_dispatcher.otel` is its one user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from twisted_event_dispatcher.machines._run import RunCore
    from twisted_event_dispatcher.runtime._dispatcher import EventDispatcher
    from twisted_event_dispatcher.runtime._records import EventRun, HandlerOutcome
    from twisted_event_dispatcher.runtime._registry import Registration

__all__ = [
    "RunObservation",
    "RunObserver",
    "incoming_trace_context",
    "observer_of",
    "outgoing_trace_headers",
    "set_observer",
]


class RunObservation(Protocol):
    """What watches one run, from its creation to its end."""

    def phase_entered(self, phase: str) -> None:
        """The run has entered *phase* (and left the phase before it, if any)."""

    def handler_calling(self, reg: Registration, started: float) -> object:
        """*reg*'s handler is about to be called, at clock reading *started*.

        Returns:
            What :meth:`handler_returned` is given once the handler has
            returned, its coroutine has been made a Deferred, or it has raised.
        """

    def handler_returned(self, token: object) -> None:
        """The call that :meth:`handler_calling` returned *token* for has returned or raised."""

    def handler_settled(self, outcome: HandlerOutcome) -> None:
        """A handler call has settled: *outcome* is how (once per call, in any case).

        A call that returned a plain value or raised settles before
        :meth:`handler_returned`; one whose result was pending, when it
        settles, or is cancelled with its run.  Called before the outcome's
        failure is cleaned of its frames.
        """

    def run_ended(self, result: EventRun) -> None:
        """The run has reached an end state (completed, aborted, cancelled or dropped)."""

    def run_rejected(self, failure: Failure) -> Failure:
        """The run's Deferred failed before the run started; return *failure* unchanged."""


class RunObserver(Protocol):
    """What watches a dispatcher: it hands out a :class:`RunObservation` per run."""

    def observe_run(self, run: RunCore) -> RunObservation | None:
        """Return the observation of *run*, just created, or None to leave it alone."""

    def outgoing_trace_headers(self) -> dict[str, str]:
        """Return the headers that carry the current trace context to another process."""

    def incoming_trace_context(self, headers: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
        """Return the (name, value) pairs of *headers* that carry a trace context."""


def observer_of(dispatcher: EventDispatcher) -> RunObserver | None:
    """Return the observer registered on *dispatcher*, or None."""
    return dispatcher._host.observer


def set_observer(dispatcher: EventDispatcher, observer: RunObserver | None) -> None:
    """Make *observer* watch the runs *dispatcher* creates from now on (None: stop).

    Raises:
        ValueError: Another observer is registered already.
    """
    host = dispatcher._host
    if observer is not None and host.observer is not None and host.observer is not observer:
        raise ValueError(
            f"{dispatcher!r} is instrumented already; call uninstrument() on its "
            "Instrumentation first"
        )
    host.observer = observer


def outgoing_trace_headers(dispatcher: EventDispatcher) -> dict[str, str]:
    """Return the trace-context headers for a message fired now; empty when unobserved."""
    observer = dispatcher._host.observer
    return {} if observer is None else observer.outgoing_trace_headers()


def incoming_trace_context(
    dispatcher: EventDispatcher, headers: Mapping[str, object] | None
) -> tuple[tuple[str, str], ...]:
    """Return the trace context a received message's *headers* carry; empty when unobserved."""
    observer = dispatcher._host.observer
    if observer is None or not headers:
        return ()
    return observer.incoming_trace_context(headers)
